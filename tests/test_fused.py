"""The fused training step (memhil.nn.fused) against the plain autograd step, on integers.

Two copies of one network take the same minibatches, one through torch's autograd
(``model(x)``, the loss, ``backward()``, ``CrossbarSGD.step()``: the plain step) and one through
:class:`memhil.nn.fused.FusedStep`; after every minibatch their losses, correct counts, pulses,
complete twin states (codes, accumulators, LFSRs, registers and counters), ADC shifts, pulse
counts and register caches must be identical. Both update modes, read noise, c2c and d2d on and
off, several geometries (sizes that are not multiples of the vector widths, one layer to three),
batch 1 and larger ones, saturating reads (repeated at a larger ADC shift).
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from memhil import hostmath
from memhil.config import DeviceConfig
from memhil.nn.fused import FusedStep
from memhil.nn.layer import CrossbarLinear, CrossbarSGD
from memhil.nn.loss import CrossEntropyLoss
from memhil.nn.models import backends_of, crossbar_mlp
from memhil.nn.trainer import RunSpec, Trainer, final_state_equal


def _plain_step(model, opt, xb, yb, floats=None):
    """The plain step; ``floats`` (a list) receives the logits and each layer's kept
    (input, dL/dy) as numpy arrays."""
    opt.zero_grad()
    out = model(xb)
    loss = CrossEntropyLoss()(out, yb)
    loss.backward()
    if floats is not None:
        floats.append(out.detach().numpy().copy())
        for m in model[::2]:
            (x, gy), = m._pending
            floats.append((x.numpy().copy(), gy.numpy().copy()))
    r = opt.step()
    return float(loss.detach()), int((out.argmax(1) == yb).sum()), r


def _state(model):
    layers = [m for m in model.modules() if isinstance(m, CrossbarLinear)]
    return {"twins": [b.state_dict() for b in backends_of(model)],
            "shift": [{k: list(v) for k, v in m.shift.items()} for m in layers],
            "pulses": [m.pulses for m in layers],
            "regcache": [dict(m.regs.values) for m in layers]}


def _data(n, features, classes, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, features, generator=g)
    x[torch.rand(n, features, generator=g) < 0.4] = 0.0          # ReLU-like and image-like zeros
    y = torch.randint(0, classes, (n,), generator=g)
    return x, y


def _no_bias_mlp(sizes, seed, cfg):
    """Crossbar layers without a bias column (not what crossbar_mlp makes)."""
    torch.manual_seed(seed)
    mods = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i:
            mods.append(torch.nn.ReLU())
        mods.append(CrossbarLinear(a, b, bias=False, config=cfg.replace(seed=cfg.seed + i)))
    return torch.nn.Sequential(*mods)


def fused_vs_plain(sizes, cfg, batches, lr=0.1, seed=0, make=crossbar_mlp):
    """Train two copies of ``make(sizes, seed, cfg)`` on the minibatch sizes ``batches``, one
    with the plain step and one with the fused step, and compare after every minibatch.
    Returns the number of pulses fired (so that a caller can see the updates did something)."""
    n = sum(batches)
    x, y = _data(n, sizes[0], sizes[-1], seed + 11)
    plain = make(sizes, seed, cfg)
    fast = make(sizes, seed, cfg)
    po, fo = CrossbarSGD(plain, lr), CrossbarSGD(fast, lr)
    plain.train()
    fast.train()
    step = FusedStep.of(fast, fo)
    assert step is not None
    i, fired = 0, 0
    for k, B in enumerate(batches):
        xb, yb = x[i: i + B], y[i: i + B]
        i += B
        if k == 2:                                   # one minibatch with lr 0: no update at all
            po.lr = fo.lr = 0.0
        if k in (4, 7):                              # ADC gains far too high: reads saturate
            for net in (plain, fast):                # and are repeated at larger shifts
                for m in net.modules():
                    if isinstance(m, CrossbarLinear):
                        m.shift = {"fwd": [k - 4], "bwd": [0]}
        floats = []
        want = _plain_step(plain, po, xb, yb, floats)
        assert step.ready(xb)
        got = step.step(xb, yb)
        po.lr = fo.lr = lr
        assert got == want, (k, B)
        # the float32 intermediates too, bit for bit: the logits, every layer's input (with
        # the bias column) and dL/dy, from which the codes of the reads and updates come
        bufs = [arrs for arrs, _ in step._bufs[B]]
        assert floats[0].tobytes() == bufs[-1][1].tobytes()
        for (x_in, gy), (f_in, _, f_gy) in zip(floats[1:], bufs):
            assert x_in.tobytes() == f_in.tobytes() and gy.tobytes() == f_gy.tobytes(), (k, B)
        assert fo.last_pulses == po.last_pulses
        a, b = _state(plain), _state(fast)
        assert final_state_equal(a, b), (k, B)
        fired += want[2]
    return fired


BATCHES = [1, 3, 1, 8, 1, 5, 2, 1, 16, 1]
CASES = {
    "coincidence": DeviceConfig(update_mode="coincidence", c2c_sigma=0.1, seed=2),
    "rounding": DeviceConfig(update_mode="rounding", c2c_sigma=0.1, seed=2),
    "coincidence-noisy": DeviceConfig(update_mode="coincidence", c2c_sigma=0.2, d2d_sigma=0.1,
                                      read_noise_sigma=0.05, step_model="soft-bounds", seed=3,
                                      bl=40),
    "rounding-noisy": DeviceConfig(update_mode="rounding", c2c_sigma=0.2, d2d_sigma=0.1,
                                   read_noise_sigma=0.05, seed=3),
    "rounding-plain-device": DeviceConfig(update_mode="rounding", levels=16, sub_bits=2, seed=5),
    # a small ADC: reads saturate and are repeated at a larger shift
    "coincidence-small-adc": DeviceConfig(update_mode="coincidence", adc_bits=5, dac_bits=6,
                                          seed=4, read_noise_sigma=0.02),
    "rounding-small-adc": DeviceConfig(update_mode="rounding", adc_bits=4, seed=4),
    # stuck devices (contract §3): the fused apply leaves them alone and counts their pulses
    "coincidence-stuck": DeviceConfig(update_mode="coincidence", c2c_sigma=0.1, seed=6,
                                      stuck_rate=0.2, stuck_kind="mixed", stuck_seed=9),
    "rounding-stuck-current": DeviceConfig(update_mode="rounding", d2d_sigma=0.1, seed=6,
                                           stuck_rate=0.3, stuck_kind="current"),
}
SIZES = [[64, 16, 10], [37, 9, 5], [20, 33, 7, 5], [12, 3]]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("sizes", SIZES, ids=["-".join(map(str, s)) for s in SIZES])
def test_fused_step_equals_the_plain_step(case, sizes):
    assert fused_vs_plain(sizes, CASES[case], BATCHES, lr=0.3) > 0


@pytest.mark.parametrize("case", ["coincidence", "rounding-noisy"])
def test_fused_step_equals_the_plain_step_without_bias(case):
    assert fused_vs_plain([21, 9, 6], CASES[case], BATCHES, lr=0.3, make=_no_bias_mlp) > 0


def test_saturating_reads_are_repeated_in_the_fused_step():
    """The comparisons above include reads that saturate and are repeated (with read noise:
    each repeat draws new noise): the read counters show more reads than minibatches."""
    cfg = CASES["coincidence-small-adc"]
    sizes = [64, 16, 10]
    fast = crossbar_mlp(sizes, 0, cfg)
    fo = CrossbarSGD(fast, 0.3)
    fast.train()
    step = FusedStep.of(fast, fo)
    x, y = _data(40, 64, 10, 1)
    for i in range(0, 40, 4):
        if i == 20:
            for m in fast[::2]:
                m.shift = {"fwd": [0], "bwd": [0]}
        step.step(x[i: i + 4], y[i: i + 4])
    reads = [b.regs["CNT_READS"] for b in backends_of(fast)]
    assert reads[0] > 10 * 4 + 4 and reads[1] > 2 * 10 * 4 + 4, reads


def test_trainer_runs_fused_with_the_plain_results(monkeypatch):
    """``Trainer`` takes the fused step where it applies; its histories, checkpoints' states
    and the twins' complete states equal those of the plain step (``MEMHIL_FUSED=0``), at batch
    1 and 8, and after a resume (whose first minibatch runs the plain step: the accumulators
    are not known to be zero)."""
    from memhil.data import load_dataset
    data = load_dataset("digits").subset(120, 40)
    calls = {"n": 0}
    real = FusedStep.step

    def counted(self, *a):
        calls["n"] += 1
        return real(self, *a)
    monkeypatch.setattr(FusedStep, "step", counted)
    for mode in ("coincidence", "rounding"):
        for batch in (1, 8):
            cfg = DeviceConfig(update_mode=mode, c2c_sigma=0.1, read_noise_sigma=0.02, seed=1)
            spec = RunSpec(hidden=[16], epochs=2, batch=batch, lr=0.1, seed=3,
                           config=cfg.to_dict())
            runs = []
            for flag in ("0", "1"):
                monkeypatch.setenv("MEMHIL_FUSED", flag)
                calls["n"] = 0
                tr = Trainer(spec, data)
                tr.fit()
                assert (calls["n"] > 0) == (flag == "1")
                runs.append(tr)
            a, b = runs
            hist = [[{k: v for k, v in r.items() if k != "epoch_time_s"} for r in t.history]
                    for t in runs]
            assert hist[0] == hist[1]
            assert final_state_equal(a.state()["net"], b.state()["net"])
            # a resumed trainer: same state, continues identically
            monkeypatch.setenv("MEMHIL_FUSED", "1")
            c = Trainer(RunSpec(**{**spec.to_dict(), "epochs": 3}), data)
            st = b.state()
            st["spec"] = c.spec.to_dict()
            c.load(st)
            d = Trainer(RunSpec(**{**spec.to_dict(), "epochs": 3}), data)
            d.load(st)
            calls["n"] = 0
            c.train_epoch()
            # every step fused, the first after loading too (contract version 3 has no
            # accumulators whose zero state a loaded twin would first have to establish)
            assert calls["n"] == math.ceil(120 / batch)
            monkeypatch.setenv("MEMHIL_FUSED", "0")
            d.train_epoch()
            assert final_state_equal(c.state()["net"], d.state()["net"])
            assert c.history[-1]["train_loss"] == d.history[-1]["train_loss"]


def test_fused_step_is_not_used_where_it_does_not_apply(monkeypatch):
    """MEMHIL_FUSED=0, a twin with an instance-level method (an instrumented twin), another
    activation than ReLU, layers split over tiles: no fused step (the plain step runs). And
    minibatches it does not take: float64, the wrong width, a NaN, evaluation mode."""
    from memhil.nn import layer as nn_layer
    cfg = DeviceConfig()
    model = crossbar_mlp([8, 4, 3], 0, cfg)
    assert FusedStep.of(model, CrossbarSGD(model, 0.1)) is not None
    monkeypatch.setenv("MEMHIL_FUSED", "0")
    assert FusedStep.of(model, CrossbarSGD(model, 0.1)) is None
    monkeypatch.delenv("MEMHIL_FUSED")
    model[0].backend.forward = lambda *a: None          # an instrumented twin
    assert FusedStep.of(model, CrossbarSGD(model, 0.1)) is None
    model = torch.nn.Sequential(crossbar_mlp([8, 4, 3], 0, cfg)[0], torch.nn.Tanh(),
                                crossbar_mlp([4, 3], 0, cfg)[0])
    assert FusedStep.of(model, CrossbarSGD(model, 0.1)) is None
    monkeypatch.setattr(nn_layer, "MAX_ROWS", 2)       # layers split over tiles
    model = crossbar_mlp([8, 4, 3], 0, cfg)
    assert FusedStep.of(model, CrossbarSGD(model, 0.1)) is None
    monkeypatch.undo()
    model = crossbar_mlp([8, 4, 3], 0, cfg)
    step = FusedStep.of(model, CrossbarSGD(model, 0.1))
    model.train()
    x = torch.rand(2, 8)
    assert step.ready(x) and not step.ready(x.double()) and not step.ready(x[:, :5])
    x[1, 3] = float("nan")
    assert not step.ready(x)
    x[1, 3] = 0.5
    model.eval()
    assert not step.ready(x)


def test_fused_step_without_avx2_equals_the_plain_step(tmp_path):
    """The portable C paths (no AVX2) of the fused step: built with -mno-avx2 into a private
    cache, in a fresh process."""
    env = dict(os.environ, MEMHIL_NATIVE_CFLAGS="-mno-avx2 -mno-avx512f",
               MEMHIL_NATIVE_CACHE=str(tmp_path), PYTHONPATH=os.pathsep.join(sys.path))
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from test_fused import fused_vs_plain, CASES, BATCHES\n"
            "for case in ('coincidence-noisy', 'rounding', 'rounding-small-adc'):\n"
            "    fused_vs_plain([37, 9, 5], CASES[case], BATCHES, lr=0.3)\n"
            "print('ok')" % os.path.dirname(__file__))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
    assert len(list(tmp_path.glob("memhil_twin_*.so"))) == 1


def test_small_batch_loss_equals_the_vectorized_loss(monkeypatch):
    """hostmath.softmax_cross_entropy takes small batches with Python floats: the same bits as
    its numpy code, on logits of every scale, ties, float32 and float64."""
    rs = np.random.RandomState(0)
    checked = 0
    for _ in range(3000):
        B, C = rs.randint(1, 7), rs.randint(1, 11)
        scale = [1e-3, 1.0, 10.0, 100.0, 1e3, 1e5, 1e30][rs.randint(7)]
        z = (rs.randn(B, C) * scale).astype(np.float32 if rs.rand() < 0.8 else np.float64)
        if rs.rand() < 0.2:
            z[:, 0] = z[:, -1]
        y = rs.randint(0, C, B)
        small = hostmath.softmax_cross_entropy(z, y)
        with monkeypatch.context() as m:
            m.setattr(hostmath, "_SMALL", -1)
            big = hostmath.softmax_cross_entropy(z, y)
        assert small[0] == big[0]
        assert small[1].dtype == big[1].dtype == np.float64
        assert small[1].tobytes() == big[1].tobytes()
        checked += B * C <= hostmath._SMALL
    assert checked > 2000


def test_fused_step_takes_at_most_every_twins_batch_max():
    """The fused step applies a minibatch at once, so it takes at most the smallest BATCH_MAX
    of its twins; a larger minibatch takes the plain step, which applies it in chunks. At
    B = batch_max the two paths agree bit for bit."""
    cfg = CASES["rounding"]
    for B, fused in ((8, True), (9, False)):
        nets = [crossbar_mlp([10, 7, 4], 0, cfg) for _ in range(2)]
        for net in nets:
            for bk in backends_of(net):
                bk.batch_max = 8                      # a build of BATCH_MAX = 8
        opts = [CrossbarSGD(net, 0.1) for net in nets]
        step = FusedStep.of(nets[1], opts[1])
        assert step is not None and step.max_batch == 8
        x, y = _data(B, 10, 4, 5)
        assert step.ready(x) == fused
        want = _plain_step(nets[0], opts[0], x, y)
        if fused:
            assert step.step(x, y) == want
            assert final_state_equal(_state(nets[0]), _state(nets[1]))
        else:
            assert want[2] > 0 and nets[0][0].backend.regs["CNT_UPDATES"] == 9
