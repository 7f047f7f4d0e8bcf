"""The lowest layer under the REAL pynq package, backed by a simulation (tests only).

The pynq transport is tested against the real pynq package (``pip install 'pynq>=3.0,<3.2'``;
3.1.2 here): its ``Overlay``, ``Bitstream``, ``DefaultIP`` driver binding, ``MMIO``,
``allocate``/``PynqBuffer`` and the AXI DMA driver ``pynq.lib.dma.DMA`` with its
``_SDMAChannel`` run unchanged. Only what pynq itself delegates to its ``Device`` (the hardware
layer: ``/dev/mem``, the FPGA manager, XRT/CMA, the device tree) is replaced, by
:class:`SimDevice`, a ``pynq.Device`` subclass:

* register access: ``capabilities["REGISTER_RW"]`` so that pynq's ``MMIO`` calls
  ``read_registers``/``write_registers`` (on a board, ``MEMORY_MAPPED``: a mmap of /dev/mem).
  Addresses in the memhil IP's range become AXI4-Lite transactions of the :class:`Backend`
  (the Verilator simulation's ``s_axil_*``, or ``TwinDevice.mmio_read/mmio_write``); addresses in
  the DMA's range go to :class:`AxiDmaModel`, a model of the AXI DMA's simple-mode registers
  (PG021: DMACR, DMASR with Halted/Idle/IOC, SA/DA, LENGTH) that moves bytes between physical
  memory and the command/response streams.
* memory: ``allocate`` returns real ``pynq.buffer.PynqBuffer`` objects (non-coherent) whose
  "physical" memory is a separate byte array: ``flush`` copies the CPU's view to it and
  ``invalidate`` copies it back, so a missing flush/invalidate is seen as on a board.
* metadata: ``get_bitfile_metadata`` parses the ``.hwh`` beside the bitstream exactly as pynq's
  ``EmbeddedDevice`` does on a board (``pynqmetadata`` -> ``RuntimeMetadataParser``), without
  the XRT memory description that only XRT's allocator needs; :func:`make_bitfile` writes that
  .hwh from bitstreams/build.tcl and bitstreams/memhil_ip.v (tests/memhil_hwh.py). No .hwh: the
  same error as on a board.
* the PS's clock registers (SLCR, 0xF8000000): pynq's ``Overlay.download`` sets the PL clocks
  from the .hwh through ``pynq.Clocks``, which reads and writes them with ``MMIO``;
  :data:`SLCR` models them (the PYNQ-Z2's PLLs, power-on PL clock dividers), so
  ``pynq.Clocks.fclk0_mhz`` reads what the .hwh asked for. pynq picks its Zynq clock code by the
  CPU: ``Device.arch`` (pynq 3.1) or ``pynq.ps.CPU_ARCH`` (pynq 3.0); a SimDevice makes both
  say ``armv7l``, as on the board.
* download: records the bitstream (pynq's own ``post_download`` stamps it) and the device-tree
  overlay (``dtbo``) instead of writing the FPGA manager and configfs.

A process without the simulation in it (a Jupyter kernel, a Python with another pynq version or
without torch) reaches the logic over a socket: :class:`BackendServer` serves a Backend,
:class:`RemoteBackend` is its client, and :func:`install_from_env` makes the SimDevice pynq's
active device from ``MEMHIL_PYNQ_STANDIN`` (tests/test_notebooks.py, tests/test_pynq30.py).

What is not modelled: caches beyond flush/invalidate, interrupts, DMA error bits, a real
bitstream download (the logic keeps its state across downloads), timing. Nothing here has run
on a board.
"""
from __future__ import annotations

import ctypes
import os
import socket
import struct
import sys
import threading
from itertools import count
from pathlib import Path

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

# The hardware: the register windows bitstreams/build.tcl pins with assign_bd_address
# (tests/test_hwh.py checks these against the Tcl; pynq learns them from the .hwh)
DMA_BASE, DMA_RANGE = 0x4040_0000, 0x1_0000
MEMHIL_BASE, MEMHIL_RANGE = 0x43C0_0000, 0x1000
SLCR_BASE, SLCR_RANGE = 0xF800_0000, 0x200
ZYNQ_ARCH = "armv7l"


