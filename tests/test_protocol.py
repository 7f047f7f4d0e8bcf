"""The protocol codec and the protocol-level device model (contract §8)."""
import random

import torch
from hypothesis import given
from hypothesis import strategies as st

from memhil.runtime import protocol as pr
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.protocol import Op, Status


def test_crc_check_value():
    assert pr.crc16(b"123456789") == 0x29B1      # CRC-16/CCITT-FALSE catalogue check value
    assert pr.crc16(b"") == 0xFFFF


def test_crc_hqx_equals_the_table():
    """crc16 runs as binascii.crc_hqx (C); bit-identical to the table version on random data,
    with and without a running value, and on the check value."""
    import random

    rng = random.Random(16)
    assert pr.crc16_table(b"123456789") == pr.crc16(b"123456789") == 0x29B1
    for n in list(range(0, 40)) + [rng.randrange(4200) for _ in range(200)]:
        data = rng.randbytes(n)
        assert pr.crc16(data) == pr.crc16_table(data), n
        init = rng.randrange(1 << 16)
        assert pr.crc16(data, init) == pr.crc16_table(data, init), n
    data = rng.randbytes(1000)                        # chained: crc(a + b) == crc(b, crc(a))
    assert pr.crc16(data[600:], pr.crc16(data[:600])) == pr.crc16(data)


@given(seq=st.integers(0, 255), op=st.integers(0, 255), status=st.integers(0, 255),
       payload=st.binary(max_size=300), junk=st.binary(max_size=20))
def test_response_roundtrip_through_junk(seq, op, status, payload, junk):
    frame = pr.encode_response(seq, op, status, payload)
    dec = pr.ResponseDecoder()
    got = []
    stream = junk + frame
    for i in range(0, len(stream), 7):           # arbitrary chunking
        got += dec.feed(stream[i: i + 7])
    assert got[-1] == pr.Response(seq, op, status, payload)


def _state(dev):
    t = dev.twin
    return (t.gp.clone(), t.gm.clone(), t.row_lfsr.clone(), t.col_lfsr.clone(),
            {k: v for k, v in t.regs.items()})


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a[:4], b[:4])) and a[4] == b[4]


def _one(dev, data, tlast=True):
    rs = pr.ResponseDecoder().feed(dev.feed(data, tlast))
    assert len(rs) == 1, rs
    return rs[0]


def test_replay_never_executes_twice():
    dev = TwinDevice(3, 4)
    dev.twin.write_reg(0x02C, 0)
    dev.twin.write_reg(0x034, 1 << 16)
    cmd = pr.encode_command(7, Op.UPDATE, pr.pack_update(0, True, [5, 5, 5, 5], [9, 9, 9]))
    r1 = _one(dev, cmd)
    before = _state(dev)
    r2 = _one(dev, cmd)                      # a retry of the same SEQ/OP: replayed
    assert r1 == r2 and r1.ok
    assert _same(before, _state(dev))
    cmd2 = pr.encode_command(8, Op.UPDATE, pr.pack_update(0, True, [5, 5, 5, 5], [9, 9, 9]))
    _one(dev, cmd2)
    assert not _same(before, _state(dev))   # a new SEQ executes


def test_error_responses_change_no_state():
    dev = TwinDevice(3, 4, tiles=2)
    good = pr.encode_command(1, Op.FORWARD, bytes([0]) + bytes(4))
    cases = {
        Status.BAD_CRC: good[:-1] + bytes([good[-1] ^ 0x40]),
        Status.BAD_OP: pr.encode_command(2, 0x7E, b""),
        # READ_ACC's former opcode (contract version 2), an unknown opcode in version 3
        "BAD_OP 0x14": pr.encode_command(5, 0x14, pr.pack_range(0, 0, 1)),
        Status.BAD_LEN: pr.encode_command(3, Op.FORWARD, bytes([0]) + bytes(5)),
        Status.BAD_ARG: pr.encode_command(4, Op.WRITE_CELLS, pr.pack_range(0, 0, 1) + pr.pack_cells([999], [0])),
    }
    for status, frame in cases.items():
        before = _state(dev)
        r = _one(dev, frame)
        status = Status.BAD_OP if status == "BAD_OP 0x14" else status
        assert r.status == status and r.payload == b""
        assert _same(before, _state(dev))
    r = _one(dev, good[:8])                  # TLAST inside the payload
    assert r.status == Status.TRUNCATED
    big = bytes([pr.SOF_CMD, 9, Op.FORWARD, 0x01, 0x10, 0x00])   # LEN 4097
    assert _one(dev, big, tlast=False).status == Status.BAD_LEN
    assert _one(dev, good).ok                # resynchronised


def test_random_malformed_frames_resync():
    rng = random.Random(1)
    dev = TwinDevice(2, 3)
    seq = 0
    for i in range(300):
        seq = (seq + 1) & 0xFF
        frame = bytearray(pr.encode_command(seq, Op.READ_REG, pr.pack_read_reg(0x000)))
        kind = rng.randrange(4)
        if kind == 0:
            frame[rng.randrange(1, len(frame))] ^= 1 << rng.randrange(8)
        elif kind == 1:
            frame = frame[: rng.randrange(1, len(frame))]
        rs = pr.ResponseDecoder().feed(dev.feed(bytes(frame)))
        if kind >= 2:
            assert rs[-1].ok and pr.unpack_u32s(rs[-1].payload) == [0x4D48494C]
        seq = (seq + 1) & 0xFF
        r = _one(dev, pr.encode_command(seq, Op.PING))
        assert r.ok and r.seq == seq


MISALIGNED = [(0x402, 1234), (0x021, 100), (0x031, 7), (0x806, 777), (0x013, 1), (0x403, 5),
              (0x04A, 8), (0x7FF, 9)]


def test_misaligned_register_addresses_are_refused():
    """Issue 9 (defect 5), contract §7: WRITE_REG / READ_REG of an address with bits [1:0] != 0
    answer BAD_ARG and change nothing, even where the aligned register would take the value
    (the RTL's AXI4-Lite port refuses the same addresses: OKAY, counted in CNT_ERRORS)."""
    dev = TwinDevice(3, 4)
    regs = {a: dev.read_reg(a) for a in (0x010, 0x020, 0x030, 0x048, 0x060, 0x064, 0x068)}
    tables = (dev.twin.step_up.clone(), dev.twin.step_dn.clone())
    before = _state(dev)
    for seq, (addr, value) in enumerate(MISALIGNED):
        dev.twin.check_write_reg(addr & ~3, value)           # the aligned register takes it
        r = _one(dev, pr.encode_command(2 * seq, Op.WRITE_REG, pr.pack_write_reg(addr, value)))
        assert r.status == Status.BAD_ARG and r.payload == b""
        r = _one(dev, pr.encode_command(2 * seq + 1, Op.READ_REG, pr.pack_read_reg(addr)))
        assert r.status == Status.BAD_ARG and r.payload == b""
    assert _same(before, _state(dev))
    assert torch.equal(tables[0], dev.twin.step_up) and torch.equal(tables[1], dev.twin.step_dn)
    assert {a: dev.read_reg(a) for a in regs} == regs
    assert dev.read_reg(0x070) == 2 * len(MISALIGNED)        # CNT_ERRORS
