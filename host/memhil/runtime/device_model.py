"""The whole device's protocol behaviour in software: bytes in, response bytes out.

:class:`TwinDevice` implements docs/hardware-contract.md §8 (parser, framing errors,
resynchronisation, argument checks, sequence-number replay, counters) on top of
:class:`memhil.twin.Twin`. It is the reference that the RTL's top-level testbenches compare
every response frame against, and the "device" behind the in-process loopback transport.

Parser (contract §8): hunt for 0xA5; read SEQ, OP, LEN (24 bits; a LEN over MAX_PAYLOAD answers BAD_LEN at
once); read LEN payload bytes and the two CRC bytes. A TLAST before the frame's last byte ends it
with TRUNCATED. After every frame, good or bad, the parser hunts for the next 0xA5.
Checks, in order: CRC (BAD_CRC), opcode (BAD_OP: also READ_ACC/WRITE_ACC's former opcodes
0x14/0x15, gone in contract version 3), LEN for the opcode (BAD_LEN); then the replay of a
repeated SEQ/OP; then the arguments (BAD_ARG; for UPDATE/UPDATE_B: tile, flags != 1, then B
outside [1, BATCH_MAX]; FORWARD_B/TRANSPOSE_B: tile, B, the response size); only then is the
command executed. The build limits BATCH_MAX and BL_MAX are the twin's ``batch_max`` and
``bl_max`` (``TwinDevice(..., batch_max=8, bl_max=32)`` models a small build).
"""
from __future__ import annotations

import struct

import torch

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.protocol import Op, Status
from memhil.backend import CrossbarError
from memhil.twin.core import Twin

M32 = 0xFFFFFFFF
_HUNT, _HEADER, _BODY = 0, 1, 2


