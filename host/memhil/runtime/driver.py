"""The host driver: :class:`Crossbar` speaks the command protocol (contract §8) over a transport.

``Crossbar`` is a :class:`memhil.backend.CrossbarBackend`, like :class:`memhil.twin.Twin`: it
implements the primitives (``forward``, ``transpose``, ``update``, ``write_cells``,
``read_cells``, ``write_rng``, ``read_rng``, ``write_reg``, ``read_reg``, ``state_dict``,
``load_state_dict``) as commands, and inherits ``configure``,
``seed``, ``counters``, ``clear_counters``, ``weights``, ``snapshot`` and the argument checks
from the interface, so code written against a backend (e.g. ``memhil.nn``'s layers) runs on the
simulation or a board unchanged. It adds ``ping()`` and ``regs[name]``, and reports the build's
limits: ``batch_max`` (BATCH_MAX: samples of one batched command and of one apply) and
``bl_max`` (BL_MAX: the largest BL), both from ``GEOMETRY2``.

Reliability (contract §8 "Sequence numbers"): every command gets a new ``SEQ``; every read has a
timeout; after a timeout, a corrupted or missing response or a link-level error status
(``BAD_CRC``, ``TRUNCATED``, ``BAD_LEN``) the driver waits for the link to go quiet, drops
partial bytes and sends the **same frame with the same SEQ** again. A device that already
executed it replays its stored response instead of executing twice. After ``retries`` failed
tries a :class:`LinkError` says what was tried and what came back. ``BAD_ARG``/``BAD_OP``
from a CRC-checked frame are the device's verdict and raise :class:`DeviceError` at once.

Errors: arguments the host can check itself raise :class:`memhil.backend.CrossbarError` before
anything is sent (the same messages as the twin's); :class:`DeviceError`, a ``CrossbarError``,
is the device's refusal; :class:`LinkError` is a ``RuntimeError``: the link failed, not the
arguments.
"""
from __future__ import annotations

import struct
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

try:  # optional: a PYNQ board (ARMv7) has no torch wheel; the driver then speaks numpy
    import torch
except ImportError:  # pragma: no cover - exercised by tests/test_board_subset.py
    torch = None

from memhil.backend import COUNTERS, CrossbarBackend, CrossbarError
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.protocol import Op, Response, Status
from memhil.runtime.transport import Transport

#: operand codes saturate to [-CODE_MAX, CODE_MAX] (as memhil.twin.core.CODE_MAX, the RTL)
CODE_MAX = 127

#: most cells (or LFSR states) one READ_* answers: 4 bytes each in 4096 bytes
MAX_READ = pr.MAX_PAYLOAD // 4
#: most cells one WRITE_CELLS carries (7-byte header), LFSR states per WRITE_RNG (5)
MAX_WRITE_CELLS = (pr.MAX_PAYLOAD - 7) // 4
MAX_WRITE_RNG = (pr.MAX_PAYLOAD - 5) // 4
#: statuses that a corrupted byte can cause; the driver retries these
TRANSIENT = (Status.BAD_CRC, Status.TRUNCATED, Status.BAD_LEN)


class LinkError(RuntimeError):
    """A command got no valid answer after every retry (the link, not the device, failed).

    Not a :class:`~memhil.backend.CrossbarError`: the arguments may well be right; retrying
    later, or over a better link, can succeed."""


class DeviceError(CrossbarError):
    """The device refused a command (``BAD_ARG``/``BAD_OP``): the arguments are wrong.

    A :class:`memhil.backend.CrossbarError`, the error the twin raises for the same cases.
    """

    def __init__(self, op: int, status: int, detail: str = ""):
        self.op, self.status = op, status
        name = Op(op).name if op in Op._value2member_map_ else f"0x{op:02x}"
        st = Status(status).name if status in Status._value2member_map_ else str(status)
        super().__init__(f"device refused {name} with {st}" + (f": {detail}" if detail else ""))


@dataclass
class LinkStats:
    commands: int = 0
    retries: int = 0
    timeouts: int = 0
    error_responses: int = 0      # transient error statuses received
    garbled: int = 0              # tries whose answer arrived corrupted (bad CRC, lost bytes)
    stale: int = 0                # OK responses for an older command (late duplicates), ignored
    bytes_tx: int = 0
    bytes_rx: int = 0
    t_encode: float = 0.0         # packing payloads and framing
    t_link: float = 0.0           # waiting on the transport (device time + link)
    t_decode: float = 0.0         # response parsing and unpacking
    t_check: float = 0.0          # lockstep: twin execution and comparison

    def as_dict(self) -> dict:
        return asdict(self)


