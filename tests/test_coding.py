"""The host's update coding (memhil.config.UpdateCoding, memhil.hostmath.coded_update): per-sample
code scales and stochastic rounding of x and d in a pulse update.

The default coding is today's, bit for bit; the others are defined once in memhil.hostmath, so
the torch path (plain and fused step) and the numpy path (memhil.npnn) give the same bits; the
stochastic rounding is unbiased; a run with it resumes bit for bit; the command line carries it.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memhil import hostmath
from memhil.commands.common import UsageError, _train_spec, command_args
from memhil.config import ConfigError, DeviceConfig, UpdateCoding
from memhil.data import load_digits
from memhil.experiments.paper import spec_key
from memhil.nn.layer import CrossbarLinear, scaled_codes
from memhil.nn.models import crossbar_mlp
from memhil.nn.trainer import RunSpec, Trainer, final_state_equal, network_state
from memhil.npnn import NumpyMLP, NumpyTrainer

CODINGS = [{"scaling": "sample"}, {"rounding": "stochastic"},
           {"scaling": "sample", "rounding": "stochastic"}]


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def _arrays(B=16, n_in=40, n_out=12, seed=0):
    r = np.random.default_rng(seed)
    x = r.random((B, n_in)).astype(np.float32)
    x[r.random((B, n_in)) < 0.4] = 0.0
    g = (r.standard_normal((B, n_out)) * 10.0 ** r.uniform(-4, -1, (B, 1))).astype(np.float32)
    return x, g


# ---------------------------------------------------------------------------- config
def test_coding_config_is_validated():
    assert UpdateCoding().is_default and not UpdateCoding(rounding="stochastic").is_default
    with pytest.raises(ConfigError, match=r"scaling='row' is not allowed: one of"):
        UpdateCoding(scaling="row")
    with pytest.raises(ConfigError, match=r"rounding='up' is not allowed"):
        UpdateCoding(rounding="up")
    with pytest.raises(ConfigError, match="not an UpdateCoding field"):
        UpdateCoding.from_dict({"bl": 3})
    with pytest.raises(ConfigError, match="'sample' needs 'coincidence'"):
        UpdateCoding(scaling="sample").check_mode("rounding")
    UpdateCoding(rounding="stochastic").check_mode("rounding")          # allowed
    with pytest.raises(ConfigError, match="scaling"):
        CrossbarLinear(4, 3, config=DeviceConfig(update_mode="rounding"),
                       coding={"scaling": "sample"})
    with pytest.raises(ConfigError, match="scaling"):
        NumpyMLP("twin", [4, 3], config=DeviceConfig(update_mode="rounding"),
                 coding={"scaling": "sample"})


def test_default_coding_keeps_the_spec_and_its_key():
    """Runs with the default coding keep the spec dict (and so the run keys and checkpoints)
    of before; another coding is part of the spec."""
    s = RunSpec()
    assert "coding" not in s.to_dict()
    assert "coding" not in RunSpec(coding={"scaling": "batch", "rounding": "nearest"}).to_dict()
    t = RunSpec(coding={"scaling": "sample"})
    assert t.to_dict()["coding"] == {"scaling": "sample", "rounding": "nearest"}
    assert spec_key(t) != spec_key(s)
    assert RunSpec.from_dict(t.to_dict()) == t
    assert command_args(t) == ["--epochs", "10", "--update-scaling", "sample"]
    with pytest.raises(ConfigError, match="rounding='up'"):
        RunSpec(coding={"rounding": "up"})


# ---------------------------------------------------------------------------- host math
@pytest.mark.parametrize("mode", ["coincidence", "rounding"])
def test_default_coded_update_is_the_layers_coding(mode):
    x, g = _arrays()
    lr, w_unit, sub, bl, dac = 0.05, 5.8e-4, 8, 31, 127
    xc, dc, lr_q = hostmath.coded_update(mode, lr, w_unit, sub, bl, dac, x, g)
    ax, ad, q = hostmath.update_scales(mode, lr, w_unit, sub, bl, dac,
                                       float(np.abs(x).max()), float(np.abs(g).max()))
    assert lr_q == q
    assert np.array_equal(xc, scaled_codes(torch.from_numpy(x), ax, dac).numpy())
    assert np.array_equal(dc, scaled_codes(torch.from_numpy(g), -ad, dac).numpy())
    assert hostmath.coded_update(mode, lr, w_unit, sub, bl, dac, x * 0, g) is None
    assert hostmath.coded_update(mode, 0.0, w_unit, sub, bl, dac, x, g) is None


def test_host_uniform_is_a_fixed_reproducible_stream():
    u = hostmath.host_uniform(7, 3, 0, 10000)
    assert u.dtype == np.float64 and u.min() >= 0.0 and u.max() < 1.0
    assert np.array_equal(u, hostmath.host_uniform(7, 3, 0, 10000))
    assert np.array_equal(u[:10], hostmath.host_uniform(7, 3, 0, 10))      # a prefix
    for other in [(8, 3, 0), (7, 4, 0), (7, 3, 1)]:
        assert not np.array_equal(u[:100], hostmath.host_uniform(*other, 100))
    # uniform: mean and a histogram, 10^4 draws (fixed seeds; 5-sigma bounds)
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / 10000)
    h = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(h - 1000) < 5 * math.sqrt(1000))
    # pinned values: the stream is part of the coding's definition (the numpy and torch paths,
    # and a resumed run, depend on it); integer arithmetic only, the same on every machine
    assert hostmath.host_uniform(0, 0, 0, 2).tolist() == PINNED_U


PINNED_U = [0.46801724268316536, 0.9456744929331902]


def test_stochastic_rounding_is_unbiased_and_keeps_small_values():
    """E[code] = v * a: the mean code over many updates (counters) matches the scaled value
    to 5 standard errors, also for values far below one code, which nearest rounding loses."""
    x, g = _arrays(B=4, n_in=20, n_out=6, seed=1)
    lr, w_unit, sub, bl, dac = 0.05, 5.8e-4, 8, 31, 127
    ax, ad, _ = hostmath.update_scales("coincidence", lr, w_unit, sub, bl, dac,
                                       float(np.abs(x).max()), float(np.abs(g).max()))
    N = 4000
    sx = np.zeros(x.shape)
    sd = np.zeros(g.shape)
    for c in range(N):
        xc, dc, _ = hostmath.coded_update("coincidence", lr, w_unit, sub, bl, dac, x, g,
                                          rounding="stochastic", key=11, counter=c)
        tx, td = x.astype(np.float64) * ax, g.astype(np.float64) * -ad
        # every code is the floor or the ceiling of its scaled value
        assert np.all((xc == np.floor(tx)) | (xc == np.ceil(tx)))
        assert np.all((dc == np.floor(td)) | (dc == np.ceil(td)))
        sx += xc
        sd += dc
    for s, t in ((sx, x.astype(np.float64) * ax), (sd, g.astype(np.float64) * -ad)):
        frac = t - np.floor(t)
        se = np.sqrt(np.maximum(frac * (1 - frac), 1e-12) / N)
        assert np.all(np.abs(s / N - t) <= 5 * se + 1e-12)
    small = np.abs(g.astype(np.float64) * ad) < 0.5
    assert small.any()
    near = hostmath.coded_update("coincidence", lr, w_unit, sub, bl, dac, x, g)[1]
    assert np.all(near[small] == 0) and np.any(sd[small] != 0)


def test_sample_scaling_balances_each_sample_at_the_same_product():
    x, g = _arrays(B=8, seed=2)
    g[3] = 0.0                                        # a sample without error: zero codes
    lr, w_unit, sub, bl, dac = 0.05, 5.8e-4, 8, 31, 127
    xc, dc, lr_q = hostmath.coded_update("coincidence", lr, w_unit, sub, bl, dac, x, g,
                                         scaling="sample")
    assert lr_q is None
    k = lr * (1 << 14) / (w_unit * sub * bl)
    assert not xc[3].any() and not dc[3].any()
    for b in range(8):
        if b == 3:
            continue
        mx, md = float(np.abs(x[b]).max()), float(np.abs(g[b]).max())
        ax, ad = math.sqrt(k * md / mx), math.sqrt(k * mx / md)
        assert math.isclose(ax * ad, k, rel_tol=1e-12)
        assert np.array_equal(xc[b], np.clip(np.rint(x[b].astype(np.float64) * ax), -dac, dac))
        assert np.array_equal(dc[b], np.clip(np.rint(g[b].astype(np.float64) * -ad), -dac, dac))
        assert abs(np.abs(xc[b]).max() - np.abs(dc[b]).max()) <= 1        # balanced
    with pytest.raises(ValueError, match="scaling='sample' needs update_mode 'coincidence'"):
        hostmath.coded_update("rounding", lr, w_unit, sub, bl, dac, x, g, scaling="sample")


def test_expected_update_of_the_sample_coding_is_the_gradient_step():
    """With stochastic rounding (and either scaling) the expected coincidence count of a cell,
    BL E[x_code] E[d_code] / 2^14 summed over the minibatch, is -lr sum_b g x / (w_unit sub)
    pulses: the coding keeps the gradient step's expectation."""
    x, g = _arrays(B=6, n_in=10, n_out=4, seed=3)
    lr, w_unit, sub, bl, dac = 0.05, 5.8e-4, 8, 31, 127
    want = -lr * (g.astype(np.float64).T @ x.astype(np.float64)) / (w_unit * sub)
    for scaling in ("batch", "sample"):
        N = 3000
        got = np.zeros_like(want)
        for c in range(N):
            xc, dc, _ = hostmath.coded_update("coincidence", lr, w_unit, sub, bl, dac, x, g,
                                              scaling, "stochastic", key=5, counter=c)
            got += bl * (dc.T.astype(np.float64) @ xc) / (1 << 14)
        got /= N
        assert np.allclose(got, want, rtol=0.1, atol=0.02 * np.abs(want).max()), scaling


