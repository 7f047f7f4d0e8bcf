"""The pynq transport on the REAL pynq package (issue 12, deliverable 1).

pynq's Overlay, Bitstream, driver binding, DefaultIP, MMIO, allocate/PynqBuffer and the AXI DMA
driver (pynq.lib.dma.DMA, _SDMAChannel) run unchanged; only pynq's Device layer (register
access, physical memory, bitstream download, device tree) is tests/pynq_standin.py's SimDevice,
here over TwinDevice (the RTL's behaviour, in-process). test_sim_link.py runs the same over the
Verilator simulation. pynq is part of the test extra (pyproject.toml), so these always run.
"""
import numpy as np
import pytest

import pynq  # noqa: F401  (the real package, from the test extra)
import pynq_standin as ps  # noqa: E402  (the lowest layer under pynq: tests/pynq_standin.py)
from pynq.lib.dma import DMA, _SDMAChannel  # noqa: E402

from memhil.contract.spec import SPEC  # noqa: E402
from memhil.runtime import protocol as pr  # noqa: E402
from memhil.runtime.device_model import TwinDevice  # noqa: E402
from memhil.runtime.driver import Crossbar  # noqa: E402
from memhil.runtime.lockstep import LockstepCrossbar  # noqa: E402
from memhil.runtime.pynq_transport import PynqTransport  # noqa: E402
from memhil.runtime.workload import compare_state, random_session  # noqa: E402

ST = SPEC.status


@pytest.fixture
def board(tmp_path):
    """(SimDevice over a TwinDevice, path of an empty memhil.bit with a memhil.dtbo)."""
    dev = ps.SimDevice(ps.TwinBackend(TwinDevice(5, 4, g_w=8)))
    yield dev, ps.make_bitfile(tmp_path, dtbo=True)
    dev.close()


def test_real_pynq_classes_run_the_transport(board):
    from memhil.runtime.pynq_overlay import MemhilIP, MemhilOverlay

    dev, bit = board
    tr = PynqTransport.from_bitfile(bit, device=dev, dtbo=bit.replace(".bit", ".dtbo"))
    assert isinstance(tr.overlay, MemhilOverlay) and isinstance(tr.overlay, pynq.Overlay)
    assert type(tr.ip) is MemhilIP and type(tr.dma) is DMA
    assert type(tr.dma.recvchannel) is _SDMAChannel and type(tr.dma.sendchannel) is _SDMAChannel
    assert isinstance(tr.ip.mmio, pynq.MMIO) and isinstance(tr.rxbuf, pynq.buffer.PynqBuffer)
    assert dev.downloads == [bit] and dev.dtbos == [bit.replace(".bit", ".dtbo")]
    assert tr.overlay.is_loaded()
    xb = LockstepCrossbar(tr, timeout=0.5)
    random_session(xb, "rounding", 30, seed=2)
    assert compare_state(xb.snapshot(), xb.twin) == []
    # MMIO: the same registers as READ_REG
    assert tr.read_reg("ID") == SPEC.magic
    assert tr.overlay.crossbar.geometry == {"rows": 5, "cols": 4, "tiles": 1, "lanes": 0,
                                            "g_w": 8, "payload_log2": 12, "batch_max": 256,
                                            "bl_max": 255}
    assert tr.read_reg("CNT_UPDATES") == xb.read_reg(SPEC.reg("CNT_UPDATES")) > 0
    tr.close()


def test_dma_answer_is_read_after_wait(board):
    """Defect 1: pynq's _SDMAChannel sets ``transferred`` to 0 in transfer() and reads the S2MM
    LENGTH register into it only in wait(); the transport used to read it right after ``idle``
    and so returned b'' for every answer."""
    dev, bit = board
    ol = pynq.Overlay(bit, device=dev)
    rx = ol.dma.recvchannel
    buf = pynq.allocate((64,), dtype=np.uint8, target=dev)
    tx = pynq.allocate((64,), dtype=np.uint8, target=dev)
    buf[:] = 0                    # (pynq.allocate does not clear: start from a known content)
    buf.flush()
    rx.transfer(buf)
    assert not rx.idle                                    # armed, nothing received
    f = pr.encode_command(1, pr.Op.PING)
    tx[: len(f)] = np.frombuffer(f, dtype=np.uint8)
    ol.dma.sendchannel.transfer(tx, nbytes=len(f))
    ol.dma.sendchannel.wait()
    assert rx.idle and rx.transferred == 0               # pynq's semantics, as on a board
    n = 7 + pr.PING_LEN + 2                              # header, PING payload, CRC
    assert ol.dma.read(0x58) == n                        # the DMA knows the length ...
    assert not buf[:4].any()                             # ... and the cache is not invalidated
    rx.wait()
    assert rx.transferred == n
    assert pr.ResponseDecoder().feed(bytes(buf[:n]))[0].seq == 1
    # the transport
    tr = PynqTransport(ol)
    tr.write(pr.encode_command(2, pr.Op.PING))
    got = tr.read(0.5)
    assert got and pr.ResponseDecoder().feed(got)[0].seq == 2


