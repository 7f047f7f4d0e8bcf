"""Benchmark: the twin's forward read and stochastic update vs float torch on the same shape.

``memhil bench twin --json`` prints one JSON object. For a 784x256 layer (784 inputs, 256
outputs) at batch 1 and 64, with c2c noise on, in both update modes, it times the twin and the
float reference **interleaved in the same loop** (A B A B ...) and reports the ratio of the
medians; ``forward_vs_float`` and ``update_vs_float`` are the worst ratios over the batch sizes
(and, for the update, over the modes). Timing runs on 2 intra-op threads (or fewer cores).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

ROWS, COLS = 256, 784
BATCHES = (1, 64)
MODES = ("coincidence", "rounding")


def _pair(fa, fb, reps: int) -> tuple[float, float]:
    """Median seconds of fa and fb, timed alternately so that machine noise hits both."""
    ta, tb = [], []
    for _ in range(3):
        fa(), fb()
    for _ in range(reps):
        t0 = time.perf_counter()
        fa()
        t1 = time.perf_counter()
        fb()
        t2 = time.perf_counter()
        ta.append(t1 - t0)
        tb.append(t2 - t1)
    return statistics.median(ta), statistics.median(tb)


def operands(batch: int, g):
    """Realistic codes: ReLU-like inputs (half zero) and Gaussian errors."""
    import torch

    x = (torch.rand(batch, COLS, generator=g) * 128).long().clamp(max=127)
    x = x * (torch.rand(batch, COLS, generator=g) > 0.5)
    d = (torch.randn(batch, ROWS, generator=g) * 30).long().clamp(-127, 127)
    return x, d


def run(json_out: bool = False, reps: int = 30) -> dict:
    import torch

    from memhil import DeviceConfig
    from memhil.contract import SPEC
    from memhil.twin import Twin, native

    threads = int(os.environ.get("MEMHIL_BENCH_THREADS", max(1, min(2, os.cpu_count() or 1))))
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    detail = {}
    worst_fwd = worst_upd = 0.0
    for mode in MODES:
        cfg = DeviceConfig(update_mode=mode, c2c_sigma=0.2, bl=31, seed=1)
        tw = Twin(ROWS, COLS, 1, cfg)
        tw.write_reg(SPEC.reg("LR_Q"), 600)
        tw.write_reg(SPEC.reg("ADC_SHIFT"), 6)
        gp = torch.randint(80, 170, (ROWS * COLS,), generator=g)
        tw.write_cells(0, 0, gp, torch.full_like(gp, 124))
        w = torch.randn(ROWS, COLS, generator=g) * 0.05
        tw.update(0, *operands(1, g))                         # compile/warm the apply kernel
        for batch in BATCHES:
            x, d = operands(batch, g)
            xf, df = x.float() / 127, d.float() / 127
            if mode == MODES[0]:
                tf, tt = _pair(lambda: xf @ w.T, lambda: tw.forward(0, x), reps)
                detail[f"forward_b{batch}"] = {"twin_s": tt, "float_s": tf, "ratio": tt / tf}
                worst_fwd = max(worst_fwd, tt / tf)
            if batch == 1:
                fl = lambda: w.add_(torch.outer(df[0], xf[0]), alpha=-1e-3)  # noqa: E731
            else:
                fl = lambda: w.add_(df.T @ xf, alpha=-1e-3)                   # noqa: E731
            tf, tt = _pair(fl, lambda: tw.update(0, x, d), reps)
            detail[f"update_{mode}_b{batch}"] = {"twin_s": tt, "float_s": tf, "ratio": tt / tf}
            worst_upd = max(worst_upd, tt / tf)
    result = {
        "shape": f"{COLS}x{ROWS}",
        "threads": threads,
        "forward_vs_float": round(worst_fwd, 2),
        "update_vs_float": round(worst_upd, 2),
        "update_vs_float_by_mode": {
            m: round(max(detail[f"update_{m}_b{b}"]["ratio"] for b in BATCHES), 2) for m in MODES
        },
        "targets": {"forward_vs_float": 3, "update_vs_float": 10},
        "detail": detail,
        "torch": torch.__version__,
        "native_kernels": native.library() is not None,
    }
    if not json_out:
        for k, v in detail.items():
            print(f"{k:28s} twin {v['twin_s'] * 1e6:9.1f} us   float {v['float_s'] * 1e6:8.1f} us"
                  f"   ratio {v['ratio']:6.2f}", file=sys.stdout)
        print(f"forward_vs_float {result['forward_vs_float']}  update_vs_float {result['update_vs_float']}")
    return result
