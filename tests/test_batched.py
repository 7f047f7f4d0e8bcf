"""Batched commands of contract version 2 (§8): FORWARD_B, TRANSPOSE_B and UPDATE_B carry B
samples in one frame and are defined as the B single-sample commands in order; LEN is 24 bits
and MAX_PAYLOAD = 2^PAYLOAD_LOG2 is the build's. Checked on the protocol-level model
(TwinDevice, the reference the RTL testbenches compare against) and through the driver."""
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
    return [t.gp.clone(), t.gm.clone(), t.acc.clone(), t.row_lfsr.clone(), t.col_lfsr.clone(),
            dict(t.regs)]


def _same(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a[:5], b[:5])) and a[5] == b[5]


def _one(dev, frame):
    rs = pr.ResponseDecoder().feed(dev.feed(frame))
    assert len(rs) == 1, rs
    return rs[0]


@pytest.mark.parametrize("mode", ["rounding", "coincidence"])
def test_batched_commands_equal_the_single_sample_sequence(mode):
    """Every batched command answers and leaves the state exactly as its B single-sample
    commands do (outputs, pulses, codes, accumulators, LFSRs, counters), read noise on."""
    rng = random.Random(mode)
    a, b = _pair(mode)
    seq = 0
    for step in range(40):
        tile, B = rng.randrange(T), rng.randint(1, 9)
        x = [[rng.randint(-128, 127) for _ in range(C)] for _ in range(B)]
        d = [[rng.randint(-128, 127) for _ in range(R)] for _ in range(B)]
        kind = rng.choice(["fwd", "trn", "upd", "acc"])
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
            apply = kind == "upd"
            rb = _one(a, pr.encode_command(seq, Op.UPDATE_B,
                                           pr.pack_update_batch(tile, apply, x, d)))
            for i in range(B):
                seq += 1
                last = apply and i == B - 1
                r1 = _one(b, pr.encode_command(seq, Op.UPDATE,
                                               pr.pack_update(tile, last, x[i], d[i])))
            assert rb.ok and r1.ok and rb.payload == r1.payload
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
    assert all(torch.equal(x, y) for x, y in zip(before[:5], after[:5]))
    assert dev.read_reg(SPEC.reg("CNT_ERRORS")) == len(cases)


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
    assert xb.update(0, x, d) == tw.update(0, x, d)
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