# ---------------------------------------------------------------------------- both paths
def _spec(coding, mode="coincidence", batch=8, epochs=2):
    cfg = DeviceConfig(update_mode=mode, c2c_sigma=0.1, read_noise_sigma=0.02, seed=5,
                       d2d_seed=6)
    return RunSpec(hidden=[16], epochs=epochs, batch=batch, lr=0.1, seed=5, coding=coding,
                   config=cfg.to_dict())


def _layer_codes(layers):
    return [[np.asarray(c).tolist() for c in m.codes()] for m in layers]


@pytest.mark.parametrize("coding", CODINGS + [{"rounding": "stochastic", "mode": "rounding"}],
                         ids=["sample", "stochastic", "sample-stochastic", "rounding-stochastic"])
def test_numpy_path_equals_torch_path_with_a_coding(digits, coding):
    coding = dict(coding)
    mode = coding.pop("mode", "coincidence")
    d = digits.subset(200, 60)
    spec = _spec(coding, mode)
    tr = Trainer(spec, d)
    tr.fit()
    layers = [m for m in tr.model.modules() if isinstance(m, CrossbarLinear)]
    model = NumpyMLP("twin", spec.sizes(d.features, d.classes), seed=spec.seed,
                     config=spec.device_config(), w_range=spec.w_range, coding=coding)
    nt = NumpyTrainer(model, epochs=spec.epochs, batch=spec.batch, lr=spec.lr, seed=spec.seed)
    nt.fit(d.x_train, d.y_train, d.x_test, d.y_test)
    strip = [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in tr.history]
    assert strip == [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in nt.history]
    assert _layer_codes(layers) == _layer_codes(model.layers)
    assert [m.pulses for m in layers] == [m.pulses for m in model.layers]
    assert [m.updates for m in layers] == [m.updates for m in model.layers] == [50, 50]
    assert sum(m.pulses for m in layers) > 0
    # and the coding changed the run (it is not the default's in disguise)
    base = Trainer(_spec(None, mode), d)
    base.fit()
    assert _layer_codes(layers) != _layer_codes(
        [m for m in base.model.modules() if isinstance(m, CrossbarLinear)])


