"""Writing results: atomic JSON and CSV, and matplotlib (Agg) plots."""
from __future__ import annotations

import csv
import io
import json
import math
import os

from memhil.nn.checkpoint import atomic_write_bytes


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 1) == 0:
        return _clean(v.item())
    if isinstance(v, os.PathLike):
        return str(v)
    return v


def write_json(path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n").encode())


def write_csv(path, rows: list[dict], columns: list[str] | None = None) -> None:
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _clean(r.get(k)) for k in columns})
    atomic_write_bytes(path, buf.getvalue().encode())


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def plot_histories(path, histories: dict[str, list[dict]], title: str = "") -> None:
    """Test accuracy and training loss per epoch, one line per run name."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name, h in histories.items():
        ep = [r["epoch"] for r in h]
        a1.plot(ep, [100 * r["test_accuracy"] for r in h], marker="o", ms=3, label=name)
        a2.plot(ep, [r["train_loss"] for r in h], marker="o", ms=3, label=name)
    a1.set_xlabel("epoch"); a1.set_ylabel("test accuracy (%)"); a1.grid(alpha=0.3)
    a2.set_xlabel("epoch"); a2.set_ylabel("training loss"); a2.grid(alpha=0.3)
    a1.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    _save(fig, path)
    plt.close(fig)


def plot_lines(path, series: dict[str, tuple[list, list, list | None]], xlabel: str,
               ylabel: str, title: str = "", logx: bool = False, hline: float | None = None,
               hline_label: str = "") -> None:
    """``series``: name -> (x, y, yerr or None)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, (x, y, e) in series.items():
        ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=3, label=name)
    if hline is not None:
        ax.axhline(hline, color="gray", ls="--", lw=1, label=hline_label or None)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel); ax.set_ylabel(ylabel); ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    _save(fig, path)
    plt.close(fig)
