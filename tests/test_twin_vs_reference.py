"""The vectorized twin against the loop-by-loop reading of the contract (integers, exact).

Both CPU paths of the twin are checked: the native kernels (MEMHIL_NATIVE=1) and the torch
path that CUDA and machines without a C compiler use (MEMHIL_NATIVE=0)."""
import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memhil import DeviceConfig
from memhil.twin import Twin
from memhil.twin.reference import ReferenceTile

configs = st.builds(
    DeviceConfig,
    levels=st.sampled_from([2, 5, 16, 32]),
    dynamic_range=st.sampled_from([2.0, 15.0, 100.0]),
    sub_bits=st.integers(0, 4),
    step_model=st.sampled_from(["linear", "soft-bounds"]),
    asymmetry=st.sampled_from([0.0, 0.3, -0.2]),
    c2c_sigma=st.sampled_from([0.0, 0.3, 1.5]),
    d2d_sigma=st.sampled_from([0.0, 0.2]),
    read_noise_sigma=st.sampled_from([0.0, 0.05]),
    adc_bits=st.sampled_from([6, 12, 16]),
    update_mode=st.sampled_from(["rounding", "coincidence"]),
    bl=st.integers(1, 40),
    seed=st.integers(0, 2**32),
    d2d_seed=st.integers(0, 2**32),
    stuck_rate=st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]),
    stuck_kind=st.sampled_from(["gmin", "gmax", "current", "mixed"]),
    stuck_seed=st.integers(0, 2**40),
)


def _random_state(twin, g):
    cmax = twin.regs["CMAX"]
    n = twin.rows * twin.cols
    for t in range(twin.tiles):
        twin.write_cells(t, 0, torch.randint(0, cmax + 1, (n,), generator=g),
                         torch.randint(0, cmax + 1, (n,), generator=g))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs, rows=st.integers(1, 7), cols=st.integers(1, 9), tiles=st.integers(1, 2),
       batch=st.integers(1, 3), lr_q=st.integers(0, 300000), adc_shift=st.integers(0, 6),
       seed=st.integers(0, 1000), native=st.sampled_from(["0", "1"]))
def test_twin_matches_reference(cfg, rows, cols, tiles, batch, lr_q, adc_shift, seed, native):
    old = os.environ.get("MEMHIL_NATIVE")
    os.environ["MEMHIL_NATIVE"] = native
    try:
        _check_against_reference(cfg, rows, cols, tiles, batch, lr_q, adc_shift, seed)
    finally:
        if old is None:
            del os.environ["MEMHIL_NATIVE"]
        else:
            os.environ["MEMHIL_NATIVE"] = old


