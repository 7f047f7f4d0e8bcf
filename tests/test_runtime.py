"""The Crossbar driver (memhil.runtime.driver) over the in-process loopback to TwinDevice:
the same methods, shapes and results as the Twin, chunking, errors."""
import struct

import pytest
import torch

from memhil.backend import CrossbarError
from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import (MAX_READ, MAX_WRITE_CELLS, Crossbar, DeviceError,
                                   LinkError)
from memhil.runtime.protocol import Op
from memhil.runtime.transport import LoopbackTransport, Transport
from memhil.twin import Twin




def _pair(rows, cols, tiles=1, g_w=16):
    xb = Crossbar(LoopbackTransport(TwinDevice(rows, cols, tiles, g_w=g_w)))
    return xb, Twin(rows, cols, tiles, g_w=g_w)


def test_connect_reads_geometry():
    xb, _ = _pair(5, 7, tiles=3, g_w=9)
    assert (xb.rows, xb.cols, xb.tiles, xb.g_w) == (5, 7, 3, 9)
    info = xb.ping()
    assert info["magic"] == SPEC.magic and info["version"] == SPEC.version
    assert "5x7" in repr(xb)


@pytest.mark.parametrize("mode", ["rounding", "coincidence"])
def test_same_results_as_twin(mode):
    """Every Twin method, called the same way on a Crossbar, gives identical results."""
    R, C, T = 6, 9, 2
    xb, tw = _pair(R, C, T)
    cfg = DeviceConfig(update_mode=mode, seed=11, c2c_sigma=0.2, d2d_sigma=0.1,
                       read_noise_sigma=0.02, bl=20)
    for dev in (xb, tw):
        dev.configure(cfg)
        dev.write_reg(SPEC.reg("LR_Q"), 5000)
        dev.write_reg(SPEC.reg("ADC_SHIFT"), 2)
    g = torch.Generator().manual_seed(1)
    for t in range(T):
        gp = torch.randint(0, cfg.cmax + 1, (R * C,), generator=g)
        gm = torch.randint(0, cfg.cmax + 1, (R * C,), generator=g)
        xb.write_cells(t, 0, gp, gm)
        tw.write_cells(t, 0, gp, gm)
    for step in range(12):
        t = step % T
        B = 1 + step % 3
        x = torch.randint(-127, 128, (B, C), generator=g)
        d = torch.randint(-127, 128, (B, R), generator=g)
        y1, y2 = xb.forward(t, x), tw.forward(t, x)
        assert y1.shape == (B, R) and y1.dtype == torch.int64 and torch.equal(y1, y2)
        z1, z2 = xb.transpose(t, d), tw.transpose(t, d)
        assert z1.shape == (B, C) and torch.equal(z1, z2)
        assert xb.update(t, x, d) == tw.update(t, x, d)
    for t in range(T):
        a, b = xb.read_cells(t, 0, R * C), tw.read_cells(t, 0, R * C)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert torch.equal(xb.read_rng(t, 0, R + C), tw.read_rng(t, 0, R + C))
    snap = xb.snapshot()
    assert "acc" not in snap
    for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
        assert torch.equal(snap[k], getattr(tw, k)), k
    cnt = xb.counters()
    for k in ("CNT_PULSES", "CNT_UPDATES", "CNT_READS"):
        assert cnt[k] == tw.regs[k]
    assert xb.regs["BL"] == 20 and xb.regs["CNT_UPDATES"] == tw.regs["CNT_UPDATES"]
    assert torch.equal(xb.weights(0), tw.weights(0))