class TwinDevice:
    """A protocol-level model of the emulator: ``feed(bytes, tlast)`` -> response bytes."""

    def __init__(self, rows: int, cols: int, tiles: int = 1, *, g_w: int = 16, lanes: int = 0,
                 device: str = "cpu", twin: Twin | None = None,
                 payload_log2: int = pr.PAYLOAD_LOG2_DEFAULT,
                 batch_max: int = pr.BATCH_MAX_DEFAULT, bl_max: int = pr.BL_MAX_DEFAULT):
        if not pr.PAYLOAD_LOG2_MIN <= payload_log2 <= pr.PAYLOAD_LOG2_MAX:
            raise ValueError(f"payload_log2 {payload_log2} outside [{pr.PAYLOAD_LOG2_MIN}, "
                             f"{pr.PAYLOAD_LOG2_MAX}]")
        self.payload_log2 = int(payload_log2)
        self.max_payload = 1 << self.payload_log2
        self.twin = twin if twin is not None else Twin(rows, cols, tiles, device=device,
                                                       g_w=g_w, lanes=lanes,
                                                       batch_max=batch_max, bl_max=bl_max)
        self.batch_max, self.bl_max = self.twin.batch_max, self.twin.bl_max
        self.rows, self.cols, self.tiles = self.twin.rows, self.twin.cols, self.twin.tiles
        self.lanes = self.twin.lanes
        self.last: tuple[int, int] | None = None     # (seq, op) of the last executed command
        self.last_response: bytes = b""
        self.errors = 0
        self.last_error = 0
        self._state = _HUNT
        self._buf = bytearray()

    # ------------------------------------------------------------------ byte level
    def feed(self, data: bytes, tlast: bool = True) -> bytes:
        """Process ``data``; ``tlast`` marks its last byte as the end of a stream packet."""
        out = bytearray()
        n = len(data)
        for k, b in enumerate(data):
            last = tlast and k == n - 1
            out += self._byte(b, last)
        return bytes(out)

    def _byte(self, b: int, last: bool) -> bytes:
        hb = SPEC.protocol["cmd_header_bytes"]
        if self._state == _HUNT:
            if b != pr.SOF_CMD:
                return b""
            self._buf = bytearray([b])
            self._state = _HEADER
            return self._truncated() if last else b""
        self._buf.append(b)
        if self._state == _HEADER:
            if len(self._buf) == hb:
                ln = int.from_bytes(self._buf[3:hb], "little")
                if ln > self.max_payload:
                    self._state = _HUNT
                    return self._error(Status.BAD_LEN)
                self._state = _BODY
            if last:
                return self._truncated()
            return b""
        # body: payload and CRC
        ln = int.from_bytes(self._buf[3:hb], "little")
        if len(self._buf) == hb + ln + 2:
            self._state = _HUNT
            return self._frame(bytes(self._buf))
        if last:
            return self._truncated()
        return b""

    def _hdr(self) -> tuple[int, int]:
        seq = self._buf[1] if len(self._buf) > 1 else 0
        op = self._buf[2] if len(self._buf) > 2 else 0
        return seq, op

    def _truncated(self) -> bytes:
        self._state = _HUNT
        return self._error(Status.TRUNCATED)

    def _error(self, status: int, seq: int | None = None, op: int | None = None) -> bytes:
        s, o = self._hdr()
        self.errors = (self.errors + 1) & M32
        self.last_error = int(status)
        return pr.encode_response(s if seq is None else seq, o if op is None else op, status)

    # ------------------------------------------------------------------ frame level
    def _frame(self, frame: bytes) -> bytes:
        hb = SPEC.protocol["cmd_header_bytes"]
        seq, op = frame[1], frame[2]
        ln = int.from_bytes(frame[3:hb], "little")
        body = frame[1: hb + ln]
        (crc,) = struct.unpack_from("<H", frame, hb + ln)
        if crc != pr.crc16(body):
            return self._error(Status.BAD_CRC)
        payload = frame[hb: hb + ln]
        if op not in Op._value2member_map_:
            return self._error(Status.BAD_OP)
        if pr.expected_len(op, payload, self.rows, self.cols) != ln:
            return self._error(Status.BAD_LEN)
        if self.last == (seq, op):
            return self.last_response
        try:
            self._check_args(Op(op), payload)
            rsp_payload = self._execute(Op(op), payload)
        except CrossbarError:
            return self._error(Status.BAD_ARG)
        rsp = pr.encode_response(seq, op, Status.OK, rsp_payload)
        self.last = (seq, op)
        self.last_response = rsp
        return rsp

    def _check_args(self, op: Op, p: bytes) -> None:
        """Raise CrossbarError for every BAD_ARG case, before anything changes."""
        t = self.twin
        cells, nrng = self.rows * self.cols, self.rows + self.cols
        maxc = self.max_payload // 4

        def rng(tile, start, count, size, limit=None):
            if tile >= self.tiles:
                raise CrossbarError(f"tile {tile} >= {self.tiles}")
            if count == 0 or start + count > size or (limit is not None and count > limit):
                raise CrossbarError(f"range {start}+{count} outside [0, {size})")

        if op == Op.WRITE_REG:
            t.check_write_reg(*struct.unpack("<HI", p))
        elif op == Op.READ_REG:
            (addr,) = struct.unpack("<H", p)
            t.read_reg(addr)
        elif op in (Op.WRITE_CELLS, Op.READ_CELLS):
            tile, start, count = struct.unpack_from("<BIH", p)
            rng(tile, start, count, cells, maxc)
            if op == Op.WRITE_CELLS:
                vals = struct.unpack_from(f"<{2 * count}H", p, 7)
                if max(vals) > t.regs["CMAX"]:
                    raise CrossbarError("code above CMAX")
        elif op in (Op.WRITE_RNG, Op.READ_RNG):
            tile, start, count = struct.unpack_from("<BHH", p)
            rng(tile, start, count, nrng, maxc)
            if op == Op.WRITE_RNG and 0 in struct.unpack_from(f"<{count}I", p, 5):
                raise CrossbarError("LFSR state 0")
        elif op in (Op.FORWARD, Op.TRANSPOSE, Op.UPDATE, Op.FORWARD_B, Op.TRANSPOSE_B,
                    Op.UPDATE_B):
            if p[0] >= self.tiles:
                raise CrossbarError(f"tile {p[0]} >= {self.tiles}")
            if op in (Op.UPDATE, Op.UPDATE_B) and p[1] != pr.APPLY:
                raise CrossbarError(f"UPDATE flags {p[1]}: must be {pr.APPLY} (APPLY; contract "
                                    "version 3 has no accumulate-only update)")
            if op in (Op.FORWARD_B, Op.TRANSPOSE_B, Op.UPDATE_B):
                b = struct.unpack_from("<H", p, 2 if op == Op.UPDATE_B else 1)[0]
                if not 1 <= b <= self.batch_max:
                    raise CrossbarError(f"batch of {b} samples outside [1, {self.batch_max}] "
                                        "(BATCH_MAX)")
                out = {Op.FORWARD_B: 2 * self.rows, Op.TRANSPOSE_B: 2 * self.cols}.get(op, 0)
                if b * out > self.max_payload:
                    raise CrossbarError(f"the response of {b * out} bytes exceeds MAX_PAYLOAD")

    def _execute(self, op: Op, p: bytes) -> bytes:
        t = self.twin
        if op == Op.PING:
            return pr.ping_payload(self.rows, self.cols, self.tiles, self.lanes,
                                   self.payload_log2, self.batch_max, self.bl_max)
        if op == Op.WRITE_REG:
            addr, value = struct.unpack("<HI", p)
            t.write_reg(addr, value)
            if addr == SPEC.reg("CTRL") and value & 1:
                self.errors = 0
            return b""
        if op == Op.READ_REG:
            (addr,) = struct.unpack("<H", p)
            return struct.pack("<I", self.read_reg(addr))
        if op == Op.WRITE_CELLS:
            tile, start, count = struct.unpack_from("<BIH", p)
            gp, gm = pr.unpack_cells(p[7:])
            t.write_cells(tile, start, gp, gm)
            return b""
        if op == Op.READ_CELLS:
            tile, start, count = struct.unpack_from("<BIH", p)
            gp, gm = t.read_cells(tile, start, count)
            return pr.pack_cells(gp.tolist(), gm.tolist())
        if op == Op.WRITE_RNG:
            tile, start, count = struct.unpack_from("<BHH", p)
            t.write_rng(tile, start, pr.unpack_u32s(p[5:]))
            return b""
        if op == Op.READ_RNG:
            tile, start, count = struct.unpack_from("<BHH", p)
            return pr.pack_u32s(t.read_rng(tile, start, count).tolist())
        if op == Op.FORWARD:
            y = t.forward(p[0], torch.tensor([pr.unpack_i8s(p[1:])]))
            return struct.pack(f"<{self.rows}h", *y[0].tolist())
        if op == Op.TRANSPOSE:
            z = t.transpose(p[0], torch.tensor([pr.unpack_i8s(p[1:])]))
            return struct.pack(f"<{self.cols}h", *z[0].tolist())
        if op == Op.UPDATE:
            tile, flags = p[0], p[1]
            x = pr.unpack_i8s(p[2: 2 + self.cols])
            d = pr.unpack_i8s(p[2 + self.cols:])
            pulses = t.update(tile, torch.tensor([x]), torch.tensor([d]))
            return struct.pack("<I", pulses & M32)
        if op in (Op.FORWARD_B, Op.TRANSPOSE_B):
            (b,) = struct.unpack_from("<H", p, 1)
            n_in, n_out = (self.cols, self.rows) if op == Op.FORWARD_B else (self.rows, self.cols)
            v = torch.tensor(pr.unpack_i8s(p[3:])).reshape(b, n_in)
            y = (t.forward if op == Op.FORWARD_B else t.transpose)(p[0], v)
            return struct.pack(f"<{b * n_out}h", *y.reshape(-1).tolist())
        if op == Op.UPDATE_B:
            tile, flags, b = struct.unpack_from("<BBH", p)
            v = torch.tensor(pr.unpack_i8s(p[4:])).reshape(b, self.cols + self.rows)
            pulses = t.update(tile, v[:, :self.cols], v[:, self.cols:])
            return struct.pack("<I", pulses & M32)
        raise AssertionError(op)  # pragma: no cover

    # ------------------------------------------------------------------ AXI4-Lite (MMIO)
    def mmio_read(self, addr: int) -> int:
        """One AXI4-Lite read as the RTL's slave answers it (contract §7): always OKAY; a refused
        read (unknown or misaligned address) returns 0, counts in CNT_ERRORS and sets STATUS's
        last error to BAD_ARG. ``addr`` is the 12-bit AXI address."""
        try:
            return self.read_reg(int(addr) & 0xFFF)
        except CrossbarError:
            self._refused()
            return 0

    def mmio_write(self, addr: int, value: int) -> None:
        """One AXI4-Lite write (always OKAY): a refused write changes nothing and is counted as
        :meth:`mmio_read`'s refusals are."""
        addr, value = int(addr) & 0xFFF, int(value) & M32
        try:
            self.twin.write_reg(addr, value)
        except CrossbarError:
            self._refused()
            return
        if addr == SPEC.reg("CTRL") and value & 1:
            self.errors = 0

    def _refused(self) -> None:
        self.errors = (self.errors + 1) & M32
        self.last_error = int(Status.BAD_ARG)

    def read_reg(self, addr: int) -> int:
        """A register as the device reports it (the protocol model keeps CNT_ERRORS and STATUS)."""
        name = SPEC.reg_name(addr)
        if name == "CNT_ERRORS":
            return self.errors
        if name == "STATUS":
            return SPEC.pack("STATUS", LAST_ERROR=self.last_error & 0xFF)
        if name == "CTRL":
            return 0
        if name == "GEOMETRY1":
            return self.twin.read_reg(addr) | SPEC.pack("GEOMETRY1", PAYLOAD_LOG2=self.payload_log2)
        return self.twin.read_reg(addr)
