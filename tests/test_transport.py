"""Transports: pyserial over a loopback socket (the twin link server), the pynq transport on
the pynq stand-in, timeouts and clear errors. No Verilator needed (see test_sim_link.py)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from memhil.contract.spec import SPEC
import pynq_standin as ps  # the test double of pynq's API (tests/pynq_standin.py)
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.pynq_transport import PynqTransport, _pynq
from memhil.runtime.sim_link import TwinLinkServer
from memhil.runtime.transport import SerialTransport, TransportError
from memhil.runtime.workload import compare_state, random_session

REPO = Path(__file__).resolve().parents[1]




@pytest.fixture
def twin_server():
    srv = TwinLinkServer(TwinDevice(4, 6, 2, g_w=8)).start()
    yield srv
    srv.stop()


def test_serial_over_socket_url(twin_server):
    """pyserial's socket:// handler: the code path a board's UART uses."""
    assert twin_server.url.startswith("socket://127.0.0.1:")
    tr = SerialTransport(twin_server.url)
    xb = LockstepCrossbar(tr, timeout=0.5)
    random_session(xb, "coincidence", 30, seed=4)
    assert compare_state(xb.snapshot(), xb.twin) == []
    tr.close()
    # the device keeps its state across connections, like a board
    xb2 = Crossbar(SerialTransport(twin_server.url))
    assert xb2.counters()["CNT_UPDATES"] == twin_server.device.twin.regs["CNT_UPDATES"] > 0
    xb2.close()


def test_idle_gap_marks_tlast():
    """A frame cut short on a byte link is ended by the idle gap with TRUNCATED; a pause
    shorter than the gap does not split a frame."""
    from memhil.runtime import protocol as pr

    srv = TwinLinkServer(TwinDevice(2, 2, g_w=8), idle_s=0.05).start()
    try:
        tr = SerialTransport(srv.url)
        frame = pr.encode_command(3, pr.Op.READ_REG, pr.pack_read_reg(0))
        tr.write(frame[:5])                        # header only, then silence
        got = pr.ResponseDecoder().feed(tr.drain(0.2))
        assert [(r.seq, r.status) for r in got] == [(3, pr.Status.TRUNCATED)]
        tr.write(frame[:4])                        # a pause well under the 50 ms gap ...
        time.sleep(0.005)
        tr.write(frame[4:])                        # ... and the frame is still whole
        got = pr.ResponseDecoder().feed(tr.drain(0.2))
        assert [(r.seq, r.status) for r in got] == [(3, pr.Status.OK)]
        tr.close()
    finally:
        srv.stop()


def test_read_timeout_is_bounded(twin_server):
    tr = SerialTransport(twin_server.url)
    t0 = time.monotonic()
    assert tr.read(0.1) == b""
    assert 0.05 < time.monotonic() - t0 < 1.0
    tr.close()


def test_server_listens_on_loopback_only(twin_server):
    assert twin_server.sock.getsockname()[0] == "127.0.0.1"


def test_unreachable_port_is_a_clear_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TransportError, match="memhil sim-server"):
        SerialTransport(f"socket://127.0.0.1:{port}", open_timeout=0.3)


# ---------------------------------------------------------------- pynq
def test_pynq_transport_on_the_standin():
    dev = TwinDevice(5, 4, g_w=8)
    tr = PynqTransport.from_bitfile("memhil.bit", pynq_module=ps, backend=ps.TwinBackend(dev))
    assert type(tr.ip).__name__ == "MemhilIP" and isinstance(tr.dma, ps.DMA)
    xb = LockstepCrossbar(tr, timeout=0.5)
    random_session(xb, "rounding", 30, seed=2)
    assert compare_state(xb.snapshot(), xb.twin) == []
    # MMIO: the same registers as READ_REG
    assert tr.read_reg("ID") == SPEC.magic
    assert tr.ip.geometry == {"rows": 5, "cols": 4, "tiles": 1, "lanes": 0, "g_w": 8}
    assert tr.read_reg("CNT_UPDATES") == xb.read_reg(SPEC.reg("CNT_UPDATES"))
    tr.close()


def test_standin_dma_semantics():
    dev = TwinDevice(2, 2, g_w=8)
    ol = ps.Overlay("x.bit", backend=ps.TwinBackend(dev))
    assert set(ol.ip_dict) == {"dma", "memhil"}
    buf = ps.allocate((64,), dtype=np.uint8)
    assert buf.physical_address and isinstance(buf, ps.PynqBuffer)
    rx = ps.allocate((64,), dtype=np.uint8)
    ol.dma.recvchannel.transfer(rx)
    assert not ol.dma.recvchannel.idle           # armed, nothing received
    from memhil.runtime import protocol as pr

    f = pr.encode_command(1, pr.Op.PING) + pr.encode_command(2, pr.Op.PING)
    buf[: len(f)] = np.frombuffer(f, dtype=np.uint8)
    ol.dma.sendchannel.transfer(buf, nbytes=len(f))
    ol.dma.sendchannel.wait()
    ol.dma.recvchannel.wait()                    # TLAST at the end of the first answer
    n = ol.dma.recvchannel.transferred
    assert pr.ResponseDecoder().feed(bytes(rx[:n]))[0].seq == 1 and n == 6 + 12 + 2
    with pytest.raises(ValueError):
        ps.MMIO(0, 0x10, backend=ps.TwinBackend(dev)).read(0x20)


def test_standin_mmio_refuses_misaligned_offsets():
    """Issue 9 (defect 5): the stand-in's MMIO, like PYNQ's, takes only word offsets, and the
    logic behind it (TwinBackend, as the RTL's AXI4-Lite port: SLVERR) refuses a misaligned
    register address and changes nothing; PYNQ's MMIO ignores the SLVERR, so a read gives 0."""
    dev = TwinDevice(2, 2, g_w=8)
    be = ps.TwinBackend(dev)
    mmio = ps.MMIO(0, 0x1000, backend=be)
    for off in (0x402, 0x021, 0x031, 0x806):
        with pytest.raises(ValueError, match="aligned"):
            mmio.write(off, 7)
        with pytest.raises(ValueError, match="aligned"):
            mmio.read(off)
    regs = {a: be.mmio_read(a) for a in (0x010, 0x020, 0x030, 0x400, 0x804)}
    for addr, value in ((0x402, 1234), (0x021, 100), (0x031, 7), (0x806, 777), (0x013, 1)):
        be.mmio_write(addr, value)
        assert be.mmio_read(addr) == 0
    assert {a: be.mmio_read(a) for a in regs} == regs
    mmio.write(0x020, 100)                       # the aligned register itself is writable
    assert mmio.read(0x020) == 100


def test_real_pynq_is_imported_only_by_the_pynq_transport():
    code = ("import sys; import memhil.runtime.driver, memhil.runtime.lockstep, "
            "memhil.runtime.sim_link, memhil.runtime.pynq_transport; "
            "print('pynq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(REPO / "host")}, check=True)
    assert out.stdout.strip() == "False"
    try:
        import pynq  # noqa: F401
    except ImportError:
        with pytest.raises(TransportError, match="pynq is not installed"):
            _pynq()


# ---------------------------------------------------------------- the CLI
def test_sim_server_command_prints_a_url_and_serves():
    env = {**os.environ, "PYTHONPATH": str(REPO / "host")}
    p = subprocess.Popen([sys.executable, "-m", "memhil", "sim-server", "--model", "twin",
                          "--rows", "3", "--cols", "5"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("socket://127.0.0.1:")
        xb = Crossbar(SerialTransport(url), timeout=2.0)
        assert (xb.rows, xb.cols) == (3, 5)
        xb.close()
    finally:
        p.terminate()
        p.wait(10)
    assert p.returncode is not None


def test_verify_command_on_the_loopback(capsys):
    from memhil.cli import main

    assert main(["verify", "--backend", "loopback", "--steps", "25", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "rounding" in out and "coincidence" in out and "OK: no divergence" in out
