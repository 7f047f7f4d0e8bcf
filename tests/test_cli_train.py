"""The train / noisy-eval / demo / paper commands: outputs, resume, argument errors."""
import json

import pytest
import torch

from memhil.cli import main


pytestmark = pytest.mark.usefixtures("one_thread")


SMALL = ["--train-subset", "160", "--test-subset", "60", "--hidden", "12", "--batch", "16",
         "--quiet"]


def test_train_writes_everything(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--c2c-sigma", "0.2", "--out", str(out), *SMALL]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert 0 <= doc["test_accuracy"] <= 1
    assert doc["config"]["config"]["c2c_sigma"] == 0.2 and doc["config"]["hidden"] == [12]
    assert [h["epoch"] for h in doc["history"]] == [1, 2]
    assert (out / "history.csv").read_text().startswith("epoch,")
    assert (out / "curves.png").stat().st_size > 1000
    assert (out / "checkpoint.pt").is_file()


def test_train_with_stuck_devices(tmp_path):
    """--stuck-rate/--stuck-kind/--stuck-seed reach the DeviceConfig (and the command line
    that reproduces the run); noisy-eval takes them too."""
    from memhil.commands.common import command_args
    from memhil.nn.trainer import RunSpec
    out = tmp_path / "run"
    argv = ["--stuck-rate", "0.25", "--stuck-kind", "gmax", "--stuck-seed", "7"]
    assert main(["train", "--epochs", "1", *argv, "--out", str(out), *SMALL]) == 0
    doc = json.loads((out / "results.json").read_text())
    cfg = doc["config"]["config"]
    assert (cfg["stuck_rate"], cfg["stuck_kind"], cfg["stuck_seed"]) == (0.25, "gmax", 7)
    args = command_args(RunSpec.from_dict(doc["config"]))
    for flag, value in zip(argv[::2], argv[1::2]):
        assert args[args.index(flag) + 1] == value
    out2 = tmp_path / "ne"
    assert main(["noisy-eval", "--epochs", "1", "--noise", "gaussian", "--noise-levels", "0.1",
                 *argv, "--out", str(out2), *SMALL]) == 0
    saved = json.loads((out2 / "results.json").read_text())["config"]["config"]
    assert (saved["stuck_rate"], saved["stuck_kind"], saved["stuck_seed"]) == (0.25, "gmax", 7)


def test_train_resume_matches_uninterrupted(tmp_path):
    from memhil.nn import Trainer, load_checkpoint
    from memhil.nn.trainer import final_state_equal
    from memhil.data import load_data
    args = ["--epochs", "3", "--read-noise-sigma", "0.01", "--c2c-sigma", "0.3", *SMALL]
    assert main(["train", "--out", str(tmp_path / "a"), *args]) == 0
    # the same run killed after its first epoch's checkpoint
    first = load_checkpoint(tmp_path / "a")
    from memhil.nn.trainer import RunSpec
    spec = RunSpec.from_dict(first["spec"])
    Trainer(spec, load_data(spec), out_dir=tmp_path / "b", stop_after=1).fit()
    assert load_checkpoint(tmp_path / "b")["epoch"] == 1
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert b["epoch"] == 3 and final_state_equal(a["net"], b["net"])
    ra = json.loads((tmp_path / "a" / "results.json").read_text())
    rb = json.loads((tmp_path / "b" / "results.json").read_text())
    assert ra["test_accuracy"] == rb["test_accuracy"]


@pytest.mark.parametrize("argv,flag", [
    (["--levels", "1"], "--levels"),
    (["--dynamic-range", "1"], "--dynamic-range"),
    (["--c2c-sigma", "-0.5"], "--c2c-sigma"),
    (["--stuck-rate", "1.5"], "--stuck-rate"),
    (["--stuck-rate", "-0.1"], "--stuck-rate"),
    (["--stuck-kind", "open"], "--stuck-kind"),
    (["--stuck-seed", "-1"], "--stuck-seed"),
    (["--bl", "0"], "--bl"),
    (["--batch", "0"], "--batch"),
    (["--lr", "-1"], "--lr"),
    (["--epochs", "x"], "--epochs"),
    (["--hidden", "a,b"], "--hidden"),
    (["--update-mode", "magic"], "--update-mode"),
    (["--backend", "cloud"], "--backend"),
    (["--dataset", "no-such-set"], "--dataset"),
])
def test_train_bad_arguments_exit_2(tmp_path, capsys, argv, flag):
    with pytest.raises(SystemExit) as ei:
        rc = main(["train", "--out", str(tmp_path / "x"), *argv])
        raise SystemExit(rc)
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err
    assert not (tmp_path / "x" / "checkpoint.pt").exists()


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (out / "checkpoint.pt").read_bytes() == before


def test_resume_from_corrupt_checkpoint_is_clear(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    raw = (out / "checkpoint.pt").read_bytes()
    (out / "checkpoint.pt").write_bytes(raw[:100])
    assert main(["train", "--resume", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "--resume" in err and "truncated or corrupt" in err
    assert (out / "checkpoint.pt").read_bytes() == raw[:100]      # nothing touched


def test_noisy_eval_fresh_and_saved(tmp_path):
    out = tmp_path / "ne"
    assert main(["noisy-eval", "--epochs", "1", "--noise-levels", "0.2", "--out", str(out),
                 *SMALL]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert set(doc["models"]) == {"memristive (twin)", "float"}
    for m in doc["models"].values():
        for kind in ("gaussian", "salt-pepper"):
            assert m["noise"][kind]["levels"] == [0.0, 0.2]
            assert m["noise"][kind]["relative"][0] == 1.0
    assert (out / "noisy.csv").is_file() and (out / "noisy_gaussian_relative.png").is_file()
    # a saved model, with the saved float baseline
    out2 = tmp_path / "ne2"
    assert main(["noisy-eval", "--model", str(out / "model"), "--baseline", str(out / "float"),
                 "--noise", "gaussian", "--noise-levels", "0.1", "--out", str(out2), "--quiet"]) == 0
    doc2 = json.loads((out2 / "results.json").read_text())
    assert doc2["test_accuracy"] == doc["test_accuracy"]


def test_noisy_eval_bad_arguments(tmp_path, capsys):
    assert main(["noisy-eval", "--noise", "blur", "--out", str(tmp_path)]) == 2
    assert "--noise" in capsys.readouterr().err
    assert main(["noisy-eval", "--noise-levels", "0.1,x", "--out", str(tmp_path)]) == 2
    assert "--noise-levels" in capsys.readouterr().err
    assert main(["noisy-eval", "--noise", "salt-pepper", "--noise-levels", "2",
                 "--out", str(tmp_path)]) == 2
    assert "--noise-levels" in capsys.readouterr().err


def test_demo_prints_table(tmp_path, capsys):
    assert main(["demo", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "float baseline" in text and "memristive" in text and "lockstep" in text
    doc = json.loads((tmp_path / "results.json").read_text())
    assert {"float_accuracy", "memristive_accuracy", "lockstep"} <= set(doc)
    assert (tmp_path / "demo.png").stat().st_size > 1000


def test_paper_tiny(tmp_path, capsys):
    argv = ["paper", "--quick", "--seeds", "1", "--epochs", "1", "--train-subset", "100",
            "--test-subset", "50", "--headline-only", "--jobs", "1", "--out", str(tmp_path),
            "--quiet"]
    assert main(argv) == 0
    doc = json.loads((tmp_path / "results.json").read_text())
    assert set(doc["test_accuracy"]) == {"coincidence", "rounding"}
    tables = (tmp_path / "tables.md").read_text()
    assert "(a) Headline" in tables and "(c) Noisy" in tables
    assert "(b)" not in tables                    # --headline-only: no sweep tables
    assert (tmp_path / "noisy_gaussian.png").is_file()
    # a second call reuses the cached runs
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()}
    assert main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs").iterdir()} == before


def test_corrupt_data_file_is_clear(tmp_path, capsys):
    import numpy as np

    from memhil.data import write_idx
    folder = tmp_path / "set"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 4, 4), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, n).astype(np.uint8))
    p = folder / "train-images-idx3-ubyte.gz"
    p.write_bytes(p.read_bytes()[:-20])
    assert main(["train", "--dataset", str(folder), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--dataset" in err and "train-images" in err and "Traceback" not in err


# ---------------------------------------------------------------- issue 9: checkpoints
def _small_state():
    """A real checkpoint payload of a tiny one-epoch run (its spec asks for two epochs)."""
    from memhil.data import load_data
    from memhil.nn.trainer import RunSpec, Trainer
    spec = RunSpec(dataset="digits", hidden=[6], epochs=2, batch=16, train_subset=64,
                   test_subset=20)
    tr = Trainer(spec, load_data(spec))
    tr.train_epoch()
    return tr.state()


def _torch_bytes(obj) -> bytes:
    import io
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _envelope(body: bytes, **over) -> bytes:
    import hashlib

    from memhil.nn.checkpoint import FORMAT, VERSION
    d = {"format": FORMAT, "version": VERSION, "sha256": hashlib.sha256(body).hexdigest(),
         "body": body}
    d.update(over)
    return _torch_bytes(d)


def _zip_bytes() -> bytes:
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    return buf.getvalue()


def _payload(change):
    """A valid envelope around a real payload changed by ``change(state)``."""
    def make():
        st = _small_state()
        change(st)
        return _envelope(_torch_bytes(st))
    return make


def _set(path, value):
    def change(st):
        d = st
        for k in path[:-1]:
            d = d[k]
        d[path[-1]] = value
    return change


def _del(key):
    def change(st):
        del st[key]
    return change


def _twin_state(key, value):
    def change(st):
        st["net"]["backends"][0][key] = value
    return change


MALFORMED = {
    "empty": lambda: b"",
    "one byte": lambda: b"\x00",
    "text": lambda: b"not a checkpoint\n",
    "random bytes": lambda: __import__("random").Random(9).randbytes(5000),
    "a zip that is not torch": _zip_bytes,
    "truncated": lambda: _payload(lambda st: None)()[:300],
    "truncated at the end": lambda: _payload(lambda st: None)()[:-30],
    "a torch list": lambda: _torch_bytes([1, 2, 3]),
    "a torch tensor": lambda: _torch_bytes(torch.zeros(3)),
    "envelope without body": lambda: _torch_bytes({"format": "memhil-checkpoint", "version": 1}),
    "envelope with a str version": lambda: _envelope(b"x", version="1"),
    "envelope with a list body": lambda: _torch_bytes({"format": "memhil-checkpoint",
                                                        "version": 1, "sha256": "0", "body": [1]}),
    "body not torch": lambda: _envelope(b"garbage that passes the checksum"),
    "body empty": lambda: _envelope(b""),
    "body a list": lambda: _envelope(_torch_bytes([1, 2])),
    "body an empty dict": lambda: _envelope(_torch_bytes({})),
    "no net": _payload(_del("net")),
    "no spec": _payload(_del("spec")),
    "spec a str": _payload(_set(["spec"], "digits")),
    "spec unknown field": _payload(_set(["spec", "colour"], "red")),
    "spec epochs a str": _payload(_set(["spec", "epochs"], "2")),
    "spec epochs 0": _payload(_set(["spec", "epochs"], 0)),
    "spec hidden a str": _payload(_set(["spec", "hidden"], "6")),
    "spec hidden a float": _payload(_set(["spec", "hidden"], [6.5])),
    "spec lr a str": _payload(_set(["spec", "lr"], "0.1")),
    "spec device unknown": _payload(_set(["spec", "device"], "quantum")),
    "spec config out of range": _payload(_set(["spec", "config", "c2c_sigma"], -1.0)),
    "spec config a list": _payload(_set(["spec", "config"], [1])),
    "epoch a str": _payload(_set(["epoch"], "1")),
    "epoch past the end": _payload(_set(["epoch"], 7)),
    "epoch negative": _payload(_set(["epoch"], -1)),
    "history None": _payload(_set(["history"], None)),
    "history of ints": _payload(_set(["history"], [1])),
    "history too short": _payload(_set(["history"], [])),
    "net None": _payload(_set(["net"], None)),
    "net model a list": _payload(_set(["net", "model"], [])),
    "net model wrong shape": _payload(lambda st: st["net"]["model"].update(
        {k: torch.zeros(2) for k in list(st["net"]["model"])[:1]})),
    "net backends empty": _payload(_set(["net", "backends"], [])),
    "twin codes a scalar": _payload(_twin_state("gp", torch.tensor(3, dtype=torch.int32))),
    "twin codes float": _payload(lambda st: st["net"]["backends"][0].update(
        gp=st["net"]["backends"][0]["gp"].double())),
    "twin regs a str": _payload(_twin_state("regs", "x")),
    "twin regs a str value": _payload(lambda st: st["net"]["backends"][0]["regs"].update(BL="x")),
    "twin without lfsrs": _payload(lambda st: st["net"]["backends"][0].pop("row_lfsr")),
    "optimizer a str": _payload(_set(["optimizer"], "sgd")),
    "optimizer lr a str": _payload(_set(["optimizer", "lr"], "fast")),
    "data_rng float": _payload(_set(["data_rng"], torch.zeros(5))),
    "order a str": _payload(_set(["order"], "shuffled")),
    "data a str": _payload(_set(["data"], "digits")),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_resume_from_malformed_checkpoint_is_one_line(tmp_path, capsys, name):
    """Issue 9 (defect 4): every malformed checkpoint (an empty file used to raise IndexError)
    gives the one-line error of a corrupt checkpoint, exit status 1, and is left untouched."""
    raw = MALFORMED[name]()
    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(raw)
    capsys.readouterr()
    assert main(["train", "--resume", str(out), "--quiet"]) == 1
    cap = capsys.readouterr()
    lines = cap.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in cap.err, cap.err
    assert lines[0].startswith("memhil train: error: argument --resume: "), lines[0]
    assert str(out) in lines[0]
    assert cap.out == ""
    assert (out / "checkpoint.pt").read_bytes() == raw
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt"]


def test_resume_takes_the_run_directory(tmp_path, capsys):
    """``--resume DIR/checkpoint.pt`` (a file, not the run directory) used to end in a
    FileExistsError traceback after loading: now a one-line usage error."""
    out = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--out", str(out), *SMALL]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(out / "checkpoint.pt"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--resume" in err and str(out) in err


def test_identical_runs_give_identical_checkpoints(tmp_path):
    """Issue 9 (defect 7): two identical runs write byte-identical checkpoints (no wall-clock
    times, no global torch RNG state), whatever the global generator holds; so does a run
    killed after its first epoch and resumed."""
    import hashlib

    from memhil.data import load_data
    from memhil.nn import Trainer, load_checkpoint
    from memhil.nn.trainer import RunSpec

    args = ["train", "--epochs", "2", "--train-subset", "96", "--test-subset", "40",
            "--hidden", "6", "--batch", "16", "--read-noise-sigma", "0.01", "--quiet"]
    sha = {}
    with torch.random.fork_rng():
        for i, name in enumerate(("a", "b")):
            torch.manual_seed(100 + i)
            torch.rand(7)
            assert main([*args, "--out", str(tmp_path / name)]) == 0
            sha[name] = hashlib.sha256((tmp_path / name / "checkpoint.pt").read_bytes()).hexdigest()
        spec = RunSpec.from_dict(load_checkpoint(tmp_path / "a")["spec"])
        torch.manual_seed(5)
        Trainer(spec, load_data(spec), out_dir=tmp_path / "c", stop_after=1).fit()
        assert main(["train", "--resume", str(tmp_path / "c"), "--quiet"]) == 0
        sha["c"] = hashlib.sha256((tmp_path / "c" / "checkpoint.pt").read_bytes()).hexdigest()
    assert sha["a"] == sha["b"] == sha["c"], sha
    # the checkpoint holds no times: after a resume the earlier epochs' times are unknown
    hist = json.loads((tmp_path / "c" / "results.json").read_text())["history"]
    assert hist[0]["epoch_time_s"] is None and hist[1]["epoch_time_s"] > 0


def test_checkpoint_of_the_earlier_format_still_resumes(tmp_path):
    """Checkpoints written before issue 9 also held torch's global RNG state and the epochs'
    wall-clock times: they still resume, to the same final checkpoint as a run that never
    stopped, and the times they hold stay in results.json."""
    import hashlib

    from memhil.data import load_data
    from memhil.nn import Trainer
    from memhil.nn.checkpoint import save_checkpoint
    from memhil.nn.trainer import RunSpec
    spec = RunSpec(dataset="digits", hidden=[6], epochs=2, batch=16, train_subset=64,
                   test_subset=20)
    Trainer(spec, load_data(spec), out_dir=tmp_path / "a").fit()
    old = Trainer(spec, load_data(spec), out_dir=tmp_path / "b", stop_after=1)
    old.fit()
    st = old.state()
    st["torch_rng"] = torch.get_rng_state()
    st["history"] = [dict(h, epoch_time_s=0.25) for h in st["history"]]
    save_checkpoint(tmp_path / "b" / "checkpoint.pt", st)
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    sha = [hashlib.sha256((tmp_path / n / "checkpoint.pt").read_bytes()).hexdigest() for n in "ab"]
    assert sha[0] == sha[1]
    hist = json.loads((tmp_path / "b" / "results.json").read_text())["history"]
    assert [h["epoch_time_s"] for h in hist][0] == 0.25 and hist[1]["epoch_time_s"] > 0
