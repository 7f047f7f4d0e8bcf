"""Writing results: atomic JSON and CSV, and matplotlib (Agg) plots."""
from __future__ import annotations

import csv
import io
import json
import math
import os

from memhil.fileio import atomic_write_bytes


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


# ---------------------------------------------------------------------- one plotting style
# Every figure of memhil goes through these helpers: the float baseline always in the same
# colour, the other series in a fixed order of the rest of the palette, accuracy always in %,
# the legend outside the axes, whole-number epoch ticks, a title on every figure.
FLOAT_COLOR = "#444444"
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#17becf")


def series_color(name: str, index: int) -> str:
    """The colour of series ``name`` (the ``index``-th non-float series)."""
    return FLOAT_COLOR if "float" in name.lower() else PALETTE[index % len(PALETTE)]


def _colors(names) -> dict:
    out, i = {}, 0
    for n in names:
        out[n] = series_color(n, i)
        if out[n] != FLOAT_COLOR:
            i += 1
    return out


def _legend_outside(fig, ax) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, -0.02),
                   ncol=min(len(labels), 2), fontsize=8, frameon=False)
        fig.subplots_adjust(bottom=0.14 + 0.06 * ((len(labels) + 1) // 2))


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_histories(path, histories: dict[str, list[dict]], title: str = "") -> None:
    """Test accuracy (%) and training loss per epoch, one line per run name."""
    plt = _plt()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.8))
    col = _colors(histories)
    for name, h in histories.items():
        ep = [r["epoch"] for r in h]
        a1.plot(ep, [100 * r["test_accuracy"] for r in h], marker="o", ms=3, label=name,
                color=col[name])
        a2.plot(ep, [r["train_loss"] for r in h], marker="o", ms=3, label=name, color=col[name])
    a1.set_xlabel("epoch"); a1.set_ylabel("test accuracy (%)"); a1.grid(alpha=0.3)
    a2.set_xlabel("epoch"); a2.set_ylabel("training loss"); a2.grid(alpha=0.3)
    a1.set_title("test accuracy", fontsize=9); a2.set_title("training loss", fontsize=9)
    for a in (a1, a2):
        _integer_ticks(a)
    fig.suptitle(title or "training", fontsize=10)
    _legend_outside(fig, a1)
    _save(fig, path)
    plt.close(fig)


def plot_lines(path, series: dict[str, tuple[list, list, list | None]], xlabel: str,
               ylabel: str, title: str = "", logx: bool = False, hline: float | None = None,
               hline_label: str = "", points: bool = False) -> None:
    """``series``: name -> (x, y, yerr or None); with ``points`` unconnected markers (a
    scatter plot). A ``ylabel`` of accuracy (not a ratio) is plotted in %: values in [0, 1]
    are scaled."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 4.2))
    col = _colors(series)
    pct = "accuracy" in ylabel and "/" not in ylabel
    if pct and "%" not in ylabel:
        ylabel += " (%)"
    for name, (x, y, e) in series.items():
        if pct and y and max(y) <= 1.0:
            y = [100 * v for v in y]
            e = [100 * v for v in e] if e is not None else None
        if points:
            ax.scatter(x, y, s=18, label=name, color=col[name])
        else:
            ax.errorbar(x, y, yerr=e, marker="o", ms=4, capsize=3, label=name, color=col[name])
    if hline is not None:
        ax.axhline(hline, color=FLOAT_COLOR, ls="--", lw=1, label=hline_label or None)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel); ax.set_ylabel(ylabel); ax.grid(alpha=0.3)
    ax.set_title(title or f"{ylabel} vs {xlabel}", fontsize=10)
    _legend_outside(fig, ax)
    _save(fig, path)
    plt.close(fig)


def plot_scatter(path, series: dict[str, tuple[list, list]], xlabel: str, ylabel: str,
                 title: str = "", logx: bool = False) -> None:
    """``series``: name -> (x, y) points, one colour per name (accuracy in % as plot_lines)."""
    plot_lines(path, {n: (x, y, None) for n, (x, y) in series.items()}, xlabel, ylabel,
               title=title, logx=logx, points=True)
