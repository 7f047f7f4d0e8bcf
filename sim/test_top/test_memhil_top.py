# SPDX-License-Identifier: MIT
"""memhil_top end to end against ``TwinDevice``, bit for bit.

The real command byte stream goes through the AXI4-Stream source (with idle cycles), responses
come back through the sink (with backpressure), and every response frame is compared byte for
byte with ``memhil.runtime.device_model.TwinDevice`` fed the same bytes. Random sequences of
every opcode (FORWARD, TRANSPOSE, UPDATE (always APPLY: contract v3), their batched forms
FORWARD_B, TRANSPOSE_B and UPDATE_B with B up to what MAX_PAYLOAD and the build's BATCH_MAX
hold, cell/RNG reads and writes, register writes including step-table entries and BL writes
above the build's BL_MAX, PING, replays of the last command and malformed frames, among them
the v2 accumulator opcodes (BAD_OP), UPDATE flags other than APPLY and B > BATCH_MAX) run in
both update modes, with zero and non-zero variability (c2c, d2d, read noise); at the end the
whole state (codes of both devices and every LFSR of every tile, through READ_CELLS /
READ_RNG, and the counters through READ_REG) is compared. Three parameter sets, one with
non-power-of-two ROWS/COLS and small build limits (BATCH_MAX 5, BL_MAX 9), one with more than
1024 cells and an 8 KiB MAX_PAYLOAD (PAYLOAD_LOG2 = 13), so that batched frames longer than
4096 bytes and the state check's 4096-byte READ_CELLS payloads run.
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

import cocotb
import pytest

from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil_sim import proto
from memhil_sim.tb import PAUSES, TopTB

OP = SPEC.opcodes
ST = SPEC.status
REG = {n: r.addr for n, r in SPEC.registers.items()}
UP, DN = SPEC.tables["step_up_base"], SPEC.tables["step_dn_base"]


def code(rng: random.Random) -> int:
    """An operand code: mostly small, sometimes the extremes (including -128)."""
    k = rng.random()
    if k < 0.1:
        return rng.choice([-128, -127, 127, 0])
    if k < 0.6:
        return rng.randrange(-20, 21)
    return rng.randrange(-128, 128)


class Run:
    def __init__(self, tb: TopTB, rng: random.Random):
        self.tb = tb
        self.rng = rng
        self.cmax = 248
        self.faults = False

    async def cmd(self, op, payload=b"", expect_ok=True):
        st, pay = await self.tb.command(op, payload)
        if expect_ok:
            assert st == ST["OK"], f"op {op:#x} status {st}"
        return st, pay

    async def write_reg(self, name_or_addr, value, via_axil=False):
        addr = REG[name_or_addr] if isinstance(name_or_addr, str) else name_or_addr
        if via_axil:        # AXI4-Lite bypasses the byte stream: mirror it into the model
            resp = await self.tb.axil_write(addr, value)
            assert resp == 0
            self.tb.dev.mmio_write(addr, value)
        else:
            await self.cmd(OP["WRITE_REG"], pr.pack_write_reg(addr, value))

    def fault_regs(self, allow_none: bool = False) -> dict:
        """Random stuck-device registers (contract section 3)."""
        rng = self.rng
        rates = [rng.randint(1, 65535), rng.randint(5000, 30000)] + [0] * allow_none
        return {"FAULT_RATE": rng.choice(rates), "FAULT_KIND": rng.randrange(4),
                "FAULT_KEY": rng.randrange(1 << 32)}

    async def configure(self, mode: int, noisy: bool, faults: bool = False):
        rng = self.rng
        self.faults = faults
        if faults:                  # before the cells: WRITE_CELLS passes the fault map
            for name, value in self.fault_regs().items():
                await self.write_reg(name, value, via_axil=rng.random() < 0.3)
        await self.write_reg("UPDATE_MODE", mode)
        await self.write_reg("BL", rng.choice([1, 5, 9]))
        await self.write_reg("LR_Q", rng.choice([1 << 14, 3 << 14, 1 << 16, 70000]))
        await self.write_reg("ADC_SHIFT", rng.choice([0, 2, 5]), via_axil=True)
        await self.write_reg("ADC_BITS", rng.choice([8, 12, 16]))
        if noisy:
            await self.write_reg("C2C_Q", rng.choice([400, 1200, 16383]))
            await self.write_reg("D2D_Q", rng.choice([300, 1500]), via_axil=True)
            await self.write_reg("D2D_KEY", rng.randrange(1 << 32))
            await self.write_reg("RN_Q", rng.choice([700, 6000]))
        # step tables: a soft-bounds-like curve on part of the range, some entries via AXI4-Lite
        for k in range(0, 32):
            if rng.random() < 0.5:
                await self.write_reg(UP + 4 * k, max(0, 2048 - 40 * k + rng.randrange(-300, 300)),
                                     via_axil=rng.random() < 0.3)
            if rng.random() < 0.5:
                await self.write_reg(DN + 4 * k, 900 + 30 * k + rng.randrange(0, 200),
                                     via_axil=rng.random() < 0.3)
        tb = self.tb
        n = tb.rows * tb.cols
        for t in range(tb.tiles):
            for s in range(0, n, 1000):          # at most 1022 cells fit one frame
                c = min(1000, n - s)
                pairs = [(rng.randrange(self.cmax + 1), rng.randrange(self.cmax + 1)) for _ in range(c)]
                await self.cmd(OP["WRITE_CELLS"], pr.pack_range(t, s, c) + pr.pack_cells(*zip(*pairs)))
            states = [rng.randrange(1, 1 << 32) for _ in range(tb.rows + tb.cols)]
            await self.cmd(OP["WRITE_RNG"], pr.pack_range(t, 0, len(states), start16=True) +
                           pr.pack_u32s(states))

    async def random_op(self):
        tb, rng = self.tb, self.rng
        n, nr = tb.rows * tb.cols, tb.rows + tb.cols
        t = rng.randrange(tb.tiles)
        k = rng.random()
        maxp = 1 << tb.payload_log2
        batch = rng.random() < 0.5

        def nb(per_in, per_out=0):       # a batch size that fits, often the largest
            hi = min(tb.batch_max, (maxp - 4) // per_in, maxp // per_out if per_out else 256)
            return hi if rng.random() < 0.05 else rng.randint(1, min(hi, 6))

        if k < 0.22 and batch:
            b = nb(tb.cols, 2 * tb.rows)
            await self.cmd(OP["FORWARD_B"], pr.pack_batch(
                t, [[code(rng) for _ in range(tb.cols)] for _ in range(b)]))
        elif k < 0.22:
            await self.cmd(OP["FORWARD"], bytes([t]) + pr.pack_i8s(code(rng) for _ in range(tb.cols)))
        elif k < 0.40 and batch:
            b = nb(tb.rows, 2 * tb.cols)
            await self.cmd(OP["TRANSPOSE_B"], pr.pack_batch(
                t, [[code(rng) for _ in range(tb.rows)] for _ in range(b)]))
        elif k < 0.40:
            await self.cmd(OP["TRANSPOSE"], bytes([t]) + pr.pack_i8s(code(rng) for _ in range(tb.rows)))
        elif k < 0.68 and batch:
            b = nb(tb.rows + tb.cols)
            await self.cmd(OP["UPDATE_B"], pr.pack_update_batch(
                t, True, [[code(rng) for _ in range(tb.cols)] for _ in range(b)],
                [[code(rng) for _ in range(tb.rows)] for _ in range(b)]))
        elif k < 0.68:
            await self.cmd(OP["UPDATE"], pr.pack_update(
                t, True, [code(rng) for _ in range(tb.cols)],
                [code(rng) for _ in range(tb.rows)]))
        elif k < 0.77:
            s = rng.randrange(n)
            c = rng.randrange(1, min(n - s, maxp // 4) + 1)
            await self.cmd(OP["READ_CELLS"], pr.pack_range(t, s, c))
        elif k < 0.80:
            s = rng.randrange(nr)
            c = rng.randrange(1, nr - s + 1)
            await self.cmd(OP["READ_RNG"], pr.pack_range(t, s, c, start16=True))
        elif k < 0.83:
            s = rng.randrange(n)
            c = rng.randrange(1, min(8, n - s) + 1)
            gp = [rng.randrange(self.cmax + 1) for _ in range(c)]
            gm = [rng.randrange(self.cmax + 1) for _ in range(c)]
            await self.cmd(OP["WRITE_CELLS"], pr.pack_range(t, s, c) + pr.pack_cells(gp, gm))
        elif k < 0.86:
            # the v2 accumulator opcodes are unknown to a v3 device: BAD_OP (READ_ACC's and
            # WRITE_ACC's v2 payloads), nothing changes
            op = rng.choice([0x14, 0x15])
            c = rng.randrange(1, 4)
            pay = pr.pack_range(t, 0, c) + (pr.pack_i32s([5] * c) if op == 0x15 else b"")
            st, _ = await self.cmd(op, pay, expect_ok=False)
            assert st == ST["BAD_OP"]
        elif k < 0.88:
            s = rng.randrange(nr)
            c = rng.randrange(1, min(4, nr - s) + 1)
            await self.cmd(OP["WRITE_RNG"], pr.pack_range(t, s, c, start16=True) +
                           pr.pack_u32s([rng.randrange(1, 1 << 32) for _ in range(c)]))
        elif k < 0.91 and self.faults and rng.random() < 0.3:
            # new fault registers: the next applies and writes of codes follow them
            for name, value in self.fault_regs(allow_none=True).items():
                await self.write_reg(name, value, via_axil=rng.random() < 0.3)
        elif k < 0.91:
            name = rng.choice(["ADC_SHIFT", "ADC_BITS", "LR_Q", "BL", "SUB_BITS", "C0", "RN_Q"])
            val = {"ADC_SHIFT": rng.randrange(0, 8), "ADC_BITS": rng.randrange(2, 17),
                   "LR_Q": rng.randrange(1 << 17), "BL": rng.randrange(1, 12),
                   "SUB_BITS": rng.randrange(2, 5), "C0": rng.randrange(0, 40),
                   "RN_Q": rng.choice([0, 500, 3000])}[name]
            # a BL above the build's BL_MAX is refused (BAD_ARG), as the model refuses it
            ok = name != "BL" or val <= tb.bl_max
            st, _ = await self.cmd(OP["WRITE_REG"], pr.pack_write_reg(REG[name], val),
                                   expect_ok=ok)
            assert (st == ST["OK"]) == ok
        elif k < 0.94:
            # replay of the previous command: same SEQ and OP, the stored response comes back
            await self.tb.xfer_raw(self.tb.last_raw)
        elif k < 0.97:
            # a malformed frame: bad CRC or an argument error (the model says which response)
            big_b = tb.batch_max + 1                 # B > BATCH_MAX (if the frame holds it)
            bad = rng.choice([
                (OP["UPDATE"], pr.pack_update(tb.tiles, True, [0] * tb.cols, [0] * tb.rows)),
                (OP["UPDATE"], pr.pack_update(0, False, [3] * tb.cols, [3] * tb.rows)),  # flags 0
                (OP["UPDATE"], pr.pack_update(0, 0x81, [3] * tb.cols, [3] * tb.rows)),
                (OP["UPDATE_B"], struct.pack("<BBH", 0, 1, 0)),                 # B = 0
                (OP["UPDATE_B"], struct.pack("<BBH", 0, 3, 1) + bytes(nr)),     # flags
                (OP["UPDATE_B"], struct.pack("<BBH", 0, 0, 1) + bytes(nr)),     # flags 0
                (OP["UPDATE_B"], struct.pack("<BBH", 0, 1, big_b) + bytes(nr * big_b))
                if 4 + nr * big_b <= maxp else (OP["UPDATE_B"], struct.pack("<BBH", 0, 1, 0)),
                (OP["FORWARD_B"], struct.pack("<BH", 0, big_b) + bytes(tb.cols * big_b))
                if 3 + tb.cols * big_b <= maxp else (OP["FORWARD_B"], struct.pack("<BH", 0, 0)),
                (OP["FORWARD_B"], pr.pack_batch(tb.tiles, [[1] * tb.cols])),    # tile
                (OP["TRANSPOSE_B"], struct.pack("<BH", 0, 2) + bytes(tb.rows)),  # LEN
                (OP["FORWARD_B"], pr.pack_batch(0, [[0] * tb.cols] * 257)[:maxp]),  # B/LEN
            ])
            raw = bytearray(proto.encode_command(self.tb.next_seq(), *bad))
            if rng.random() < 0.5:
                raw[-1] ^= 0x10
            await self.tb.xfer_raw(bytes(raw))
        else:
            await self.cmd(OP["PING"])

    async def check_state(self):
        tb = self.tb
        n, nr = tb.rows * tb.cols, tb.rows + tb.cols
        for t in range(tb.tiles):
            # whole ranges, in pieces that fit one response frame
            for s in range(0, n, 1024):
                c = min(1024, n - s)
                await self.cmd(OP["READ_CELLS"], pr.pack_range(t, s, c))
            await self.cmd(OP["READ_RNG"], pr.pack_range(t, 0, nr, start16=True))
        for name in ("CNT_PULSES", "CNT_UPDATES", "CNT_READS", "CNT_ERRORS", "STATUS", "CMAX",
                     "GEOMETRY1", "GEOMETRY2", "BL", "LR_Q", "C2C_Q", "D2D_Q", "D2D_KEY", "RN_Q",
                     "ADC_SHIFT", "ADC_BITS", "FAULT_RATE", "FAULT_KEY", "FAULT_KIND",
                     "CNT_PULSES_UP", "CNT_PULSES_DN", "CNT_PULSES_STUCK", "CNT_CELL_READS",
                     "CNT_DAC", "CNT_ADC"):
            await self.cmd(OP["READ_REG"], pr.pack_read_reg(REG[name]))


def n_ops(tb: TopTB, small: int) -> int:
    """Random commands per test: ``small`` on the small builds, a third of it on the 32x33
    build (each of its commands moves 4x to 30x the bytes and cells; what it adds, 8 lanes
    and frames over 4 KiB, every one of its tests still exercises; the small builds run the
    full count of the same tests)."""
    return small if tb.rows * tb.cols <= 256 else small // 3


async def make_tb(dut, pause: str):
    tb = TopTB(dut)
    tb.attach_model()
    tb.set_pauses(PAUSES[pause], PAUSES[pause])
    await tb.reset()
    return tb


@cocotb.test()
@cocotb.parametrize(mode=[0, 1], noisy=[False, True], pause=["none", "burst"])
async def test_random(dut, mode, noisy, pause):
    tb = await make_tb(dut, pause)
    rng = random.Random(1000 * mode + 10 * noisy + len(pause))
    run = Run(tb, rng)
    await run.configure(mode, noisy)
    if tb.payload_log2 > 12:     # one frame longer than 4096 bytes: the largest UPDATE_B
        b = min(tb.batch_max, ((1 << tb.payload_log2) - 4) // (tb.rows + tb.cols))
        await run.cmd(OP["UPDATE_B"], pr.pack_update_batch(
            0, True, [[code(rng) for _ in range(tb.cols)] for _ in range(b)],
            [[code(rng) for _ in range(tb.rows)] for _ in range(b)]))
    for _ in range(n_ops(tb, 60)):
        await run.random_op()
    await run.check_state()
    assert tb.sink.empty()


@cocotb.test()
@cocotb.parametrize(mode=[0, 1], noisy=[False, True])
async def test_random_faults(dut, mode, noisy):
    """Random FAULT_RATE/KIND/KEY (stuck devices), set before the cells and changed between
    commands; every response, the state and every counter (pulses up/down/stuck, cells, DAC,
    ADC) against the model."""
    tb = await make_tb(dut, "burst")
    rng = random.Random(5000 + 1000 * mode + 10 * noisy)
    run = Run(tb, rng)
    await run.configure(mode, noisy, faults=True)
    for _ in range(n_ops(tb, 48)):
        await run.random_op()
    await run.check_state()
    assert tb.sink.empty()
    stuck = tb.dev.twin.regs["CNT_PULSES_STUCK"]
    tb.dut._log.info("pulses to stuck devices: %d of %d", stuck, tb.dev.twin.regs["CNT_PULSES"])
    assert stuck > 0, "no pulse of this test met a stuck device"


@cocotb.test()
async def test_large_sums_and_nmax(dut):
    """Batch sums of full-scale operands (the largest UPDATE_B the build and frame take, both
    signs) and pulse counts above NMAX in both modes; BL at the build's BL_MAX."""
    tb = await make_tb(dut, "none")
    run = Run(tb, random.Random(5))
    nr = tb.rows + tb.cols
    b = min(tb.batch_max, ((1 << tb.payload_log2) - 4) // nr)
    for mode in (1, 0):
        await run.write_reg("UPDATE_MODE", mode)
        await run.write_reg("LR_Q", 1 << 20)
        await run.write_reg("BL", tb.bl_max)
        await run.cmd(OP["UPDATE_B"], pr.pack_update_batch(
            0, True, [[127] * tb.cols] * b, [[-127 if i % 2 else 127 for i in range(tb.rows)]] * b))
        await run.cmd(OP["UPDATE"], pr.pack_update(0, True, [127] * tb.cols, [127] * tb.rows))
    await run.check_state()


# (misaligned address, a value the register it would alias accepts)
MISALIGNED = [(0x402, 1234), (0x021, 100), (0x031, 7), (0x806, 777), (0x013, 1), (0x403, 5),
              (0x04A, 8), (0x7FF, 9)]


@cocotb.test()
async def test_misaligned_addresses_are_refused(dut):
    """Issue 9 (defect 5): a register address with bits [1:0] != 0 is refused on both paths
    (contract section 7) and nothing changes (it used to land on the aligned register and be
    accepted: 0x402 wrote STEP_UP[0], 0x013 cleared the counters). Over AXI4-Lite (issue 12,
    defect 3) the refusal answers OKAY, never SLVERR (a bus fault on a Zynq), reads return 0, and
    each refused access counts in CNT_ERRORS and sets STATUS[15:8] = BAD_ARG, as
    TwinDevice.mmio_read/mmio_write answer; over the command link it answers BAD_ARG."""
    tb = await make_tb(dut, "none")
    run = Run(tb, random.Random(9))
    await run.cmd(OP["FORWARD"], bytes([0]) + pr.pack_i8s([3] * tb.cols))    # CNT_READS = 1
    await run.cmd(OP["WRITE_REG"], pr.pack_write_reg(0x402, 5), expect_ok=False)  # STATUS, errors
    watched = sorted({r.addr for r in SPEC.registers.values()} |
                     {base + 4 * k for base in (UP, DN) for k in range(4)} | {UP + 0x3FC})
    counted = (REG["CNT_ERRORS"], REG["CNT_BUSY"], REG["STATUS"])

    async def snapshot():
        out = {}
        for a in watched:
            out[a] = await tb.axil_read_beat(a)
            assert out[a][1] == 0, f"read 0x{a:03x}: resp {out[a][1]}"
        return out

    async def errors():
        return (await tb.axil_read(REG["CNT_ERRORS"]))[0]

    before = await snapshot()
    assert before[REG["CNT_READS"]][0] == 1 and before[REG["CNT_ERRORS"]][0] == 1
    assert await tb.axil_write(REG["CTRL"], 1) == 0  # clear the counters (the model's too)
    tb.dev.mmio_write(REG["CTRL"], 1)
    before = await snapshot()
    assert before[REG["CNT_ERRORS"]][0] == 0
    n_err = 0
    for addr, value in MISALIGNED:
        assert addr % 4 and before[addr & ~3][0] != value
        assert await tb.axil_write_beat(addr, value) == 0, f"write 0x{addr:03x} not OKAY"
        tb.dev.mmio_write(addr, value)
        assert await tb.axil_read_beat(addr) == (0, 0), f"read 0x{addr:03x} not OKAY with 0"
        assert tb.dev.mmio_read(addr) == 0
        n_err += 2
        assert await errors() == n_err == tb.dev.errors
        status = (await tb.axil_read(REG["STATUS"]))[0]
        assert (status >> 8) & 0xFF == ST["BAD_ARG"]
        # AxiLiteMaster's own sub-word access at that address (bytes in their lanes): refused too
        n = 4 - addr % 4
        r = await tb.axil.write(addr, value.to_bytes(4, "little")[:n])
        assert int(r.resp) == 0, f"{n}-byte write at 0x{addr:03x} not OKAY"
        r = await tb.axil.read(addr, n)
        assert int(r.resp) == 0, f"{n}-byte read at 0x{addr:03x} not OKAY"
        assert bytes(r.data) == bytes(n), f"{n}-byte read at 0x{addr:03x} not 0"
        tb.dev.mmio_write(addr, value)              # one beat each, at addr (as above)
        tb.dev.mmio_read(addr)
        n_err += 2
        assert await errors() == n_err == tb.dev.errors
    after = await snapshot()
    for a in watched:
        if a not in counted:
            assert after[a] == before[a], f"0x{a:03x}: {before[a]} -> {after[a]}"
    # the command link: BAD_ARG for writes and reads, as the model answers (xfer_raw compares)
    for addr, value in MISALIGNED:
        st, _ = await run.cmd(OP["WRITE_REG"], pr.pack_write_reg(addr, value), expect_ok=False)
        assert st == ST["BAD_ARG"], f"WRITE_REG 0x{addr:03x}: status {st}"
        st, _ = await run.cmd(OP["READ_REG"], pr.pack_read_reg(addr), expect_ok=False)
        assert st == ST["BAD_ARG"], f"READ_REG 0x{addr:03x}: status {st}"
    after = await snapshot()
    for a in watched:
        if a not in counted:
            assert after[a] == before[a], f"0x{a:03x}: {before[a]} -> {after[a]}"
    assert after[REG["CNT_ERRORS"]][0] == n_err + 2 * len(MISALIGNED)
    await run.check_state()


PARAMS = [
    dict(ROWS=5, COLS=7, TILES=2, LANES=4, G_W=8, BATCH_MAX=5, BL_MAX=9),  # non-power-of-two,
    # partial words, small build limits (B > 5 and BL > 9 refused)
    dict(ROWS=6, COLS=8, TILES=2, LANES=2, G_W=10),     # wider codes
    dict(ROWS=32, COLS=33, TILES=1, LANES=8, G_W=8, PAYLOAD_LOG2=13),  # more lanes, 8 KiB frames
]


@pytest.mark.sim
@pytest.mark.slow
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "r{ROWS}c{COLS}t{TILES}l{LANES}g{G_W}".format(**p)
                         + ("p{PAYLOAD_LOG2}".format(**p) if "PAYLOAD_LOG2" in p else "")
                         + ("b{BATCH_MAX}".format(**p) if "BATCH_MAX" in p else ""))
def test_memhil_top(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_top", "test_memhil_top", Path(__file__).resolve().parent, params)
