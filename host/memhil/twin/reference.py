"""A plain, loop-by-loop reading of docs/hardware-contract.md for small arrays.

Slow on purpose: every draw and every cell is handled in the order the contract describes, with
Python integers. Tests check the vectorized :class:`memhil.twin.Twin` against it, so a
vectorization trick in the twin (GF(2) LFSR jumps, fused batch sums, sparse apply)
cannot silently change the contract. Contract version 3: a tile has no accumulator state; an
update of ``B`` samples forms every cell's batch sum ``S`` (a local) and applies it.
"""
from __future__ import annotations

from memhil.contract.hashing import mix32
from memhil.contract.spec import SPEC
from memhil.twin import lfsr

G = SPEC.gauss
ROOT = SPEC.root
SUM_LIMIT = 1 << (SPEC.limits["sum_bits"] - 1)     # |S| < 2^23 for B <= 256 (contract §6)


def _sat(v, lo, hi):
    return lo if v < lo else hi if v > hi else v


def _sign(v):
    return (v > 0) - (v < 0)


class ReferenceTile:
    """One tile of the contract with list-of-lists state (tile index ``tile`` for the d2d key)."""

    def __init__(self, rows, cols, regs, step_up, step_dn, tile=0):
        self.rows, self.cols, self.tile = rows, cols, tile
        self.regs = dict(regs)
        self.step_up, self.step_dn = list(step_up), list(step_dn)
        self.gp = [[0] * cols for _ in range(rows)]
        self.gm = [[0] * cols for _ in range(rows)]
        self.row = [SPEC.lfsr["reset_state"]] * rows
        self.col = [SPEC.lfsr["reset_state"]] * cols

    @classmethod
    def from_twin(cls, twin, tile=0):
        t = cls(twin.rows, twin.cols, twin.regs, twin.step_up.tolist(), twin.step_dn.tolist(), tile)
        t.gp = twin.gp[tile].tolist()
        t.gm = twin.gm[tile].tolist()
        t.row = twin.row_lfsr[tile].tolist()
        t.col = twin.col_lfsr[tile].tolist()
        return t

    def factor(self, i, j, dev):
        q = self.regs["D2D_Q"]
        if q == 0:
            return 4096
        key = ((self.tile << SPEC.hash["tile_shift"]) | ((i * self.cols + j) << 1) | dev) & 0xFFFFFFFF
        h = mix32(key ^ self.regs["D2D_KEY"])
        return _sat(4096 + ((G[h & 0xFF] * q) >> 8), 0, SPEC.fixed["factor_max"])

    def fault(self, i, j, dev):
        """The device's FAULT_KIND (0 Gmin, 1 Gmax, 2 current) if it is stuck, else None."""
        r = self.regs
        key = ((self.tile << SPEC.hash["tile_shift"]) | ((i * self.cols + j) << 1) | dev) & 0xFFFFFFFF
        h = mix32(key ^ r["FAULT_KEY"])
        if (h >> 16) >= r["FAULT_RATE"]:
            return None
        return ((h & 0xFFFF) * 3) >> 16 if r["FAULT_KIND"] == 3 else r["FAULT_KIND"]

    def write(self, i, j, cp, cm):
        """WRITE_CELLS of one cell: a device stuck at Gmin stores 0, at Gmax CMAX."""
        codes = []
        for dev, c in ((0, cp), (1, cm)):
            k = self.fault(i, j, dev)
            codes.append(0 if k == 0 else self.regs["CMAX"] if k == 1 else c)
        self.gp[i][j], self.gm[i][j] = codes

    # ---- reads
    def read(self, v, transpose):
        r = self.regs
        v = [_sat(a, -127, 127) for a in v]
        n_out = self.cols if transpose else self.rows
        out = []
        noisy = r["RN_Q"] != 0
        states = self.col if transpose else self.row
        if noisy:
            for o in range(n_out):
                states[o] = lfsr.advance(states[o], SPEC.lfsr["read_steps"])
        for o in range(n_out):
            y = 0
            t = 0
            for k in range(len(v)):
                i, j = (k, o) if transpose else (o, k)
                y += (self.gp[i][j] - self.gm[i][j]) * v[k]
                t += abs(v[k]) * (self.gp[i][j] + self.gm[i][j] + 2 * r["C0"])
            if noisy:
                y += (G[states[o] & 0xFF] * ((r["RN_Q"] * t) >> 16)) >> 8
            sh, bits = r["ADC_SHIFT"], r["ADC_BITS"]
            q = (y + ((1 << sh) >> 1)) >> sh
            out.append(_sat(q, -(1 << (bits - 1)), (1 << (bits - 1)) - 1))
        return out

    # ---- updates
    def update(self, xs, ds):
        """One update of the samples ``xs`` (B x cols) and ``ds`` (B x rows): every cell's
        batch sum ``S`` of the B single-sample increments, then one apply. The pulses."""
        if len(xs) != len(ds) or not 1 <= len(xs) <= SPEC.limits["max_batch"]:
            raise ValueError(f"update: {len(xs)} x and {len(ds)} d samples")
        sums = [[0] * self.cols for _ in range(self.rows)]
        for x, d in zip(xs, ds):
            self._accumulate(sums, x, d)
        return self._apply(sums)

    def _accumulate(self, sums, x, d):
        x = [_sat(a, -127, 127) for a in x]
        d = [_sat(a, -127, 127) for a in d]
        r = self.regs
        if r["UPDATE_MODE"] == 0:
            for i in range(self.rows):
                for j in range(self.cols):
                    sums[i][j] += x[j] * d[i]
                    assert abs(sums[i][j]) < SUM_LIMIT
            return
        rb = [[0] * r["BL"] for _ in range(self.rows)]
        cb = [[0] * r["BL"] for _ in range(self.cols)]
        for t in range(r["BL"]):
            for i in range(self.rows):
                self.row[i] = lfsr.advance(self.row[i], SPEC.lfsr["stream_steps"])
                rb[i][t] = int((self.row[i] & 0x7F) < min(abs(d[i]), 127))
            for j in range(self.cols):
                self.col[j] = lfsr.advance(self.col[j], SPEC.lfsr["stream_steps"])
                cb[j][t] = int((self.col[j] & 0x7F) < min(abs(x[j]), 127))
        for i in range(self.rows):
            for j in range(self.cols):
                cnt = sum(rb[i][t] & cb[j][t] for t in range(r["BL"]))
                sums[i][j] += _sign(d[i]) * _sign(x[j]) * cnt
                assert abs(sums[i][j]) < SUM_LIMIT

    def _apply(self, sums):
        r = self.regs
        steps = SPEC.lfsr["apply_steps"]
        self.row = [lfsr.advance(s, steps) for s in self.row]
        self.col = [lfsr.advance(s, steps) for s in self.col]
        pulses = 0
        self.pulses_up = self.pulses_stuck = 0
        for i in range(self.rows):
            for j in range(self.cols):
                a = sums[i][j]
                if a == 0:
                    continue
                w = self.row[i] ^ self.col[j]
                m = abs(a)
                if r["UPDATE_MODE"] == 0:
                    q = m * r["LR_Q"]
                    n = (q >> 16) + (1 if (w >> 16) < (q & 0xFFFF) else 0)
                else:
                    n = m
                n = min(n, SPEC.limits["nmax"])
                if n == 0:
                    continue
                low = self.gp[i][j] + self.gm[i][j] < r["CMAX"]
                plus = (a > 0) == low
                up = low
                c = self.gp[i][j] if plus else self.gm[i][j]
                S = (self.step_up if up else self.step_dn)[min(c >> r["SUB_BITS"], 255)]
                F = self.factor(i, j, 0 if plus else 1)
                step1 = (S * F) >> 12
                total = n * step1
                if r["C2C_Q"]:
                    total += (step1 * G[w & 0xFF] * (r["C2C_Q"] * ROOT[n])) >> 28
                    total = max(total, 0)
                delta = (total + ((w >> 8) & 0xFF)) >> 8
                c = _sat(c + delta if up else c - delta, 0, r["CMAX"])
                pulses += n
                if self.fault(i, j, 0 if plus else 1) is not None:
                    self.pulses_stuck += n       # a stuck device keeps its code
                    continue
                self.pulses_up += n if up else 0
                if plus:
                    self.gp[i][j] = c
                else:
                    self.gm[i][j] = c
        return pulses
