"""Slow but correct devices (issue #9.1): a device that pauses inside a response for longer
than the link's quiet window, but well inside the driver's timeout, is not a fault. The
driver must wait for the rest of an answer it has started to receive: no retry, no garbled
count, and certainly no LinkError. Over a socket link (the twin behind pyserial's socket://
handler), over a real serial port (a pseudo-terminal opened by pyserial with termios, as a
USB-UART would be), and as a soak of ``memhil verify`` over the simulated UART top."""
import json
import os
import select
import threading
import time
import tty

import pytest
import torch

from memhil.contract.spec import SPEC
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar, LinkError
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.sim_link import TwinLinkServer
from memhil.runtime.transport import (FaultyTransport, LoopbackTransport, SerialTransport,
                                     Transport)
from memhil.runtime.workload import compare_state, random_session

#: generous: a loaded 2-core machine may take long to answer; a retry would only show that
#: the driver gave up early, which is what these tests must catch
TIMEOUT = 5.0


def _session_without_retries(xb, seed, slow):
    """Configure and load the device at full speed, then ``slow(True)``: updates, reads and
    the final read-back of the whole state, every answer with a pause inside."""
    random_session(xb, "coincidence", 6, seed=seed)
    slow(True)
    g = torch.Generator().manual_seed(seed)
    for step in range(8):
        x = torch.randint(-127, 128, (1 + step % 3, xb.cols), generator=g)
        d = torch.randint(-127, 128, (1 + step % 3, xb.rows), generator=g)
        xb.update(0, x, d)
        xb.forward(0, x) if step % 2 else xb.transpose(0, d)
    assert compare_state(xb.snapshot(), xb.twin) == []
    assert xb.twin.regs["CNT_PULSES"] > 0
    s = xb.stats
    assert (s.retries, s.garbled, s.timeouts) == (0, 0, 0), s


def test_pause_inside_every_answer_over_a_socket():
    """Every answer arrives in two parts 60 ms apart: the socket link's quiet window is 7 ms."""
    srv = TwinLinkServer(TwinDevice(4, 6, 2, g_w=8)).start()
    try:
        tr = SerialTransport(srv.url)
        assert tr.quiet_s < 0.06 < TIMEOUT
        xb = LockstepCrossbar(tr, timeout=TIMEOUT)
        _session_without_retries(xb, 21, lambda on: setattr(srv, "pause_s", 0.06 * on))
        tr.close()
    finally:
        srv.stop()


class _PtyConn:
    """The master side of a pseudo-terminal with the socket methods TwinLinkServer uses."""

    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd

    def recv(self, n):
        return os.read(self.fd, n)

    def sendall(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]


def test_pause_inside_every_answer_over_a_serial_port():
    """A real serial port (pyserial on a pty, termios raw, 115200 baud: a 14.8 ms quiet
    window) in front of a device that pauses 60 ms inside every answer."""
    master, slave = os.openpty()
    tty.setraw(master)
    srv = TwinLinkServer(TwinDevice(3, 5, 1, g_w=8))
    done = threading.Event()

    def serve():
        conn = _PtyConn(master)
        while not done.is_set():                 # _serve returns when the port is closed
            if select.select([master], [], [], 0.1)[0]:
                srv._serve(conn)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        tr = SerialTransport(os.ttyname(slave), baudrate=115200)
        assert tr.byte_s > 0 and tr.quiet_s < 0.06
        xb = LockstepCrossbar(tr, timeout=TIMEOUT)
        _session_without_retries(xb, 22, lambda on: setattr(srv, "pause_s", 0.06 * on))
        tr.close()
    finally:
        done.set()
        srv._stop.set()
        th.join(5)
        srv.sock.close()
        os.close(slave)
        os.close(master)


def test_faulty_transport_pauses_lose_nothing():
    """The pause injector used by ``memhil verify --pause-rate``: pauses only, no faults; the
    loopback twin answers through it with every byte intact and no retry."""
    ft = FaultyTransport(LoopbackTransport(TwinDevice(4, 4, g_w=8)), 0.0, seed=3,
                         pause_rate=0.02, pause_s=0.02)
    assert not ft.synchronous                    # pauses make the link asynchronous
    xb = LockstepCrossbar(ft, timeout=TIMEOUT)
    _session_without_retries(xb, 23, lambda on: None)
    assert ft.pauses > 10 and ft.stats.injected == 0
    with pytest.raises(ValueError, match="pause_rate"):
        FaultyTransport(ft, 0.0, pause_rate=2.0)


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.xdist_group("sim-rtl")
def test_verify_soak_over_the_uart_top_with_pauses(capsys):
    """``memhil verify`` over the simulated UART top with 30 ms pauses inside answers: every
    command answered at its first try, RTL == twin."""
    from memhil.cli import main

    code = main(["verify", "--backend", "sim-uart", "--rows", "8", "--cols", "8", "--tiles",
                 "1", "--lanes", "4", "--steps", "80", "--seed", "777", "--pause-rate", "0.02",
                 "--pause-ms", "30", "--timeout", str(TIMEOUT), "--json"])
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{"):])
    assert code == 0 and summary["ok"], summary
    link = summary["link"]
    assert summary["pauses"] > 50, summary
    assert (link["retries"], link["garbled"], link["timeouts"]) == (0, 0, 0), link


def test_crossbar_still_times_out_on_a_silent_device():
    """The patience is bounded: half an answer and then silence ends the try at the timeout
    (and, after every retry, in a LinkError that says so)."""
    class HalfAnswers(Transport):
        name = "half"
        quiet_s = 0.001

        def __init__(self):
            self.dev = TwinDevice(2, 2, g_w=8)
            self.rx = b""
            self.cut = False

        def write(self, data):
            out = self.dev.feed(data, tlast=True)
            self.rx += out[: len(out) // 2] if self.cut else out

        def read(self, timeout):
            out, self.rx = self.rx, b""
            if not out:
                time.sleep(timeout)
            return out

    tr = HalfAnswers()
    xb = Crossbar(tr, timeout=0.2, retries=1)
    tr.cut = True
    t0 = time.monotonic()
    with pytest.raises(LinkError, match="2 tries"):
        xb.read_reg(SPEC.reg("BL"))
    assert time.monotonic() - t0 >= 0.4           # waited a full timeout on each try
