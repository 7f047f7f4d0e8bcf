"""The byte-stream command protocol of docs/hardware-contract.md §8 (host side codec).

Frames, CRC, opcodes and payload layouts come from the contract's single source
(``memhil.contract.SPEC``). Nothing here knows about transports.
"""
from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from memhil.contract.spec import SPEC

P = SPEC.protocol
SOF_CMD = P["sof_cmd"]
SOF_RSP = P["sof_rsp"]
#: payload bytes every build accepts (a build's own limit, 2^PAYLOAD_LOG2, is in PING)
MIN_PAYLOAD = SPEC.limits["max_payload"]
MAX_PAYLOAD = MIN_PAYLOAD  # kept for callers that size by the guaranteed minimum
PAYLOAD_LOG2_MIN = SPEC.limits["payload_log2_min"]
PAYLOAD_LOG2_MAX = SPEC.limits["payload_log2_max"]
PAYLOAD_LOG2_DEFAULT = SPEC.limits["payload_log2_default"]
#: the largest LEN any build accepts: a decoder never waits for a longer frame
LEN_LIMIT = 1 << PAYLOAD_LOG2_MAX
#: the largest BATCH_MAX of any build (a build's own, <= this, is in PING and GEOMETRY2)
MAX_BATCH = SPEC.limits["max_batch"]
BATCH_MAX_DEFAULT = SPEC.limits["batch_max_default"]
#: the largest BL_MAX of any build (a build's own is in PING and GEOMETRY2)
MAX_BL = SPEC.limits["max_bl"]
BL_MAX_DEFAULT = SPEC.limits["bl_max_default"]
#: the UPDATE / UPDATE_B flags byte: contract version 3 accepts exactly APPLY (every update
#: applies; a flags value of 0 would need per-cell accumulator storage, which v3 dropped)
APPLY = 1
LEN_BYTES = P["len_bytes"]

Op = IntEnum("Op", dict(SPEC.opcodes))
Status = IntEnum("Status", dict(SPEC.status))


def _crc_table() -> list[int]:
    poly = P["crc_poly"]
    table = []
    for b in range(256):
        c = b << 8
        for _ in range(8):
            c = ((c << 1) ^ poly) if c & 0x8000 else (c << 1)
        table.append(c & 0xFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc16_table(data: bytes, crc: int | None = None) -> int:
    """:func:`crc16` by the table (pure Python, any ``crc_poly`` of the contract)."""
    c = P["crc_init"] if crc is None else crc
    for b in data:
        c = ((c << 8) & 0xFFFF) ^ _CRC_TABLE[((c >> 8) ^ b) & 0xFF]
    return c


def crc16(data: bytes, crc: int | None = None) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): crc16(b"123456789") == 0x29B1.
    ``binascii.crc_hqx`` is this CRC (poly 0x1021, MSB first, no final XOR) in C; the table
    version is used only if the contract's polynomial were another."""
    return binascii.crc_hqx(bytes(data), P["crc_init"] if crc is None else crc)


if P["crc_poly"] != 0x1021:  # pragma: no cover - the contract fixes 0x1021
    crc16 = crc16_table  # noqa: F811


class ProtocolError(RuntimeError):
    """A response that the device sent is malformed or reports an error status."""


@dataclass(frozen=True)
class Command:
    seq: int
    op: int
    payload: bytes = b""

    def encode(self) -> bytes:
        return encode_command(self.seq, self.op, self.payload)


@dataclass(frozen=True)
class Response:
    seq: int
    op: int
    status: int
    payload: bytes = b""

    def encode(self) -> bytes:
        return encode_response(self.seq, self.op, self.status, self.payload)

    @property
    def ok(self) -> bool:
        return self.status == Status.OK


def pack_len(n: int) -> bytes:
    """LEN as it goes on the wire: 24 bits, little-endian (contract §8)."""
    if not 0 <= n < (1 << (8 * LEN_BYTES)):
        raise ValueError(f"payload of {n} bytes does not fit the {8 * LEN_BYTES}-bit LEN field")
    return n.to_bytes(LEN_BYTES, "little")


def encode_command(seq: int, op: int, payload: bytes = b"") -> bytes:
    body = bytes([seq & 0xFF, op & 0xFF]) + pack_len(len(payload)) + bytes(payload)
    return bytes([SOF_CMD]) + body + struct.pack("<H", crc16(body))


def encode_response(seq: int, op: int, status: int, payload: bytes = b"") -> bytes:
    body = bytes([seq & 0xFF, op & 0xFF, status & 0xFF]) + pack_len(len(payload)) + bytes(payload)
    return bytes([SOF_RSP]) + body + struct.pack("<H", crc16(body))


