"""Issue 14: the command line as a newcomer meets it. Every subcommand, given a bad input, exits
with the documented status (2 usage error, 1 failure at run time, 130 Ctrl-C), prints one line
on stderr that names the problem and no traceback, and changes nothing already saved."""
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from memhil.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]
TINY = ["--train-subset", "48", "--test-subset", "20", "--hidden", "6", "--batch", "16",
        "--epochs", "1", "--quiet"]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    n = torch.get_num_threads()
    monkeypatch.setenv("MEMHIL_THREADS", "1")
    monkeypatch.delenv("MEMHIL_DEBUG", raising=False)
    yield
    torch.set_num_threads(n)


def cli(argv, capsys):
    """(exit status, stderr) of ``memhil ARGV`` run in-process."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:      # pragma: no cover - main returns, it does not exit
        rc = e.code
    return rc, capsys.readouterr().err


def snapshot(folder: Path) -> dict:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line(err: str, *words: str, cmd: str | None = None):
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    if cmd:
        assert lines[0].startswith(f"memhil {cmd}: error: "), lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny memristive and a tiny float run of `memhil train` (one epoch each)."""
    base = tmp_path_factory.mktemp("runs")
    os.environ.setdefault("MEMHIL_THREADS", "1")
    for dev in ("memristive", "float"):
        assert main(["train", "--device", dev, "--out", str(base / dev), *TINY]) == 0
    return base


@pytest.fixture
def a_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("keep me\n")
    return f


