# SPDX-License-Identifier: MIT
"""cocotb test of memhil_wide_pass (the P-cells-per-clock datapath of the wide pass) against a
model written from the contract's formulas (docs/hardware-contract.md sections 5 and 6), in
Python integers, bit for bit:

* FORWARD: per row ``y_i = sum_j (c+ - c-) x_j`` and ``T_i = sum_j |x_j| (c+ + c- + 2 C0)``
  over the row's words (first/last word flags), one result per row;
* TRANSPOSE: per column ``z_j = sum_i (c+ - c-) d_i`` and ``T_j = sum_i |d_i| (c+ + c- + 2 C0)``
  over the block's rows, read out of the bank LANES columns per clock;
* UPDATE: per cell the batch sum ``S = sat24(S + inc)`` sample by sample (memhil_array_pass's
  saturation), ``inc = x_j d`` (rounding) or ``sign(x_j) sign(d) popcount(rowbits & colbits_j)``
  (coincidence, 0 when x_j or d is 0), read out LANES cells per clock with the word's codes.

Words are driven with random idle clocks between them (in_valid_i low); operands are clamped
codes in [-127, 127] as memhil_array_ctrl's LOAD leaves them.
"""
from __future__ import annotations

import random
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

SUM_MAX = (1 << 23) - 1
SUM_MIN = -(1 << 23)
Y_W, T_W, SUM_BITS = 48, 40, 24


