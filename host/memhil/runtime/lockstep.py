"""Lockstep: every answer of the hardware (or the simulation) is checked against the twin.

:class:`LockstepCrossbar` is a :class:`~memhil.runtime.driver.Crossbar` that feeds a local
:class:`~memhil.runtime.device_model.TwinDevice` the very same command frames (once each: the
link's retries are not the twin's business) and compares each response: status and payload,
field by field. The first mismatch raises :class:`DivergenceError`, whose message names the
operation, the command number, the tile, the row/column (or register, or LFSR index), and the
expected (twin) and received (device) values.

At start the twin adopts the device's whole state (registers, step tables, codes,
LFSRs, counters), read over the link, so a lockstep session can join a device that has been
running; ``sync="reset"`` instead assumes that both are fresh from reset.

What is not compared (contract §9): ``CNT_BUSY`` (cycles, RTL only), PING's ``LANES``; and
``CNT_ERRORS``/``STATUS`` once the link has seen a transient error (the device counted frames
that the twin never saw).

What it wraps: a device behind a :class:`~memhil.runtime.transport.Transport` (the simulated
RTL, a board, a :class:`TwinDevice` over the loopback), not an arbitrary
:class:`memhil.backend.CrossbarBackend`: the check is made on the protocol's command and response
frames, which only a transport-based :class:`Crossbar` has. Every backend kind that is a device
(``sim``, ``board``: ``open_backend(kind, ..., lockstep=True)``) is one; the ``twin`` kind is the
reference itself.
"""
from __future__ import annotations

import struct
import time

import numpy as np
import torch

from memhil.backend import COUNTERS
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar
from memhil.runtime.protocol import Op, Response, Status

_NOT_COMPARED = {SPEC.reg("CNT_BUSY")}
_LINK_DEPENDENT = {SPEC.reg("CNT_ERRORS"), SPEC.reg("STATUS")}


class DivergenceError(AssertionError):
    """The device's answer differs from the twin's. Attributes name what differed."""

    def __init__(self, op: str, command: int, where: str, expected, received, *,
                 tile: int | None = None, row: int | None = None, col: int | None = None):
        self.op, self.command, self.where = op, command, where
        self.expected, self.received = expected, received
        self.tile, self.row, self.col = tile, row, col
        super().__init__(
            f"lockstep divergence at command #{command} ({op}): {where}: expected (twin) "
            f"{expected!r}, received (device) {received!r}. The device and the twin disagree "
            f"from here on; rerun with the same seed and compare state with snapshot().")


def _status_name(s: int) -> str:
    return Status(s).name if s in Status._value2member_map_ else str(s)


_ARRAY_OPS = (Op.FORWARD, Op.TRANSPOSE, Op.UPDATE, Op.FORWARD_B, Op.TRANSPOSE_B, Op.UPDATE_B)


