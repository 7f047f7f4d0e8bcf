"""The paper's experiments (Babu & Rajendran 2017), as run by ``memhil paper``.

(a) headline: float baseline vs memristive (dynamic range 15, 32 levels) with both update modes;
(b) sweeps of cycle-to-cycle variability, levels and dynamic range, both update modes;
(c) noisy inference: accuracy relative to clean accuracy, float vs low / high variability.

Every run is one :class:`memhil.nn.RunSpec`; its result is cached in ``OUT/runs/<key>.json``
(atomically), so an interrupted ``memhil paper`` continues where it stopped. Runs go to a pool
of ``jobs`` worker processes (spawned, one torch thread each).
"""
from __future__ import annotations

import hashlib
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from memhil.config import DeviceConfig

C2C_VALUES = [0.0, 0.25, 0.5, 1.0, 2.0, 3.0]
LEVEL_VALUES = [4, 8, 16, 32, 64, 128]
DR_VALUES = [2.0, 5.0, 15.0, 100.0, 1000.0]
DR_READ_NOISE = 0.005      # dynamic range acts through read noise only (see docs/results.md)
NOISY_LOW_C2C, NOISY_HIGH_C2C = 0.25, 2.0
MODES = ("coincidence", "rounding")


@dataclass
class Scale:
    name: str
    dataset: str
    hidden: list[int]
    epochs: int
    batch: int
    lr: float
    seeds: list[int]
    train_subset: int | None = None
    test_subset: int | None = None
    sweeps: bool = True
    noisy_c2c: bool = True          # without sweeps: (c)'s memristive runs at c2c 0.25 and 2
    noise_levels: dict = field(default_factory=lambda: {
        "gaussian": [0.0, 0.1, 0.2, 0.3, 0.4, 0.5],
        "salt-pepper": [0.0, 0.05, 0.1, 0.2, 0.3, 0.4]})


SCALES = {
    "quick": Scale("quick", "digits", [32], 10, 8, 0.1, [0, 1, 2]),
    "full": Scale("full", "fashion-mnist", [256, 128], 5, 32, 0.05, [0, 1, 2]),
}


def spec_key(spec) -> str:
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def plan(scale: Scale) -> list[dict]:
    """The list of runs: ``{"spec": RunSpec, "noisy": bool, "tags": [...]}``, deduplicated."""
    from memhil.nn.trainer import RunSpec
    base_cfg = DeviceConfig()
    runs: dict[str, dict] = {}

    def add(tag, device, noisy=False, **cfg):
        for seed in scale.seeds:
            c = base_cfg.replace(seed=seed, d2d_seed=seed + 1, **cfg)
            s = RunSpec(dataset=scale.dataset, hidden=list(scale.hidden), device=device,
                        epochs=scale.epochs, batch=scale.batch, lr=scale.lr, seed=seed,
                        train_subset=scale.train_subset, test_subset=scale.test_subset,
                        config=c.to_dict())
            k = spec_key(s)
            r = runs.setdefault(k, {"spec": s, "noisy": False, "tags": []})
            r["noisy"] = r["noisy"] or noisy
            r["tags"].append(tag)

    add("float", "float", noisy=True)
    for mode in MODES:
        add(f"headline/{mode}", "memristive", noisy=True, update_mode=mode)
    if scale.sweeps:
        for mode in MODES:
            for v in C2C_VALUES:
                add(f"c2c/{mode}/{v}", "memristive",
                    noisy=v in (NOISY_LOW_C2C, NOISY_HIGH_C2C), update_mode=mode, c2c_sigma=v)
            for v in LEVEL_VALUES:
                add(f"levels/{mode}/{v}", "memristive", update_mode=mode, levels=v)
            for v in DR_VALUES:
                add(f"dr/{mode}/{v}", "memristive", update_mode=mode, dynamic_range=v,
                    read_noise_sigma=DR_READ_NOISE)
    elif scale.noisy_c2c:
        for v in (NOISY_LOW_C2C, NOISY_HIGH_C2C):
            add(f"c2c/coincidence/{v}", "memristive", noisy=True, c2c_sigma=v)
    return list(runs.values())


