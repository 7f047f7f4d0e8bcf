"""Noisy-inference evaluation: accuracy on corrupted test data, relative to clean accuracy."""
from __future__ import annotations

import numpy as np
from torch import nn

from memhil.data import NOISE_KINDS, corrupt
from memhil.experiments.report import plot_lines, write_csv
from memhil.nn.layer import CrossbarLinear
from memhil.nn.trainer import accuracy

DEFAULT_LEVELS = {"gaussian": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
                  "salt-pepper": [0.0, 0.05, 0.1, 0.2, 0.3, 0.4]}


def noisy_accuracy(model: nn.Module, x_test, y_test, kinds, levels: dict, seed: int = 0) -> dict:
    """``{kind: {"levels": [...], "accuracy": [...], "relative": [...]}}``; the corrupted sets
    depend only on (kind, level index, seed), so every model sees the same noisy images."""
    clean = accuracy(model, x_test, y_test)
    out = {}
    for ki, kind in enumerate(kinds):
        accs = []
        for li, lv in enumerate(levels[kind]):
            xc = corrupt(x_test, kind, lv, seed=seed * 1000 + ki * 100 + li)
            accs.append(accuracy(model, xc, y_test) if lv > 0 else clean)
        out[kind] = {"levels": list(levels[kind]), "accuracy": accs,
                     "relative": [a / clean if clean > 0 else float("nan") for a in accs]}
    return {"clean": clean, "noise": out}


def retarget(model: nn.Module, build) -> nn.Module:
    """The same network on another backend: ``build()`` makes it; conductances are copied."""
    new = build()
    src = [m for m in model.modules() if isinstance(m, CrossbarLinear)]
    dst = [m for m in new.modules() if isinstance(m, CrossbarLinear)]
    for a, b in zip(src, dst):
        b.copy_from(a)
    return new


def write_noisy_outputs(out, results: dict[str, dict], kinds) -> list[dict]:
    """CSV and PNG (relative and absolute accuracy vs noise level) of several models."""
    rows = []
    for name, r in results.items():
        for kind in kinds:
            nk = r["noise"][kind]
            for lv, a, rel in zip(nk["levels"], nk["accuracy"], nk["relative"]):
                rows.append({"model": name, "noise": kind, "level": lv, "accuracy": a,
                             "relative_accuracy": rel})
    write_csv(out / "noisy.csv", rows, ["model", "noise", "level", "accuracy", "relative_accuracy"])
    for kind in kinds:
        for what, key, lab in (("relative", "relative", "accuracy / clean accuracy"),
                               ("absolute", "accuracy", "test accuracy")):
            series = {name: (r["noise"][kind]["levels"], r["noise"][kind][key], None)
                      for name, r in results.items()}
            plot_lines(out / f"noisy_{kind}_{what}.png", series,
                       "noise level (sigma)" if kind == "gaussian" else "corrupted fraction",
                       lab, f"{kind} test noise")
    return rows


def parse_levels(text: str | None, kinds) -> dict:
    if not text:
        return {k: DEFAULT_LEVELS[k] for k in kinds}
    vals = [float(v) for v in text.split(",") if v.strip()]
    if not vals:
        raise ValueError("no levels given")
    if vals[0] != 0.0:
        vals = [0.0] + vals
    return {k: vals for k in kinds}


__all__ = ["NOISE_KINDS", "noisy_accuracy", "retarget", "write_noisy_outputs", "parse_levels",
           "np"]
