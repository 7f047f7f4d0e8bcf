# SPDX-License-Identifier: MIT
"""memhil_top's register file (contract section 7) through AxiLiteMaster and through the
WRITE_REG / READ_REG commands, against the twin's ``write_reg`` / ``read_reg``.

Random writes (good and out-of-range values, read-only, unknown and unaligned addresses, step
table entries) go to the RTL and to ``memhil.twin.Twin``; a write is refused by the RTL (on
AXI4-Lite: OKAY, never SLVERR, and counted in CNT_ERRORS with STATUS[15:8] = BAD_ARG; BAD_ARG on
the command link) exactly when the twin raises ``TwinError``, and afterwards
every register and every step-table entry reads back equal. Fields the contract leaves to the
RTL are compared with the RTL's own values: STATUS, CNT_BUSY and CNT_ERRORS. The twin is built
with the RTL's G_W and LANES (CMAX resets to min(248, 2^G_W - 1) and must stay below 2^G_W;
GEOMETRY1 reports both); a second build has G_W = 4 for that reset rule and small build limits
(contract v3: BATCH_MAX 7, BL_MAX 20 in GEOMETRY2; a BL write above BL_MAX is refused and BL
resets to min(31, BL_MAX)), and READ_REG after reset is compared with TwinDevice as well.
"""
from __future__ import annotations

import random
import struct
from pathlib import Path

import cocotb
import pytest

from memhil.contract.spec import SPEC
from memhil.twin import Twin
from memhil.twin.core import TwinError
from memhil_sim.tb import PAUSES, TopTB

OP = SPEC.opcodes
ST = SPEC.status
REG = {n: r.addr for n, r in SPEC.registers.items()}
RTL_ONLY = ("STATUS", "CNT_BUSY", "CNT_ERRORS")
UP, DN = SPEC.tables["step_up_base"], SPEC.tables["step_dn_base"]


def all_addrs():
    return [a for n, a in REG.items() if n not in RTL_ONLY] + \
        [UP + 4 * k for k in range(256)] + [DN + 4 * k for k in range(256)]


async def axil_errors(tb):
    v, resp = await tb.axil_read(REG["CNT_ERRORS"])
    assert resp == 0
    return v


async def rd(tb, via, addr, counted=True):
    """(value, accepted). Over AXI4-Lite every access answers OKAY (contract section 7, issue 12
    defect 3): a refusal shows as CNT_ERRORS + 1 (read data 0), checked when ``counted``."""
    if via == "axil":         # a misaligned address as one beat at exactly that address
        e0 = await axil_errors(tb) if counted else None
        v, resp = await (tb.axil_read_beat(addr) if addr % 4 else tb.axil_read(addr))
        assert resp == 0, f"read 0x{addr:03x}: resp {resp} (an AXI4-Lite error is a bus fault)"
        if not counted:
            return v, True
        e1 = await axil_errors(tb)
        assert e1 - e0 in (0, 1)
        if e1 != e0:
            assert v == 0, f"refused read 0x{addr:03x} returned {v:#x}"
            assert (await tb.axil_read(REG["STATUS"]))[0] >> 8 & 0xFF == ST["BAD_ARG"]
        return v, e1 == e0
    st, pay = await tb.command(OP["READ_REG"], struct.pack("<H", addr))
    return (struct.unpack("<I", pay)[0] if st == ST["OK"] else None), st == ST["OK"]


async def wr(tb, via, addr, value):
    if via == "axil":
        e0 = await axil_errors(tb)
        resp = await (tb.axil_write_beat(addr, value) if addr % 4 else tb.axil_write(addr, value))
        assert resp == 0, f"write 0x{addr:03x}: resp {resp} (an AXI4-Lite error is a bus fault)"
        e1 = await axil_errors(tb)
        refused = e1 == e0 + 1
        assert refused or e1 == e0 or (addr == REG["CTRL"] and e1 == 0)   # CTRL=1 clears
        if refused:
            assert (await tb.axil_read(REG["STATUS"]))[0] >> 8 & 0xFF == ST["BAD_ARG"]
        return not refused
    st, pay = await tb.command(OP["WRITE_REG"], struct.pack("<HI", addr, value))
    assert pay == b""
    assert st in (ST["OK"], ST["BAD_ARG"])
    return st == ST["OK"]


