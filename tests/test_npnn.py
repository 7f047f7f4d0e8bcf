"""The numpy training path (memhil.npnn, issue 12: a board without torch) against the torch path
(memhil.nn): the same seeds and data give the same losses, logits, pulse counts, conductance
codes, complete crossbar states and accuracies, bit for bit; and both paths go through the one
definition of the host math that libraries do not compute alike (memhil.hostmath).

The torch-free child process (the numpy loop training through a Crossbar over a socket) is in
tests/test_board_subset.py."""
from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
import torch

from memhil import backend as backend_mod
from memhil import hostmath, mapping, npnn
from memhil.config import DeviceConfig
from memhil.data import load_digits
from memhil.nn import layer as nn_layer
from memhil.nn.layer import CrossbarLinear
from memhil.nn.models import backends_of, float_mlp
from memhil.nn.trainer import RunSpec, Trainer, final_state_equal
from memhil.npnn import NumpyMLP, NumpyTrainer, TorchRNG, init_mlp
from memhil.twin import Twin

SHARED = "npnn-test-shared-twin"       # a backend kind: one Twin holding every layer's tiles


@pytest.fixture(scope="module")
def digits():
    return load_digits()


# ---------------------------------------------------------------------------- helpers
def _config(mode, **kw):
    base = dict(update_mode=mode, read_noise_sigma=0.05, c2c_sigma=0.1, d2d_sigma=0.05, seed=5)
    base.update(kw)
    return DeviceConfig(**base)


def _spec(cfg, batch, backend="twin", hidden=(16,), epochs=2, seed=3, lr=0.1):
    return RunSpec(hidden=list(hidden), epochs=epochs, batch=batch, lr=lr, seed=seed,
                   backend=backend, config=cfg.to_dict())


class _Calls:
    """Records every call of hostmath.softmax_cross_entropy: the logits' bits, the labels, the
    loss and the gradient's bits (the per-minibatch trace of a run)."""

    def __init__(self, monkeypatch):
        self.trace: list = []
        real = hostmath.softmax_cross_entropy

        def rec(logits, labels):
            loss, grad = real(logits, labels)
            z = np.ascontiguousarray(logits)
            self.trace.append((str(z.dtype), hashlib.sha256(z.tobytes()).hexdigest(),
                               np.asarray(labels).tolist(), loss,
                               hashlib.sha256(np.ascontiguousarray(grad).tobytes()).hexdigest()))
            return loss, grad
        monkeypatch.setattr(hostmath, "softmax_cross_entropy", rec)

    def take(self) -> list:
        t, self.trace = self.trace, []
        return t


def _history(h):
    return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in h]


def _run_torch(spec, data):
    tr = Trainer(spec, data)
    tr.fit()
    layers = [m for m in tr.model.modules() if isinstance(m, CrossbarLinear)]
    return {"history": _history(tr.history),
            "codes": [[c.numpy().tolist() for c in m.codes()] for m in layers],
            "shifts": [m.shift for m in layers], "pulses": [m.pulses for m in layers],
            "w_unit": [m.w_unit for m in layers],
            "backends": [b.state_dict() for b in backends_of(tr.model)]}


def _run_numpy(spec, data, backend="twin"):
    cfg = spec.device_config()
    sizes = spec.sizes(data.features, data.classes)
    model = NumpyMLP(backend, sizes, seed=spec.seed, config=cfg, w_range=spec.w_range)
    tr = NumpyTrainer(model, epochs=spec.epochs, batch=spec.batch, lr=spec.lr, seed=spec.seed,
                      lr_schedule=spec.lr_schedule, lr_end=spec.lr_end)
    tr.fit(data.x_train, data.y_train, data.x_test, data.y_test)
    bks = []
    for m in model.layers:
        if all(m.backend is not b for b in bks):
            bks.append(m.backend)
    return {"history": _history(tr.history),
            "codes": [[c.tolist() for c in m.codes()] for m in model.layers],
            "shifts": [m.shift for m in model.layers], "pulses": [m.pulses for m in model.layers],
            "w_unit": [m.w_unit for m in model.layers],
            "backends": [b.state_dict() for b in bks]}


def _assert_same(a, b):
    for k in ("history", "codes", "shifts", "pulses", "w_unit"):
        assert a[k] == b[k], k
    assert len(a["backends"]) == len(b["backends"])
    for x, y in zip(a["backends"], b["backends"]):          # codes, LFSRs, regs, counters
        assert final_state_equal(x, y)


# ---------------------------------------------------------------------------- torch's RNG
@pytest.mark.parametrize("seed", [0, 3, 12345, 2**40 + 7])
def test_torch_rng_randperm_and_uniform_equal_torch(seed):
    g = torch.Generator().manual_seed(seed)
    r = TorchRNG(seed)
    for n in (1, 2, 7, 300, 1437, 2000):                 # one generator, consecutive draws
        assert torch.randperm(n, generator=g).tolist() == r.randperm(n).tolist(), n
    for lo, hi in ((-0.125, 0.125), (-0.3, 0.3), (-1 / math.sqrt(17), 1 / math.sqrt(17))):
        t = torch.empty(1000).uniform_(lo, hi, generator=g)
        assert np.array_equal(t.numpy(), r.uniform(1000, lo, hi)), (lo, hi)