def _check_against_reference(cfg, rows, cols, tiles, batch, lr_q, adc_shift, seed):
    g = torch.Generator().manual_seed(seed)
    twin = Twin(rows, cols, tiles, cfg)
    twin.write_reg(0x034, lr_q)
    twin.write_reg(0x048, adc_shift)
    tile = tiles - 1
    # the write path through the fault map (contract §3, stuck devices), cell by cell
    ref = ReferenceTile(rows, cols, twin.regs, twin.step_up.tolist(), twin.step_dn.tolist(), tile)
    n = rows * cols
    cmax = twin.regs["CMAX"]
    cp = torch.randint(0, cmax + 1, (n,), generator=g)
    cm = torch.randint(0, cmax + 1, (n,), generator=g)
    twin.write_cells(tile, 0, cp, cm)
    for c in range(n):
        ref.write(c // cols, c % cols, int(cp[c]), int(cm[c]))
    assert twin.gp[tile].tolist() == ref.gp and twin.gm[tile].tolist() == ref.gm
    _random_state(twin, g)
    ref = ReferenceTile.from_twin(twin, tile)
    for step in range(3):
        x = torch.randint(-128, 128, (batch, cols), generator=g)
        d = torch.randint(-128, 128, (batch, rows), generator=g)
        assert twin.forward(tile, x).tolist() == [ref.read(v, False) for v in x.tolist()]
        assert twin.transpose(tile, d).tolist() == [ref.read(v, True) for v in d.tolist()]
        before = dict(twin.regs)
        pulses = twin.update(tile, x, d)
        ref_pulses = ref.update(x.tolist(), d.tolist())
        assert pulses == ref_pulses
        # the energy counters of the apply: up, down, stuck
        delta = {k: twin.regs[k] - before[k] for k in
                 ("CNT_PULSES", "CNT_PULSES_UP", "CNT_PULSES_DN", "CNT_PULSES_STUCK")}
        assert delta == {"CNT_PULSES": ref_pulses, "CNT_PULSES_UP": ref.pulses_up,
                         "CNT_PULSES_DN": ref_pulses - ref.pulses_up - ref.pulses_stuck,
                         "CNT_PULSES_STUCK": ref.pulses_stuck}
        assert twin.gp[tile].tolist() == ref.gp
        assert twin.gm[tile].tolist() == ref.gm
        assert twin.row_lfsr[tile].tolist() == ref.row
        assert twin.col_lfsr[tile].tolist() == ref.col


@pytest.fixture(params=["0", "1"], ids=["torch", "native"])
def twin_path(request, monkeypatch):
    monkeypatch.setenv("MEMHIL_NATIVE", request.param)
    return request.param


@pytest.mark.parametrize("mode", ["rounding", "coincidence"])
def test_full_batch_of_extreme_samples_is_exact(twin_path, mode):
    """B = 256 samples of |x d| = 127 * 127 (and BL = 255 coincidences): the batch sums reach
    256 * 16129 = 4,129,024 < 2^23 and are exact (no saturation in contract version 3); the
    twin's apply equals the reference's, and the sums leave no state behind (a second update
    equals the reference's again)."""
    cfg = DeviceConfig(update_mode=mode, bl=255)
    twin = Twin(2, 3, 1, cfg)
    twin.write_reg(0x034, 1)                   # LR_Q = 1: n = S / 2^16 (+1) stays below NMAX
    twin.write_cells(0, 0, [100, 0, 248, 30, 60, 90], [0, 100, 0, 200, 60, 9])
    ref = ReferenceTile.from_twin(twin)
    x = torch.tensor([[127, -127, 127]]).repeat(256, 1)
    d = torch.tensor([[127, -127]]).repeat(256, 1)
    for _ in range(2):
        pulses = twin.update(0, x, d)
        assert pulses == ref.update(x.tolist(), d.tolist())
        assert twin.gp[0].tolist() == ref.gp and twin.gm[0].tolist() == ref.gm
        assert twin.row_lfsr[0].tolist() == ref.row and twin.col_lfsr[0].tolist() == ref.col
    # every cell's |S| is large: rounding n = 4129024 / 2^16 = 63 (+1), coincidence n = NMAX
    if mode == "rounding":
        assert 6 * 63 <= pulses <= 6 * 64
    else:
        assert pulses == 6 * 255


def test_update_batch_limits(twin_path):
    twin = Twin(2, 3, 1, DeviceConfig(), batch_max=8)
    assert twin.batch_max == 8
    with pytest.raises(ValueError, match=r"B=9 samples is not allowed: must be in \[1, 8\]"):
        twin.update(0, torch.zeros(9, 3, dtype=torch.int64), torch.zeros(9, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match=r"B=0 samples"):
        twin.update(0, torch.zeros(0, 3, dtype=torch.int64), torch.zeros(0, 2, dtype=torch.int64))
    assert twin.update(0, torch.zeros(8, 3, dtype=torch.int64),
                       torch.zeros(8, 2, dtype=torch.int64)) == 0
    with pytest.raises(ValueError, match="batch_max=257 is not allowed"):
        Twin(1, 1, 1, batch_max=257)
    with pytest.raises(ValueError, match="bl_max=0 is not allowed"):
        Twin(1, 1, 1, bl_max=0)


def test_level_index_saturates_at_the_last_table_entry(twin_path):
    # registers set outside the levels mapping: CMAX 65535 with SUB_BITS 0 (level index > 255)
    twin = Twin(1, 2, 1, g_w=16)
    twin.write_reg(0x020, 65535)
    twin.write_reg(0x024, 0)
    twin.write_reg(0x400 + 4 * 255, 700)          # STEP_UP[255]
    twin.write_reg(0x800 + 4 * 255, 300)          # STEP_DN[255]
    twin.write_cells(0, 0, [40000, 30000], [20000, 30000])
    twin.write_reg(0x02C, 0)                      # rounding
    twin.write_reg(0x034, 1 << 16)                # LR_Q = 1.0: n = |S| exactly
    ref = ReferenceTile.from_twin(twin)
    x, d = torch.tensor([[5, -5]]), torch.tensor([[1]])
    assert twin.update(0, x, d) == ref.update(x.tolist(), d.tolist()) == 10
    assert twin.gp[0].tolist() == ref.gp and twin.gm[0].tolist() == ref.gm
    assert twin.gp[0, 0, 0] != 40000 and twin.gm[0, 0, 1] != 30000


def test_cmax_resets_within_the_code_width():
    assert Twin(1, 1, 1, g_w=4).regs["CMAX"] == 15
    assert Twin(1, 1, 1, g_w=8).regs["CMAX"] == 248
