"""Arguments shared by ``memhil train``, ``noisy-eval``, ``demo`` and ``paper``, and their
checking (every bad value: a message naming the argument, exit status 2)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memhil.backend import backend_kinds
from memhil.config import (CODE_ROUNDINGS, STEP_MODELS, STUCK_KINDS, UPDATE_MODES,
                           UPDATE_SCALINGS, ConfigError, DeviceConfig, UpdateCoding)

# DeviceConfig field -> command-line flag
FIELD_FLAGS = {
    "levels": "--levels", "dynamic_range": "--dynamic-range", "c2c_sigma": "--c2c-sigma",
    "d2d_sigma": "--d2d-sigma", "read_noise_sigma": "--read-noise-sigma",
    "update_mode": "--update-mode", "bl": "--bl", "sub_bits": "--sub-bits",
    "asymmetry": "--asymmetry", "step_model": "--step-model", "dac_bits": "--dac-bits",
    "adc_bits": "--adc-bits", "seed": "--seed", "d2d_seed": "--seed",
    "stuck_rate": "--stuck-rate", "stuck_kind": "--stuck-kind", "stuck_seed": "--stuck-seed",
}
# UpdateCoding field -> command-line flag
CODING_FLAGS = {"scaling": "--update-scaling", "rounding": "--code-rounding"}
DEFAULT_HIDDEN = {"digits": [32], "fashion-mnist": [256, 128], "mnist": [256, 128]}
DEFAULT_EPOCHS = {"digits": 15, "fashion-mnist": 5, "mnist": 5}


class UsageError(Exception):
    """A bad command-line value: ``flag`` and why."""

    def __init__(self, flag: str, message: str):
        self.flag = flag
        super().__init__(f"argument {flag}: {message}")


def usage_exit(prog: str, err: Exception, code: int = 2) -> int:
    print(f"memhil {prog}: error: {err}", file=sys.stderr)
    return code


def _int_at_least(lo: int, what: str):
    """An argparse type: an integer >= ``lo``; the message says ``what`` is required."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer: {s!r}")
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be {what}, got {v}")
        return v
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, ">= 0")


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {s!r}")
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def _hidden(s: str) -> list[int]:
    parts = [p for p in s.replace("x", ",").replace("-", ",").split(",") if p.strip()]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 256,128, "
                                         f"got {s!r}")
    if not vals or any(v < 1 or v > 4096 for v in vals):
        raise argparse.ArgumentTypeError(f"layer sizes must be in [1, 4096], got {s!r}")
    return vals


positive_int = _positive_int
positive_float = _positive_float


