# SPDX-License-Identifier: MIT
"""memhil_uart_top: the command protocol over a UART (8N1) with TLAST after an idle gap.

The testbench drives uart_rxd and samples uart_txd bit by bit (a UART line model: there is no
UART bus driver in cocotbext-axi) and compares every response with ``TwinDevice`` fed the same
bytes, with TLAST where the bridge must put it: after a gap of IDLE_BYTES byte times. Checks:
PING and cell writes/reads round trip; two frames back to back without a gap get two responses
(the parser hunts after every frame); a frame interrupted by an idle gap is TRUNCATED and the
parser resynchronises on the next frame.
"""
from __future__ import annotations

import random
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.queue import Queue
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.device_model import TwinDevice
from memhil_sim import proto

OP = SPEC.opcodes
ST = SPEC.status


class UartTB:
    def __init__(self, dut):
        self.dut = dut
        self.cpb = int(dut.CLK_HZ.value) // int(dut.BAUD.value)
        self.idle_bytes = int(dut.IDLE_BYTES.value)
        self.dev = TwinDevice(int(dut.ROWS.value), int(dut.COLS.value), int(dut.TILES.value),
                              g_w=int(dut.G_W.value), lanes=int(dut.LANES.value))
        self.rx = Queue()
        self.decoder = pr.ResponseDecoder()
        Clock(dut.clk, 10, unit="ns").start()
        dut.uart_rxd.value = 1
        cocotb.start_soon(self._monitor())

    async def reset(self):
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 5)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 2000)      # the array initialises its RAMs

    async def send_byte(self, b: int):
        for bit in [0] + [(b >> i) & 1 for i in range(8)] + [1]:
            self.dut.uart_rxd.value = bit
            await ClockCycles(self.dut.clk, self.cpb)

    async def send(self, data: bytes, gap_bytes: float = 0):
        for b in data:
            await self.send_byte(b)
        if gap_bytes:
            await ClockCycles(self.dut.clk, int(gap_bytes * 10 * self.cpb))

    async def _monitor(self):
        """Sample uart_txd in the middle of each bit."""
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            if int(dut.uart_txd.value) == 0:
                await ClockCycles(dut.clk, self.cpb // 2)
                v = 0
                for i in range(8):
                    await ClockCycles(dut.clk, self.cpb)
                    v |= int(dut.uart_txd.value) << i
                await ClockCycles(dut.clk, self.cpb)
                assert int(dut.uart_txd.value) == 1, "stop bit"
                self.rx.put_nowait(v)

    async def responses(self, n: int, timeout_bytes: int = 400):
        out = []
        while len(out) < n:
            b = await with_timeout(self.rx.get(), timeout_bytes * 10 * self.cpb * 10, "ns")
            out += self.decoder.feed(bytes([b]))
        return out

    async def exchange(self, data: bytes, gap_bytes: float | None = None):
        """Send ``data`` then stay idle long enough for the bridge's TLAST; check the responses
        against the model fed the same bytes with TLAST on the last one."""
        exp = self.dev.feed(data, tlast=True)
        exp_frames = pr.ResponseDecoder().feed(exp)
        await self.send(data, self.idle_bytes + 1 if gap_bytes is None else gap_bytes)
        got = await self.responses(len(exp_frames))
        assert [r.encode() for r in got] == [r.encode() for r in exp_frames], (got, exp_frames)
        return got


@cocotb.test()
async def test_uart(dut):
    tb = UartTB(dut)
    await tb.reset()
    rows, cols = int(dut.ROWS.value), int(dut.COLS.value)
    (rsp,) = await tb.exchange(proto.encode_command(1, OP["PING"]))
    assert rsp.status == ST["OK"] and pr.unpack_ping(rsp.payload)["rows"] == rows
    rng = random.Random(3)
    n = rows * cols
    gp = [rng.randrange(249) for _ in range(n)]
    gm = [rng.randrange(249) for _ in range(n)]
    await tb.exchange(proto.encode_command(2, OP["WRITE_CELLS"], pr.pack_range(0, 0, n) + pr.pack_cells(gp, gm)))
    (rsp,) = await tb.exchange(proto.encode_command(3, OP["READ_CELLS"], pr.pack_range(0, 0, n)))
    assert pr.unpack_cells(rsp.payload) == (gp, gm)
    # two frames back to back, one idle gap after both: two responses
    both = proto.encode_command(4, OP["FORWARD"], bytes([0]) + bytes(rng.randrange(256) for _ in range(cols))) + \
        proto.encode_command(5, OP["READ_REG"], pr.pack_read_reg(SPEC.reg("CNT_READS")))
    got = await tb.exchange(both)
    assert len(got) == 2
    # a frame cut by an idle gap: TRUNCATED, then the next frame is understood
    frame = proto.encode_command(6, OP["READ_REG"], pr.pack_read_reg(SPEC.reg("ID")))
    (rsp,) = await tb.exchange(frame[:4])
    assert rsp.status == ST["TRUNCATED"] and rsp.seq == 6
    await tb.exchange(frame[4:])                     # the rest: hunted over, no response
    (rsp,) = await tb.exchange(frame)
    assert rsp.status == ST["OK"] and rsp.payload == SPEC.magic.to_bytes(4, "little")
    # a gap shorter than IDLE_BYTES inside a frame is no TLAST
    f7 = proto.encode_command(7, OP["PING"])
    assert tb.dev.feed(f7[:3], tlast=False) == b""
    await tb.send(f7[:3], gap_bytes=tb.idle_bytes * 0.5)
    (rsp,) = await tb.exchange(f7[3:])
    assert rsp.status == ST["OK"]


PARAMS = [dict(ROWS=4, COLS=5, TILES=1, LANES=2, G_W=8, CLK_HZ=800, BAUD=100, IDLE_BYTES=2)]


@pytest.mark.sim
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "r{ROWS}c{COLS}cpb{CLK_HZ}".format(**p))
def test_memhil_uart(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_uart_top", "test_memhil_uart", Path(__file__).resolve().parent, params)
