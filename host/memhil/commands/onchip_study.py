"""The integer training step's accuracy study (docs/onchip-training.md; issue 11, item 3).

:data:`STUDY` names every row: a trainer (``host``: :class:`memhil.npnn.NumpyMLP`, the host-driven
float step; ``int``: :class:`memhil.onchip.OnChipMLP`, the integer step a PL would run;
``int-evaladapt``: the same with evaluation reads adapting their ADC gains batch by batch;
coincidence mode only: ``int-bitlen``, the first power-of-two balance of the update's codes, from
bit lengths alone; ``int-floatcoinc``, npnn's float square-root balance of the integer step's
values, a diagnostic) and a
``memhil train`` command line without ``--seed`` whose RunSpec gives the network, data, device
and schedule (both trainers use ``NumpyTrainer`` with the spec's epochs, batch, lr, schedule and
seed, on the twin). ``python -m memhil.commands.onchip_study ROW... --seeds 0 1 2`` trains each
row on the given seeds (``all``: every row; ``digits``/``fashion``: the rows of that data set),
caching each run as ``OUT/runs/<trainer>-<key>.json`` so an interrupted study continues and a
repeat only prints; it prints one line per row (mean +- sd of the final test accuracy, the
per-seed values) and writes ``OUT/table.json``. The ``host`` rows equal ``memhil train ARGS
--seed S`` bit for bit (``tests/test_npnn.py``).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from memhil.commands.common import cached_record, seed_stats

#: Fashion-MNIST, the paper network (784-256-128-10), issue 11's protocol: 5 epochs, batch 32,
#: lr 0.05 falling linearly (docs/results.md (g)'s c2c-0 runs)
FASHION = "--dataset fashion-mnist --hidden 256,128 --batch 32 --lr 0.05"
#: digits with memhil train's defaults (64-32-10, 15 epochs, batch 8, lr 0.1)
DIGITS = "--dataset digits"
TRAINERS = ("host", "int", "int-evaladapt", "int-bitlen", "int-floatcoinc")
#: the trainers that differ from ``int`` only in coincidence mode
_COINCIDENCE_ONLY = ("int-bitlen", "int-floatcoinc")
STUDY = {f"{ds}/{mode}/{tr}": (tr, f"{args} --update-mode {mode}")
         for ds, args in (("digits", DIGITS), ("fashion", FASHION))
         for mode in ("rounding", "coincidence") for tr in TRAINERS
         if mode == "coincidence" or tr not in _COINCIDENCE_ONLY}


def run_one(trainer: str, argv: list[str], seed: int) -> dict:
    """Train one run; its record (final test accuracy, history, elapsed time)."""
    from memhil.commands.common import _train_spec
    from memhil.data import load_data
    from memhil.npnn import NumpyMLP, NumpyTrainer
    from memhil.onchip import OnChipMLP
    spec = _train_spec([*argv, "--seed", str(seed)])
    data = load_data(spec)
    sizes = spec.sizes(data.features, data.classes)
    kw = {"seed": spec.seed, "config": spec.device_config(), "w_range": spec.w_range}
    if trainer == "host":
        model = NumpyMLP("twin", sizes, **kw)
    elif trainer == "int":
        model = OnChipMLP("twin", sizes, **kw)
    elif trainer == "int-evaladapt":
        model = OnChipMLP("twin", sizes, eval_adapt=True, **kw)
    elif trainer == "int-bitlen":
        model = OnChipMLP("twin", sizes, coincidence_balance="bitlen", **kw)
    elif trainer == "int-floatcoinc":
        model = OnChipMLP("twin", sizes, coincidence_balance="float", **kw)
    else:
        raise ValueError(f"trainer={trainer!r}: one of {', '.join(TRAINERS)}")
    sat = [0]
    tr = NumpyTrainer(model, epochs=spec.epochs, batch=spec.batch, lr=spec.lr, seed=spec.seed,
                      lr_schedule=spec.lr_schedule, lr_end=spec.lr_end)
    if trainer != "host":                      # count the saturated forward reads
        step = model.train_step

        def counted(x, y, lr):
            r = step(x, y, lr)
            sat[0] += r["saturated"]
            return r
        model.train_step = counted
    t0 = time.perf_counter()
    hist = tr.fit(data.x_train, data.y_train, data.x_test, data.y_test)
    model.close()
    return {"trainer": trainer, "args": " ".join(argv), "seed": seed, "spec": spec.to_dict(),
            "test_accuracy": hist[-1]["test_accuracy"], "history": hist,
            "saturated_forward_reads": sat[0] if trainer != "host" else None,
            "elapsed_s": time.perf_counter() - t0}


def run_row(tag: str, seeds: list[int], out: Path, log=print) -> dict:
    """Train (or load from the cache) row ``tag`` on ``seeds``; the row's record."""
    from memhil.commands.common import _train_spec
    from memhil.experiments.paper import spec_key
    trainer, args = STUDY[tag]
    argv = shlex.split(args)
    accs = []
    for seed in seeds:
        spec = _train_spec([*argv, "--seed", str(seed)])
        rec = cached_record(out / "runs" / f"{trainer}-{spec_key(spec)}.json",
                            lambda: run_one(trainer, argv, seed))
        accs.append(100.0 * rec["test_accuracy"])
        extra = "" if rec["saturated_forward_reads"] is None else \
            f", {rec['saturated_forward_reads']} saturated forward reads"
        log(f"  seed {seed}: {accs[-1]:.2f} %  ({rec['elapsed_s']:.0f} s{extra})")
    mean, sd = seed_stats(accs)
    return {"tag": tag, "trainer": trainer, "args": args, "seeds": list(seeds),
            "accuracy": accs, "mean": mean, "sd": sd}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m memhil.commands.onchip_study",
                                description="the integer training step's accuracy study "
                                            "(docs/onchip-training.md)",
                                epilog="rows: " + ", ".join(STUDY))
    p.add_argument("rows", nargs="+", help="row names of STUDY, or 'all', 'digits', 'fashion'")
    p.add_argument("--out", default="runs/onchip", help="cache and table folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a = p.parse_args(argv)
    rows = []
    for r in a.rows:
        if r == "all":
            rows += list(STUDY)
        elif r in ("digits", "fashion"):
            rows += [k for k in STUDY if k.startswith(r + "/")]
        elif r in STUDY:
            rows.append(r)
        else:
            p.error(f"unknown row {r!r}; rows: all, digits, fashion, {', '.join(STUDY)}")
    from memhil.commands.common import run_study
    out = Path(a.out)
    run_study(rows, a.seeds, out, lambda tag, log: run_row(tag, a.seeds, out, log=log),
              lambda tag: f"{tag}: {STUDY[tag][0]} trainer, memhil train {STUDY[tag][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