def add_model_arguments(p: argparse.ArgumentParser, *, device_default="memristive") -> None:
    """The network, device and training arguments of ``memhil train``."""
    g = p.add_argument_group("data and network")
    g.add_argument("--dataset", default="digits",
                   help="digits (built in, default) | fashion-mnist | mnist | PATH to a folder of IDX files")
    g.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden layer sizes, e.g. 256,128 (default: 32 on digits, 256,128 otherwise)")
    g.add_argument("--train-subset", type=_positive_int, default=None,
                   help="use only the first N training samples")
    g.add_argument("--test-subset", type=_positive_int, default=None,
                   help="use only the first N test samples")
    g = p.add_argument_group("device")
    g.add_argument("--device", choices=("memristive", "float"), default=device_default,
                   help="memristive crossbar or the float baseline (torch.nn.Linear)")
    g.add_argument("--backend", choices=backend_kinds(), default="twin",
                   help="crossbar backend: twin (software), sim (Verilator RTL), board (a "
                        "bitstream on a PYNQ board: --bitfile, or behind a UART: --port)")
    g.add_argument("--bitfile", metavar="FILE", default=None,
                   help="--backend board: the PYNQ overlay's .bit (its .hwh alongside)")
    g.add_argument("--port", metavar="PORT", default=None,
                   help="--backend board: the UART (a pyserial port or URL, e.g. /dev/ttyUSB1)")
    g.add_argument("--baud", type=_positive_int, default=115200,
                   help="--backend board: UART baud rate")
    g.add_argument("--levels", type=int, default=32, help="conductance levels per device")
    g.add_argument("--dynamic-range", type=float, default=15.0, help="Gmax/Gmin")
    g.add_argument("--c2c-sigma", type=float, default=0.0,
                   help="cycle-to-cycle variability of one pulse, relative")
    g.add_argument("--d2d-sigma", type=float, default=0.0,
                   help="device-to-device spread of the step size, relative")
    g.add_argument("--read-noise-sigma", type=float, default=0.0, help="read noise")
    g.add_argument("--stuck-rate", type=float, default=0.0,
                   help="fraction of stuck devices, 0..1 (contract: FAULT_RATE = rate * 65536)")
    g.add_argument("--stuck-kind", choices=STUCK_KINDS, default="mixed",
                   help="stuck at Gmin, at Gmax, at the programmed value, or a third of each")
    g.add_argument("--stuck-seed", type=_nonneg_int, default=2,
                   help="seed of the stuck-device pattern")
    g.add_argument("--update-mode", choices=UPDATE_MODES, default="coincidence",
                   help="stochastic pulse scheme")
    g.add_argument("--bl", type=int, default=31, help="stream length in coincidence mode")
    g.add_argument("--update-scaling", choices=UPDATE_SCALINGS, default="batch",
                   help="host: code scales of an update per minibatch (batch) or per sample "
                        "(sample; coincidence mode only)")
    g.add_argument("--code-rounding", choices=CODE_ROUNDINGS, default="nearest",
                   help="host: round the scaled x and d of an update to the nearest code, or "
                        "stochastically (unbiased: small values are not lost)")
    g.add_argument("--asymmetry", type=float, default=0.0, help="up/down step asymmetry")
    g.add_argument("--step-model", choices=STEP_MODELS[:2], default="linear",
                   help="device response")
    g.add_argument("--sub-bits", type=int, default=3, help="sub-level bits of the codes")
    g.add_argument("--dac-bits", type=int, default=8, help="input DAC resolution")
    g.add_argument("--adc-bits", type=int, default=12, help="output ADC resolution")
    g.add_argument("--w-range", type=_positive_float, default=4.0,
                   help="weight range of a layer over its init bound 1/sqrt(fan_in)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs (default: 15 on digits, 5 otherwise)")
    g.add_argument("--batch", type=_positive_int, default=8, help="minibatch size")
    g.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate")
    g.add_argument("--lr-schedule", choices=("linear", "constant"), default="linear",
                   help="linear decay to 0.1*lr over the run (default) or constant")
    g.add_argument("--seed", type=_nonneg_int, default=0, help="seed of everything")


def device_config_from_args(args) -> DeviceConfig:
    try:
        return DeviceConfig(
            levels=args.levels, dynamic_range=args.dynamic_range, sub_bits=args.sub_bits,
            step_model=args.step_model, asymmetry=args.asymmetry, c2c_sigma=args.c2c_sigma,
            d2d_sigma=args.d2d_sigma, read_noise_sigma=args.read_noise_sigma,
            dac_bits=args.dac_bits, adc_bits=args.adc_bits, update_mode=args.update_mode,
            bl=args.bl, seed=args.seed, d2d_seed=args.seed + 1, stuck_rate=args.stuck_rate,
            stuck_kind=args.stuck_kind, stuck_seed=args.stuck_seed)
    except ConfigError as e:
        raise UsageError(FIELD_FLAGS.get(e.field, "--" + e.field.replace("_", "-")), str(e)) from e


def dataset_key(name: str) -> str:
    k = str(name).lower()
    return "fashion-mnist" if k in ("fashion_mnist", "fashionmnist", "fmnist") else k


def spec_from_args(args):
    """A :class:`memhil.nn.RunSpec` from parsed arguments (raises :class:`UsageError`)."""
    from memhil.nn.trainer import RunSpec
    cfg = device_config_from_args(args)
    key = dataset_key(args.dataset)
    hidden = args.hidden if args.hidden is not None else DEFAULT_HIDDEN.get(key, [256, 128])
    epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS.get(key, 5)
    ds = key if key in DEFAULT_HIDDEN else str(Path(args.dataset).resolve())
    try:
        coding = UpdateCoding(scaling=getattr(args, "update_scaling", "batch"),
                              rounding=getattr(args, "code_rounding", "nearest"))
        coding.check_mode(cfg.update_mode)
    except ConfigError as e:
        raise UsageError(CODING_FLAGS[e.field], str(e)) from e
    return RunSpec(dataset=ds, hidden=list(hidden), device=args.device, backend=args.backend,
                   epochs=epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                   w_range=args.w_range, lr_schedule=args.lr_schedule,
                   train_subset=args.train_subset, test_subset=args.test_subset,
                   config=cfg.to_dict(),
                   coding=None if coding.is_default else coding.to_dict())


