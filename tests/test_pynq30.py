"""The board path on pynq 3.0.x (issue 12, deliverable 3): the PYNQ-Z2 images ship pynq 3.0.x
(v3.0.1: pydantic 1.9, pynqmetadata of its day) and 3.1.x; the test venv has 3.1.

A separate venv (``build/pynq30-<hash>/``, made once with pip and reused while the requirement
list below is unchanged; nothing of memhil is installed in it: the child imports memhil from
``host/`` and the stand-in from ``tests/``) holds only what the board's Python has: pynq 3.0.1,
numpy<2, pydantic<2, no torch. A child Python in it loads :class:`MemhilOverlay` from a .bit
with its .hwh (tests/memhil_hwh.py) through pynq 3.0.1's own parser, driver binding, DMA
driver, MMIO, buffers and clock setting, over tests/pynq_standin.py's Device layer; the logic
is a TwinDevice in THIS process behind a :class:`pynq_standin.BackendServer`. The child runs a
torch-free :class:`Crossbar` session through :class:`PynqTransport` and prints its answers; this
process runs the same session on the twin and compares them integer for integer.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pynq_standin as ps
from test_board_subset import SESSION, _TensorNumpy

from memhil.config import DeviceConfig
from memhil.runtime.device_model import TwinDevice
from memhil.twin import Twin

REPO = Path(__file__).resolve().parents[1]
#: what a PYNQ-Z2 v3.0.1 image's Python has of what memhil's board subset needs (its image has
#: numpy 1.21 and pydantic 1.9.1; numpy<2 is the nearest with wheels for this Python)
REQUIREMENTS = ["pynq==3.0.1", "numpy<2", "pydantic<2", "setuptools<81", "pycparser<3",
                "pyserial>=3.5", "tomli>=1.1"]
INSTALL_TIMEOUT = 600
ROWS, COLS, TILES, G_W, LANES = 6, 5, 2, 8, 4
def pynq30_python() -> Path:
    """The venv's python, made on first use (serialized across pytest-xdist workers by a lock;
    built beside its final place and renamed, so a half-made venv is never used)."""
    key = hashlib.sha256(json.dumps([REQUIREMENTS, sys.version_info[:2]]).encode()) \
        .hexdigest()[:12]
    root = REPO / "build"
    venv = root / f"pynq30-{key}"
    py = venv / "bin" / "python"
    if (venv / ".ok").is_file():
        return py
    root.mkdir(exist_ok=True)
    with open(root / ".pynq30.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".ok").is_file():
            return py
        tmp = root / f"pynq30-{key}.tmp{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(tmp)], check=True, timeout=120)
        r = subprocess.run([str(tmp / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *REQUIREMENTS],
                           capture_output=True, text=True, timeout=INSTALL_TIMEOUT)
        if r.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            out = (r.stdout + r.stderr).strip()
            pytest.fail(f"pip install {' '.join(REQUIREMENTS)} failed:\n{out[-3000:]}")
        (tmp / ".ok").write_text(" ".join(REQUIREMENTS) + "\n")
        shutil.rmtree(venv, ignore_errors=True)
        tmp.rename(venv)
        # the venv's scripts name their folder; they are not used (python -m only)
    return py


CHILD = SESSION + r"""
import json, os, sys
import numpy as np
try:
    import torch                                 # as on the board: not installed here
except ImportError:
    pass
else:
    raise SystemExit("torch is installed in the pynq 3.0 venv")
import pynq, pynqmetadata
import pynq_standin as ps
from pynq.lib.dma import DMA
from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.driver import Crossbar
from memhil.runtime.pynq_overlay import MemhilIP, MemhilOverlay
from memhil.runtime.pynq_transport import PynqTransport

