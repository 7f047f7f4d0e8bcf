"""A stand-in for the part of PYNQ's API that memhil uses, backed by a simulation.

PYNQ (``pip install pynq``) only installs and runs on a board (it pins its own numpy and talks
to ``/dev/mem`` and the XRT/CMA allocator). So that the **same** :class:`PynqTransport` code runs
in CI, this module offers the names and call shapes that it uses, with the semantics of the
real ones:

* :class:`Overlay` (``ip_dict``, attribute access that instantiates a driver by the IP's VLNV
  through the ``bindto`` registry of :class:`DefaultIP`), :class:`MMIO` (``read``/``write``),
* :func:`allocate` returning a :class:`PynqBuffer` (an ndarray with ``physical_address``,
  ``flush``, ``invalidate``, ``freebuffer``),
* :class:`DMA` (bound to ``xilinx.com:ip:axi_dma:7.1``) with ``sendchannel``/``recvchannel``
  simple-mode channels: ``transfer(array, start=0, nbytes=0)``, ``wait()``, ``idle``,
  ``running``, ``transferred``.

Behind it a :class:`Backend` plays the programmable logic: :class:`TwinBackend` (the protocol
twin, in-process) or :class:`SimBackend` (the live Verilator simulation: the command stream
over its socket and every MMIO access as one real AXI4-Lite transaction over its side channel).
The receive channel ends a transfer at the end of each response frame, as the RTL's
``m_axis_rsp_tlast`` ends the S2MM transfer on a board.

What it does not model: caches (``flush``/``invalidate`` are no-ops), physical memory, interrupts,
DMA error bits, bitstream download, clocks. Nothing here has run on a board.
"""
from __future__ import annotations

import socket
import struct
import time
from itertools import count

import numpy as np

DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"
MEMHIL_VLNV = "memhil:user:memhil_ip:1.0"     # bitstreams/build.tcl packages the IP so


# ---------------------------------------------------------------------------- backends
class Backend:
    """The programmable logic behind the stand-in: a command stream and a register bus."""

    def stream_send(self, data: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def stream_poll(self) -> bytes:  # pragma: no cover - interface
        """Response bytes produced so far (non-blocking)."""
        raise NotImplementedError

    def mmio_read(self, addr: int) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def mmio_write(self, addr: int, value: int) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        pass


class TwinBackend(Backend):
    """:class:`~memhil.runtime.device_model.TwinDevice` as the logic (in-process)."""

    def __init__(self, device):
        self.device = device
        self._rx = bytearray()

    def stream_send(self, data: bytes) -> None:
        self._rx += self.device.feed(bytes(data), tlast=True)   # one DMA transfer = one packet

    def stream_poll(self) -> bytes:
        out = bytes(self._rx)
        self._rx.clear()
        return out

    def mmio_read(self, addr: int) -> int:
        try:
            return self.device.read_reg(addr)
        except Exception:   # AXI SLVERR: PYNQ's MMIO.read returns whatever the bus holds
            return 0

    def mmio_write(self, addr: int, value: int) -> None:
        try:
            self.device.twin.write_reg(addr, value)
            if addr == 0x010 and value & 1:
                self.device.errors = 0
        except Exception:   # SLVERR: ignored, as PYNQ's MMIO.write does
            pass


class SimBackend(Backend):
    """The live Verilator simulation (:func:`memhil.runtime.sim_link.start_server`): the
    command stream over its byte socket, MMIO over its AXI4-Lite side channel."""

    def __init__(self, server):
        if not getattr(server, "mmio_url", None):
            raise RuntimeError("this simulation has no AXI4-Lite side channel (the UART build "
                               "or the twin server): use the AXI build, model='rtl', uart=False")
        self.server = server
        self._s = self._connect(server.url)
        self._m = self._connect(server.mmio_url)
        self._s.setblocking(False)

    @staticmethod
    def _connect(url: str) -> socket.socket:
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=5.0)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stream_send(self, data: bytes) -> None:
        self._s.setblocking(True)
        self._s.sendall(bytes(data))
        self._s.setblocking(False)

    def stream_poll(self) -> bytes:
        try:
            return self._s.recv(65536)
        except BlockingIOError:
            return b""

    def _mmio(self, req: bytes) -> tuple[int, int]:
        self._m.sendall(req)
        rsp = b""
        while len(rsp) < 5:
            chunk = self._m.recv(5 - len(rsp))
            if not chunk:
                raise ConnectionError("the simulation closed its MMIO channel")
            rsp += chunk
        resp, data = struct.unpack("<BI", rsp)
        return resp, data

    def mmio_read(self, addr: int) -> int:
        return self._mmio(struct.pack("<cHI", b"R", addr, 0))[1]

    def mmio_write(self, addr: int, value: int) -> None:
        self._mmio(struct.pack("<cHI", b"W", addr, value & 0xFFFFFFFF))

    def close(self) -> None:
        for s in (self._s, self._m):
            try:
                s.close()
            except OSError:
                pass


