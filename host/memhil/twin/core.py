"""The bit-exact software twin of the crossbar emulator (docs/hardware-contract.md).

:class:`Twin` holds the complete integer state of ``tiles`` crossbar tiles of ``rows x cols``
cells (conductance codes of both devices, row and column LFSRs, the registers and the
counters; contract version 3 has no accumulator state: an update's batch sums are a
temporary) and implements every operation of the contract with vectorized torch code, on
the CPU or on CUDA with identical results. It is the reference that the RTL, the simulator
and the board are checked against, and the fast model the experiments train on.

Indexing: cell (i, j) has row i (output, delta index) and column j (input index); a tile's
weight matrix is ``W[i, j] = gp[i, j] - gm[i, j]``; forward ``y = W x``, transpose ``z = W^T d``.
"""
from __future__ import annotations

import ctypes

import torch

from memhil.backend import COUNTERS, M32, CrossbarBackend, CrossbarError, register_backend
from memhil.config import DeviceConfig
from memhil.contract.hashing import mix32
from memhil.contract.spec import SPEC
from memhil.twin import lfsr, native

CODE_MAX = 127                     # operand codes saturate to [-127, 127]
#: the largest |S| of a batch sum: B <= max_batch samples of |x d| <= 127 * 127 (contract §6)
SUM_MAX = SPEC.limits["max_batch"] * CODE_MAX * CODE_MAX
assert SUM_MAX < (1 << (SPEC.limits["sum_bits"] - 1))
BATCH_MAX_DEFAULT = SPEC.limits["batch_max_default"]
BL_MAX_DEFAULT = SPEC.limits["bl_max_default"]
NMAX = SPEC.limits["nmax"]
FF = SPEC.fixed["factor_frac"]
SF = SPEC.fixed["step_frac"]
LR_FRAC = SPEC.fixed["lr_frac"]
RN_FRAC = SPEC.fixed["rn_frac"]
FACTOR_MAX = SPEC.fixed["factor_max"]
NOISE_SHIFT = SPEC.fixed["gauss_scale"].bit_length() - 1 + FF + SPEC.fixed["root_frac"]  # 28
GAUSS_SHIFT = SPEC.fixed["gauss_scale"].bit_length() - 1                              # 8
PROB_MASK = (1 << SPEC.lfsr["prob_bits"]) - 1
MAX_LEVELS = SPEC.limits["max_levels"]
TILE_SHIFT = SPEC.hash["tile_shift"]
FK = SPEC.fault_kind                 # FAULT_KIND values: GMIN, GMAX, CURRENT, MIXED

# configuration registers a WRITE_REG may change, with their allowed ranges (contract.toml's
# min/max; CMAX is further bounded by 2^g_w - 1, see Register.limits)
RW_LIMITS = {n: r.limits() for n, r in SPEC.registers.items() if r.access == "rw"}
# native.c's apply works in 32-bit lanes, which needs C2C_Q < 2^14 (with native.py's checks)
_NATIVE_FITS = RW_LIMITS["C2C_Q"][1] < (1 << 14)


# Registers that only the read path uses: writing them keeps the cached apply set-up.
_READ_ONLY_REGS = ("ADC_SHIFT", "ADC_BITS", "RN_Q")


#: the former name of :class:`memhil.backend.CrossbarError` (the same class), kept for callers
TwinError = CrossbarError


def _exact_dtype(bound: int, device: torch.device) -> torch.dtype:
    """float32 when every partial sum is below 2^24 on the CPU, else float64 (always on CUDA,
    where TF32 could otherwise round)."""
    if device.type == "cpu" and bound < (1 << 24):
        return torch.float32
    return torch.float64


def mix32_t(x: torch.Tensor) -> torch.Tensor:
    """Vectorized mix32 on int64 tensors holding 32-bit values (exact: 16-bit split multiplies)."""

    def mul(a, m):
        lo, hi = m & 0xFFFF, m >> 16
        return (a * lo + (((a * hi) & 0xFFFF) << 16)) & M32

    x = x & M32
    x = x ^ (x >> 16)
    x = mul(x, SPEC.hash["m1"])
    x = x ^ (x >> 15)
    x = mul(x, SPEC.hash["m2"])
    x = x ^ (x >> 16)
    return x


