# SPDX-License-Identifier: MIT
"""cocotb tests of memhil_array (the tile datapath) against the software twin, bit for bit.

Every command goes through the array's own interface (cmd handshake, payload byte stream with
random gaps, response byte stream with random backpressure); the same operation is applied to a
``memhil.twin.Twin`` and every response byte and, at checkpoints, the whole state (codes of both
devices, all LFSRs of every tile) are compared as integers.

Contract v3 has no accumulator state: an update of B samples is the batch sum of the B
single-sample increments, then one apply. The array runs it as memhil_exec issues it: ONE array
UPDATE command with ``cmd_count`` = B and ``cmd_apply``, the B samples' operands streamed in
order (x, then d, per sample); the array forms each cell's batch sum in lane registers (it has
no accumulator RAM). The twin's ``update(tile, x[B], d[B])`` is the reference.
"""
from __future__ import annotations

import os
import random
import struct
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge
from cocotb_bus.bus import Bus
from cocotbext.axi import AxiStreamFrame, AxiStreamSink, AxiStreamSource

from memhil.contract.spec import SPEC
from memhil.twin import Twin

OP = SPEC.opcodes
MAX_LEVELS = SPEC.limits["max_levels"]


class ByteBus(Bus):
    """The array's byte ports (``in_*``, ``out_*``) seen as a byte-wide AXI4-Stream."""

    _optional_signals: list = []

    def __init__(self, entity, prefix, last=False):
        sig = {"tdata": "data", "tvalid": "valid", "tready": "ready"}
        if last:
            sig["tlast"] = "last"
        super().__init__(entity, prefix, sig)