def test_large_transfers_are_chunked():
    R, C = 40, 50                                   # 2000 cells: > MAX_READ and > MAX_WRITE
    assert R * C > MAX_READ and R * C > MAX_WRITE_CELLS
    dev = TwinDevice(R, C, g_w=16)
    xb = Crossbar(LoopbackTransport(dev))
    g = torch.Generator().manual_seed(2)
    gp = torch.randint(0, 249, (R * C,), generator=g)
    gm = torch.randint(0, 249, (R * C,), generator=g)
    n0 = xb.stats.commands
    xb.write_cells(0, 0, gp, gm)
    assert xb.stats.commands - n0 == 2
    a, b = xb.read_cells(0, 0, R * C)
    assert torch.equal(a, gp) and torch.equal(b, gm)
    assert torch.equal(dev.twin.gp[0].reshape(-1), gp)
    rng = torch.randint(1, 2**32 - 1, (R + C,), generator=g)
    xb.write_rng(0, 0, rng)
    assert torch.equal(xb.read_rng(0, 0, R + C), rng)
    xb.seed(5)
    tw = Twin(R, C)
    tw.seed(5)
    assert torch.equal(xb.read_rng(0, 0, R + C), tw.read_rng(0, 0, R + C))


def test_device_refusals_raise_clear_errors_and_change_nothing():
    xb, _ = _pair(3, 4, tiles=2)
    dev = xb.transport.device
    before = dev.twin.gp.clone()
    with pytest.raises(DeviceError, match="WRITE_CELLS with BAD_ARG"):
        xb.write_cells(0, 0, [999], [0])             # above CMAX = 248
    assert torch.equal(before, dev.twin.gp)
    with pytest.raises(DeviceError, match=r"WRITE_REG.*register 0x000 \(ID\)"):
        xb.write_reg(SPEC.reg("ID"), 1)
    with pytest.raises(DeviceError, match="BL"):
        xb.write_reg(SPEC.reg("BL"), 0)
    with pytest.raises(CrossbarError, match="tile=2"):
        xb.forward(2, [[0, 0, 0, 0]])
    with pytest.raises(CrossbarError, match="must be integers"):
        xb.forward(0, torch.zeros(1, 4))
    with pytest.raises(CrossbarError, match=r"shape \(B, 4\)"):
        xb.forward(0, torch.zeros(1, 5, dtype=torch.int64))
    with pytest.raises(CrossbarError, match="at least one sample"):
        xb.update(0, torch.zeros(0, 4, dtype=torch.int64), torch.zeros(0, 3, dtype=torch.int64))
    assert xb.read_reg(SPEC.reg("CNT_ERRORS")) == 3
    assert xb.ping()["rows"] == 3                    # still in sync


def test_codes_are_clamped_like_the_twin():
    xb, tw = _pair(2, 3)
    for dev in (xb, tw):
        dev.write_cells(0, 0, [10] * 6, [0] * 6)
    x = torch.tensor([[300, -300, -128]])
    assert torch.equal(xb.forward(0, x), tw.forward(0, x))


class _Mute(Transport):
    """A link to nowhere: every read times out."""

    name = "mute"
    quiet_s = 0.0

    def __init__(self):
        self.writes = 0

    def write(self, data):
        self.writes += 1

    def read(self, timeout):
        return b""


def test_dead_link_gives_a_clear_error_quickly():
    import time

    t = _Mute()
    t0 = time.monotonic()
    with pytest.raises(LinkError, match=r"PING \(SEQ 1\) got no valid answer after 4 tries"):
        Crossbar(t, timeout=0.05, retries=3)
    assert time.monotonic() - t0 < 2.0
    assert t.writes == 4


class _Impostor(Transport):
    """Answers PING with another magic number."""

    name = "impostor"
    synchronous = True

    def __init__(self):
        self.rx = b""

    def write(self, data):
        seq = data[1]
        self.rx += pr.encode_response(seq, Op.PING, 0, pr.ping_payload(1, 1, 1, 0)[:0]
                                      + b"\x00\x00\x00\x00\x01\x00\x01\x00\x01\x00\x01\x00")

    def read(self, timeout):
        out, self.rx = self.rx, b""
        return out


def test_wrong_device_is_named():
    with pytest.raises(LinkError, match="not a memhil device"):
        Crossbar(_Impostor(), timeout=0.05, retries=0)


class _Version2(_Impostor):
    """Answers PING as a contract-version-2 build: 13 bytes, version 2."""

    def write(self, data):
        self.rx += pr.encode_response(data[1], Op.PING, 0, struct.pack(
            "<IHHHBBB", SPEC.magic, 2, 4, 4, 1, 0, 12))