async def compare_all(tb, twin, via):
    e0 = await axil_errors(tb)
    for a in all_addrs():
        v, ok = await rd(tb, via, a, counted=False)
        assert ok, f"read 0x{a:03x} refused"
        want = twin_reg(tb, twin, a)
        assert v == want, f"0x{a:03x}: rtl {v:#x} twin {want:#x}"
    g1, _ = await rd(tb, via, REG["GEOMETRY1"])
    assert g1 == tb.tiles | (tb.lanes << 8) | (tb.gw << 16) | (tb.payload_log2 << 24)
    g2, _ = await rd(tb, via, REG["GEOMETRY2"])
    assert g2 == tb.batch_max | (tb.bl_max << 16)
    assert await axil_errors(tb) == e0, "a read of a register was refused"


def twin_reg(tb, twin, a: int) -> int:
    """A register as the build reports it: the Twin's, with GEOMETRY1's PAYLOAD_LOG2 (the size
    of the build's frame buffers, which the Twin, having no frames, reports as 0)."""
    v = twin.read_reg(a)
    if a == REG["GEOMETRY1"]:
        v |= SPEC.pack("GEOMETRY1", PAYLOAD_LOG2=tb.payload_log2)
    return v


def make_twin(tb):
    return Twin(tb.rows, tb.cols, tb.tiles, g_w=tb.gw, lanes=tb.lanes, batch_max=tb.batch_max,
                bl_max=tb.bl_max)


@cocotb.test()
async def test_reset_values(dut):
    tb = TopTB(dut)
    await tb.reset()
    twin = make_twin(tb)
    await compare_all(tb, twin, "axil")
    assert (await tb.axil_read(REG["CMAX"]))[0] == min(248, (1 << tb.gw) - 1)
    assert (await tb.axil_read(REG["BL"]))[0] == min(31, tb.bl_max)
    for name in ("STATUS", "CNT_BUSY", "CNT_ERRORS"):
        assert (await tb.axil_read(REG[name])) == (0, 0)


def random_write(rng: random.Random, gw: int, bl_max: int):
    names = [n for n, r in SPEC.registers.items()]
    k = rng.randrange(10)
    if k < 5:
        name = rng.choice(names)
        addr = REG[name]
        value = rng.choice([0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 255, 256, (1 << gw) - 1,
                            1 << gw, (1 << 14) - 1, 1 << 14, 0xFFFF, 0x10000, 0xFFFFFFFF,
                            rng.randrange(1 << 32)])
        if name == "CTRL":
            value = rng.choice([0, 1, 2])
        if name == "BL" and rng.random() < 0.5:   # the build's limit and just above it
            value = rng.choice([bl_max - 1, bl_max, bl_max + 1])
    elif k < 8:
        addr = rng.choice([UP, DN]) + 4 * rng.randrange(256)
        value = rng.choice([0, rng.randrange(1 << 16), 0xFFFF, 0x10000, rng.randrange(1 << 32)])
    else:
        addr = rng.choice([0x01C, 0x05C, 0x08C, 0x3FC, 0xC00, 0xFFC, 0x021, 0x402, 0x031,
                           0x806, 0x013, 0x7FF])
        value = rng.randrange(1 << 32)
    return addr, value


@cocotb.test()
@cocotb.parametrize(via=["axil", "cmd"])
async def test_random_access(dut, via):
    tb = TopTB(dut)
    tb.set_pauses(PAUSES["alt"], PAUSES["burst"])
    await tb.reset()
    twin = make_twin(tb)
    rng = random.Random(11 if via == "axil" else 12)
    for i in range(300):
        addr, value = random_write(rng, tb.gw, tb.bl_max)
        try:
            twin.write_reg(addr, value)
            exp = True
        except TwinError:
            exp = False
        ok = await wr(tb, via, addr, value)
        assert ok == exp, f"write {i}: 0x{addr:03x} <- {value:#x}: rtl ok={ok}, twin ok={exp}"
        if i % 50 == 49:
            await compare_all(tb, twin, via)
    await compare_all(tb, twin, via)
    # reads of unknown or misaligned addresses are refused too (misaligned: issue 9, defect 5)
    for a in (0x01C, 0x05C, 0x08C, 0xC00, 0x1000, 0xFFFF, 0x402, 0x021, 0x031, 0x806, 0x001):
        if via == "axil" and a > 0xFFF:   # beyond the 12-bit AXI4-Lite address
            continue
        assert not (await rd(tb, via, a))[1]


