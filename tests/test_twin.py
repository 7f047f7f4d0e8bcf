"""Properties of the twin that the contract promises (bounds, levels, statistics, state)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from memhil import DeviceConfig
from memhil.contract import SPEC
from memhil.twin import Twin, TwinError

REG = SPEC.reg
requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
G_STD = SPEC.gauss_std


@settings(max_examples=20, deadline=None)
@given(levels=st.sampled_from([2, 7, 32, 100]), sub_bits=st.integers(0, 5),
       c2c=st.sampled_from([0.0, 0.5, 3.0]), d2d=st.sampled_from([0.0, 1.0]),
       mode=st.sampled_from(["rounding", "coincidence"]), seed=st.integers(0, 10**6))
def test_codes_never_leave_their_bounds(levels, sub_bits, c2c, d2d, mode, seed):
    cfg = DeviceConfig(levels=levels, sub_bits=sub_bits, c2c_sigma=c2c, d2d_sigma=d2d,
                       update_mode=mode, bl=64, seed=seed, asymmetry=0.5)
    t = Twin(5, 6, 1, cfg)
    t.write_reg(REG("LR_Q"), 40 << 16)
    g = torch.Generator().manual_seed(seed)
    for _ in range(6):
        x = torch.randint(-127, 128, (3, 6), generator=g)
        d = torch.randint(-127, 128, (3, 5), generator=g)
        t.update(0, x, d)
        for c in (t.gp, t.gm):
            assert int(c.min()) >= 0 and int(c.max()) <= cfg.cmax


@pytest.mark.parametrize("levels,sub_bits", [(2, 0), (5, 3), (32, 3), (64, 2)])
def test_noiseless_linear_device_visits_exactly_levels_states(levels, sub_bits):
    cfg = DeviceConfig(levels=levels, sub_bits=sub_bits, update_mode="rounding")
    t = Twin(1, 1, 1, cfg)
    t.write_reg(REG("LR_Q"), 1 << 16)             # one pulse per unit product
    seen = {int(t.gp[0, 0, 0])}
    for _ in range(2 * levels):
        t.update(0, [[1]], [[1]])
        seen.add(int(t.gp[0, 0, 0]))
    assert sorted(seen) == [k << sub_bits for k in range(levels)]
    seen_down = set()
    for _ in range(4 * levels):                    # and back down through G+ and up G-
        t.update(0, [[1]], [[-1]])
        seen_down.add(int(t.gp[0, 0, 0]))
    assert seen_down <= set(k << sub_bits for k in range(levels))


def _mean_update_experiment(mode, c2c, reps=200, seed=3):
    """Mean code change of each cell of a 16x16 tile over ``reps`` single-sample updates."""
    rows = cols = 16
    cfg = DeviceConfig(update_mode=mode, c2c_sigma=c2c, bl=31, seed=seed)
    t = Twin(rows, cols, 1, cfg)
    lr_q = 3000                                     # rounding: E[n] = |x d| * 3000 / 2^16
    t.write_reg(REG("LR_Q"), lr_q)
    g = torch.Generator().manual_seed(seed)
    hi = 12 if mode == "rounding" else 60           # at most ~7 pulses: no cell reaches a bound
    x = torch.randint(-hi, hi + 1, (1, cols), generator=g)
    d = torch.randint(-hi, hi + 1, (1, rows), generator=g)
    mid = cfg.cmax // 2
    prod = (d.T @ x).double()                      # (rows, cols)
    if mode == "rounding":
        expected_n = prod * lr_q / 2**16
    else:
        expected_n = prod * cfg.bl / 2**14
    expected = expected_n * (1 << cfg.sub_bits)    # codes (one pulse = one level)
    deltas = []
    for _ in range(reps):
        t.write_cells(0, 0, torch.full((rows * cols,), mid - 4), torch.full((rows * cols,), mid - 4))
        t.update(0, x, d)
        deltas.append((t.weights(0)).double())
    deltas = torch.stack(deltas)
    return deltas, expected


@pytest.mark.parametrize("mode", ["rounding", "coincidence"])
@pytest.mark.parametrize("c2c", [0.0, 0.5])
def test_mean_update_equals_the_desired_step(mode, c2c):
    deltas, expected = _mean_update_experiment(mode, c2c)
    mean = deltas.mean(0)
    sem = deltas.std(0) / math.sqrt(deltas.shape[0])
    # Tolerance: 5 standard errors per cell (sem floored at 0.05 codes for deterministic cells).
    z = (mean - expected).abs() / sem.clamp(min=0.05)
    assert float(z.max()) < 5.0, float(z.max())
    # and the whole matrix follows the outer product: slope of mean vs expected within 3 %
    slope = float((mean * expected).sum() / (expected * expected).sum())
    assert abs(slope - 1) < 0.03, slope


def test_mean_update_test_can_fail():
    deltas, expected = _mean_update_experiment("rounding", 0.0, reps=50)
    slope = float((deltas.mean(0) * expected * 1.1).sum() / ((expected * 1.1) ** 2).sum())
    assert abs(slope - 1) > 0.05                   # a 10 % wrong expectation is detected


def _contract_law(n, step1_q8, c2c_q):
    """Exact mean and variance of one apply's code change under the contract (§3), with the
    Gaussian index and the rounding byte uniform and independent."""
    vals = []
    for g in SPEC.gauss:
        total = n * step1_q8
        if c2c_q:
            total = max(total + ((step1_q8 * g * (c2c_q * SPEC.root[n])) >> 28), 0)
        vals += [(total + u) >> 8 for u in range(256)]
    m = sum(vals) / len(vals)
    return m, sum((v - m) ** 2 for v in vals) / len(vals)


def _spread(sigma, n_pulses=4, rows=64, cols=64):
    cfg = DeviceConfig(update_mode="rounding", c2c_sigma=sigma, seed=11)
    t = Twin(rows, cols, 1, cfg)
    t.write_reg(REG("LR_Q"), n_pulses << 16)       # x = d = 1: exactly n pulses per cell
    mid = cfg.cmax // 2 - 8
    t.write_cells(0, 0, torch.full((rows * cols,), mid), torch.full((rows * cols,), mid))
    t.update(0, torch.ones(1, cols, dtype=torch.long), torch.ones(1, rows, dtype=torch.long))
    delta = t.weights(0).double().flatten()
    law = _contract_law(n_pulses, 1 << (cfg.sub_bits + 8), cfg.registers()["C2C_Q"])
    return delta, law


@pytest.mark.parametrize("sigma", [0.0, 0.25, 0.5, 1.0])
def test_spread_follows_the_contract_law(sigma):
    delta, (mean, var) = _spread(sigma)
    n = delta.numel()
    # Tolerances: 4 standard errors of the mean; 4 standard errors of the variance
    # (sqrt(2/n) relative for a near-Gaussian law) plus 0.01 codes^2 for the sigma = 0 case.
    assert abs(float(delta.mean()) - mean) <= 4 * math.sqrt(var / n) + 1e-9
    assert abs(float(delta.var()) - var) <= 4 * var * math.sqrt(2 / n) + 0.01, (float(delta.var()), var)
    if sigma:
        # and the law itself is the c2c model: std ~ step * sigma * sqrt(n) (truncation at
        # zero trims it a little at sigma = 1)
        approx = 8 * sigma * 2 * SPEC.gauss_std
        assert 0.9 * approx <= math.sqrt(var) <= 1.05 * approx


def test_spread_grows_with_c2c_sigma():
    spreads = [float(_spread(s)[0].std()) for s in (0.0, 0.1, 0.25, 0.5, 1.0)]
    assert spreads == sorted(spreads) and spreads[0] < 0.01 and spreads[-1] > 10


# The c2c clamp factor f_1 (mean step of a single noisy pulse over the nominal step) as the
# contract's table in §6 states it, to three decimals.
DOC_F1 = {1.0: 1.083, 3.0: 1.762}


@pytest.mark.parametrize("sigma", sorted(DOC_F1))
def test_single_pulse_mean_step_has_the_documented_c2c_clamp_factor(sigma):
    """Contract §6 "The c2c clamp raises the mean step": ``max(total, 0)`` makes a single pulse
    move its device ``f_1`` nominal steps on average (+8 % at sigma 1, +76 % at sigma 3)."""
    cfg = DeviceConfig(update_mode="rounding", c2c_sigma=sigma, seed=21)
    step_codes = 1 << cfg.sub_bits
    # the documented value is the contract's exact law, rounded to three decimals ...
    law_mean, law_var = _contract_law(1, step_codes << 8, cfg.registers()["C2C_Q"])
    assert abs(law_mean / step_codes - DOC_F1[sigma]) <= 0.0005
    # ... and close to the Gaussian formula Phi(1/s) + s phi(1/s)
    a = 1 / sigma
    gauss = 0.5 * (1 + math.erf(a / math.sqrt(2))) \
        + sigma * math.exp(-a * a / 2) / math.sqrt(2 * math.pi)
    assert abs(gauss - DOC_F1[sigma]) <= 0.002
    # measured: 4 updates of a 256x256 tile, each one pulse per cell (x = d = 1, LR_Q = 1.0),
    # from codes far from both bounds (the largest single step, 2.9 sigma + 1 steps, fits)
    rows = cols = 256
    t = Twin(rows, cols, 1, cfg)
    t.write_reg(REG("LR_Q"), 1 << 16)
    mid = cfg.cmax // 2 - 8
    ones_x, ones_d = torch.ones(1, cols, dtype=torch.long), torch.ones(1, rows, dtype=torch.long)
    steps = []
    for _ in range(4):
        t.write_cells(0, 0, torch.full((rows * cols,), mid), torch.full((rows * cols,), mid))
        assert t.update(0, ones_x, ones_d) == rows * cols
        steps.append(t.weights(0).double().flatten() / step_codes)
    steps = torch.cat(steps)
    sem = math.sqrt(law_var) / step_codes / math.sqrt(steps.numel())
    # Tolerance: 4 standard errors of the mean (from the law's variance over 262144 pulses:
    # 0.0017 at sigma 1, 0.0041 at sigma 3) plus the 0.0005 of the documented rounding.
    assert abs(float(steps.mean()) - DOC_F1[sigma]) <= 4 * sem + 0.0005, float(steps.mean())
    assert float(steps.min()) >= 0                   # no pulse reverses
    # the unclamped expectation (f = 1) would be rejected by the same test
    assert abs(float(steps.mean()) - 1.0) > 4 * sem + 0.0005


def test_d2d_factors_have_the_configured_spread():
    cfg = DeviceConfig(d2d_sigma=0.2, d2d_seed=5)
    t = Twin(64, 64, 2, cfg)
    fp, fm = t.d2d_factors()
    f = torch.cat([fp.flatten(), fm.flatten()]).double() / 4096
    assert abs(float(f.mean()) - 1) < 0.01
    assert abs(float(f.std()) - 0.2 * G_STD) < 0.01
    assert not torch.equal(fp, fm)
    assert torch.equal(Twin(64, 64, 2, cfg).d2d_factors()[0], fp)     # fixed by the seed
    other = Twin(64, 64, 2, cfg.replace(d2d_seed=6)).d2d_factors()[0]
    assert not torch.equal(other, fp)


def test_read_noise_spread_and_noiseless_reads_leave_rng_alone():
    cfg = DeviceConfig(read_noise_sigma=0.01, adc_bits=16, seed=2)
    t = Twin(200, 50, 1, cfg)
    t.write_cells(0, 0, torch.full((10000,), 100), torch.full((10000,), 60))
    x = torch.full((1, 50), 5)
    ys = torch.cat([t.forward(0, x) for _ in range(20)]).double()
    clean = 50 * 5 * 40
    total = 50 * 5 * (100 + 60 + 2 * cfg.c0)
    sd = 0.01 * total * G_STD
    # tolerances: 4 standard errors of the mean and of the standard deviation (n = 4000)
    assert abs(float(ys.mean()) - clean) < 4 * sd / math.sqrt(ys.numel())
    assert abs(float(ys.std()) / sd - 1) < 4 / math.sqrt(2 * ys.numel())
    t.write_reg(REG("RN_Q"), 0)
    before = t.row_lfsr.clone()
    assert int(t.forward(0, x)[0, 0]) == clean
    assert torch.equal(before, t.row_lfsr)


def test_save_and_restore_reproduce_a_run_bit_for_bit():
    cfg = DeviceConfig(c2c_sigma=0.3, d2d_sigma=0.1, read_noise_sigma=0.02, seed=9)
    t = Twin(12, 20, 2, cfg)
    g = torch.Generator().manual_seed(0)

    def run(twin, steps):
        outs = []
        for _ in range(steps):
            x = torch.randint(-127, 128, (4, 20), generator=g)
            d = torch.randint(-127, 128, (4, 12), generator=g)
            outs.append(twin.forward(1, x))
            twin.update(1, x, d)
            twin.update(0, x[:1], d[:1])
        return outs

    run(t, 3)
    saved = t.state_dict()
    gstate = g.get_state()
    a = run(t, 4)
    end_a = t.state_dict()
    t2 = Twin(12, 20, 2)
    t2.load_state_dict(saved)
    g.set_state(gstate)
    b = run(t2, 4)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    end_b = t2.state_dict()
    assert "acc" not in end_a                      # contract version 3: no accumulators
    for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
        assert torch.equal(end_a[k], end_b[k]), k
    assert end_a["regs"] == end_b["regs"]
    with pytest.raises(TwinError, match="geometry"):
        Twin(12, 21, 2).load_state_dict(saved)


def test_load_state_dict_accepts_a_version_2_dict_only_with_zero_accumulators():
    """A contract-version-2 state dict carries "acc"; saved after an apply it is all zero and
    loads (the same state as without it); any non-zero accumulator is refused, naming it."""
    t = Twin(3, 4, 2, DeviceConfig(seed=2))
    t.update(1, torch.full((2, 4), 60), torch.full((2, 3), -70))
    sd = t.state_dict()
    old = dict(sd, acc=torch.zeros(2, 3, 4, dtype=torch.int32))
    t2 = Twin(3, 4, 2)
    t2.load_state_dict(old)
    for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
        assert torch.equal(getattr(t2, k).cpu(), sd[k]), k
    assert t2.regs == sd["regs"]
    bad = dict(sd, acc=torch.zeros(2, 3, 4, dtype=torch.int32))
    bad["acc"][1, 2, 3] = -5
    t3 = Twin(3, 4, 2)
    before = t3.state_dict()
    with pytest.raises(TwinError, match=r"'acc' holds 1 non-zero accumulator\(s\)"):
        t3.load_state_dict(bad)
    assert torch.equal(t3.gp, before["gp"]) and t3.regs == before["regs"]   # nothing loaded
    with pytest.raises(TwinError, match="BL=31 is above this twin's bl_max=16"):
        Twin(3, 4, 2, bl_max=16).load_state_dict(sd)


def test_bad_operands_are_refused_with_clear_messages():
    t = Twin(3, 4, 1, DeviceConfig())
    with pytest.raises(TwinError, match=r"tile=1 .*\[0, 0\]"):
        t.forward(1, [[0, 0, 0, 0]])
    with pytest.raises(TwinError, match=r"shape \(B, 4\)"):
        t.forward(0, [[0, 0, 0]])
    with pytest.raises(TwinError, match="CMAX=248"):
        t.write_cells(0, 0, [249], [0])
    with pytest.raises(TwinError, match="nonzero"):
        t.write_rng(0, 0, [0])
    with pytest.raises(TwinError, match="BL: value 0"):
        t.write_reg(REG("BL"), 0)
    with pytest.raises(TwinError, match=r"BL: value 33 must be in \[1, 32\] \(this build's "
                                        r"BL_MAX is 32\)"):
        Twin(3, 4, 1, bl_max=32).write_reg(REG("BL"), 33)
    with pytest.raises(TwinError, match="not a writable"):
        t.write_reg(REG("ID"), 1)


@requires_cuda
def test_cpu_and_cuda_agree_bit_for_bit():
    cfg = DeviceConfig(c2c_sigma=0.4, d2d_sigma=0.1, read_noise_sigma=0.01, seed=4)
    for mode, stuck in (("rounding", 0.0), ("coincidence", 0.0), ("rounding", 0.2),
                        ("coincidence", 0.3)):
        cpu = Twin(40, 70, 2, cfg.replace(update_mode=mode, stuck_rate=stuck))
        cpu.write_reg(REG("LR_Q"), 3000)
        g = torch.Generator().manual_seed(1)
        cpu.write_cells(0, 0, torch.randint(0, 249, (2800,), generator=g),
                        torch.randint(0, 249, (2800,), generator=g))
        gpu = cpu.to("cuda")
        for _ in range(5):
            x = torch.randint(-127, 128, (8, 70), generator=g)
            d = torch.randint(-127, 128, (8, 40), generator=g)
            assert torch.equal(cpu.forward(0, x), gpu.forward(0, x).cpu())
            assert torch.equal(cpu.transpose(0, d), gpu.transpose(0, d).cpu())
            assert cpu.update(0, x, d) == gpu.update(0, x, d)
        a, b = cpu.state_dict(), gpu.state_dict()
        for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
            assert torch.equal(a[k], b[k]), (mode, k)
        assert a["regs"] == b["regs"], mode                # the counters too


@pytest.mark.parametrize("m,k,n", [(1, 1, 2), (1, 3, 1), (2, 1, 1), (5, 31, 7), (1, 62, 9)])
def test_integer_matmul_is_exact_for_degenerate_shapes(m, k, n):
    from memhil.twin.core import _int_matmul
    g = torch.Generator().manual_seed(m * 100 + k * 10 + n)
    a = torch.randint(-127, 128, (k, m), generator=g).T         # transposed views, odd strides
    b = torch.randint(-127, 128, (n, k), generator=g).T
    assert torch.equal(_int_matmul(a, b, k * 127 * 127), a.long() @ b.long())


NATIVE_CASES = [("coincidence", "linear", 0.0, 0.3), ("coincidence", "soft-bounds", 0.2, 0.0),
                ("rounding", "soft-bounds", 0.1, 0.3), ("rounding", "linear", 0.0, 0.0)]


def native_vs_torch(mode, model, d2d, c2c):
    """Run one workload with the native kernels (MEMHIL_NATIVE=1) and with the torch path
    (MEMHIL_NATIVE=0) and assert equal states, pulses and reads: batch 1 to 256 (the batch
    sums of a full batch), BL > 32, codes beyond the DAC range, tiles whose sizes are not
    multiples of the vector widths."""
    import os

    from memhil.twin import native
    cfg = DeviceConfig(update_mode=mode, step_model=model, c2c_sigma=c2c, d2d_sigma=d2d, seed=5)
    rows, cols = 96, 333
    twins = {}
    for flag in ("0", "1"):
        os.environ["MEMHIL_NATIVE"] = flag
        assert (native.library() is not None) == (flag == "1")
        t = Twin(rows, cols, 2, cfg)
        t.write_reg(REG("LR_Q"), 2500)
        g = torch.Generator().manual_seed(1)
        for tile in (0, 1):
            t.write_cells(tile, 0, torch.randint(0, 249, (rows * cols,), generator=g),
                          torch.randint(0, 249, (rows * cols,), generator=g))
        out = []
        for step, (batch, bl) in enumerate([(1, 31), (5, 31), (3, 40), (1, 7), (2, 31),
                                            (256, 9), (1, 31)]):
            t.write_reg(REG("BL"), bl)
            x = torch.randint(-127, 128, (batch, cols), generator=g)
            x[:, ::3] = 0
            x[:, 1::7] *= 3                           # beyond the DAC range: saturate to 127
            d = torch.randint(-127, 128, (batch, rows), generator=g)
            d[:, ::5] *= -2
            if step % 2:                              # mostly zero errors: the sparse rows path
                d[d.abs() < 90] = 0
            out.append(t.update(step % 2, x, d))
            t.write_reg(REG("ADC_SHIFT"), step)
            out.append(t.forward(step % 2, x).tolist())
            out.append(t.transpose(step % 2, d).tolist())
        twins[flag] = (t, out)
    (a, pa), (b, pb) = twins["0"], twins["1"]
    assert pa == pb and sum(p for p in pa if isinstance(p, int)) > 0
    assert b._scratch is not None and not b._scratch.any()   # the sums leave no state
    for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k
    assert a.regs == b.regs


# (rows, cols, RN_Q, C0, CMAX, update mode): the contract's RN_Q extremes (1, 2^16 - 1) and
# C0's (0, 2^16 - 1); CMAX < 2^14 (int16 copies of gp + gm), up to 2^15 - 1 (the sums formed
# from gp and gm), and beyond (the torch path on both sides); sizes that are not multiples of
# the vector widths or blocks
NOISY_READ_CASES = [(96, 333, 1311, 18, 248, "coincidence"),
                    (7, 5, 0xFFFF, 0xFFFF, 0x7FFF, "rounding"),
                    (64, 300, 1, 0, 248, "rounding"), (300, 17, 40000, 100, 1000, "coincidence"),
                    (40, 300, 777, 5, 20000, "coincidence"),
                    (5, 9, 0xFFFF, 0xFFFF, 0xFFFF, "rounding")]


def native_noisy_reads_vs_torch(rows, cols, rn_q, c0, cmax, mode, forbid_torch=None):
    """Noisy reads (RN_Q != 0) with the native kernels and with the torch path: equal ADC
    codes, LFSR states, codes and registers after forward and transpose reads of batch 1 to 8
    at several ADC settings (full gain to saturation: ADC_SHIFT 0..31, ADC_BITS 2..16; codes
    beyond +-127), interleaved with updates (whose streams and noise words then depend on the
    reads' draws). ``forbid_torch`` (a pytest monkeypatch) makes the torch noise path raise in
    the native run, so that the native kernel is shown to have done the reads."""
    import os

    from memhil.twin import core, native
    cfg = DeviceConfig(update_mode=mode, c2c_sigma=0.2, read_noise_sigma=0.01, seed=4)
    runs = {}
    for flag in ("0", "1"):
        os.environ["MEMHIL_NATIVE"] = flag
        assert (native.library() is not None) == (flag == "1")
        t = Twin(rows, cols, 2, cfg, g_w=16)
        for name, value in (("RN_Q", rn_q), ("C0", c0), ("CMAX", cmax), ("LR_Q", 9000)):
            t.write_reg(REG(name), value)
        g = torch.Generator().manual_seed(rows + cols)
        for tile in (0, 1):
            t.write_cells(tile, 0, torch.randint(0, cmax + 1, (rows * cols,), generator=g),
                          torch.randint(0, cmax + 1, (rows * cols,), generator=g))
        t.write_rng(1, 0, torch.randint(1, 1 << 32, (rows + cols,), generator=g))
        if forbid_torch is not None and flag == "1" and cmax <= 0x7FFF:
            def no_torch_noise(*a, **k):
                raise AssertionError("the torch path drew read noise")
            forbid_torch.setattr(core.lfsr, "jump", no_torch_noise)
        out = []
        for step, (batch, sh, bits) in enumerate([(1, 0, 16), (2, 6, 8), (5, 31, 16), (8, 0, 2),
                                                  (1, 3, 5), (3, 12, 16)]):
            tile = step % 2
            t.write_reg(REG("ADC_SHIFT"), sh)
            t.write_reg(REG("ADC_BITS"), bits)
            x = torch.randint(-127, 128, (batch, cols), generator=g)
            x[:, ::4] = 0
            x[:, 1::5] *= 2                           # beyond the DAC range: saturate to 127
            d = torch.randint(-127, 128, (batch, rows), generator=g)
            d[:, ::3] = 0
            out.append(t.forward(tile, x).tolist())
            out.append(t.transpose(tile, d).tolist())
            out.append(t.forward(tile, x[:1]).tolist())       # a repeat (ADC re-ranging)
            if step % 3 != 2:
                out.append(t.update(tile, x, d))
        if forbid_torch is not None:
            forbid_torch.undo()
        runs[flag] = (t, out)
    (a, pa), (b, pb) = runs["0"], runs["1"]
    assert pa == pb
    flat = [v for r in pa if isinstance(r, list) for row in r for v in row]
    assert len(set(flat)) > 2                         # not all saturated or zero
    for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k
    assert a.regs == b.regs


@pytest.mark.parametrize("case", NOISY_READ_CASES)
def test_native_noisy_reads_equal_the_torch_path(monkeypatch, case):
    """Reads with read noise on run natively (CMAX < 2^15); same draws, same results."""
    monkeypatch.setenv("MEMHIL_NATIVE", "1")
    native_noisy_reads_vs_torch(*case, forbid_torch=monkeypatch)


def test_native_noisy_reads_draw_the_contract_noise(monkeypatch):
    """The native noisy read against the contract's formula written out here (one forward
    sample, one transpose sample): y_i + (GAUSS[s_i & 0xFF] * ((RN_Q * T_i) >> 16)) >> 8 with
    s_i the state after 32 single steps, then the ADC's rounding shift."""
    from memhil.twin import lfsr
    monkeypatch.setenv("MEMHIL_NATIVE", "1")
    t = Twin(6, 11, 1, DeviceConfig(read_noise_sigma=0.5, seed=1))
    g = torch.Generator().manual_seed(3)
    gp = torch.randint(0, 249, (6, 11), generator=g)
    gm = torch.randint(0, 249, (6, 11), generator=g)
    t.write_cells(0, 0, gp, gm)
    t.write_reg(REG("ADC_SHIFT"), 2)
    t.write_reg(REG("ADC_BITS"), 16)
    rn, c0 = t.regs["RN_Q"], t.regs["C0"]
    for transpose in (False, True):
        n_in = 6 if transpose else 11
        v = torch.randint(-127, 128, (n_in,), generator=g).tolist()
        states = (t.col_lfsr if transpose else t.row_lfsr)[0].tolist()
        got = (t.transpose(0, [v]) if transpose else t.forward(0, [v]))[0].tolist()
        want = []
        for o, s in enumerate(states):
            cells = [(gp[k, o], gm[k, o]) if transpose else (gp[o, k], gm[o, k])
                     for k in range(n_in)]
            y = sum(int(p - m) * v[k] for k, (p, m) in enumerate(cells))
            tot = sum(abs(v[k]) * int(p + m + 2 * c0) for k, (p, m) in enumerate(cells))
            s = lfsr.advance(s, SPEC.lfsr["read_steps"])
            y += (SPEC.gauss[s & 0xFF] * ((rn * tot) >> 16)) >> 8
            want.append(max(-32768, min(32767, (y + 2) >> 2)))
            states[o] = s
        assert got == want
        assert (t.col_lfsr if transpose else t.row_lfsr)[0].tolist() == states


