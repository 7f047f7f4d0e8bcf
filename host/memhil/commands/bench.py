"""memhil bench {twin,rtl,host,train,board,onchip}: speed figures as ratios measured side by side."""
from __future__ import annotations

import argparse
import importlib
import json

from memhil.commands.common import RunFailure, UsageError

HELP = ("benchmarks: twin vs float, RTL cycles vs bound, host link throughput, training epoch, "
        "projected board training throughput")

EXAMPLES = """
  memhil bench twin --json                       # seconds; what `make bench` runs
  memhil bench train                             # one training epoch, twin vs float
  memhil bench rtl                               # builds the RTL simulation on first use
  memhil bench board --json                      # paper network on the board vs the twin
  memhil bench board --lanes 8 --host-us-per-command 200 --host-us-per-sample 500
  memhil bench onchip --json                     # what the on-PL training step needs
"""

TARGETS = {
    "twin": ("memhil.bench.twin", "twin forward/update vs the float matmul/outer product"),
    "rtl": ("memhil.bench.rtl", "simulated RTL cycles vs the ceil(R*C/LANES)+latency bound"),
    "host": ("memhil.bench.host", "commands per second and host time shares over the sim link"),
    "train": ("memhil.bench.train", "one training epoch on the twin vs the float baseline"),
    "board": ("memhil.bench.board", "projected board training throughput of 784-256-128-10 "
                                    "(simulated cycles + stated host costs) vs the twin"),
    "onchip": ("memhil.bench.onchip", "what the integer training step on the PL needs (state, "
                                      "bytes) and the cells per clock for 1x / 10x the twin"),
}

# `memhil bench board` only: flag dest -> keyword of memhil.bench.board.run
_BOARD_FLAGS = ("lanes", "host_us_per_command", "host_ns_per_byte", "host_us_per_sample",
                "reg_writes_per_minibatch", "clock_mhz", "cycles_from")


def _lanes(s: str) -> tuple[int, ...]:
    try:
        v = tuple(int(t) for t in s.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid list of integers: {s!r}")
    if not v or any(x not in (2, 4, 8, 16, 32) for x in v):
        raise argparse.ArgumentTypeError(f"must be powers of two in [2, 32], got {s!r}")
    return v


def _nonneg(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {s!r}")
    if not 0 <= v < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {s}")
    return v


def _positive(s: str) -> float:
    v = _nonneg(s)
    if v == 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def _earlier_run(path: str) -> dict:
    """The JSON of an earlier `memhil bench board --json` (a UsageError if it is not one)."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise UsageError("--cycles-from", f"{path} does not exist")
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise UsageError("--cycles-from", f"{path} is not JSON: {e}")
    builds = data.get("builds") if isinstance(data, dict) else None
    if not isinstance(builds, dict) or not builds or not all(
            isinstance(b, dict) and "simulated" in b for b in builds.values()):
        raise UsageError("--cycles-from", f"{path} is not the output of `memhil bench board "
                                          f"--json` (no simulated counts)")
    return data


def add_arguments(p):
    from memhil.commands.common import nonneg_int

    p.add_argument("what", choices=sorted(TARGETS), help="which benchmark to run")
    p.add_argument("--json", action="store_true", help="print one JSON object only")
    from memhil.bench import board as b

    g = p.add_argument_group("board only (memhil bench board)")
    g.add_argument("--lanes", type=_lanes, default=None, metavar="L[,L...]",
                   help="LANES of the simulated builds; the first gives the headline figures "
                        f"(default: {','.join(map(str, b.LANES))})")
    g.add_argument("--host-us-per-command", type=_nonneg, default=None, metavar="US",
                   help="host time per command, the DMA round trip from Python (default: "
                        f"{b.HOST_US_PER_COMMAND:g}, an assumption)")
    g.add_argument("--host-ns-per-byte", type=_nonneg, default=None, metavar="NS",
                   help="host time per frame byte, encode/CRC/decode (default: "
                        f"{b.HOST_NS_PER_BYTE:g}, measured on x86)")
    g.add_argument("--host-us-per-sample", type=_nonneg, default=None, metavar="US",
                   help="host training math per sample (default: "
                        f"{b.HOST_US_PER_SAMPLE:g}, memhil.npnn measured on x86)")
    g.add_argument("--reg-writes-per-minibatch", type=nonneg_int, default=None, metavar="N",
                   help=f"WRITE_REG commands per minibatch (default: "
                        f"{b.REG_WRITES_PER_MINIBATCH})")
    g.add_argument("--clock-mhz", type=_positive, default=None, metavar="MHZ",
                   help=f"PL clock of the projection (default: {b.CLOCK_HZ / 1e6:g})")
    g.add_argument("--cycles-from", default=None, metavar="FILE",
                   help="reuse the simulated cycle counts of an earlier `memhil bench board "
                        "--json` output (its network and LANES) instead of simulating; the "
                        "twin is measured again")


def run(args) -> int:
    modname, _ = TARGETS[args.what]
    given = [d for d in _BOARD_FLAGS if d in getattr(args, "_explicit", set())]
    if args.what != "board" and given:
        flag = "--" + given[0].replace("_", "-")
        raise UsageError(flag, f"only used with `memhil bench board`, not `memhil bench "
                               f"{args.what}`")
    mod = importlib.import_module(modname)
    if args.what == "board":
        opts = {d: getattr(args, d) for d in _BOARD_FLAGS[1:-2] if getattr(args, d) is not None}
        if args.clock_mhz is not None:
            opts["clock_hz"] = args.clock_mhz * 1e6
        if args.cycles_from is not None:
            if "lanes" in given:
                raise UsageError("--lanes", "cannot be given with --cycles-from (the LANES are "
                                            "those of the earlier run)")
            opts["cycles_from"] = _earlier_run(args.cycles_from)
        try:
            if args.lanes is not None:
                opts["lanes"] = args.lanes
            result = mod.run(json_out=args.json, **opts)
        except mod.CountsNotLinear as e:
            raise RunFailure(str(e)) from e
    else:
        result = mod.run(json_out=args.json)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0