class ResponseDecoder:
    """Incremental decoder of response frames from a byte stream (host side).

    ``feed(data)`` returns the complete, CRC-valid responses found so far. Bytes that do not
    form a valid frame are skipped (counted in ``dropped``): after a bad CRC the decoder
    rescans from the byte after the bad frame's SOF, so one corrupted byte loses one frame only.
    """

    def __init__(self):
        self.buf = bytearray()
        self.dropped = 0

    def reset(self) -> None:
        self.dropped += len(self.buf)
        self.buf.clear()

    def feed(self, data: bytes) -> list[Response]:
        self.buf += data
        out: list[Response] = []
        while True:
            got = self._next()
            if got is None:
                return out
            out.append(got)

    def may_hold(self, seq: int, op: int) -> bool:
        """True if the undecoded bytes may be the start of the response to (seq, op): a
        candidate frame whose header names them, or whose header has not fully arrived."""
        hb = P["rsp_header_bytes"]
        sof = bytes([SOF_RSP])
        i = self.buf.find(sof)
        while i >= 0:
            if len(self.buf) - i < hb or (self.buf[i + 1] == seq and self.buf[i + 2] == op):
                return True
            i = self.buf.find(sof, i + 1)
        return False

    def _try(self, i: int):
        """Frame at SOF position i: a Response, 'wait' (incomplete) or None (invalid)."""
        hb = P["rsp_header_bytes"]
        if len(self.buf) - i < hb:
            return "wait"
        seq, op, status = self.buf[i + 1], self.buf[i + 2], self.buf[i + 3]
        ln = int.from_bytes(self.buf[i + 4: i + hb], "little")
        if ln > LEN_LIMIT:
            return None
        if len(self.buf) - i < hb + ln + 2:
            return "wait"
        body = bytes(self.buf[i + 1: i + hb + ln])
        (crc,) = struct.unpack_from("<H", self.buf, i + hb + ln)
        if crc != crc16(body):
            return None
        return Response(seq, op, status, bytes(self.buf[i + hb: i + hb + ln])), i + hb + ln + 2

    def _next(self) -> Response | None:
        """Take the first complete valid frame. A candidate SOF that is still incomplete does
        not block a complete valid frame after it (a spurious 0x5A in line noise would
        otherwise stall the stream until its bogus length arrived)."""
        sof = bytes([SOF_RSP])
        i = self.buf.find(sof)
        first_wait = None
        while i >= 0:
            got = self._try(i)
            if got == "wait":
                if first_wait is None:
                    first_wait = i
            elif got is not None:
                rsp, end = got
                self.dropped += i
                del self.buf[:end]
                return rsp
            i = self.buf.find(sof, i + 1)
        keep = first_wait if first_wait is not None else len(self.buf)
        self.dropped += keep
        del self.buf[:keep]
        return None


# ---------------------------------------------------------------- payload layouts
def pack_write_reg(addr: int, value: int) -> bytes:
    return struct.pack("<HI", addr, value & 0xFFFFFFFF)


def pack_read_reg(addr: int) -> bytes:
    return struct.pack("<H", addr)


def pack_range(tile: int, start: int, count: int, *, start16: bool = False) -> bytes:
    return struct.pack("<BHH" if start16 else "<BIH", tile, start, count)


def pack_cells(gp, gm) -> bytes:
    out = bytearray()
    for a, b in zip(gp, gm):
        out += struct.pack("<HH", int(a), int(b))
    return bytes(out)


def unpack_cells(payload: bytes) -> tuple[list[int], list[int]]:
    vals = struct.unpack(f"<{len(payload) // 2}H", payload)
    return list(vals[0::2]), list(vals[1::2])


def pack_u32s(vals) -> bytes:
    return struct.pack(f"<{len(vals)}I", *[int(v) & 0xFFFFFFFF for v in vals])


def pack_i32s(vals) -> bytes:
    return struct.pack(f"<{len(vals)}i", *[int(v) for v in vals])