def signed(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def fields(v: int, n: int, bits: int) -> list[int]:
    return [(v >> (k * bits)) & ((1 << bits) - 1) for k in range(n)]


def pack(vals, bits: int) -> int:
    out = 0
    for k, x in enumerate(vals):
        out |= (x & ((1 << bits) - 1)) << (k * bits)
    return out


def sgn(v: int) -> int:
    return (v > 0) - (v < 0)


class TB:
    def __init__(self, dut, seed: int):
        self.dut = dut
        self.p = int(dut.P.value)
        self.lanes = int(dut.LANES.value)
        self.gw = int(dut.G_W.value)
        self.wb = 8 * ((int(dut.BUILD_BL_MAX.value) + 7) // 8)
        self.ng = self.p // self.lanes
        self.cmax = (1 << self.gw) - 1
        self.rng = random.Random(seed)
        self.c0 = 0

    async def reset(self, op: str, mode: int = 0, c0: int = 0):
        d = self.dut
        d.op_fwd_i.value = int(op == "fwd")
        d.op_trn_i.value = int(op == "trn")
        d.op_upd_i.value = int(op == "upd")
        d.cfg_mode_i.value = mode
        d.cfg_c0_i.value = c0
        self.c0 = c0
        d.in_valid_i.value = 0
        d.in_first_i.value = 0
        d.in_last_i.value = 0
        d.rst_n.value = 0
        for _ in range(3):
            await FallingEdge(d.clk)
        d.rst_n.value = 1

    def codes(self):
        return [(self.rng.randint(0, self.cmax), self.rng.randint(0, self.cmax))
                for _ in range(self.p)]

    def operand(self, p_zero: float = 0.1) -> int:
        if self.rng.random() < p_zero:
            return 0
        return self.rng.choice([-127, 127, self.rng.randint(-127, 127)]) \
            if self.rng.random() < 0.2 else self.rng.randint(-127, 127)

    async def run(self, words: list[dict], gaps: float = 0.3) -> tuple[list, list, int]:
        """Drive the words (dicts of codes, x, d, cbits, rbits, first, last), with idle clocks
        between them, until the pipeline is empty; return the FORWARD results, the bank reads
        and overrun_o."""
        d = self.dut
        fwd, bank = [], []
        seq = []
        for w in words:
            while self.rng.random() < gaps:
                seq.append(None)
            seq.append(w)
        idle = 0
        k = 0
        while True:
            await FallingEdge(d.clk)
            # outputs of the rising edge before
            if int(d.fwd_valid_o.value):
                fwd.append((signed(int(d.fwd_y_o.value), Y_W), int(d.fwd_t_o.value)))
            if int(d.out_valid_o.value):
                bank.append({
                    "grp": int(d.out_grp_o.value),
                    "y": [signed(v, Y_W) for v in fields(int(d.out_y_o.value), self.lanes, Y_W)],
                    "t": fields(int(d.out_t_o.value), self.lanes, T_W),
                    "s": [signed(v, SUM_BITS) for v in
                          fields(int(d.out_sum_o.value), self.lanes, SUM_BITS)],
                    "cp": fields(int(d.out_cp_o.value), self.lanes, self.gw),
                    "cm": fields(int(d.out_cm_o.value), self.lanes, self.gw)})
            if k < len(seq):
                w = seq[k]
                k += 1
                if w is None:
                    d.in_valid_i.value = 0
                    d.in_first_i.value = self.rng.getrandbits(1)   # ignored while not valid
                    d.in_last_i.value = self.rng.getrandbits(1)
                else:
                    d.in_valid_i.value = 1
                    d.in_first_i.value = int(w["first"])
                    d.in_last_i.value = int(w["last"])
                    d.code_i.value = pack([c for cp, cm in w["codes"] for c in (cp, cm)], self.gw)
                    d.x_i.value = pack(w["x"], 8)
                    d.d_i.value = w["d"] & 0xFF
                    d.cbits_i.value = pack(w["cbits"], self.wb)
                    d.rbits_i.value = w["rbits"]
            else:
                d.in_valid_i.value = 0
                if not int(d.busy_o.value):
                    idle += 1
                    if idle > 2:
                        break
        return fwd, bank, int(d.overrun_o.value)

    def word(self, codes, x, dv, first, last, cbits=None, rbits=None):
        return {"codes": codes, "x": x, "d": dv, "first": first, "last": last,
                "cbits": cbits if cbits is not None else
                [self.rng.getrandbits(self.wb) for _ in range(self.p)],
                "rbits": rbits if rbits is not None else self.rng.getrandbits(self.wb)}

    def check_bank(self, bank, want: list[list[dict]], what: str):
        """``want``: per finished sum, per cell the expected fields (y, t, s, cp, cm)."""
        assert len(bank) == len(want) * self.ng, f"{what}: {len(bank)} bank reads, " \
            f"want {len(want) * self.ng}"
        for n, cells in enumerate(want):
            for g in range(self.ng):
                rd = bank[n * self.ng + g]
                assert rd["grp"] == g, f"{what} sum {n}: group {rd['grp']} != {g}"
                for ln in range(self.lanes):
                    j = g * self.lanes + ln
                    for key, val in cells[j].items():
                        assert rd[key][ln] == val, \
                            f"{what} sum {n} cell {j}: {key} = {rd[key][ln]}, want {val}"


@cocotb.test()
async def test_forward(dut):
    """Rows of 1..4 words: y_i and T_i of each row, C0 from 0 to 65535."""
    Clock(dut.clk, 10, unit="ns").start()
    tb = TB(dut, 11)
    for c0 in (0, 18, 65535):
        await tb.reset("fwd", c0=c0)
        words, want = [], []
        for _ in range(12):
            nw = tb.rng.randint(1, 4)
            x = [tb.operand() for _ in range(nw * tb.p)]
            y = t = 0
            for w in range(nw):
                codes = tb.codes()
                xs = x[w * tb.p:(w + 1) * tb.p]
                for (cp, cm), xv in zip(codes, xs):
                    y += (cp - cm) * xv
                    t += abs(xv) * (cp + cm + 2 * c0)
                words.append(tb.word(codes, xs, tb.operand(), w == 0, w == nw - 1))
            want.append((y, t))
        fwd, bank, ovr = await tb.run(words)
        assert fwd == want, f"C0 {c0}: {fwd} != {want}"
        assert not bank and not ovr


@cocotb.test()
async def test_transpose(dut):
    """Column blocks of NG..NG+5 rows: z_j and T_j per column through the bank."""
    Clock(dut.clk, 10, unit="ns").start()
    tb = TB(dut, 12)
    for c0 in (0, 7, 65535):
        await tb.reset("trn", c0=c0)
        words, want = [], []
        for _ in range(6):
            nr = tb.rng.randint(tb.ng, tb.ng + 5)
            z = [0] * tb.p
            t = [0] * tb.p
            for i in range(nr):
                codes = tb.codes()
                dv = tb.operand()
                for j, (cp, cm) in enumerate(codes):
                    z[j] += (cp - cm) * dv
                    t[j] += abs(dv) * (cp + cm + 2 * c0)
                words.append(tb.word(codes, [tb.operand() for _ in range(tb.p)], dv,
                                     i == 0, i == nr - 1))
            want.append([{"y": z[j], "t": t[j]} for j in range(tb.p)])
        fwd, bank, ovr = await tb.run(words, gaps=0.2)
        assert not fwd and not ovr
        tb.check_bank(bank, want, f"TRANSPOSE C0 {c0}")


def model_update(tb: TB, words: list[dict], mode: int) -> list[list[dict]]:
    want = []
    s = [0] * tb.p
    for w in words:
        if w["first"]:
            s = [0] * tb.p
        for j in range(tb.p):
            xv, dv = w["x"][j], w["d"]
            if mode == 0:
                inc = xv * dv
            else:
                inc = sgn(xv) * sgn(dv) * bin(w["rbits"] & w["cbits"][j]).count("1")
            s[j] = min(max(s[j] + inc, SUM_MIN), SUM_MAX)
        if w["last"]:
            want.append([{"s": s[j], "y": s[j], "cp": cp, "cm": cm}
                         for j, (cp, cm) in enumerate(w["codes"])])
    return want


@cocotb.test()
async def test_update(dut):
    """Cell words of NG..NG+6 samples, rounding and coincidence: the batch sums and the codes."""
    Clock(dut.clk, 10, unit="ns").start()
    tb = TB(dut, 13)
    for mode in (0, 1):
        await tb.reset("upd", mode=mode, c0=tb.rng.randint(0, 65535))
        words = []
        for _ in range(8):
            nb = tb.rng.randint(tb.ng, tb.ng + 6)
            codes = tb.codes()
            for b in range(nb):
                words.append(tb.word(codes, [tb.operand() for _ in range(tb.p)], tb.operand(),
                                     b == 0, b == nb - 1))
        fwd, bank, ovr = await tb.run(words, gaps=0.2)
        assert not fwd and not ovr
        tb.check_bank(bank, model_update(tb, words, mode), f"UPDATE mode {mode}")


@cocotb.test()
async def test_update_saturation(dut):
    """600 samples of +-127 * 127 saturate S at +-(2^23 - 1 / 2^23) clock by clock (as the
    pass): one sample of the opposite sign after it moves S back from the bound."""
    Clock(dut.clk, 10, unit="ns").start()
    tb = TB(dut, 14)
    await tb.reset("upd", mode=0)
    codes = tb.codes()
    xs = [127 if j % 2 else -127 for j in range(tb.p)]
    n = 600
    words = [tb.word(codes, xs, 127, b == 0, False) for b in range(n)]
    words.append(tb.word(codes, xs, -127, False, True))
    fwd, bank, ovr = await tb.run(words, gaps=0.0)
    want = model_update(tb, words, 0)
    assert want[0][0]["s"] == SUM_MIN + 16129 and want[0][1]["s"] == SUM_MAX - 16129
    tb.check_bank(bank, want, "UPDATE saturation")
    assert not ovr


@cocotb.test()
async def test_overrun(dut):
    """A sum that finishes while the bank is still read out sets overrun_o (P > LANES)."""
    Clock(dut.clk, 10, unit="ns").start()
    tb = TB(dut, 15)
    await tb.reset("upd", mode=0)
    codes = tb.codes()
    words = [tb.word(codes, [1] * tb.p, 1, True, True) for _ in range(2)]
    _, _, ovr = await tb.run(words, gaps=0.0)
    assert ovr == (1 if tb.ng > 1 else 0)


PARAMS = [dict(P=8, LANES=4, G_W=8, BUILD_BL_MAX=32),
          dict(P=16, LANES=8, G_W=6, BUILD_BL_MAX=32)]


@pytest.mark.parametrize("params", PARAMS,
                         ids=lambda p: "p{P}l{LANES}g{G_W}".format(**p))
def test_memhil_wide_pass(params):
    from memhil_sim import run_cocotb

    run_cocotb("memhil_wide_pass", "test_memhil_wide_pass", Path(__file__).resolve().parent,
               params, sources=["memhil_pkg.sv", "memhil_dp_popcount.sv", "memhil_wide_pass.sv"])
