"""Batched commands (contract §8): FORWARD_B and TRANSPOSE_B carry B samples in one frame and
are defined as the B single-sample commands in order; UPDATE_B is one update of B samples (the
batch sums, then one apply; contract version 3 has no accumulators, so it is not B UPDATEs);
LEN is 24 bits, MAX_PAYLOAD = 2^PAYLOAD_LOG2, BATCH_MAX and BL_MAX are the build's. Checked on
the protocol-level model (TwinDevice, the reference the RTL testbenches compare against) and
through the driver."""
import random
import struct

import numpy as np
import pytest
import torch

from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar
from memhil.runtime.protocol import Op, Status
from memhil.runtime.transport import LoopbackTransport
from memhil.twin import Twin

R, C, T = 5, 7, 2


def _pair(mode: str, payload_log2: int = 12):
    """Two identical devices (configured, random codes) to run a batch on one and its
    single-sample commands on the other."""
    devs = []
    for _ in range(2):
        d = TwinDevice(R, C, T, g_w=8, payload_log2=payload_log2)
        d.twin.configure(DeviceConfig(update_mode=mode, seed=4, c2c_sigma=0.3, d2d_sigma=0.2,
                                      read_noise_sigma=0.05, bl=13, adc_bits=10))
        d.twin.regs["LR_Q"] = 3000
        g = torch.Generator().manual_seed(8)
        for t in range(T):
            d.twin.write_cells(t, 0, torch.randint(0, 249, (R * C,), generator=g),
                               torch.randint(0, 249, (R * C,), generator=g))
        devs.append(d)
    return devs


def _state(d: TwinDevice):
    t = d.twin
    return [t.gp.clone(), t.gm.clone(), t.row_lfsr.clone(), t.col_lfsr.clone(), dict(t.regs)]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a[:4], b[:4])) and a[4] == b[4]


def _one(dev, frame):
    rs = pr.ResponseDecoder().feed(dev.feed(frame))
    assert len(rs) == 1, rs
    return rs[0]


@pytest.mark.parametrize("mode", ["rounding", "coincidence"])
def test_batched_commands_equal_the_single_sample_sequence(mode):
    """Every batched read answers and leaves the state exactly as its B single-sample commands
    do (outputs, codes, LFSRs, counters), read noise on; UPDATE_B of B samples answers and
    leaves the state as the twin's one update of those B samples (and, for B = 1, as one
    UPDATE)."""
    rng = random.Random(mode)
    a, b = _pair(mode)
    seq = 0
    for step in range(40):
        tile, B = rng.randrange(T), rng.randint(1, 9)
        x = [[rng.randint(-128, 127) for _ in range(C)] for _ in range(B)]
        d = [[rng.randint(-128, 127) for _ in range(R)] for _ in range(B)]
        kind = rng.choice(["fwd", "trn", "upd", "upd1"])
        if kind == "upd1":
            B, x, d = 1, x[:1], d[:1]
        seq += 1
        if kind in ("fwd", "trn"):
            op1, opb, v = ((Op.FORWARD, Op.FORWARD_B, x) if kind == "fwd"
                           else (Op.TRANSPOSE, Op.TRANSPOSE_B, d))
            rb = _one(a, pr.encode_command(seq, opb, pr.pack_batch(tile, v)))
            singles = b""
            for s in v:
                seq += 1
                r1 = _one(b, pr.encode_command(seq, op1, bytes([tile]) + pr.pack_i8s(s)))
                assert r1.ok
                singles += r1.payload
            assert rb.ok and rb.payload == singles
            assert len(rb.payload) == 2 * B * (R if kind == "fwd" else C)
        else:
            rb = _one(a, pr.encode_command(seq, Op.UPDATE_B,
                                           pr.pack_update_batch(tile, True, x, d)))
            if kind == "upd1":
                seq += 1
                r1 = _one(b, pr.encode_command(seq, Op.UPDATE,
                                               pr.pack_update(tile, True, x[0], d[0])))
                assert r1.ok
                want = r1.payload
            else:
                want = struct.pack("<I", b.twin.update(tile, torch.tensor(x), torch.tensor(d)))
            assert rb.ok and rb.payload == want
        assert _same(_state(a), _state(b)), (step, kind)
    assert a.twin.regs["CNT_PULSES"] > 0 and a.twin.regs["CNT_READS"] > 0


