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
    "verify": "verify",
    "sim-server": "sim_server",
    "bench": "bench",
}


def build_parser() -> argparse.ArgumentParser:
    from memhil import __version__

    p = argparse.ArgumentParser(
        prog="memhil",
        description="Hardware-in-the-loop deep learning on emulated memristive crossbars.",
    )
    p.add_argument("--version", action="version", version=f"memhil {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name, modname in COMMANDS.items():
        try:
            mod = importlib.import_module(f"memhil.commands.{modname}")
        except ModuleNotFoundError as e:
            if e.name != f"memhil.commands.{modname}":
                raise
            continue
        sp = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