def execute(scale: Scale, out: Path, jobs: int = 1, log=print, progress: bool = False) -> list[dict]:
    """Run (or load from OUT/runs) every planned run: ``memhil paper`` is a preset of
    ``memhil sweep`` (the same runner, records, resume and process pool,
    :func:`memhil.experiments.sweep.execute`). Returns the records, each with its tags."""
    from memhil.experiments.sweep import Point
    from memhil.experiments.sweep import execute as sweep_execute
    planned = plan(scale)
    points, tags = [], {}
    for r in planned:
        key = spec_key(r["spec"])
        tags[key] = r["tags"]
        extra = {"label": f"{r['tags'][0]} seed {r['spec'].seed}"}
        if r["noisy"]:
            extra["noise_levels"] = scale.noise_levels
        points.append(Point(argv=[], values={}, seed=r["spec"].seed,
                            spec=r["spec"], key=key, extra=extra))
    log(f"{len(points)} runs in {out / 'runs'} (finished ones are reused) on {jobs} process(es)")
    res = sweep_execute(points, out, jobs=jobs, progress=progress, log=log)
    if res.failed:
        first = res.failed[0]
        raise RuntimeError(f"{len(res.failed)} of {res.total} runs failed; the first, "
                           f"{first.get('label')}: {first.get('error')} (its record: "
                           f"{out / 'runs' / (first['key'] + '.json')}; run the command "
                           f"again to retry the failed runs)")
    log(f"{res.cached} runs reused, {res.ran} run now ({res.where}, {res.seconds:.0f} s)")
    for rec in res.records:
        rec["tags"] = tags[rec["key"]]
    return res.records


