"""Stuck devices and the energy counters (contract §3 "Stuck devices", §7 counters).

The twin against its own definition: which devices are stuck (the hash rule, statistically and
exactly), what a write stores in them, that an apply leaves them alone and counts their pulses,
the read/DAC/ADC counters of every operation, CTRL clear, ``DeviceConfig``'s fields and
registers. tests/test_twin_vs_reference.py holds the twin to the plain-loop reference with
faults on, tests/test_fused.py the fused step, sim/test_array and sim/test_top the RTL.
"""
from __future__ import annotations

import math

import pytest
import torch

from memhil import DeviceConfig
from memhil.backend import COUNTERS
from memhil.config import ConfigError
from memhil.contract.hashing import mix32
from memhil.contract.spec import SPEC
from memhil.twin import Twin
from memhil.twin.reference import ReferenceTile

FK = SPEC.fault_kind


@pytest.fixture(params=["0", "1"], ids=["torch", "native"])
def twin_path(request, monkeypatch):
    monkeypatch.setenv("MEMHIL_NATIVE", request.param)
    return request.param


def _faults(twin, rate, kind, key):
    for name, v in (("FAULT_RATE", rate), ("FAULT_KIND", kind), ("FAULT_KEY", key)):
        twin.write_reg(SPEC.reg(name), v)


def test_fault_rate_and_mixed_kinds_statistics():
    """Over 2 x 512 x 512 devices the stuck fraction is FAULT_RATE / 65536 within 5 standard
    errors (0.0021 at 10 %), and MIXED splits the stuck devices 1/3 each within 5 standard
    errors (0.0092 for ~52,000 devices). Fixed key: the figures are reproducible."""
    twin = Twin(512, 512, 1)
    _faults(twin, 6554, FK["MIXED"], mix32(12345))
    kinds = twin.fault_kinds()[0]
    n = kinds.numel()
    p = 6554 / 65536
    stuck = int((kinds >= 0).sum())
    assert abs(stuck / n - p) < 5 * math.sqrt(p * (1 - p) / n)
    for k in (FK["GMIN"], FK["GMAX"], FK["CURRENT"]):
        share = int((kinds == k).sum()) / stuck
        assert abs(share - 1 / 3) < 5 * math.sqrt((1 / 3) * (2 / 3) / stuck), (k, share)
    # a fixed kind: every stuck device has it; the same devices are stuck (the rate test
    # uses the high half of the hash, the kind its low half)
    _faults(twin, 6554, FK["GMAX"], mix32(12345))
    k2 = twin.fault_kinds()[0]
    assert torch.equal(k2 >= 0, kinds >= 0) and bool((k2[k2 >= 0] == FK["GMAX"]).all())


def test_fault_map_is_the_hash_rule():
    """Device by device, the map is the contract's formula on the d2d key."""
    twin = Twin(3, 5, 2)
    key = mix32(77)
    _faults(twin, 30000, FK["MIXED"], key)
    kinds = twin.fault_kinds()[0]
    for t in range(2):
        for i in range(3):
            for j in range(5):
                for dev in (0, 1):
                    h = mix32((((t << 21) | ((i * 5 + j) << 1) | dev) & 0xFFFFFFFF) ^ key)
                    want = ((h & 0xFFFF) * 3) >> 16 if (h >> 16) < 30000 else -1
                    assert int(kinds[dev, t, i, j]) == want
    _faults(twin, 0, FK["MIXED"], key)
    assert twin.fault_kinds() is None
    _faults(twin, 65535, FK["CURRENT"], key)      # 65535: all but 1/65536 of the devices
    assert int((twin.fault_kinds()[0] >= 0).sum()) >= 2 * 2 * 15 - 1