def random_pause(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


class TB:
    def __init__(self, dut, seed: int = 1, count_cycles: bool = False):
        self.dut = dut
        self.rows = int(dut.ROWS.value)
        self.cols = int(dut.COLS.value)
        self.tiles = int(dut.TILES.value)
        self.lanes = int(dut.LANES.value)
        self.gw = int(dut.G_W.value)
        self.bl_max = int(dut.BUILD_BL_MAX.value)
        self.batch_max = int(dut.BATCH_MAX.value)
        self.rng = random.Random(seed)
        self.twin = Twin(self.rows, self.cols, self.tiles, g_w=self.gw, lanes=self.lanes,
                         bl_max=self.bl_max, batch_max=self.batch_max)
        self.cycles = 0
        self.log = dut._log
        Clock(dut.clk, 10, unit="ns").start()
        # the per-clock sampler costs a Python wake-up and seven signal reads every clock (most
        # of the simulation's time): only the cycle-count test runs it
        self.counting = count_cycles
        if count_cycles:
            cocotb.start_soon(self._count())
        self.src = AxiStreamSource(ByteBus(dut, "in"), dut.clk, dut.rst_n, reset_active_level=False)
        self.sink = AxiStreamSink(ByteBus(dut, "out", last=True), dut.clk, dut.rst_n,
                                  reset_active_level=False)
        dut.cmd_valid.value = 0
        dut.cmd_op.value = 0
        dut.cmd_tile.value = 0
        dut.cmd_start.value = 0
        dut.cmd_count.value = 0
        dut.cmd_apply.value = 0
        dut.tbl_we.value = 0
        dut.tbl_dir.value = 0
        dut.tbl_addr.value = 0
        dut.tbl_wdata.value = 0
        self.regs = {}
        self.stuck_pulses = 0
        # the reset CMAX (248) needs G_W >= 8; narrower builds start from the largest legal code
        self.set_config(CMAX=min(self.twin.regs["CMAX"], (1 << self.gw) - 1))

    async def _count(self):
        """Samples every cycle in its ReadOnly phase: the cycle of each command handshake, of
        each ``done`` pulse, and the cycles where the array waited for the testbench (a payload
        byte it was ready for but did not get, or a response byte that was not taken)."""
        dut = self.dut
        self.stalls = 0
        self.accept_at = self.done_at = None
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.cycles += 1
            if int(dut.cmd_valid.value) and int(dut.cmd_ready.value):
                self.accept_at = (self.cycles, self.stalls)
            if (int(dut.in_ready.value) and not int(dut.in_valid.value)) or \
                    (int(dut.out_valid.value) and not int(dut.out_ready.value)):
                self.stalls += 1
            if int(dut.done.value):
                self.done_at = (self.cycles, self.stalls)

    def set_gaps(self, p_in: float, p_out: float):
        self.src.set_pause_generator(random_pause(self.rng, p_in) if p_in else None)
        self.sink.set_pause_generator(random_pause(self.rng, p_out) if p_out else None)

    async def reset(self):
        self.dut.rst_n.value = 0
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst_n.value = 1
        await RisingEdge(self.dut.clk)
        while True:
            await RisingEdge(self.dut.clk)
            if int(self.dut.busy.value) == 0:
                break

    # ------------------------------------------------------------------ configuration
    def set_config(self, **kv):
        """Set configuration registers on both sides (names as in the contract's register map)."""
        dut = self.dut
        for name, value in kv.items():
            self.twin.write_reg(SPEC.reg(name), value)
        r = self.twin.regs
        dut.cfg_cmax.value = r["CMAX"]
        dut.cfg_c0.value = r["C0"]
        dut.cfg_sub_bits.value = r["SUB_BITS"]
        dut.cfg_mode.value = r["UPDATE_MODE"]
        dut.cfg_bl.value = r["BL"]
        dut.cfg_lr_q.value = r["LR_Q"]
        dut.cfg_d2d_key.value = r["D2D_KEY"]
        dut.cfg_c2c_q.value = r["C2C_Q"]
        dut.cfg_d2d_q.value = r["D2D_Q"]
        dut.cfg_rn_q.value = r["RN_Q"]
        dut.cfg_adc_shift.value = r["ADC_SHIFT"]
        dut.cfg_adc_bits.value = r["ADC_BITS"]
        dut.cfg_fault_rate.value = r["FAULT_RATE"]
        dut.cfg_fault_key.value = r["FAULT_KEY"]
        dut.cfg_fault_kind.value = r["FAULT_KIND"]

    async def write_table(self, direction: int, values):
        base = SPEC.tables["step_dn_base" if direction else "step_up_base"]
        dut = self.dut
        for k, v in enumerate(values):
            self.twin.write_reg(base + 4 * k, v)
            dut.tbl_we.value = 1
            dut.tbl_dir.value = direction
            dut.tbl_addr.value = k
            dut.tbl_wdata.value = v
            await RisingEdge(dut.clk)
        dut.tbl_we.value = 0

    async def read_table(self, direction: int, k: int) -> int:
        dut = self.dut
        dut.tbl_dir.value = direction
        dut.tbl_addr.value = k
        await RisingEdge(dut.clk)
        await ReadOnly()
        v = int(dut.tbl_rdata.value)
        await RisingEdge(dut.clk)
        return v

    # ------------------------------------------------------------------ commands
    async def command(self, op: int, tile: int = 0, start: int = 0, count: int = 0,
                      apply: bool = False, payload: bytes = b"", expect_out: bool = False):
        """Run one command; return (response bytes, pulses_applied, cycles): cycles counts the
        clock cycles from the one with the cmd handshake to the one with ``done`` high, less the
        cycles where the array waited for the testbench (payload gaps, response backpressure);
        None unless the testbench was made with ``count_cycles``."""
        dut = self.dut
        dut.cmd_op.value = op
        dut.cmd_tile.value = tile
        dut.cmd_start.value = start
        dut.cmd_count.value = count
        dut.cmd_apply.value = int(apply)
        dut.cmd_valid.value = 1
        while True:
            await RisingEdge(dut.clk)
            if int(dut.cmd_ready.value):
                break
        dut.cmd_valid.value = 0
        if payload:
            await self.src.send(AxiStreamFrame(payload))
        rsp = b""
        if expect_out:
            frame = await self.sink.recv()
            rsp = bytes(frame.tdata)
        # wait for ``done`` on its edge (no per-clock polling); it is high for one clock
        await ReadOnly()
        if not int(dut.done.value):
            await RisingEdge(dut.done)
            await ReadOnly()
        assert int(dut.done.value)
        pulses = int(dut.pulses_applied.value)
        self.last_up = int(dut.pulses_up.value)
        self.last_stuck = int(dut.pulses_stuck.value)
        await RisingEdge(dut.clk)
        await ReadOnly()
        cycles = None
        if self.counting:
            (c0, s0), (c1, s1) = self.accept_at, self.done_at
            cycles = (c1 - c0) - (s1 - s0)
        await RisingEdge(dut.clk)
        assert self.sink.empty(), "response bytes after out_last"
        return rsp, pulses, cycles

    async def write_cells(self, tile, start, gp, gm):
        payload = b"".join(struct.pack("<HH", p, m) for p, m in zip(gp, gm))
        await self.command(OP["WRITE_CELLS"], tile, start, len(gp), payload=payload)
        self.twin.write_cells(tile, start, gp, gm)

    async def write_rng(self, tile, start, states):
        payload = b"".join(struct.pack("<I", s) for s in states)
        await self.command(OP["WRITE_RNG"], tile, start, len(states), payload=payload)
        self.twin.write_rng(tile, start, states)

    async def check_cells(self, tile, start, count):
        rsp, _, _ = await self.command(OP["READ_CELLS"], tile, start, count, expect_out=True)
        gp, gm = self.twin.read_cells(tile, start, count)
        want = b"".join(struct.pack("<HH", int(p), int(m)) for p, m in zip(gp, gm))
        assert rsp == want, f"READ_CELLS tile {tile} [{start}, +{count}): {rsp.hex()} != {want.hex()}"

    async def check_rng(self, tile, start, count):
        rsp, _, _ = await self.command(OP["READ_RNG"], tile, start, count, expect_out=True)
        want = b"".join(struct.pack("<I", int(v)) for v in self.twin.read_rng(tile, start, count))
        assert rsp == want, f"READ_RNG tile {tile} [{start}, +{count}): {rsp.hex()} != {want.hex()}"

    async def check_state(self):
        """The whole state of every tile, read back in a few random chunks."""
        n = self.rows * self.cols
        for tile in range(self.tiles):
            cut = sorted({0, n, *(self.rng.randrange(1, n) for _ in range(2) if n > 1)})
            for a, b in zip(cut, cut[1:]):
                await self.check_cells(tile, a, b - a)
            await self.check_rng(tile, 0, self.rows + self.cols)

    async def forward(self, tile, x):
        rsp, _, cyc = await self.command(OP["FORWARD"], tile, payload=bytes(v & 0xFF for v in x),
                                         expect_out=True)
        want = [int(v) for v in self.twin.forward(tile, [x])[0]]
        got = list(struct.unpack(f"<{self.rows}h", rsp))
        assert got == want, f"FORWARD tile {tile} x={x}: {got} != {want}"
        return cyc

    async def transpose(self, tile, d):
        rsp, _, cyc = await self.command(OP["TRANSPOSE"], tile, payload=bytes(v & 0xFF for v in d),
                                         expect_out=True)
        want = [int(v) for v in self.twin.transpose(tile, [d])[0]]
        got = list(struct.unpack(f"<{self.cols}h", rsp))
        assert got == want, f"TRANSPOSE tile {tile} d={d}: {got} != {want}"
        return cyc

    async def update(self, tile, xs, ds):
        """One update of B = len(xs) samples (contract v3): one array UPDATE with cmd_count = B
        and APPLY, the samples' x and d in order (memhil_exec's command); the twin's update of
        the batch is the reference. Returns the cycle count."""
        payload = b"".join(bytes(v & 0xFF for v in x) + bytes(v & 0xFF for v in d)
                           for x, d in zip(xs, ds))
        rsp, pulses, cycles = await self.command(OP["UPDATE"], tile, count=len(xs), apply=True,
                                                 payload=payload, expect_out=True)
        r = self.twin.regs
        up0, stuck0 = r["CNT_PULSES_UP"], r["CNT_PULSES_STUCK"]
        want = self.twin.update(tile, xs, ds)
        got = struct.unpack("<I", rsp)[0]
        assert got == want, f"UPDATE of {len(xs)} pulses (response) {got} != {want}"
        assert pulses == want, f"UPDATE of {len(xs)} pulses_applied {pulses} != {want}"
        # (the twin's counters of this apply: up, stuck)
        want_up = (r["CNT_PULSES_UP"] - up0) & 0xFFFFFFFF
        want_stuck = (r["CNT_PULSES_STUCK"] - stuck0) & 0xFFFFFFFF
        assert (self.last_up, self.last_stuck) == (want_up, want_stuck), \
            f"UPDATE pulses up/stuck {(self.last_up, self.last_stuck)} != {(want_up, want_stuck)}"
        self.stuck_pulses += want_stuck
        self.last_pulses = want
        return cycles

    # ------------------------------------------------------------------ random content
    def codes(self, n, cmax):
        return [self.rng.randint(0, cmax) for _ in range(n)]

    def vec(self, n, lo=-128, hi=127, p_zero=0.15):
        return [0 if self.rng.random() < p_zero else self.rng.randint(lo, hi) for _ in range(n)]

    def tables(self, kind: str, levels: int, sub_bits: int):
        one = 1 << (sub_bits + 8)
        up, dn = [], []
        for k in range(MAX_LEVELS):
            if kind == "linear":
                u = d = one
            elif kind == "asym":
                u, d = int(one * 1.3), int(one * 0.7)
            elif kind == "soft":
                frac = min(k, levels - 1) / max(1, levels - 1)
                u, d = int(one * 2 * (1 - frac)) + 1, int(one * 2 * frac) + 1
            else:
                u, d = self.rng.randrange(0, 1 << 16), self.rng.randrange(0, 1 << 16)
            up.append(min(u, 0xFFFF))
            dn.append(min(d, 0xFFFF))
        return up, dn

    def fault_config(self, allow_none: bool = False) -> dict:
        """Random stuck-device registers (contract section 3): a rate from few to nearly all
        (``allow_none``: or none), any kind, any key."""
        rng = self.rng
        rates = [rng.randint(1, 65535), rng.randint(8000, 40000)] + [0] * allow_none
        return dict(FAULT_RATE=rng.choice(rates), FAULT_KIND=rng.randint(0, 3),
                    FAULT_KEY=rng.getrandbits(32))

    async def randomize_device(self, *, mode: int, noisy: bool, table: str, faults: bool = False):
        """Random device config, step tables, cells and LFSRs on both sides (``faults``: random
        stuck devices too, set before the cells are written)."""
        rng = self.rng
        sub = rng.randint(0, min(8, self.gw - 1))
        levels_max = min(MAX_LEVELS, ((1 << self.gw) - 1 >> sub) + 1)
        levels = rng.randint(2, levels_max)
        cmax = (levels - 1) << sub
        self.set_config(
            CMAX=cmax, SUB_BITS=sub, C0=rng.choice([rng.randint(0, 40), rng.randint(0, 65535)]),
            UPDATE_MODE=mode,
            BL=min(self.bl_max, rng.choice([1, 7, 8, 9, 31, 255]) if mode else 31),
            LR_Q=rng.choice([0x4000, 0x10000, 0x23456, 0x1234567]),
            C2C_Q=rng.randint(1, (1 << 14) - 1) if noisy else 0,
            D2D_Q=rng.randint(1, (1 << 14) - 1) if noisy else 0,
            D2D_KEY=rng.getrandbits(32),
            RN_Q=rng.randint(1, (1 << 16) - 1) if noisy else 0,
            ADC_SHIFT=rng.randint(0, 8 + max(0, self.gw - 8)),
            ADC_BITS=rng.choice([16, rng.randint(2, 16)]),
            **(self.fault_config() if faults else dict(FAULT_RATE=0)))
        up, dn = self.tables(table, levels, sub)
        await self.write_table(0, up)
        await self.write_table(1, dn)
        for k in (0, levels - 1, 255):
            assert await self.read_table(0, k) == up[k]
            assert await self.read_table(1, k) == dn[k]
        n = self.rows * self.cols
        for tile in range(self.tiles):
            await self.write_cells(tile, 0, self.codes(n, cmax), self.codes(n, cmax))
            states = [rng.randrange(1, 1 << 32) for _ in range(self.rows + self.cols)]
            await self.write_rng(tile, 0, states)


def params_of(dut) -> str:
    return f"{int(dut.ROWS.value)}x{int(dut.COLS.value)} T{int(dut.TILES.value)} L{int(dut.LANES.value)}"


@cocotb.test()
async def test_reset_state(dut):
    """After reset: codes 0, every LFSR 0x00000001, step tables STEP_RESET."""
    tb = TB(dut, seed=11)
    await tb.reset()
    await tb.check_state()
    for k in (0, 1, 100, 255):
        assert await tb.read_table(0, k) == SPEC.tables["step_reset"]
        assert await tb.read_table(1, k) == SPEC.tables["step_reset"]


@cocotb.test()
async def test_cell_access(dut):
    """Partial WRITE/READ of cells and LFSR states at random offsets and tiles."""
    tb = TB(dut, seed=12)
    await tb.reset()
    tb.set_gaps(0.3, 0.3)
    n = tb.rows * tb.cols
    nr = tb.rows + tb.cols
    cmax = tb.twin.regs["CMAX"]
    for _ in range(6):
        tile = tb.rng.randrange(tb.tiles)
        a = tb.rng.randrange(n)
        c = tb.rng.randint(1, n - a)
        await tb.write_cells(tile, a, tb.codes(c, cmax), tb.codes(c, cmax))
        a = tb.rng.randrange(nr)
        c = tb.rng.randint(1, nr - a)
        await tb.write_rng(tile, a, [tb.rng.randrange(1, 1 << 32) for _ in range(c)])
        a = tb.rng.randrange(n)
        await tb.check_cells(tile, a, tb.rng.randint(1, n - a))
        a = tb.rng.randrange(nr)
        await tb.check_rng(tile, a, tb.rng.randint(1, nr - a))
    await tb.check_state()


async def run_random_ops(dut, mode: int, noisy: bool, table: str, gaps: tuple, seed: int, nops: int,
                         faults: bool = False):
    tb = TB(dut, seed=seed)
    await tb.reset()
    tb.set_gaps(*gaps)
    await tb.randomize_device(mode=mode, noisy=noisy, table=table, faults=faults)
    await tb.check_state()
    rng = tb.rng
    total_pulses, applies = 0, 0
    for step in range(nops):
        tile = rng.randrange(tb.tiles)
        kind = rng.choice(["fwd", "trn", "upd", "upd", "upd"])
        x = tb.vec(tb.cols)
        d = tb.vec(tb.rows)
        if faults and step == nops // 2:
            # new fault registers between commands: the apply honours them at once, the codes
            # at their next write (a few cells rewritten here)
            tb.set_config(**tb.fault_config(allow_none=True))
            n = tb.rows * tb.cols
            a = rng.randrange(n)
            cnt = rng.randint(1, n - a)
            await tb.write_cells(tile, a, tb.codes(cnt, tb.twin.regs["CMAX"]),
                                 tb.codes(cnt, tb.twin.regs["CMAX"]))
        if kind == "fwd":
            await tb.forward(tile, x)
        elif kind == "trn":
            await tb.transpose(tile, d)
        else:
            nb = min(tb.batch_max, rng.choice([1, 1, 2, 3, 5, tb.batch_max]))
            await tb.update(tile, [x] + [tb.vec(tb.cols) for _ in range(nb - 1)],
                            [d] + [tb.vec(tb.rows) for _ in range(nb - 1)])
            applies += 1
            total_pulses += tb.last_pulses
        if step % 4 == 3:
            await tb.check_state()
    await tb.check_state()
    tb.log.info("%d applies, %d pulses, BL %d", applies, total_pulses, tb.twin.regs["BL"])
    assert applies == 0 or total_pulses > 0, "the applies of this test moved no device"
    if faults:
        tb.log.info("%d pulses to stuck devices", tb.stuck_pulses)
        assert applies == 0 or tb.stuck_pulses > 0, "no apply of this test met a stuck device"


@cocotb.test()
@cocotb.parametrize(
    mode=[0, 1],
    noisy=[False, True],
)
async def test_random_ops(dut, mode, noisy):
    """Random FORWARD/TRANSPOSE/UPDATE (batches of 1..5 samples) against the twin, with gaps."""
    table = "linear" if not noisy else ("soft" if mode else "asym")
    await run_random_ops(dut, mode, noisy, table, gaps=(0.25, 0.35),
                         seed=100 + 2 * mode + int(noisy), nops=10)


@cocotb.test()
@cocotb.parametrize(
    mode=[0, 1],
    noisy=[False, True],
)
async def test_random_ops_faults(dut, mode, noisy):
    """Random FAULT_RATE/KIND/KEY (section 3, stuck devices): WRITE_CELLS through the fault map,
    applies that leave stuck devices alone, pulses_up/pulses_stuck, against the twin."""
    table = "linear" if not noisy else ("soft" if mode else "asym")
    await run_random_ops(dut, mode, noisy, table, gaps=(0.2, 0.2),
                         seed=300 + 2 * mode + int(noisy), nops=12, faults=True)


@cocotb.test()
async def test_random_tables_no_gaps(dut):
    """Random 16-bit step tables (large steps, clipping at 0 and CMAX), full-speed streams."""
    await run_random_ops(dut, 1, True, "random", gaps=(0.0, 0.0), seed=7, nops=8)


@cocotb.test()
async def test_large_sums_and_nmax(dut):
    """Batch sums far above NMAX (full-scale operands of one sign, B up to 12): n clipped to
    NMAX; rounding mode with LR_Q = 2^32 - 1 (the 24 x 32-bit product's saturation), both signs."""
    tb = TB(dut, seed=21)
    await tb.reset()
    for mode in (0, 1):
        await tb.randomize_device(mode=mode, noisy=True, table="asym")
        tb.set_config(LR_Q=0xFFFFFFFF if mode == 0 else 0x100)
        for tile in range(tb.tiles):
            nb = min(tb.batch_max, tb.rng.choice([4, 12]))
            sx = [tb.rng.choice([-1, 1]) for _ in range(tb.cols)]
            sd = [tb.rng.choice([-1, 1]) for _ in range(tb.rows)]
            xs = [[s * tb.rng.randint(100, 127) for s in sx] for _ in range(nb)]
            ds = [[s * tb.rng.randint(100, 127) for s in sd] for _ in range(nb)]
            await tb.update(tile, xs, ds)
            await tb.update(tile, [tb.vec(tb.cols)], [tb.vec(tb.rows)])
        await tb.check_state()


@cocotb.test()
async def test_stream_statistics(dut):
    """Coincidence mode with d = 127 on every row and one non-zero column j per update: the
    pulses applied (sum over rows of |S_ij| <= BL <= NMAX, no clipping) estimate
    p_row * p_col = (127/128) * |x_j|/128 per stream bit over U updates of BL bits. Checked
    within 5 sigma of the binomial spread (fixed seed), and bit-exact against the twin."""
    tb = TB(dut, seed=31)
    await tb.reset()
    bl, samples = min(255, tb.bl_max), 4
    tb.set_config(UPDATE_MODE=1, BL=bl, CMAX=min(248, (1 << tb.gw) - 1))
    await tb.write_rng(0, 0, [tb.rng.randrange(1, 1 << 32) for _ in range(tb.rows + tb.cols)])
    levels = [0, 1, 16, 64, 100, 127, -127, -64, -1]
    d = [127] * tb.rows
    for j in range(tb.cols):
        x = [0] * tb.cols
        x[j] = levels[j % len(levels)]
        count = 0
        for _ in range(samples):
            await tb.update(0, [x], [d])
            count += tb.last_pulses
        nbits = bl * samples * tb.rows
        p = (127 / 128) * (abs(x[j]) / 128)
        # the rows share column j's stream bits, so the spread is that of its bl * samples
        # column bits (the row bits fire with 127/128), not of nbits independent ones
        sigma = (p * (1 - p) / (bl * samples)) ** 0.5
        assert abs(count / nbits - p) <= 5 * sigma + 1e-9, \
            f"column {j}: rate {count / nbits:.4f} vs {p:.4f}"


def cycle_formula(R, C, L, SB, op, mode, rn, bl, nb=1):
    """docs/rtl-datapath.md, "Cycle counts": one payload byte and one response byte per clock;
    ``nb``: the samples B of an UPDATE (one array command, contract v3)."""
    wc, wr = -(-C // L), -(-R // L)
    fixed = 31
    if op == "fwd":
        return C + (4 * wr if rn else 0) + R * wc + 2 * R + fixed
    if op == "trn":
        return R + (4 * wc if rn else 0) + R * wc + 2 * C + fixed
    if mode:
        gen = (wr + wc) * (4 + nb * -(-bl // SB) + 3 * (nb - 1))
    else:
        gen = (wr + wc) * 4
    return nb * (C + R) + gen + nb * R * wc + 4 + fixed


@cocotb.test()
async def test_cycles(dut):
    """Cycle counts of FORWARD, TRANSPOSE and UPDATE equal the documented formulas exactly
    (waits for the testbench's payload gaps and response backpressure are not counted)."""
    tb = TB(dut, seed=41, count_cycles=True)
    await tb.reset()
    tb.set_gaps(float(os.environ.get('GAPS', '0.2')), float(os.environ.get('GAPS', '0.2')))
    R, C, L, SB = tb.rows, tb.cols, tb.lanes, int(dut.SB.value)
    for mode, rn, bl in ((0, 0, 31), (0, 100, 31), (1, 0, 31), (1, 0, 8), (1, 7, 255)):
        bl = min(bl, tb.bl_max)
        tb.set_config(UPDATE_MODE=mode, RN_Q=rn, BL=bl)
        x, d = tb.vec(C), tb.vec(R)
        nb = min(3, tb.batch_max)
        got = {"fwd": await tb.forward(0, x), "trn": await tb.transpose(0, d),
               "upd1": await tb.update(0, [x], [d]),
               "updB": await tb.update(0, [tb.vec(C) for _ in range(nb)],
                                       [tb.vec(R) for _ in range(nb)])}
        want = {"fwd": cycle_formula(R, C, L, SB, "fwd", mode, rn, bl),
                "trn": cycle_formula(R, C, L, SB, "trn", mode, rn, bl),
                "upd1": cycle_formula(R, C, L, SB, "upd", mode, rn, bl),
                "updB": cycle_formula(R, C, L, SB, "upd", mode, rn, bl, nb)}
        tb.log.info("cycles %s mode=%d rn=%d bl=%d: %s (formula %s)", params_of(dut),
                    mode, rn, bl, got, want)
        assert got == want, f"cycles {got} != formula {want}"
    await tb.check_state()


# ---------------------------------------------------------------------- pytest runner
SOURCES = ["memhil_pkg.sv", "memhil_dp_ram.sv", "memhil_dp_popcount.sv", "memhil_fifo.sv", "memhil_lfsr.sv",
           "memhil_mix32.sv", "memhil_tile_lane.sv", "memhil_array_ctrl.sv", "memhil_array_gen.sv",
           "memhil_array_pass.sv", "memhil_array_out.sv", "memhil_array.sv"]

PARAMS = [
    dict(ROWS=5, COLS=7, TILES=1, LANES=4, G_W=8, BATCH_MAX=16),   # non-power-of-two, partial words
    dict(ROWS=6, COLS=8, TILES=2, LANES=2, G_W=10, BATCH_MAX=5),   # two tiles, wider codes
    dict(ROWS=12, COLS=16, TILES=1, LANES=8, G_W=16, BATCH_MAX=8),  # LANES 8, 16-bit codes
    dict(ROWS=3, COLS=3, TILES=1, LANES=4, G_W=4, BUILD_BL_MAX=12, BATCH_MAX=3),  # one word per row and per
    # state RAM, 4-bit codes, a build whose stream bits hold BL <= 12 (not a multiple of SB)
]


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "r{ROWS}c{COLS}t{TILES}l{LANES}g{G_W}".format(**p)
                         + ("b{BUILD_BL_MAX}".format(**p) if "BUILD_BL_MAX" in p else ""))
def test_memhil_array(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_array", "test_memhil_array", Path(__file__).resolve().parent, params,
               sources=SOURCES, opt="-O2", test_filter=os.environ.get("MEMHIL_TEST_FILTER") or None)
