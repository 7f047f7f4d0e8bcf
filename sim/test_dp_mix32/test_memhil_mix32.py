# SPDX-License-Identifier: MIT
"""cocotb test of memhil_mix32 (the d2d hash, 4-cycle pipeline) against memhil.contract.hashing.mix32, and
of the d2d factor rule of contract section 3 through the twin's vectorized hash."""
from __future__ import annotations

import random
from pathlib import Path

import cocotb
import torch
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from memhil.contract.hashing import mix32
from memhil.twin import mix32_t

LATENCY = 4


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



def test_memhil_mix32():
    from memhil_sim import run_cocotb

    run_cocotb("memhil_mix32", "test_memhil_mix32", Path(__file__).resolve().parent, {},
               sources=["memhil_pkg.sv", "memhil_mix32.sv"])