def unpack_u32s(payload: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(payload) // 4}I", payload))


def unpack_i32s(payload: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(payload) // 4}i", payload))


def pack_i8s(vals) -> bytes:
    return bytes((int(v) & 0xFF) for v in vals)


def unpack_i8s(payload: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(payload)}b", payload))


def unpack_i16s(payload: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(payload) // 2}h", payload))


def _flags(flags) -> int:
    """The flags byte: True -> APPLY (the only value a v3 device accepts), False -> 0, or an
    int as given (tests send refused values on purpose)."""
    if isinstance(flags, bool):
        return APPLY if flags else 0
    return int(flags) & 0xFF


def pack_update(tile: int, flags, x, d) -> bytes:
    """UPDATE payload: u8 tile, u8 flags (``True``/``APPLY``; anything else is BAD_ARG),
    COLS x codes, ROWS d codes."""
    return struct.pack("<BB", tile, _flags(flags)) + pack_i8s(x) + pack_i8s(d)


def _i8_rows(rows, what: str) -> "np.ndarray":
    """Samples (a list of lists or a 2-D array of codes) as bytes, two's complement like
    :func:`pack_i8s`."""
    a = np.asarray(rows, dtype=np.int64)
    if a.ndim != 2:
        raise ValueError(f"{what}: samples must be 2-D (B, n), got shape {a.shape}")
    return (a & 0xFF).astype(np.uint8)


def pack_batch(tile: int, samples) -> bytes:
    """FORWARD_B / TRANSPOSE_B payload: u8 tile, u16 B, then the B samples' codes in order."""
    a = _i8_rows(samples, "pack_batch")
    return struct.pack("<BH", tile, a.shape[0]) + a.tobytes()


def pack_update_batch(tile: int, flags, xs, ds) -> bytes:
    """UPDATE_B payload: u8 tile, u8 flags (``True``/``APPLY``; anything else is BAD_ARG),
    u16 B, then per sample COLS x codes, ROWS d codes."""
    x, d = _i8_rows(xs, "pack_update_batch x"), _i8_rows(ds, "pack_update_batch d")
    if x.shape[0] != d.shape[0]:
        raise ValueError(f"UPDATE_B needs as many x as d samples, got {x.shape[0]} and "
                         f"{d.shape[0]}")
    return (struct.pack("<BBH", tile, _flags(flags), x.shape[0])
            + np.concatenate([x, d], axis=1).tobytes())


#: PING's answer (contract §8): u32 MAGIC, u16 VERSION, u16 ROWS, u16 COLS, u8 TILES, u8 LANES,
#: u8 PAYLOAD_LOG2, u16 BATCH_MAX, u8 BL_MAX (16 bytes; version 2 ended after PAYLOAD_LOG2)
PING_FORMAT = "<IHHHBBBHB"
PING_LEN = struct.calcsize(PING_FORMAT)


def ping_payload(rows: int, cols: int, tiles: int, lanes: int,
                 payload_log2: int = PAYLOAD_LOG2_DEFAULT, batch_max: int = BATCH_MAX_DEFAULT,
                 bl_max: int = BL_MAX_DEFAULT) -> bytes:
    return struct.pack(PING_FORMAT, SPEC.magic, SPEC.version, rows, cols, tiles, lanes,
                       payload_log2, batch_max, bl_max)


def unpack_ping(payload: bytes) -> dict:
    """PING's answer as a dict; an answer of another length (a device of another contract
    version) raises ValueError naming both lengths."""
    if len(payload) != PING_LEN:
        raise ValueError(f"PING answer of {len(payload)} bytes: contract version "
                         f"{SPEC.version} answers {PING_LEN} (is the device of another version?)")
    magic, version, rows, cols, tiles, lanes, plog2, batch_max, bl_max = struct.unpack(
        PING_FORMAT, payload)
    return dict(magic=magic, version=version, rows=rows, cols=cols, tiles=tiles, lanes=lanes,
                payload_log2=plog2, max_payload=1 << plog2, batch_max=batch_max, bl_max=bl_max)


# fixed part of each command payload, and bytes per counted item (None: not counted)
FIXED_LEN = {
    Op.PING: (0, None),
    Op.WRITE_REG: (6, None),
    Op.READ_REG: (2, None),
    Op.WRITE_CELLS: (7, 4),
    Op.READ_CELLS: (7, None),
    Op.WRITE_RNG: (5, 4),
    Op.READ_RNG: (5, None),
}


def expected_len(op: int, payload: bytes, rows: int, cols: int) -> int | None:
    """The LEN that ``op`` requires given its payload's count field; None if ``op`` is unknown."""
    if op == Op.FORWARD:
        return 1 + cols
    if op == Op.TRANSPOSE:
        return 1 + rows
    if op == Op.UPDATE:
        return 2 + cols + rows
    batched = {Op.FORWARD_B: (3, cols), Op.TRANSPOSE_B: (3, rows), Op.UPDATE_B: (4, cols + rows)}
    if op in batched:
        fixed, per = batched[Op(op)]
        if len(payload) < fixed:
            return fixed
        return fixed + per * struct.unpack_from("<H", payload, fixed - 2)[0]
    if op not in FIXED_LEN:
        return None
    fixed, per = FIXED_LEN[Op(op)]
    if per is None:
        return fixed
    if len(payload) < fixed:
        return fixed
    count = struct.unpack_from("<H", payload, fixed - 2)[0]
    return fixed + per * count
