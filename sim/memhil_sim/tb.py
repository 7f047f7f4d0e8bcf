# SPDX-License-Identifier: MIT
"""The testbench of ``memhil_top``: clock, reset, AXI4-Lite master and the command/response
AXI4-Stream source and sink (cocotbext-axi, found with ``from_prefix``)."""
from __future__ import annotations

import itertools
import random

from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, Timer
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from memhil_sim import proto


def cycle_pause(pattern):
    return itertools.cycle(pattern)


def random_pause(seed: int, p: float):
    rng = random.Random(seed)
    while True:
        yield rng.random() < p


# idle / backpressure patterns for @cocotb.parametrize
PAUSES = {
    "none": None,
    "alt": [1, 0],
    "burst": [0, 0, 0, 1, 1, 0, 1, 1, 1, 0],
}


class TopTB:
    def __init__(self, dut, period_ns: int = 10):
        self.dut = dut
        self.log = dut._log
        self.rows = int(dut.ROWS.value)
        self.cols = int(dut.COLS.value)
        self.tiles = int(dut.TILES.value)
        self.lanes = int(dut.LANES.value)
        self.gw = int(dut.G_W.value)
        self.payload_log2 = int(dut.PAYLOAD_LOG2.value) if hasattr(dut, "PAYLOAD_LOG2") else 12
        # the build limits of contract v3 (GEOMETRY2, PING)
        self.batch_max = int(dut.BATCH_MAX.value)
        self.bl_max = int(dut.BL_MAX.value)
        Clock(dut.clk, period_ns, unit="ns").start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst_n,
                                  reset_active_level=False)
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_cmd"), dut.clk,
                                   dut.rst_n, reset_active_level=False)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_rsp"), dut.clk,
                                  dut.rst_n, reset_active_level=False)
        self.seq = 0
        self.dev = None

    def attach_model(self):
        """Compare every response with ``memhil.runtime.device_model.TwinDevice`` (the
        protocol-level reference), byte for byte."""
        from memhil.runtime.device_model import TwinDevice

        self.dev = TwinDevice(self.rows, self.cols, self.tiles, g_w=self.gw, lanes=self.lanes,
                              payload_log2=self.payload_log2, batch_max=self.batch_max,
                              bl_max=self.bl_max)
        return self.dev

    def set_pauses(self, src_pattern=None, sink_pattern=None):
        if src_pattern is None:
            self.src.clear_pause_generator()
        else:
            self.src.set_pause_generator(itertools.cycle(src_pattern))
        if sink_pattern is None:
            self.sink.clear_pause_generator()
        else:
            self.sink.set_pause_generator(itertools.cycle(sink_pattern))

    async def reset(self):
        self.dut.rst_n.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.rst_n.value = 0
        for _ in range(4):
            await RisingEdge(self.dut.clk)
        self.dut.rst_n.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)

    async def send_raw(self, data: bytes):
        """One AXI4-Stream packet (TLAST on its last byte)."""
        await self.src.send(AxiStreamFrame(bytes(data)))

    async def recv_frame(self, timeout_cycles: int = 200_000) -> bytes:
        frame = await self.sink.recv()
        return bytes(frame.tdata)

    async def xfer_raw(self, data: bytes) -> bytes:
        """Send one packet, return the response bytes; with a model attached, receive as many
        frames as the model answers and check that they are the model's bytes exactly."""
        if self.dev is None:
            await self.send_raw(data)
            return await self.recv_frame()
        from memhil.runtime.protocol import ResponseDecoder

        exp = self.dev.feed(bytes(data), tlast=True)
        n = len(ResponseDecoder().feed(exp))
        await self.send_raw(data)
        got = b"".join([await self.recv_frame() for _ in range(n)])
        assert got == exp, f"sent {bytes(data).hex()}\n rtl   {got.hex()}\n model {exp.hex()}"
        return got

    def next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFF
        return self.seq

    async def command(self, op: int, payload: bytes = b"", seq: int | None = None):
        """Send one command, return (seq, op, status, payload) of the response, checking
        framing, CRC and the echo of SEQ and OP."""
        if seq is None:
            seq = self.next_seq()
        self.last_raw = proto.encode_command(seq, op, payload)
        raw = await self.xfer_raw(self.last_raw)
        rseq, rop, status, rpay = proto.decode_response(raw)
        assert (rseq, rop) == (seq, op), f"response echoes {(rseq, rop)}, sent {(seq, op)}"
        return status, rpay

    async def axil_read(self, addr: int):
        r = await self.axil.read(addr, 4)
        return int.from_bytes(r.data, "little"), int(r.resp)

    async def axil_write(self, addr: int, value: int):
        r = await self.axil.write(addr, int(value).to_bytes(4, "little"))
        return int(r.resp)

    # One beat with exactly this AWADDR/ARADDR and the whole word on WDATA/RDATA. (AxiLiteMaster
    # puts the bytes of a misaligned access into their byte lanes and splits a word that
    # crosses a word boundary into two beats; these helpers drive its channels directly, so
    # they must not overlap its own transfers.)
    async def axil_write_beat(self, addr: int, value: int, strb: int = 0xF) -> int:
        """One AXI4-Lite write beat (AW and W) at ``addr``; returns BRESP."""
        wif = self.axil.write_if
        assert not wif.in_flight_operations, "axil_write_beat during an AxiLiteMaster write"
        aw = wif.aw_channel._transaction_obj()
        aw.awaddr, aw.awprot = addr, 0
        w = wif.w_channel._transaction_obj()
        w.wdata, w.wstrb = int(value) & 0xFFFFFFFF, strb
        await wif.aw_channel.send(aw)
        await wif.w_channel.send(w)
        b = await wif.b_channel.recv()
        return int(b.bresp)

    async def axil_read_beat(self, addr: int):
        """One AXI4-Lite read beat at ``addr``; returns (RDATA, RRESP)."""
        rif = self.axil.read_if
        assert not rif.in_flight_operations, "axil_read_beat during an AxiLiteMaster read"
        ar = rif.ar_channel._transaction_obj()
        ar.araddr, ar.arprot = addr, 0
        await rif.ar_channel.send(ar)
        r = await rif.r_channel.recv()
        return int(r.rdata), int(r.rresp)

    async def idle(self, n: int):
        for _ in range(n):
            await RisingEdge(self.dut.clk)


__all__ = ["TopTB", "PAUSES", "Timer", "random_pause", "cycle_pause"]
