"""Benchmark (not a test): one training epoch of 784-256-128-10 on the twin with
pulse-coincidence updates (BL 31, c2c noise) against the float baseline with the same batch,
at batch 1, 10 and 32, all measured in one run.

``run(json_out)`` returns ``{"epoch_vs_float_b1": ..., "epoch_vs_float_b10": ...,
"epoch_vs_float_b32": ..., "epoch_vs_float": (= _b32), ...}`` (and prints it, as JSON when
``json_out``). The epoch is a fixed-size subset of Fashion-MNIST (synthetic data of the same
shape when the data set is not installed): ``MEMHIL_BENCH_SUBSET`` (2,048) samples at batch 10
and 32, ``MEMHIL_BENCH_SUBSET_B1`` (512) at batch 1, whose epochs are slow. All six networks
(two per batch size) are timed side by side, one epoch each in turn, on the same number of
torch threads (2, or ``$MEMHIL_THREADS``); each ratio is of the medians. The twin's networks
take the trainer's fused step (:mod:`memhil.nn.fused`; ``"fused_step"`` in the result says
whether they did; ``MEMHIL_FUSED=0`` measures the plain autograd step instead).
"""
from __future__ import annotations

import os
import statistics
import sys

SUBSET = int(os.environ.get("MEMHIL_BENCH_SUBSET", 2048))
SUBSET_B1 = int(os.environ.get("MEMHIL_BENCH_SUBSET_B1", 512))
BATCHES = (1, 10, 32)
BATCH = 32                      # the batch of the plain keys (epoch_vs_float, ...)
REPEATS = int(os.environ.get("MEMHIL_BENCH_REPEATS", 5))


def _data():
    import numpy as np
    try:
        from memhil.data import load_dataset
        d = load_dataset("fashion-mnist").subset(SUBSET, 256)
        return d, "fashion-mnist"
    except Exception:  # not installed: same shapes, synthetic
        from memhil.data import Dataset
        rng = np.random.default_rng(0)
        x = rng.random((SUBSET, 784), dtype=np.float32)
        y = rng.integers(0, 10, SUBSET).astype(np.int64)
        return Dataset("synthetic", x, y, x[:256], y[:256], (28, 28)), "synthetic 784-d"


def run(json_out: bool = False) -> dict:
    import torch

    from memhil.config import DeviceConfig
    from memhil.nn.fused import FusedStep
    from memhil.nn.trainer import RunSpec, Trainer

    threads = int(os.environ.get("MEMHIL_THREADS", "2"))
    torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
    data, source = _data()
    cfg = DeviceConfig(update_mode="coincidence", bl=31, c2c_sigma=0.1)
    trainers, times = {}, {}
    for batch in BATCHES:
        d = data.subset(SUBSET_B1, 256) if batch == 1 else data
        for dev in ("float", "memristive"):
            spec = RunSpec(dataset="bench", hidden=[256, 128], device=dev, epochs=REPEATS + 1,
                           batch=batch, lr=0.05, seed=0, lr_schedule="constant",
                           config=cfg.to_dict())
            trainers[batch, dev] = Trainer(spec, d)
            times[batch, dev] = []
    for tr in trainers.values():          # warm-up epoch (LFSR jump matrices, allocator)
        tr.train_epoch()
    for _ in range(REPEATS):
        for key, tr in trainers.items():
            tr.train_epoch()
            times[key].append(tr.history[-1]["epoch_time_s"])
    res: dict = {}
    detail = {}
    for batch in BATCHES:
        f = statistics.median(times[batch, "float"])
        m = statistics.median(times[batch, "memristive"])
        n = len(trainers[batch, "float"].data.y_train)
        res[f"epoch_vs_float_b{batch}"] = m / f
        detail[f"b{batch}"] = {"batch": batch, "samples": n, "memristive_epoch_s": m,
                               "float_epoch_s": f, "memristive_ms_per_sample": 1e3 * m / n,
                               "float_ms_per_sample": 1e3 * f / n}
    b = detail[f"b{BATCH}"]
    m, f = b["memristive_epoch_s"], b["float_epoch_s"]
    res.update({"epoch_vs_float": m / f, "memristive_epoch_s": m, "float_epoch_s": f,
                "samples": b["samples"], "batch": BATCH, "network": "784-256-128-10",
                "update_mode": "coincidence", "bl": 31, "c2c_sigma": 0.1, "backend": "twin",
                "data": source, "threads": torch.get_num_threads(), "repeats": REPEATS,
                "fused_step": all(FusedStep.of(tr.model, tr.opt) is not None
                                  for (_, dev), tr in trainers.items() if dev == "memristive"),
                "memristive_samples_per_s": b["samples"] / m,
                "float_samples_per_s": b["samples"] / f, "target": 3.0, "per_batch": detail})
    if not json_out:   # with json_out the caller (memhil bench) prints the JSON
        for k, v in detail.items():
            print(f"batch {v['batch']:>2}, one epoch of {v['samples']} samples, {res['network']}: "
                  f"memristive (twin, coincidence BL 31, c2c 0.1) {v['memristive_epoch_s']:.2f} s,"
                  f" float {v['float_epoch_s']:.3f} s, epoch_vs_float_{k} = "
                  f"{res['epoch_vs_float_' + k]:.1f}")
        print(f"epoch_vs_float (batch {BATCH}) = {m / f:.1f} (target <= 3)")
    return res


if __name__ == "__main__":  # pragma: no cover  (`memhil bench train [--json]` is the same)
    import json

    _res = run(json_out="--json" in sys.argv)
    if "--json" in sys.argv:
        print(json.dumps(_res, sort_keys=True))
