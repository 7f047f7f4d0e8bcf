"""The pulse-coincidence accuracy study (docs/results.md, "(d) Pulse coincidence: host-side
choices"; issue 13, item 3).

:data:`STUDY` names every row of the study: a ``memhil train`` command line without ``--seed``.
``python -m memhil.commands.coincidence_study ROW... --seeds 0 1 2`` trains each row on the given
seeds (``all``: every row), caching each run as ``OUT/runs/<key>.json`` (the key: the run's
spec, as ``memhil paper`` keys its runs), so an interrupted study continues and a repeat only
prints; it prints one line per row (mean +- sd of the test accuracy, the per-seed values) and
writes ``OUT/table.json``. A single run of row ``R`` on seed ``S`` is ``memhil train STUDY[R]
--seed S`` (``tests/test_results_commands.py`` holds the commands in docs/results.md to it).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from memhil.commands.common import cached_record, seed_stats


#: the protocol of issue 13's measurement: Fashion-MNIST 784-256-128-10, batch 32, c2c 0.1
P = "--dataset fashion-mnist --batch 32 --c2c-sigma 0.1"
#: the host-side coding that closes the gap: per-sample scales, stochastic rounding
BOTH = "--update-scaling sample --code-rounding stochastic"
STUDY = {
    # 3 epochs: the float baseline, constant and linearly falling learning rates
    "float/const-0.05": f"{P} --epochs 3 --device float --lr 0.05 --lr-schedule constant",
    "float/const-0.1": f"{P} --epochs 3 --device float --lr 0.1 --lr-schedule constant",
    "float/const-0.2": f"{P} --epochs 3 --device float --lr 0.2 --lr-schedule constant",
    "float/linear-0.1": f"{P} --epochs 3 --device float --lr 0.1",
    "float/linear-0.2": f"{P} --epochs 3 --device float --lr 0.2",
    # coincidence, today's coding (one pair of scales per minibatch, nearest codes)
    "nearest/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant",
    "nearest/const-0.1": f"{P} --epochs 3 --lr 0.1 --lr-schedule constant",
    "nearest/linear-0.1": f"{P} --epochs 3 --lr 0.1",
    "nearest/linear-0.2": f"{P} --epochs 3 --lr 0.2",
    "nearest-bl7/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant --bl 7",
    "nearest-bl1/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant --bl 1",
    # one change at a time, then both
    "stochastic/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant "
                             "--code-rounding stochastic",
    "stochastic/linear-0.1": f"{P} --epochs 3 --lr 0.1 --code-rounding stochastic",
    "sample/const-0.025": f"{P} --epochs 3 --lr 0.025 --lr-schedule constant "
                          "--update-scaling sample",
    "sample/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant "
                         "--update-scaling sample",
    "sample/const-0.1": f"{P} --epochs 3 --lr 0.1 --lr-schedule constant --update-scaling sample",
    "sample/linear-0.1": f"{P} --epochs 3 --lr 0.1 --update-scaling sample",
    "both/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant {BOTH}",
    "both/const-0.1": f"{P} --epochs 3 --lr 0.1 --lr-schedule constant {BOTH}",
    "both/const-0.2": f"{P} --epochs 3 --lr 0.2 --lr-schedule constant {BOTH}",
    "both/linear-0.05": f"{P} --epochs 3 --lr 0.05 {BOTH}",
    "both/linear-0.1": f"{P} --epochs 3 --lr 0.1 {BOTH}",
    "both/linear-0.2": f"{P} --epochs 3 --lr 0.2 {BOTH}",
    "both/linear-0.4": f"{P} --epochs 3 --lr 0.4 {BOTH}",
    "both-w2/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant --w-range 2 {BOTH}",
    "both-w3/const-0.05": f"{P} --epochs 3 --lr 0.05 --lr-schedule constant --w-range 3 {BOTH}",
    # 5 epochs
    "e5/float/const-0.1": f"{P} --epochs 5 --device float --lr 0.1 --lr-schedule constant",
    "e5/float/linear-0.2": f"{P} --epochs 5 --device float --lr 0.2",
    "e5/nearest/linear-0.2": f"{P} --epochs 5 --lr 0.2",
    "e5/both/linear-0.2": f"{P} --epochs 5 --lr 0.2 {BOTH}",
    # the (a') headline's setting (5 epochs, lr 0.05 falling linearly, no c2c) with the coding
    "headline/float": "--dataset fashion-mnist --batch 32 --lr 0.05 --device float",
    "headline/nearest": "--dataset fashion-mnist --batch 32 --lr 0.05",
    "headline/both": f"--dataset fashion-mnist --batch 32 --lr 0.05 {BOTH}",
}


def row_spec(tag: str, seed: int):
    """The RunSpec of row ``tag`` of :data:`STUDY` on ``seed``."""
    from memhil.commands.common import _train_spec
    return _train_spec([*shlex.split(STUDY[tag]), "--seed", str(seed)])


def run_row(argv: list[str], seeds: list[int], out: Path, log=print) -> dict:
    """Train (or load from the cache) the row ``argv`` on ``seeds``; the row's record."""
    from memhil.commands.common import _train_spec, command_line
    from memhil.data import load_data
    from memhil.experiments.paper import spec_key
    from memhil.nn.trainer import Trainer
    accs = []
    for seed in seeds:
        spec = _train_spec([*argv, "--seed", str(seed)])
        def train(spec=spec):
            t0 = time.perf_counter()
            res = Trainer(spec, load_data(spec)).fit()
            return {"command": command_line(spec), "spec": spec.to_dict(),
                    "test_accuracy": res["test_accuracy"],
                    "history": [{k: v for k, v in h.items()} for h in res["history"]],
                    "elapsed_s": time.perf_counter() - t0}

        rec = cached_record(out / "runs" / f"{spec_key(spec)}.json", train)
        accs.append(100.0 * rec["test_accuracy"])
        log(f"  seed {seed}: {accs[-1]:.2f} %  ({rec['command']})")
    mean, sd = seed_stats(accs)
    return {"row": " ".join(argv), "seeds": list(seeds), "accuracy": accs, "mean": mean,
            "sd": sd}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m memhil.commands.coincidence_study",
                                description="the pulse-coincidence study (docs/results.md, (d))",
                                epilog="rows: " + ", ".join(STUDY))
    p.add_argument("rows", nargs="+", help="row names of STUDY, or 'all'")
    p.add_argument("--out", default="runs/coincidence", help="cache and table folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a = p.parse_args(argv)
    rows = list(STUDY) if a.rows == ["all"] else a.rows
    unknown = [r for r in rows if r not in STUDY]
    if unknown:
        p.error(f"unknown row {unknown[0]!r}; rows: {', '.join(STUDY)}")
    from memhil.commands.common import run_study
    out = Path(a.out)

    def run(tag, log):
        return {**run_row(shlex.split(STUDY[tag]), a.seeds, out, log=log), "tag": tag}

    run_study(rows, a.seeds, out, run, lambda tag: f"{tag}: memhil train {STUDY[tag]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
