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
* metadata: ``get_bitfile_metadata`` returns the dictionaries that pynq's HWH parser makes from
  the block design of bitstreams/build.tcl (:func:`memhil_ip_dict`); no .hwh is parsed.
* download: records the bitstream (pynq's own ``post_download`` stamps it) and the device-tree
  overlay (``dtbo``) instead of writing the FPGA manager and configfs.

What is not modelled: caches beyond flush/invalidate, interrupts, DMA error bits, the PL clocks,
a real bitstream download, timing. Nothing here has run on a board.
"""
from __future__ import annotations

import ctypes
import socket
import struct
from itertools import count

import numpy as np
from pynq.buffer import PynqBuffer
from pynq.pl_server.device import Device

DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"
MEMHIL_VLNV = "memhil:user:memhil_ip:1.0"     # bitstreams/build.tcl packages the IP so
DMA_BASE, DMA_RANGE = 0x4040_0000, 0x1_0000
MEMHIL_BASE, MEMHIL_RANGE = 0x43C0_0000, 0x1000


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
def memhil_ip_dict() -> dict:
    """The two addressable cells of bitstreams/build.tcl as pynq's HWH parser describes them."""
    dma_params = {"c_include_sg": "0", "c_sg_length_width": "23", "c_micro_dma": "0",
                  "c_include_mm2s": "1", "c_include_s2mm": "1",
                  "c_include_mm2s_dre": "0", "c_include_s2mm_dre": "0",
                  "c_m_axi_mm2s_data_width": "32", "c_m_axi_s2mm_data_width": "32",
                  "c_m_axis_mm2s_tdata_width": "8", "c_s_axis_s2mm_tdata_width": "8",
                  "c_mm2s_burst_size": "16", "c_s2mm_burst_size": "16"}
    common = {"gpio": {}, "interrupts": {}, "state": None, "mem_id": "S_AXI_LITE",
              "bdtype": None, "registers": {}}
    return {
        "dma": {**common, "fullpath": "dma", "type": DMA_VLNV, "phys_addr": DMA_BASE,
                "addr_range": DMA_RANGE, "parameters": dma_params},
        "memhil": {**common, "fullpath": "memhil", "type": MEMHIL_VLNV, "mem_id": "s_axil",
                   "phys_addr": MEMHIL_BASE, "addr_range": MEMHIL_RANGE,
                   "parameters": {"ROWS": "8", "COLS": "8"}},
    }


class _Metadata:
    """What ``Device.set_bitfile_name`` and ``Overlay`` read from a parser."""

    def __init__(self):
        self.ip_dict = memhil_ip_dict()
        self.gpio_dict, self.interrupt_controllers, self.interrupt_pins = {}, {}, {}
        self.hierarchy_dict, self.mem_dict, self.clock_dict = {}, {}, {}
        self.systemgraph = None


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
        raise BusFault(f"read of 0x{a:08x}: nothing there (DECERR, a bus fault on a Zynq)")

    def _write32(self, a: int, v: int) -> None:
        if MEMHIL_BASE <= a < MEMHIL_BASE + MEMHIL_RANGE:
            return self.backend.mmio_write(a - MEMHIL_BASE, v)
        if DMA_BASE <= a < DMA_BASE + DMA_RANGE:
            return self.dma.write(a - DMA_BASE, v)
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
        return _Metadata()

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


def make_bitfile(directory, name: str = "memhil.bit", dtbo: bool = False):
    """An empty stand-in bitstream file (pynq checks that it exists), optionally a .dtbo."""
    from pathlib import Path

    bit = Path(directory) / name
    bit.write_bytes(b"")
    if dtbo:
        bit.with_suffix(".dtbo").write_bytes(b"")
    return str(bit)