dev = ps.install_from_env()                      # SimDevice(RemoteBackend): the active device
bit = ps.make_bitfile(sys.argv[1], params=json.loads(sys.argv[2]), dtbo=True)
ol = MemhilOverlay(bit, dtbo=bit[:-4] + ".dtbo")
out = {"pynq": pynq.__version__, "pynqmetadata": getattr(pynqmetadata, "__version__", "?")}
out["types"] = [type(ol.memhil).__name__, type(ol.dma).__name__]
out["ip_dict"] = sorted(ol.ip_dict)
out["fclk0"] = pynq.Clocks.fclk0_mhz
out["hwh_rows"] = ol.ip_dict["memhil"]["parameters"]["ROWS"]
out["geometry"] = ol.crossbar.geometry
out["loaded"] = ol.is_loaded() and dev.downloads == [bit] and len(dev.dtbos) == 1

# pynq's _SDMAChannel: `transferred` is read from LENGTH in wait(), not in transfer()/idle
rx, tx = ol.dma.recvchannel, ol.dma.sendchannel
buf = pynq.allocate((64,), dtype=np.uint8)
txb = pynq.allocate((64,), dtype=np.uint8)
rx.transfer(buf)
f = pr.encode_command(1, pr.Op.PING)
txb[: len(f)] = np.frombuffer(f, dtype=np.uint8)
tx.transfer(txb, nbytes=len(f))
tx.wait()
idle = bool(rx.idle)
before, length = rx.transferred, ol.dma.read(0x58)
rx.wait()
out["dma"] = [idle, int(before), int(rx.transferred) == length > 0,
              pr.ResponseDecoder().feed(bytes(buf[: rx.transferred]))[0].seq]

tr = PynqTransport(ol)
xb = Crossbar(tr, timeout=5.0)
out["session"] = session(xb, DeviceConfig, np)
# a refused register access answers OKAY and is counted
n0 = tr.read_reg("CNT_ERRORS")
tr.write_reg("ID", 5)
out["refused"] = [tr.read_reg("ID") == SPEC.magic, tr.read_reg("CNT_ERRORS") - n0]
tr.close()
print("RESULT " + json.dumps(out))
"""


@pytest.mark.slow
def test_the_board_path_on_pynq_301(tmp_path):
    py = pynq30_python()
    srv = ps.BackendServer(ps.TwinBackend(TwinDevice(ROWS, COLS, TILES, g_w=G_W, lanes=LANES)))
    params = {"ROWS": ROWS, "COLS": COLS, "TILES": TILES, "LANES": LANES, "G_W": G_W}
    env = {**os.environ, ps.ENV: srv.url, "PYTHONPATH": f"{REPO / 'host'}:{REPO / 'tests'}"}
    try:
        r = subprocess.run([str(py), "-c", CHILD, str(tmp_path), json.dumps(params)],
                           capture_output=True, text=True, timeout=300, env=env)
    finally:
        srv.close()
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stdout[-2000:] + r.stderr[-4000:]
    got = json.loads(lines[-1][len("RESULT "):])
    assert got["pynq"].startswith("3.0."), got["pynq"]
    assert got["types"] == ["MemhilIP", "DMA"]
    assert got["ip_dict"] == ["dma", "memhil", "ps7"]
    assert got["fclk0"] == 100.0 and got["loaded"]
    assert got["hwh_rows"] == str(ROWS)
    want_geo = {"rows": ROWS, "cols": COLS, "tiles": TILES, "lanes": LANES, "g_w": G_W}
    assert {k: got["geometry"][k] for k in want_geo} == want_geo
    assert got["dma"] == [True, 0, True, 1]     # transferred = LENGTH only after wait()
    assert got["refused"] == [True, 1]
    # the same session on the twin, integer for integer
    ns: dict = {}
    exec(SESSION, ns)
    twin = Twin(ROWS, COLS, TILES, g_w=G_W, lanes=LANES)
    want = json.loads(json.dumps(ns["session"](twin, DeviceConfig, _TensorNumpy())))
    assert got["session"].keys() == want.keys()
    for k in want:
        assert got["session"][k] == want[k], k
