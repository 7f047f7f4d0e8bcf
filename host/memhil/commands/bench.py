"""memhil bench {twin,rtl,host,train}: speed figures as ratios measured side by side."""
from __future__ import annotations

import importlib
import json

HELP = "benchmarks: twin vs float, RTL cycles vs bound, host link throughput, training epoch"

EXAMPLES = """
  memhil bench twin --json                       # seconds; what `make bench` runs
  memhil bench train                             # one training epoch, twin vs float
  memhil bench rtl                               # builds the RTL simulation on first use
"""

TARGETS = {
    "twin": ("memhil.bench.twin", "twin forward/update vs the float matmul/outer product"),
    "rtl": ("memhil.bench.rtl", "simulated RTL cycles vs the ceil(R*C/LANES)+latency bound"),
    "host": ("memhil.bench.host", "commands per second and host time shares over the sim link"),
    "train": ("memhil.bench.train", "one training epoch on the twin vs the float baseline"),
}


def add_arguments(p):
    p.add_argument("what", choices=sorted(TARGETS), help="which benchmark to run")
    p.add_argument("--json", action="store_true", help="print one JSON object only")


def run(args) -> int:
    modname, _ = TARGETS[args.what]
    mod = importlib.import_module(modname)
    result = mod.run(json_out=args.json)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return 0
