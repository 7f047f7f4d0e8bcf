"""memhil.nn: CrossbarLinear against the twin, gradients, updates, splitting over tiles."""

import pytest
import torch
from torch import nn

from memhil.config import DeviceConfig
from memhil.contract import SPEC
from memhil.nn import CrossbarLinear, CrossbarSGD, crossbar_mlp, float_mlp
from memhil.backend import BackendUnavailable, open_backend
from memhil.nn.backend import plan_tiles


def _layer(n_in=12, n_out=5, **cfg):
    torch.manual_seed(0)
    return CrossbarLinear(n_in, n_out, config=DeviceConfig(**cfg))


def test_forward_equals_dequantized_twin_read():
    lay = _layer()
    x = torch.rand(4, 12)
    y = lay(x)
    # the same read done by hand on the twin
    xa = torch.cat([x, torch.ones(4, 1)], 1).double()
    m = xa.abs().amax(1)
    codes = torch.round(xa / (m / 127)[:, None]).to(torch.int64)
    t, *_ = lay.blocks[0]
    sh = lay.shift["fwd"][0]
    # the layer adapted the shift after the read; re-read at the shift it used
    got = None
    for s in range(0, 32):
        lay.backend.write_reg(SPEC.reg("ADC_SHIFT"), s)
        o = lay.backend.forward(t, codes)
        cand = (o.double() * 2**s * (m / 127)[:, None] * lay.w_unit).float()
        if torch.equal(cand, y.detach()):
            got = s
            break
    assert got is not None and abs(got - sh) <= 2
    # and it approximates the float product with the effective weights
    w = lay.effective_weight()
    ref = xa @ w.T
    assert torch.allclose(y.double(), ref, rtol=0.02, atol=0.02 * float(ref.abs().max()))


def test_weight_and_bias_properties_match_codes():
    lay = _layer(levels=16)
    gp, gm = lay.codes()
    assert int(gp.min()) >= 0 and int(gp.max()) <= lay.cmax
    assert torch.all(gp % lay.sub == 0) and torch.all(gm % lay.sub == 0)   # nominal levels
    w = (gp - gm).double() * lay.w_unit
    assert torch.allclose(lay.weight.double(), w[:, :12].float().double())
    assert torch.allclose(lay.bias.double(), w[:, 12].float().double())


def test_gradient_through_transpose_read():
    lay = _layer(n_in=20, n_out=7)
    x = torch.rand(3, 20, requires_grad=True)
    gy = torch.randn(3, 7)
    lay(x).backward(gy)
    w = lay.effective_weight()[:, :20]
    ref = gy.double() @ w
    assert torch.allclose(x.grad.double(), ref, rtol=0.03, atol=0.03 * float(ref.abs().max()))
    assert len(lay._pending) == 1


def test_pulse_update_expectation_follows_gradient():
    """Many small updates: the code change correlates with -lr * gy^T x."""
    for mode in ("coincidence", "rounding"):
        lay = _layer(n_in=16, n_out=8, update_mode=mode, levels=64)
        w0 = lay.effective_weight()
        torch.manual_seed(1)
        x = torch.rand(8, 16)
        gy = torch.randn(8, 8) * 0.05
        lr = 0.05
        steps = 20
        for _ in range(steps):
            lay._pending = [(torch.cat([x, torch.ones(8, 1)], 1), gy)]
            lay.pulse_update(lr)
        dw = lay.effective_weight() - w0
        want = -lr * steps * (gy.double().T @ torch.cat([x, torch.ones(8, 1)], 1).double())
        c = torch.corrcoef(torch.stack([dw.flatten(), want.flatten()]))[0, 1]
        assert c > 0.8, (mode, float(c))
        ratio = float((dw * want).sum() / (want * want).sum())
        assert 0.5 < ratio < 1.5, (mode, ratio)


