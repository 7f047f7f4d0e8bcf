"""The PYNQ board transport: AXI DMA for the command/response streams, MMIO for the registers.

This is the only module that imports ``pynq``, and only when a transport is made. On a board,
``PynqTransport.from_bitfile("memhil.bit")`` loads the overlay (its ``.hwh`` alongside) built by
``bitstreams/``. Elsewhere the tests pass ``pynq_module=`` a stand-in of pynq's API
(tests/pynq_standin.py) that runs the same code against the simulated RTL.

Block design (bitstreams/build.tcl): cell ``memhil`` (``memhil:user:memhil_ip:1.0``, its
``s_axil`` on the PS's GP0 port) and cell ``dma`` (AXI DMA, simple mode, 8-bit streams), MM2S -> ``s_axis_cmd``,
``m_axis_rsp`` -> S2MM. One command frame is one MM2S transfer (the DMA sets TLAST on its last
byte); each response frame ends with the RTL's TLAST, which ends the armed S2MM transfer.
"""
from __future__ import annotations

import importlib
import time

import numpy as np

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.transport import Transport, TransportError

MEMHIL_VLNV = "memhil:user:memhil_ip:1.0"      # as bitstreams/build.tcl packages it
MAX_FRAME = pr.MAX_PAYLOAD + 8
S2MM_LENGTH = 0x58          # AXI DMA register: bytes received by the last S2MM transfer

_classes: dict[int, tuple[type, type]] = {}


def _pynq(module=None):
    if module is not None:
        return module
    try:
        return importlib.import_module("pynq")
    except ImportError as e:
        raise TransportError("pynq is not installed: the pynq backend runs on a PYNQ board "
                             "(pip install 'memhil[board]' there)") from e


def driver_classes(pynq) -> tuple[type, type]:
    """``(MemhilIP, MemhilOverlay)`` built on ``pynq`` (real or stand-in), created once each."""
    key = id(pynq)
    if key in _classes:
        return _classes[key]

    class MemhilIP(pynq.DefaultIP):
        """Driver of the memhil IP: the contract's registers by name."""

        bindto = [MEMHIL_VLNV]

        def read_reg(self, name_or_addr) -> int:
            addr = SPEC.reg(name_or_addr) if isinstance(name_or_addr, str) else name_or_addr
            return int(self.read(addr))

        def write_reg(self, name_or_addr, value: int) -> None:
            addr = SPEC.reg(name_or_addr) if isinstance(name_or_addr, str) else name_or_addr
            self.write(addr, int(value) & 0xFFFFFFFF)

        @property
        def geometry(self) -> dict:
            fields = {**SPEC.unpack("GEOMETRY0", self.read_reg("GEOMETRY0")),
                      **SPEC.unpack("GEOMETRY1", self.read_reg("GEOMETRY1"))}
            return {k.lower(): v for k, v in fields.items()}

    class MemhilOverlay(pynq.Overlay):
        """The memhil overlay: ``.memhil`` (alias ``.crossbar``, a MemhilIP) and ``.dma``."""

        def __init__(self, bitfile_name, *a, **kw):
            super().__init__(bitfile_name, *a, **kw)

        @property
        def crossbar(self):
            return getattr(self, "memhil")

    _classes[key] = (MemhilIP, MemhilOverlay)
    return _classes[key]


class PynqTransport(Transport):
    """Command frames through the ``dma`` cell; registers through ``memhil``'s MMIO."""

    name = "pynq"
    quiet_s = 0.001

    def __init__(self, overlay, *, pynq_module=None, dma: str = "dma",
                 ip: str = "memhil", dma_timeout: float = 2.0):
        pynq = _pynq(pynq_module)
        driver_classes(pynq)                    # registers MemhilIP's bindto
        self.overlay = overlay
        self.dma = getattr(overlay, dma)
        self.ip = getattr(overlay, ip)
        self.dma_timeout = dma_timeout
        self.txbuf = pynq.allocate(shape=(MAX_FRAME,), dtype=np.uint8)
        self.rxbuf = pynq.allocate(shape=(MAX_FRAME,), dtype=np.uint8)
        self._armed = False

    @classmethod
    def from_bitfile(cls, bitfile: str, *, pynq_module=None, **kw) -> "PynqTransport":
        pynq = _pynq(pynq_module)
        _, overlay_cls = driver_classes(pynq)
        extra = {k: kw.pop(k) for k in ("backend",) if k in kw}
        return cls(overlay_cls(bitfile, **extra), pynq_module=pynq, **kw)

    # registers (AXI4-Lite)
    def read_reg(self, name_or_addr) -> int:
        return self.ip.read_reg(name_or_addr)

    def write_reg(self, name_or_addr, value: int) -> None:
        self.ip.write_reg(name_or_addr, value)

    # streams (AXI DMA)
    def _arm(self) -> None:
        if not self._armed:
            self.dma.recvchannel.transfer(self.rxbuf)
            self._armed = True

    def write(self, data: bytes) -> None:
        n = len(data)
        if n > MAX_FRAME:
            raise TransportError(f"frame of {n} bytes exceeds the DMA buffer of {MAX_FRAME}")
        self._arm()
        self.txbuf[:n] = np.frombuffer(bytes(data), dtype=np.uint8)
        self.txbuf.flush()
        ch = self.dma.sendchannel
        ch.transfer(self.txbuf, start=0, nbytes=n)
        end = time.monotonic() + self.dma_timeout
        while not ch.idle:
            if time.monotonic() > end:
                raise TransportError(f"the DMA's MM2S channel did not finish a {n}-byte transfer "
                                     f"in {self.dma_timeout} s: the memhil IP is not accepting "
                                     f"commands (reset the PL / reload the overlay)")
            time.sleep(1e-5)

    def _received(self) -> int:
        ch = self.dma.recvchannel
        n = getattr(ch, "transferred", None)
        if n is None:                                   # older PYNQ: read the DMA register
            n = self.dma.read(S2MM_LENGTH)
        return int(n)

    def read(self, timeout: float) -> bytes:
        self._arm()
        ch = self.dma.recvchannel
        end = time.monotonic() + max(0.0, timeout)
        while not ch.idle:
            if time.monotonic() >= end:
                return b""
            time.sleep(2e-5)
        n = self._received()
        self.rxbuf.invalidate()
        data = bytes(self.rxbuf[:n])
        self._armed = False
        self._arm()
        return data

    def close(self) -> None:
        for b in (self.txbuf, self.rxbuf):
            try:
                b.freebuffer()
            except Exception:  # pragma: no cover
                pass
        backend = getattr(self.overlay, "_backend", None)
        if backend is not None:
            backend.close()

    def describe(self) -> str:
        return f"pynq overlay {getattr(self.overlay, 'bitfile_name', '?')} via AXI DMA"