# ---------------------------------------------------------------- usage errors: exit 2
@pytest.mark.parametrize("cmd", ["train", "noisy-eval", "demo", "paper"])
@pytest.mark.parametrize("where", ["file", "under a file", "proc"])
def test_out_that_cannot_be_a_run_folder(cmd, where, a_file, capsys):
    out = {"file": a_file, "under a file": a_file / "sub", "proc": "/proc/memhil-nope"}[where]
    before = a_file.read_bytes()
    t0 = time.perf_counter()
    rc, err = cli([cmd, "--out", out, "--quiet"], capsys)
    assert rc == 2
    assert_one_line(err, "--out", str(out), cmd=cmd)
    assert time.perf_counter() - t0 < 20          # refused before any training
    assert a_file.read_bytes() == before
    assert sorted(p.name for p in a_file.parent.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("argv,words", [
    (["train", "--bogus"], ["memhil train", "--bogus"]),
    (["noisy-eval", "--bogus", "1"], ["memhil noisy-eval", "--bogus"]),
    (["train", "--levels", "1"], ["--levels"]),
    (["train", "--epochs", "0"], ["--epochs"]),
    (["train", "--backend", "board"], ["--backend", "--bitfile", "--port"]),
    (["train", "--backend", "board", "--bitfile", "/no/such.bit"], ["--bitfile", "/no/such.bit"]),
    (["train", "--port", "/dev/ttyUSB9"], ["--port", "board"]),
    (["train", "--resume", "/no/such/run"], ["--resume", "/no/such/run"]),
    (["train", "--dataset", "/no/such/folder"], ["--dataset", "/no/such/folder"]),
    (["noisy-eval", "--noise", "foo"], ["--noise", "foo", "gaussian, salt-pepper"]),
    (["noisy-eval", "--model", "/no/such/run"], ["--model", "/no/such/run"]),
    (["noisy-eval", "--baseline", "/no/such/run"], ["--baseline", "/no/such/run"]),
    (["demo", "--seed", "-1"], ["--seed"]),
    (["demo", "--c2c-sigma", "-1"], ["--c2c-sigma"]),
    (["paper", "--lr", "-1"], ["--lr"]),
    (["paper", "--seeds", "0"], ["--seeds"]),
    (["verify", "--modes", "foo", "--backend", "loopback"], ["--modes", "foo"]),
    (["verify", "--steps", "-1", "--backend", "loopback"], ["--steps", "-1"]),
    (["verify", "--backend", "serial"], ["--port"]),
    (["verify", "--backend", "pynq"], ["--bitfile"]),
    (["verify", "--backend", "pynq", "--bitfile", "/no/such.bit"], ["/no/such.bit"]),
    (["verify", "--fault-rate", "2", "--backend", "loopback"], ["--fault-rate"]),
    (["verify", "--rows", "0", "--backend", "loopback"], ["--rows"]),
    (["verify", "--backend", "twin-sim", "--rows", "100000"], ["--rows"]),
    (["sim-server", "--rows", "0"], ["--rows"]),
    (["sim-server", "--model", "twin", "--rows", "100000"], ["--rows"]),
    (["sim-server", "--port", "99999"], ["--port", "99999"]),
    (["sim-server", "--port", "-1"], ["--port", "-1"]),
    (["sim-server", "--model", "quantum"], ["--model"]),
    (["notebooks", "--bitfile", "/no/such.bit"], ["--bitfile", "/no/such.bit"]),
    (["notebooks", "/proc/memhil-nope"], ["DIR", "/proc/memhil-nope"]),
    (["notebooks", "--bogus"], ["memhil notebooks", "--bogus"]),
    (["bench", "nothing"], ["nothing"]),
    (["bench"], ["what"]),
    (["no-such-command"], ["no-such-command"]),
])
def test_usage_errors_exit_2_in_one_line(argv, words, tmp_path, capsys):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if argv[0] in ("train", "noisy-eval", "demo", "paper") \
        and "--resume" not in argv else []
    rc, err = cli([*argv, *extra], capsys)
    assert rc == 2, err
    cmd = argv[0] if argv[0] != "no-such-command" else None
    assert_one_line(err, *words)
    if cmd:
        assert err.startswith(f"memhil {cmd}: error: "), err
    assert not out.exists()


def test_notebooks_refuses_what_it_cannot_copy_or_must_not_overwrite(tmp_path, a_file, capsys):
    """``memhil notebooks``: a DIR that is a file, a .bit without its .hwh, a notebook changed
    since it was copied (kept, and nothing else copied either, unless --force): exit 2."""
    rc, err = cli(["notebooks", a_file], capsys)
    assert rc == 2
    assert_one_line(err, "DIR", str(a_file), cmd="notebooks")
    bit = tmp_path / "lonely.bit"
    bit.write_bytes(b"")
    rc, err = cli(["notebooks", tmp_path / "nb", "--bitfile", bit], capsys)
    assert rc == 2
    assert_one_line(err, "--bitfile", "lonely.hwh", cmd="notebooks")
    assert not (tmp_path / "nb").exists()
    assert cli(["notebooks", tmp_path / "nb"], capsys)[0] == 0
    mine = tmp_path / "nb" / "1_selftest.ipynb"
    mine.write_text("{}\n")
    before = snapshot(tmp_path / "nb")
    rc, err = cli(["notebooks", tmp_path / "nb"], capsys)
    assert rc == 2
    assert_one_line(err, "DIR", "1_selftest.ipynb", "--force", cmd="notebooks")
    assert snapshot(tmp_path / "nb") == before


def test_noisy_message_shows_no_python_tuple(capsys):
    rc, err = cli(["noisy-eval", "--noise", "blur"], capsys)
    assert rc == 2 and "('" not in err and "')" not in err


def test_missing_command_is_a_usage_error(capsys):
    rc, err = cli([], capsys)
    assert rc == 2 and "Traceback" not in err and "COMMAND" in err


def test_sim_server_on_a_port_in_use(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        rc, err = cli(["sim-server", "--model", "twin", "--port", port], capsys)
    assert rc == 2
    assert_one_line(err, "--port", str(port), "not free", cmd="sim-server")


def test_resume_refuses_flags_the_checkpoint_decides(runs, capsys):
    run = runs / "memristive"
    before = snapshot(run)
    rc, err = cli(["train", "--resume", run, "--epochs", "20", "--levels", "64"], capsys)
    assert rc == 2
    assert_one_line(err, "--resume", "--epochs", "--levels", cmd="train")
    assert snapshot(run) == before


def test_resume_of_a_folder_without_checkpoint(tmp_path, capsys):
    rc, err = cli(["train", "--resume", tmp_path], capsys)
    assert rc == 2
    assert_one_line(err, "--resume", "checkpoint.pt", cmd="train")


def test_noisy_eval_model_refuses_its_own_settings(runs, tmp_path, capsys):
    before = snapshot(runs)
    rc, err = cli(["noisy-eval", "--model", runs / "memristive", "--dataset", "mnist",
                   "--out", tmp_path / "ne"], capsys)
    assert rc == 2
    assert_one_line(err, "--model", "--dataset", cmd="noisy-eval")
    assert snapshot(runs) == before and not (tmp_path / "ne").exists()


def test_noisy_eval_baseline_must_be_float(runs, tmp_path, capsys):
    t0 = time.perf_counter()
    rc, err = cli(["noisy-eval", "--baseline", runs / "memristive", *TINY,
                   "--out", tmp_path / "ne"], capsys)
    assert rc == 2
    assert_one_line(err, "--baseline", "memristive", "float", cmd="noisy-eval")
    assert time.perf_counter() - t0 < 20 and not (tmp_path / "ne").exists()


def test_noisy_eval_labels_a_saved_pair(runs, tmp_path, capsys):
    rc, err = cli(["noisy-eval", "--model", runs / "memristive", "--baseline", runs / "float",
                   "--noise", "gaussian", "--noise-levels", "0.1", "--out", tmp_path / "ne",
                   "--quiet"], capsys)
    assert rc == 0, err
    doc = json.loads((tmp_path / "ne" / "results.json").read_text())
    assert set(doc["models"]) == {"memristive (twin)", "float"}


def _idx_folder(folder: Path, labels_train):
    from memhil.data import write_idx
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, y in (("train", np.asarray(labels_train)), ("t10k", np.arange(10) % 10)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (len(y), 4, 4), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", y.astype(np.uint8))


def test_stray_labels_are_refused(tmp_path, capsys):
    _idx_folder(tmp_path / "set", [*range(10), *range(10), 200])
    rc, err = cli(["train", "--dataset", tmp_path / "set", "--out", tmp_path / "o", "--quiet"],
                  capsys)
    assert rc == 2
    assert_one_line(err, "--dataset", "200", cmd="train")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- runtime failures: exit 1
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_device_that_does_not_answer_exits_1(capsys):
    rc, err = cli(["verify", "--backend", "serial", "--port",
                   f"socket://127.0.0.1:{_free_port()}"], capsys)
    assert rc == 1
    assert_one_line(err, "refused", cmd="verify")


@pytest.mark.parametrize("cmd", ["train", "noisy-eval"])
def test_corrupt_checkpoint_exits_1(cmd, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really")
    before = snapshot(run)
    argv = ["train", "--resume", run] if cmd == "train" else \
        ["noisy-eval", "--model", run, "--out", tmp_path / "ne"]
    rc, err = cli([*argv, "--quiet"], capsys)
    assert rc == 1
    flag = "--resume" if cmd == "train" else "--model"
    assert_one_line(err, flag, "truncated or corrupt", cmd=cmd)
    assert "weights_only" not in err and "Unpickl" not in err
    assert snapshot(run) == before


def test_damaged_checkpoint_speaks_plainly(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    buf = __import__("io").BytesIO()
    torch.save({"format": "other"}, buf)
    (run / "checkpoint.pt").write_bytes(buf.getvalue())
    rc, err = cli(["train", "--resume", run, "--quiet"], capsys)
    assert rc == 1
    assert_one_line(err, "damaged", cmd="train")


# ---------------------------------------------------------------- Ctrl-C: exit 130
def test_ctrl_c_names_the_kept_checkpoint(tmp_path, capsys, monkeypatch):
    from memhil.nn.trainer import Trainer
    real = Trainer.train_epoch

    def epoch(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(Trainer, "train_epoch", epoch)
    out = tmp_path / "run"
    rc, err = cli(["train", "--out", out, *TINY[:-3], "--epochs", "3", "--quiet"], capsys)
    assert rc == 130
    assert_one_line(err, "epoch 2/3", "epoch 1", f"memhil train --resume {out}")
    from memhil.nn import load_checkpoint
    assert load_checkpoint(out)["epoch"] == 1


# ---------------------------------------------------------------- help
def test_every_help_has_examples_and_defaults():
    p = build_parser()
    assert "exit status" in p.format_help()
    for name, sp in p._subcommands.items():
        text = sp.format_help()
        assert "examples:" in text and f"memhil {name}" in text.split("examples:")[1], name
        for a in sp._actions:
            if not a.option_strings or a.dest == "help":
                continue
            assert a.help, (name, a.option_strings)
            if a.default is not None and not isinstance(a.default, bool):
                assert "default" in sp.formatter_class(name)._get_help_string(a), \
                    (name, a.option_strings)


# ---------------------------------------------------------------- as a process
def _memhil(*argv, timeout=60):
    env = {**os.environ, "PYTHONPATH": str(REPO / "host")}
    return subprocess.run([sys.executable, "-m", "memhil", *map(str, argv)], capture_output=True,
                          text=True, timeout=timeout, env=env)


def test_process_exit_codes_and_one_line():
    r = _memhil("train", "--bogus")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "memhil train" in r.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        r = _memhil("sim-server", "--model", "twin", "--port", s.getsockname()[1])
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