_default_backend: Backend | None = None


def use_backend(backend: Backend | None) -> None:
    """Set the backend that :class:`Overlay` uses when none is passed."""
    global _default_backend
    _default_backend = backend


# ---------------------------------------------------------------------------- buffers
_phys = count(0x1000_0000, 0x10_0000)


class PynqBuffer(np.ndarray):
    """``pynq.allocate``'s array: physically contiguous on a board; here plain memory."""

    def __array_finalize__(self, obj):
        self.physical_address = getattr(obj, "physical_address", 0)

    @property
    def device_address(self) -> int:
        return self.physical_address

    def flush(self) -> None:
        pass

    def invalidate(self) -> None:
        pass

    def sync_to_device(self) -> None:
        pass

    def sync_from_device(self) -> None:
        pass

    def freebuffer(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.freebuffer()


def allocate(shape, dtype="u4", target=None, **kwargs) -> PynqBuffer:
    buf = np.zeros(shape, dtype=dtype).view(PynqBuffer)
    buf.physical_address = next(_phys)
    return buf


# ---------------------------------------------------------------------------- MMIO and IP
class MMIO:
    """32-bit register access at ``base_addr`` (offsets in bytes)."""

    def __init__(self, base_addr: int, length: int = 4, *, backend: Backend | None = None):
        self.base_addr, self.length = base_addr, length
        self.backend = backend if backend is not None else _default_backend

    def _check(self, offset: int) -> None:
        if offset < 0 or offset + 4 > self.length or offset % 4:
            raise ValueError(f"MMIO offset 0x{offset:x} outside [0, 0x{self.length:x}) or "
                             f"not word aligned")

    def read(self, offset: int = 0, length: int = 4, word_order: str = "little") -> int:
        self._check(offset)
        return self.backend.mmio_read(offset)

    def write(self, offset: int, data) -> None:
        self._check(offset)
        self.backend.mmio_write(offset, int(data))


_ip_drivers: dict[str, type] = {}


class DefaultIP:
    """Base of IP drivers; a subclass with ``bindto = [vlnv, ...]`` is registered for them."""

    bindto: list[str] = []

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        for vlnv in cls.__dict__.get("bindto", []):
            _ip_drivers[vlnv] = cls

    def __init__(self, description: dict):
        self.description = description
        self._backend = description.get("_backend", _default_backend)
        self.mmio = MMIO(description["phys_addr"], description["addr_range"],
                         backend=self._backend)

    def read(self, offset: int = 0) -> int:
        return self.mmio.read(offset)

    def write(self, offset: int, value) -> None:
        self.mmio.write(offset, value)


# ---------------------------------------------------------------------------- DMA
class _SDMAChannel:
    """One simple-mode AXI DMA channel (MM2S ``sendchannel`` or S2MM ``recvchannel``)."""

    def __init__(self, backend: Backend, tx: bool, max_size: int = 1 << 23):
        self._backend, self._tx, self._max = backend, tx, max_size
        self._array: np.ndarray | None = None
        self._nbytes = 0
        self._done = True
        self._transferred = 0
        self._pending = bytearray()       # S2MM: stream bytes not yet placed in a transfer
        self._running = True

    @property
    def running(self) -> bool:
        return self._running

    @property
    def idle(self) -> bool:
        if not self._tx and not self._done:
            self._pump()
        return self._done

    @property
    def error(self) -> bool:
        return False

    @property
    def transferred(self) -> int:
        return self._transferred

    def start(self) -> None:
        self._running = True

    def stop(self) -> None:
        self._running = False

    def transfer(self, array, start: int = 0, nbytes: int = 0) -> None:
        if not self._running:
            raise RuntimeError("DMA channel not started")
        if not self._done:
            raise RuntimeError("DMA channel not idle")
        view = np.asarray(array).reshape(-1).view(np.uint8)
        if nbytes == 0:
            nbytes = view.size - start
        if start < 0 or nbytes <= 0 or start + nbytes > view.size or nbytes > self._max:
            raise ValueError(f"transfer of {nbytes} bytes at {start} does not fit the buffer "
                             f"of {view.size} bytes")
        self._array, self._start, self._nbytes = view, start, nbytes
        self._transferred = 0
        self._done = False
        if self._tx:
            self._backend.stream_send(bytes(view[start: start + nbytes]))
            self._transferred = nbytes
            self._done = True
        else:
            self._pump()

    def _pump(self) -> None:
        """S2MM: move stream bytes into the armed buffer; TLAST (end of a response frame, as
        the RTL marks it) or a full buffer ends the transfer."""
        self._pending += self._backend.stream_poll()
        end = _frame_end(self._pending)
        if end is None:
            if len(self._pending) < self._nbytes:
                return
            end = self._nbytes
        n = min(end, self._nbytes)
        self._array[self._start: self._start + n] = np.frombuffer(bytes(self._pending[:n]),
                                                                  dtype=np.uint8)
        del self._pending[:n]
        self._transferred = n
        self._done = True

    def wait(self) -> None:
        while not self.idle:
            time.sleep(1e-5)


def _frame_end(buf: bytearray) -> int | None:
    """Index after the first complete response frame in ``buf`` (None if none). Bytes before a
    0x5A start byte count as their own packet."""
    if not buf:
        return None
    if buf[0] != 0x5A:
        i = buf.find(b"\x5a")
        return len(buf) if i < 0 else i
    if len(buf) < 6:
        return None
    total = 6 + (buf[4] | (buf[5] << 8)) + 2
    return total if len(buf) >= total else None


class DMA(DefaultIP):
    """The AXI DMA driver (simple mode)."""

    bindto = [DMA_VLNV]

    def __init__(self, description: dict):
        super().__init__(description)
        self.sendchannel = _SDMAChannel(self._backend, tx=True)
        self.recvchannel = _SDMAChannel(self._backend, tx=False)


# ---------------------------------------------------------------------------- Overlay
def standin_ip_dict() -> dict:
    """The block design that bitstreams/build.tcl builds: cells ``memhil`` and ``dma``."""
    return {
        "dma": {"type": DMA_VLNV, "phys_addr": 0x4040_0000, "addr_range": 0x1_0000,
                "fullpath": "dma"},
        "memhil": {"type": MEMHIL_VLNV, "phys_addr": 0x43C0_0000, "addr_range": 0x1000,
                   "fullpath": "memhil"},
    }


class Overlay:
    """``pynq.Overlay(bitfile)``: IPs become attributes, each an instance of the driver that is
    bound to its VLNV (or :class:`DefaultIP`). ``backend`` (stand-in only) picks the logic."""

    def __init__(self, bitfile_name: str, download: bool = True, ignore_version: bool = False,
                 device=None, *, backend: Backend | None = None):
        self.bitfile_name = str(bitfile_name)
        self._backend = backend if backend is not None else _default_backend
        if self._backend is None:
            raise RuntimeError("pynq stand-in: no backend; pass backend= or call use_backend()")
        self.ip_dict = standin_ip_dict()
        self._ips: dict[str, DefaultIP] = {}

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in self.__dict__.get("ip_dict", {}):
            raise AttributeError(f"overlay has no attribute {name!r}")
        if name not in self._ips:
            desc = dict(self.ip_dict[name], _backend=self._backend)
            self._ips[name] = _ip_drivers.get(desc["type"], DefaultIP)(desc)
        return self._ips[name]

    def download(self) -> None:
        pass

    def is_loaded(self) -> bool:
        return True