def test_driver_bound_when_the_overlay_is_made(board, monkeypatch):
    """Defect 2: pynq binds drivers when the Overlay is constructed. MemhilIP is defined at
    module level (memhil.runtime.pynq_overlay), so an overlay made after that import has a
    MemhilIP; one made before it (simulated by hiding the registration) has a plain DefaultIP,
    and PynqTransport works with that too."""
    from memhil.runtime.pynq_overlay import MEMHIL_VLNV, MemhilIP

    dev, bit = board
    assert pynq.overlay._ip_drivers[MEMHIL_VLNV] is MemhilIP
    assert type(pynq.Overlay(bit, device=dev).memhil) is MemhilIP
    monkeypatch.delitem(pynq.overlay._ip_drivers, MEMHIL_VLNV)
    monkeypatch.delitem(pynq.overlay._ip_drivers, MEMHIL_VLNV.rpartition(":")[0], raising=False)
    ol = pynq.Overlay(bit, device=dev, download=False)
    assert type(ol.memhil) is pynq.DefaultIP
    tr = PynqTransport(ol)
    assert tr.read_reg("ID") == SPEC.magic
    tr.write_reg("BL", 9)
    assert Crossbar(tr, timeout=0.5).read_reg(SPEC.reg("BL")) == 9


def test_overlay_takes_pynqs_arguments(board, tmp_path):
    """MemhilOverlay is pynq.Overlay: dtbo (a missing one is an error), download=False."""
    from memhil.runtime.pynq_overlay import MemhilOverlay

    dev, bit = board
    ol = MemhilOverlay(bit, device=dev, download=False)
    assert dev.downloads == []
    with pytest.raises(IOError):
        MemhilOverlay(bit, dtbo=str(tmp_path / "missing.dtbo"), device=dev)
    ol = MemhilOverlay(bit, dtbo=bit.replace(".bit", ".dtbo"), device=dev)
    # ip_dict from the .hwh beside the .bit (tests/memhil_hwh.py), parsed by pynq itself
    assert ol.is_loaded() and set(ol.ip_dict) == {"dma", "memhil", "ps7"}
    assert ol.ip_dict["memhil"]["phys_addr"] == ps.MEMHIL_BASE
    assert pynq.Clocks.fclk0_mhz == 100.0          # the download set FCLK0 as the .hwh says
    assert ol.crossbar is ol.memhil and ol.crossbar.read_reg("VERSION") == SPEC.version
    assert ol.crossbar.counters()["CNT_ERRORS"] == 0


def test_refused_register_access_is_counted_not_a_bus_fault(board):
    """Defect 3: a refused AXI4-Lite access answers OKAY (an SLVERR is SIGBUS on a Zynq),
    changes nothing, reads 0, counts in CNT_ERRORS and sets STATUS's last error to BAD_ARG."""
    dev, bit = board
    tr = PynqTransport.from_bitfile(bit, device=dev)
    regs = {n: tr.read_reg(n) for n in ("BL", "CMAX", "ID", "CTRL")}
    tr.write_reg("ID", 5)                     # read-only
    tr.write_reg("BL", 0)                     # out of range
    tr.write_reg(0x400, 1 << 16)              # step entries are 16-bit
    assert tr.read_reg(0x01C) == 0            # unknown (0x018 is GEOMETRY2 since v3)
    assert {n: tr.read_reg(n) for n in regs} == regs
    assert tr.read_reg("CNT_ERRORS") == 4
    assert tr.overlay.crossbar.status["last_error"] == ST["BAD_ARG"]
    with pytest.raises(ValueError, match="refused"):
        tr.overlay.crossbar.write_reg("BL", 256, check=True)
    tr.overlay.crossbar.write_reg("BL", 9, check=True)
    # misaligned: pynq's MMIO refuses reads itself; the logic refuses such writes (counted)
    with pytest.raises(MemoryError):
        tr.ip.read(0x402)
    dev.backend.mmio_write(0x402, 1234)
    assert dev.backend.mmio_read(0x402) == 0 and tr.read_reg(0x400) == 2048
    assert tr.read_reg("CNT_ERRORS") == 7
    tr.write_reg("CTRL", 1)
    assert tr.read_reg("CNT_ERRORS") == 0


def test_no_pynq_import_before_a_transport_is_made():
    import subprocess
    import sys

    code = ("import sys; import memhil.runtime.driver, memhil.runtime.pynq_transport; "
            "print('pynq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
