"""Random command workloads for checking a device against the twin (``memhil verify``, tests).

:func:`random_session` configures a crossbar (any object with the Twin's methods: a ``Twin``, a
``Crossbar``, a ``LockstepCrossbar``) for one update mode, programs random conductances, then
runs ``steps`` random operations: forward and transpose reads of small batches, single-sample
and minibatch updates (each applied: contract version 3 has no accumulate-only update), and now
and then a read-back of codes or LFSR states. Everything is drawn from ``seed``, so the same
call on two backends issues the same commands.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC


@dataclass
class SessionReport:
    mode: str
    steps: int
    counts: dict = field(default_factory=dict)
    pulses: int = 0


def session_config(mode: str, seed: int, *, noisy: bool = True) -> DeviceConfig:
    """The device configuration of a verify session (noise on by default: every path runs)."""
    return DeviceConfig(update_mode=mode, seed=seed, bl=15 + seed % 17,
                        c2c_sigma=0.2 if noisy else 0.0, d2d_sigma=0.15 if noisy else 0.0,
                        read_noise_sigma=0.03 if noisy else 0.0, d2d_seed=seed + 1,
                        asymmetry=0.1 if noisy else 0.0, adc_bits=12)


def random_session(xb, mode: str, steps: int, seed: int, *, noisy: bool = True,
                   max_batch: int = 4, progress=None) -> SessionReport:
    rng = random.Random(f"{mode}:{seed}")
    g = torch.Generator().manual_seed(rng.getrandbits(31))
    R, C, T = xb.rows, xb.cols, xb.tiles
    cfg = session_config(mode, seed, noisy=noisy)
    xb.configure(cfg)
    xb.write_reg(SPEC.reg("LR_Q"), rng.randrange(1 << 10, 1 << 14))
    xb.write_reg(SPEC.reg("ADC_SHIFT"), rng.randrange(0, 6))
    cmax = cfg.cmax
    for t in range(T):
        gp = torch.randint(0, cmax + 1, (R * C,), generator=g)
        gm = torch.randint(0, cmax + 1, (R * C,), generator=g)
        xb.write_cells(t, 0, gp, gm)
    rep = SessionReport(mode, steps)
    ops = ("forward", "transpose", "update", "minibatch", "readback")
    weights = (3, 2, 4, 3, 1)
    dmax = cfg.dac_max
    for _ in range(steps):
        op = rng.choices(ops, weights)[0]
        t = rng.randrange(T)
        B = rng.randint(1, max_batch)
        rep.counts[op] = rep.counts.get(op, 0) + 1
        x = torch.randint(-dmax, dmax + 1, (B, C), generator=g)
        d = torch.randint(-dmax, dmax + 1, (B, R), generator=g)
        if rng.random() < 0.2:                      # sparse operands, as in real training
            x = x * (torch.rand(x.shape, generator=g) < 0.3)
        if op == "forward":
            xb.forward(t, x)
        elif op == "transpose":
            xb.transpose(t, d)
        elif op == "update":
            rep.pulses += xb.update(t, x[:1], d[:1])
        elif op == "minibatch":
            rep.pulses += xb.update(t, x, d)
        else:
            n = rng.randint(1, R * C)
            start = rng.randrange(R * C - n + 1)
            xb.read_cells(t, start, n)
            xb.read_rng(t, 0, R + C)
        if progress is not None:
            progress.update(1)
    return rep


def compare_state(a: dict, b) -> list[str]:
    """Names of the state tensors that differ between a snapshot ``a`` and a Twin ``b``."""
    return [k for k in ("gp", "gm", "row_lfsr", "col_lfsr")
            if not torch.equal(a[k].cpu(), getattr(b, k).cpu())]