def test_training_steps_reduce_loss():
    torch.manual_seed(0)
    x = torch.rand(64, 10)
    y = (x[:, :5].sum(1) > x[:, 5:].sum(1)).long()
    net = crossbar_mlp([10, 16, 2], 0, DeviceConfig())
    opt = CrossbarSGD(net, 0.2)
    lossf = nn.CrossEntropyLoss()
    with torch.no_grad():
        l0 = float(lossf(net(x), y))
    for _ in range(15):
        for i in range(0, 64, 8):
            opt.zero_grad()
            lossf(net(x[i:i + 8]), y[i:i + 8]).backward()
            opt.step()
    with torch.no_grad():
        assert float(lossf(net(x), y)) < 0.8 * l0


def test_same_initial_weights_as_float_baseline():
    fl = float_mlp([10, 6, 3], 5)
    cb = crossbar_mlp([10, 6, 3], 5, DeviceConfig(levels=256, sub_bits=0), w_range=2.0)
    for a, b in zip([m for m in fl if isinstance(m, nn.Linear)],
                    [m for m in cb if isinstance(m, CrossbarLinear)]):
        step = b.w_unit * b.sub
        assert float((a.weight.detach() - b.weight).abs().max()) <= step * 0.51 + 1e-7


def test_layer_split_over_tiles_matches_single_tile():
    """A layer larger than a tile: blocks on several tiles, partial sums added digitally."""
    cfg = DeviceConfig()
    torch.manual_seed(3)
    ref = nn.Linear(9, 6)
    big = CrossbarLinear(9, 6, config=cfg, weight=ref.weight.detach(), bias_init=ref.bias.detach())
    bk = open_backend("twin", 4, 4, len(plan_tiles(6, 10, 4, 4)), cfg)
    small = CrossbarLinear(9, 6, config=cfg, backend=bk, tiles=list(range(6)),
                           weight=ref.weight.detach(), bias_init=ref.bias.detach())
    assert len(small.blocks) == 6
    assert torch.equal(big.effective_weight(), small.effective_weight())
    x = torch.rand(5, 9, requires_grad=True)
    yb, ys = big(x), small(x)
    w = big.effective_weight()
    ref_y = torch.cat([x.detach(), torch.ones(5, 1)], 1).double() @ w.T
    for y in (yb, ys):
        assert torch.allclose(y.double(), ref_y, rtol=0.02, atol=0.02 * float(ref_y.abs().max()))
    gy = torch.randn(5, 6)
    ys.backward(gy)
    ref_g = gy.double() @ w[:, :9]
    assert torch.allclose(x.grad.double(), ref_g, rtol=0.03, atol=0.03 * float(ref_g.abs().max()))
    small.pulse_update(0.1)


def test_unavailable_backend_is_clear(monkeypatch):
    import sys

    from memhil import backend

    for name in ("memhil.runtime", "memhil.runtime.session"):     # as if it were not installed
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(backend._OPENERS, "sim", raising=False)   # ... nor ever imported
    with pytest.raises(BackendUnavailable, match="memhil.runtime.*use --backend twin"):
        open_backend("sim", 4, 4, 1, DeviceConfig())
    with pytest.raises(BackendUnavailable, match="backend='analog' is not allowed"):
        open_backend("analog", 4, 4, 1, DeviceConfig())


def test_inference_is_history_free_and_side_effect_free():
    lay = _layer(n_in=30, n_out=6)
    torch.manual_seed(5)
    x = torch.rand(10, 30)
    lay.eval()
    with torch.no_grad():
        y1 = lay(x)
        shifts = {k: list(v) for k, v in lay.shift.items()}
        lay(x * 50)                      # a very different read in between
        y2 = lay(x)
    assert torch.equal(y1, y2)
    assert lay.shift == shifts          # evaluation leaves the training state alone