@pytest.mark.parametrize("sizes", [[64, 16, 10], [64, 32, 10], [3, 5, 2], [784, 40, 20, 10]])
def test_init_mlp_equals_float_mlp(sizes):
    ref = [m for m in float_mlp(sizes, 7) if isinstance(m, torch.nn.Linear)]
    got = init_mlp(sizes, 7)
    assert len(ref) == len(got)
    for lin, (w, b) in zip(ref, got):
        assert w.dtype == np.float32 and b.dtype == np.float32
        assert np.array_equal(lin.weight.detach().numpy(), w)
        assert np.array_equal(lin.bias.detach().numpy(), b)


# ---------------------------------------------------------------------------- hostmath
def test_hostmath_exp_log_are_accurate():
    rs = np.random.RandomState(0)
    x = np.concatenate([-rs.exponential(5.0, 20000), rs.uniform(-700, 0, 20000), [0.0, -1e-300]])
    ulp = np.abs(hostmath.exp(x) - np.exp(x)) / np.spacing(np.exp(x))
    assert ulp.max() <= 4 and hostmath.exp(np.zeros(1))[0] == 1.0
    s = np.concatenate([rs.uniform(1, 1000, 5000), np.exp(rs.uniform(-600, 600, 5000))])
    ref = np.log(s)
    ulp = np.abs(np.array([hostmath.log(v) for v in s.tolist()]) - ref) / np.spacing(np.abs(ref))
    assert ulp.max() <= 4 and hostmath.log(1.0) == 0.0 and hostmath.log(2.0) == math.log(2.0)


def test_hostmath_loss_is_the_cross_entropy():
    rs = np.random.RandomState(1)
    z = (rs.randn(40, 10) * 6).astype(np.float32)
    y = rs.randint(0, 10, 40)
    loss, grad = hostmath.softmax_cross_entropy(z, y)
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(y))
    ref.backward()
    assert grad.dtype == np.float64 and grad.shape == z.shape
    assert abs(loss - float(ref.detach())) < 1e-13
    assert np.abs(grad - zt.grad.numpy()).max() < 1e-15
    # the torch path's loss module gives the same bits, the gradient cast to the logits' dtype
    from memhil.nn.loss import CrossEntropyLoss
    zt32 = torch.tensor(z, requires_grad=True)
    lt = CrossEntropyLoss()(zt32, torch.tensor(y))
    lt.backward()
    assert float(lt.detach()) == loss and zt32.grad.dtype == torch.float32
    assert np.array_equal(zt32.grad.numpy(), grad.astype(np.float32))


# ---------------------------------------------------------------------------- bit-exactness
@pytest.mark.parametrize("mode", ["coincidence", "rounding"])
@pytest.mark.parametrize("batch", [1, 8])
def test_numpy_loop_equals_torch_path_on_twins(digits, monkeypatch, mode, batch):
    """64-16-10 on per-layer twins, read noise, c2c and d2d variability on: 2 epochs of 240
    samples give the same per-minibatch logits, losses and gradients, the same history (losses,
    pulses, train and test accuracies), codes, ADC shifts and complete twin states."""
    data = digits.subset(240, 90)
    calls = _Calls(monkeypatch)
    spec = _spec(_config(mode), batch)
    want = _run_torch(spec, data)
    trace_t = calls.take()
    got = _run_numpy(spec, data)
    trace_n = calls.take()
    assert len(trace_t) == 2 * math.ceil(240 / batch)
    assert trace_t == trace_n
    _assert_same(want, got)
    h = want["history"]
    assert all(r["pulses"] > 0 for r in h) and h[1]["train_loss"] < h[0]["train_loss"], h
    assert want["backends"][0]["regs"]["RN_Q"] > 0                  # read noise was on


def test_numpy_loop_equals_torch_path_on_split_layers(digits, monkeypatch):
    """Layers larger than a tile (tiles of 8x24 here): blocks, padded tiles, partial sums over
    tiles, on per-layer twins and on one shared device."""
    data = digits.subset(120, 60)
    for mod in (mapping, nn_layer, npnn):
        monkeypatch.setattr(mod, "MAX_ROWS", 8)
        monkeypatch.setattr(mod, "MAX_COLS", 24)
    monkeypatch.setitem(backend_mod._OPENERS, SHARED,
                        lambda rows, cols, tiles, config, device="cpu", **o:
                        Twin(rows, cols, tiles, config))
    for mode in ("coincidence", "rounding"):
        cfg = _config(mode)
        spec = _spec(cfg, 8)
        want = _run_torch(spec, data)
        assert [len(s["fwd"]) for s in want["shifts"]] == [6, 2]       # 2x3 and 2x1 blocks
        _assert_same(want, _run_numpy(spec, data))
        spec = _spec(cfg, 8, backend=SHARED)
        want = _run_torch(spec, data)
        rows, cols, tiles_of = mapping.network_tiles(spec.sizes(64, 10))
        xb = Twin(rows, cols, sum(map(len, tiles_of)))     # configured by NumpyMLP
        got = _run_numpy(spec, data, xb)
        assert len(want["backends"]) == 1 and tuple(want["backends"][0]["geometry"]) == (8, 24, 8)
        _assert_same(want, got)


