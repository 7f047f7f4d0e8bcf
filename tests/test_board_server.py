"""PC-driven mode (issue 12, deliverable 4): ``memhil board-server`` bridges a TCP socket to the
board's DMA with the byte stream of ``memhil sim-server``. Here the board is the real pynq
package over tests/pynq_standin.py's SimDevice (the twin in-process; the RTL in the sim test),
and the PC is a LockstepCrossbar over SerialTransport("socket://...")."""
import socket
import threading
import time

import pytest

import pynq_standin as ps
from test_faults import _check_final, _configure, _hammer

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.board_server import BoardServer
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.pynq_transport import PynqTransport
from memhil.runtime.transport import FaultyTransport, SerialTransport
from memhil.runtime.workload import compare_state, random_session


@pytest.fixture
def board(tmp_path):
    """A BoardServer over PynqTransport over the real pynq classes over a TwinDevice."""
    dev = ps.SimDevice(ps.TwinBackend(TwinDevice(5, 4, g_w=8)))
    tr = PynqTransport.from_bitfile(ps.make_bitfile(tmp_path), device=dev)
    srv = BoardServer(tr, log=lambda msg: None).start()
    yield srv
    srv.stop()
    tr.close()
    dev.close()


def test_lockstep_session_through_the_board_server(board):
    assert board.url.startswith("socket://127.0.0.1:")
    xb = LockstepCrossbar(SerialTransport(board.url), timeout=1.0)
    random_session(xb, "coincidence", 30, seed=3)
    random_session(xb, "rounding", 20, seed=4)
    assert compare_state(xb.snapshot(), xb.twin) == []
    assert xb.stats.retries == 0
    n = xb.counters()["CNT_UPDATES"]
    xb.close()
    # the device keeps its state across clients; MMIO on the board sees the same registers
    xb2 = Crossbar(SerialTransport(board.url), timeout=1.0)
    assert xb2.counters()["CNT_UPDATES"] == n == board.transport.read_reg("CNT_UPDATES") > 0
    xb2.close()


def test_faults_of_the_sim_link_pass_through_it(board):
    """FaultyTransport (corrupted, dropped, duplicated bytes both ways) on the PC's side of
    the socket: retries, no divergence, every sample applied exactly once."""
    ft = FaultyTransport(SerialTransport(board.url), 0.0, seed=7)
    try:
        xb = LockstepCrossbar(ft, timeout=0.1, retries=40)
        _configure(xb, "coincidence")
        before = xb.counters()["CNT_UPDATES"]
        ft.rate = 0.02
        samples = _hammer(xb, ft, 150, seed=2, time_limit=120)
        assert ft.stats.injected >= 150 and xb.stats.retries > 0
        _check_final(xb, ft, samples, before)
    finally:
        ft.close()


def test_a_stalled_client_holds_nothing_up(board):
    """A client that sends a half frame and never reads does not block the server: a new
    client takes the link over and is answered at once."""
    stalled = socket.create_connection((board.host, board.port))
    frame = pr.encode_command(1, pr.Op.READ_REG, pr.pack_read_reg(SPEC.reg("ID")))
    stalled.sendall(frame[:3])
    time.sleep(0.05)
    xb = Crossbar(SerialTransport(board.url), timeout=1.0)
    t0 = time.monotonic()
    assert xb.read_reg(SPEC.reg("ID")) == SPEC.magic
    assert time.monotonic() - t0 < 5.0
    assert board.clients == 2
    xb.close()
    stalled.close()


def test_board_server_command(tmp_path, monkeypatch, capsys):
    """``memhil board-server`` on the stand-in: prints its URL, serves, stops cleanly."""
    from memhil.cli import main
    from memhil.commands import board_server as cmd

    dev = ps.SimDevice(ps.TwinBackend(TwinDevice(3, 4, g_w=8)))
    bit = ps.make_bitfile(tmp_path)
    real = PynqTransport.from_bitfile.__func__
    monkeypatch.setattr(PynqTransport, "from_bitfile",
                        classmethod(lambda cls, b, **kw: real(cls, b, device=dev, **kw)))
    rc = []
    th = threading.Thread(target=lambda: rc.append(main(["board-server", "--bitfile", bit,
                                                         "--port", "0"])), daemon=True)
    th.start()
    deadline = time.monotonic() + 30
    while getattr(cmd.run, "server", None) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    srv = cmd.run.server
    try:
        xb = Crossbar(SerialTransport(srv.url), timeout=1.0)
        assert xb.read_reg(SPEC.reg("ID")) == SPEC.magic
        xb.close()
    finally:
        srv._stop.set()
        th.join(10)
        cmd.run.server = None
    assert rc == [0]
    assert "memhil-board listening on socket://127.0.0.1:" in capsys.readouterr().out
    dev.close()


def test_board_server_usage_errors(tmp_path, capsys):
    from memhil.cli import main

    assert main(["board-server", "--bitfile", str(tmp_path / "none.bit")]) == 2
    assert "--bitfile" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        bit = ps.make_bitfile(tmp_path)
        assert main(["board-server", "--bitfile", bit, "--port", str(s.getsockname()[1])]) == 2
    assert "--port" in capsys.readouterr().err


@pytest.mark.sim
@pytest.mark.xdist_group("sim-rtl")
def test_board_server_over_the_rtl(tmp_path):
    """The same path with the Verilator RTL behind the stand-in's Device layer."""
    from memhil.runtime import sim_link

    rtl = sim_link.start_server("rtl", sim_link.SimParams(rows=8, cols=8, tiles=1, lanes=4,
                                                          g_w=8), start_timeout=120)
    dev = ps.SimDevice(ps.SimBackend(rtl))
    tr = PynqTransport.from_bitfile(ps.make_bitfile(tmp_path), device=dev)
    srv = BoardServer(tr, log=lambda msg: None).start()
    try:
        xb = LockstepCrossbar(SerialTransport(srv.url), timeout=2.0)
        random_session(xb, "coincidence", 30, seed=12)
        assert compare_state(xb.snapshot(), xb.twin) == []
        xb.close()
    finally:
        srv.stop()
        tr.close()
        dev.close()
        rtl.close()
