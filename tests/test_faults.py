"""Faults (issue #4.4): corrupted, dropped and duplicated bytes in both directions lead to
resynchronisation and retries that never apply a command twice; no hangs; after K failed
tries a clear error. Over the loopback and over the live simulation link."""
import time

import pytest
import torch

from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime import sim_link
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar, LinkError
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.transport import FaultyTransport, LoopbackTransport, Transport
from memhil.runtime.workload import compare_state




def _hammer(xb, ft, faults: int, seed: int, *, time_limit: float):
    """Random updates (single and minibatch) and reads until ``faults`` faults were injected.
    Returns the number of UPDATE samples issued."""
    g = torch.Generator().manual_seed(seed)
    R, C = xb.rows, xb.cols
    samples = 0
    t0 = time.monotonic()
    step = 0
    while ft.stats.injected < faults:
        assert time.monotonic() - t0 < time_limit, "fault run exceeded its time budget"
        B = 1 + step % 3
        x = torch.randint(-127, 128, (B, C), generator=g)
        d = torch.randint(-127, 128, (B, R), generator=g)
        xb.update(0, x, d)
        samples += B
        if step % 2:
            xb.forward(0, x)
        else:
            xb.transpose(0, d)
        step += 1
    return samples


def _configure(xb, mode):
    xb.configure(DeviceConfig(update_mode=mode, seed=4, c2c_sigma=0.1, read_noise_sigma=0.02))
    xb.write_reg(SPEC.reg("LR_Q"), 3000)


def _check_final(xb, ft, samples, updates_before):
    ft.rate = 0.0                                     # a clean link for the final read-back
    assert compare_state(xb.snapshot(), xb.twin) == []
    n = xb.counters()["CNT_UPDATES"] - updates_before
    assert n == samples, f"{n} samples applied for {samples} issued: a retry executed twice"


def test_thousand_faults_over_loopback():
    dev = TwinDevice(6, 7, g_w=8)
    ft = FaultyTransport(LoopbackTransport(dev), 0.0, seed=1)
    xb = LockstepCrossbar(ft, timeout=0.05, retries=40)
    _configure(xb, "rounding")
    before = xb.counters()["CNT_UPDATES"]
    ft.rate = 0.02
    samples = _hammer(xb, ft, 1000, seed=1, time_limit=60)
    assert ft.stats.injected >= 1000
    assert min(ft.stats.by_kind.values()) > 200 and min(ft.stats.by_dir.values()) > 300
    assert xb.stats.retries > 0
    _check_final(xb, ft, samples, before)


@pytest.mark.sim
@pytest.mark.xdist_group("sim-rtl")
def test_thousand_faults_over_the_sim_link():
    """>= 1000 injected faults over the live simulation of the RTL: zero hangs, zero state
    divergence, every sample applied exactly once."""
    srv = sim_link.start_server("rtl", sim_link.SimParams(rows=8, cols=8))
    ft = FaultyTransport(sim_link.SimTransport(srv), 0.0, seed=7)
    try:
        xb = LockstepCrossbar(ft, timeout=0.1, retries=40)
        _configure(xb, "coincidence")
        before = xb.counters()["CNT_UPDATES"]
        ft.rate = 0.02
        t0 = time.monotonic()
        samples = _hammer(xb, ft, 1000, seed=2, time_limit=120)
        elapsed = time.monotonic() - t0
        assert ft.stats.injected >= 1000
        assert xb.stats.retries >= 300
        _check_final(xb, ft, samples, before)
        print(f"{ft.stats.injected} faults over the {srv.model} link in {elapsed:.1f} s; "
              f"{xb.stats}")
    finally:
        ft.close()


class _LoseFirstAnswer(Transport):
    """Delivers commands, but loses the device's first ``n`` answers."""

    name = "lossy"
    synchronous = True
    quiet_s = 0.0

    def __init__(self, device, n):
        self.device, self.n, self.rx = device, n, b""

    def write(self, data):
        out = self.device.feed(data)
        if self.n > 0 and out:
            self.n -= 1
            return
        self.rx += out

    def read(self, timeout):
        out, self.rx = self.rx, b""
        return out


def test_a_lost_answer_is_replayed_not_reexecuted():
    dev = TwinDevice(3, 4, g_w=8)
    xb = Crossbar(LoopbackTransport(dev))
    xb.write_reg(SPEC.reg("UPDATE_MODE"), 0)
    xb.write_reg(SPEC.reg("LR_Q"), 1 << 16)
    xb.transport = _LoseFirstAnswer(dev, 2)           # the next two answers vanish
    pulses = xb.update(0, [[1, 2, 3, 4]], [[5, 6, 7]])
    assert pulses == sum(min(abs(a * b), 255) for a in (1, 2, 3, 4) for b in (5, 6, 7))
    assert dev.twin.regs["CNT_UPDATES"] == 1 and dev.twin.regs["CNT_PULSES"] == pulses
    assert xb.stats.retries == 2


def test_k_failures_give_a_clear_error_and_no_hang():
    dev = TwinDevice(3, 4, g_w=8)
    ft = FaultyTransport(LoopbackTransport(dev), 0.0, seed=3, kinds=("corrupt",))
    xb = Crossbar(ft, timeout=0.02, retries=5)
    ft.rate = 1.0                                     # every byte corrupted
    t0 = time.monotonic()
    with pytest.raises(LinkError) as ei:
        xb.read_reg(SPEC.reg("ID"))
    assert time.monotonic() - t0 < 2.0
    msg = str(ei.value)
    assert "READ_REG" in msg and "after 6 tries" in msg and "retries" in msg
    ft.rate = 0.0
    assert xb.read_reg(SPEC.reg("ID")) == SPEC.magic  # the link recovers


def test_fault_injection_is_reproducible():
    def run():
        ft = FaultyTransport(LoopbackTransport(TwinDevice(2, 2, g_w=8)), 0.1, seed=9)
        return ft._mangle(bytes(range(200)), "tx"), ft.stats.injected

    assert run() == run()
    with pytest.raises(ValueError, match="rate"):
        FaultyTransport(LoopbackTransport(TwinDevice(2, 2)), 1.5)
    with pytest.raises(ValueError, match="kinds"):
        FaultyTransport(LoopbackTransport(TwinDevice(2, 2)), 0.1, kinds=("flip",))


def test_false_start_bytes_do_not_swallow_answers():
    """Garbage around each answer, including a false 0x5A start with a long LEN."""
    dev = TwinDevice(2, 3, g_w=8)

    class Noisy(LoopbackTransport):
        def read(self, timeout):
            data = super().read(timeout)
            return b"\x5a\x01\x02\x00\xff\x0f\x00" + data + b"\xa5" if data else b""

    xb = Crossbar(Noisy(dev), timeout=0.05)
    for _ in range(20):
        assert xb.read_reg(SPEC.reg("VERSION")) == SPEC.version
    assert xb.stats.retries == 0
    assert pr.ResponseDecoder().feed(b"\x5a" * 3) == []
