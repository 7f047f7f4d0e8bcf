"""The training step in integers, as the PL would run it (issue 11, item 3;
docs/onchip-training.md).

:mod:`memhil.npnn` trains with float host math between the crossbar operations (DAC coding by a
per-row ``max / dac`` scale, ADC auto-ranging with retry reads, float ReLU, float update
scales). Here everything between the crossbar operations is integer arithmetic that a PL
sequencer can run: adds, compares, shifts, a priority encoder (bit length), one 8 x 32-bit
multiply per error element of an update and, in rounding mode, two divisions per layer per
minibatch. The crossbar operations are the contract's (``forward``/``transpose``/``update`` of
the backend, the ``ADC_SHIFT`` and ``LR_Q`` registers), so this runs on any backend (twin, RTL
simulation, board), one operation per layer as :mod:`memhil.npnn` does. The host keeps only
the float work it would keep with ``FWD_NET``/``BWD_NET`` commands: the input coding
``x * dac_max`` (once per data set), the logits' conversion to floats, the softmax
cross-entropy (:func:`memhil.hostmath.softmax_cross_entropy`), the coding of its gradient to 8-bit
block floating point, and per layer and epoch a few constants
(:meth:`OnChipMLP.layer_constants`). (``OnChipMLP(coincidence_balance="float")`` codes coincidence
updates with npnn's float square-root balance instead: a diagnostic of the study, not for the PL.)

Numbers (every name is an int64 numpy array or a Python int unless said otherwise):

* A vector of layer ``l`` is **block floating point** per sample: 8-bit codes ``c`` (``|c| <=
  dac_max``) and an exponent ``E_b``; its value is ``c * a_l * 2**E_b`` with ``a_l`` in
  ``[1/2, 1)`` a float constant of the layer (inputs: ``a_l``; errors: ``d_l``), known to the
  host only.
* :func:`rshr`: ``(v + ((1 << k) >> 1)) >> k``, arithmetic shift right with rounding half up
  (the ADC's rounding), a left shift for ``k < 0``.
* :func:`bfp_codes`: per row, ``k = max(0, bitlen(max|v|) - bitlen(dac_max))``, ``codes =
  clamp(rshr(v, k), -dac_max, dac_max)``: the DAC coding without a divider (the largest code
  of a row is in ``[2^(bits-2), dac_max]``, 64..127 at 8 bits).
* :func:`next_shift`: the ADC gain of the next read of a tile from this read's largest
  ``|out|`` (``top``) at shift ``s``: the smallest ``t >= 0`` with ``adc_hi << t >= 2 * top <<
  s`` (:func:`memhil.hostmath.target_shift` in integers), and at least ``s + 2`` when the read
  saturated. No read is repeated: a saturated read is used clipped.

See docs/onchip-training.md for the step in full and what it asks of the PL.
Use::

    model = OnChipMLP("twin", [784, 256, 128, 10], config=cfg, seed=0)
    trainer = NumpyTrainer(model, epochs=5, batch=32, lr=0.05, seed=0)   # memhil.npnn's
    trainer.fit(x_train, y_train, x_test, y_test)

``OnChipMLP`` builds a :class:`memhil.npnn.NumpyMLP` (the same backends, tiles, initial weights
and initial ADC gains) and trains its layers with the integer step instead.
"""
from __future__ import annotations

import math

import numpy as np

from memhil import hostmath
from memhil.npnn import NumpyMLP, _ints, scaled_codes

#: fraction bits of the bias input before its block-floating-point coding (``Q_l``)
BIAS_FRAC = 16
#: significant bits of the update constants (``lrc``: ``(mantissa, exponent)``)
LR_BITS = 16
#: fraction bits of the rounding mode's per-minibatch error factor ``f``
F_FRAC = 24
#: guard bits of the rounding mode's batch maximum ``M``
M_GUARD = 16
#: coincidence_balance choices of OnChipMLP
BALANCES = ("ratio", "bitlen", "float")
#: no integer of the step may reach this (int64 headroom; checked)
_LIMIT = 1 << 62


