"""Benchmark (not a test): one training epoch of 784-256-128-10 on the twin with
pulse-coincidence updates (BL 31, c2c noise) against the float baseline with the same batch.

``run(json_out)`` returns ``{"epoch_vs_float": ..., ...}`` (and prints it, as JSON when
``json_out``). The epoch is a fixed-size subset of Fashion-MNIST (synthetic data of the same
shape when the data set is not installed); both networks are timed side by side, alternating,
on the same number of torch threads (2, or ``$MEMHIL_THREADS``), and the median is used.
"""
from __future__ import annotations

import os
import statistics
import sys

SUBSET = int(os.environ.get("MEMHIL_BENCH_SUBSET", 2048))
BATCH = 32
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
    from memhil.nn.trainer import RunSpec, Trainer

    threads = int(os.environ.get("MEMHIL_THREADS", "2"))
    torch.set_num_threads(max(1, min(threads, os.cpu_count() or 1)))
    data, source = _data()
    cfg = DeviceConfig(update_mode="coincidence", bl=31, c2c_sigma=0.1)
    specs = {dev: RunSpec(dataset="bench", hidden=[256, 128], device=dev, epochs=REPEATS + 1,
                          batch=BATCH, lr=0.05, seed=0, lr_schedule="constant",
                          config=cfg.to_dict()) for dev in ("float", "memristive")}
    trainers = {dev: Trainer(s, data) for dev, s in specs.items()}
    times: dict[str, list[float]] = {"float": [], "memristive": []}
    for dev, tr in trainers.items():     # warm-up epoch (LFSR jump matrices, allocator)
        tr.train_epoch()
    for _ in range(REPEATS):
        for dev, tr in trainers.items():
            tr.train_epoch()
            times[dev].append(tr.history[-1]["epoch_time_s"])
    f = statistics.median(times["float"])
    m = statistics.median(times["memristive"])
    res = {"epoch_vs_float": m / f, "memristive_epoch_s": m, "float_epoch_s": f,
           "samples": len(data.y_train), "batch": BATCH, "network": "784-256-128-10",
           "update_mode": "coincidence", "bl": 31, "c2c_sigma": 0.1, "backend": "twin",
           "data": source, "threads": torch.get_num_threads(), "repeats": REPEATS,
           "memristive_samples_per_s": len(data.y_train) / m,
           "float_samples_per_s": len(data.y_train) / f, "target": 3.0}
    if not json_out:   # with json_out the caller (memhil bench) prints the JSON
        print(f"one epoch of {res['samples']} samples, batch {BATCH}, {res['network']}: "
              f"memristive (twin, coincidence BL 31, c2c 0.1) {m:.2f} s, float {f:.3f} s, "
              f"epoch_vs_float = {m / f:.1f} (target <= 3)")
    return res


if __name__ == "__main__":  # pragma: no cover

    from memhil.cli import main

    sys.exit(main(["bench", "train"] + sys.argv[1:]))