def test_batched_argument_errors_change_nothing():
    dev = TwinDevice(R, C, T, g_w=8)
    before = _state(dev)
    x1, d1 = [0] * C, [0] * R
    maxp = dev.max_payload
    big_fwd = maxp // (2 * R) + 1            # the answer would exceed MAX_PAYLOAD
    cases = {
        "B = 0": (Op.FORWARD_B, struct.pack("<BH", 0, 0), Status.BAD_ARG),
        "tile": (Op.FORWARD_B, pr.pack_batch(T, [x1]), Status.BAD_ARG),
        "B > MAX_BATCH": (Op.UPDATE_B, pr.pack_update_batch(0, True, [x1] * 257, [d1] * 257),
                          Status.BAD_ARG),
        "answer too long": (Op.FORWARD_B, pr.pack_batch(0, [x1] * big_fwd), Status.BAD_ARG),
        "flags": (Op.UPDATE_B, struct.pack("<BBH", 0, 2, 1) + bytes(C + R), Status.BAD_ARG),
        "LEN one short": (Op.TRANSPOSE_B, pr.pack_batch(0, [d1, d1])[:-1], Status.BAD_LEN),
        "LEN one long": (Op.UPDATE_B, pr.pack_update_batch(0, True, [x1], [d1]) + b"\0",
                         Status.BAD_LEN),
    }
    assert big_fwd * C + 3 <= maxp           # the command itself fits: only the answer is long
    for seq, (what, (op, payload, status)) in enumerate(cases.items()):
        r = _one(dev, pr.encode_command(seq, op, payload))
        assert (r.status, r.payload) == (status, b""), what
    after = _state(dev)
    assert all(torch.equal(x, y) for x, y in zip(before[:4], after[:4]))
    assert dev.read_reg(SPEC.reg("CNT_ERRORS")) == len(cases)


def test_v3_refusals_on_a_small_build():
    """Contract version 3 on TwinDevice(batch_max=8, bl_max=32): READ_ACC/WRITE_ACC's former
    opcodes are BAD_OP; UPDATE/UPDATE_B flags other than exactly 1 (APPLY) are BAD_ARG; a B
    above BATCH_MAX is BAD_ARG for every batched command; a BL above BL_MAX is a refused write;
    none changes anything. PING and GEOMETRY2 report the build's limits, BL resets within
    BL_MAX, and a repeated SEQ/OP is replayed before the arguments are looked at."""
    dev = TwinDevice(R, C, T, g_w=8, batch_max=8, bl_max=32)
    dev.twin.configure(DeviceConfig(update_mode="coincidence", seed=2, bl=20))
    before = _state(dev)
    x1, d1 = [3] * C, [-4] * R
    bl_addr = SPEC.reg("BL")
    cases = {
        "READ_ACC (0x14)": (0x14, pr.pack_range(0, 0, 1), Status.BAD_OP),
        "WRITE_ACC (0x15)": (0x15, pr.pack_range(0, 0, 1) + pr.pack_i32s([0]), Status.BAD_OP),
        "UPDATE flags 0": (Op.UPDATE, pr.pack_update(0, False, x1, d1), Status.BAD_ARG),
        "UPDATE flags 3": (Op.UPDATE, pr.pack_update(0, 3, x1, d1), Status.BAD_ARG),
        "UPDATE flags 0x80": (Op.UPDATE, pr.pack_update(0, 0x80, x1, d1), Status.BAD_ARG),
        "UPDATE_B flags 0": (Op.UPDATE_B, pr.pack_update_batch(0, 0, [x1], [d1]),
                             Status.BAD_ARG),
        "UPDATE_B flags 2": (Op.UPDATE_B, pr.pack_update_batch(0, 2, [x1], [d1]),
                             Status.BAD_ARG),
        "UPDATE_B B = 9": (Op.UPDATE_B, pr.pack_update_batch(0, True, [x1] * 9, [d1] * 9),
                           Status.BAD_ARG),
        "UPDATE_B B = 0": (Op.UPDATE_B, struct.pack("<BBH", 0, 1, 0), Status.BAD_ARG),
        "FORWARD_B B = 9": (Op.FORWARD_B, pr.pack_batch(0, [x1] * 9), Status.BAD_ARG),
        "TRANSPOSE_B B = 9": (Op.TRANSPOSE_B, pr.pack_batch(1, [d1] * 9), Status.BAD_ARG),
        "BL = 33": (Op.WRITE_REG, pr.pack_write_reg(bl_addr, 33), Status.BAD_ARG),
        "BL = 255": (Op.WRITE_REG, pr.pack_write_reg(bl_addr, 255), Status.BAD_ARG),
    }
    for seq, (what, (op, payload, status)) in enumerate(cases.items()):
        r = _one(dev, pr.encode_command(seq, op, payload))
        assert (r.status, r.payload) == (status, b""), what
    assert _same(before[:4] + [None], _state(dev)[:4] + [None])
    assert dev.read_reg(SPEC.reg("CNT_ERRORS")) == len(cases)
    assert dev.twin.regs["BL"] == 20 and dev.twin.regs["CNT_UPDATES"] == 0
    # what the build reports
    ping = pr.unpack_ping(_one(dev, pr.encode_command(40, Op.PING)).payload)
    assert (ping["version"], ping["batch_max"], ping["bl_max"]) == (3, 8, 32)
    g2 = dev.read_reg(SPEC.reg("GEOMETRY2"))
    assert g2 == 8 | (32 << 16) and SPEC.unpack("GEOMETRY2", g2) == {"BATCH_MAX": 8, "BL_MAX": 32}
    assert SPEC.reg("GEOMETRY2") == 0x018
    assert TwinDevice(2, 2, bl_max=16).twin.regs["BL"] == 16          # reset min(31, BL_MAX)
    assert TwinDevice(2, 2).read_reg(SPEC.reg("GEOMETRY2")) == 256 | (255 << 16)
    # the limits themselves are accepted
    assert _one(dev, pr.encode_command(41, Op.WRITE_REG, pr.pack_write_reg(bl_addr, 32))).ok
    r = _one(dev, pr.encode_command(42, Op.UPDATE_B, pr.pack_update_batch(1, True, [x1] * 8,
                                                                          [d1] * 8)))
    assert r.ok and dev.twin.regs["CNT_UPDATES"] == 8
    assert _one(dev, pr.encode_command(43, Op.FORWARD_B, pr.pack_batch(0, [x1] * 8))).ok
    # replay first: the same SEQ/OP again, now with flags 0, answers the stored response
    ok = _one(dev, pr.encode_command(44, Op.UPDATE, pr.pack_update(1, True, x1, d1)))
    assert ok.ok
    errors = dev.errors
    again = _one(dev, pr.encode_command(44, Op.UPDATE, pr.pack_update(1, False, x1, d1)))
    assert again == ok and dev.errors == errors and dev.twin.regs["CNT_UPDATES"] == 9
    # a bad tile is refused before the flags are looked at (both BAD_ARG, nothing changes)
    r = _one(dev, pr.encode_command(45, Op.UPDATE, pr.pack_update(T, 0, x1, d1)))
    assert r.status == Status.BAD_ARG