# ---------------------------------------------------------------------------- backends
class Backend:
    """The programmable logic: a command stream and an AXI4-Lite register bus."""

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
    """:class:`~memhil.runtime.device_model.TwinDevice` as the logic (in-process); MMIO as the
    RTL's AXI4-Lite slave answers it (``TwinDevice.mmio_read/mmio_write``)."""

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
        return self.device.mmio_read(addr)

    def mmio_write(self, addr: int, value: int) -> None:
        self.device.mmio_write(addr, value)


class BusFault(RuntimeError):
    """An AXI4-Lite error response: on a Zynq, SIGBUS (the process dies)."""


class SimBackend(Backend):
    """The live Verilator simulation (:func:`memhil.runtime.sim_link.start_server`): the
    command stream over its byte socket, every MMIO access as one AXI4-Lite transaction on the
    RTL's ``s_axil_*`` over its side channel. An SLVERR/DECERR raises :class:`BusFault`."""

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

    def _mmio(self, req: bytes) -> int:
        self._m.sendall(req)
        rsp = b""
        while len(rsp) < 5:
            chunk = self._m.recv(5 - len(rsp))
            if not chunk:
                raise ConnectionError("the simulation closed its MMIO channel")
            rsp += chunk
        resp, data = struct.unpack("<BI", rsp)
        if resp != 0:
            raise BusFault(f"AXI4-Lite response {resp} (a bus fault on a Zynq)")
        return data

    def mmio_read(self, addr: int) -> int:
        return self._mmio(struct.pack("<cHI", b"R", addr, 0))

    def mmio_write(self, addr: int, value: int) -> None:
        self._mmio(struct.pack("<cHI", b"W", addr, value & 0xFFFFFFFF))

    def close(self) -> None:
        for s in (self._s, self._m):
            try:
                s.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------- over a socket
# One request: op (1 byte), addr (u32), n (u32), n payload bytes. One answer: status (u32: 0 ok,
# 1 bus fault, 2 other error), n (u32), n bytes (the polled stream bytes, the register value, or
# the error's text). Ops: S stream_send, P stream_poll, R mmio_read, W mmio_write.
_REQ, _RSP = struct.Struct("<cII"), struct.Struct("<II")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("the backend server closed the connection")
        buf += chunk
    return buf


class BackendServer:
    """Serves a :class:`Backend` (in this process) to :class:`RemoteBackend` clients on a
    loopback port, one connection at a time; the logic keeps its state across connections."""

    def __init__(self, backend: Backend, port: int = 0):
        self.backend = backend
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"remote:127.0.0.1:{self.port}"
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True,
                                        name="pynq-standin-backend")
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    while not self._stop.is_set():
                        op, addr, n = _REQ.unpack(_recv_exact(conn, _REQ.size))
                        payload = _recv_exact(conn, n) if n else b""
                        conn.sendall(self._answer(op, addr, payload))
                except (ConnectionError, OSError):
                    pass

    def _answer(self, op: bytes, addr: int, payload: bytes) -> bytes:
        self.requests += 1
        try:
            if op == b"S":
                self.backend.stream_send(payload)
                out = b""
            elif op == b"P":
                out = self.backend.stream_poll()
            elif op == b"R":
                out = struct.pack("<I", self.backend.mmio_read(addr))
            elif op == b"W":
                self.backend.mmio_write(addr, struct.unpack("<I", payload)[0])
                out = b""
            else:
                raise ValueError(f"unknown request {op!r}")
            return _RSP.pack(0, len(out)) + out
        except BusFault as e:
            text = str(e).encode()
            return _RSP.pack(1, len(text)) + text
        except Exception as e:            # reported to the client, the server keeps serving
            text = f"{type(e).__name__}: {e}".encode()
            return _RSP.pack(2, len(text)) + text

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
        self.sock.close()