@cocotb.test()
async def test_reset_via_commands(dut):
    """READ_REG of every register after reset, compared with TwinDevice byte for byte."""
    tb = TopTB(dut)
    tb.attach_model()
    await tb.reset()
    for name in ("CMAX", "SUB_BITS", "C0", "UPDATE_MODE", "BL", "ADC_BITS", "GEOMETRY0",
                 "GEOMETRY1", "GEOMETRY2", "ID", "VERSION", "STATUS", "CNT_ERRORS"):
        st, pay = await tb.command(OP["READ_REG"], struct.pack("<H", REG[name]))
        assert st == ST["OK"]
    st, pay = await tb.command(OP["READ_REG"], struct.pack("<H", REG["CMAX"]))
    assert struct.unpack("<I", pay)[0] == min(248, (1 << tb.gw) - 1)
    st, pay = await tb.command(OP["READ_REG"], struct.pack("<H", REG["GEOMETRY2"]))
    assert struct.unpack("<I", pay)[0] == tb.batch_max | (tb.bl_max << 16)


@cocotb.test()
async def test_counters_and_status(dut):
    tb = TopTB(dut)
    await tb.reset()
    st, _ = await tb.command(OP["READ_REG"], b"\x00")           # BAD_LEN
    assert st == ST["BAD_LEN"]
    st, _ = await tb.command(OP["WRITE_REG"], struct.pack("<HI", REG["ID"], 0))
    assert st == ST["BAD_ARG"]
    assert (await tb.axil_read(REG["CNT_ERRORS"]))[0] == 2
    assert (await tb.axil_read(REG["STATUS"]))[0] == ST["BAD_ARG"] << 8
    assert (await tb.axil_read(REG["CNT_BUSY"]))[0] > 0
    x = bytes(tb.cols)
    st, _ = await tb.command(OP["FORWARD"], bytes([0]) + x)
    assert st == ST["OK"]
    assert (await tb.axil_read(REG["CNT_READS"]))[0] == 1
    assert await tb.axil_write(REG["CTRL"], 1) == 0
    for name in ("CNT_PULSES", "CNT_UPDATES", "CNT_READS", "CNT_ERRORS"):
        assert (await tb.axil_read(REG[name]))[0] == 0, name
    # STATUS keeps the last error status; CTRL reads as 0
    assert (await tb.axil_read(REG["STATUS"]))[0] == ST["BAD_ARG"] << 8
    assert (await tb.axil_read(REG["CTRL"]))[0] == 0
    # refused AXI4-Lite accesses (issue 12, defect 3): OKAY, counted, STATUS = BAD_ARG, as
    # TwinDevice's mmio_read / mmio_write answer
    from memhil.runtime.device_model import TwinDevice
    dev = TwinDevice(tb.rows, tb.cols, tb.tiles, g_w=tb.gw, lanes=tb.lanes,
                     batch_max=tb.batch_max, bl_max=tb.bl_max)
    st, _ = await tb.command(0x7F, b"")                       # an unknown opcode
    assert st == ST["BAD_OP"]
    assert (await tb.axil_read(REG["STATUS"]))[0] == ST["BAD_OP"] << 8
    dev.last_error, dev.errors = ST["BAD_OP"], 1
    for addr, value in ((REG["ID"], 5), (REG["BL"], 0), (0x018, 1), (0x402, 1), (UP, 1 << 16),
                        (REG["BL"], tb.bl_max + 1)):
        assert await tb.axil_write_beat(addr, value) == 0
        dev.mmio_write(addr, value)
        assert await tb.axil_read_beat(0x08C) == (0, 0)
        assert dev.mmio_read(0x08C) == 0
        for name in ("CNT_ERRORS", "STATUS", "BL", "ID"):
            assert (await tb.axil_read(REG[name]))[0] == dev.mmio_read(REG[name]), name
    assert dev.errors == 13
    assert await tb.axil_write(REG["CTRL"], 1) == 0
    dev.mmio_write(REG["CTRL"], 1)
    assert (await tb.axil_read(REG["CNT_ERRORS"]))[0] == dev.mmio_read(REG["CNT_ERRORS"]) == 0


PARAMS = [dict(ROWS=4, COLS=5, TILES=2, LANES=2, G_W=8),
          dict(ROWS=3, COLS=3, TILES=1, LANES=4, G_W=4,       # CMAX resets to 15
               BATCH_MAX=7, BL_MAX=20)]                        # BL resets to 20


@pytest.mark.sim
@pytest.mark.xdist_group("memhil_top_small")
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: "r{ROWS}c{COLS}t{TILES}l{LANES}g{G_W}".format(**p)
                         + ("b{BATCH_MAX}".format(**p) if "BATCH_MAX" in p else ""))
def test_memhil_regs(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_top", "test_memhil_regs", Path(__file__).resolve().parent, params)