@pytest.mark.parametrize("mode,model,d2d,c2c", NATIVE_CASES)
def test_native_kernels_equal_the_torch_path_on_a_large_tile(monkeypatch, mode, model, d2d, c2c):
    """On the CPU the native kernels do updates and noiseless reads; they must equal the torch
    path (the CUDA path and the fallback) bit for bit."""
    monkeypatch.setenv("MEMHIL_NATIVE", "1")
    native_vs_torch(mode, model, d2d, c2c)


def test_native_kernels_built_without_avx2_equal_the_torch_path(tmp_path):
    """The portable C paths (no AVX2: other CPUs) give the same results: built with -mno-avx2
    into a private cache, in a fresh process."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, MEMHIL_NATIVE_CFLAGS="-mno-avx2 -mno-avx512f",
               MEMHIL_NATIVE_CACHE=str(tmp_path), PYTHONPATH=os.pathsep.join(sys.path))
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from test_twin import native_vs_torch, NATIVE_CASES\n"
            "for case in NATIVE_CASES: native_vs_torch(*case)\n"
            "from test_twin import native_noisy_reads_vs_torch, NOISY_READ_CASES\n"
            "for case in NOISY_READ_CASES: native_noisy_reads_vs_torch(*case)\n"
            "print('ok')" % os.path.dirname(__file__))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]
    assert len(list(tmp_path.glob("memhil_twin_*.so"))) == 1


@pytest.mark.parametrize("mode", ["coincidence", "rounding"])
def test_native_apply_at_the_contract_extremes(monkeypatch, mode):
    """The native apply's 32-bit arithmetic at the bounds of every operand: step tables at
    0xFFFF, d2d factors at their clamp, C2C_Q at its maximum, LR_Q at 2^32 - 1, BL at 255,
    255 pulses per device (batch sums of 256 samples at +-256 * 127 * 127, the largest the
    contract allows, and at random), uniform and non-uniform tables. Same results as the torch
    path (which computes in int64)."""
    from memhil.twin.core import SUM_MAX
    assert SUM_MAX == 256 * 127 * 127
    tb = SPEC.tables
    outs = []
    for flag in ("0", "1"):
        monkeypatch.setenv("MEMHIL_NATIVE", flag)
        t = Twin(40, 70, 1, DeviceConfig(update_mode=mode, d2d_sigma=1.0, c2c_sigma=0.5, seed=3))
        t.write_reg(REG("C2C_Q"), (1 << 14) - 1)
        t.write_reg(REG("D2D_Q"), (1 << 14) - 1)
        t.write_reg(REG("LR_Q"), 0xFFFF_FFFF)
        t.write_reg(REG("CMAX"), (1 << t.g_w) - 1)
        t.write_reg(REG("BL"), 255)
        g = torch.Generator().manual_seed(7)
        res = []
        for uniform in (True, False):
            for k in range(256):
                up = 0xFFFF if uniform else int(torch.randint(0, 0x10000, (1,), generator=g))
                t.write_reg(tb["step_up_base"] + 4 * k, up)
                t.write_reg(tb["step_dn_base"] + 4 * k, 0xFFFF if uniform else 0xFFFF - up)
            for _ in range(3):
                n = 40 * 70
                t.write_cells(0, 0, torch.randint(0, 1 << t.g_w, (n,), generator=g),
                              torch.randint(0, 1 << t.g_w, (n,), generator=g))
                x = torch.randint(-127, 128, (256, 70), generator=g)
                d = torch.randint(-127, 128, (256, 40), generator=g)
                x[:, ::3], x[:, 1::3], d[:, ::2] = 127, -127, 127    # |S| = 256 * 127 * 127
                res.append(t.update(0, x, d))
                res.append(t.read_cells(0, 0, n))
        outs.append((res, t.state_dict()))
    (ra, sa), (rb, sb) = outs
    assert len(ra) == len(rb)
    for a, b in zip(ra, rb):
        if isinstance(a, int):
            assert a == b and a > 0
        else:
            assert all(torch.equal(p, q) for p, q in zip(a, b))
    for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
        assert torch.equal(sa[k], sb[k]), k