class _Registers(Mapping):
    """``crossbar.regs[name]``: configuration registers as last written (else read once);
    counters and status read live. Mirrors ``Twin.regs`` for code that reads it."""

    LIVE = ("STATUS",) + COUNTERS

    def __init__(self, xb: "Crossbar"):
        self._xb = xb
        self._cache: dict[str, int] = {}

    def __getitem__(self, name: str) -> int:
        if name not in SPEC.registers:
            raise KeyError(name)
        if name in self.LIVE or SPEC.registers[name].access != "rw":
            return self._xb.read_reg(SPEC.reg(name))
        if name not in self._cache:
            self._cache[name] = self._xb.read_reg(SPEC.reg(name))
        return self._cache[name]

    def _note(self, addr: int, value: int) -> None:
        name = SPEC.reg_name(addr)
        if name == "CTRL":
            return
        if name is not None and SPEC.registers[name].access == "rw":
            self._cache[name] = int(value)

    def __iter__(self):
        return iter(SPEC.registers)

    def __len__(self) -> int:
        return len(SPEC.registers)


def _np(v, dtype=np.int64) -> np.ndarray:
    """``v`` (a torch tensor, an array, a list) as a flat numpy array of ``dtype``."""
    if torch is not None and isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=dtype).reshape(-1)


def _out(a: np.ndarray):
    """What the driver returns: a torch tensor when torch is importable (the twin's type),
    else the numpy array itself (a board without torch)."""
    return torch.from_numpy(a) if torch is not None else a


def _codes(v, n: int, what: str) -> np.ndarray:
    """Operand codes as an int8 array (B, n), clamped to [-127, 127] like the twin and RTL."""
    if torch is not None and isinstance(v, torch.Tensor):
        CrossbarBackend._check_code_dtype(what, v.dtype, not v.dtype.is_floating_point)
        a = v.detach().to("cpu", torch.int64).numpy()
    else:
        a = np.asarray(v)
        CrossbarBackend._check_code_dtype(what, a.dtype, a.dtype.kind != "f")
        a = a.astype(np.int64)
    if a.ndim == 1:
        a = a[None]
    CrossbarBackend._check_code_shape(what, a.shape, n)
    return np.clip(a, -CODE_MAX, CODE_MAX).astype(np.int8)