def test_numpy_loop_on_one_shared_device_equals_torch(digits, monkeypatch):
    """All layers on one device (``--backend sim|board``): same commands, same states."""
    monkeypatch.setitem(backend_mod._OPENERS, SHARED,
                        lambda rows, cols, tiles, config, device="cpu", **o:
                        Twin(rows, cols, tiles, config))
    data = digits.subset(160, 60)
    spec = _spec(_config("coincidence"), 8, backend=SHARED, hidden=(12, 12))
    want = _run_torch(spec, data)
    got = _run_numpy(spec, data, SHARED)
    _assert_same(want, got)


# ---------------------------------------------------------------------------- the shared math
def _perturbed(name):
    real = getattr(hostmath, name)
    if name == "softmax_cross_entropy":
        return lambda z, y: (lambda lg: (lg[0] * 2.0, lg[1] * 3.0))(real(z, y))
    if name == "target_shift":
        return lambda top, s, adc_hi: real(top, s, adc_hi) + 1
    if name == "update_scales":
        return lambda *a: (lambda r: (r[0], r[1] * 1.5, r[2]))(real(*a))
    if name == "lr_at":
        return lambda *a, **k: real(*a, **k) * 0.5
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["softmax_cross_entropy", "target_shift", "update_scales",
                                  "lr_at"])
def test_both_paths_use_the_shared_host_math(digits, monkeypatch, name):
    """Replacing a memhil.hostmath function changes both paths' results, and they still agree:
    neither path has its own copy of it (a path that bypassed it would fail here)."""
    data = digits.subset(80, 40)
    spec = _spec(_config("rounding"), 8)
    plain = _run_torch(spec, data)
    monkeypatch.setattr(hostmath, name, _perturbed(name))
    t = _run_torch(spec, data)
    n = _run_numpy(spec, data)
    assert t["history"] != plain["history"] or t["codes"] != plain["codes"], "torch path"
    assert n["history"] != plain["history"] or n["codes"] != plain["codes"], "numpy path"
    _assert_same(t, n)


# ---------------------------------------------------------------------------- the API
def test_api_callbacks_predict_and_stop(digits):
    data = digits.subset(64, 32)
    cfg = DeviceConfig(seed=2)
    with NumpyMLP("twin", [64, 8, 10], config=cfg, seed=1) as model:
        tr = NumpyTrainer(model, epochs=3, batch=16, lr=0.1, seed=1)
        batches, epochs = [], []
        hist = tr.fit(data.x_train, data.y_train, data.x_test, data.y_test,
                      on_epoch=lambda r: epochs.append(r) or len(epochs) < 2,
                      on_batch=batches.append)
        assert len(hist) == 2 and epochs == hist and tr.epoch == 2      # stopped after epoch 2
        assert [b["batch"] for b in batches] == [0, 1, 2, 3] * 2
        assert sum(b["pulses"] for b in batches) == sum(r["pulses"] for r in hist) == model.pulses
        assert set(hist[0]) == {"epoch", "lr", "train_loss", "train_accuracy", "test_accuracy",
                                "pulses", "epoch_time_s"}
        # evaluations restore the LFSRs and leave the codes alone
        before = [np.asarray(b.read_rng(0, 0, b.rows + b.cols)) for b in model._owned]
        p = model.predict(data.x_test)
        assert p.dtype == np.int64 and p.shape == (32,)
        assert model.accuracy(data.x_test, data.y_test) == float(np.mean(p == data.y_test))
        after = [np.asarray(b.read_rng(0, 0, b.rows + b.cols)) for b in model._owned]
        assert all(np.array_equal(a, b) for a, b in zip(before, after))
        (w, b), _ = model.weights()
        assert w.shape == (8, 64) and b.shape == (8,)
        assert tr.fit(data.x_train, data.y_train, on_batch=lambda i: False) == hist   # stops
        tr.fit(data.x_train, data.y_train)                    # continues: epoch 3, no test set
        assert tr.epoch == 3 and hist[-1]["test_accuracy"] is None


def test_api_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="needs 2 tiles"):
        NumpyMLP(Twin(16, 65, 1), [64, 16, 10])
    with pytest.raises(ValueError, match="2 backends for 1 layers"):
        NumpyMLP([Twin(4, 4), Twin(4, 4)], [3, 4])
    with pytest.raises(ValueError, match="input features"):
        NumpyMLP("twin", [3, 4]).forward(np.zeros((2, 5), dtype=np.float32))
    with pytest.raises(RuntimeError, match="forward"):
        NumpyMLP("twin", [3, 4]).backward(np.zeros((2, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="lr_schedule"):
        NumpyTrainer(NumpyMLP("twin", [3, 4]), lr_schedule="cosine")
