# SPDX-License-Identifier: MIT
"""cocotb test of memhil_lfsr (the LFSR leap) against memhil.twin.lfsr.advance: combinational
(XREG = 0) and with its first XOR level registered from the next state (XREG = 1)."""
from __future__ import annotations

import random
from pathlib import Path

import cocotb
import pytest
from cocotb.triggers import Timer

from memhil.contract.spec import SPEC
from memhil.twin import lfsr


async def _show(dut, s: int) -> None:
    """Present state s: XREG = 0 drives in_state; XREG = 1 loads x_next_i = s under x_en_i with a
    clock edge (in_state then carries an unrelated value: the outputs must not use it), then
    checks that a clock with x_en_i low keeps it."""
    if int(dut.XREG.value):
        dut.in_state.value = s ^ 0x5A5A5A5A
        dut.x_next_i.value = s
        dut.x_en_i.value = 1
        dut.clk.value = 0
        await Timer(1, unit="ns")
        dut.clk.value = 1
        await Timer(1, unit="ns")
        dut.x_en_i.value = 0
        dut.x_next_i.value = ~s & 0xFFFFFFFF
        dut.clk.value = 0
        await Timer(1, unit="ns")
        dut.clk.value = 1
        await Timer(1, unit="ns")
    else:
        dut.in_state.value = s
        await Timer(1, unit="ns")


@cocotb.test()
async def test_leap(dut):
    """out_states[k] == advance(in_state, (k + 1) * STEPS) for random and corner states."""
    steps = int(dut.STEPS.value)
    outs = int(dut.OUTS.value)
    rng = random.Random(steps * 1000 + outs)
    states = [SPEC.lfsr["reset_state"], 0xFFFFFFFF, 0x80000000, SPEC.lfsr["taps"]]
    states += [rng.randrange(1, 1 << 32) for _ in range(200)]
    for s in states:
        await _show(dut, s)
        packed = int(dut.out_states.value)
        cur = s
        for k in range(outs):
            cur = lfsr.advance(cur, steps)
            got = (packed >> (32 * k)) & 0xFFFFFFFF
            assert got == cur, f"state 0x{s:08x}: leap {k + 1}x{steps}: 0x{got:08x} != 0x{cur:08x}"


@cocotb.test()
async def test_period_sample(dut):
    """A long walk (1000 leaps) stays on the twin's sequence and never reaches 0."""
    steps = int(dut.STEPS.value)
    outs = int(dut.OUTS.value)
    s = 0x12345678
    for _ in range(1000 // outs):
        await _show(dut, s)
        nxt = (int(dut.out_states.value) >> (32 * (outs - 1))) & 0xFFFFFFFF
        s = lfsr.advance(s, steps * outs)
        assert nxt == s and s != 0


# the leaps the datapath uses: stream bits (8 steps, SB = 8 per clock), apply and read (32 steps);
# memhil_array_gen uses the registered form (XREG = 1)
PARAMS = [
    dict(STEPS=SPEC.lfsr["stream_steps"], OUTS=8, XREG=0),
    dict(STEPS=SPEC.lfsr["apply_steps"], OUTS=1, XREG=0),
    dict(STEPS=SPEC.lfsr["stream_steps"], OUTS=8, XREG=1),
    dict(STEPS=SPEC.lfsr["apply_steps"], OUTS=1, XREG=1),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "s{STEPS}o{OUTS}x{XREG}".format(**p))
def test_memhil_lfsr(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_lfsr", "test_memhil_lfsr", Path(__file__).resolve().parent, params,
               sources=["memhil_pkg.sv", "memhil_lfsr.sv"])
