"""The board's notebooks (host/memhil/notebooks, issue 12 deliverable 3), executed headless.

Each notebook runs unchanged in a fresh Jupyter kernel (nbclient, ipykernel). Two things are set
from outside, as on a board the image and the user set them:

* the parameters: a cell injected after the one tagged ``parameters`` (what papermill does), with
  ``BITFILE`` pointing at an empty stand-in .bit whose .hwh beside it is tests/memhil_hwh.py's;
* the board: an IPython startup file (in a temporary ``IPYTHONDIR``) that calls
  ``pynq_standin.install_from_env()``, so that pynq's active Device in the kernel is the
  stand-in's SimDevice (the real pynq package above it) over ``$MEMHIL_PYNQ_STANDIN``: a twin in
  THIS process behind a socket (fast), or the Verilator RTL. As on a PYNQ-Z2,
  ``MEMHIL_PYNQ_STANDIN_MISSING=torch,sklearn`` makes torch and scikit-learn impossible to
  import in the kernel (the digits then come from a .npz, as the notebooks explain).

The checks read the notebooks' printed results (``SELF-TEST OK``, the final accuracy, ...), so a
wrong answer fails the test, not only an exception.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import pynq_standin as ps
from memhil.runtime.device_model import TwinDevice

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "host" / "memhil" / "notebooks"
NOTEBOOKS = ["1_selftest.ipynb", "2_train_digits.ipynb", "3_lockstep.ipynb",
             "4_noisy_inference.ipynb"]
# a build that holds the 64-32-10 digits network: one tile per layer (with its bias column)
GEOMETRY = {"ROWS": 32, "COLS": 65, "TILES": 2, "LANES": 4, "G_W": 8}
STARTUP = "import pynq_standin\npynq_standin.install_from_env()\n"


def run_notebook(name: str | Path, workdir: Path, params: dict, pl: str, *, board: bool,
                 timeout: int = 300) -> tuple[nbformat.NotebookNode, str]:
    """Execute the notebook ``name`` (in host/memhil/notebooks, or a path) in a new kernel in
    ``workdir`` with ``params`` injected; returns the executed notebook and all its text output
    (streams and text/plain results)."""
    nb = nbformat.read(NB_DIR / name, as_version=4)
    at = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(at) == 1, f"{name}: one cell tagged 'parameters' expected"
    if params:
        injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
        injected.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(at[0] + 1, injected)
    ipydir = workdir / ".ipython"
    startup = ipydir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-pynq-standin.py").write_text(STARTUP)
    env = {**os.environ, "IPYTHONDIR": str(ipydir), ps.ENV: pl,
           "PYTHONPATH": os.pathsep.join([str(REPO / "host"), str(REPO / "tests"),
                                          os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1", "MEMHIL_THREADS": "1", "MPLBACKEND": "agg"}
    env.pop("MPLBACKEND")                         # the kernel's inline backend, as in Jupyter
    env[ps.ENV_MISSING] = "torch,sklearn" if board else ""
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env)
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text.append(out["text"])
            elif "data" in out and "text/plain" in out["data"]:
                text.append(out["data"]["text/plain"] + "\n")
    return nb, "".join(text)


def _images(nb) -> int:
    return sum("image/png" in out.get("data", {}) for c in nb.cells for out in c.get("outputs", []))


@pytest.fixture(scope="module")
def twin_board():
    """The logic of a 2-tile 32x65 build: a TwinDevice here, served to the kernels."""
    srv = ps.BackendServer(ps.TwinBackend(TwinDevice(GEOMETRY["ROWS"], GEOMETRY["COLS"],
                                                     GEOMETRY["TILES"], g_w=GEOMETRY["G_W"],
                                                     lanes=GEOMETRY["LANES"])))
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder of notebooks as ``memhil notebooks DIR --bitfile`` makes it on a board (the
    stand-in overlay copied in, the notebooks' BITFILE pointing at it): 2 writes the model
    there, 4 reads it."""
    from memhil.cli import main

    import numpy as np

    from memhil.data import load_digits

    src = ps.make_bitfile(tmp_path_factory.mktemp("build"), params=GEOMETRY)
    d = tmp_path_factory.mktemp("jupyter_notebooks")
    assert main(["notebooks", str(d), "--bitfile", src]) == 0
    # the board has no scikit-learn: the digits as the notebooks say to make them on a PC
    data = load_digits()
    np.savez(d / "digits.npz", x_train=data.x_train, y_train=data.y_train,
             x_test=data.x_test, y_test=data.y_test)
    return d, str(d / "memhil.bit")