@pytest.mark.parametrize("kind", ["GMIN", "GMAX", "CURRENT"])
def test_stuck_devices_hold_their_code_through_writes_and_applies(twin_path, kind):
    twin = Twin(8, 8, 1, DeviceConfig(update_mode="rounding"))
    _faults(twin, 20000, FK[kind], mix32(3))
    cmax = twin.regs["CMAX"]
    g = torch.Generator().manual_seed(1)
    cp = torch.randint(1, cmax, (64,), generator=g)
    cm = torch.randint(1, cmax, (64,), generator=g)
    twin.write_cells(0, 0, cp, cm)
    kinds = twin.fault_kinds()[0][:, 0].reshape(2, -1)
    stuck = kinds >= 0
    assert 0 < int(stuck.sum()) < 128
    held = {"GMIN": 0, "GMAX": cmax}
    written = torch.stack([cp, cm])
    codes = torch.stack([twin.gp[0].reshape(-1), twin.gm[0].reshape(-1)])
    want = torch.full_like(written, held[kind]) if kind in held else written
    assert torch.equal(codes[stuck], want[stuck])
    assert torch.equal(codes[~stuck], written[~stuck])
    twin.write_reg(SPEC.reg("LR_Q"), 3 << 16)
    before = codes.clone()
    c0 = twin.counters()
    x = torch.randint(-127, 128, (4, 8), generator=g)
    d = torch.randint(-127, 128, (4, 8), generator=g)
    pulses = twin.update(0, x, d)
    after = torch.stack([twin.gp[0].reshape(-1), twin.gm[0].reshape(-1)])
    assert torch.equal(after[stuck], before[stuck])          # stuck devices never move
    assert not torch.equal(after[~stuck], before[~stuck])    # the others do
    c1 = twin.counters()
    got = {k: c1[k] - c0[k] for k in ("CNT_PULSES", "CNT_PULSES_UP", "CNT_PULSES_DN",
                                       "CNT_PULSES_STUCK")}
    assert got["CNT_PULSES"] == pulses > 0
    assert got["CNT_PULSES_STUCK"] > 0 and got["CNT_PULSES_UP"] > 0 and got["CNT_PULSES_DN"] > 0
    assert got["CNT_PULSES_UP"] + got["CNT_PULSES_DN"] + got["CNT_PULSES_STUCK"] == pulses


def test_fault_registers_act_at_the_next_write_and_apply(twin_path):
    """Codes written before the fault registers keep their values until rewritten; the apply
    honours the new map at once; load_state_dict passes the codes through the map."""
    twin = Twin(4, 4, 1, DeviceConfig(update_mode="rounding"))
    twin.write_cells(0, 0, [100] * 16, [50] * 16)
    _faults(twin, 40000, FK["GMIN"], mix32(8))
    assert twin.gp[0].eq(100).all() and twin.gm[0].eq(50).all()       # not rewritten yet
    stuck = twin.fault_kinds()[1][0]
    sd = twin.state_dict()
    twin.write_reg(SPEC.reg("LR_Q"), 1 << 16)
    twin.update(0, [[8] * 4], [[5] * 4])                               # a sum of 40 in every cell
    assert twin.gp[0][(stuck & 1).bool()].eq(100).all()              # stuck: not moved
    twin.load_state_dict(sd)                                           # through the map
    assert twin.gp[0][(stuck & 1).bool()].eq(0).all()
    assert twin.gm[0][(stuck & 2).bool()].eq(0).all()
    assert twin.gp[0][~(stuck & 1).bool()].eq(100).all()


def test_torch_and_native_apply_agree_with_faults(monkeypatch):
    cfg = DeviceConfig(update_mode="coincidence", c2c_sigma=0.3, d2d_sigma=0.1, stuck_rate=0.3,
                       stuck_kind="mixed", stuck_seed=5)
    out = []
    for native in ("0", "1"):
        monkeypatch.setenv("MEMHIL_NATIVE", native)
        twin = Twin(13, 21, 2, cfg)
        g = torch.Generator().manual_seed(4)
        cmax = twin.regs["CMAX"]
        for t in range(2):
            twin.write_cells(t, 0, torch.randint(0, cmax + 1, (273,), generator=g),
                             torch.randint(0, cmax + 1, (273,), generator=g))
        for _ in range(4):
            twin.update(1, torch.randint(-127, 128, (3, 21), generator=g),
                        torch.randint(-127, 128, (3, 13), generator=g))
        out.append((twin.gp.clone(), twin.gm.clone(), twin.counters()))
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])
    assert out[0][2] == out[1][2] and out[0][2]["CNT_PULSES_STUCK"] > 0