class LockstepCrossbar(Crossbar):
    """A :class:`Crossbar` checked against a twin; see the module docstring.

    ``twin``: an existing :class:`TwinDevice` to use (its state is then trusted and not synced).
    ``sync``: ``"device"`` (default; read the device's state into a new twin) or ``"reset"``.
    """

    def __init__(self, transport, *, twin: TwinDevice | None = None, sync: str = "device",
                 **kw):
        if sync not in ("device", "reset"):
            raise ValueError(f"sync={sync!r} is not allowed: must be 'device' or 'reset'")
        self.twin_device: TwinDevice | None = None
        super().__init__(transport, **kw)
        if twin is None:
            twin = TwinDevice(self.rows, self.cols, self.tiles, g_w=self.g_w, lanes=self.lanes,
                              payload_log2=self.payload_log2, batch_max=self.batch_max,
                              bl_max=self.bl_max)
            if sync == "device":
                self._adopt(twin)
        self.twin_device = twin
        self.twin = twin.twin
        self.checked = 0
        self._adopted = self.stats.commands      # commands before the checks began
        self._link_errors_at_sync = self.stats.retries + self.stats.error_responses

    # ------------------------------------------------------------------ start
    def _adopt(self, td: TwinDevice) -> None:
        """Read the device's complete state and load it into ``td`` (no checks yet)."""
        t = td.twin
        for name, r in SPEC.registers.items():
            if r.access == "rw" and name != "CTRL":
                t.regs[name] = self.read_reg(r.addr)
        for name in COUNTERS:
            t.regs[name] = self.read_reg(SPEC.reg(name))
        td.errors = t.regs["CNT_ERRORS"]
        td.last_error = SPEC.unpack("STATUS", self.read_reg(SPEC.reg("STATUS")))["LAST_ERROR"]
        tb = SPEC.tables
        for k in range(SPEC.limits["max_levels"]):
            t.step_up[k] = self.read_reg(tb["step_up_base"] + 4 * k)
            t.step_dn[k] = self.read_reg(tb["step_dn_base"] + 4 * k)
        snap = self.snapshot()
        for k in ("gp", "gm", "row_lfsr", "col_lfsr"):
            getattr(t, k).copy_(snap[k])
        t._wcache.clear()
        t._factors = None

    # ------------------------------------------------------------------ the check
    def _check(self, op: int, payload: bytes, frame: bytes, rsp: Response) -> None:
        td = self.twin_device
        if td is None:          # still connecting
            return
        t0 = time.perf_counter()
        exp = pr.ResponseDecoder().feed(td.feed(frame, tlast=True))
        self.checked += 1
        try:
            if len(exp) != 1:
                raise DivergenceError(Op(op).name, self.stats.commands, "twin answered "
                                      f"{len(exp)} frames", 1, len(exp))
            self._compare(Op(op), payload, exp[0], rsp)
        finally:
            self.stats.t_check += time.perf_counter() - t0

    def _fail(self, op: Op, where: str, expected, received, **kw):
        raise DivergenceError(op.name, self.stats.commands, where, expected, received, **kw)

    def _compare(self, op: Op, p: bytes, e: Response, r: Response) -> None:
        if e.status != r.status:
            self._fail(op, "status", _status_name(e.status), _status_name(r.status),
                       tile=p[0] if op in _ARRAY_OPS else None)
        if e.payload == r.payload or not r.ok:
            return
        R, C = self.rows, self.cols
        if op == Op.PING:
            ei, ri = pr.unpack_ping(e.payload), pr.unpack_ping(r.payload)
            for k in ("magic", "version", "rows", "cols", "tiles", "payload_log2", "batch_max",
                      "bl_max"):
                if ei[k] != ri[k]:
                    self._fail(op, f"PING field {k}", ei[k], ri[k])
            return
        if op == Op.READ_REG:
            (addr,) = struct.unpack("<H", p)
            if addr in _NOT_COMPARED:
                return
            if addr in _LINK_DEPENDENT and (self.stats.retries + self.stats.error_responses
                                            > self._link_errors_at_sync):
                return
            ev, rv = pr.unpack_u32s(e.payload)[0], pr.unpack_u32s(r.payload)[0]
            if addr == SPEC.reg("GEOMETRY1"):
                lanes = SPEC.registers["GEOMETRY1"].field("LANES").mask  # the RTL's own
                ev, rv = ev & ~lanes, rv & ~lanes
                if ev == rv:
                    return
            name = SPEC.reg_name(addr) or f"0x{addr:03x}"
            self._fail(op, f"register {name} (0x{addr:03x})", ev, rv)
        if op in (Op.FORWARD, Op.TRANSPOSE, Op.FORWARD_B, Op.TRANSPOSE_B):
            ev = np.frombuffer(e.payload, dtype="<i2")
            rv = np.frombuffer(r.payload, dtype="<i2")
            if ev.shape != rv.shape:
                self._fail(op, "response length", ev.size, rv.size, tile=p[0])
            k = int(np.flatnonzero(ev != rv)[0])
            fwd = op in (Op.FORWARD, Op.FORWARD_B)
            n = R if fwd else C
            b, k = divmod(k, n)
            smp = f" sample {b}" if op in (Op.FORWARD_B, Op.TRANSPOSE_B) else ""
            if fwd:
                self._fail(op, f"tile {p[0]}{smp} output row {k}", int(ev[b * n + k]),
                           int(rv[b * n + k]), tile=p[0], row=k)
            self._fail(op, f"tile {p[0]}{smp} output column {k}", int(ev[b * n + k]),
                       int(rv[b * n + k]), tile=p[0], col=k)
        if op in (Op.UPDATE, Op.UPDATE_B):
            ev, rv = struct.unpack("<I", e.payload)[0], struct.unpack("<I", r.payload)[0]
            where = self._locate_cells(p[0]) if len(r.payload) == 4 else ""
            self._fail(op, f"tile {p[0]} pulses applied{where}", ev, rv, tile=p[0])
        if op == Op.READ_CELLS:
            tile, start, _ = struct.unpack_from("<BIH", p)
            ev = np.frombuffer(e.payload, dtype="<u2")
            rv = np.frombuffer(r.payload, dtype="<u2")
            k = int(np.flatnonzero(ev != rv)[0])
            cell, dev = start + k // 2, ("G+", "G-")[k % 2]
            what = f"code of {dev}"
            i, j = divmod(cell, C)
            self._fail(op, f"tile {tile} cell (row {i}, column {j}) {what}", int(ev[k]),
                       int(rv[k]), tile=tile, row=i, col=j)
        if op == Op.READ_RNG:
            tile, start, _ = struct.unpack_from("<BHH", p)
            ev, rv = np.frombuffer(e.payload, dtype="<u4"), np.frombuffer(r.payload, dtype="<u4")
            k = int(np.flatnonzero(ev != rv)[0])
            idx = start + k
            if idx < R:
                self._fail(op, f"tile {tile} row LFSR {idx}", int(ev[k]), int(rv[k]),
                           tile=tile, row=idx)
            self._fail(op, f"tile {tile} column LFSR {idx - R}", int(ev[k]), int(rv[k]),
                       tile=tile, col=idx - R)
        self._fail(op, "response payload", e.payload.hex(), r.payload.hex())

    def _locate_cells(self, tile: int) -> str:
        """After an UPDATE mismatch: the first cell whose codes differ, read from the device
        (without lockstep, so that the report is about the update, not the read)."""
        td, self.twin_device = self.twin_device, None
        try:
            gp, gm = self.read_cells(tile, 0, self.rows * self.cols)
        except Exception as e:  # noqa: BLE001 - best effort, the divergence is the news
            return f" (could not read the cells back: {e})"
        finally:
            self.twin_device = td
        t = td.twin
        tp, tm = t.gp[tile].reshape(-1), t.gm[tile].reshape(-1)
        bad = torch.nonzero((tp != gp) | (tm != gm)).flatten()
        if bad.numel() == 0:
            return " (all cell codes agree)"
        c = int(bad[0])
        i, j = divmod(c, self.cols)
        return (f"; first differing cell (row {i}, column {j}): twin (G+, G-) = "
                f"({int(tp[c])}, {int(tm[c])}), device = ({int(gp[c])}, {int(gm[c])}); "
                f"{bad.numel()} cells differ")