def test_notebooks_are_clean_and_packaged():
    """No outputs stored, one parameters cell with BITFILE, the package data pattern ships
    them."""
    import tomllib

    found = sorted(p.name for p in NB_DIR.glob("*.ipynb"))
    assert found == NOTEBOOKS
    for name in found:
        nb = nbformat.read(NB_DIR / name, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") and not c.get("execution_count")
                   for c in nb.cells if c.cell_type == "code"), f"{name} has outputs"
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and params[0].source.startswith("BITFILE = ")
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    data = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "notebooks/*.ipynb" in data["tool"]["setuptools"]["package-data"]["memhil"]


@pytest.mark.slow
def test_selftest_and_lockstep_notebooks_on_the_board(twin_board, workdir):
    """1 and 3 as on a PYNQ-Z2 (no torch, no scikit-learn in the kernel; the twin behind the
    stand-in's Device layer), in the folder `memhil notebooks` made: 1 passes its torch-free
    checks; 3 says it cannot run there."""
    d, _ = workdir
    # 1: self-test, the copy `memhil notebooks` made, unchanged (its BITFILE is the copied
    # overlay): every torch-free check passes; the twin check is skipped with the hint
    _, out = run_notebook(d / "1_selftest.ipynb", d, {}, twin_board.url, board=True)
    assert "SELF-TEST OK" in out and "FAIL" not in out
    assert "bit-exact check against the twin is skipped" in out
    assert "ok   .hwh matches the device" in out and "ok   matrix-vector product" in out
    # 3: no torch on the board: it says so and does nothing
    _, out = run_notebook(d / "3_lockstep.ipynb", d, {}, twin_board.url, board=True)
    assert "LOCKSTEP SKIPPED (no torch)" in out and "SKIPPED: torch is not installed" in out


@pytest.mark.slow
def test_training_and_noisy_inference_notebooks_on_the_board(twin_board, workdir):
    """2 and 4 as on a PYNQ-Z2, in the folder `memhil notebooks` made."""
    d, _ = workdir
    # 2: training with the live plot; a short run still has to learn
    nb, out = run_notebook(d / "2_train_digits.ipynb", d, {"EPOCHS": 2}, twin_board.url,
                           board=True)
    acc = float(re.search(r"FINAL TEST ACCURACY ([\d.]+)", out).group(1))
    assert acc >= 0.8, out
    assert len(re.findall(r"^epoch +\d+ +loss", out, re.M)) == 2
    assert _images(nb) >= 2                         # the digits and the accuracy plot
    assert (d / "digits_model.npz").is_file()
    # 4: the trained network back on the crossbar, a read-noise sweep
    nb, out = run_notebook(d / "4_noisy_inference.ipynb", d,
                           {"NOISE_LEVELS": [0.0, 0.05, 0.2], "TRIALS": 2}, twin_board.url,
                           board=True)
    sweep = {float(s): float(a) for s, a in
             re.findall(r"read noise +([\d.]+): test accuracy ([\d.]+)", out)}
    assert set(sweep) == {0.0, 0.05, 0.2}
    assert sweep[0.0] == pytest.approx(acc, abs=1e-9)     # the same codes, no noise
    assert sweep[0.2] < sweep[0.05] < sweep[0.0]
    assert _images(nb) == 1