def test_sim_path_maps_layers_onto_one_device():
    """--backend sim: one device from memhil.runtime.open_crossbar (here the twin served over the
    loopback socket, so the real driver and protocol run), the layers on its tiles."""
    cfg = DeviceConfig()
    shared = crossbar_mlp([20, 12, 4], 1, cfg, backend="sim", backend_options={"model": "twin"})
    own = crossbar_mlp([20, 12, 4], 1, cfg, backend="twin")
    ls = [m for m in shared if isinstance(m, CrossbarLinear)]
    assert type(ls[0].backend).__name__ == "Crossbar"
    assert (ls[0].backend.rows, ls[0].backend.cols, ls[0].backend.tiles) == (12, 21, 2)
    assert ls[0].backend is ls[1].backend and [b[0] for b in ls[1].blocks] == [1]
    x = torch.rand(6, 20)
    shared.eval()
    own.eval()
    with torch.no_grad():
        a, b = shared(x), own(x)
    assert torch.allclose(a, b, rtol=0.02, atol=0.02 * float(b.abs().max()))
    shared.train()
    opt = CrossbarSGD(shared, 0.1)
    nn.CrossEntropyLoss()(shared(x), torch.arange(6) % 4).backward()
    assert opt.step() > 0


def _all_lfsrs(net):
    from memhil.nn.models import lfsr_states
    return [(t, s.cpu().clone()) for _, t, s in lfsr_states(net)]


def _lockstep_mlp(cfg):
    """The [20, 12, 4] network on one device driven through the protocol over the loopback
    transport (TwinDevice), every answer checked against a second twin (lockstep)."""
    from memhil.runtime.device_model import TwinDevice
    from memhil.runtime.lockstep import LockstepCrossbar
    from memhil.runtime.transport import LoopbackTransport
    dev = TwinDevice(12, 21, 2, g_w=cfg.code_bits)
    xb = LockstepCrossbar(LoopbackTransport(dev), sync="reset")
    xb.configure(cfg)
    ref = float_mlp([20, 12, 4], 1)
    return nn.Sequential(
        CrossbarLinear(20, 12, config=cfg, backend=xb, tiles=[0], weight=ref[0].weight.detach(),
                       bias_init=ref[0].bias.detach()),
        nn.ReLU(),
        CrossbarLinear(12, 4, config=cfg, backend=xb, tiles=[1], weight=ref[2].weight.detach(),
                       bias_init=ref[2].bias.detach())), dev, xb


@pytest.mark.parametrize("backend", ["twin", "sim", "lockstep"])
def test_evaluation_restores_the_lfsrs(backend, request):
    """Issue 9 (defect 3): noisy reads advance the LFSRs; an evaluation (``predict``/``accuracy``,
    which the trainer and the noisy evaluation use) puts them back, on the twin and through the
    driver (``sim``: the twin behind the simulator's socket; ``lockstep``: the loopback
    transport to a TwinDevice, every answer checked against a twin): READ_RNG/WRITE_RNG."""
    from memhil.nn.models import preserved_lfsrs
    from memhil.nn.trainer import accuracy, predict
    cfg = DeviceConfig(read_noise_sigma=0.05)
    dev = xb = None
    if backend == "lockstep":
        net, dev, xb = _lockstep_mlp(cfg)
    else:
        opts = {"model": "twin"} if backend == "sim" else None
        net = crossbar_mlp([20, 12, 4], 1, cfg, backend=backend, backend_options=opts)
    torch.manual_seed(2)
    x, y = torch.rand(30, 20), torch.randint(0, 4, (30,))
    if backend == "sim":
        request.addfinalizer(net[0].backend.close)
    before = _all_lfsrs(net)
    assert len(before) == 2                                  # two layers, one tile each
    net.eval()
    with torch.no_grad():
        net(x)                                               # a bare noisy read moves them ...
    moved = _all_lfsrs(net)
    assert any(not torch.equal(a, b) for (_, a), (_, b) in zip(before, moved))
    p1 = predict(net, x)                                     # ... an evaluation does not
    acc = accuracy(net, x[:7], y[:7])
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(moved, _all_lfsrs(net)))
    assert torch.equal(predict(net, x), p1) and accuracy(net, x[:7], y[:7]) == acc
    with pytest.raises(RuntimeError, match="stop"):          # restored when the body raises
        with preserved_lfsrs(net), torch.no_grad():
            net(x)
            raise RuntimeError("stop")
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(moved, _all_lfsrs(net)))
    if dev is not None:                                      # the device itself, not the driver
        for t, a in moved:
            assert torch.equal(dev.twin.read_rng(t, 0, 12 + 21), a)
        assert xb.checked > 0


