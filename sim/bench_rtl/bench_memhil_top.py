"""cocotb side of ``memhil.bench.rtl`` (runs inside the simulator, not imported by the host).

Sends FORWARD, TRANSPOSE and UPDATE frames to ``memhil_top`` with no idle cycles and no
backpressure and counts, for each, the clock cycles from the one where the frame's SOF is
accepted to the one where the response's last byte leaves. Writes a JSON file
(``MEMHIL_BENCH_OUT``) with the counts and the simulation speed.
"""
from __future__ import annotations

import json
import os
import random
import struct
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr

OP = SPEC.opcodes


class _Probe:
    """Cycle of the first accepted command byte and of the last response byte."""

    def __init__(self, dut):
        self.dut = dut
        self.cycles = 0
        self.t_in = None
        self.t_out = None
        cocotb.start_soon(self._run())

    async def _run(self):
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            self.cycles += 1
            if self.t_in is None and int(d.s_axis_cmd_tvalid.value) and int(d.s_axis_cmd_tready.value):
                self.t_in = self.cycles
            if int(d.m_axis_rsp_tvalid.value) and int(d.m_axis_rsp_tready.value) and \
                    int(d.m_axis_rsp_tlast.value):
                self.t_out = self.cycles


async def start_top(dut, period_ns: int = 10):
    """Clock, the command source and response sink (no idle cycles, no backpressure), the
    AXI4-Lite port idle, and a reset: (source, sink). Also used by bench_board.py."""
    Clock(dut.clk, period_ns, unit="ns").start()
    src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_cmd"), dut.clk, dut.rst_n,
                          reset_active_level=False)
    sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_rsp"), dut.clk, dut.rst_n,
                         reset_active_level=False)
    for s in ("awvalid", "wvalid", "arvalid"):
        getattr(dut, f"s_axil_{s}").value = 0
    dut.s_axil_bready.value = 1
    dut.s_axil_rready.value = 1
    dut.rst_n.value = 0
    await ClockCycles(dut.clk, 4)
    dut.rst_n.value = 1
    return src, sink


@cocotb.test()
async def bench(dut):
    src, sink = await start_top(dut)
    R, C = int(dut.ROWS.value), int(dut.COLS.value)
    probe = _Probe(dut)
    rng = random.Random(1)
    seq = 0
    t_wall = time.perf_counter()
    c_wall = probe.cycles

    async def run(op, payload):
        nonlocal seq
        seq = (seq + 1) & 0xFF
        # wait for the array's initialisation and anything before to finish
        await ClockCycles(dut.clk, 4)
        probe.t_in = probe.t_out = None
        await src.send(AxiStreamFrame(pr.encode_command(seq, op, payload)))
        rsp = await sink.recv()
        r = pr.ResponseDecoder().feed(bytes(rsp.tdata))
        assert r and r[0].ok, (op, bytes(rsp.tdata).hex())
        return probe.t_out - probe.t_in + 1

    async def wreg(name, v):
        await run(OP["WRITE_REG"], pr.pack_write_reg(SPEC.reg(name), v))

    x = pr.pack_i8s(rng.randrange(-127, 128) for _ in range(C))
    d = pr.pack_i8s(rng.randrange(-127, 128) for _ in range(R))
    res = {}
    await run(OP["PING"], b"")                         # after the array's initialisation
    for mode in (0, 1):
        await wreg("UPDATE_MODE", mode)
        await wreg("LR_Q", 1 << 12)
        res[f"forward_m{mode}"] = await run(OP["FORWARD"], b"\x00" + x)
        res[f"transpose_m{mode}"] = await run(OP["TRANSPOSE"], b"\x00" + d)
        # contract v3: every UPDATE applies (flags = APPLY; there is no accumulate-only UPDATE)
        res[f"update_m{mode}_apply"] = await run(OP["UPDATE"], b"\x00\x01" + x + d)
    wall = time.perf_counter() - t_wall
    res["bl"] = 31
    res["sim_cycles"] = probe.cycles - c_wall
    res["wall_s"] = wall
    res["cycles_per_s"] = res["sim_cycles"] / wall
    with open(os.environ["MEMHIL_BENCH_OUT"], "w") as f:
        json.dump(res, f)
