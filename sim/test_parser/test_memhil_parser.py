# SPDX-License-Identifier: MIT
"""memhil_top's command parser, executor and response framer (contract section 8).

Frames go in as raw bytes through an AXI4-Stream source (TLAST where a test puts it); every
response is compared byte for byte with ``TwinDevice`` (memhil.runtime.device_model, fed the same
bytes) and decoded and checked by hand as well (SOF, LEN, CRC, SEQ/OP echo, status). Covers:
PING; every error status (BAD_CRC, BAD_OP, BAD_LEN for a wrong length and for LEN > MAX_PAYLOAD
answered at once, BAD_ARG, TRUNCATED); contract v3's refusals (the v2 accumulator opcodes
READ_ACC / WRITE_ACC are BAD_OP, UPDATE / UPDATE_B flags other than APPLY, B > BATCH_MAX and a BL
write above BL_MAX are BAD_ARG, on a build with BATCH_MAX 3, BL_MAX 20); bytes before SOF and
after the CRC ignored; resync; error
commands change no state; sequence-number replay; and a fuzz of >= 1000 random malformed frames
between valid commands, with the state and the error counter checked at the end.
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

import cocotb
import pytest

from memhil.contract.spec import SPEC
from memhil_sim import proto
from memhil_sim.tb import PAUSES, TopTB

OP = SPEC.opcodes
ST = SPEC.status
REG = {n: r.addr for n, r in SPEC.registers.items()}
MAXP = SPEC.limits["max_payload"]
VALID_OPS = set(OP.values())


def cells_payload(tile, start, count, pairs=()):
    p = struct.pack("<BIH", tile, start, count)
    for gp, gm in pairs:
        p += struct.pack("<HH", gp, gm)
    return p


async def read_cells(tb, tile, start, count):
    st, pay = await tb.command(OP["READ_CELLS"], cells_payload(tile, start, count))
    assert st == ST["OK"]
    return [struct.unpack_from("<HH", pay, 4 * k) for k in range(count)]


async def snapshot(tb):
    """Codes and LFSR states of every tile, and the configuration registers."""
    n = tb.rows * tb.cols
    out = []
    for t in range(tb.tiles):
        out.append(await read_cells(tb, t, 0, n))
        st, rng = await tb.command(OP["READ_RNG"], struct.pack("<BHH", t, 0, tb.rows + tb.cols))
        assert st == ST["OK"]
        out.append(rng)
    for name in ("CMAX", "SUB_BITS", "C0", "UPDATE_MODE", "BL", "LR_Q", "C2C_Q", "D2D_Q",
                 "D2D_KEY", "RN_Q", "ADC_SHIFT", "ADC_BITS", "CNT_PULSES", "CNT_UPDATES"):
        out.append(await tb.axil_read(REG[name]))
    return out


async def setup(dut):
    tb = TopTB(dut)
    tb.attach_model()
    await tb.reset()
    return tb


async def program(tb, seed=1):
    """Put a known, non-trivial state into the device (codes, LFSRs)."""
    rng = random.Random(seed)
    n = tb.rows * tb.cols
    for t in range(tb.tiles):
        pairs = [(rng.randrange(249), rng.randrange(249)) for _ in range(n)]
        st, _ = await tb.command(OP["WRITE_CELLS"], cells_payload(t, 0, n, pairs))
        assert st == ST["OK"]
        states = [rng.randrange(1, 1 << 32) for _ in range(tb.rows + tb.cols)]
        st, _ = await tb.command(OP["WRITE_RNG"], struct.pack("<BHH", t, 0, len(states)) +
                                 b"".join(struct.pack("<I", s) for s in states))
        assert st == ST["OK"]


@cocotb.test()
async def test_ping(dut):
    tb = await setup(dut)
    st, pay = await tb.command(OP["PING"])
    assert st == ST["OK"]
    assert pay == struct.pack("<IHHHBBBHB", SPEC.magic, SPEC.version, tb.rows, tb.cols, tb.tiles,
                              tb.lanes, SPEC.limits["payload_log2_default"], tb.batch_max,
                              tb.bl_max)
    assert SPEC.version == 3


@cocotb.test()
@cocotb.parametrize(pause=["none", "alt", "burst"])
async def test_errors(dut, pause):
    tb = await setup(dut)
    tb.set_pauses(PAUSES[pause], PAUSES[pause])
    await program(tb)
    before = await snapshot(tb)
    n = tb.rows * tb.cols
    errs = 0

    async def expect(raw, status, seq, op):
        nonlocal errs
        rsp = await tb.xfer_raw(raw)
        assert proto.decode_response(rsp) == (seq, op, status, b""), rsp.hex()
        errs += 1

    good = proto.encode_command(0x11, OP["READ_REG"], struct.pack("<H", REG["ID"]))
    # BAD_CRC: every bit of the CRC and of the body
    for bit in (0, 7, 8, 15, 16, 30, 40):
        raw = bytearray(good)
        raw[1 + bit // 8] ^= 1 << (bit % 8)
        seq, op = raw[1], raw[2]
        if bit // 8 in (2, 3):   # a flipped LEN changes the frame's length: TRUNCATED/resync
            continue
        await expect(bytes(raw), ST["BAD_CRC"], seq, op)
    # BAD_OP
    for op in (0x03, 0x14, 0x15, 0x16, 0x24, 0x32, 0xFF):   # 0x14, 0x15: v2's READ_ACC, WRITE_ACC
        await expect(proto.encode_command(0x22, op, b"\x01\x02"), ST["BAD_OP"], 0x22, op)
    # BAD_LEN: not the length the opcode requires
    for op, pay in ((OP["PING"], b"\x00"), (OP["READ_REG"], b"\x00"),
                    (OP["WRITE_REG"], b"\x00" * 7), (OP["READ_CELLS"], cells_payload(0, 0, 1) + b"\x00"),
                    (OP["WRITE_CELLS"], cells_payload(0, 0, 2, [(1, 1)])),
                    (OP["WRITE_RNG"], struct.pack("<BHH", 0, 0, 1)),
                    (OP["FORWARD"], bytes(tb.cols)), (OP["TRANSPOSE"], bytes(tb.rows + 2)),
                    (OP["UPDATE"], bytes(tb.rows + tb.cols + 1))):
        await expect(proto.encode_command(0x33, op, pay), ST["BAD_LEN"], 0x33, op)
    # a full MAX_PAYLOAD frame is received whole before it is judged
    big = bytes(random.Random(9).randrange(256) for _ in range(MAXP))
    await expect(proto.encode_command(0x23, 0x7E, big), ST["BAD_OP"], 0x23, 0x7E)
    raw = bytearray(proto.encode_command(0x24, OP["WRITE_CELLS"], big))
    raw[-1] ^= 0x01
    await expect(bytes(raw), ST["BAD_CRC"], 0x24, OP["WRITE_CELLS"])
    await expect(proto.encode_command(0x25, 0x15, big), ST["BAD_OP"], 0x25, 0x15)      # v2 WRITE_ACC
    await expect(proto.encode_command(0x26, OP["WRITE_RNG"], big), ST["BAD_LEN"], 0x26, OP["WRITE_RNG"])
    # BAD_LEN at once for LEN > MAX_PAYLOAD: answered after the header, then resync
    for ln in (MAXP + 1, 0xFFFF, 0x10000, 0xFFFFFF):
        await expect(bytes([0xA5, 0x44, OP["WRITE_CELLS"]]) + ln.to_bytes(3, "little"),
                     ST["BAD_LEN"], 0x44, OP["WRITE_CELLS"])
    # BAD_ARG: tile, ranges, counts, codes, LFSR states, update flags, batch sizes, registers
    cmax = 248
    bad_args = [
        (OP["READ_CELLS"], cells_payload(tb.tiles, 0, 1)),
        (OP["READ_CELLS"], cells_payload(0, 0, 0)),
        (OP["READ_CELLS"], cells_payload(0, n - 1, 2)),
        (OP["READ_CELLS"], cells_payload(0, 0xFFFFFFFF, 1)),
        (OP["READ_CELLS"], cells_payload(0, n, 1)),
        (OP["READ_RNG"], struct.pack("<BHH", 0, tb.rows + tb.cols - 1, 2)),
        (OP["READ_RNG"], struct.pack("<BHH", 0, 0, 0)),
        (OP["WRITE_CELLS"], cells_payload(0, 0, 2, [(1, 2), (cmax + 1, 0)])),
        (OP["WRITE_CELLS"], cells_payload(0, 0, 1, [(0, 0xFFFF)])),
        (OP["WRITE_CELLS"], cells_payload(tb.tiles, 0, 1, [(0, 0)])),
        (OP["WRITE_RNG"], struct.pack("<BHHII", 0, 0, 2, 5, 0)),
        (OP["FORWARD"], bytes([tb.tiles]) + bytes(tb.cols)),
        (OP["UPDATE"], bytes([0xFF, 1]) + bytes(tb.rows + tb.cols)),
        (OP["UPDATE"], bytes([0, 2]) + bytes(tb.rows + tb.cols)),
        (OP["UPDATE"], bytes([0, 0x81]) + bytes(tb.rows + tb.cols)),
        (OP["UPDATE"], bytes([0, 0]) + bytes(tb.rows + tb.cols)),         # accumulate only: gone
        (OP["UPDATE_B"], struct.pack("<BBH", 0, 0, 1) + bytes(tb.rows + tb.cols)),
        (OP["UPDATE_B"], struct.pack("<BBH", 0, 2, 2) + bytes(2 * (tb.rows + tb.cols))),
        (OP["UPDATE_B"], struct.pack("<BBH", 0, 1, tb.batch_max + 1) +
         bytes((tb.batch_max + 1) * (tb.rows + tb.cols))),                  # B > BATCH_MAX
        (OP["FORWARD_B"], struct.pack("<BH", 0, tb.batch_max + 1) + bytes((tb.batch_max + 1) * tb.cols)),
        (OP["TRANSPOSE_B"], struct.pack("<BH", 0, tb.batch_max + 1) +
         bytes((tb.batch_max + 1) * tb.rows)),
        (OP["UPDATE_B"], struct.pack("<BBH", tb.tiles, 0, tb.batch_max + 1) +
         bytes((tb.batch_max + 1) * (tb.rows + tb.cols))),                  # all three at once
        (OP["WRITE_REG"], struct.pack("<HI", REG["ID"], 1)),
        (OP["WRITE_REG"], struct.pack("<HI", REG["BL"], 0)),
        (OP["WRITE_REG"], struct.pack("<HI", REG["BL"], tb.bl_max + 1)),     # above the build's BL_MAX
        (OP["WRITE_REG"], struct.pack("<HI", REG["CMAX"], 0)),
        (OP["WRITE_REG"], struct.pack("<HI", 0x0402, 1)),
        (OP["WRITE_REG"], struct.pack("<HI", 0x0400, 0x10000)),
        (OP["WRITE_REG"], struct.pack("<HI", 0x1000, 0)),
        (OP["READ_REG"], struct.pack("<H", 0x001C)),
        (OP["READ_REG"], struct.pack("<H", 0x2000)),
    ]
    for op, pay in bad_args:
        await expect(proto.encode_command(0x55, op, pay), ST["BAD_ARG"], 0x55, op)
    # TRUNCATED: TLAST before the last byte of the frame, at every position of a frame
    frame = proto.encode_command(0x66, OP["WRITE_CELLS"], cells_payload(0, 0, 1, [(7, 7)]))
    for cut in range(1, len(frame)):
        seq = 0x66 if cut > 1 else 0
        op = OP["WRITE_CELLS"] if cut > 2 else 0
        await expect(frame[:cut], ST["TRUNCATED"], seq, op)
    # bytes before the SOF and after the CRC are dropped while hunting
    st, pay = proto.decode_response(await tb.xfer_raw(b"\x00\x5a\x13" + good + b"\x00\x01"))[2:]
    assert st == ST["OK"] and pay == struct.pack("<I", SPEC.magic)
    # after every frame the parser hunts at once: two frames in one packet get two responses,
    # and a SOF after the CRC starts a frame that TLAST truncates
    rsp = await tb.xfer_raw(good + proto.encode_command(0x12, OP["PING"]))
    assert len(rsp) == 2 * 9 + 4 + 16             # two headers and CRCs, READ_REG and PING (v3: 16)
    rsp = await tb.xfer_raw(good + b"\xa5\x00\x01")
    assert proto.decode_response(rsp[-9:]) == (0x00, 0x01, ST["TRUNCATED"], b"")
    errs += 1
    # nothing above changed any state
    assert await snapshot(tb) == before
    assert (await tb.axil_read(REG["CNT_ERRORS"]))[0] == errs
    status = (await tb.axil_read(REG["STATUS"]))[0]
    assert (status >> 8) & 0xFF == ST["TRUNCATED"]


@cocotb.test()
async def test_replay(dut):
    tb = await setup(dut)
    await program(tb, seed=3)
    x = bytes(random.Random(1).randrange(256) for _ in range(tb.cols))
    d = bytes(random.Random(2).randrange(256) for _ in range(tb.rows))
    upd = bytes([0, 1]) + x + d                       # UPDATE, APPLY (the only flags of v3)
    st1, p1 = await tb.command(OP["UPDATE"], upd, seq=9)
    assert st1 == ST["OK"]
    cells1 = await tb.command(OP["READ_CELLS"], cells_payload(0, 0, tb.rows * tb.cols), seq=10)
    cnt = (await tb.axil_read(REG["CNT_UPDATES"]))[0]
    # the same SEQ and OP: the stored response, nothing executed
    st2, p2 = await tb.command(OP["READ_CELLS"], cells_payload(0, 0, 1), seq=10)
    assert (st2, p2) == cells1
    # a replayed response survives an error response in between
    rsp = await tb.xfer_raw(proto.encode_command(10, 0x7F))
    assert proto.decode_response(rsp)[2] == ST["BAD_OP"]
    assert (await tb.command(OP["READ_CELLS"], cells_payload(0, 0, 1), seq=10)) == cells1
    # same SEQ, other OP: executed
    st3, p3 = await tb.command(OP["UPDATE"], upd, seq=10)
    assert st3 == ST["OK"]
    assert (await tb.axil_read(REG["CNT_UPDATES"]))[0] == cnt + 1
    st4, p4 = await tb.command(OP["UPDATE"], upd, seq=10)        # replay: not applied again
    assert (st4, p4) == (st3, p3)
    assert (await tb.axil_read(REG["CNT_UPDATES"]))[0] == cnt + 1
    await read_cells(tb, 0, 0, tb.rows * tb.cols)    # equal to the model's (which did not apply)


def _malformed(rng: random.Random, tb) -> tuple[bytes, tuple | None]:
    """A random malformed frame and the (seq, op, status) it must be answered with (None: no
    response, e.g. junk without a SOF)."""
    seq = rng.randrange(256)
    kind = rng.randrange(6)
    if kind == 0:                                  # corrupted CRC
        op = rng.choice([OP["PING"], OP["READ_REG"], OP["READ_CELLS"]])
        pay = {OP["PING"]: b"", OP["READ_REG"]: b"\x00\x00",
               OP["READ_CELLS"]: cells_payload(0, 0, 1)}[op]
        raw = bytearray(proto.encode_command(seq, op, pay))
        raw[-1 - rng.randrange(2)] ^= 1 << rng.randrange(8)
        return bytes(raw), (seq, op, ST["BAD_CRC"])
    if kind == 1:                                  # unknown opcode
        op = rng.choice([o for o in range(256) if o not in VALID_OPS])
        pay = bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
        return proto.encode_command(seq, op, pay), (seq, op, ST["BAD_OP"])
    if kind == 2:                                  # wrong length
        op = rng.choice([OP["PING"], OP["READ_REG"], OP["WRITE_REG"], OP["READ_RNG"]])
        need = {OP["PING"]: 0, OP["READ_REG"]: 2, OP["WRITE_REG"]: 6, OP["READ_RNG"]: 5}[op]
        ln = rng.choice([x for x in range(9) if x != need])
        return proto.encode_command(seq, op, bytes(ln)), (seq, op, ST["BAD_LEN"])
    if kind == 3:                                  # truncated
        raw = proto.encode_command(seq, OP["WRITE_REG"], struct.pack("<HI", REG["BL"], 7))
        cut = rng.randrange(1, len(raw))
        return raw[:cut], (seq if cut > 1 else 0, OP["WRITE_REG"] if cut > 2 else 0,
                           ST["TRUNCATED"])
    if kind == 4:                                  # LEN > MAX_PAYLOAD
        ln = rng.randrange(MAXP + 1, 1 << 24)
        op = rng.randrange(256)
        return bytes([0xA5, seq, op]) + ln.to_bytes(3, "little"), (seq, op, ST["BAD_LEN"])
    junk = bytes(rng.choice([b for b in range(256) if b != 0xA5]) for _ in range(rng.randrange(1, 6)))
    return junk, None



@cocotb.test()
async def test_fuzz_malformed(dut):
    tb = await setup(dut)
    tb.set_pauses([0, 0, 1], [0, 1, 0, 0])
    await program(tb, seed=5)
    before = await snapshot(tb)
    rng = random.Random(2024)
    errs = 0
    for i in range(1000):
        raw, exp = _malformed(rng, tb)
        if exp is None:
            await tb.send_raw(raw)
        else:
            rsp = await tb.xfer_raw(raw)
            assert proto.decode_response(rsp) == (*exp, b""), f"frame {i}: {raw.hex()} -> {rsp.hex()}"
            errs += 1
        if i % 4 == 3:                       # a valid command in between: resynchronised
            st, pay = await tb.command(OP["READ_REG"], struct.pack("<H", REG["VERSION"]))
            assert (st, pay) == (ST["OK"], struct.pack("<I", SPEC.version)), f"after frame {i}"
    assert tb.sink.empty()
    assert await snapshot(tb) == before
    assert (await tb.axil_read(REG["CNT_ERRORS"]))[0] == errs


PARAMS = [dict(ROWS=4, COLS=5, TILES=2, LANES=2, G_W=8, BATCH_MAX=3, BL_MAX=20)]


@pytest.mark.sim
@pytest.mark.xdist_group("memhil_top_small")
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "r{ROWS}c{COLS}t{TILES}l{LANES}".format(**p))
def test_memhil_parser(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_top", "test_memhil_parser", Path(__file__).resolve().parent, params)