def test_v3_driver_and_twin_refuse_beyond_the_builds_limits():
    """The driver reads BATCH_MAX/BL_MAX from GEOMETRY2, refuses BL above BL_MAX before sending
    (naming the build's limit, as the twin does), and splits a minibatch above BATCH_MAX into
    UPDATE_B chunks that are each applied: the same as those chunks' updates on a twin."""
    dev = TwinDevice(R, C, 1, g_w=8, batch_max=8, bl_max=32)

    class Counting(LoopbackTransport):
        ops: list = []

        def write(self, data):
            self.ops.append(data[2])
            super().write(data)

    tr = Counting(dev)
    xb = Crossbar(tr)
    tw = Twin(R, C, 1, g_w=8, batch_max=8, bl_max=32)
    assert (xb.batch_max, xb.bl_max) == (8, 32) and xb.update_batch_max() == 8
    cfg = DeviceConfig(update_mode="rounding", seed=6, c2c_sigma=0.2, bl=32)
    for b in (xb, tw):
        b.configure(cfg)
        b.write_reg(SPEC.reg("LR_Q"), 4000)
        b.write_cells(0, 0, np.arange(R * C) % 200, np.arange(R * C)[::-1] % 200)
        with pytest.raises(ValueError, match=r"register BL: value 33 must be in \[1, 32\] "
                                             r"\(this build's BL_MAX is 32\)"):
            b.write_reg(SPEC.reg("BL"), 33)
        with pytest.raises(ValueError, match="BL"):
            b.configure(cfg.replace(bl=40))
    g = torch.Generator().manual_seed(2)
    x = torch.randint(-127, 128, (20, C), generator=g)
    d = torch.randint(-127, 128, (20, R), generator=g)
    tr.ops.clear()
    pulses = xb.update(0, x, d)
    assert tr.ops.count(Op.UPDATE_B) == 3                     # 8 + 8 + 4 samples
    assert pulses == sum(tw.update(0, x[b: b + 8], d[b: b + 8]) for b in (0, 8, 16)) > 0
    with pytest.raises(ValueError, match=r"B=20 samples is not allowed: must be in \[1, 8\]"):
        tw.update(0, x, d)
    assert np.array_equal(np.asarray(xb.forward(0, x)), tw.forward(0, x).numpy())
    assert tr.ops.count(Op.FORWARD_B) == 3
    gp, gm = xb.read_cells(0, 0, R * C)
    assert np.array_equal(np.asarray(gp), tw.gp[0].reshape(-1).numpy())
    assert np.array_equal(np.asarray(gm), tw.gm[0].reshape(-1).numpy())
    sd = xb.state_dict()
    assert "acc" not in sd and (sd["batch_max"], sd["bl_max"]) == (8, 32)
    with pytest.raises(ValueError, match="'acc' holds 1 non-zero"):
        xb.load_state_dict(dict(sd, acc=np.eye(1, R * C, dtype=np.int64).reshape(1, R, C)))
    xb.load_state_dict(dict(sd, acc=np.zeros((1, R, C), dtype=np.int64)))