@pytest.mark.slow
def test_lockstep_notebook_in_pc_driven_mode(tmp_path):
    """3 on a PC (torch, the twin) against `memhil board-server`'s socket on the board (the
    real pynq package over the stand-in, the twin as the logic)."""
    from memhil.runtime.board_server import BoardServer
    from memhil.runtime.pynq_transport import PynqTransport

    dev = ps.SimDevice(ps.TwinBackend(TwinDevice(GEOMETRY["ROWS"], GEOMETRY["COLS"],
                                                 GEOMETRY["TILES"], g_w=GEOMETRY["G_W"])))
    tr = PynqTransport.from_bitfile(ps.make_bitfile(tmp_path, params=GEOMETRY), device=dev)
    srv = BoardServer(tr, log=lambda msg: None).start()
    try:
        _, out = run_notebook("3_lockstep.ipynb", tmp_path,
                              {"BITFILE": "/nonexistent.bit", "BOARD_URL": srv.url, "STEPS": 30,
                               "TRAIN_STEPS": 4}, "", board=False)
    finally:
        srv.stop()
        tr.close()
        dev.close()
    assert "state matches the twin" in out and "LOCKSTEP OK" in out
    assert re.search(r"4 minibatches, \d+ commands checked", out)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.xdist_group("sim-rtl")
def test_selftest_notebook_on_the_rtl(tmp_path):
    """1 with the Verilator RTL as the logic and torch in the kernel: the torch-free checks and
    the lockstep against the twin, both update modes."""
    from memhil.runtime import sim_link

    rtl = sim_link.start_server("rtl", sim_link.SimParams(rows=8, cols=8, tiles=1, lanes=4,
                                                          g_w=8), start_timeout=120)
    try:
        bit = ps.make_bitfile(tmp_path, params={"ROWS": 8, "COLS": 8, "TILES": 1, "LANES": 4,
                                                "G_W": 8})
        _, out = run_notebook("1_selftest.ipynb", tmp_path, {"BITFILE": bit, "STEPS": 40},
                              f"rtl:{rtl.url},{rtl.mmio_url}", board=False)
    finally:
        rtl.close()
    assert "SELF-TEST OK" in out and "FAIL" not in out
    assert out.count("matches the twin") == 2


def test_startup_file_makes_the_standin_the_active_device(tmp_path, monkeypatch):
    """What the kernels get (in this process): the SimDevice is pynq's active device, and
    MISSING makes torch and scikit-learn unimportable, without a sys.modules entry that would
    confuse scipy (checked in a child: this process has torch)."""
    import subprocess

    import pynq

    srv = ps.BackendServer(ps.TwinBackend(TwinDevice(3, 4, g_w=8)))
    monkeypatch.setenv(ps.ENV, srv.url)
    saved = getattr(pynq.Device, "_active_device", None)
    try:
        dev = ps.install_from_env()
        assert pynq.Device.active_device is dev and isinstance(dev.backend, ps.RemoteBackend)
        assert dev.backend.mmio_read(0) == dev.backend.mmio_read(0) != 0
        dev.close()
    finally:
        if saved is not None:
            pynq.Device.active_device = saved
        elif "_active_device" in vars(pynq.Device):
            delattr(pynq.Device, "_active_device")
        srv.close()
    code = ("import sys, pynq_standin as ps; ps.install_from_env()\n"
            "for m in ('torch', 'sklearn.datasets'):\n"
            "    try:\n        __import__(m)\n    except ImportError:\n        print('no', m)\n"
            "import scipy.stats, numpy\nprint('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, ps.ENV_MISSING: "torch,sklearn", ps.ENV: "",
                            "PYTHONPATH": str(REPO / "tests")}, timeout=60)
    assert r.stdout.split("\n")[:3] == ["no torch", "no sklearn.datasets", "False"], r.stderr


# ---------------------------------------------------------------- memhil notebooks DIR
def _bitfile_param(path: Path) -> str:
    import json

    cells = json.loads(path.read_text())["cells"]
    src = "".join(next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
                  ["source"])
    return re.search(r'^BITFILE = "([^"]*)"', src, re.M).group(1)