def test_a_version_2_device_is_named():
    """A v2 build (accumulators, 13-byte PING) is refused by name; pr.unpack_ping refuses any
    answer that is not v3's 16 bytes."""
    with pytest.raises(LinkError, match=r"device speaks contract version 2 \(13-byte PING\), "
                                        r"this host 3"):
        Crossbar(_Version2(), timeout=0.05, retries=0)
    with pytest.raises(ValueError, match="PING answer of 13 bytes"):
        pr.unpack_ping(struct.pack("<IHHHBBB", SPEC.magic, 2, 4, 4, 1, 0, 12))
    assert pr.PING_LEN == 16
    info = pr.unpack_ping(pr.ping_payload(3, 4, 2, 1, 13, batch_max=8, bl_max=32))
    assert (info["batch_max"], info["bl_max"], info["max_payload"]) == (8, 32, 1 << 13)


def test_state_dict_round_trip_with_the_twin():
    """Checkpoints: a Twin's state_dict loads into a Crossbar and back, bit for bit."""
    cfg = DeviceConfig(update_mode="coincidence", seed=3, c2c_sigma=0.1, asymmetry=0.2)
    tw = Twin(3, 5, 2, cfg, g_w=8)
    g = torch.Generator().manual_seed(4)
    tw.write_cells(1, 0, torch.randint(0, 249, (15,), generator=g), [7] * 15)
    tw.update(1, torch.randint(-50, 50, (3, 5), generator=g),
              torch.randint(-50, 50, (3, 3), generator=g))
    xb = Crossbar(LoopbackTransport(TwinDevice(3, 5, 2, g_w=8)))
    xb.load_state_dict(tw.state_dict())
    sd = xb.state_dict()
    ref = tw.state_dict()
    for k in ("gp", "gm", "row_lfsr", "col_lfsr", "step_up", "step_dn"):
        assert torch.equal(sd[k], ref[k]), k
    for k, v in sd["regs"].items():
        if not k.startswith("CNT_"):
            assert v == ref["regs"][k], k
    tw2 = Twin(3, 5, 2, g_w=8)
    tw2.load_state_dict(sd)
    x = torch.randint(-127, 128, (2, 5), generator=g)
    assert torch.equal(tw2.forward(1, x), xb.forward(1, x))
    with pytest.raises(CrossbarError, match="geometry"):
        Crossbar(LoopbackTransport(TwinDevice(2, 2, g_w=8))).load_state_dict(sd)


def test_open_crossbar_for_training_code():
    from memhil.runtime import open_crossbar

    cfg = DeviceConfig(update_mode="rounding", seed=2)
    xb = open_crossbar("sim", rows=3, cols=4, tiles=2, config=cfg, model="twin", lockstep=True)
    try:
        assert (xb.rows, xb.cols, xb.tiles, xb.kind) == (3, 4, 2, "sim")
        assert xb.regs["UPDATE_MODE"] == 0 and xb.g_w == cfg.code_bits
        xb.update(1, [[1, 2, 3, 4]], [[5, 6, 7]])
    finally:
        xb.close()
    with pytest.raises(ValueError, match="bitfile= .* or port="):
        open_crossbar("board", rows=3, cols=4, tiles=1, config=cfg)
    with pytest.raises(ValueError, match="kind="):
        open_crossbar("cloud", rows=3, cols=4, tiles=1, config=cfg)


def test_lockstep_training_demo():
    """A network trained on the twin, moved onto the simulated device (twin server here;
    test_sim_link runs the RTL), trains identically in lockstep."""
    from memhil.experiments.lockstep import lockstep_demo
    from memhil.nn.models import crossbar_mlp

    cfg = DeviceConfig(update_mode="coincidence", seed=1)
    net = crossbar_mlp([6, 4, 3], 0, cfg)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(24, 6, generator=g), torch.randint(0, 3, (24,), generator=g)
    res = lockstep_demo(net, x, y, steps=2, batch=8, lr=0.05, config=cfg, sim_model="twin")
    assert res["ok"], res["verdict"]
