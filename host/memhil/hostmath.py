"""The host's arithmetic that both training paths share (numpy and the standard library only).

memhil trains a crossbar network on two host paths that must give the same bits on the same
seeds: :mod:`memhil.nn` (torch: ``CrossbarLinear``, ``CrossbarSGD``, ``Trainer``) and
:mod:`memhil.npnn` (numpy, for a board without torch). Most of the host's work is integer or
elementwise IEEE-754 arithmetic (multiply, divide, round, clamp, max, casts), which gives the
same result in any library; those steps are written in each path. What is not (transcendental
functions, reductions whose order a library chooses, decisions taken from ``log2``) is defined
here, once, and both paths call it through this module (``hostmath.name(...)``, so a test can
replace one and see both paths follow):

* :func:`softmax_cross_entropy`: the training loss (the mean softmax cross-entropy of the
  logits) and its gradient with respect to the logits, in float64. ``exp`` and ``log`` are
  written with IEEE basic operations only (:func:`exp`, :func:`log`; no libm, no SIMD
  approximation, sums in a fixed order), so the loss and the gradient have the same bits on
  any IEEE-754 machine: the x86 PC that runs the torch path and the PYNQ board's ARM.
* :func:`initial_shift`, :func:`target_shift`, :func:`safe_shift`: the ADC gain
  (``ADC_SHIFT``) decisions of a layer (first guess, auto-ranging after a read, the shift at
  which no read can saturate).
* :func:`update_scales`: the code scales (and ``LR_Q``) of a pulse update.
* :func:`lr_at`: the learning-rate schedule of a run.
* :func:`coded_update`: the update operands under a host-side coding
  (:class:`memhil.config.UpdateCoding`: per-sample scales, stochastic rounding), with
  :func:`host_uniform`, the counter-based random numbers of its stochastic rounding.

Nothing here imports torch or :mod:`memhil.nn`.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

MAX_SHIFT = 31                      # the largest ADC_SHIFT a layer uses
LR_Q_MIN = 1                        # the LR_Q register's range (rounding mode)
LR_Q_MAX = (1 << 32) - 1

# ln 2 split in two (fdlibm's): LN2_HI has trailing zero bits, so k * LN2_HI is exact for the
# |k| < 2^11 that occur here
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e+00
SQRT_HALF = 0.70710678118654752440
EXP_MIN = -708.0                    # exp(x) below this is taken as exp(EXP_MIN) (~3e-308)
EXP_MAX = 709.0
# fdlibm's e_exp.c: the minimax coefficients of r*(e^r + 1)/(e^r - 1) on [0, ln2/2]
P1 = 1.66666666666666019037e-01
P2 = -2.77777777770155933842e-03
P3 = 6.61375632143793436117e-05
P4 = -1.65339022054652515390e-06
P5 = 4.13813679705723846039e-08
# atanh series coefficients 1/(2n+1), n = 11..0 (log of m in [sqrt(1/2), sqrt(2)))
_LOG_COEF = [1.0 / (2 * n + 1) for n in range(11, -1, -1)]
#: row products of softmax denominators are logged once they pass this (no overflow)
_PROD_MAX = 1e280
#: batches of at most this many logits take the loss with Python floats (same bits, faster)
_SMALL = 64


# ---------------------------------------------------------------------------- exp, log
def exp(x) -> np.ndarray:
    """``e**x`` of a float64 array with IEEE basic operations only (same bits everywhere).

    fdlibm's algorithm, vectorized: ``x = k ln2 + r`` (``k = rint(x / ln2)``, ``ln2`` in two
    parts, ``|r| <= ln2/2``), ``e**r`` from a degree-5 minimax polynomial in ``r*r``, times
    ``2**k`` (exact). Error below one ulp; arguments are clipped to ``[EXP_MIN, EXP_MAX]`` (no
    subnormal or infinite results).
    """
    x = np.minimum(np.maximum(np.asarray(x, dtype=np.float64), EXP_MIN), EXP_MAX)
    k = np.rint(x * INV_LN2)
    hi = x - k * LN2_HI
    lo = k * LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))))
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    return np.ldexp(y, k.astype(np.int32))


def log(x: float) -> float:
    """Natural logarithm of a positive normal float with IEEE basic operations only (the same
    bits everywhere): ``x = m 2**e`` with ``m`` in ``[sqrt(1/2), sqrt(2))`` (``frexp``, exact);
    ``log m = 2 atanh(t)``, ``t = (m - 1) / (m + 1)``, by its series to ``t**23``; plus
    ``e ln2`` in two parts. Error a few ulps."""
    m, e = math.frexp(float(x))
    if m < SQRT_HALF:
        m, e = m * 2.0, e - 1
    f = m - 1.0                                   # exact (Sterbenz)
    t = f / (2.0 + f)
    t2 = t * t
    q = _LOG_COEF[0]
    for c in _LOG_COEF[1:]:
        q = q * t2 + c
    return e * LN2_HI + (e * LN2_LO + 2.0 * t * q)


# ---------------------------------------------------------------------------- the loss
def softmax_cross_entropy(logits, labels) -> tuple[float, np.ndarray]:
    """The training loss and its gradient: ``(loss, grad)``.

    ``logits``: ``(B, C)`` floats (the network's output, float32 on both paths); ``labels``:
    ``B`` class numbers in ``[0, C)``. ``loss`` is the mean over the batch of
    ``-log softmax(logits)[label]`` (a Python float); ``grad`` is ``d loss / d logits =
    (softmax(logits) - onehot(labels)) / B``, a float64 ``(B, C)`` array that the caller casts
    to its logits' dtype (IEEE rounding, the same in numpy and torch).

    Float64 with a fixed order of operations: ``d = z - max`` per row, ``e = exp(d)``
    (:func:`exp`), the row sums ``s`` of ``e`` added left to right, ``grad = (e / s -
    onehot) / B``; the loss ``(log(prod s) - sum d[label]) / B`` with the product taken in
    order (logged by :func:`log` in chunks that cannot overflow) and the sums by ``math.fsum``
    (exactly rounded). So the result depends only on the bits of ``logits`` and ``labels``,
    on any machine and in any library that calls it.
    """
    z = np.asarray(logits)
    if z.ndim != 2:
        raise ValueError(f"logits must be (B, C), got shape {z.shape}")
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    B, C = z.shape
    if y.shape[0] != B:
        raise ValueError(f"{B} logits rows but {y.shape[0]} labels")
    if B == 0:
        return float("nan"), np.zeros((0, C), dtype=np.float64)
    if C == 0 or int(y.min()) < 0 or int(y.max()) >= C:
        raise ValueError(f"labels must be class numbers in [0, {C}), got {y.min()}..{y.max()}")
    if B * C <= _SMALL:
        rows = z.tolist()                         # float32 -> Python float: exact
        if all(map(math.isfinite, itertools.chain.from_iterable(rows))):
            return _sce_floats(rows, y.tolist(), B)
    z = z.astype(np.float64)
    d = z - z.max(axis=1)[:, None]                # max is exact in any order
    e = exp(d)
    s = np.cumsum(e, axis=1)[:, -1]               # row sums, left to right (accumulate)
    rows = np.arange(B)
    loss = _mean_nll(s.tolist(), d[rows, y].tolist(), B)
    grad = e / s[:, None]
    grad[rows, y] -= 1.0
    grad /= B
    return loss, grad


def _sce_floats(rows: list, labels: list, B: int) -> tuple[float, np.ndarray]:
    """:func:`softmax_cross_entropy` of a small batch of finite logits (``B * C <= _SMALL``)
    with Python floats: the vectorized version's operations one element at a time, in the same
    order (Python floats are IEEE doubles; ``round`` rounds half to even as ``np.rint``), so
    the same bits (``tests/test_npnn.py`` holds the two to each other), at a third of the cost
    of two dozen numpy calls on a ``(1, 10)`` array."""
    grad, sums, d_label = [], [], []
    ldexp = math.ldexp
    for z, lab in zip(rows, labels):
        m = max(z)
        d = [v - m for v in z]
        e = []
        s = 0.0
        for x in d:                               # exp(x) of one float, as exp() does it
            x = min(max(x, EXP_MIN), EXP_MAX)
            k = round(x * INV_LN2)
            hi = x - k * LN2_HI
            lo = k * LN2_LO
            r = hi - lo
            t = r * r
            c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))))
            v = ldexp(1.0 - ((lo - (r * c) / (2.0 - c)) - hi), k)
            e.append(v)
            s += v                                # left to right, as the cumulative sum
        g = [v / s for v in e]
        g[lab] -= 1.0
        grad.append([v / B for v in g])
        sums.append(s)
        d_label.append(d[lab])
    return _mean_nll(sums, d_label, B), np.array(grad, dtype=np.float64)


def _mean_nll(sums: list, d_label: list, B: int) -> float:
    """``(log(prod sums) - sum d_label) / B``: the product in order, logged in chunks that
    cannot overflow (every sum is in ``[1, C]``), the sums exactly rounded."""
    logs, prod = [], 1.0
    for v in sums:
        prod *= v
        if prod > _PROD_MAX:
            logs.append(log(prod))
            prod = 1.0
    logs.append(log(prod))
    return (math.fsum(logs) - math.fsum(d_label)) / B


# ---------------------------------------------------------------------------- ADC gain
def initial_shift(cols: int, dac_max: int, cmax: int, adc_hi: int) -> int:
    """A layer's first ``ADC_SHIFT``: for ``|y| ~ sqrt(cols) * dac_max * cmax/8`` (a typical
    weight code) at half the ADC range ``adc_hi``; reads adapt it from then on."""
    guess = math.sqrt(max(1, cols)) * dac_max * (cmax / 8)
    return max(0, math.ceil(math.log2(max(1.0, guess / (adc_hi / 2)))))


def target_shift(top: int, s: int, adc_hi: int) -> int:
    """The shift at which the largest output ``top`` of a read at shift ``s`` would use half
    the ADC range (``s`` itself when the read was all zeros).

    (``log2`` of ``top * 2**s / (adc_hi / 2)``: the argument is a power of two exactly at the
    boundaries, where every libm's ``log2`` is exact, and elsewhere at least ~1e-12 away from
    an integer, far more than ``log2``'s error, so the ``ceil`` is the same on every machine.)
    """
    m = top << s
    return max(0, math.ceil(math.log2(m / (adc_hi / 2)))) if m > 0 else s


def safe_shift(n: int, dac_max: int, cmax: int, adc_hi: int) -> int:
    """A shift at which no read of ``n`` inputs can saturate (all inputs and weights at their
    maximum)."""
    return max(0, math.ceil(math.log2(n * dac_max * cmax / adc_hi)))


# ---------------------------------------------------------------------------- updates
def update_scales(update_mode: str, lr: float, w_unit: float, sub: int, bl: int,
                  dac_max: int, mx: float, md: float) -> tuple[float, float, int | None]:
    """``(a_x, a_d, LR_Q or None)``: the scales that turn a minibatch's inputs ``x`` and
    gradients ``dL/dy`` (largest magnitudes ``mx``, ``md``, both > 0) into DAC codes
    ``round(x * a_x)`` and ``round(-dL/dy * a_d)`` whose expected weight change is
    ``-lr * sum dL/dy x^T`` (contract §6; see :mod:`memhil.nn.layer`).

    * coincidence (``E[pulses] = BL * sum d x / 2^14``): ``a_x * a_d = lr * 2^14 / (w_unit *
      sub * BL)``, balanced so that ``max|x_code| = max|d_code|``; ``LR_Q`` is None (unused);
    * rounding (``E[n] = LR_Q * sum x d / 2^16``): ``x`` at the full DAC range and ``LR_Q`` the
      smallest integer (>= 1) that keeps ``d`` within it, with ``a_d = p / LR_Q`` exact.
    """
    if update_mode == "coincidence":
        k = lr * (1 << 14) / (w_unit * sub * bl)
        return math.sqrt(k * md / mx), math.sqrt(k * mx / md), None
    ax = dac_max / mx
    p = lr * (1 << 16) / (w_unit * sub * ax)
    # d at full DAC range unless that needs LR_Q < 1; LR_Q is rounded up so that the
    # product a_d * LR_Q stays exact (a_d = p / LR_Q <= dac_max / md)
    lr_q = min(LR_Q_MAX, max(LR_Q_MIN, math.ceil(p * md / dac_max - 1e-9)))
    return ax, p / lr_q, lr_q


def lr_at(lr: float, epoch: int, epochs: int, schedule: str = "linear",
          lr_end: float = 0.1) -> float:
    """Learning rate of (0-based) ``epoch`` of ``epochs``: ``schedule="linear"`` falls linearly
    from ``lr`` to ``lr_end * lr`` at the last epoch; ``"constant"`` keeps ``lr``."""
    if schedule == "constant" or epochs <= 1:
        return lr
    return lr * (1.0 - (1.0 - lr_end) * epoch / (epochs - 1))


# ---------------------------------------------------------------------------- update coding
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z):
    """SplitMix64's finalizer on a uint64 array (wrapping arithmetic) or a Python int."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def host_uniform(key: int, counter: int, stream: int, n: int) -> np.ndarray:
    """``n`` uniform floats in ``[0, 1)`` (float64, multiples of ``2^-53``) from a
    counter-based hash: element ``i`` is SplitMix64's output ``i + 1`` of the base
    ``mix(key, counter, stream)``. The same bits in any library and on any machine (integer
    arithmetic only); :func:`coded_update`'s stochastic rounding draws from it (``key``: the
    layer's seed, ``counter``: its update number, ``stream``: 0 for ``x``, 1 for ``d``)."""
    base = _mix64((int(key) * _GOLDEN + 0x632BE59BD9B4E019) & _M64)
    base = _mix64((base ^ (int(counter) * 0xD1B54A32D192ED03)) & _M64)
    base = _mix64((base + (int(stream) + 1) * _GOLDEN) & _M64)
    with np.errstate(over="ignore"):
        z = np.arange(1, n + 1, dtype=np.uint64) * np.uint64(_GOLDEN) + np.uint64(base)
        z = _mix64(z)
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def coded_update(update_mode: str, lr: float, w_unit: float, sub: int, bl: int, dac_max: int,
                 x, g, scaling: str = "batch", rounding: str = "nearest", key: int = 0,
                 counter: int = 0):
    """The integer operands ``(x_codes, d_codes, LR_Q or None)`` of the pulse update of a
    minibatch (``x``: inputs ``(B, n_in)``, ``g``: ``dL/dy`` ``(B, n_out)``, numpy floats),
    coded as :class:`memhil.config.UpdateCoding` ``(scaling, rounding)`` says; ``None`` when
    nothing is to be sent (all ``x`` or all ``g`` zero, or ``lr`` 0).

    ``scaling="batch"``: the scales of :func:`update_scales` from the minibatch's largest
    ``|x|``, ``|g|``. ``scaling="sample"`` (coincidence): for each sample ``b`` its own
    ``a_x = sqrt(k md_b / mx_b)``, ``a_d = sqrt(k mx_b / md_b)`` (``k`` as in
    :func:`update_scales`; a sample with ``mx_b`` or ``md_b`` zero sends zero codes).
    ``rounding="nearest"``: ``round(v * a)`` half to even; ``"stochastic"``: ``floor(v * a +
    u)`` with ``u`` from :func:`host_uniform` ``(key, counter, 0 | 1)``, so that ``E[code] =
    v * a``. Codes are clipped at ``dac_max``; everything in float64. With the defaults this is
    the layers' coding bit for bit (``memhil.nn.layer.scaled_codes``)."""
    x = np.asarray(x)
    g = np.asarray(g)
    if x.ndim != 2 or g.ndim != 2 or x.shape[0] != g.shape[0]:
        raise ValueError(f"coded_update: x {x.shape} and g {g.shape} must be (B, n) arrays "
                         "with the same B")
    if scaling not in ("batch", "sample"):
        raise ValueError(f"scaling={scaling!r}: one of 'batch', 'sample'")
    if rounding not in ("nearest", "stochastic"):
        raise ValueError(f"rounding={rounding!r}: one of 'nearest', 'stochastic'")
    if scaling == "sample" and update_mode != "coincidence":
        raise ValueError(f"scaling='sample' needs update_mode 'coincidence', not {update_mode!r}")
    ax_, gx_ = np.abs(x), np.abs(g)
    mx, md = float(ax_.max()) if x.size else 0.0, float(gx_.max()) if g.size else 0.0
    if mx == 0.0 or md == 0.0 or lr == 0.0:
        return None
    if scaling == "batch":
        ax, ad, lr_q = update_scales(update_mode, lr, w_unit, sub, bl, dac_max, mx, md)
    else:
        k = lr * (1 << 14) / (w_unit * sub * bl)
        mxb = ax_.max(axis=1).astype(np.float64)
        mdb = gx_.max(axis=1).astype(np.float64)
        ok = (mxb > 0) & (mdb > 0)
        mxs, mds = np.where(ok, mxb, 1.0), np.where(ok, mdb, 1.0)
        ax = np.where(ok, np.sqrt(k * mds / mxs), 0.0)[:, None]
        ad = np.where(ok, np.sqrt(k * mxs / mds), 0.0)[:, None]
        lr_q = None
    tx = x.astype(np.float64) * ax
    td = g.astype(np.float64) * -ad
    if rounding == "nearest":
        tx, td = np.rint(tx), np.rint(td)
    else:
        tx = np.floor(tx + host_uniform(key, counter, 0, tx.size).reshape(tx.shape))
        td = np.floor(td + host_uniform(key, counter, 1, td.size).reshape(td.shape))
    return (np.clip(tx, -dac_max, dac_max).astype(np.int64),
            np.clip(td, -dac_max, dac_max).astype(np.int64), lr_q)