def apply_kernel(acc, gp, gm, rw, cw, fp, fm, steps, gauss, root, params,
                 rounding: bool, uniform: bool, d2d: bool, c2c: bool, stuck=None):
    """Contract §3 and §6 "Apply" for every cell of one tile at once (dense, integer-exact).

    ``acc`` (rows, cols) int32: the batch sums S; ``gp``, ``gm`` (rows, cols) int32; ``rw``,
    ``cw`` the new row/column LFSR words;
    ``params`` = int64 tensor [CMAX, SUB_BITS, C2C_Q, LR_Q, S_UP0, S_DN0]. The bools select
    a specialised variant (no rounding arithmetic, no table gather for uniform tables, no d2d
    factors, no noise). This is the CUDA path and the fallback; on the CPU the native kernel
    (memhil/twin/native.c) does the same in one pass. ``stuck`` (rows, cols) uint8 or None:
    bit 0 G+ is stuck, bit 1 G- is stuck; a stuck device takes its pulses and keeps its code.
    Returns (new gp, new gm, pulses applied, pulses up to devices not stuck, pulses to stuck
    devices); the last three are 0-dim tensors.
    """
    cmax, sub = params[0].to(torch.int32), params[1].to(torch.int32)
    r = (rw[:, None] ^ cw[None, :]).to(torch.int32)        # low 32 bits, two's complement
    m = acc.abs()
    if rounding:
        q = m.to(torch.int64) * params[3]
        n = ((q >> LR_FRAC) + (((r >> 16) & 0xFFFF) < (q & 0xFFFF)).to(torch.int64))
        n = n.clamp(max=NMAX).to(torch.int32)
    else:
        n = m.clamp(max=NMAX)
    low = (gp + gm) < cmax
    use_plus = (acc > 0) == low
    c = torch.where(use_plus, gp, gm)
    if uniform:
        S = torch.where(low, params[4].to(torch.int32), params[5].to(torch.int32))
    else:
        S = steps[((c >> sub).clamp(max=MAX_LEVELS - 1) + torch.where(low, 0, MAX_LEVELS)).long()]
    if d2d:
        step1 = (S * torch.where(use_plus, fp, fm)) >> FF
    else:
        step1 = S
    total = n * step1
    if c2c:
        a = (step1 * gauss[(r & 0xFF).long()]).to(torch.int64)
        b = (params[2].to(torch.int32) * root[n.long()]).to(torch.int64)
        total = (total + ((a * b) >> NOISE_SHIFT).to(torch.int32)).clamp(min=0)
    delta = (total + ((r >> 8) & 0xFF)) >> SF
    newc = torch.where(low, c + delta, c - delta).clamp(min=0).minimum(cmax)
    act = n > 0
    if stuck is not None:
        sdev = torch.where(use_plus, stuck & 1, (stuck >> 1) & 1).to(torch.bool)
        mv = act & ~sdev
        n_stuck = (n * (act & sdev)).sum()
    else:
        mv = act
        n_stuck = torch.zeros((), dtype=torch.int64, device=n.device)
    return (torch.where(mv & use_plus, newc, gp), torch.where(mv & ~use_plus, newc, gm),
            (n * act).sum(), (n * (mv & low)).sum(), n_stuck)


def _stream(rand7: torch.Tensor, codes: torch.Tensor, bl: int) -> torch.Tensor:
    """Signed stream bits (n, B*bl) as int8: sign(code) where (rand & 0x7F) < |code|."""
    n, B = codes.shape[1], codes.shape[0]
    mag = codes.abs().T.to(torch.uint8)[:, :, None]                  # (n, B, 1)
    sgn = codes.sign().T.to(torch.int8)[:, :, None]
    fire = (rand7.view(n, B, bl) & PROB_MASK) < mag
    return (fire.to(torch.int8) * sgn).view(n, B * bl)


def _int_matmul(a: torch.Tensor, b: torch.Tensor, bound: int) -> torch.Tensor:
    """Exact integer a @ b for small integer operands (|a|, |b| <= 127) whose sums stay
    below ``bound``: int32 result when ``bound`` < 2^31, else int64.

    A float GEMM of integers is exact in any summation order while the sums stay below the
    format's 2^24 / 2^53 (see _exact_dtype). (torch._int_mm was tried: on CPUs without VNNI it
    runs 30x slower than the float32 GEMM.)"""
    dt = _exact_dtype(bound, a.device)
    return (a.to(dt) @ b.to(dt)).to(torch.int32 if bound < (1 << 31) else torch.int64)