def test_energy_counters_of_every_operation(twin_path):
    R, C = 5, 7
    twin = Twin(R, C, 2, DeviceConfig(read_noise_sigma=0.02))
    g = torch.Generator().manual_seed(2)
    twin.forward(0, torch.randint(-127, 128, (3, C), generator=g))
    twin.transpose(1, torch.randint(-127, 128, (2, R), generator=g))
    twin.update(0, torch.randint(-127, 128, (4, C), generator=g),
                torch.randint(-127, 128, (4, R), generator=g))
    c = twin.counters()
    assert c["CNT_READS"] == 5 and c["CNT_UPDATES"] == 4
    assert c["CNT_CELL_READS"] == 5 * R * C
    assert c["CNT_DAC"] == 3 * C + 2 * R + 4 * (R + C)
    assert c["CNT_ADC"] == 3 * R + 2 * C
    twin.write_reg(SPEC.reg("CTRL"), 1)
    assert set(twin.counters().values()) == {0}
    assert {"CNT_PULSES_UP", "CNT_PULSES_DN", "CNT_PULSES_STUCK", "CNT_CELL_READS", "CNT_DAC",
            "CNT_ADC"} <= set(COUNTERS)


def test_counters_wrap_mod_2_32():
    twin = Twin(1024, 1024, 1)
    x = torch.zeros(256, 1024, dtype=torch.int64)
    for _ in range(16):
        twin.forward(0, x)                        # 16 * 256 * 2^20 = 2^32 cells
    assert twin.counters()["CNT_CELL_READS"] == 0
    assert twin.counters()["CNT_READS"] == 4096


def test_device_config_stuck_fields():
    r = DeviceConfig().registers()
    assert r["FAULT_RATE"] == 0 and r["FAULT_KIND"] == FK["MIXED"] and r["FAULT_KEY"] == mix32(2)
    r = DeviceConfig(stuck_rate=0.1, stuck_kind="gmax", stuck_seed=9).registers()
    assert (r["FAULT_RATE"], r["FAULT_KIND"], r["FAULT_KEY"]) == (6554, FK["GMAX"], mix32(9))
    assert DeviceConfig(stuck_rate=1.0).registers()["FAULT_RATE"] == 65535
    # the fault registers come before anything that writes codes: right after CMAX
    names = list(r)
    assert names.index("FAULT_RATE") == names.index("CMAX") + 1
    for kw, field in ((dict(stuck_rate=1.5), "stuck_rate"), (dict(stuck_rate=-0.1), "stuck_rate"),
                      (dict(stuck_rate=float("nan")), "stuck_rate"),
                      (dict(stuck_kind="open"), "stuck_kind"), (dict(stuck_seed=-1), "stuck_seed"),
                      (dict(stuck_seed=1.5), "stuck_seed")):
        with pytest.raises(ConfigError) as ei:
            DeviceConfig(**kw)
        assert ei.value.field == field and field in str(ei.value)
    assert "gmin" in str(pytest.raises(ConfigError, DeviceConfig, stuck_kind="x").value)


def test_fault_register_ranges():
    twin = Twin(2, 2, 1)
    for name, bad in (("FAULT_RATE", 65536), ("FAULT_KIND", 4)):
        with pytest.raises(ValueError):
            twin.write_reg(SPEC.reg(name), bad)
    twin.write_reg(SPEC.reg("FAULT_KEY"), 0xFFFFFFFF)
    assert twin.read_reg(SPEC.reg("FAULT_KEY")) == 0xFFFFFFFF


def test_reference_write_and_apply_with_faults():
    """A hand-made case: a stuck-at-Gmax G- with a positive batch sum on a low pair."""
    twin = Twin(1, 64, 1, DeviceConfig(update_mode="rounding"))
    twin.write_reg(SPEC.reg("LR_Q"), 1 << 16)      # n = the sum exactly
    _faults(twin, 65535, FK["GMAX"], 0)            # (almost) everything stuck at Gmax
    twin.write_cells(0, 0, [3] * 64, [4] * 64)
    cmax = twin.regs["CMAX"]
    stuck = twin.fault_kinds()[0][:, 0, 0]
    assert bool(((twin.gp[0, 0] == cmax) == (stuck[0] >= 0)).all())
    ref = ReferenceTile.from_twin(twin)
    assert twin.update(0, [[1] * 64], [[5]]) == ref.update([[1] * 64], [[5]]) == 5 * 64
    assert twin.gp[0].tolist() == ref.gp and twin.gm[0].tolist() == ref.gm
    assert twin.counters()["CNT_PULSES_STUCK"] == ref.pulses_stuck