# ---------------------------------------------------------------------------- summaries
def _stats(vals):
    vals = [v for v in vals if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), float("nan"), 0
    m = statistics.fmean(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return m, s, len(vals)


def summarize(records: list[dict], scale: Scale) -> dict:
    by_tag: dict[str, list[dict]] = {}
    for r in records:
        for t in r["tags"]:
            by_tag.setdefault(t, []).append(r)
    fl = _stats([r["test_accuracy"] for r in by_tag.get("float", [])])
    summary = {"float": {"mean": fl[0], "std": fl[1], "n": fl[2],
                         "per_seed": {r["spec"]["seed"]: r["test_accuracy"]
                                      for r in by_tag.get("float", [])}}}
    head = {}
    for mode in MODES:
        rs = by_tag.get(f"headline/{mode}", [])
        m = _stats([r["test_accuracy"] for r in rs])
        fseed = summary["float"]["per_seed"]
        gaps = [100 * (fseed[r["spec"]["seed"]] - r["test_accuracy"]) for r in rs
                if r["spec"]["seed"] in fseed]
        g = _stats(gaps)
        head[mode] = {"mean": m[0], "std": m[1], "n": m[2], "gap_points_mean": g[0],
                      "gap_points_std": g[1], "gap_points_max": max(gaps) if gaps else None,
                      "within_3_points": bool(gaps) and g[0] < 3.0,
                      "per_seed": {r["spec"]["seed"]: r["test_accuracy"] for r in rs}}
    summary["headline"] = head
    sweeps = {}
    # without sweeps (--headline-only) the c2c runs that (c) needs are not a sweep to report
    swept = (("c2c", C2C_VALUES), ("levels", LEVEL_VALUES), ("dr", DR_VALUES)) \
        if scale.sweeps else ()
    for name, values in swept:
        sw = {}
        for mode in MODES:
            pts = []
            for v in values:
                rs = by_tag.get(f"{name}/{mode}/{v}", [])
                if not rs:
                    continue
                m = _stats([r["test_accuracy"] for r in rs])
                pts.append({"value": v, "mean": m[0], "std": m[1], "n": m[2],
                            "min": min(r["test_accuracy"] for r in rs),
                            "max": max(r["test_accuracy"] for r in rs)})
            if pts:
                sw[mode] = pts
        if sw:
            sweeps[name] = sw
    summary["sweeps"] = sweeps
    noisy = {}
    groups = {"float": by_tag.get("float", []),
              f"memristive c2c {NOISY_LOW_C2C:g}": by_tag.get(f"c2c/coincidence/{NOISY_LOW_C2C}", []),
              f"memristive c2c {NOISY_HIGH_C2C:g}": by_tag.get(f"c2c/coincidence/{NOISY_HIGH_C2C}", [])}
    for gname, rs in groups.items():
        rs = [r for r in rs if "noisy" in r]
        if not rs:
            continue
        g = {}
        for kind, lv in scale.noise_levels.items():
            rel = []
            acc = []
            for i in range(len(lv)):
                rel.append(_stats([r["noisy"]["noise"][kind]["relative"][i] for r in rs]))
                acc.append(_stats([r["noisy"]["noise"][kind]["accuracy"][i] for r in rs]))
            g[kind] = {"levels": lv, "relative_mean": [x[0] for x in rel],
                       "relative_std": [x[1] for x in rel], "accuracy_mean": [x[0] for x in acc],
                       "accuracy_std": [x[1] for x in acc], "n": len(rs)}
        noisy[gname] = g
    summary["noisy"] = noisy
    return summary


def _pct(m, s=None):
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "—"
    return f"{100 * m:.2f}" + (f" ± {100 * s:.2f}" if s is not None else "")


def _n(k: int, noun: str) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{k} {noun}{'' if k == 1 else 's'}"


def tables_markdown(summary: dict, scale: Scale) -> str:
    L = []
    f = summary["float"]
    n_in = {"digits": 64, "fashion-mnist": 784, "mnist": 784}.get(str(scale.dataset), "in")
    L.append(f"**(a) Headline** ({scale.dataset}, {'-'.join(map(str, [n_in, *scale.hidden, 10]))}, "
             f"{_n(scale.epochs, 'epoch')}, batch {scale.batch}, lr {scale.lr}, "
             f"{_n(len(scale.seeds), 'seed')}; mean ± std over {_n(len(scale.seeds), 'seed')})\n")
    L.append("| network | test accuracy (%) | gap to float (points) | max gap | within 3 points |")
    L.append("|---|---|---|---|---|")
    L.append(f"| float baseline | {_pct(f['mean'], f['std'])} | — | — | — |")
    for mode, h in summary["headline"].items():
        L.append(f"| memristive DR 15, 32 levels, {mode} | {_pct(h['mean'], h['std'])} | "
                 f"{h['gap_points_mean']:.2f} ± {h['gap_points_std']:.2f} | "
                 f"{h['gap_points_max']:.2f} | {'yes' if h['within_3_points'] else 'no'} |")
    names = {"c2c": "cycle-to-cycle variability σ", "levels": "levels",
             "dr": f"dynamic range (read noise σ = {DR_READ_NOISE})"}
    for name, sw in summary["sweeps"].items():
        L.append(f"\n**(b) Accuracy vs {names[name]}** (test accuracy %, mean ± std over "
                 f"{_n(len(scale.seeds), 'seed')})\n")
        vals = sorted({p["value"] for pts in sw.values() for p in pts})
        L.append("| update mode | " + " | ".join(f"{v:g}" for v in vals) + " |")
        L.append("|---|" + "---|" * len(vals))
        for mode, pts in sw.items():
            at = {p["value"]: p for p in pts}
            L.append(f"| {mode} | " + " | ".join(
                _pct(at[v]["mean"], at[v]["std"]) if v in at else "—" for v in vals) + " |")
    if summary["noisy"]:
        L.append("\n**(c) Noisy inference**: accuracy on corrupted test data / clean accuracy "
                 "(mean over seeds; coincidence mode for the memristive networks)\n")
        for kind in scale.noise_levels:
            lv = scale.noise_levels[kind]
            L.append(f"\n{kind} ({'σ' if kind == 'gaussian' else 'fraction'}):\n")
            L.append("| network | clean acc. (%) | " + " | ".join(f"{v:g}" for v in lv[1:]) + " |")
            L.append("|---|---|" + "---|" * (len(lv) - 1))
            for g, d in summary["noisy"].items():
                k = d[kind]
                L.append(f"| {g} | {_pct(k['accuracy_mean'][0])} | "
                         + " | ".join(f"{r:.3f}" for r in k["relative_mean"][1:]) + " |")
    return "\n".join(L) + "\n"


def figures(summary: dict, out: Path, records: list[dict]) -> list[str]:
    from memhil.experiments.report import plot_histories, plot_lines
    made = []
    f = summary["float"]["mean"]
    labels = {"c2c": ("cycle-to-cycle variability σ", False),
              "levels": ("conductance levels", True),
              "dr": (f"dynamic range Gmax/Gmin (read noise {DR_READ_NOISE})", True)}
    for name, sw in summary["sweeps"].items():
        series = {mode: ([p["value"] for p in pts], [100 * p["mean"] for p in pts],
                         [100 * p["std"] for p in pts]) for mode, pts in sw.items()}
        p = out / f"sweep_{name}.png"
        plot_lines(p, series, labels[name][0], "test accuracy (%)", logx=labels[name][1],
                   hline=100 * f, hline_label="float baseline")
        made.append(p.name)
    for kind in next(iter(summary["noisy"].values()), {}):
        series = {g: (d[kind]["levels"], d[kind]["relative_mean"], d[kind]["relative_std"])
                  for g, d in summary["noisy"].items()}
        p = out / f"noisy_{kind}.png"
        plot_lines(p, series, "noise level", "accuracy / clean accuracy", f"{kind} test noise")
        made.append(p.name)
    hist = {}
    for r in records:
        if r["spec"]["seed"] != 0:
            continue
        if "float" in r["tags"]:
            hist["float"] = r["history"]
        for mode in MODES:
            if f"headline/{mode}" in r["tags"]:
                hist[f"memristive {mode}"] = r["history"]
    if hist:
        plot_histories(out / "headline_curves.png", hist, "headline runs, seed 0")
        made.append("headline_curves.png")
    return made


def csv_rows(records: list[dict]) -> list[dict]:
    rows = []
    for r in sorted(records, key=lambda r: (r["tags"][0], r["spec"]["seed"])):
        c = r["spec"]["config"]
        rows.append({"tags": ";".join(r["tags"]), "device": r["spec"]["device"],
                     "seed": r["spec"]["seed"], "update_mode": c["update_mode"],
                     "levels": c["levels"], "dynamic_range": c["dynamic_range"],
                     "c2c_sigma": c["c2c_sigma"], "read_noise_sigma": c["read_noise_sigma"],
                     "test_accuracy": r["test_accuracy"], "pulses": r["pulses"],
                     "train_s": r["train_s"]})
    return rows


def run_paper(scale: Scale, out: Path, jobs: int = 1, log=print, progress=False,
              argv=None) -> dict:
    from memhil.experiments.report import write_csv, write_json
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    records = execute(scale, out, jobs, log, progress)
    summary = summarize(records, scale)
    md = tables_markdown(summary, scale)
    (out / "tables.md").write_text(md)
    figs = figures(summary, out, records)
    write_csv(out / "runs.csv", csv_rows(records))
    head = summary["headline"]
    doc = {"test_accuracy": {m: h["mean"] for m, h in head.items()},
           "float_accuracy": summary["float"]["mean"], "summary": summary,
           "scale": scale.__dict__, "figures": figs, "runs": len(records),
           "elapsed_s": time.perf_counter() - t0, "command": argv or sys.argv,
           "config": DeviceConfig().to_dict()}
    write_json(out / "results.json", doc)
    return doc


__all__ = ["SCALES", "Scale", "plan", "run_paper", "spec_key", "summarize", "replace"]