def test_len_is_24_bits_and_max_payload_is_the_builds():
    """A 4096-byte build refuses LEN 4097 at once; a 2^17 build takes a 66,628-byte UPDATE_B
    (the paper's first layer, 785 x 256, B = 64) and reports its size in PING and GEOMETRY1."""
    small = TwinDevice(3, 4)
    r = _one(small, bytes([pr.SOF_CMD, 1, Op.WRITE_CELLS]) + (4097).to_bytes(3, "little"))
    assert r.status == Status.BAD_LEN
    assert pr.unpack_ping(_one(small, pr.encode_command(2, Op.PING)).payload)["max_payload"] == 4096
    big = TwinDevice(256, 785, 1, g_w=8, payload_log2=17)
    ping = pr.unpack_ping(_one(big, pr.encode_command(1, Op.PING)).payload)
    assert (ping["payload_log2"], ping["max_payload"]) == (17, 131072)
    assert SPEC.unpack("GEOMETRY1", big.read_reg(SPEC.reg("GEOMETRY1")))["PAYLOAD_LOG2"] == 17
    g = torch.Generator().manual_seed(1)
    x = torch.randint(-127, 128, (64, 785), generator=g).tolist()
    d = torch.randint(-127, 128, (64, 256), generator=g).tolist()
    frame = pr.encode_command(2, Op.UPDATE_B, pr.pack_update_batch(0, True, x, d))
    assert len(frame) - 8 == 66_628 > 0xFFFF                  # LEN needs the third byte
    assert _one(big, frame).ok
    assert big.twin.regs["CNT_UPDATES"] == 64
    with pytest.raises(ValueError, match="payload_log2"):
        TwinDevice(2, 2, payload_log2=21)


@pytest.mark.parametrize("plog2", [12, 15])
def test_driver_sends_as_few_batched_frames_as_fit(plog2):
    """The driver packs samples into as few FORWARD_B/TRANSPOSE_B/UPDATE_B frames as the
    build's MAX_PAYLOAD allows, and the results equal the Twin's."""
    rows, cols = 20, 90

    class Counting(LoopbackTransport):
        ops: list = []

        def write(self, data):
            self.ops.append((data[2], len(data)))
            super().write(data)

    dev = TwinDevice(rows, cols, 1, g_w=8, payload_log2=plog2)
    tr = Counting(dev)
    xb = Crossbar(tr)
    tw = Twin(rows, cols, 1, g_w=8)
    cfg = DeviceConfig(update_mode="coincidence", seed=3, read_noise_sigma=0.02)
    for b in (xb, tw):
        b.configure(cfg)
        b.write_cells(0, 0, np.arange(rows * cols) % 200, np.arange(rows * cols)[::-1] % 200)
    g = torch.Generator().manual_seed(5)
    x = torch.randint(-127, 128, (100, cols), generator=g)
    d = torch.randint(-127, 128, (100, rows), generator=g)
    tr.ops.clear()
    assert np.array_equal(np.asarray(xb.forward(0, x)), tw.forward(0, x).numpy())
    assert np.array_equal(np.asarray(xb.transpose(0, d)), tw.transpose(0, d).numpy())
    k = xb.update_batch_max()                 # UPDATE_B chunks, each applied (contract v3)
    assert k == min(256, ((1 << plog2) - 4) // (rows + cols))
    assert xb.update(0, x, d) == sum(tw.update(0, x[b: b + k], d[b: b + k])
                                     for b in range(0, 100, k))
    maxp = 1 << plog2
    per = {Op.FORWARD_B: min(256, (maxp - 4) // cols, maxp // (2 * rows)),
           Op.TRANSPOSE_B: min(256, (maxp - 4) // rows, maxp // (2 * cols)),
           Op.UPDATE_B: min(256, (maxp - 4) // (rows + cols))}
    for op, k in per.items():
        frames = [n for o, n in tr.ops if o == op]
        assert len(frames) == -(-100 // k), (op, k)
        assert max(frames) - 9 <= maxp
    gp, gm = xb.read_cells(0, 0, rows * cols)
    assert np.array_equal(np.asarray(gp), tw.gp[0].reshape(-1).numpy())
    assert np.array_equal(np.asarray(gm), tw.gm[0].reshape(-1).numpy())