class RemoteBackend(Backend):
    """A :class:`Backend` served by a :class:`BackendServer` in another process."""

    def __init__(self, host: str, port: int):
        self._s = socket.create_connection((host, int(port)), timeout=10.0)
        self._s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _call(self, op: bytes, addr: int = 0, payload: bytes = b"") -> bytes:
        self._s.sendall(_REQ.pack(op, addr, len(payload)) + payload)
        status, n = _RSP.unpack(_recv_exact(self._s, _RSP.size))
        data = _recv_exact(self._s, n) if n else b""
        if status == 1:
            raise BusFault(data.decode())
        if status:
            raise RuntimeError(f"backend server: {data.decode()}")
        return data

    def stream_send(self, data: bytes) -> None:
        self._call(b"S", 0, bytes(data))

    def stream_poll(self) -> bytes:
        return self._call(b"P")

    def mmio_read(self, addr: int) -> int:
        return struct.unpack("<I", self._call(b"R", addr))[0]

    def mmio_write(self, addr: int, value: int) -> None:
        self._call(b"W", addr, struct.pack("<I", value & 0xFFFFFFFF))

    def close(self) -> None:
        try:
            self._s.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------- the AXI DMA
class AxiDmaModel:
    """The AXI DMA's simple-mode register file (PG021) over physical memory and the streams.

    Per channel (MM2S at 0x00, S2MM at 0x30): DMACR (+0x00, bit 0 RS), DMASR (+0x04: bit 0
    Halted, bit 1 Idle, bit 12 IOC_Irq, write 1 to clear), SA/DA (+0x18/+0x1C), LENGTH (+0x28;
    writing it starts a transfer; S2MM: reads back the bytes received). After RS is set, Idle is
    0 until the first transfer completes (what pynq's ``_first_transfer`` is for). An S2MM
    transfer ends at the stream's TLAST (the end of a response frame, as the RTL marks it) or
    when the buffer is full; the rest of the stream waits for the next transfer."""

    def __init__(self, device: "SimDevice"):
        self.dev = device
        self.regs = {0x00: 0, 0x04: 1, 0x30: 0, 0x34: 1}
        self._busy = {0x00: False, 0x30: False}
        self._pending = bytearray()

    def read(self, off: int) -> int:
        if off == 0x34:
            self._pump()
        return self.regs.get(off, 0)

    def write(self, off: int, value: int) -> None:
        ch = 0x30 if off >= 0x30 else 0x00
        reg = off - ch
        if reg == 0x00:                                   # DMACR
            self.regs[off] = value
            sr = self.regs[ch + 0x04]
            self.regs[ch + 0x04] = (sr & ~1) if value & 1 else ((sr | 1) & ~2)
            if value & 4:                                 # reset
                self.regs[ch + 0x04] = 1
        elif reg == 0x04:                                 # DMASR: write 1 to clear IRQs
            self.regs[off] = self.regs[off] & ~(value & 0x7000)
        elif reg == 0x28:                                 # LENGTH: start
            if self.regs[ch + 0x04] & 1:
                raise RuntimeError("AXI DMA model: LENGTH written while halted")
            self.regs[off] = value
            self.regs[ch + 0x04] &= ~2
            self._busy[ch] = True
            if ch == 0x00:
                addr = self.regs.get(0x18, 0) | (self.regs.get(0x1C, 0) << 32)
                self.dev.backend.stream_send(self.dev.mem_read(addr, value))
                self._done(0x00)
            else:
                self._pump()
        else:
            self.regs[off] = value

    def _done(self, ch: int) -> None:
        self._busy[ch] = False
        self.regs[ch + 0x04] |= 0x1002                    # Idle, IOC_Irq

    def _pump(self) -> None:
        if not self._busy[0x30]:
            return
        self._pending += self.dev.backend.stream_poll()
        want = self.regs[0x58]
        end = _frame_end(self._pending)
        if end is None:
            if len(self._pending) < want:
                return
            end = want
        n = min(end, want)
        addr = self.regs.get(0x48, 0) | (self.regs.get(0x4C, 0) << 32)
        self.dev.mem_write(addr, bytes(self._pending[:n]))
        del self._pending[:n]
        self.regs[0x58] = n
        self._done(0x30)


