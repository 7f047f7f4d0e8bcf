"""The PYNQ board transport: AXI DMA for the command/response streams, MMIO for the registers.

This module imports ``pynq`` only when a transport is made. On a board,
``PynqTransport.from_bitfile("memhil.bit")`` loads :class:`~memhil.runtime.pynq_overlay.MemhilOverlay`
(its ``.hwh`` alongside) built by ``bitstreams/``; ``PynqTransport(overlay)`` takes an overlay
made by the user (a ``MemhilOverlay``, or a plain ``pynq.Overlay`` whose ``memhil`` is then a
plain ``DefaultIP``: registers go through its ``read``/``write`` either way). The tests run this
code on the real pynq package with only its lowest hardware layer (register access, buffers)
routed to the simulation (tests/pynq_standin.py).

Block design (bitstreams/build.tcl): cell ``memhil`` (``memhil:user:memhil_ip:1.0``, its
``s_axil`` on the PS's GP0 port) and cell ``dma`` (AXI DMA, simple mode, 8-bit streams), MM2S -> ``s_axis_cmd``,
``m_axis_rsp`` -> S2MM. One command frame is one MM2S transfer (the DMA sets TLAST on its last
byte); each response frame ends with the RTL's TLAST, which ends the armed S2MM transfer.

pynq's ``_SDMAChannel`` sets ``transferred`` to 0 in ``transfer()`` and reads the DMA's LENGTH
register into it only in ``wait()`` (which also invalidates the buffer): so a read polls
``idle`` (bounded by the timeout) and then calls ``wait()`` before it looks at ``transferred``.
"""
from __future__ import annotations

import importlib
import time

import numpy as np

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.transport import Transport, TransportError

MEMHIL_VLNV = "memhil:user:memhil_ip:1.0"      # as bitstreams/build.tcl packages it
#: DMA buffer bytes: the longest frame any build sends or accepts (LEN up to 2^PAYLOAD_LOG2_MAX)
MAX_FRAME = pr.LEN_LIMIT + SPEC.protocol["rsp_header_bytes"] + 2
_OVERLAY_ARGS = ("dtbo", "download", "ignore_version", "device")


def _pynq():
    try:
        return importlib.import_module("pynq")
    except ImportError as e:
        raise TransportError("pynq is not installed: the pynq backend runs on a PYNQ board "
                             "(pip install 'memhil[board]' there)") from e


def _addr(name_or_addr) -> int:
    return SPEC.reg(name_or_addr) if isinstance(name_or_addr, str) else int(name_or_addr)


class PynqTransport(Transport):
    """Command frames through the ``dma`` cell; registers through ``memhil``'s MMIO."""

    name = "pynq"
    quiet_s = 0.001

    def __init__(self, overlay, *, dma: str = "dma", ip: str = "memhil",
                 dma_timeout: float = 2.0):
        pynq = _pynq()
        self.overlay = overlay
        self.dma = getattr(overlay, dma)
        self.ip = getattr(overlay, ip)      # MemhilIP, or a plain DefaultIP: read/write only
        self.dma_timeout = dma_timeout
        device = getattr(overlay, "device", None)
        # one transfer moves at most 2^c_sg_length_width - 1 bytes (the DMA's build option)
        self.max_frame = min([MAX_FRAME] + [int(getattr(ch, "_max_size", MAX_FRAME)) for ch in
                                            (self.dma.sendchannel, self.dma.recvchannel)])
        self.txbuf = pynq.allocate(shape=(self.max_frame,), dtype=np.uint8, target=device)
        self.rxbuf = pynq.allocate(shape=(self.max_frame,), dtype=np.uint8, target=device)
        self._armed = False

    @classmethod
    def from_bitfile(cls, bitfile: str, **kw) -> "PynqTransport":
        """Load ``bitfile`` as a :class:`MemhilOverlay` (``dtbo``, ``download``,
        ``ignore_version``, ``device`` go to it) and make the transport."""
        _pynq()
        from memhil.runtime.pynq_overlay import MemhilOverlay

        extra = {k: kw.pop(k) for k in _OVERLAY_ARGS if k in kw}
        return cls(MemhilOverlay(str(bitfile), **extra), **kw)

    # registers (AXI4-Lite). A refused access answers OKAY and counts in CNT_ERRORS.
    def read_reg(self, name_or_addr) -> int:
        return int(self.ip.read(_addr(name_or_addr)))

    def write_reg(self, name_or_addr, value: int) -> None:
        self.ip.write(_addr(name_or_addr), int(value) & 0xFFFFFFFF)

    # streams (AXI DMA)
    def _arm(self) -> None:
        if not self._armed:
            self.dma.recvchannel.transfer(self.rxbuf)
            self._armed = True

    def write(self, data: bytes) -> None:
        n = len(data)
        if n > self.max_frame:
            raise TransportError(f"frame of {n} bytes exceeds the DMA buffer of {self.max_frame}")
        self._arm()
        self.txbuf[:n] = np.frombuffer(bytes(data), dtype=np.uint8)
        ch = self.dma.sendchannel
        ch.transfer(self.txbuf, start=0, nbytes=n)          # flushes the buffer first
        end = time.monotonic() + self.dma_timeout
        while not ch.idle:
            if time.monotonic() > end:
                raise TransportError(f"the DMA's MM2S channel did not finish a {n}-byte transfer "
                                     f"in {self.dma_timeout} s: the memhil IP is not accepting "
                                     f"commands (reset the PL / reload the overlay)")
            time.sleep(1e-5)
        ch.wait()                                           # idle: returns at once

    def read(self, timeout: float) -> bytes:
        self._arm()
        ch = self.dma.recvchannel
        end = time.monotonic() + max(0.0, timeout)
        while not ch.idle:
            if time.monotonic() >= end:
                return b""
            time.sleep(2e-5)
        ch.wait()       # idle, so at once: invalidates rxbuf, reads LENGTH into .transferred
        n = int(ch.transferred)
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

    def describe(self) -> str:
        return f"pynq overlay {getattr(self.overlay, 'bitfile_name', '?')} via AXI DMA"
