"""The ``memhil`` command line: one subcommand per module in ``memhil.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``
and imports heavy packages (torch, pynq, ray) inside ``run`` so that ``memhil --help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# command name -> module under memhil.commands
COMMANDS = {
    "demo": "demo",
    "train": "train",
    "noisy-eval": "noisy_eval",
    "paper": "paper",
    "sweep": "sweep",
    "verify": "verify",
    "sim-server": "sim_server",
    "board-server": "board_server",
    "notebooks": "notebooks",
    "bench": "bench",
}


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``memhil CMD: error: ...``, exit status 2), not the usage block."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from memhil import __version__
    from memhil.commands.common import HelpFormatter

    p = _Parser(
        prog="memhil",
        description="Hardware-in-the-loop deep learning on emulated memristive crossbars.",
        epilog="examples:\n  memhil demo\n  memhil train --help\n\n"
               "exit status: 0 success, 1 failure at run time (a device that does not answer, "
               "a corrupt checkpoint),\n2 usage error (a bad, missing or conflicting flag, an "
               "input that does not exist), 130 Ctrl-C.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"memhil {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, modname in COMMANDS.items():
        mod = importlib.import_module(f"memhil.commands.{modname}")
        examples = getattr(mod, "EXAMPLES", "").strip("\n")
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP,
                            epilog=f"examples:\n{examples}" if examples else None,
                            formatter_class=HelpFormatter)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    p._subcommands = sub.choices
    return p


def _explicit_dests(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The dests of the options actually given in ``argv`` (not left at their defaults)."""
    saved = [(a, a.default) for a in parser._actions]
    saved_defaults = dict(parser._defaults)
    try:
        for a, _ in saved:
            a.default = argparse.SUPPRESS
        parser._defaults.clear()
        ns, _ = parser.parse_known_args(argv)
    except SystemExit:    # pragma: no cover - argv was parsed once already
        return set()
    finally:
        for a, d in saved:
            a.default = d
        parser._defaults.update(saved_defaults)
    return {a.dest for a, _ in saved if hasattr(ns, a.dest)}


def main(argv: list[str] | None = None) -> int:
    """Run ``memhil ARGV``; return the exit status (0, 1 failure at run time, 2 usage error,
    130 interrupted; see ``memhil --help``)."""
    from memhil.commands.common import error_exit

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        sp = parser._subcommands.get(getattr(args, "command", None) or "")
        if extra:
            (sp or parser).error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:    # --help, --version, or a usage error already reported
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    if not getattr(args, "_run", None):
        parser.print_help(sys.stderr)
        return 2
    args._explicit = _explicit_dests(sp, argv[argv.index(args.command) + 1:])
    try:
        return int(args._run(args) or 0)
    except (Exception, KeyboardInterrupt) as e:
        return error_exit(args.command, e)


if __name__ == "__main__":
    sys.exit(main())