@pytest.mark.parametrize("coding", CODINGS, ids=["sample", "stochastic", "sample-stochastic"])
def test_fused_step_equals_the_plain_step_with_a_coding(coding):
    """The fused step hands a layer with a host-side coding to memhil.hostmath and the twin's
    own update: the plain step's results, bit for bit, after every minibatch."""
    from test_fused import BATCHES, CASES, fused_vs_plain

    def make(sizes, seed, cfg):
        return crossbar_mlp(sizes, seed, cfg, coding=coding)
    for case in ("coincidence", "coincidence-noisy"):
        assert fused_vs_plain([37, 9, 5], CASES[case], BATCHES, lr=0.3, make=make) > 0


def test_resume_with_stochastic_rounding_is_bit_exact(digits, tmp_path):
    d = digits.subset(200, 60)
    spec = _spec({"scaling": "sample", "rounding": "stochastic"}, epochs=3)
    full = Trainer(spec, d, out_dir=tmp_path / "a")
    full.fit()
    killed = Trainer(spec, d, out_dir=tmp_path / "b", stop_after=1)
    killed.fit()
    resumed = Trainer.from_checkpoint(tmp_path / "b", lambda s: d)
    assert resumed.epoch == 1
    assert [m.updates for m in resumed.model.modules() if isinstance(m, CrossbarLinear)] == \
        [25, 25]
    resumed.fit()
    assert final_state_equal(network_state(full.model), network_state(resumed.model))


# ---------------------------------------------------------------------------- command line
def test_command_line_carries_the_coding():
    s = _train_spec(["--dataset", "fashion-mnist", "--update-scaling", "sample",
                     "--code-rounding", "stochastic", "--bl", "7"])
    assert s.coding == {"scaling": "sample", "rounding": "stochastic"}
    argv = command_args(s)
    assert argv[argv.index("--update-scaling") + 1] == "sample"
    assert argv[argv.index("--code-rounding") + 1] == "stochastic"
    assert _train_spec(argv) == s
    assert _train_spec(["--code-rounding", "nearest"]).coding is None
    with pytest.raises(UsageError, match=r"argument --update-scaling: .*'sample' needs"):
        _train_spec(["--update-mode", "rounding", "--update-scaling", "sample"])
