"""The board subset without torch (issue 12): a PYNQ-Z2 (ARMv7, Python 3.10) has no torch wheel.

``memhil.contract``, ``memhil.config``, ``memhil.backend``, the protocol, the transports, the
driver (:class:`~memhil.runtime.driver.Crossbar`, which then returns numpy arrays) and the pynq
transport and overlay must import, and the driver must work, in a Python where ``import torch``
fails. Each test runs a child Python whose ``sys.modules["torch"] = None`` makes every
``import torch`` raise ``ImportError``. The device is in THIS process (a
:class:`~memhil.runtime.sim_link.TwinLinkServer`, which has torch), reached over
``SerialTransport("socket://...")``: the board's situation (torch-free host code, a device behind
a byte link), and the twin here gives the expected answers.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from memhil.config import DeviceConfig
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.sim_link import TwinLinkServer
from memhil.twin import Twin

#: makes ``import torch`` (and any torch submodule) raise ImportError in the child
NO_TORCH = "import sys\nsys.modules['torch'] = None\n"

BOARD_MODULES = ["memhil", "memhil.contract", "memhil.contract.spec", "memhil.contract.hashing",
                 "memhil.config", "memhil.backend", "memhil.runtime", "memhil.runtime.protocol",
                 "memhil.runtime.transport", "memhil.runtime.driver",
                 "memhil.runtime.pynq_transport", "memhil.runtime.pynq_overlay",
                 "memhil.hostmath", "memhil.mapping", "memhil.npnn"]

ROWS, COLS, TILES, G_W, LANES = 6, 5, 2, 8, 4

#: one session against a backend ``xb`` (a Crossbar without torch, or the Twin): returns a dict
#: of plain lists. The same text runs in the child and here, so both do exactly the same.
SESSION = """
def session(xb, DeviceConfig, np):
    def L(a):
        return np.asarray(a).tolist()
    rs = np.random.RandomState(7)
    out = {}
    xb.configure(DeviceConfig(seed=11, d2d_seed=5))
    R, C = xb.rows, xb.cols
    for t in range(xb.tiles):
        gp = rs.randint(0, 200, R * C)
        gm = rs.randint(0, 200, R * C)
        xb.write_cells(t, 0, gp, gm)
    x = rs.randint(-127, 128, (3, C))
    d = rs.randint(-127, 128, (3, R))
    out["fwd0"] = L(xb.forward(0, x))
    out["tr1"] = L(xb.transpose(1, d))
    for step in range(4):
        xs = rs.randint(-127, 128, (2, C))
        ds = rs.randint(-127, 128, (2, R))
        out[f"pulses{step}"] = int(xb.update(step % 2, xs, ds))
    out["fwd_after"] = L(xb.forward(1, x[0]))
    out["weights0"] = L(xb.weights(0))
    snap = xb.snapshot()
    for k in sorted(snap):
        out["snap_" + k] = L(snap[k])
    out["counters"] = xb.counters()
    out["batch_max"], out["bl_max"] = xb.batch_max, xb.bl_max
    out["rng0"] = L(xb.read_rng(0, 0, R + C))
    return out