class Crossbar(CrossbarBackend):
    """A crossbar device behind ``transport`` (see the module docstring).

    ``timeout``: seconds to wait for each answer (plus the link's byte time for long frames);
    ``retries``: extra tries per command before :class:`LinkError`.
    """

    def __init__(self, transport: Transport, *, timeout: float = 1.0, retries: int = 8,
                 seq: int = 0):
        if retries < 0:
            raise ValueError(f"retries={retries!r} is not allowed: must be >= 0")
        if timeout <= 0:
            raise ValueError(f"timeout={timeout!r} is not allowed: must be > 0 seconds")
        self.transport = transport
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.stats = LinkStats()
        self._seq = seq & 0xFF
        self._dec = pr.ResponseDecoder()
        self.regs = _Registers(self)
        # A leftover response from an earlier session may still be on the link: drop it. The
        # first command is a PING: if the device happens to remember the same SEQ/OP from an
        # earlier session it replays a PING answer, which is harmless.
        self.transport.drain(limit=0.2)
        info = self.ping()
        self.rows, self.cols, self.tiles = info["rows"], info["cols"], info["tiles"]
        self.lanes = info["lanes"]
        #: the build's MAX_PAYLOAD (bytes of one frame's payload), from PING
        self.max_payload = info["max_payload"]
        if transport.max_frame is not None:   # e.g. the DMA's buffers on a board
            self.max_payload = min(self.max_payload, transport.max_frame
                                   - SPEC.protocol["rsp_header_bytes"] - 2)
        self.payload_log2 = info["payload_log2"]
        self.g_w = SPEC.unpack("GEOMETRY1", self.read_reg(SPEC.reg("GEOMETRY1")))["G_W"]
        g2 = SPEC.unpack("GEOMETRY2", self.read_reg(SPEC.reg("GEOMETRY2")))
        #: the build's BATCH_MAX (most samples of one FORWARD_B/TRANSPOSE_B/UPDATE_B, and so of
        #: one apply) and BL_MAX (the largest BL the build accepts), from GEOMETRY2
        self.batch_max, self.bl_max = g2["BATCH_MAX"], g2["BL_MAX"]
        if (self.batch_max, self.bl_max) != (info["batch_max"], info["bl_max"]):
            raise LinkError(f"GEOMETRY2 reports BATCH_MAX={self.batch_max}, "
                            f"BL_MAX={self.bl_max} but PING {info['batch_max']}, "
                            f"{info['bl_max']}: a broken build")
        #: the torch device of returned tensors; None without torch (numpy arrays returned)
        self.device = torch.device("cpu") if torch is not None else None

    # ------------------------------------------------------------------ transaction layer
    def _await(self, seq: int, op: int, timeout: float) -> tuple[Response | None, list[Response]]:
        """Collect responses until the OK answer to (seq, op), or until the link is quiet after
        an error response, or until ``timeout``. Returns (answer or None, error responses)."""
        tr = self.transport
        errors: list[Response] = []
        self._got_bytes = False
        now = time.monotonic()
        end = deadline = now + timeout
        while True:
            remaining = deadline - now
            if remaining <= 0:
                return None, errors
            t0 = time.perf_counter()
            data = tr.read(0.0 if tr.synchronous else remaining)
            t1 = time.perf_counter()
            self.stats.t_link += t1 - t0
            if data:
                self._got_bytes = True
                self.stats.bytes_rx += len(data)
                rsps = self._dec.feed(data)
                self.stats.t_decode += time.perf_counter() - t1
                for r in rsps:
                    if r.seq == seq and r.op == op and (r.ok or r.status not in TRANSIENT):
                        return r, errors
                    if r.ok:
                        self.stats.stale += 1
                    else:
                        errors.append(r)
                # Part of our answer has come (a frame whose header names this SEQ and OP, or
                # a header still too short to tell): a slow device may pause inside a response,
                # so wait for the rest until the try's own deadline. Otherwise the bytes were
                # complete responses that are not our answer (error statuses, late duplicates)
                # or junk: once the link has then been quiet for quiet_s, nothing more is
                # coming for this try.
                deadline = end if self._dec.may_hold(seq, op) else \
                    min(end, time.monotonic() + tr.quiet_s)
            elif tr.synchronous:
                return None, errors
            now = time.monotonic()

    def _salvage(self, seq: int, op: int) -> Response | None:
        """The decoder may be stuck on a false start byte (a corrupted byte that reads as 0x5A
        with a long LEN) that swallowed our answer: look for the answer at every later 0x5A of
        the undecoded bytes. Returns it (and clears the decoder) or None."""
        buf = bytes(self._dec.buf)
        i = buf.find(bytes([pr.SOF_RSP]), 1)
        while i > 0:
            for r in pr.ResponseDecoder().feed(buf[i:]):
                if r.seq == seq and r.op == op and (r.ok or r.status not in TRANSIENT):
                    self._dec.reset()
                    return r
            i = buf.find(bytes([pr.SOF_RSP]), i + 1)
        return None

    def _transact(self, op: int, payload: bytes, rsp_len: int = 0) -> tuple[bytes, Response]:
        """Send one command (with retries); return (frame, answer). The answer is OK or a final
        error status of this very command. Raises :class:`LinkError`."""
        t0 = time.perf_counter()
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        frame = pr.encode_command(seq, op, payload)
        self.stats.t_encode += time.perf_counter() - t0
        self.stats.commands += 1
        byte_s = self.transport.byte_s
        timeout = self.timeout + (len(frame) + rsp_len + 8) * byte_s
        history = []
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.retries += 1
            t1 = time.perf_counter()
            self.transport.write(frame)
            self.stats.t_link += time.perf_counter() - t1
            self.stats.bytes_tx += len(frame)
            rsp, errors = self._await(seq, op, timeout)
            if rsp is not None:
                return frame, rsp
            self.stats.error_responses += len(errors)
            if not errors and self._got_bytes:
                self.stats.garbled += 1
                history.append("a garbled answer")
            elif errors:
                history.append("/".join(Status(e.status).name if e.status in
                                        Status._value2member_map_ else str(e.status)
                                        for e in errors))
            else:
                self.stats.timeouts += 1
                history.append(f"no answer in {timeout:.3g} s")
            # resynchronise: let the link go quiet (the bridge's idle gap ends any partial
            # frame with TRUNCATED), keep an answer that arrives meanwhile, drop partial bytes
            late = self.transport.drain()
            if late:
                self.stats.bytes_rx += len(late)
                for r in self._dec.feed(late):
                    if r.seq == seq and r.op == op and (r.ok or r.status not in TRANSIENT):
                        self._dec.reset()
                        return frame, r
            r = self._salvage(seq, op)
            if r is not None:
                return frame, r
            self._dec.reset()
        name = Op(op).name
        raise LinkError(
            f"{name} (SEQ {seq}) got no valid answer after {self.retries + 1} tries over "
            f"{self.transport.describe()}: {'; '.join(history)}. Check the cable/baud rate or "
            f"that the simulation is still running; raise `retries`/`timeout` for a slow link.")

    def _call(self, op: int, payload: bytes = b"", rsp_len: int = 0) -> bytes:
        frame, rsp = self._transact(op, payload, rsp_len)
        self._check(op, payload, frame, rsp)
        if not rsp.ok:
            raise DeviceError(op, rsp.status, self._explain(op, payload))
        return rsp.payload

    def _check(self, op: int, payload: bytes, frame: bytes, rsp: Response) -> None:
        """Hook: lockstep comparison (see :class:`memhil.runtime.lockstep.LockstepCrossbar`)."""

    def _explain(self, op: int, payload: bytes) -> str:
        if op in (Op.FORWARD, Op.TRANSPOSE, Op.UPDATE, Op.FORWARD_B, Op.TRANSPOSE_B,
                  Op.UPDATE_B) and payload:
            return f"tile={payload[0]} (device has {getattr(self, 'tiles', '?')} tiles)" + (
                f", flags=0x{payload[1]:02x}" if op in (Op.UPDATE, Op.UPDATE_B) else "")
        if op in (Op.READ_REG, Op.WRITE_REG):
            addr = struct.unpack_from("<H", payload)[0]
            val = f" value={struct.unpack_from('<I', payload, 2)[0]}" if op == Op.WRITE_REG else ""
            return f"register 0x{addr:03x} ({SPEC.reg_name(addr) or 'unknown'}){val}"
        return "see docs/hardware-contract.md §7-8 for the allowed ranges"

    # ------------------------------------------------------------------ device information
    def ping(self) -> dict:
        rsp = self._call(Op.PING, b"", pr.PING_LEN)
        magic = struct.unpack_from("<I", rsp)[0] if len(rsp) >= 4 else None
        if magic != SPEC.magic:
            got = "nothing" if magic is None else f"magic 0x{magic:08x}"
            raise LinkError(f"PING answered {got}, expected magic 0x{SPEC.magic:08x}: this is "
                            f"not a memhil device")
        version = struct.unpack_from("<H", rsp, 4)[0] if len(rsp) >= 6 else None
        if version != SPEC.version or len(rsp) != pr.PING_LEN:
            raise LinkError(f"device speaks contract version {version} ({len(rsp)}-byte PING), "
                            f"this host {SPEC.version}: rebuild the bitstream/simulation or "
                            f"update memhil")
        return pr.unpack_ping(rsp)

    def read_reg(self, addr: int) -> int:
        return pr.unpack_u32s(self._call(Op.READ_REG, pr.pack_read_reg(addr), 4))[0]

    def write_reg(self, addr: int, value: int) -> None:
        value = self._check_word(addr, value)
        if addr == SPEC.reg("BL") and value > self.bl_max:   # the device refuses it (BAD_ARG)
            reg = SPEC.registers["BL"]
            lo, hi = reg.limits(bl_max=self.bl_max)
            raise CrossbarError(f"register BL: value {value} must be in [{lo}, {hi}]"
                                + reg.build_note(hi, bl_max=self.bl_max))
        self._call(Op.WRITE_REG, pr.pack_write_reg(addr, value))
        self.regs._note(addr, value)

    # ------------------------------------------------------------------ cells and RNG
    def write_cells(self, tile: int, start: int, gp, gm) -> None:
        """Program ``len(gp)`` cells from flat index ``start`` (row-major), in chunks of
        ``MAX_WRITE_CELLS``. Codes above CMAX are refused by the device (chunk by chunk)."""
        tile = self._check_tile(tile)
        gp, gm = _np(gp), _np(gm)
        self._check_cell_pair(gp, gm)
        self._check_range("write_cells", start, gp.size, self.rows * self.cols)
        if gp.size and (min(gp.min(), gm.min()) < 0 or max(gp.max(), gm.max()) > 0xFFFF):
            raise CrossbarError("write_cells: codes must be in [0, CMAX]")
        inter = np.empty(2 * gp.size, dtype="<u2")
        inter[0::2], inter[1::2] = gp, gm
        for k in range(0, gp.size, MAX_WRITE_CELLS):
            n = min(MAX_WRITE_CELLS, gp.size - k)
            self._call(Op.WRITE_CELLS, pr.pack_range(tile, start + k, n)
                       + inter[2 * k: 2 * (k + n)].tobytes())

    def read_cells(self, tile: int, start: int, count: int) -> tuple:
        tile = self._check_tile(tile)
        self._check_range("read_cells", start, count, self.rows * self.cols)
        parts = []
        for k in range(0, count, MAX_READ):
            n = min(MAX_READ, count - k)
            parts.append(np.frombuffer(self._call(Op.READ_CELLS, pr.pack_range(tile, start + k, n),
                                                  4 * n), dtype="<u2"))
        a = np.concatenate(parts) if parts else np.zeros(0, dtype="<u2")
        a = a.astype(np.int64)
        return _out(a[0::2].copy()), _out(a[1::2].copy())

    def write_rng(self, tile: int, start: int, states) -> None:
        tile = self._check_tile(tile)
        s = _np(states)
        self._check_range("write_rng", start, s.size, self.rows + self.cols)
        self._check_lfsr_states(s)
        for k in range(0, s.size, MAX_WRITE_RNG):
            n = min(MAX_WRITE_RNG, s.size - k)
            self._call(Op.WRITE_RNG, pr.pack_range(tile, start + k, n, start16=True)
                       + s[k: k + n].astype("<u4").tobytes())

    def read_rng(self, tile: int, start: int, count: int):
        tile = self._check_tile(tile)
        self._check_range("read_rng", start, count, self.rows + self.cols)
        parts = [np.frombuffer(self._call(Op.READ_RNG, pr.pack_range(tile, start + k,
                                                                     min(MAX_READ, count - k),
                                                                     start16=True),
                                          4 * min(MAX_READ, count - k)), dtype="<u4")
                 for k in range(0, count, MAX_READ)]
        a = np.concatenate(parts) if parts else np.zeros(0, dtype="<u4")
        return _out(a.astype(np.int64))

    def state_dict(self) -> dict:
        """The device's complete state in ``Twin.state_dict()``'s format (codes, LFSRs, step
        tables, registers and counters), read over the link: checkpoints taken on the twin load
        here and vice versa."""
        snap = self.snapshot()
        tb = SPEC.tables
        n = SPEC.limits["max_levels"]
        up = [self.read_reg(tb["step_up_base"] + 4 * k) for k in range(n)]
        dn = [self.read_reg(tb["step_dn_base"] + 4 * k) for k in range(n)]
        regs = {name: self.read_reg(r.addr) for name, r in SPEC.registers.items()
                if (r.access == "rw" and name != "CTRL") or name in COUNTERS}
        return {"geometry": (self.rows, self.cols, self.tiles), "g_w": self.g_w,
                "lanes": self.lanes, "batch_max": self.batch_max, "bl_max": self.bl_max, **snap,
                "step_up": _out(np.array(up, dtype=np.int64)),
                "step_dn": _out(np.array(dn, dtype=np.int64)), "regs": regs}

    def load_state_dict(self, sd: dict) -> None:
        """Write a ``state_dict()`` (of a Crossbar or a Twin) to the device: registers, step
        tables, codes and LFSRs. Counters are read-only on the device and are not restored (they
        keep counting from their current values). A contract-version-2 dict with ``"acc"``
        loads only if its accumulators are all zero (version 3 has none)."""
        self._check_geometry(sd)
        self._check_no_acc(sd)
        tb = SPEC.tables
        cmax_first = sorted(sd["regs"].items(), key=lambda kv: kv[0] != "CMAX")
        for name, value in cmax_first:
            r = SPEC.registers.get(name)
            if r is not None and r.access == "rw" and name != "CTRL":
                self.write_reg(r.addr, int(value))
        for k, (u, d) in enumerate(zip(_np(sd["step_up"]).tolist(),
                                       _np(sd["step_dn"]).tolist())):
            self.write_reg(tb["step_up_base"] + 4 * k, u)
            self.write_reg(tb["step_dn_base"] + 4 * k, d)
        for t in range(self.tiles):
            self.write_cells(t, 0, sd["gp"][t].reshape(-1), sd["gm"][t].reshape(-1))
            self.write_rng(t, 0, np.concatenate([_np(sd["row_lfsr"][t]),
                                                 _np(sd["col_lfsr"][t])]))

    # ------------------------------------------------------------------ reads and updates
    def batch_limit(self, n_in: int, n_out: int = 0) -> int:
        """Samples one batched command carries: at most the build's BATCH_MAX, with the command
        payload (``n_in`` bytes per sample) and the response (``n_out`` bytes per sample) within
        the build's MAX_PAYLOAD."""
        fit = (self.max_payload - 4) // max(1, n_in)
        if n_out:
            fit = min(fit, self.max_payload // n_out)
        return max(1, min(self.batch_max, fit))

    def update_batch_max(self) -> int:
        """The most samples one :meth:`update` applies at once: ``min(batch_limit(COLS + ROWS),
        BATCH_MAX)``, one UPDATE_B. (It equals ``batch_max`` when MAX_PAYLOAD holds BATCH_MAX
        samples; a smaller build splits minibatches more finely than a twin of the same
        BATCH_MAX.)"""
        return self.batch_limit(self.cols + self.rows)

    def _read(self, op: int, tile: int, v: np.ndarray, n_out: int):
        """B reads in order, as few FORWARD_B/TRANSPOSE_B commands as MAX_PAYLOAD allows."""
        B, n_in = v.shape
        out = np.empty((B, n_out), dtype=np.int64)
        step = self.batch_limit(n_in, 2 * n_out)
        for b in range(0, B, step):
            k = min(step, B - b)
            t0 = time.perf_counter()
            p = pr.pack_batch(tile, v[b: b + k])
            self.stats.t_encode += time.perf_counter() - t0
            rsp = self._call(op, p, 2 * n_out * k)
            t1 = time.perf_counter()
            out[b: b + k] = np.frombuffer(rsp, dtype="<i2").reshape(k, n_out)
            self.stats.t_decode += time.perf_counter() - t1
        return _out(out)

    def forward(self, tile: int, x):
        """ADC codes ``(B, rows)`` of ``y = W x`` for input codes ``x`` ``(B, cols)``: B reads
        in order, in FORWARD_B commands of up to :meth:`batch_limit` samples."""
        tile = self._check_tile(tile)
        return self._read(Op.FORWARD_B, tile, _codes(x, self.cols, "forward"), self.rows)

    def transpose(self, tile: int, d):
        """ADC codes ``(B, cols)`` of ``z = W^T d`` for codes ``d`` ``(B, rows)``."""
        tile = self._check_tile(tile)
        return self._read(Op.TRANSPOSE_B, tile, _codes(d, self.rows, "transpose"), self.cols)

    def update(self, tile: int, x, d) -> int:
        """Update with ``B`` samples (contract §6): one UPDATE_B (flags APPLY) per chunk of
        :meth:`update_batch_max` samples, in order. Contract version 3 has no accumulators, so
        **every chunk is applied**: a minibatch larger than ``min(batch_limit, BATCH_MAX)``
        becomes several updates (each its chunk's batch sums, then one apply), exactly as the
        same chunks given to a twin one after another. Returns the pulses of all chunks."""
        tile = self._check_tile(tile)
        x = _codes(x, self.cols, "update x")
        d = _codes(d, self.rows, "update d")
        self._check_batch(x.shape[0], d.shape[0])
        B = x.shape[0]
        step = self.update_batch_max()
        pulses = 0
        for b in range(0, B, step):
            k = min(step, B - b)
            t0 = time.perf_counter()
            p = pr.pack_update_batch(tile, pr.APPLY, x[b: b + k], d[b: b + k])
            self.stats.t_encode += time.perf_counter() - t0
            pulses += struct.unpack("<I", self._call(Op.UPDATE_B, p, 4))[0]
        return pulses

    # ------------------------------------------------------------------ lifetime
    def close(self) -> None:
        self.transport.close()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.rows}x{self.cols}, tiles={self.tiles}, "
                f"over {self.transport.describe()})")