def test_memhil_notebooks_copies_updates_and_refuses(tmp_path, capsys, monkeypatch):
    from memhil.cli import main
    from memhil.commands import notebooks as cmd

    (tmp_path / "build").mkdir()
    src = ps.make_bitfile(tmp_path / "build", dtbo=True)
    out = tmp_path / "jn" / "memhil"
    assert main(["notebooks", str(out), "--bitfile", src]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted([*NOTEBOOKS, "memhil.bit", "memhil.hwh", "memhil.dtbo",
                            cmd.MANIFEST])
    assert (out / "memhil.hwh").read_bytes() == Path(src).with_suffix(".hwh").read_bytes()
    for name in NOTEBOOKS:            # BITFILE points at the copy; the rest is the package's
        assert _bitfile_param(out / name) == str(out.resolve() / "memhil.bit")
        a = nbformat.reads((out / name).read_text(), as_version=4)
        b = nbformat.read(NB_DIR / name, as_version=4)
        assert [c.source for c in a.cells][3:] == [c.source for c in b.cells][3:]
        nbformat.validate(a)
    # again: nothing changed, nothing written
    capsys.readouterr()
    assert main(["notebooks", str(out), "--bitfile", src]) == 0
    assert capsys.readouterr().out.count("unchanged") == len(files) - 1
    # a notebook run (and saved) in Jupyter is kept; nothing at all is copied then
    (out / "2_train_digits.ipynb").write_text("my run\n")
    (out / "memhil.hwh").write_text("<other build/>")
    rc = main(["notebooks", str(out), "--bitfile", src])
    err = capsys.readouterr().err
    assert rc == 2 and "2_train_digits.ipynb" in err and "--force" in err
    assert (out / "2_train_digits.ipynb").read_text() == "my run\n"
    assert (out / "memhil.hwh").read_text() == "<other build/>"
    assert main(["notebooks", str(out), "--bitfile", src, "--force"]) == 0
    assert "overwritten" in capsys.readouterr().out
    assert _bitfile_param(out / "2_train_digits.ipynb").endswith("memhil.bit")
    # a file memhil put there and nobody touched is replaced by a newer version
    import json

    man = json.loads((out / cmd.MANIFEST).read_text())
    (out / "3_lockstep.ipynb").write_text("an older memhil's copy\n")
    man["files"]["3_lockstep.ipynb"] = cmd._sha(b"an older memhil's copy\n")
    (out / cmd.MANIFEST).write_text(json.dumps(man))
    assert main(["notebooks", str(out)]) == 0
    assert re.search(r"^updated +\S*3_lockstep", capsys.readouterr().out, re.M)
    # without --bitfile: the overlay built in the source tree, when there is one
    built = ps.make_bitfile(tmp_path, name="memhil.bit")
    monkeypatch.setattr(cmd, "_built_overlay", lambda: Path(built))
    other = tmp_path / "other"
    assert main(["notebooks", str(other)]) == 0
    assert (other / "memhil.hwh").is_file()
    monkeypatch.setattr(cmd, "_built_overlay", lambda: None)
    assert main(["notebooks", str(tmp_path / "bare")]) == 0
    assert "no overlay copied" in capsys.readouterr().out
    assert not (tmp_path / "bare" / "memhil.bit").exists()


def test_memhil_notebooks_without_torch(tmp_path):
    """On the board (no torch): the command works, and its errors are one line too."""
    import subprocess

    code = ("import sys, pynq_standin\npynq_standin.block_torch()\n"
            "from memhil.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'host'}:{REPO / 'tests'}"}
    r = subprocess.run([sys.executable, "-c", code, "notebooks", str(tmp_path / "nb")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and (tmp_path / "nb" / "1_selftest.ipynb").is_file(), r.stderr
    (tmp_path / "file").write_text("x")
    r = subprocess.run([sys.executable, "-c", code, "notebooks", str(tmp_path / "file")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "DIR" in r.stderr, r.stderr