@pytest.mark.parametrize("native", ["0", "1"])
def test_host_dac_coding_native_equals_torch(monkeypatch, native):
    """The layer's DAC coding (native helpers or torch) equals the float64 torch expressions,
    ties included (round half to even), zero rows, clipping at the DAC range."""
    from memhil.nn.layer import row_codes, scaled_codes
    monkeypatch.setenv("MEMHIL_NATIVE", native)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(9, 301, generator=g)
    x[2] = 0.0
    x[3, :8] = torch.tensor([0.25, 0.75, -1.25, 2.5, -0.5, 1.0, 3.75, -2.25])
    x[3, 8:] = 0.0
    for mul in (2.0, -2.0, 127 / 3.75, 1000.0, 0.37):
        want = torch.round(x.double() * mul).clamp(-127, 127).long()
        assert torch.equal(scaled_codes(x, mul, 127), want), mul
    ties = scaled_codes(x[3], 2.0, 127)[:8].tolist()
    assert ties == [0, 2, -2, 5, -1, 2, 8, -4]                  # half to even
    codes, scale = row_codes(x, 127)
    m = x.abs().amax(1).double()
    want_scale = torch.where(m > 0, m / 127, torch.ones_like(m))
    assert torch.equal(scale, want_scale)
    assert torch.equal(codes, torch.round(x.double() / want_scale[:, None]).long())
    assert codes.abs().max() == 127 and not codes[2].any()


def test_minibatch_above_batch_max_is_applied_in_chunks_alike_on_twin_and_device():
    """Contract version 3: one update applies at most BATCH_MAX samples, so a layer applies a
    larger minibatch in chunks of its backend's update_batch_max(), in order. A layer on a
    Twin(batch_max=8) and one on a Crossbar over TwinDevice(batch_max=8) stay identical for a
    minibatch of 20 (chunks 8, 8, 4); a twin of the default BATCH_MAX (one apply) ends
    elsewhere, so the chunking did happen."""
    from memhil.runtime.device_model import TwinDevice
    from memhil.runtime.driver import Crossbar
    from memhil.runtime.transport import LoopbackTransport
    from memhil.twin import Twin

    cfg = DeviceConfig(update_mode="rounding", c2c_sigma=0.1, seed=3)
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(5, 12, generator=g) * 0.2, torch.randn(5, generator=g) * 0.1
    x, gy = torch.rand(20, 12, generator=g), torch.randn(20, 5, generator=g)
    backends = [Twin(5, 13, 1, cfg, g_w=cfg.code_bits, batch_max=8),
                Crossbar(LoopbackTransport(TwinDevice(5, 13, 1, g_w=cfg.code_bits,
                                                      batch_max=8))),
                Twin(5, 13, 1, cfg, g_w=cfg.code_bits)]
    backends[1].configure(cfg)
    assert [bk.update_batch_max() for bk in backends] == [8, 8, 256]
    out = []
    for bk in backends:
        lay = CrossbarLinear(12, 5, config=cfg, backend=bk, tiles=[0], weight=w, bias_init=b)
        opt = CrossbarSGD(lay, lr=0.5)
        lay(x).backward(gy)
        opt.step()
        gp, gm = lay.codes()
        out.append((torch.as_tensor(gp), torch.as_tensor(gm),
                    torch.as_tensor(bk.read_rng(0, 0, 5 + 13)), opt.last_pulses,
                    bk.counters()["CNT_UPDATES"]))
    (a, b_, c) = out
    assert all(torch.equal(p, q) for p, q in zip(a[:3], b_[:3])) and a[3:] == b_[3:]
    assert a[3] > 0 and a[4] == c[4] == 20
    assert not torch.equal(a[2], c[2])            # 3 applies draw other noise words than 1
