"""The train / noisy-eval / demo / paper commands: outputs, resume, argument errors."""
import json

import pytest
import torch

from memhil.cli import main


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    n = torch.get_num_threads()
    monkeypatch.setenv("MEMHIL_THREADS", "1")
    yield
    torch.set_num_threads(n)


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


def test_train_resume_matches_uninterrupted(tmp_path):
    from memhil.nn import Trainer, load_checkpoint
    from memhil.nn.trainer import final_state_equal
    from memhil.experiments.cli_common import load_data
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
    assert "(a) Headline" in (tmp_path / "tables.md").read_text()
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
