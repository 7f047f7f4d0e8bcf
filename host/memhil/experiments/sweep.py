"""Sweeps of ``memhil train`` over grids of device and training parameters, run by
``memhil sweep`` on a local process pool or on a Ray cluster.

A sweep is a list of *points* (:class:`Point`: a :class:`memhil.nn.RunSpec` with its key and
the axis values it came from); ``memhil sweep`` builds them from its flags or a TOML grid with
train's own parser (:mod:`memhil.commands.sweep_grid`), ``memhil paper`` from its fixed plan.
This module runs them and keeps their records; it knows nothing of the command line.

Every finished run is one record, ``OUT/runs/<key>.json`` (``key``: a hash of the full RunSpec,
the same as ``memhil paper``'s), written atomically in the process that drives the sweep as
the run finishes. A sweep started again skips the points whose record says ``ok`` and runs
only the others (missing, or failed before). Ray is imported only when ``ray=`` is given.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

@dataclass
class Point:
    """One run of a sweep."""

    argv: list[str]                 # memhil train arguments
    values: dict[str, str]          # axis dest -> value as given
    seed: int
    spec: object = None             # RunSpec
    key: str = ""
    num_gpus: float = 0.0
    extra: dict = field(default_factory=dict)


def _flag(dest: str) -> str:
    """The ``memhil train`` flag of a RunSpec/DeviceConfig field (``c2c_sigma``: ``--c2c-sigma``)."""
    return "--" + dest.replace("_", "-")


def spec_key(spec) -> str:
    """The key of a run: a hash of its full RunSpec (the same as ``memhil paper``'s)."""
    return hashlib.sha256(json.dumps(spec.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def gpus_needed(spec) -> float:
    """GPUs one run asks of Ray: one for a backend that runs on CUDA (a kind named ``*cuda*``),
    none otherwise (the built-in twin, sim and board backends run on the CPU)."""
    return 1.0 if "cuda" in str(spec.backend).lower() else 0.0


def _one_thread():
    import torch
    torch.set_num_threads(int(os.environ.get("MEMHIL_THREADS", 1)))


def run_point(task: dict) -> dict:
    """Train one point; a JSON-able record with ``status`` ``ok`` or ``failed`` (never raises
    for a failure of the run itself). Runs in a pool worker, a Ray task, or in process."""
    from memhil.data import load_data
    from memhil.nn.trainer import RunSpec, Trainer
    t0 = time.perf_counter()
    rec = {"key": task["key"], "status": "failed", "spec": task["spec"],
           "axes": task["axes"], "values": task["values"], "seed": task["seed"],
           "argv": task["argv"], "label": task.get("label"), "host": socket.gethostname(),
           "pid": os.getpid()}
    try:
        _one_thread()
        spec = RunSpec.from_dict(task["spec"])
        data = load_data(spec)
        t0 = time.perf_counter()      # the run's time: training and testing, not loading
        tr = Trainer(spec, data)
        tr.fit()
        rec.update(status="ok", test_accuracy=tr.history[-1]["test_accuracy"],
                   history=tr.history, pulses=sum(h.get("pulses", 0) for h in tr.history))
        from memhil.energy import per_sample_totals, trainer_report
        edoc = trainer_report(tr)                     # joules per sample (memhil.energy)
        if edoc is not None:
            rec["energy_per_sample_j"] = per_sample_totals(edoc)
        if task.get("noise_levels"):     # memhil paper's (c): accuracy on corrupted test data
            from memhil.experiments.noisy import noisy_accuracy
            levels = task["noise_levels"]
            rec["noisy"] = noisy_accuracy(tr.model, data.x_test, data.y_test, list(levels),
                                          levels, seed=0)
    except Exception as e:       # recorded, not raised: one failed run does not stop a sweep
        text = str(e).strip().splitlines()
        rec["error"] = f"{type(e).__name__}: {text[0] if text else ''}".rstrip(": ")
        rec["traceback"] = traceback.format_exc()[-4000:]
    rec["train_s"] = time.perf_counter() - t0
    rec["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    return rec


def _task(p: Point, axes: list[str]) -> dict:
    """What a worker gets for ``p``: its spec and labels, plus ``p.extra`` (e.g.
    ``noise_levels``: also evaluate the trained network on corrupted test data)."""
    label = p.extra.get("label") or " ".join(
        [*(f"{_flag(d)} {v}" for d, v in p.values.items() if d in axes),
         f"--seed {p.seed}"])
    return {**p.extra, "key": p.key, "spec": p.spec.to_dict(), "axes": axes,
            "values": p.values, "seed": p.seed, "argv": p.argv, "num_gpus": p.num_gpus,
            "label": label}


# --------------------------------------------------------------------------- the records
def record_path(out: Path, key: str) -> Path:
    return Path(out) / "runs" / f"{key}.json"


def read_record(path: Path) -> dict | None:
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def is_done(rec: dict | None, spec_dict: dict, noisy: bool = False) -> bool:
    """Whether ``rec`` is a finished run of ``spec_dict`` (records of earlier versions of
    ``memhil paper``, which have no ``status``, count when they hold a test accuracy); with
    ``noisy``, only if it also holds the noisy evaluation."""
    return bool(rec) and rec.get("spec") == spec_dict and \
        rec.get("status", "ok") == "ok" and rec.get("test_accuracy") is not None and \
        (not noisy or bool(rec.get("noisy")))


@dataclass
class SweepResult:
    total: int = 0
    cached: int = 0        # finished before this invocation
    ran: int = 0           # run now (ok or failed)
    ok: int = 0            # ok now (cached + run now)
    failed: list = field(default_factory=list)    # records that failed now
    seconds: float = 0.0
    where: str = ""
    records: list = field(default_factory=list)


class _Progress:
    """done/running/failed: a tqdm bar on stderr, or (without one) a line per finished run."""

    def __init__(self, total: int, bar: bool, log):
        self.done = self.failed = self.running = 0
        self.total, self.log = total, log
        self.bar = None
        if bar and total:
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc="sweep", file=sys.stderr, unit="run",
                            dynamic_ncols=True)
            self._postfix()

    def _postfix(self):
        if self.bar is not None:
            self.bar.set_postfix_str(f"done {self.done}, running {self.running}, "
                                     f"failed {self.failed}", refresh=True)

    def set_running(self, n: int):
        self.running = n
        self._postfix()

    def finished(self, rec: dict):
        if rec["status"] == "ok":
            self.done += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()
        else:
            what = (f"{100 * rec['test_accuracy']:.2f} %" if rec["status"] == "ok"
                    else f"FAILED: {rec.get('error')}")
            self.log(f"  [{self.done + self.failed}/{self.total}] "
                     f"{rec.get('label') or ' '.join(rec['argv'])}: {what} "
                     f"({rec['train_s']:.1f} s)")

    def close(self):
        if self.bar is not None:
            self.bar.close()


def execute(points: list[Point], out, *, jobs: int = 1, ray: str | None = None,
            axes: list[str] | None = None, progress: bool = False, log=None,
            runner=None) -> SweepResult:
    """Run every point of ``points`` whose record in ``OUT/runs`` is not finished; write each
    record as its run finishes. ``ray``: None (a local pool of ``jobs`` processes; in process
    for ``jobs=1``), ``"local"`` (start a local Ray instance of ``jobs`` CPUs), ``"auto"`` or
    an address ``HOST:PORT`` of a running cluster. ``runner``: the function that runs one task
    (default :func:`run_point`; a module-level function, so that workers can import it)."""
    from memhil.experiments.report import write_json
    log = log or (lambda m: print(m, file=sys.stderr))
    runner = runner or run_point
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    axes = list(axes or [])
    res = SweepResult(total=len(points))
    todo = []
    for p in points:
        rec = read_record(record_path(out, p.key))
        if is_done(rec, p.spec.to_dict(), noisy=bool(p.extra.get("noise_levels"))):
            res.cached += 1
            res.records.append(rec)
        else:
            todo.append(_task(p, axes))
    t0 = time.perf_counter()
    prog = _Progress(len(todo), progress, log)

    def finish(rec):
        write_json(record_path(out, rec["key"]), rec)
        res.ran += 1
        res.records.append(rec)
        if rec["status"] != "ok":
            res.failed.append(rec)
        prog.finished(rec)

    try:
        if not todo:
            res.where = "nothing to run"
        elif ray is not None:
            res.where = _run_ray(todo, ray, jobs, runner, finish, prog)
        elif jobs <= 1 or len(todo) == 1:
            res.where = "1 process"
            _one_thread()
            prog.set_running(1)
            for t in todo:
                finish(runner(t))
        else:
            res.where = _run_pool(todo, jobs, runner, finish, prog)
    finally:
        prog.close()
    res.ok = sum(1 for r in res.records if r.get("status", "ok") == "ok")
    res.seconds = time.perf_counter() - t0
    return res


def _crash_record(task: dict, err: BaseException) -> dict:
    text = str(err).strip().splitlines()
    return {"key": task["key"], "status": "failed", "spec": task["spec"], "axes": task["axes"],
            "values": task["values"], "seed": task["seed"], "argv": task["argv"],
            "label": task.get("label"), "error": f"{type(err).__name__}: {text[0] if text else 'the worker died'}",
            "train_s": 0.0, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _run_pool(todo, jobs, runner, finish, prog) -> str:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    n = min(jobs, len(todo))
    ex = ProcessPoolExecutor(max_workers=n, mp_context=mp.get_context("spawn"),
                             initializer=_one_thread)
    try:
        pending = {ex.submit(runner, t): t for t in todo}
        while pending:
            prog.set_running(min(n, len(pending)))
            ready, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in ready:
                t = pending.pop(f)
                try:
                    rec = f.result()
                except Exception as e:     # a worker that died (BrokenProcessPool, ...)
                    rec = _crash_record(t, e)
                finish(rec)
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    return f"a pool of {n} processes"


def _run_ray(todo, address, jobs, runner, finish, prog) -> str:
    import logging

    import ray
    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=jobs, include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=False)
        else:
            ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
        started = True
    refs = {}
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        remote = ray.remote(runner)
        for t in todo:
            ref = remote.options(num_cpus=1, num_gpus=t.get("num_gpus", 0.0),
                                 max_retries=1).remote(t)
            refs[ref] = t
        while refs:
            prog.set_running(min(cpus, len(refs)))
            ready, _ = ray.wait(list(refs), num_returns=1)
            for r in ready:
                t = refs.pop(r)
                try:
                    rec = ray.get(r)
                except Exception as e:      # a worker or node that died
                    rec = _crash_record(t, e)
                finish(rec)
        nodes = len([n for n in ray.nodes() if n.get("Alive")])
        return f"Ray ({nodes} node{'s' if nodes != 1 else ''}, {cpus} CPUs)"
    except BaseException:
        for r in list(refs):
            try:
                ray.cancel(r, force=True)
            except Exception:
                pass
        raise
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- the report
def _order(v):
    """A sort key: numbers by value, before text."""
    return (0, v, "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0, str(v))


def _param(spec: dict, dest: str):
    """The value of parameter ``dest`` in a RunSpec dict (a spec field or a device field)."""
    if dest in spec:
        v = spec[dest]
        return ",".join(map(str, v)) if isinstance(v, list) else v
    return spec.get("config", {}).get(dest)


def load_records(out) -> list[dict]:
    runs = Path(out) / "runs"
    recs = []
    for f in sorted(runs.glob("*.json")) if runs.is_dir() else []:
        r = read_record(f)
        if r and isinstance(r.get("spec"), dict):
            recs.append(r)
    return recs


def _stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return float("nan"), float("nan")
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def write_report(out, records: list[dict] | None = None) -> dict:
    """``OUT/sweep.csv`` (a row per run: every swept parameter, seed, test accuracy, time,
    status) and ``OUT/accuracy_vs_<parameter>.png`` for every parameter with more than one
    value: mean test accuracy over the seeds with their standard deviation as error bars,
    one line per update mode (and per value of the other swept parameters, up to 8 lines;
    beyond that they are averaged over). Returns ``{"csv": path, "plots": [paths]}``."""
    from memhil.experiments.report import plot_lines, write_csv
    out = Path(out)
    records = load_records(out) if records is None else records
    axes = list(dict.fromkeys(d for r in records for d in r.get("axes", [])))
    rows = []
    for r in records:
        row = {"key": r.get("key")}
        for d in axes:
            row[d.replace("_", "-")] = _param(r["spec"], d)
        row.update(seed=r["spec"].get("seed"), test_accuracy=r.get("test_accuracy"),
                   time_s=round(r["train_s"], 3) if r.get("train_s") is not None else None,
                   status=r.get("status", "ok"), error=r.get("error", ""),
                   energy_j_per_train_sample=(r.get("energy_per_sample_j") or {}).get("train"))
        rows.append(row)
    rows.sort(key=lambda row: [_order(row[c]) for c in row if c != "key"])
    csv_path = out / "sweep.csv"
    write_csv(csv_path, rows, ["key", *[d.replace("_", "-") for d in axes], "seed",
                               "test_accuracy", "time_s", "energy_j_per_train_sample",
                               "status", "error"])
    ok = [r for r in records if r.get("status", "ok") == "ok" and
          r.get("test_accuracy") is not None]
    varying = [d for d in axes if len({str(_param(r["spec"], d)) for r in ok}) > 1]
    plots = []
    for x in varying:
        if x == "update_mode":
            continue
        others = [d for d in varying if d not in (x, "update_mode")]
        groups: dict[tuple, dict] = {}
        for r in ok:
            label = (_param(r["spec"], "update_mode"),
                     *[_param(r["spec"], d) for d in others])
            groups.setdefault(label, {}).setdefault(_param(r["spec"], x), []).append(
                r["test_accuracy"])
        note = ""
        if len(groups) > 8:      # too many lines: average over the other parameters
            merged: dict = {}
            for label, pts in groups.items():
                for v, accs in pts.items():
                    merged.setdefault((label[0],), {}).setdefault(v, []).extend(accs)
            groups, others = merged, []
            note = " (mean over the other parameters)"
        series = {}
        for label, pts in sorted(groups.items(), key=lambda kv: [str(v) for v in kv[0]]):
            xs = sorted(pts, key=lambda v: (not isinstance(v, (int, float)), v if
                                            isinstance(v, (int, float)) else str(v)))
            stats = [_stats(pts[v]) for v in xs]
            name = ", ".join([str(label[0])] + [f"{d.replace('_', '-')} {v}"
                                                for d, v in zip(others, label[1:])])
            if all(isinstance(v, (int, float)) for v in xs):
                xv = list(xs)
            else:
                xv = [str(v) for v in xs]
            series[name] = (xv, [s[0] for s in stats], [s[1] for s in stats])
        nums = [v for s in series.values() for v in s[0] if isinstance(v, (int, float))]
        logx = bool(nums) and len(nums) == sum(len(s[0]) for s in series.values()) and \
            min(nums) > 0 and max(nums) / min(nums) >= 20
        path = out / f"accuracy_vs_{x.replace('_', '-')}.png"
        plot_lines(path, series, xlabel=_flag(x).lstrip("-"), ylabel="test accuracy",
                   title=f"test accuracy vs {_flag(x).lstrip('-')}{note} "
                         f"(mean ± std over seeds)", logx=logx)
        plots.append(path)
    path = _energy_plot(out, ok)
    if path is not None:
        plots.append(path)
    return {"csv": csv_path, "plots": plots, "rows": len(rows)}


def _energy_plot(out: Path, ok: list[dict]) -> Path | None:
    """``OUT/energy_vs_accuracy.png``: test accuracy against the energy per training sample
    (memhil.energy, default model) of every run that has it, one colour per update mode."""
    from memhil.experiments.report import plot_scatter
    series: dict[str, tuple[list, list]] = {}
    for r in ok:
        e = (r.get("energy_per_sample_j") or {}).get("train")
        if e:
            xs, ys = series.setdefault(str(_param(r["spec"], "update_mode")), ([], []))
            xs.append(e)
            ys.append(r["test_accuracy"])
    if not series:
        return None
    allx = [v for xs, _ in series.values() for v in xs]
    path = out / "energy_vs_accuracy.png"
    plot_scatter(path, series, xlabel="energy per training sample (J, docs/energy.md)",
                 ylabel="test accuracy", title="test accuracy vs energy per training sample",
                 logx=max(allx) / min(allx) >= 20)
    return path