def progress_enabled(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def set_threads(n: int | None = None) -> None:
    """Torch CPU threads: ``$MEMHIL_THREADS``, else ``n``, else 1. The crossbar layers' matrices
    are small; on a shared 2-core machine one thread is much faster than two that spin."""
    import os

    import torch
    n = int(os.environ.get("MEMHIL_THREADS", n or 1))
    torch.set_num_threads(max(1, min(n, os.cpu_count() or 1)))


# ---------------------------------------------------------------------- exit codes
# The one rule of every subcommand (README "Exit codes", docs/architecture.md):
#   0 success; 1 a failure at run time (a device or link that does not answer, a divergence,
#   a corrupt checkpoint, a file that cannot be written); 2 a usage error (a bad, missing or
#   conflicting flag value, an --out that cannot be a run folder, an input that does not exist);
#   130 interrupted (Ctrl-C). Every error is one line on stderr: ``memhil CMD: error: ...``.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class RunFailure(Exception):
    """A failure at run time (exit status 1); the message is the whole line after ``error:``."""


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0].strip() if text else type(e).__name__


def error_exit(prog: str, err: BaseException | str) -> int:
    """Report ``err`` (raised by a command's ``run``) in one line; return the exit status of
    the rule above. Exceptions that no rule covers are internal errors: one line (status 1)
    that says how to see the traceback (``MEMHIL_DEBUG=1``)."""
    import os

    from memhil.backend import BackendUnavailable
    from memhil.data import DataError
    try:
        from memhil.nn.checkpoint import CheckpointError
    except ImportError:     # a board without torch (memhil board-server, notebooks): no checkpoints
        CheckpointError = ()

    if isinstance(err, str):
        return usage_exit(prog, err, EXIT_USAGE)
    flag = getattr(err, "flag", None)
    if isinstance(err, UsageError):
        return usage_exit(prog, err, EXIT_USAGE)
    if isinstance(err, DataError):
        return usage_exit(prog, f"argument {flag or '--dataset'}: {_first_line(err)}", EXIT_USAGE)
    if isinstance(err, BackendUnavailable):
        return usage_exit(prog, f"argument {flag or '--backend'}: {_first_line(err)}", EXIT_USAGE)
    if isinstance(err, CheckpointError):
        return usage_exit(prog, f"argument {flag or '--resume'}: {_first_line(err)}",
                          EXIT_FAILURE)
    if isinstance(err, RunFailure):
        return usage_exit(prog, _first_line(err), EXIT_FAILURE)
    if isinstance(err, KeyboardInterrupt):
        print(f"memhil {prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    if os.environ.get("MEMHIL_DEBUG"):
        raise err
    runtime = _runtime_error_types()
    if isinstance(err, runtime):
        return usage_exit(prog, _first_line(err), EXIT_FAILURE)
    if isinstance(err, OSError):
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        return usage_exit(prog, f"cannot use{where}: {err.strerror or _first_line(err)}",
                          EXIT_FAILURE)
    return usage_exit(prog, f"internal error: {type(err).__name__}: {_first_line(err)} "
                            f"(run with MEMHIL_DEBUG=1 to see the traceback)", EXIT_FAILURE)


def _runtime_error_types() -> tuple:
    """The runtime's failures (link, device, divergence, simulation build): exit status 1."""
    types = []
    for mod, names in (("memhil.runtime.transport", ("TransportError",)),
                       ("memhil.runtime.driver", ("LinkError", "DeviceError", "CrossbarError")),
                       ("memhil.runtime.lockstep", ("DivergenceError",)),
                       ("memhil.runtime.sim_link", ("SimBuildError",))):
        try:
            m = __import__(mod, fromlist=list(names))
        except Exception:  # pragma: no cover - an optional runtime that cannot be imported
            continue
        types += [getattr(m, n) for n in names if hasattr(m, n)]
    return tuple(types)


def check_out_dir(path, flag: str = "--out") -> Path:
    """``path`` as a run folder that can be written, checked before any work is done: a
    :class:`UsageError` for a file (or a path through one) or a folder that cannot be created.
    Nothing is left behind: folders created to test this are removed again."""
    import errno
    import os

    out = Path(path)
    if out.exists() and not out.is_dir():
        raise UsageError(flag, f"{out} is a file, not a folder: pass a folder for the run's "
                               f"outputs")
    created = []
    p = out
    while not p.exists():
        created.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise UsageError(flag, f"{out} cannot be a folder: {p} is a file")
    try:
        for d in reversed(created):
            d.mkdir()
        if not os.access(out, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "permission denied", str(out))
    except OSError as e:
        raise UsageError(flag, f"cannot create or write the folder {out}: "
                               f"{e.strerror or e}") from None
    finally:
        for d in created:
            try:
                d.rmdir()
            except OSError:
                pass
    return out


def conflicting_flags(args, allowed: set[str]) -> list[str]:
    """The flags given on the command line (``args._explicit``: their dests) outside
    ``allowed``, spelt as flags."""
    given = getattr(args, "_explicit", set())
    return sorted("--" + d.replace("_", "-") for d in given - set(allowed))


def refuse_conflicts(args, allowed: set[str], flag: str, why: str, instead: str) -> None:
    """A :class:`UsageError` on ``flag`` when flags outside ``allowed`` were given with it:
    "--a, --b cannot be given with FLAG: WHY; drop them, or INSTEAD"."""
    bad = conflicting_flags(args, allowed)
    if bad:
        raise UsageError(flag, f"{', '.join(bad)} cannot be given with {flag}: {why}; drop "
                               f"{'it' if len(bad) == 1 else 'them'}, or {instead}")


def backend_options_from_args(args) -> dict:
    """``open_backend`` options of ``--bitfile``/``--port``/``--baud`` for ``--backend board``
    (a :class:`UsageError` when board is chosen without a way to reach it, or the options are
    given for another backend)."""
    bitfile, port = getattr(args, "bitfile", None), getattr(args, "port", None)
    if args.backend == "board":
        if bool(bitfile) == bool(port):
            raise UsageError("--backend", "board needs exactly one of --bitfile FILE (a PYNQ "
                                          "overlay) or --port PORT (a UART, with --baud)")
        if bitfile:
            if not Path(bitfile).is_file():
                raise UsageError("--bitfile", f"{bitfile} does not exist")
            return {"bitfile": str(bitfile)}
        return {"port": port, "baudrate": args.baud}
    if bitfile or port:
        raise UsageError("--bitfile" if bitfile else "--port",
                         f"only used with --backend board, not --backend {args.backend}")
    return {}


def _in_range(conv, noun: str, lo, hi):
    """An argparse type: ``conv(s)`` (int or float) within [lo, hi]."""
    def parse(s: str):
        try:
            v = conv(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {noun}: {s!r}")
        if not lo <= v <= hi:
            raise argparse.ArgumentTypeError(f"must be {'an' if noun == 'integer' else 'a'} "
                                             f"{noun} in [{lo:g}, {hi:g}], got {s}")
        return v
    return parse


def int_in_range(lo: int, hi: int):
    """An argparse type: an integer in [lo, hi]."""
    return _in_range(int, "integer", lo, hi)


def float_in_range(lo: float, hi: float):
    """An argparse type: a number in [lo, hi]."""
    return _in_range(float, "number", lo, hi)


nonneg_int = _nonneg_int


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Epilogs (the examples) as written; every option's help ends with its default, unless
    the text already says it or there is none (None, False)."""

    def _get_help_string(self, action):
        h = action.help or ""
        d = action.default
        if action.option_strings and h and "default" not in h.lower() and \
                d is not None and d is not argparse.SUPPRESS and not isinstance(d, bool):
            if isinstance(d, (list, tuple)):
                d = ",".join(map(str, d))
            h += f" (default: {d})"
        return h.replace("%", "%%") if "%(" not in h else h


# ------------------------------------------------ a RunSpec as a `memhil train` command line
# RunSpec field -> `memhil train` flag (DeviceConfig fields: FIELD_FLAGS above)
SPEC_FLAGS = {
    "dataset": "--dataset", "hidden": "--hidden", "device": "--device", "backend": "--backend",
    "epochs": "--epochs", "batch": "--batch", "lr": "--lr", "seed": "--seed",
    "w_range": "--w-range", "lr_schedule": "--lr-schedule", "train_subset": "--train-subset",
    "test_subset": "--test-subset",
}


def _flag_value(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(str(int(x)) for x in v)
    if isinstance(v, float):
        s = repr(v)               # shortest text that parses back to the same float
        return s[:-2] if s.endswith(".0") else s
    return str(v)


def _train_spec(argv: list[str]):
    """The RunSpec that ``memhil train ARGV`` builds (train's own parser and spec_from_args)."""
    return spec_from_args(_train_parser().parse_args(argv))


_TRAIN_PARSER = []


def _train_parser() -> argparse.ArgumentParser:
    if not _TRAIN_PARSER:
        from memhil.commands import train
        p = argparse.ArgumentParser(prog="memhil train")
        train.add_arguments(p)
        _TRAIN_PARSER.append(p)
    return _TRAIN_PARSER[0]


def command_args(spec) -> list[str]:
    """The arguments of ``memhil train`` that train ``spec``: every flag whose value differs
    from train's default (dataset first, then the RunSpec and DeviceConfig fields in order).

    Raises ``ValueError`` for a spec that no command line can express (an ``lr_end`` other than
    the default, step tables, a device seed other than the run's, a backend option) and checks
    that the arguments, parsed back by memhil's parser, build exactly ``spec``."""
    from memhil.nn.trainer import RunSpec
    d = spec.to_dict()
    base = RunSpec().to_dict()
    if d["lr_end"] != base["lr_end"]:
        raise ValueError(f"lr_end={d['lr_end']!r}: `memhil train` has no flag for it "
                         f"(always {base['lr_end']})")
    cfg = d["config"]
    if cfg.get("seed") != d["seed"] or cfg.get("d2d_seed") != d["seed"] + 1:
        raise ValueError(f"config seed {cfg.get('seed')!r} / d2d_seed {cfg.get('d2d_seed')!r}: "
                         f"`memhil train --seed S` sets S and S + 1 (run seed {d['seed']})")
    argv: list[str] = []

    def add(flag, value):
        text = _flag_value(value)
        argv.extend([f"{flag}={text}"] if text.startswith("-") else [flag, text])

    default = _train_spec([])
    if d["dataset"] != default.dataset:
        add("--dataset", d["dataset"])
        default = _train_spec(argv)
    dd = default.to_dict()
    for name, flag in SPEC_FLAGS.items():
        if name == "dataset" or d[name] == dd[name]:
            continue
        if d[name] is None:
            raise ValueError(f"{name}=None: `memhil train` has no flag to unset it")
        add(flag, d[name])
    for name, value in cfg.items():
        if name in ("seed", "d2d_seed") or value == dd["config"].get(name):
            continue
        if name not in FIELD_FLAGS:
            raise ValueError(f"config {name}={value!r:.60}: `memhil train` has no flag for it")
        add(FIELD_FLAGS[name], value)
    for name, value in (d.get("coding") or {}).items():
        if name not in CODING_FLAGS:
            raise ValueError(f"coding {name}={value!r:.60}: `memhil train` has no flag for it")
        if value != getattr(UpdateCoding(), name):
            add(CODING_FLAGS[name], value)
    back = _train_spec(argv).to_dict()
    if back != d:
        diff = sorted(k for k in d if d[k] != back.get(k))
        raise ValueError(f"`memhil train {' '.join(argv)}` builds another RunSpec "
                         f"(differs in {', '.join(diff)})")
    return argv


def command_line(spec, out: str | Path | None = None) -> str:
    """The ``memhil train`` command line (shell-quoted) that reproduces ``spec``, with
    ``--out OUT`` when given; see :func:`command_args`."""
    import shlex
    argv = command_args(spec) + (["--out", str(out)] if out is not None else [])
    return " ".join(["memhil", "train", *map(shlex.quote, argv)])


def add_geometry_arguments(p, lanes_help: str) -> None:
    """--rows/--cols/--tiles/--lanes of a simulated or loopback device (verify, sim-server)."""
    p.add_argument("--rows", type=positive_int, default=8, help="crossbar rows per tile")
    p.add_argument("--cols", type=positive_int, default=8, help="crossbar columns per tile")
    p.add_argument("--tiles", type=positive_int, default=1, help="crossbar tiles")
    p.add_argument("--lanes", type=positive_int, default=4, help=lanes_help)


def seed_stats(accs) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value) of per-seed accuracies."""
    import statistics

    return statistics.fmean(accs), (statistics.stdev(accs) if len(accs) > 1 else 0.0)


def cached_record(f: Path, compute) -> dict:
    """The JSON record in ``f``, or ``compute()`` written there first (the studies' per-run
    cache: a rerun of a study only trains what is missing)."""
    import json

    if f.exists():
        return json.loads(f.read_text())
    rec = compute()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(json.dumps(rec, indent=1))
    return rec


def run_study(rows, seeds, out: Path, run, describe) -> dict:
    """The studies' driver (`python -m memhil.commands.coincidence_study` / `onchip_study`): for
    each row tag print ``describe(tag)``, ``rec = run(tag, log)`` (a dict with ``mean`` and
    ``sd``), print them, and write ``out/table.json`` (the rows of earlier calls kept) after
    every row, so that an interrupted study keeps what it finished. One torch thread."""
    import json

    set_threads(1)
    table_f = Path(out) / "table.json"
    table = json.loads(table_f.read_text()) if table_f.exists() else {}
    for tag in rows:
        print(describe(tag), flush=True)
        rec = run(tag, lambda s: print(s, flush=True))
        print(f"  -> {rec['mean']:.2f} +- {rec['sd']:.2f}", flush=True)
        table[f"{tag} | seeds {' '.join(map(str, seeds))}"] = rec
        table_f.parent.mkdir(parents=True, exist_ok=True)
        table_f.write_text(json.dumps(table, indent=1))
    return table