def _frame_end(buf: bytearray) -> int | None:
    """Index after the first complete response frame in ``buf`` (None if none). Bytes before a
    0x5A start byte count as their own packet."""
    if not buf:
        return None
    if buf[0] != 0x5A:
        i = buf.find(b"\x5a")
        return len(buf) if i < 0 else i
    if len(buf) < 7:
        return None
    total = 7 + (buf[4] | (buf[5] << 8) | (buf[6] << 16)) + 2   # header, payload, CRC
    return total if len(buf) >= total else None


# ---------------------------------------------------------------------------- metadata
def parse_hwh(bitfile_name, partial: bool = False):
    """What pynq's ``EmbeddedDevice.get_bitfile_metadata`` returns for a .bit with its .hwh
    (``BitstreamHandler.get_parser``: pynqmetadata's HWH frontend under pynq's
    ``RuntimeMetadataParser``; a partial bitstream: pynq's ``hwh_parser.HWH``), less the XRT
    memory topology (``xclbin_data``, made with Xilinx's xclbinutil) that only XRT's allocator
    reads. No .hwh beside the .bit: pynq's error."""
    from pynq.pl_server.embedded_device import _get_bitstream_handler

    handler = _get_bitstream_handler(bitfile_name)
    hwh = handler.get_hwh_data()
    if hwh is None:
        raise RuntimeError("Unable to find metadata for bitstream")
    if partial:
        from pynq.pl_server.hwh_parser import HWH

        parser = HWH(hwh_data=hwh)
    else:
        from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser
        from pynqmetadata.frontends import Metadata

        parser = RuntimeMetadataParser(Metadata(input=Path(bitfile_name).with_suffix(".hwh")))
        parser.refresh_hierarchy_dict()
    parser.bin_data = None
    parser.xclbin_data = None
    parser.dtbo_data = handler.get_dtbo_data()
    return parser


# The PS's clock registers (UG585, SLCR): PLL feedback dividers of the PYNQ-Z2 (50 MHz PS_CLK:
# ARM PLL 1300 MHz, DDR PLL 1050 MHz, IO PLL 1000 MHz), CPU clock ARM PLL / 2, and the PL
# clocks at their power-on value (IO PLL / 24 / 1 = 41.7 MHz) until an Overlay sets them. One PS
# per process, like pynq's Clocks, which keeps the first device it was given.
SLCR_RESET = {0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12, 0x120: 2 << 8,
              0x170: 0x0010_1800, 0x180: 0x0010_1800, 0x190: 0x0010_1800, 0x1A0: 0x0010_1800}
SLCR: dict[int, int] = dict(SLCR_RESET)


# ---------------------------------------------------------------------------- the device
class _Buffer(PynqBuffer):
    """pynq's PynqBuffer, unchanged except for one thing: pynq pins numpy<2, and numpy 2's
    ndarray has a read-only ``device`` attribute that PynqBuffer.__new__ assigns; this class
    attribute makes it an ordinary attribute again (no effect under numpy 1.x, as on a board)."""

    device = None


class _Memory:
    def __init__(self, device):
        self.device = device

    def allocate(self, shape, dtype, **kwargs):
        return self.device.allocate_buffer(shape, dtype)