class Twin(CrossbarBackend):
    """Integer-exact model of ``tiles`` crossbar tiles. See the module docstring.

    A :class:`memhil.backend.CrossbarBackend`: ``configure``, ``seed``, ``counters`` and the
    argument checks are the interface's; the primitives are vectorized torch integer code."""

    def __init__(self, rows: int, cols: int, tiles: int = 1, config: DeviceConfig | None = None,
                 device: str | torch.device = "cpu", *, g_w: int = 16, lanes: int = 0,
                 batch_max: int = BATCH_MAX_DEFAULT, bl_max: int = BL_MAX_DEFAULT):
        lim = SPEC.limits
        for name, v, hi in (("rows", rows, lim["max_rows"]), ("cols", cols, lim["max_cols"]),
                            ("tiles", tiles, lim["max_tiles"])):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise CrossbarError(f"{name}={v!r} is not allowed: must be an integer in [1, {hi}]")
        if not 1 <= g_w <= lim["max_code_bits"]:
            raise CrossbarError(f"g_w={g_w!r} is not allowed: must be in "
                                f"[1, {lim['max_code_bits']}]")
        for name, v, hi in (("batch_max", batch_max, lim["max_batch"]),
                            ("bl_max", bl_max, lim["max_bl"])):
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
                raise CrossbarError(f"{name}={v!r} is not allowed: must be an integer in [1, {hi}]")
        self.rows, self.cols, self.tiles = rows, cols, tiles
        self.g_w, self.lanes = g_w, lanes
        self.batch_max, self.bl_max = batch_max, bl_max
        self.device = torch.device(device)
        dev = self.device
        shape = (tiles, rows, cols)
        self.gp = torch.zeros(shape, dtype=torch.int32, device=dev)
        self.gm = torch.zeros(shape, dtype=torch.int32, device=dev)
        rs = SPEC.lfsr["reset_state"]
        self.row_lfsr = torch.full((tiles, rows), rs, dtype=torch.int64, device=dev)
        self.col_lfsr = torch.full((tiles, cols), rs, dtype=torch.int64, device=dev)
        self.regs: dict[str, int] = {
            n: int(r.reset) for n, r in SPEC.registers.items() if r.reset is not None
        }
        for n in COUNTERS:
            self.regs[n] = 0
        self.regs["CMAX"] = min(self.regs["CMAX"], (1 << g_w) - 1)
        self.regs["BL"] = min(self.regs["BL"], bl_max)
        step_reset = SPEC.tables["step_reset"]
        self.step_up = torch.full((MAX_LEVELS,), step_reset, dtype=torch.int64, device=dev)
        self.step_dn = torch.full((MAX_LEVELS,), step_reset, dtype=torch.int64, device=dev)
        self._gauss = torch.tensor(SPEC.gauss, dtype=torch.int32, device=dev)
        self._root = torch.tensor(SPEC.root, dtype=torch.int32, device=dev)
        self._wcache: dict = {}
        self._w16 = None                         # int16 gp - gm per tile for the native reads,
        self._w16_ok = [False] * tiles           # kept current by the native apply
        self._factors: tuple | None = None
        self._faults: tuple | None = None        # (kinds, stuck bytes), see fault_kinds()
        self._scratch = None                     # the native update's batch sums (all zero
                                                 # between calls; a temporary, not state)
        self._apply_setup = None                 # cached (params, steps) of the apply kernels
        if config is not None:
            self.configure(config)

    # ------------------------------------------------------------------ registers
    def _reg_target(self, addr: int, value: int):
        """Validate a register write; return (table, index) or (None, name).
        Raises CrossbarError."""
        name = SPEC.reg_name(addr)
        value = self._check_word(addr, value)
        tb = SPEC.tables
        for base, table in ((tb["step_up_base"], self.step_up), (tb["step_dn_base"], self.step_dn)):
            if base <= addr < base + 4 * MAX_LEVELS and addr % 4 == 0:
                if value > 0xFFFF:
                    raise CrossbarError(f"step table 0x{addr:03x}: value {value} must be in "
                                        "[0, 65535]")
                return table, (addr - base) // 4
        if name is None or SPEC.registers[name].access != "rw":
            raise CrossbarError(f"register 0x{addr:03x} is not a writable register")
        reg = SPEC.registers[name]
        lo, hi = reg.limits(g_w=self.g_w, bl_max=self.bl_max)
        if not lo <= value <= hi:
            raise CrossbarError(f"register {name}: value {value} must be in [{lo}, {hi}]"
                                + reg.build_note(hi, self.g_w, self.bl_max))
        return None, name

    def check_write_reg(self, addr: int, value: int) -> None:
        """Raise CrossbarError if ``write_reg(addr, value)`` would be refused (BAD_ARG);
        no effect."""
        self._reg_target(addr, value)

    def write_reg(self, addr: int, value: int) -> None:
        table, where = self._reg_target(addr, value)
        value = int(value)
        if where == "LR_Q" and self._apply_setup is not None:
            self._apply_setup[0].lr_q = value     # (the cached set-up's one LR_Q-dependent field)
        elif where not in _READ_ONLY_REGS:      # the read path's registers leave the apply alone
            self._apply_setup = None
        if table is not None:
            table[where] = value
            return
        name = where
        if name == "CTRL":
            if value & 1:
                for n in COUNTERS:
                    self.regs[n] = 0
            return
        self.regs[name] = value
        if name in ("D2D_Q", "D2D_KEY"):
            self._factors = None
        if name in ("FAULT_RATE", "FAULT_KEY", "FAULT_KIND"):
            self._faults = None
        if name == "C0":
            self._wcache.clear()
        if name == "CMAX":                       # int16 copies are only kept below 2^15
            self._w16_ok = [False] * self.tiles

    def read_reg(self, addr: int) -> int:
        tb = SPEC.tables
        for base, table in ((tb["step_up_base"], self.step_up), (tb["step_dn_base"], self.step_dn)):
            if base <= addr < base + 4 * MAX_LEVELS and addr % 4 == 0:
                return int(table[(addr - base) // 4])
        name = SPEC.reg_name(addr)
        if name is None:
            raise CrossbarError(f"register 0x{addr:03x} does not exist")
        if name == "ID":
            return SPEC.magic
        if name == "VERSION":
            return SPEC.version
        if name == "GEOMETRY0":
            return SPEC.pack(name, ROWS=self.rows, COLS=self.cols)
        if name == "GEOMETRY1":
            return SPEC.pack(name, TILES=self.tiles, LANES=self.lanes, G_W=self.g_w)
        if name == "GEOMETRY2":
            return SPEC.pack(name, BATCH_MAX=self.batch_max, BL_MAX=self.bl_max)
        if name == "STATUS":
            return 0
        if name == "CTRL":
            return 0
        return self.regs[name] & M32

    # ------------------------------------------------------------------ cells and RNG
    def write_cells(self, tile: int, start: int, gp, gm) -> None:
        """Program ``len(gp)`` cells from flat index ``start`` (row-major) exactly."""
        self._check_tile(tile)
        gp = torch.as_tensor(gp, dtype=torch.int64).to(self.device).reshape(-1)
        gm = torch.as_tensor(gm, dtype=torch.int64).to(self.device).reshape(-1)
        self._check_cell_pair(gp, gm)
        self._check_range("write_cells", start, gp.numel(), self.rows * self.cols)
        cmax = self.regs["CMAX"]
        for name, t in (("gp", gp), ("gm", gm)):
            if t.numel() and (int(t.min()) < 0 or int(t.max()) > cmax):
                raise CrossbarError(f"write_cells: {name} codes must be in [0, CMAX={cmax}]")
        gp, gm = self._fault_codes(tile, start, gp, gm)
        self.gp[tile].view(-1)[start: start + gp.numel()] = gp
        self.gm[tile].view(-1)[start: start + gm.numel()] = gm
        self._invalidate(tile)

    def read_cells(self, tile: int, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_tile(tile)
        self._check_range("read_cells", start, count, self.rows * self.cols)
        return (self.gp[tile].view(-1)[start: start + count].clone(),
                self.gm[tile].view(-1)[start: start + count].clone())

    def _rng_view(self, tile: int) -> torch.Tensor:
        return torch.cat([self.row_lfsr[tile], self.col_lfsr[tile]])

    def write_rng(self, tile: int, start: int, states) -> None:
        """Write LFSR states; index space: rows 0..ROWS-1, then columns ROWS..ROWS+COLS-1."""
        self._check_tile(tile)
        states = torch.as_tensor(states, dtype=torch.int64).to(self.device).reshape(-1)
        self._check_range("write_rng", start, states.numel(), self.rows + self.cols)
        self._check_lfsr_states(states)
        allv = self._rng_view(tile)
        allv[start: start + states.numel()] = states
        self.row_lfsr[tile] = allv[: self.rows]
        self.col_lfsr[tile] = allv[self.rows:]

    def read_rng(self, tile: int, start: int, count: int) -> torch.Tensor:
        self._check_tile(tile)
        self._check_range("read_rng", start, count, self.rows + self.cols)
        return self._rng_view(tile)[start: start + count].clone()

    # ------------------------------------------------------------------ derived tensors
    def d2d_factors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-device step factors (Q12) of (G+, G-), shape (tiles, rows, cols)."""
        if self._factors is None:
            q, key = self.regs["D2D_Q"], self.regs["D2D_KEY"]
            shape = (self.tiles, self.rows, self.cols)
            one = 1 << FF
            if q == 0:
                f = torch.full(shape, one, dtype=torch.int32, device=self.device)
                self._factors = (f, f)
            else:
                t = torch.arange(self.tiles, device=self.device, dtype=torch.int64)[:, None, None]
                cell = torch.arange(self.rows * self.cols, device=self.device,
                                    dtype=torch.int64).view(1, self.rows, self.cols)
                base = ((t << TILE_SHIFT) | (cell << 1)) & M32
                out = []
                for dev_bit in (0, 1):
                    h = mix32_t((base | dev_bit) ^ key)
                    g = self._gauss[h & 0xFF]
                    out.append((one + ((g * q) >> GAUSS_SHIFT)).clamp(0, FACTOR_MAX).to(torch.int32))
                self._factors = (out[0], out[1])
        return self._factors

    def fault_kinds(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The stuck devices (contract §3, "Stuck devices"): ``(kinds, stuck)`` with ``kinds``
        int8 (2, tiles, rows, cols), for G+ then G-: -1 for a working device, else its
        FAULT_KIND (GMIN, GMAX or CURRENT; MIXED resolved per device); ``stuck`` uint8 (tiles,
        rows, cols): bit 0 G+ stuck, bit 1 G- stuck. None while FAULT_RATE = 0."""
        rate = self.regs["FAULT_RATE"]
        if rate == 0:
            return None
        if self._faults is None:
            key, kind = self.regs["FAULT_KEY"], self.regs["FAULT_KIND"]
            t = torch.arange(self.tiles, device=self.device, dtype=torch.int64)[:, None, None]
            cell = torch.arange(self.rows * self.cols, device=self.device,
                                dtype=torch.int64).view(1, self.rows, self.cols)
            base = ((t << TILE_SHIFT) | (cell << 1)) & M32
            kinds = []
            for dev_bit in (0, 1):
                h = mix32_t((base | dev_bit) ^ key)
                k = ((h & 0xFFFF) * 3) >> 16 if kind == FK["MIXED"] else torch.full_like(h, kind)
                kinds.append(torch.where((h >> 16) < rate, k, -1).to(torch.int8))
            kinds = torch.stack(kinds)
            stuck = ((kinds[0] >= 0).to(torch.uint8) | ((kinds[1] >= 0).to(torch.uint8) << 1))
            self._faults = (kinds, stuck.contiguous())
        return self._faults

    def _stuck(self, tile: int) -> torch.Tensor | None:
        f = self.fault_kinds()
        return None if f is None else f[1][tile]

    def _fault_codes(self, tile: int, start: int, gp: torch.Tensor, gm: torch.Tensor):
        """Codes ``gp``, ``gm`` of the cells from flat index ``start`` as a write stores them:
        a device stuck at Gmin holds 0, one stuck at Gmax holds CMAX (contract §3)."""
        f = self.fault_kinds()
        if f is None or gp.numel() == 0:
            return gp, gm
        cmax = self.regs["CMAX"]
        out = []
        for dev, codes in ((0, gp), (1, gm)):
            k = f[0][dev, tile].reshape(-1)[start: start + codes.numel()].to(codes.device)
            codes = torch.where(k == FK["GMIN"], torch.zeros_like(codes), codes)
            out.append(torch.where(k == FK["GMAX"], torch.full_like(codes, cmax), codes))
        return out[0], out[1]

    def _count_reads(self, B: int, transpose: bool) -> None:
        """CNT_READS and the energy counters of ``B`` read samples (contract §7)."""
        r, R, C = self.regs, self.rows, self.cols
        r["CNT_READS"] = (r["CNT_READS"] + B) & M32
        r["CNT_CELL_READS"] = (r["CNT_CELL_READS"] + B * R * C) & M32
        r["CNT_DAC"] = (r["CNT_DAC"] + B * (R if transpose else C)) & M32
        r["CNT_ADC"] = (r["CNT_ADC"] + B * (C if transpose else R)) & M32

    def _count_updates(self, B: int) -> None:
        """CNT_UPDATES and the DAC conversions of ``B`` update samples (ROWS + COLS each)."""
        r = self.regs
        r["CNT_UPDATES"] = (r["CNT_UPDATES"] + B) & M32
        r["CNT_DAC"] = (r["CNT_DAC"] + B * (self.rows + self.cols)) & M32

    def _count_pulses(self, total: int, up: int, stuck: int) -> None:
        """The pulse counters of one apply: all pulses, up/down to working devices, stuck."""
        r = self.regs
        r["CNT_PULSES"] = (r["CNT_PULSES"] + total) & M32
        r["CNT_PULSES_UP"] = (r["CNT_PULSES_UP"] + up) & M32
        r["CNT_PULSES_DN"] = (r["CNT_PULSES_DN"] + total - up - stuck) & M32
        r["CNT_PULSES_STUCK"] = (r["CNT_PULSES_STUCK"] + stuck) & M32

    def _invalidate(self, tile: int, keep_w16: bool = False) -> None:
        """The codes of ``tile`` changed: drop its cached weights (except the int16 copy when
        the native apply has just updated it in place)."""
        self._wcache = {k: v for k, v in self._wcache.items() if k[1] != tile}
        if not keep_w16:
            self._w16_ok[tile] = False

    def _w16_buf(self, tile: int) -> torch.Tensor:
        if self._w16 is None:
            self._w16 = torch.empty(self.tiles, self.rows, self.cols, dtype=torch.int16)
        return self._w16[tile]

    def _weights(self, tile: int, dtype: torch.dtype):
        key = ("w", tile, dtype)
        w = self._wcache.get(key)
        if w is None:
            w = (self.gp[tile] - self.gm[tile]).to(dtype)
            self._wcache[key] = w
        return w

    def _gsum(self, tile: int, dtype: torch.dtype):
        key = ("s", tile, dtype)
        w = self._wcache.get(key)
        if w is None:
            w = (self.gp[tile] + self.gm[tile] + 2 * self.regs["C0"]).to(dtype)
            self._wcache[key] = w
        return w

    def weights(self, tile: int = 0) -> torch.Tensor:
        """Integer weight matrix ``gp - gm`` of one tile (rows x cols)."""
        return self.gp[tile] - self.gm[tile]

    # ------------------------------------------------------------------ reads
    def _as_codes(self, v, n: int, what: str, clamp: bool = True) -> torch.Tensor:
        """``v`` as int64 codes of shape (B, n), saturated to [-CODE_MAX, CODE_MAX] unless
        ``clamp`` is False (the native kernels saturate as they read)."""
        if not isinstance(v, torch.Tensor):
            v = torch.as_tensor(v)
        self._check_code_dtype(what, v.dtype,
                               not (v.dtype.is_floating_point or v.dtype == torch.bool))
        if v.device != self.device or v.dtype != torch.int64:
            v = v.to(device=self.device, dtype=torch.int64)
        if v.dim() == 1:
            v = v[None]
        self._check_code_shape(what, v.shape, n)
        return v.clamp(-CODE_MAX, CODE_MAX) if clamp else v

    def _read(self, tile: int, v: torch.Tensor, transpose: bool) -> torch.Tensor:
        """The read of codes ``v`` (not yet saturated): native kernel or torch."""
        cmax, c0 = self.regs["CMAX"], self.regs["C0"]
        n_in = v.shape[1]
        lib = self._native()
        # the native sums are int32: the weighted sum, and with read noise the total current
        # less its C0 part (which native.c adds in int64)
        if lib is not None and cmax <= 0x7FFF \
                and n_in * CODE_MAX * cmax * (2 if self.regs["RN_Q"] else 1) < (1 << 31):
            return self._native_read(lib, tile, v, transpose)
        v = v.clamp(-CODE_MAX, CODE_MAX)
        dt = _exact_dtype(n_in * CODE_MAX * cmax, self.device)
        w = self._weights(tile, dt)
        y = (v.to(dt) @ w) if transpose else (v.to(dt) @ w.T)
        y = y.to(torch.int64)
        rn = self.regs["RN_Q"]
        B = v.shape[0]
        if rn:
            dt2 = _exact_dtype(n_in * CODE_MAX * (2 * cmax + 2 * c0), self.device)
            s = self._gsum(tile, dt2)
            tot = (v.abs().to(dt2) @ s) if transpose else (v.abs().to(dt2) @ s.T)
            tot = tot.to(torch.int64)
            states = self.col_lfsr[tile] if transpose else self.row_lfsr[tile]
            outs, final = lfsr.jump(states, SPEC.lfsr["read_steps"], B, 8)   # (n_out, B)
            g = self._gauss[outs.T.long()]                                    # (B, n_out)
            y = y + ((g * ((rn * tot) >> RN_FRAC)) >> GAUSS_SHIFT)
            if transpose:
                self.col_lfsr[tile] = final
            else:
                self.row_lfsr[tile] = final
        sh, bits = self.regs["ADC_SHIFT"], self.regs["ADC_BITS"]
        self._count_reads(B, transpose)
        if sh:
            y = (y + ((1 << sh) >> 1)).bitwise_right_shift_(sh)
        return y.clamp_(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)

    def _native_read(self, lib, tile: int, v: torch.Tensor, transpose: bool) -> torch.Tensor:
        """_read by the native kernels: exact int32 sums of int16 products; with read noise
        (RN_Q != 0) the total currents and the noise draws too, advancing the output LFSRs
        as the torch path does."""
        if transpose:
            key = ("i16", tile, transpose)
            w = self._wcache.get(key)
            if w is None:
                w = torch.empty((self.cols, self.rows), dtype=torch.int16)
                lib.memhil_weights16(self.rows, self.cols, native.ptr(self.gp[tile]),
                                     native.ptr(self.gm[tile]), native.ptr(w), 1)
                self._wcache[key] = w
        else:
            w = self._w16_buf(tile)
            if not self._w16_ok[tile]:
                lib.memhil_weights16(self.rows, self.cols, native.ptr(self.gp[tile]),
                                     native.ptr(self.gm[tile]), native.ptr(w), 0)
                self._w16_ok[tile] = True
        B = v.shape[0]
        n_out, n_in = w.shape
        out = torch.empty(B, n_out, dtype=torch.int64)
        bits = self.regs["ADC_BITS"]
        v = v.contiguous()                   # a named reference: ptr() must not outlive it
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        rn = self.regs["RN_Q"]
        if rn:
            states = self.col_lfsr[tile] if transpose else self.row_lfsr[tile]
            s16 = None
            if 2 * self.regs["CMAX"] <= 0x7FFF:      # gp + gm as int16, cached like w
                key = ("s16", tile, transpose)
                s16 = self._wcache.get(key)
                if s16 is None:
                    s16 = torch.empty((n_out, n_in), dtype=torch.int16)
                    lib.memhil_weights16(self.rows, self.cols, native.ptr(self.gp[tile]),
                                         native.ptr(self.gm[tile]), native.ptr(s16),
                                         2 | int(transpose))
                    self._wcache[key] = s16
            lib.memhil_read_noisy(B, n_out, n_in, CODE_MAX, native.ptr(v), native.ptr(w),
                                  native.ptr(s16), native.ptr(self.gp[tile]),
                                  native.ptr(self.gm[tile]),
                                  int(transpose), 2 * self.regs["C0"], rn, RN_FRAC, GAUSS_SHIFT,
                                  native.READ_K8, native.ptr(native.t8_table()),
                                  native.ptr(self._gauss), native.ptr(states),
                                  self.regs["ADC_SHIFT"], lo, hi, native.ptr(out),
                                  torch.get_num_threads())
        else:
            lib.memhil_read(B, n_out, n_in, CODE_MAX, native.ptr(v), native.ptr(w),
                            self.regs["ADC_SHIFT"], lo, hi, native.ptr(out),
                            torch.get_num_threads())
        self._count_reads(B, transpose)
        return out

    def forward(self, tile: int, x) -> torch.Tensor:
        """ADC codes ``(B, rows)`` of ``y = W x`` for input codes ``x`` of shape ``(B, cols)``."""
        self._check_tile(tile)
        return self._read(tile, self._as_codes(x, self.cols, "forward", False), transpose=False)

    def transpose(self, tile: int, d) -> torch.Tensor:
        """ADC codes ``(B, cols)`` of ``z = W^T d`` for codes ``d`` of shape ``(B, rows)``."""
        self._check_tile(tile)
        return self._read(tile, self._as_codes(d, self.rows, "transpose", False), transpose=True)

    # ------------------------------------------------------------------ updates
    def _increments(self, tile: int, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """Per-sample accumulator increments summed over the batch (exact integers)."""
        B = x.shape[0]
        if self.regs["UPDATE_MODE"] == SPEC.update_mode["ROUNDING"]:
            return _int_matmul(d.T, x, B * CODE_MAX * CODE_MAX)
        bl = self.regs["BL"]
        stride = SPEC.lfsr["stream_steps"]
        rbits, rfin = lfsr.jump(self.row_lfsr[tile], stride, B * bl, SPEC.lfsr["prob_bits"])
        cbits, cfin = lfsr.jump(self.col_lfsr[tile], stride, B * bl, SPEC.lfsr["prob_bits"])
        self.row_lfsr[tile] = rfin
        self.col_lfsr[tile] = cfin
        # signed stream bits (n, B*bl), sample-major along the stream axis: bit * sign(code)
        rs = _stream(rbits, d, bl)
        cs = _stream(cbits, x, bl)
        return _int_matmul(rs, cs.T, B * bl)

    def check_batch_max(self, B: int, what: str = "update") -> None:
        """Raise CrossbarError unless ``1 <= B <= batch_max`` (the build's BATCH_MAX)."""
        if not 1 <= B <= self.batch_max:
            raise CrossbarError(f"{what}: B={B} samples is not allowed: must be in "
                                f"[1, {self.batch_max}] (this build's BATCH_MAX)")

    def update(self, tile: int, x, d) -> int:
        """One update of ``B`` samples (codes ``x``: (B, cols), ``d``: (B, rows);
        ``1 <= B <= batch_max``), contract §6: the batch sum ``S`` of every cell's ``B``
        single-sample increments (exact, a temporary), then one apply with ``m = |S|``.
        Returns the number of pulses applied."""
        self._check_tile(tile)
        lib = self._native()
        x = self._as_codes(x, self.cols, "update x", clamp=lib is None)
        d = self._as_codes(d, self.rows, "update d", clamp=lib is None)
        self._check_batch(x.shape[0], d.shape[0])
        B = x.shape[0]
        self.check_batch_max(B)
        self._count_updates(B)
        if lib is not None:
            return self._native_update(lib, tile, x, d)
        return self._apply(tile, self._increments(tile, x, d))

    def _apply(self, tile: int, sums: torch.Tensor) -> int:
        """Apply the batch sums ``sums`` (rows, cols) to ``tile`` (contract: "Apply")."""
        rw = lfsr.jump(self.row_lfsr[tile], SPEC.lfsr["apply_steps"], 1, 0)[1]
        cw = lfsr.jump(self.col_lfsr[tile], SPEC.lfsr["apply_steps"], 1, 0)[1]
        self.row_lfsr[tile] = rw
        self.col_lfsr[tile] = cw
        fp, fm = self.d2d_factors()
        r = self.regs
        up0, dn0, uniform = self._step_form()
        params = torch.tensor([r["CMAX"], r["SUB_BITS"], r["C2C_Q"], r["LR_Q"], up0, dn0],
                              dtype=torch.int64, device=self.device)
        gp, gm, pulses, up, stk = apply_kernel(
            sums.to(torch.int32), self.gp[tile], self.gm[tile], rw, cw, fp[tile], fm[tile],
            self._steps(), self._gauss, self._root, params,
            r["UPDATE_MODE"] == SPEC.update_mode["ROUNDING"], uniform, r["D2D_Q"] != 0,
            r["C2C_Q"] != 0, self._stuck(tile))
        self.gp[tile] = gp
        self.gm[tile] = gm
        self._invalidate(tile)
        pulses = int(pulses)
        self._count_pulses(pulses, int(up), int(stk))
        return pulses

    def _step_form(self) -> tuple[int, int, bool]:
        """(STEP_UP[0], STEP_DN[0], whether both tables are uniform over the used levels)."""
        r = self.regs
        levels = (r["CMAX"] >> r["SUB_BITS"]) + 1
        up, dn = self.step_up[:levels], self.step_dn[:levels]
        return int(up[0]), int(dn[0]), bool((up == up[0]).all() and (dn == dn[0]).all())

    def _native(self):
        """The native CPU kernels (memhil.twin.native), or None on CUDA or when unavailable."""
        return native.library() if self.device.type == "cpu" and _NATIVE_FITS else None

    def _setup(self):
        """(ApplyParams, int32 step table) from the registers, cached until a register write."""
        if self._apply_setup is None:
            r = self.regs
            up0, dn0, uniform = self._step_form()
            p = native.ApplyParams(
                cmax=r["CMAX"], sub_bits=r["SUB_BITS"], c2c_q=r["C2C_Q"], lr_q=r["LR_Q"],
                s_up0=up0, s_dn0=dn0, lr_frac=LR_FRAC, nmax=NMAX,
                max_levels=MAX_LEVELS, factor_frac=FF, step_frac=SF, noise_shift=NOISE_SHIFT,
                rounding=int(r["UPDATE_MODE"] == SPEC.update_mode["ROUNDING"]),
                uniform=int(uniform), d2d=int(r["D2D_Q"] != 0), c2c=int(r["C2C_Q"] != 0),
                bl=r["BL"], stream_k8=native.STREAM_K8, apply_k8=native.APPLY_K8,
                prob_mask=PROB_MASK, code_max=CODE_MAX, taps=native.TAPS)
            self._apply_setup = (p, self._steps().contiguous())
        return self._apply_setup

    def sums_buf(self) -> torch.Tensor:
        """The native update's scratch buffer of batch sums (rows x cols int32): all zero
        between calls (the kernel clears every sum it applies); a temporary, not state."""
        if self._scratch is None:
            self._scratch = torch.zeros(self.rows, self.cols, dtype=torch.int32)
        return self._scratch

    def _native_update(self, lib, tile: int, x, d) -> int:
        """The update with the native kernels; same contract, same state changes as the torch
        path (which the tests hold it to)."""
        P = native.ptr
        B = x.shape[0]
        x, d = x.contiguous(), d.contiguous()
        if self.regs["UPDATE_MODE"] == SPEC.update_mode["COINCIDENCE"]:
            kind = 0
        elif B == 1:
            kind = 1
        else:
            kind = 4                          # the outer products summed in the kernel
        params, steps = self._setup()
        fp = fm = None
        if params.d2d:
            fp, fm = (f[tile] for f in self.d2d_factors())
        counts = (ctypes.c_int64 * 2)()
        stuck = self._stuck(tile)
        pulses = lib.memhil_update(
            kind, self.rows, self.cols, B, P(d), P(x), P(self.sums_buf()),
            P(self.gp[tile]), P(self.gm[tile]), P(self._w16_buf(tile)), P(self.row_lfsr[tile]),
            P(self.col_lfsr[tile]), P(fp), P(fm), P(steps), P(self._gauss), P(self._root),
            P(native.t8_table()), P(native.feedback_table()), ctypes.byref(params),
            torch.get_num_threads(), P(stuck), counts)
        self._invalidate(tile, keep_w16=True)
        self._count_pulses(pulses, counts[0], counts[1])
        return pulses

    def _steps(self) -> torch.Tensor:
        """STEP_UP then STEP_DN as one table, indexed by level + (0 if up else MAX_LEVELS)."""
        return torch.cat([self.step_up, self.step_dn]).to(torch.int32)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict:
        """The complete state: codes, LFSRs, registers, tables and counters (contract version
        3 has no accumulators; ``batch_max``/``bl_max`` describe the build)."""
        return {
            "geometry": (self.rows, self.cols, self.tiles),
            "g_w": self.g_w, "lanes": self.lanes,
            "batch_max": self.batch_max, "bl_max": self.bl_max,
            "gp": self.gp.cpu().clone(), "gm": self.gm.cpu().clone(),
            "row_lfsr": self.row_lfsr.cpu().clone(), "col_lfsr": self.col_lfsr.cpu().clone(),
            "step_up": self.step_up.cpu().clone(), "step_dn": self.step_dn.cpu().clone(),
            "regs": dict(self.regs),
        }

    def load_state_dict(self, sd: dict) -> None:
        """Restore a :meth:`state_dict`; an older (contract version 2) dict with ``"acc"`` is
        accepted only if every accumulator is zero (what v2 leaves after an apply)."""
        self._check_geometry(sd)
        self._check_no_acc(sd)
        bl = sd["regs"].get("BL") if isinstance(sd.get("regs"), dict) else None
        if bl is not None and bl > self.bl_max:
            raise CrossbarError(f"state: register BL={bl} is above this twin's "
                                f"bl_max={self.bl_max} (the build's BL_MAX)")
        for k in ("gp", "gm", "row_lfsr", "col_lfsr", "step_up", "step_dn"):
            getattr(self, k).copy_(torch.as_tensor(sd[k]).to(self.device))
        regs = {n: int(r.reset) for n, r in SPEC.registers.items() if r.reset is not None}
        regs.update({n: 0 for n in COUNTERS})
        regs.update(sd["regs"])              # (a state saved before a register existed: its reset)
        self.regs = regs
        self._wcache.clear()
        self._w16_ok = [False] * self.tiles
        self._factors = None
        self._faults = None
        self._apply_setup = None
        if self.fault_kinds() is not None:       # the loaded codes pass the fault map too
            for t in range(self.tiles):
                gp, gm = self._fault_codes(t, 0, self.gp[t].reshape(-1), self.gm[t].reshape(-1))
                self.gp[t].copy_(gp.view(self.rows, self.cols))
                self.gm[t].copy_(gm.view(self.rows, self.cols))

    def to(self, device) -> "Twin":
        """A copy of this twin on ``device`` with the same state."""
        t = Twin(self.rows, self.cols, self.tiles, device=device, g_w=self.g_w, lanes=self.lanes,
                 batch_max=self.batch_max, bl_max=self.bl_max)
        t.load_state_dict(self.state_dict())
        return t


def _open_twin(rows: int, cols: int, tiles: int, config: DeviceConfig, device="cpu",
               batch_max: int = BATCH_MAX_DEFAULT, bl_max: int = BL_MAX_DEFAULT,
               **options) -> Twin:
    """The registry's opener of ``twin``: ``batch_max``/``bl_max`` model a build's limits (a
    twin that must split minibatches as a given device does); other ``options`` are for the
    device kinds and unused here."""
    return Twin(rows, cols, tiles, config, device=device, batch_max=batch_max, bl_max=bl_max)


register_backend("twin", _open_twin)