"""


def _child(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", NO_TORCH + code], capture_output=True,
                          text=True, timeout=timeout)


def test_board_subset_imports_without_torch():
    code = ("import importlib\n"
            f"for m in {BOARD_MODULES!r}:\n"
            "    importlib.import_module(m)\n"
            "try:\n"
            "    import torch\n"
            "except ImportError:\n"
            "    pass\n"
            "else:\n"
            "    raise SystemExit('torch is importable: the test did not block it')\n"
            "from memhil.runtime import Crossbar, SerialTransport, PynqTransport\n"
            "heavy = sorted(m for m in sys.modules if m.startswith(('memhil.twin', 'memhil.nn'))\n"
            "               and sys.modules[m] is not None)\n"
            "assert not heavy, heavy\n"
            "print('ok')\n")
    r = _child(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_driver_without_torch_matches_the_twin():
    """configure, write_cells, forward/transpose, updates, weights, snapshot, counters, state
    reads: a torch-free Crossbar over a socket link gives the twin's answers, as numpy arrays."""
    srv = TwinLinkServer(TwinDevice(ROWS, COLS, TILES, g_w=G_W, lanes=LANES)).start()
    try:
        code = (SESSION +
                "import json\n"
                "import numpy as np\n"
                "from memhil.config import DeviceConfig\n"
                "from memhil.runtime.driver import Crossbar\n"
                "from memhil.runtime.transport import SerialTransport\n"
                f"xb = Crossbar(SerialTransport({srv.url!r}), timeout=5.0)\n"
                "assert xb.device is None\n"
                "out = session(xb, DeviceConfig, np)\n"
                "y = xb.forward(0, np.zeros((1, xb.cols), dtype=np.int8))\n"
                "assert isinstance(y, np.ndarray) and y.dtype == np.int64, type(y)\n"
                "sd = xb.state_dict()\n"
                "assert isinstance(sd['step_up'], np.ndarray)\n"
                "assert isinstance(sd['gp'], np.ndarray)\n"
                "xb.load_state_dict(sd)\n"
                "sd2 = xb.state_dict()\n"
                "assert all(np.array_equal(np.asarray(sd[k]), np.asarray(sd2[k]))\n"
                "           for k in sd if k not in ('regs', 'geometry', 'g_w', 'lanes'))\n"
                "xb.close()\n"
                "print(json.dumps(out))\n")
        r = _child(code)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        srv.stop()

    ns: dict = {}
    exec(SESSION, ns)
    twin = Twin(ROWS, COLS, TILES, g_w=G_W, lanes=LANES)
    want = json.loads(json.dumps(ns["session"](
        twin, DeviceConfig, _TensorNumpy())))
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == want[k], k
    assert any(got[f"pulses{s}"] for s in range(4)), "no update applied a pulse"


# ---------------------------------------------------------------------------- training
#: the numpy training loop (memhil.npnn) on a torch-free board host: a Crossbar over a socket
TRAIN = """
import json
import sys

import numpy as np

from memhil.config import DeviceConfig
from memhil.npnn import NumpyMLP, NumpyTrainer
from memhil.runtime.driver import Crossbar
from memhil.runtime.transport import SerialTransport

a = json.loads(sys.argv[1])
d = np.load(a["data"])
xb = Crossbar(SerialTransport(a["url"]), timeout=10.0)
model = NumpyMLP(xb, a["sizes"], seed=a["seed"], config=DeviceConfig.from_dict(a["config"]))
tr = NumpyTrainer(model, epochs=a["epochs"], batch=a["batch"], lr=a["lr"], seed=a["seed"])
losses = []
hist = tr.fit(d["x_train"], d["y_train"], d["x_test"], d["y_test"],
              on_batch=lambda info: losses.append(info["loss"]))
out = {"history": [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in hist],
       "losses": losses, "codes": [[c.tolist() for c in m.codes()] for m in model.layers],
       "shifts": [m.shift for m in model.layers], "pulses": [m.pulses for m in model.layers]}
xb.close()
heavy = sorted(m for m in sys.modules if sys.modules[m] is not None and
               (m.split(".")[0] == "torch" or m.startswith(("memhil.twin", "memhil.nn"))))
assert not heavy, heavy
print(json.dumps(out))
"""