class SimDevice(Device):
    """A ``pynq.Device`` whose PL is the :class:`Backend` (no ``_probe_``: never found by
    pynq's probing; tests make it ``Device.active_device``)."""

    def __init__(self, backend: Backend, tag: str = "memhil_sim"):
        super().__init__(tag)
        self.name = tag
        self.backend = backend
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.arch = ZYNQ_ARCH                     # pynq 3.1's Clocks asks the device
        import pynq.ps

        if not hasattr(pynq.ps.Clocks, "set_device"):
            pynq.ps.CPU_ARCH = ZYNQ_ARCH          # pynq 3.0's Clocks asks the module
        self.dma = AxiDmaModel(self)
        self.timestamp = ""
        self.bitfile_name = None
        self.downloads: list[str] = []
        self.dtbos: list[str] = []
        self._phys = count(0x1800_0000, 0x20_0000)
        self._mem: dict[int, tuple[bytearray, int]] = {}     # bo -> (device memory, phys)
        self._bo = count(1)
        self.default_memory = _Memory(self)

    # register access (pynq's MMIO with REGISTER_RW)
    def read_registers(self, address: int, length: int) -> bytes:
        out = b""
        for a in range(address, address + length, 4):
            out += struct.pack("<I", self._read32(a))
        return out[:length]

    def write_registers(self, address: int, data) -> None:
        data = bytes(data)
        for k in range(0, len(data), 4):
            self._write32(address + k, struct.unpack("<I", data[k: k + 4].ljust(4, b"\0"))[0])

    def _read32(self, a: int) -> int:
        if MEMHIL_BASE <= a < MEMHIL_BASE + MEMHIL_RANGE:
            return self.backend.mmio_read(a - MEMHIL_BASE)
        if DMA_BASE <= a < DMA_BASE + DMA_RANGE:
            return self.dma.read(a - DMA_BASE)
        if SLCR_BASE <= a < SLCR_BASE + SLCR_RANGE:
            return SLCR.get(a - SLCR_BASE, 0)
        raise BusFault(f"read of 0x{a:08x}: nothing there (DECERR, a bus fault on a Zynq)")

    def _write32(self, a: int, v: int) -> None:
        if MEMHIL_BASE <= a < MEMHIL_BASE + MEMHIL_RANGE:
            return self.backend.mmio_write(a - MEMHIL_BASE, v)
        if DMA_BASE <= a < DMA_BASE + DMA_RANGE:
            return self.dma.write(a - DMA_BASE, v)
        if SLCR_BASE <= a < SLCR_BASE + SLCR_RANGE:
            SLCR[a - SLCR_BASE] = v & 0xFFFF_FFFF
            return None
        raise BusFault(f"write of 0x{a:08x}: nothing there (DECERR, a bus fault on a Zynq)")

    # memory: non-coherent buffers over a separate "physical" memory
    def allocate_buffer(self, shape, dtype) -> PynqBuffer:
        nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
        bo, phys = next(self._bo), next(self._phys)
        if nbytes > 0x20_0000:
            raise MemoryError("SimDevice: buffers up to 2 MiB")
        self._mem[bo] = (bytearray(nbytes), phys)
        cls = _Buffer if np.__version__ >= "2" else PynqBuffer
        return cls(shape, dtype, device=self, device_address=phys, bo=bo, coherent=False)

    def flush(self, bo, offset, ptr, size) -> None:
        mem, _ = self._mem[bo]
        mem[offset: offset + size] = ctypes.string_at(ptr, size)

    def invalidate(self, bo, offset, ptr, size) -> None:
        mem, _ = self._mem[bo]
        ctypes.memmove(ptr, bytes(mem[offset: offset + size]), size)

    def _find(self, addr: int, n: int) -> tuple[bytearray, int]:
        for mem, phys in self._mem.values():
            if phys <= addr and addr + n <= phys + len(mem):
                return mem, addr - phys
        raise BusFault(f"DMA access of {n} bytes at 0x{addr:08x}: no buffer there")

    def mem_read(self, addr: int, n: int) -> bytes:
        mem, off = self._find(addr, n)
        return bytes(mem[off: off + n])

    def mem_write(self, addr: int, data: bytes) -> None:
        mem, off = self._find(addr, len(data))
        mem[off: off + len(data)] = data

    # bitstream and metadata
    def get_bitfile_metadata(self, bitfile_name, partial=False):
        return parse_hwh(bitfile_name, partial)

    def download(self, bitstream, parser=None):
        self.downloads.append(bitstream.bitfile_name)
        self.post_download(bitstream, parser, self.name)

    def gen_cache(self, bitstream, parser=None):
        pass

    def insert_device_tree(self, abs_dtbo):
        self.dtbos.append(abs_dtbo)

    def remove_device_tree(self, abs_dtbo):
        self.dtbos.remove(abs_dtbo)

    def close(self):
        self.backend.close()


