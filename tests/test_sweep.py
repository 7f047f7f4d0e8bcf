"""memhil sweep: the grid, the local pool and Ray giving the same runs, resuming after a kill,
failed runs, the report, usage errors."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from memhil.cli import main
from memhil.experiments import sweep as sw


pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = ["--dataset", "digits", "--epochs", "1", "--hidden", "8", "--train-subset", "160",
         "--test-subset", "60", "--batch", "16", "--quiet"]
GRID = ["--levels", "8,32", "--update-mode", "rounding,coincidence", "--seeds", "0,1"]


def _records(out):
    return {f.stem: json.loads(f.read_text()) for f in (out / "runs").glob("*.json")}


def _results(out):
    return {k: (r["status"], r.get("test_accuracy"), [h["test_accuracy"] for h in r["history"]])
            for k, r in _records(out).items()}


def test_local_pool_runs_the_grid_and_reports(tmp_path, capsys):
    out = tmp_path / "s"
    assert main(["sweep", *SMALL, *GRID, "--jobs", "2", "--out", str(out)]) == 0
    recs = _records(out)
    assert len(recs) == 8 and all(r["status"] == "ok" for r in recs.values())
    got = {(r["spec"]["config"]["levels"], r["spec"]["config"]["update_mode"], r["seed"])
           for r in recs.values()}
    assert got == {(lv, m, s) for lv in (8, 32) for m in ("rounding", "coincidence")
                   for s in (0, 1)}
    assert all(r["spec"]["hidden"] == [8] and r["spec"]["epochs"] == 1 for r in recs.values())
    lines = (out / "sweep.csv").read_text().splitlines()
    assert lines[0] == ("key,levels,update-mode,seed,test_accuracy,time_s,"
                        "energy_j_per_train_sample,status,error")
    assert len(lines) == 9 and all(",ok," in ln for ln in lines[1:])
    assert (out / "accuracy_vs_levels.png").stat().st_size > 1000
    # every crossbar run reports its energy per sample (memhil.energy), plotted against accuracy
    assert all(r["energy_per_sample_j"]["train"] > 0 and r["energy_per_sample_j"]["inference"] > 0
               for r in recs.values())
    assert (out / "energy_vs_accuracy.png").stat().st_size > 1000
    assert "8 runs: 8 ok (0 done before, 8 now), 0 failed" in capsys.readouterr().out
    # each record is the run `memhil train` makes with the same flags
    rec = next(iter(recs.values()))
    from memhil.commands.common import spec_from_args
    from memhil.cli import build_parser
    ns = build_parser().parse_args(["train", *rec["argv"]])
    assert spec_from_args(ns).to_dict() == rec["spec"]
    # the same sweep again: nothing to run; --report alone rewrites the report
    before = {f.name: f.stat().st_mtime_ns for f in (out / "runs").iterdir()}
    assert main(["sweep", *SMALL, *GRID, "--jobs", "2", "--out", str(out)]) == 0
    assert "8 done before, 0 now" in capsys.readouterr().out
    assert {f.name: f.stat().st_mtime_ns for f in (out / "runs").iterdir()} == before
    (out / "sweep.csv").unlink()
    assert main(["sweep", "--report", str(out)]) == 0
    assert len((out / "sweep.csv").read_text().splitlines()) == 9


def test_ray_gives_the_same_runs_as_the_local_pool(tmp_path):
    import ray  # noqa: F401  (in the test extra: this test must run, not skip)
    a, b = tmp_path / "pool", tmp_path / "ray"
    assert main(["sweep", *SMALL, *GRID, "--jobs", "1", "--out", str(a)]) == 0
    assert main(["sweep", *SMALL, *GRID, "--jobs", "2", "--ray", "local", "--out", str(b)]) == 0
    ra, rb = _results(a), _results(b)
    assert len(ra) == 8 and ra == rb
    # the runs went through Ray's worker processes, not the driver
    assert {r["pid"] for r in _records(b).values()}.isdisjoint({os.getpid()})


def test_killed_sweep_resumes_only_the_missing_runs(tmp_path, monkeypatch, capsys):
    out = tmp_path / "k"
    args = ["--epochs", "3", "--hidden", "8", "--train-subset", "1000", "--test-subset", "60",
            "--levels", "8,32", "--seeds", "0,1,2", "--quiet", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "memhil", "sweep", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    runs = out / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if runs.is_dir() and any(runs.glob("*.json")):
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = {f.name: f.stat().st_mtime_ns for f in runs.glob("*.json")}
    assert 1 <= len(done) < 6, f"{len(done)} of 6 runs finished before the kill"

    ran = []
    real = sw.run_point
    monkeypatch.setattr(sw, "run_point", lambda t: ran.append(t["key"]) or real(t))
    assert main(["sweep", *args, "--jobs", "1"]) == 0
    assert len(ran) == 6 - len(done)
    assert not set(ran) & {n[:-5] for n in done}
    assert {f.name: f.stat().st_mtime_ns for f in runs.glob("*.json") if f.name in done} == done
    assert len(list(runs.glob("*.json"))) == 6
    assert f"6 runs: 6 ok ({len(done)} done before, {6 - len(done)} now)" in \
        capsys.readouterr().out


def test_failed_run_is_recorded_and_retried(tmp_path, monkeypatch, capsys):
    from memhil.nn.trainer import Trainer
    out = tmp_path / "f"
    real_fit = Trainer.fit

    def fit(self):
        if self.spec.seed == 1:
            raise RuntimeError("injected failure of seed 1")
        return real_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit)
    assert main(["sweep", *SMALL, *GRID, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "memhil sweep: error: 4 of 8 runs failed" in err and "injected" in err
    recs = _records(out)
    assert len(recs) == 8
    failed = [r for r in recs.values() if r["status"] == "failed"]
    assert len(failed) == 4 and all(r["seed"] == 1 for r in failed)
    assert all(r["error"] == "RuntimeError: injected failure of seed 1" for r in failed)
    assert ",failed,RuntimeError: injected" in (out / "sweep.csv").read_text()
    monkeypatch.setattr(Trainer, "fit", real_fit)
    assert main(["sweep", *SMALL, *GRID, "--out", str(out)]) == 0
    assert "8 runs: 8 ok (4 done before, 4 now), 0 failed" in capsys.readouterr().out
    assert all(r["status"] == "ok" for r in _records(out).values())


def test_grid_file_gives_the_command_line_points(tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text('levels = [8, 32]\nupdate-mode = ["rounding", "coincidence"]\n'
                    'hidden = [[8], [16, 8]]\nc2c_sigma = 0.5\nseeds = [0, 1]\n')
    from memhil.commands.sweep_grid import grid_from_toml, plan, split_values
    axes = grid_from_toml(grid)
    seeds = axes.pop("seeds")
    cli = {"levels": split_values("levels", "8,32"),
           "update_mode": split_values("update_mode", "rounding,coincidence"),
           "hidden": split_values("hidden", "8;16,8"), "c2c_sigma": ["0.5"]}
    a, b = plan(axes, seeds), plan(cli, ["0", "1"])
    assert len(a) == 16 and [p.key for p in a] == [p.key for p in b]
    assert {tuple(p.spec.hidden) for p in a} == {(8,), (16, 8)}


@pytest.mark.parametrize("argv,needle", [
    (["--levels", "8,1"], "argument --levels"),
    (["--levels", "8,x"], "argument --levels: invalid int value: 'x'"),
    (["--update-mode", "rounding,bogus"], "argument --update-mode: invalid choice: 'bogus'"),
    (["--c2c-sigma", "0,-0.5"], "argument --c2c-sigma"),
    (["--epochs", "1,0"], "argument --epochs: must be a positive integer, got 0"),
    (["--seeds", "0,-1"], "argument --seeds"),
    (["--levels", "8,,32"], "argument --levels: an empty value"),
    (["--backend", "nope"], "argument --backend: invalid choice: 'nope'"),
    (["--dataset", "nowhere"], "argument --dataset"),
    (["--grid", "missing.toml"], "argument --grid: missing.toml does not exist"),
    (["--ray", ""], "argument --ray"),
    (["--report", "x", "--levels", "8"], "argument --report: --levels"),
])
def test_usage_errors_exit_2_before_running(tmp_path, capsys, argv, needle):
    out = tmp_path / "u"
    assert main(["sweep", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("memhil sweep: error: ") and needle in err and err.count("\n") == 1
    assert not out.exists()


def test_unknown_grid_parameter_is_a_usage_error(tmp_path, capsys):
    grid = tmp_path / "g.toml"
    grid.write_text("levls = [8, 32]\n")
    assert main(["sweep", "--grid", str(grid), "--out", str(tmp_path / "o")]) == 2
    assert "unknown parameter 'levls'" in capsys.readouterr().err
