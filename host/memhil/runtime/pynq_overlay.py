"""The memhil overlay for the real ``pynq`` package: ``MemhilIP`` and ``MemhilOverlay``.

Importing this module imports ``pynq`` (a PYNQ board: ``pip install 'memhil[board]'``, which pins
pynq below 4.0 for the PYNQ-Z1/Z2) and defines, at module level, the driver of the memhil IP:
``MemhilIP(pynq.DefaultIP)`` with ``bindto = ["memhil:user:memhil_ip:1.0"]``. pynq binds drivers
when an ``Overlay`` is constructed, so import this module (or ``memhil.runtime.pynq_transport``'s
``PynqTransport.from_bitfile``, which does) **before** making the overlay for ``overlay.memhil``
to be a ``MemhilIP``; ``PynqTransport`` itself works with a plain ``DefaultIP`` too.

    from memhil.runtime.pynq_overlay import MemhilOverlay
    ol = MemhilOverlay("memhil.bit")           # memhil.hwh beside it (dtbo= as pynq.Overlay)
    ol.crossbar.read_reg("ID"), ol.crossbar.geometry
    xb = Crossbar(ol.transport())

Block design (bitstreams/build.tcl): cell ``memhil`` (its ``s_axil`` on the PS's GP0 port) and
cell ``dma`` (AXI DMA, simple mode, 8-bit streams), MM2S -> ``s_axis_cmd``, ``m_axis_rsp`` -> S2MM.
"""
from __future__ import annotations

import pynq

from memhil.contract.spec import SPEC

MEMHIL_VLNV = "memhil:user:memhil_ip:1.0"      # as bitstreams/build.tcl packages it


def _addr(name_or_addr) -> int:
    return SPEC.reg(name_or_addr) if isinstance(name_or_addr, str) else int(name_or_addr)


class MemhilIP(pynq.DefaultIP):
    """Driver of the memhil IP: the contract's registers (section 7) by name.

    A refused access (read-only or unknown register, value out of range) answers OKAY on the
    bus (never a bus fault): it changes nothing, reads 0, counts in ``CNT_ERRORS`` and sets
    ``STATUS.LAST_ERROR`` to BAD_ARG; :meth:`write_reg` with ``check=True`` says so."""

    bindto = [MEMHIL_VLNV]

    def read_reg(self, name_or_addr) -> int:
        return int(self.read(_addr(name_or_addr)))

    def write_reg(self, name_or_addr, value: int, *, check: bool = False) -> None:
        addr = _addr(name_or_addr)
        before = self.read_reg("CNT_ERRORS") if check else 0
        self.write(addr, int(value) & 0xFFFFFFFF)
        if check and self.read_reg("CNT_ERRORS") != before:
            raise ValueError(f"register 0x{addr:03x}: write of {int(value):#x} refused "
                             f"(contract section 7)")

    @property
    def geometry(self) -> dict:
        fields = {**SPEC.unpack("GEOMETRY0", self.read_reg("GEOMETRY0")),
                  **SPEC.unpack("GEOMETRY1", self.read_reg("GEOMETRY1")),
                  **SPEC.unpack("GEOMETRY2", self.read_reg("GEOMETRY2"))}
        return {k.lower(): v for k, v in fields.items()}

    @property
    def status(self) -> dict:
        return {k.lower(): v for k, v in SPEC.unpack("STATUS", self.read_reg("STATUS")).items()}

    def counters(self) -> dict:
        return {n: self.read_reg(n) for n in SPEC.registers if n.startswith("CNT_")}


class MemhilOverlay(pynq.Overlay):
    """The memhil overlay: ``.memhil`` (alias ``.crossbar``, a :class:`MemhilIP`) and ``.dma``
    (pynq's AXI DMA driver). Arguments as ``pynq.Overlay`` (``dtbo``, ``download``, ...)."""

    def __init__(self, bitfile_name, dtbo=None, download=True, ignore_version=False,
                 device=None, **kwargs):
        super().__init__(bitfile_name, dtbo=dtbo, download=download,
                         ignore_version=ignore_version, device=device, **kwargs)

    @property
    def crossbar(self) -> MemhilIP:
        return self.memhil

    def transport(self, **kw):
        """A :class:`~memhil.runtime.pynq_transport.PynqTransport` over this overlay."""
        from memhil.runtime.pynq_transport import PynqTransport

        return PynqTransport(self, **kw)
