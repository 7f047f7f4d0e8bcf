"""cocotb side of ``memhil.bench.board`` (runs inside the simulator, not imported by the host).

Sends batched FORWARD_B / TRANSPOSE_B / UPDATE_B frames (and, for the formula check, their
single-sample forms) to ``memhil_top`` with no idle cycles and no backpressure, and counts for
each the clock cycles from the one in which the frame's SOF is accepted to the one in which the
response's last byte leaves (``memhil.bench.rtl``'s definition). The plan comes as JSON in
``MEMHIL_BENCH_PLAN``::

    {"bs": [1, 2, 3], "reads": ["forward", "transpose"], "modes": [0, 1], "bl": 31}

``reads``: which of FORWARD(_B) and TRANSPOSE(_B) to count (reads do not depend on the update
mode: counted once, in the first mode); ``modes``: UPDATE_MODE values for UPDATE(_B) with
APPLY. Read noise stays off (RN_Q = 0, its reset value). Writes a JSON file
(``MEMHIL_BENCH_OUT``): ``{"forward": n, "forward_b": {"1": n, ...}, "update_m1": n,
"update_b_m1": {...}, ..., "write_reg": n, "sim_cycles": ..., "wall_s": ...,
"cycles_per_s": ...}`` (``update_*``: with APPLY).

Only the first accepted byte is found by watching the clock; the last byte's cycle is the
sink's ``sim_time_end`` (set in the clock edge that takes the frame's last beat), so the
simulator runs without a Python callback per clock while the array works.
"""
from __future__ import annotations

import json
import os
import random
import time

import cocotb
from cocotb.triggers import ClockCycles, RisingEdge
from cocotb.utils import get_sim_steps, get_sim_time
from cocotbext.axi import AxiStreamFrame

from bench_memhil_top import start_top
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr

OP = SPEC.opcodes
PERIOD_NS = 10


@cocotb.test()
async def bench(dut):
    plan = json.loads(os.environ["MEMHIL_BENCH_PLAN"])
    src, sink = await start_top(dut, PERIOD_NS)
    R, C = int(dut.ROWS.value), int(dut.COLS.value)
    period = get_sim_steps(PERIOD_NS, "ns")
    rng = random.Random(1)
    seq = 0
    total = [0]

    async def run(op, payload):
        nonlocal seq
        seq = (seq + 1) & 0xFF
        await ClockCycles(dut.clk, 4)          # the array's initialisation, anything before
        await src.send(AxiStreamFrame(pr.encode_command(seq, op, payload)))
        while True:                            # the clock edge that takes the SOF
            await RisingEdge(dut.clk)
            if int(dut.s_axis_cmd_tvalid.value) and int(dut.s_axis_cmd_tready.value):
                t_in = get_sim_time()
                break
        rsp = await sink.recv()
        r = pr.ResponseDecoder().feed(bytes(rsp.tdata))
        assert r and r[0].ok, (op, bytes(rsp.tdata)[:16].hex())
        n = round((rsp.sim_time_end - t_in) / period) + 1
        total[0] += n
        return n

    async def wreg(name, v):
        return await run(OP["WRITE_REG"], pr.pack_write_reg(SPEC.reg(name), v))

    def codes(n):
        return [rng.randrange(-127, 128) for _ in range(n)]

    B_max = max(plan["bs"])
    xs = [codes(C) for _ in range(B_max)]
    ds = [codes(R) for _ in range(B_max)]
    res: dict = {"rows": R, "cols": C, "bl": plan["bl"]}
    t_wall = time.perf_counter()
    await run(OP["PING"], b"")                 # after the array's initialisation
    res["write_reg"] = await wreg("BL", plan["bl"])
    await wreg("LR_Q", 1 << 12)
    for i, mode in enumerate(plan["modes"]):
        await wreg("UPDATE_MODE", mode)
        if i == 0:
            for name, vecs in (("forward", xs), ("transpose", ds)):
                if name not in plan["reads"]:
                    continue
                res[name] = await run(OP[name.upper()], b"\x00" + pr.pack_i8s(vecs[0]))
                res[f"{name}_b"] = {str(b): await run(OP[f"{name.upper()}_B"],
                                                      pr.pack_batch(0, vecs[:b]))
                                    for b in plan["bs"]}
        res[f"update_m{mode}"] = await run(OP["UPDATE"], pr.pack_update(0, True, xs[0], ds[0]))
        res[f"update_b_m{mode}"] = {str(b): await run(OP["UPDATE_B"], pr.pack_update_batch(
            0, True, xs[:b], ds[:b])) for b in plan["bs"]}
    wall = time.perf_counter() - t_wall
    res["sim_cycles"] = total[0]
    res["wall_s"] = wall
    res["cycles_per_s"] = total[0] / wall
    with open(os.environ["MEMHIL_BENCH_OUT"], "w") as f:
        json.dump(res, f)