@pytest.mark.parametrize("mode", ["coincidence", "rounding"])
def test_numpy_training_without_torch_matches_the_torch_path(tmp_path, monkeypatch, mode):
    """memhil.npnn in a torch-free Python trains a 64-16-10 network on a device behind a socket
    (the board's situation) and gets the torch path's (memhil.nn.Trainer on a twin of the same
    geometry) per-minibatch losses, history (losses, pulses, accuracies), codes and ADC shifts,
    and leaves the device in the same state, bit for bit."""
    from memhil import backend as backend_mod
    from memhil import hostmath
    from memhil.data import load_digits
    from memhil.mapping import network_tiles
    from memhil.nn.layer import CrossbarLinear
    from memhil.nn.models import backends_of
    from memhil.nn.trainer import RunSpec, Trainer, final_state_equal

    data = load_digits().subset(96, 48)
    np.savez(tmp_path / "data.npz", x_train=data.x_train, y_train=data.y_train,
             x_test=data.x_test, y_test=data.y_test)
    cfg = DeviceConfig(update_mode=mode, read_noise_sigma=0.05, c2c_sigma=0.1, seed=9)
    sizes = [64, 16, 10]
    rows, cols, tiles_of = network_tiles(sizes)
    tiles = sum(map(len, tiles_of))
    args = {"sizes": sizes, "seed": 4, "config": cfg.to_dict(), "epochs": 2, "batch": 8,
            "lr": 0.1, "data": str(tmp_path / "data.npz")}

    srv = TwinLinkServer(TwinDevice(rows, cols, tiles)).start()
    try:
        r = subprocess.run([sys.executable, "-c", NO_TORCH + TRAIN,
                            json.dumps({**args, "url": srv.url})],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got = json.loads(r.stdout.strip().splitlines()[-1])
        device_state = srv.device.twin.state_dict()
    finally:
        srv.stop()

    # the torch path, on a twin of the same geometry
    kind = "board-subset-test-twin"
    monkeypatch.setitem(backend_mod._OPENERS, kind,
                        lambda rows, cols, tiles, config, device="cpu", **o:
                        Twin(rows, cols, tiles, config))
    losses = []
    real = hostmath.softmax_cross_entropy

    def recording(z, y):
        loss, grad = real(z, y)
        losses.append(loss)
        return loss, grad
    monkeypatch.setattr(hostmath, "softmax_cross_entropy", recording)
    spec = RunSpec(hidden=[16], epochs=2, batch=8, lr=0.1, seed=4, backend=kind,
                   config=cfg.to_dict())
    tr = Trainer(spec, data)
    tr.fit()
    layers = [m for m in tr.model.modules() if isinstance(m, CrossbarLinear)]
    want = {"history": [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in tr.history],
            "losses": losses, "codes": [[c.tolist() for c in m.codes()] for m in layers],
            "shifts": [m.shift for m in layers], "pulses": [m.pulses for m in layers]}
    want = json.loads(json.dumps(want))
    assert len(got["losses"]) == 2 * 12
    for k in want:
        assert got[k] == want[k], k
    assert all(h["pulses"] > 0 for h in got["history"])
    (twin,) = backends_of(tr.model)
    assert final_state_equal(device_state, twin.state_dict())


class _TensorNumpy:
    """``np`` for the session on the twin: ``np.asarray`` of a torch tensor via ``.cpu()``."""

    random = np.random

    @staticmethod
    def asarray(a):
        return a.cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


# ---------------------------------------------------------------------------- Python 3.10
#: the board subset's sources (memhil.runtime.driver and what it imports, the pynq layer)
BOARD_FILES = ["__init__.py", "contract", "config.py", "backend.py", "runtime/__init__.py",
               "runtime/protocol.py", "runtime/transport.py", "runtime/driver.py",
               "runtime/pynq_transport.py", "runtime/pynq_overlay.py",
               "hostmath.py", "mapping.py", "npnn.py"]


def _vermin(*paths, cwd=None) -> subprocess.CompletedProcess:
    # -t=3.10-: nothing may need more than Python 3.10 (the PYNQ-Z2 image); --violations lists
    # only what breaks that. A line that may (a guarded `import tomllib` whose except branch
    # imports tomli) carries a `# novermin` comment, so nothing else is excused.
    run = "import sys, vermin; sys.exit(vermin.main())"      # vermin has no __main__
    return subprocess.run([sys.executable, "-c", run, "-t=3.10-", "--violations", "--no-tips",
                           "-q", *map(str, paths)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_board_subset_needs_at_most_python_3_10():
    import vermin  # noqa: F401  (in the test extra: this check must run, not skip)
    import memhil

    root = Path(memhil.__file__).parent
    r = _vermin(*(root / f for f in BOARD_FILES))
    assert r.returncode == 0, r.stdout + r.stderr
    # the whole package too (requires-python is >=3.10 everywhere, not only on the board)
    r = _vermin(root)
    assert r.returncode == 0, r.stdout + r.stderr


def test_vermin_check_catches_a_3_11_feature(tmp_path):
    """The check above is meaningful: an unguarded 3.11 feature fails it."""
    import vermin  # noqa: F401  (in the test extra: this check must run, not skip)
    f = tmp_path / "new.py"
    f.write_text("import tomllib\n\n\ndef f(e):\n    e.add_note('x')\n")
    r = _vermin(f)
    assert r.returncode != 0 and "tomllib" in r.stdout, r.stdout + r.stderr


def test_contract_loads_with_tomli_when_tomllib_is_missing():
    """Python 3.10 has no tomllib: the contract then parses its TOML with tomli."""
    import tomli  # noqa: F401  (in the test extra: Python 3.10's TOML parser)
    code = ("import sys\nsys.modules['tomllib'] = None\n"
            "from memhil.contract import spec\n"
            "assert spec.tomllib.__name__ == 'tomli', spec.tomllib\n"
            "print(spec.SPEC.magic, len(spec.SPEC.registers))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    from memhil.contract.spec import SPEC

    assert r.stdout.split() == [str(SPEC.magic), str(len(SPEC.registers))]