def make_bitfile(directory, name: str = "memhil.bit", dtbo: bool = False,
                 hwh: bool = True, params: dict | None = None) -> str:
    """An empty stand-in bitstream (pynq checks that it exists) with its .hwh beside it
    (tests/memhil_hwh.py, for the IP parameters ``params``: ROWS, COLS, TILES, LANES, G_W;
    default bitstreams/Makefile's), and optionally an empty .dtbo."""
    bit = Path(directory) / name
    bit.write_bytes(b"")
    if hwh:
        from memhil_hwh import write_hwh

        write_hwh(bit.with_suffix(".hwh"), params)
    if dtbo:
        bit.with_suffix(".dtbo").write_bytes(b"")
    return str(bit)


# ---------------------------------------------------------------------------- other processes
ENV = "MEMHIL_PYNQ_STANDIN"
ENV_MISSING = "MEMHIL_PYNQ_STANDIN_MISSING"


def backend_from_spec(spec: str) -> Backend:
    """``twin:ROWS,COLS,TILES,G_W[,LANES]`` (a TwinDevice in this process), ``remote:HOST:PORT``
    (a :class:`BackendServer`), ``rtl:STREAM_URL,MMIO_URL`` (a running Verilator simulation's
    two sockets, ``socket://...``)."""
    kind, _, arg = spec.partition(":")
    if kind == "twin":
        from memhil.runtime.device_model import TwinDevice

        rows, cols, tiles, g_w, *lanes = (int(v) for v in arg.split(","))
        return TwinBackend(TwinDevice(rows, cols, tiles, g_w=g_w,
                                      **({"lanes": lanes[0]} if lanes else {})))
    if kind == "remote":
        host, port = arg.rsplit(":", 1)
        return RemoteBackend(host, int(port))
    if kind == "rtl":
        from types import SimpleNamespace

        url, mmio_url = arg.split(",")
        return SimBackend(SimpleNamespace(url=url, mmio_url=mmio_url))
    raise ValueError(f"{ENV}={spec!r}: expected twin:..., remote:HOST:PORT or rtl:URL,MMIO_URL")


class _Missing:
    """A meta path finder for which some packages do not exist: ``import torch`` raises
    ModuleNotFoundError and ``sys.modules`` has no ``torch`` key, as where it is not installed
    (libraries that look there, such as scipy, then see no torch)."""

    def __init__(self, names):
        self.names = set(names)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"No module named {name!r} (not on this simulated "
                                      f"PYNQ-Z2)", name=name)
        return None


def block_modules(names) -> None:
    """Make the top-level packages ``names`` (e.g. torch, sklearn) impossible to import here."""
    names = [n for n in names if n]
    loaded = [n for n in names if n in sys.modules]
    if loaded:
        raise RuntimeError(f"{loaded} imported already: cannot remove them from this Python")
    if names:
        sys.meta_path.insert(0, _Missing(names))


def block_torch() -> None:
    block_modules(["torch"])


def install_from_env() -> SimDevice | None:
    """In a process the tests start (a Jupyter kernel through an IPython startup file, a child
    Python): make a :class:`SimDevice` over ``$MEMHIL_PYNQ_STANDIN`` pynq's active device, as
    the board's EmbeddedDevice is. ``$MEMHIL_PYNQ_STANDIN_MISSING=torch,sklearn`` first makes
    those packages impossible to import, as on a PYNQ-Z2 (no torch wheel for ARMv7; scikit-learn
    not on the image). Nothing set: nothing done."""
    block_modules(os.environ.get(ENV_MISSING, "").split(","))
    spec = os.environ.get(ENV)
    if not spec:
        return None
    dev = SimDevice(backend_from_spec(spec))
    Device.active_device = dev
    return dev
