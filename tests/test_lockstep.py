"""Lockstep (memhil.runtime.lockstep): every answer checked against the twin; the first
mismatch names the operation, tile, row/column, expected and received values."""
import pytest
import torch

from memhil.contract.spec import SPEC
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.lockstep import DivergenceError, LockstepCrossbar
from memhil.runtime.transport import LoopbackTransport
from memhil.runtime.workload import compare_state, random_session




def _lockstep(rows=4, cols=5, tiles=2, **kw):
    dev = TwinDevice(rows, cols, tiles, g_w=8)
    return dev, LockstepCrossbar(LoopbackTransport(dev), **kw)


@pytest.mark.parametrize("mode", ["rounding", "coincidence"])
def test_a_faithful_device_passes(mode):
    dev, xb = _lockstep()
    rep = random_session(xb, mode, 60, seed=3)
    assert sum(rep.counts.values()) == 60
    assert compare_state(xb.snapshot(), xb.twin) == []
    assert xb.checked == xb.stats.commands - xb._adopted
    assert xb.stats.t_check > 0


def test_joins_a_running_device():
    """sync='device' adopts registers, tables, codes, LFSRs and counters of a used device."""
    dev, xb = _lockstep()
    random_session(xb, "coincidence", 20, seed=1)
    xb2 = LockstepCrossbar(LoopbackTransport(dev))          # a second session, same device
    random_session(xb2, "rounding", 20, seed=2)
    assert xb2.counters()["CNT_UPDATES"] == dev.twin.regs["CNT_UPDATES"]


def _prepared():
    dev, xb = _lockstep(sync="device")
    xb.write_cells(1, 0, list(range(20)), [5] * 20)
    return dev, xb


def test_forward_divergence_names_tile_and_row():
    dev, xb = _prepared()
    dev.twin.gp[1, 2, 3] += 7                # the device's cell drifts; the twin does not know
    dev.twin._invalidate(1)
    with pytest.raises(DivergenceError) as ei:
        xb.forward(1, torch.ones(1, 5, dtype=torch.int64))
    e = ei.value
    assert (e.op, e.tile, e.row, e.expected, e.received) == ("FORWARD_B", 1, 2, 35, 42)
    assert "tile 1 sample 0 output row 2" in str(e) and "expected (twin) 35" in str(e)


def test_transpose_divergence_names_column():
    dev, xb = _prepared()
    dev.twin.gm[1, 0, 4] -= 1
    dev.twin._invalidate(1)
    with pytest.raises(DivergenceError) as ei:
        xb.transpose(1, torch.tensor([[1, 0, 0, 0]]))
    assert (ei.value.op, ei.value.col) == ("TRANSPOSE_B", 4)


def test_read_cells_divergence_names_row_column_and_device():
    dev, xb = _prepared()
    dev.twin.gm[1, 3, 1] = 9
    with pytest.raises(DivergenceError) as ei:
        xb.read_cells(1, 0, 20)
    e = ei.value
    assert (e.row, e.col, e.expected, e.received) == (3, 1, 5, 9)
    assert "cell (row 3, column 1) code of G-" in str(e)


def test_state_drift_after_an_update_shows_at_the_next_read():
    dev, xb = _prepared()
    xb.write_reg(SPEC.reg("UPDATE_MODE"), 0)
    xb.write_reg(SPEC.reg("LR_Q"), 1 << 16)
    dev.twin.step_up[0] = 4096              # the device's G+ moves two levels per pulse
    x = torch.zeros(1, 5, dtype=torch.int64)
    d = torch.zeros(1, 4, dtype=torch.int64)
    x[0, 1], d[0, 0] = 1, 1
    assert xb.update(1, x, d) == 1           # the same pulse count: no divergence yet
    with pytest.raises(DivergenceError) as ei:
        xb.read_cells(1, 0, 20)
    e = ei.value
    assert (e.op, e.tile, e.row, e.col) == ("READ_CELLS", 1, 0, 1)
    assert (e.expected, e.received) == (1 + 8, 1 + 16)


def test_update_pulse_divergence_reports_the_first_differing_cell():
    dev, xb = _prepared()
    xb.write_reg(SPEC.reg("UPDATE_MODE"), 0)
    xb.write_reg(SPEC.reg("LR_Q"), 1 << 16)
    dev.twin.write_reg(SPEC.reg("LR_Q"), 3 << 16)   # behind the link: the device fires 3x
    x = torch.zeros(1, 5, dtype=torch.int64)
    d = torch.zeros(1, 4, dtype=torch.int64)
    x[0, 2], d[0, 2] = 1, 1                  # S = 1 at cell (2, 2) only
    with pytest.raises(DivergenceError) as ei:
        xb.update(1, x, d)
    e = ei.value
    assert e.op == "UPDATE_B" and e.tile == 1 and (e.expected, e.received) == (1, 3)
    assert "first differing cell (row 2, column 2)" in str(e)


def test_status_divergence():
    dev, xb = _prepared()
    dev.twin.regs["CMAX"] = 10               # the device would refuse codes the twin accepts
    with pytest.raises(DivergenceError, match="status: expected \\(twin\\) 'OK', received "
                                              "\\(device\\) 'BAD_ARG'"):
        xb.write_cells(0, 0, [200], [0])


def test_register_and_rng_divergence():
    dev, xb = _prepared()
    dev.twin.regs["BL"] = 7
    with pytest.raises(DivergenceError, match=r"register BL \(0x030\)"):
        xb.read_reg(SPEC.reg("BL"))
    dev2, xb2 = _prepared()
    dev2.twin.col_lfsr[0, 2] = 12345
    with pytest.raises(DivergenceError) as ei:
        xb2.read_rng(0, 0, 9)
    assert ei.value.col == 2 and "column LFSR 2" in str(ei.value)


def test_cycle_counter_is_not_compared():
    dev, xb = _prepared()
    dev.twin.regs["CNT_BUSY"] = 1234         # the RTL's own: the twin keeps 0
    assert xb.read_reg(SPEC.reg("CNT_BUSY")) == 1234


def test_verify_exits_nonzero_on_divergence(monkeypatch, capsys):
    """`memhil verify` stops at the first mismatch, prints the report and exits 1."""
    from memhil.cli import main
    from memhil.commands import verify

    class Faulty(TwinDevice):
        def feed(self, data, tlast=True):   # from its 3rd UPDATE on, a cell drifts each time
            out = super().feed(data, tlast)
            if len(data) > 2 and data[2] in (0x30, 0x31):
                self.n = getattr(self, "n", 0) + 1
                if self.n >= 3:
                    self.twin.gp[0, 1, 1] ^= 8
                    self.twin._invalidate(0)
            return out

    monkeypatch.setattr(verify, "open_backend",
                        lambda args: LoopbackTransport(Faulty(4, 4, 1, g_w=8)))
    assert main(["verify", "--backend", "loopback", "--steps", "200", "--rows", "4",
                 "--cols", "4"]) == 1
    err = capsys.readouterr().err
    assert "DIVERGENCE" in err and "expected (twin)" in err