# ---------------------------------------------------------------------------- primitives
def rshr(v, k):
    """``v`` shifted right by ``k`` with rounding half up (``(v + ((1 << k) >> 1)) >> k``), a
    left shift for ``k < 0``; ``k`` a scalar or an array broadcasting with ``v`` (int64)."""
    v = np.asarray(v, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    if np.any(k > 62) or np.any(k < -62):
        raise ValueError(f"rshr: shift {int(k.min())}..{int(k.max())} outside -62..62")
    kp = np.maximum(k, 0)
    kn = np.maximum(-k, 0)
    half = np.where(kp > 0, np.left_shift(np.int64(1), np.maximum(kp - 1, 0)), 0)
    return np.left_shift(np.right_shift(v + half, kp), kn)


def bitlen(v) -> np.ndarray:
    """Bit length of ``|v|`` (0 for 0), elementwise, int64: a priority encoder."""
    a = np.abs(np.asarray(v, dtype=np.int64))
    if a.size == 0 or int(a.max()) < (1 << 53):     # exact in float64: frexp's exponent
        return np.frexp(a.astype(np.float64))[1].astype(np.int64)
    out = np.zeros(a.shape, dtype=np.int64)
    for b in range(63):
        out += (a >> b) > 0
    return out


def bfp_codes(v, dac_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``v`` (B, n) int64: ``(codes, k)`` with ``k = max(0, bitlen(max|v|) -
    bitlen(dac_max))`` and ``codes = clamp(rshr(v, k), -dac_max, dac_max)`` (int64)."""
    v = np.asarray(v)
    if v.dtype != np.int64 or v.ndim != 2:
        raise TypeError(f"bfp_codes: v must be a 2-D int64 array, got {v.dtype} {v.shape}")
    m = np.abs(v).max(axis=1) if v.shape[1] else np.zeros(v.shape[0], dtype=np.int64)
    k = np.maximum(bitlen(m) - int(dac_max).bit_length(), 0)
    return np.clip(rshr(v, k[:, None]), -dac_max, dac_max), k


def next_shift(top: int, s: int, adc_hi: int) -> int:
    """The ADC gain after a read at shift ``s`` whose largest ``|out|`` was ``top``: the smallest
    ``t >= 0`` with ``adc_hi << t >= (2 * top) << s`` (``s`` for an all-zero read), at least ``s
    + 2`` when the read saturated (``top >= adc_hi``), at most ``hostmath.MAX_SHIFT``."""
    top, s, adc_hi = int(top), int(s), int(adc_hi)
    if top < 0 or not 0 <= s <= hostmath.MAX_SHIFT or adc_hi < 1:
        raise ValueError(f"next_shift: top={top}, s={s}, adc_hi={adc_hi}: need top >= 0, "
                         f"0 <= s <= {hostmath.MAX_SHIFT}, adc_hi >= 1")
    if top == 0:
        return s
    m = (2 * top) << s
    t = max(0, m.bit_length() - adc_hi.bit_length())
    while t > 0 and (adc_hi << (t - 1)) >= m:
        t -= 1
    while (adc_hi << t) < m:
        t += 1
    if top >= adc_hi:
        t = max(t, s + 2)
    return min(t, hostmath.MAX_SHIFT)


def mant_exp(v: float, bits: int = LR_BITS) -> tuple[int, int]:
    """``v > 0`` as ``(m, e)``, ``m`` an integer of ``bits`` bits (``2^(bits-1) <= m <= 2^bits``)
    with ``m * 2**e`` = ``v`` rounded to ``bits`` significant bits."""
    if not (v > 0 and math.isfinite(v)):
        raise ValueError(f"mant_exp: v={v!r}, need a finite v > 0")
    f, e = math.frexp(v)
    return int(round(f * (1 << bits))), e - bits


def grad_codes(g: np.ndarray, dac_max: int) -> tuple[np.ndarray, np.ndarray]:
    """The host's coding of ``d loss / d logits`` (float, (B, C)) for ``BWD_NET``: per row
    ``(codes, G_b)``, ``codes = clamp(rint(g * 2**-G_b), -dac_max, dac_max)`` with ``G_b = e -
    bitlen(dac_max)`` where ``max|g_b| = f * 2**e``, ``f`` in ``[1/2, 1)`` (``G_b = 0`` for a zero
    row): the largest code of a row is in ``[2^(bits-2), dac_max]``. Host float (exact:
    ``frexp`` and a multiplication by a power of two)."""
    g = np.asarray(g, dtype=np.float64)
    m = np.abs(g).max(axis=1)
    _, e = np.frexp(m)
    G = np.where(m > 0, e.astype(np.int64) - int(dac_max).bit_length(), 0)
    codes = np.clip(np.rint(np.ldexp(g, -G[:, None])), -dac_max, dac_max).astype(np.int64)
    return codes, G


# ---------------------------------------------------------------------------- the network
class OnChipMLP:
    """``Linear-ReLU-...-Linear`` on crossbar tiles trained by the integer step (see the module
    docstring). Arguments as :class:`memhil.npnn.NumpyMLP`'s (which it builds: ``self.net``);
    inputs must lie in ``[-1, 1]`` (memhil's data sets: ``[0, 1]``).
    ``train_step``/``forward``/``predict``/``accuracy`` as ``NumpyMLP``'s, so that
    :class:`memhil.npnn.NumpyTrainer` trains it.

    ``eval_adapt`` (default False): whether evaluation reads adapt a private copy of the ADC
    gains batch by batch (True) or read at the training gains (False); neither changes the
    training's state.

    ``coincidence_balance``: how coincidence mode splits the update's scale between the ``x``
    and ``d`` codes (a power of two ``2^a``): ``"ratio"`` (default) ``a`` nearest the balance
    of the two code maxima (``floor(log2(Mx/Md)/2 + 1/2)``, from integer compares);
    ``"bitlen"`` from the maxima's bit lengths alone (the first version: up to a factor 4 off
    the balance; loses accuracy); ``"float"``: npnn's float square-root balance of the same
    values (a diagnostic, not integer).
    """

    def __init__(self, backend, sizes, *, seed: int = 0, config=None, w_range: float = 4.0,
                 weights=None, configure: bool = True, backend_options: dict | None = None,
                 eval_adapt: bool = False, coincidence_balance: str = "ratio"):
        if coincidence_balance not in BALANCES:
            raise ValueError(f"coincidence_balance={coincidence_balance!r}: one of "
                             f"{', '.join(map(repr, BALANCES))}")
        self.net = NumpyMLP(backend, sizes, seed=seed, config=config, w_range=w_range,
                            weights=weights, configure=configure,
                            backend_options=backend_options)
        self.sizes = self.net.sizes
        self.config = self.net.config
        self.layers = self.net.layers
        self.eval_adapt = bool(eval_adapt)
        self.coincidence_balance = coincidence_balance
        self._lr = None
        L0 = self.layers[0]
        self.dac_max, self.adc_hi = L0.dac_max, L0.adc_hi
        # the layers' initial ADC gains (those of NumpyMLP); adapted by next_shift
        self.shift = [{d: list(layer.shift[d]) for d in ("fwd", "bwd")} for layer in self.layers]
        # host constants: input mantissas a_l (a_0 * 2**E0 = 1/dac_max), error mantissas d_l
        f, e = math.frexp(1.0 / self.dac_max)
        self.a = [f]
        self.e0 = e
        self.alpha = []                   # exponent of w_unit_l * a_l = a_{l+1} * 2**alpha_l
        for layer in self.layers:
            f, e = math.frexp(layer.w_unit * self.a[-1])
            self.a.append(f)
            self.alpha.append(e)
        n = len(self.layers)
        self.d = [0.0] * n
        self.beta = [0] * n               # w_unit_l * d_l = d_{l-1} * 2**beta_l
        self.d[n - 1] = 1.0
        for i in range(n - 1, 0, -1):
            f, e = math.frexp(self.layers[i].w_unit * self.d[i])
            self.d[i - 1] = f
            self.beta[i] = e
        #: Q_l: the bias input 1 / a_l with BIAS_FRAC fraction bits (layers 1..n-1)
        self.q = [int(round((1 << BIAS_FRAC) / a)) for a in self.a]
        self._cache: list = []
        self.last: dict = {}

    # ------------------------------------------------------------------ constants
    def layer_constants(self, lr: float) -> list[dict]:
        """Per layer, what the host writes for an epoch of learning rate ``lr`` (float math, once
        per epoch): ``lrc = (m, e)`` (``m * 2**e``, :data:`LR_BITS` bits) of ``lr * a_l * d_l *
        2^16 / (w_unit * sub)`` (rounding) or ``lr * a_l * d_l * 2^14 / (w_unit * sub * BL)``
        (coincidence), and the bias constant ``q`` and exponent offsets ``alpha``, ``beta``."""
        if not (lr > 0 and math.isfinite(lr)):
            raise ValueError(f"lr={lr!r}: need a finite lr > 0")
        cfg = self.config
        out = []
        for i, layer in enumerate(self.layers):
            base = lr * self.a[i] * self.d[i] / (layer.w_unit * layer.sub)
            v = base * (1 << 16) if cfg.update_mode == "rounding" else base * (1 << 14) / cfg.bl
            out.append({"lrc": mant_exp(v), "q": self.q[i + 1], "alpha": self.alpha[i],
                        "beta": self.beta[i]})
        return out

    # ------------------------------------------------------------------ reads
    def _read(self, i: int, direction: str, codes: np.ndarray, adapt: bool,
              shifts: list) -> tuple[np.ndarray, int, int]:
        """Read every tile of layer ``i`` at its shift (no retry); ``(sum, s0, saturated)``: the
        tiles' ADC outputs added at the smallest shift ``s0`` (exact: ``out_k << (s_k - s0)``),
        int64 (B, outputs), and how many tiles saturated. ``adapt``: set each tile's next
        shift (:func:`next_shift`) in ``shifts``."""
        layer = self.layers[i]
        fwd = direction == "fwd"
        op = layer.backend.forward if fwd else layer.backend.transpose
        width = layer.cols if fwd else layer.rows
        B = codes.shape[0]
        n_out = layer.out_features if fwd else layer.n_in
        s0 = min(shifts)
        y = np.zeros((B, n_out), dtype=np.int64)
        sat = 0
        for k, (t, r0, r1, c0, c1) in enumerate(layer.blocks):
            v = np.zeros((B, width), dtype=np.int64)
            if fwd:
                v[:, : c1 - c0] = codes[:, c0:c1]
            else:
                v[:, : r1 - r0] = codes[:, r0:r1]
            s = shifts[k]
            layer.regs.set("ADC_SHIFT", s)
            o = _ints(op(t, v))
            top = int(np.abs(o).max()) if o.size else 0
            sat += top >= self.adc_hi
            if adapt:
                shifts[k] = next_shift(top, s, self.adc_hi)
            if fwd:
                y[:, r0:r1] += np.left_shift(o[:, : r1 - r0], s - s0)
            else:
                y[:, c0:c1] += np.left_shift(o[:, : c1 - c0], s - s0)
        return y, s0, sat

    def input_codes(self, x) -> tuple[np.ndarray, np.ndarray]:
        """Layer 1's input codes (with the bias input) and exponents: ``rint(x * dac_max)``,
        the bias code ``dac_max``, ``E_b`` = the exponent of ``1/dac_max`` (host, once per data
        set: npnn's coding of such inputs, whose row maximum is the bias input 1)."""
        x = NumpyMLP._inputs(x)
        if x.shape[1] != self.sizes[0]:
            raise ValueError(f"expected {self.sizes[0]} input features, got shape {x.shape}")
        if x.size and (not np.all(np.isfinite(x)) or np.abs(x).max() > 1.0):
            raise ValueError(f"inputs must be finite and lie in [-1, 1] (the on-chip input "
                             f"coding x * dac_max), got {np.nanmin(x)!r}..{np.nanmax(x)!r}")
        c = np.rint(x.astype(np.float64) * self.dac_max).astype(np.int64)
        c = np.concatenate([c, np.full((len(c), 1), self.dac_max, dtype=np.int64)], axis=1)
        return c, np.full(len(c), self.e0, dtype=np.int64)

    def forward_int(self, c: np.ndarray, E: np.ndarray, train: bool = False,
                    shifts=None) -> tuple[np.ndarray, np.ndarray, int]:
        """``FWD_NET`` from layer 1's input codes and exponents: the last layer's ADC sums
        ``y`` (B, classes) int64, their exponents ``X_b`` (logits = ``y * a_n * 2**X_b``, host
        float) and the tiles' saturations. ``train``: keeps every layer's input codes,
        exponents and ReLU masks for :meth:`backward_int` and adapts the ADC gains;
        ``shifts``: the gains to use (default: the training's)."""
        shifts = self.shift if shifts is None else shifts
        self._cache = []
        sat = 0
        last = len(self.layers) - 1
        for i in range(len(self.layers)):
            y, s0, st = self._read(i, "fwd", c, train, shifts[i]["fwd"])
            sat += st
            X = E + s0 + self.alpha[i]                 # y * a_{i+1} * 2**X is layer i's output
            if i == last:
                if train:
                    self._cache.append((c, E, None))
                return y, X, sat
            mask = y > 0
            if train:
                self._cache.append((c, E, mask))
            h = np.where(mask, y, 0)
            # the next input [h, 1] with BIAS_FRAC fraction bits: 1 = Q * 2**-(X + BIAS_FRAC)
            sb = X
            if np.any(sb < -(61 - self.q[i + 1].bit_length())) or np.any(sb > 62):
                raise OverflowError(f"layer {i + 1}: bias exponent {int(sb.min())}.."
                                    f"{int(sb.max())} outside the int64 range of the step")
            bias = rshr(np.full(len(y), self.q[i + 1], dtype=np.int64), sb)
            v = np.concatenate([np.left_shift(h, BIAS_FRAC), bias[:, None]], axis=1)
            if int(np.abs(v).max(initial=0)) >= _LIMIT:
                raise OverflowError(f"layer {i + 1}: an input reached 2^62 before coding")
            c, k = bfp_codes(v, self.dac_max)
            E = X + k - BIAS_FRAC
        raise AssertionError("unreachable")

    def logits(self, y: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The host's conversion of ``FWD_NET``'s answer to float32 logits."""
        return np.ldexp(y.astype(np.float64) * self.a[-1], X[:, None]).astype(np.float32)

    # ------------------------------------------------------------------ inference
    def forward(self, x, train: bool = False) -> np.ndarray:
        """The float32 logits of ``x`` (B, features)."""
        c, E = self.input_codes(x)
        y, X, _ = self.forward_int(c, E, train=train)
        return self.logits(y, X)

    def predict(self, x, batch: int = 512) -> np.ndarray:
        """Predicted classes (evaluation reads, in batches; LFSRs restored, the training's ADC
        gains unchanged)."""
        x = np.asarray(x, dtype=np.float32)
        out = []
        shifts = [{d: list(s[d]) for d in s} for s in self.shift]
        with self.net.preserved_lfsrs():
            for i in range(0, len(x), batch):
                c, E = self.input_codes(x[i: i + batch])
                if self.eval_adapt:
                    y, X, _ = self.forward_int(c, E, train=False, shifts=shifts)
                    self._adapt(shifts, c, E)
                else:
                    y, X, _ = self.forward_int(c, E, train=False)
                out.append(y.argmax(axis=1))       # the logits' argmax (a_n * 2**X_b > 0)
        self._cache = []
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    def _adapt(self, shifts, c, E) -> None:
        """Adapt ``shifts`` (an evaluation's copy) to the batch just read (a second pass)."""
        self.forward_int(c, E, train=True, shifts=shifts)
        self._cache = []

    def accuracy(self, x, y, batch: int = 512) -> float:
        y = np.asarray(y).reshape(-1)
        if len(y) == 0:
            return float("nan")
        return int(np.count_nonzero(self.predict(x, batch) == y)) / len(y)

    # ------------------------------------------------------------------ training
    def backward_int(self, e: np.ndarray, G: np.ndarray, lr: float) -> int:
        """``BWD_NET``: from the last layer's error codes ``e`` (B, classes) and exponents
        ``G`` (:func:`grad_codes`), the transposes, ReLU masks and the pulse update of every
        layer (top layer first, each updated after its transpose). Returns the pulses."""
        if len(self._cache) != len(self.layers):
            raise RuntimeError("backward_int() needs a forward_int(..., train=True) before it")
        e = np.asarray(e)
        if e.dtype != np.int64 or e.shape != (self._cache[-1][0].shape[0], self.sizes[-1]):
            raise ValueError(f"e: need int64 codes of shape "
                             f"{(self._cache[-1][0].shape[0], self.sizes[-1])}, got {e.dtype} "
                             f"{e.shape}")
        if int(np.abs(e).max(initial=0)) > self.dac_max:
            raise ValueError(f"e: codes must lie in [-{self.dac_max}, {self.dac_max}]")
        consts = self.layer_constants(lr)
        self._lr = float(lr)
        fired = 0
        for i in range(len(self.layers) - 1, -1, -1):
            c, E, _ = self._cache[i]
            e_next = G_next = None
            if i > 0:
                z, s0, _ = self._read(i, "bwd", e, True, self.shift[i]["bwd"])
                z = z[:, : self.layers[i].in_features]
                z = np.where(self._cache[i - 1][2], z, 0)       # ReLU mask of layer i's input
                e_next, k = bfp_codes(z, self.dac_max)
                G_next = G + s0 + self.beta[i] + k
            fired += self._update(i, c, E, e, G, consts[i]["lrc"])
            e, G = e_next, G_next
        self._cache = []
        return fired

    def update_codes(self, i: int, c, E, e, G, lrc) -> tuple | None:
        """The integer operands ``(X, D, LR_Q or None)`` of layer ``i``'s pulse update from its
        input codes ``c`` / exponents ``E``, its error codes ``e`` / exponents ``G`` and the
        epoch's constant ``lrc = (m, e)``; None when every error code is zero."""
        dac = self.dac_max
        lm, le = int(lrc[0]), int(lrc[1])
        T = np.abs(e).max(axis=1)
        live = T > 0
        if not live.any():
            return None
        P = E + G
        if self.config.update_mode == "rounding":
            # LR_Q = max(1, ceil(l * 2^P* * M / dac)), M = max_b T_b 2^(P_b - P*);
            # D_b = -round(e_b * l * 2^P_b / LR_Q) with f = l * 2^(P* + F_FRAC) / LR_Q
            Ps = int(P[live].max())
            Mq = int(rshr(T[live], np.minimum(Ps - P[live] - M_GUARD, 62)).max())   # M * 2^M_GUARD
            num, sh = lm * Mq, le + Ps - M_GUARD
            if sh >= 0:
                lr_q = num << sh if sh < 64 else hostmath.LR_Q_MAX
                lr_q = -(-lr_q // dac)
            else:
                lr_q = -(-num // (dac << -sh))
            lr_q = min(hostmath.LR_Q_MAX, max(hostmath.LR_Q_MIN, lr_q))
            fs = le + Ps + F_FRAC
            f = (lm << fs) // lr_q if fs >= 0 else (lm >> -fs) // lr_q
            X = c
            D = -np.clip(rshr(e * f, np.minimum(F_FRAC + Ps - P, 62)[:, None]), -dac, dac)
            return X, np.where(live[:, None], D, 0), lr_q
        # coincidence: X = rshr(c, a), D = -(e * l * 2^(P_b + a)), a >= 0 balancing the maxima
        if self.coincidence_balance == "float":
            return self._float_coincidence(i, c, E, e, G)
        Mx = int(np.abs(c).max())
        if self.coincidence_balance == "ratio":
            # j = floor(log2(Mx / Md)), Md = max_b T_b m 2^(q + P_b): the largest j with
            # T_b m 2^(q + P_b + j) <= Mx for every live b; a = max(0, floor((j + 1) / 2)),
            # i.e. floor(log2(Mx / Md) / 2 + 1/2): the power of two nearest the balance
            tm = T[live] * lm
            jb = bitlen(Mx) - bitlen(tm)
            over = np.where(jb >= 0, np.left_shift(tm, np.maximum(jb, 0)) > Mx,
                            tm > np.left_shift(np.int64(Mx), np.maximum(-jb, 0)))
            jb = jb - over - (le + P[live])
            a = max(0, (int(jb.min()) + 1) // 2)
        else:                                           # "bitlen": from bit lengths alone
            Lx = int(bitlen(Mx).item())
            Ld = int((bitlen(T[live] * lm) + le + P[live]).max())
            a = max(0, (Lx - Ld) // 2)
        X = rshr(c, a)
        D = -np.clip(rshr(e * lm, np.clip(-(le + P + a), -39, 62)[:, None]), -dac, dac)
        return X, np.where(live[:, None], D, 0), None

    def _float_coincidence(self, i: int, c, E, e, G):
        """Diagnostic, not for the PL: npnn's float coincidence coding (square-root balance,
        ``hostmath.update_scales``) of the values that the integer codes represent."""
        layer = self.layers[i]
        x = c * self.a[i] * np.ldexp(1.0, E)[:, None]
        g = e * self.d[i] * np.ldexp(1.0, G)[:, None]
        mx, md = float(np.abs(x).max()), float(np.abs(g).max())
        if md == 0.0:
            return None
        ax, ad, _ = hostmath.update_scales("coincidence", self._lr, layer.w_unit, layer.sub,
                                           self.config.bl, self.dac_max, mx, md)
        return scaled_codes(x, ax, self.dac_max), scaled_codes(g, -ad, self.dac_max), None

    def _update(self, i: int, c, E, e, G, lrc) -> int:
        got = self.update_codes(i, c, E, e, G, lrc)
        if got is None:
            return 0
        return self.layers[i].send_update(*got)

    def train_step(self, x, y, lr: float) -> dict:
        """One minibatch: ``FWD_NET``, the host's loss and gradient coding, ``BWD_NET``.
        Returns ``loss``, ``correct``, ``pulses``, ``logits`` and ``saturated`` (tiles whose
        forward read saturated)."""
        y = np.asarray(y).reshape(-1)
        c, E = self.input_codes(x)
        yi, X, sat = self.forward_int(c, E, train=True)
        out = self.logits(yi, X)
        loss, grad = hostmath.softmax_cross_entropy(out, y)
        e, G = grad_codes(grad.astype(out.dtype), self.dac_max)
        pulses = self.backward_int(e, G, lr)
        return {"loss": loss, "correct": int(np.count_nonzero(out.argmax(axis=1) == y)),
                "pulses": pulses, "logits": out, "saturated": sat}

    # ------------------------------------------------------------------ state
    @property
    def pulses(self) -> int:
        return self.net.pulses

    def codes(self):
        return self.net.codes()

    def close(self) -> None:
        self.net.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
