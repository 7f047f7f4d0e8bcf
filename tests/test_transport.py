"""Transports: pyserial over a loopback socket (the twin link server), timeouts and clear
errors. No Verilator needed (see test_sim_link.py). The pynq transport on the real pynq
package: test_pynq.py."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memhil.contract.spec import SPEC
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.pynq_transport import _pynq
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
