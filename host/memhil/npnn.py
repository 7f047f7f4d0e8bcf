"""Crossbar MLP training in numpy, for a board without torch (a PYNQ-Z2: Python 3.10, numpy).

The same training as :mod:`memhil.nn` (``CrossbarLinear``, ``crossbar_mlp``, ``Trainer``), bit
for bit on the same seeds and data: the same initial weights (torch's ``nn.Linear`` init,
reproduced with :class:`TorchRNG`), the same data order (``torch.randperm`` of a generator seeded
with the run's seed), the same DAC coding, ADC auto-ranging, reads, pulse updates and register
writes, the same loss and gradient (:func:`memhil.hostmath.softmax_cross_entropy`, which both
paths call), the same evaluation (which restores the LFSRs). Losses, pulse counts, conductance
codes and accuracies equal the torch path's (``tests/test_npnn.py``). Imports numpy and the
standard library only (never torch, :mod:`memhil.nn` or :mod:`memhil.twin`).

Use::

    from memhil.config import DeviceConfig
    from memhil.npnn import NumpyMLP, NumpyTrainer

    cfg = DeviceConfig(levels=32, dynamic_range=15, update_mode="coincidence")
    model = NumpyMLP(xb, [64, 32, 10], config=cfg, seed=0)
    trainer = NumpyTrainer(model, epochs=15, batch=8, lr=0.1, seed=0)
    history = trainer.fit(x_train, y_train, x_test, y_test,
                          on_epoch=lambda rec: print(rec), on_batch=None)
    model.accuracy(x_test, y_test), model.predict(x_test[:5]), model.codes()

``xb`` is where the weights live:

* an open backend (a :class:`memhil.runtime.driver.Crossbar` to a board or a simulation, a
  ``memhil.twin.Twin``, ...): every layer on its own consecutive tiles of it
  (:func:`memhil.mapping.network_tiles` with the backend's geometry), as ``--backend sim|board``
  does; the device is configured with ``config`` first (``configure=False`` to skip that);
* ``"twin"``: one twin per layer, sized to it, with per-layer LFSR/d2d seeds, as
  ``memhil train --backend twin`` (needs torch: the twin is torch code);
* another kind (``"sim"``, ``"board"``): one device opened with
  :func:`memhil.backend.open_backend` (``backend_options`` such as ``bitfile=``, ``port=``);
* a list of open backends, one per layer (each configured with its layer's seeds).

On one shared device the numbers depend on its geometry too (padding, the initial ADC gain, the
LFSR seeding of its tiles): they equal the torch path's on a device of the same rows, cols and
tiles.

``NumpyTrainer(model, epochs, batch, lr, seed, lr_schedule="linear", lr_end=0.1)`` trains as
``memhil train`` does (``RunSpec`` fields of the same names; ``seed`` orders the data, the model's
``seed`` draws the initial weights: ``memhil train --seed S`` uses S for both). ``fit`` runs the
remaining epochs and returns ``trainer.history``, one dict per epoch with the keys of
``results.json``'s history: ``epoch``, ``lr``, ``train_loss``, ``train_accuracy``,
``test_accuracy`` (None without test data), ``pulses``, ``epoch_time_s``. ``on_epoch(rec)`` is
called after each epoch with that dict; ``on_batch(info)`` after each minibatch with a dict of
``epoch`` (1-based), ``batch`` (0-based), ``batches``, ``samples``, ``loss`` (the minibatch's
mean loss), ``correct``, ``pulses`` (of that minibatch). ``on_epoch`` returning ``False`` stops
``fit`` after that epoch; ``on_batch`` returning ``False`` stops it at once (that epoch is not
recorded, but its minibatches so far have updated the crossbar; the next ``fit`` starts a new
epoch). Inputs are float arrays ``(N, features)`` (float32 as in memhil's data sets), labels
integer classes.

Lower level: ``model.train_step(x, y, lr)`` (one minibatch: forward, loss, backward, pulse
update; returns a dict of ``loss``, ``correct``, ``pulses``, ``logits``), ``model.forward(x,
train=False)``, ``model.predict(x)``, ``model.accuracy(x, y)`` (evaluations restore the LFSRs,
so they do not change the training), ``model.codes()`` / ``model.weights()`` per layer,
``model.pulses``, ``model.close()``. :func:`init_mlp` gives torch's initial weights of
``memhil.nn.float_mlp(sizes, seed)``; :class:`TorchRNG` torch's CPU generator (mt19937:
``randperm``, float32 ``uniform_``).

What the numpy path does not have: checkpoints and ``--resume``, the float baseline, layers
without bias, a CUDA twin.
"""
from __future__ import annotations

import contextlib
import math
import time

import numpy as np

from memhil import hostmath
from memhil.backend import open_backend
from memhil.config import DeviceConfig, UpdateCoding
from memhil.mapping import (MAX_COLS, MAX_ROWS, fit_network, layer_seed, network_tiles,
                            open_fitted, plan_tiles, reg_cache)

M32 = 0xFFFFFFFF


# ---------------------------------------------------------------------------- torch's RNG
class TorchRNG:
    """torch's CPU generator after ``manual_seed(seed)``, in numpy: its mt19937 words,
    ``torch.randperm(n, generator=g)`` and float32 ``tensor.uniform_(lo, hi)``.

    (torch's ``mt19937`` seeds its state with the low 32 bits of ``seed``; ``randperm`` of
    ``n`` below ~2^28 swaps ``r[i]`` with ``r[i + word % (n - i)]`` for ``i = 0..n-2``; a
    float32 uniform is ``(word & (2^24 - 1)) * 2^-24 * (hi - lo) + lo`` rounded once.)
    """

    N, M = 624, 397

    def __init__(self, seed: int = 0):
        mt = [int(seed) & M32]
        for j in range(1, self.N):
            p = mt[-1]
            mt.append((1812433253 * (p ^ (p >> 30)) + j) & M32)
        self._mt = np.array(mt, dtype=np.uint64)
        self._buf = np.zeros(0, dtype=np.uint64)

    def _block(self) -> np.ndarray:
        """Twist the state (the next 624 words), in four vectorized steps (each depends only
        on words that the steps before it produced)."""
        N, M = self.N, self.M
        mt = self._mt
        upper, lower, a = np.uint64(0x80000000), np.uint64(0x7FFFFFFF), np.uint64(0x9908B0DF)
        one = np.uint64(1)
        for lo, hi in ((0, N - M), (N - M, 2 * (N - M)), (2 * (N - M), N - 1), (N - 1, N)):
            i = np.arange(lo, hi)
            y = (mt[i] & upper) | (mt[(i + 1) % N] & lower)
            mt[i] = mt[(i + M) % N] ^ (y >> one) ^ np.where((y & one) != 0, a, np.uint64(0))
        y = mt.copy()
        y ^= y >> np.uint64(11)
        y ^= (y << np.uint64(7)) & np.uint64(0x9D2C5680)
        y ^= (y << np.uint64(15)) & np.uint64(0xEFC60000)
        y &= np.uint64(M32)
        y ^= y >> np.uint64(18)
        return y

    def random(self, n: int) -> np.ndarray:
        """The next ``n`` 32-bit words (int64), as torch's ``generator->random()``."""
        parts, have = [self._buf], len(self._buf)
        while have < n:
            b = self._block()
            parts.append(b)
            have += len(b)
        a = np.concatenate(parts) if len(parts) > 1 else self._buf
        self._buf = a[n:]
        return a[:n].astype(np.int64)

    def randperm(self, n: int) -> np.ndarray:
        """``torch.randperm(n, generator=g)`` (int64) for ``n`` below ~2^28."""
        if n >= (M32 // 20):
            raise ValueError(f"randperm: n={n} is beyond what TorchRNG reproduces")
        r = list(range(n))
        z = self.random(max(0, n - 1)).tolist()
        for i in range(n - 1):
            k = i + z[i] % (n - i)
            r[i], r[k] = r[k], r[i]
        return np.array(r, dtype=np.int64)

    def uniform(self, n: int, lo: float, hi: float) -> np.ndarray:
        """``torch.empty(n).uniform_(lo, hi)`` (float32)."""
        lo32, hi32 = np.float32(lo), np.float32(hi)
        w = np.float64(np.float32(np.float64(hi32) - np.float64(lo32)))
        x = (self.random(n) & ((1 << 24) - 1)).astype(np.float64) * 2.0 ** -24
        return (x * w + np.float64(lo32)).astype(np.float32)


def init_mlp(sizes, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(weight (out, in), bias (out,))]`` float32: the initial weights of
    ``memhil.nn.float_mlp(sizes, seed)`` (torch's ``nn.Linear`` init: ``kaiming_uniform_(a=sqrt(5))``
    and a uniform bias, drawn in layer order from ``manual_seed(seed)``)."""
    rng = TorchRNG(seed)
    out = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
        bound = math.sqrt(3.0) * (gain / math.sqrt(a))
        w = rng.uniform(a * b, -bound, bound).reshape(b, a)
        bb = 1 / math.sqrt(a) if a > 0 else 0
        out.append((w, rng.uniform(b, -bb, bb)))
    return out


# ---------------------------------------------------------------------------- DAC coding
def row_codes(v: np.ndarray, dac: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row DAC codes of ``v`` (B, n) and the per-row scale (float64 per code):
    ``code = round(v / scale)`` in float64, half to even, ``scale = max|v| / dac`` (1 for a zero
    row), as ``memhil.nn.layer.row_codes``."""
    m = np.abs(v).max(axis=1).astype(np.float64)
    scale = np.where(m > 0, m / dac, 1.0)
    return np.rint(v.astype(np.float64) / scale[:, None]).astype(np.int64), scale


def scaled_codes(t: np.ndarray, mul: float, dac: int) -> np.ndarray:
    """``clamp(round(t * mul), -dac, dac)`` as int64, in float64, half to even."""
    return np.clip(np.rint(t.astype(np.float64) * mul), -dac, dac).astype(np.int64)


def _ints(a) -> np.ndarray:
    """A backend's answer (a numpy array, or a CPU torch tensor from the twin) as int64."""
    return np.asarray(a).astype(np.int64, copy=False)


# ---------------------------------------------------------------------------- a layer
class CrossbarLayer:
    """``y = x W^T + b`` with ``W`` and ``b`` on crossbar tiles: ``memhil.nn.CrossbarLinear`` in
    numpy (the same mapping of floats to codes, reads, ADC gains and pulse updates; see
    :mod:`memhil.nn.layer`).

    ``backend``: an open backend; ``tiles``: its tile indices, one per block of
    :func:`memhil.mapping.plan_tiles` with the backend's geometry (default ``0..n-1``).
    ``weight``/``bias``: the initial float weights (programmed onto nominal levels).
    ``coding``/``coding_seed``: the host's update coding and the key of its stochastic
    rounding, as ``CrossbarLinear``'s.
    """

    def __init__(self, in_features: int, out_features: int, config: DeviceConfig, backend,
                 tiles=None, weight=None, bias=None, w_range: float = 4.0,
                 has_bias: bool = True, coding=None, coding_seed: int | None = None):
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.has_bias = bool(has_bias)
        self.config = config
        self.coding = UpdateCoding.from_dict(coding)
        self.coding.check_mode(config.update_mode)
        self.coding_seed = int(config.seed if coding_seed is None else coding_seed)
        self.updates = 0                 # pulse updates sent (the stochastic rounding's counter)
        self.n_in = self.in_features + (1 if self.has_bias else 0)
        self.backend = backend
        rows, cols = backend.rows, backend.cols
        blocks = plan_tiles(self.out_features, self.n_in, rows, cols)
        if tiles is None:
            tiles = list(range(len(blocks)))
        if len(tiles) != len(blocks):
            raise ValueError(f"CrossbarLayer({in_features}, {out_features}) needs "
                             f"{len(blocks)} tiles of {rows}x{cols}, got tiles={tiles!r}")
        self.rows, self.cols = rows, cols
        self.blocks = [(int(t), *b) for t, b in zip(tiles, blocks)]
        self.regs = reg_cache(backend)
        self.cmax = config.cmax
        self.sub = 1 << config.sub_bits
        self.dac_max = config.dac_max
        self.adc_hi = (1 << (config.adc_bits - 1)) - 1
        self.bound = 1.0 / math.sqrt(self.in_features)
        self.w_range = float(w_range)
        self.w_unit = self.w_range * self.bound / self.cmax
        s0 = hostmath.initial_shift(cols, self.dac_max, self.cmax, self.adc_hi)
        self.shift = {"fwd": [s0] * len(self.blocks), "bwd": [s0] * len(self.blocks)}
        self.pulses = 0
        self.training = True
        self._pending: list = []
        if weight is not None:
            self.program(weight, bias)

    # ------------------------------------------------------------------ programming
    def program(self, weight, bias=None) -> None:
        """Program float weights (and bias) onto nominal conductance levels."""
        w = np.asarray(weight, dtype=np.float64).reshape(self.out_features, self.in_features)
        if self.has_bias:
            b = np.zeros(self.out_features) if bias is None else \
                np.asarray(bias, dtype=np.float64).reshape(self.out_features)
            w = np.concatenate([w, b[:, None]], axis=1)
        L = self.config.levels
        lvl = np.clip(np.rint(w / (self.w_unit * self.sub)), -(L - 1), L - 1).astype(np.int64)
        mid = (L - 1) // 2
        gp = np.clip(mid + (lvl + 1) // 2, 0, L - 1) * self.sub
        gm = np.clip(mid - lvl // 2, 0, L - 1) * self.sub
        self.load_codes(gp, gm)

    def load_codes(self, gp, gm) -> None:
        """Program exact codes of the whole (out, in + 1) matrix; padding cells get equal
        codes (weight 0)."""
        gp, gm = _ints(gp), _ints(gm)
        pad = ((self.config.levels - 1) // 2) * self.sub
        for t, r0, r1, c0, c1 in self.blocks:
            tp = np.full((self.rows, self.cols), pad, dtype=np.int64)
            tm = tp.copy()
            tp[: r1 - r0, : c1 - c0] = gp[r0:r1, c0:c1]
            tm[: r1 - r0, : c1 - c0] = gm[r0:r1, c0:c1]
            self.backend.write_cells(t, 0, tp.reshape(-1), tm.reshape(-1))

    def codes(self) -> tuple[np.ndarray, np.ndarray]:
        """Conductance codes ``(c+, c-)`` of the whole (out, in + 1) matrix, read from the
        tiles (int64)."""
        gp = np.zeros((self.out_features, self.n_in), dtype=np.int64)
        gm = np.zeros_like(gp)
        for t, r0, r1, c0, c1 in self.blocks:
            p, m = self.backend.read_cells(t, 0, self.rows * self.cols)
            p = _ints(p).reshape(self.rows, self.cols)
            m = _ints(m).reshape(self.rows, self.cols)
            gp[r0:r1, c0:c1] = p[: r1 - r0, : c1 - c0]
            gm[r0:r1, c0:c1] = m[: r1 - r0, : c1 - c0]
        return gp, gm

    def effective_weight(self) -> np.ndarray:
        """The float matrix ``(c+ - c-) * w_unit`` including the bias column, float64."""
        gp, gm = self.codes()
        return (gp - gm).astype(np.float64) * self.w_unit

    # ------------------------------------------------------------------ reads
    def _ranged(self, op, tile: int, v: np.ndarray, s: int):
        """Read at shift ``s``; a read that saturates is repeated with the shift raised by 2."""
        for _ in range(16):
            self.regs.set("ADC_SHIFT", s)
            o = _ints(op(tile, v))
            top = int(np.abs(o).max()) if o.size else 0
            if s >= hostmath.MAX_SHIFT or top < self.adc_hi:
                break
            s = min(hostmath.MAX_SHIFT, s + 2)
        return o, s, top

    def safe_shift(self, direction: str) -> int:
        n = self.cols if direction == "fwd" else self.rows
        return hostmath.safe_shift(n, self.dac_max, self.cmax, self.adc_hi)

    def _read(self, direction: str, k: int, tile: int, v: np.ndarray):
        """One read with the auto-ranging ADC gain (training: the previous shift, then adapted;
        evaluation: a coarse read at :meth:`safe_shift` picks the shift, the layer's state is
        not changed). Returns the ADC codes and the shift."""
        op = self.backend.forward if direction == "fwd" else self.backend.transpose
        if self.training:
            o, s, top = self._ranged(op, tile, v, self.shift[direction][k])
            self.shift[direction][k] = hostmath.target_shift(top, s, self.adc_hi)
        else:
            o, s, top = self._ranged(op, tile, v, self.safe_shift(direction))
            s1 = hostmath.target_shift(top, s, self.adc_hi)
            if s1 < s:
                o, s, _ = self._ranged(op, tile, v, s1)
        return o, s

    def _read_all(self, direction: str, codes: np.ndarray, scale: np.ndarray,
                  n_out: int) -> np.ndarray:
        """Read every tile in one direction: float64 outputs (B, n_out)."""
        B = codes.shape[0]
        fwd = direction == "fwd"
        width = self.cols if fwd else self.rows
        if len(self.blocks) == 1 and codes.shape[1] == width:      # one tile, no padding
            t, r0, r1, c0, c1 = self.blocks[0]
            o, s = self._read(direction, 0, t, codes)
            n = r1 - r0 if fwd else c1 - c0
            if n != o.shape[1]:
                o = o[:, :n]
            return o * (scale * (self.w_unit * float(1 << s)))[:, None]
        y = np.zeros((B, n_out), dtype=np.float64)
        for k, (t, r0, r1, c0, c1) in enumerate(self.blocks):
            v = np.zeros((B, width), dtype=np.int64)
            if fwd:
                v[:, : c1 - c0] = codes[:, c0:c1]
            else:
                v[:, : r1 - r0] = codes[:, r0:r1]
            o, s = self._read(direction, k, t, v)
            if fwd:
                y[:, r0:r1] += o[:, : r1 - r0].astype(np.float64) * float(1 << s)
            else:
                y[:, c0:c1] += o[:, : c1 - c0].astype(np.float64) * float(1 << s)
        return y * (scale[:, None] * self.w_unit)

    def read_forward(self, x_aug: np.ndarray) -> np.ndarray:
        xc, sx = row_codes(x_aug, self.dac_max)
        return self._read_all("fwd", xc, sx, self.out_features).astype(x_aug.dtype)

    def read_transpose(self, gy: np.ndarray) -> np.ndarray:
        dc, sd = row_codes(gy, self.dac_max)
        return self._read_all("bwd", dc, sd, self.n_in).astype(gy.dtype)

    def augment(self, x: np.ndarray) -> np.ndarray:
        """``x`` with the bias column's constant input 1 appended (when the layer has a bias)."""
        if not self.has_bias:
            return x
        return np.concatenate([x, np.ones((x.shape[0], 1), dtype=x.dtype)], axis=1)

    # ------------------------------------------------------------------ updates
    def update_codes(self, x: np.ndarray, gy: np.ndarray, lr: float):
        """The integer ``(x_codes, d_codes, LR_Q or None)`` of the pulse update, or None."""
        cfg = self.config
        if not self.coding.is_default:
            return hostmath.coded_update(cfg.update_mode, lr, self.w_unit, self.sub, cfg.bl,
                                         self.dac_max, x, gy, self.coding.scaling,
                                         self.coding.rounding, self.coding_seed, self.updates)
        mx, md = float(np.abs(x).max()), float(np.abs(gy).max())
        if mx == 0.0 or md == 0.0 or lr == 0.0:
            return None
        ax, ad, lr_q = hostmath.update_scales(cfg.update_mode, lr, self.w_unit, self.sub, cfg.bl,
                                              self.dac_max, mx, md)
        return scaled_codes(x, ax, self.dac_max), scaled_codes(gy, -ad, self.dac_max), lr_q

    def pulse_update(self, lr: float) -> int:
        """Send the kept minibatch to the crossbar as stochastic pulse updates; the pulses."""
        if not self._pending:
            return 0
        pending = list(self._pending)
        self._pending.clear()
        if len(pending) == 1:
            x, gy = pending[0]
        else:
            x = np.concatenate([p[0] for p in pending])
            gy = np.concatenate([p[1] for p in pending])
        got = self.update_codes(x, gy, lr)
        self.updates += 1
        if got is None:
            return 0
        return self.send_update(*got)

    def send_update(self, xc: np.ndarray, dc: np.ndarray, lr_q) -> int:
        """The pulse update of integer codes ``xc`` ``(B, in)`` and ``dc`` ``(B, out)`` (LR_Q
        written first unless None) on every tile of the layer; the pulses fired."""
        if lr_q is not None:
            self.regs.set("LR_Q", lr_q)
        B = xc.shape[0]
        # contract v3: one update applies at most the backend's batch_max samples; a larger
        # minibatch is applied in chunks of it, here, so every backend does the same
        step = self.backend.update_batch_max()
        fired = 0
        for t, r0, r1, c0, c1 in self.blocks:
            if (r1 - r0, c1 - c0) == (self.rows, self.cols) == (dc.shape[1], xc.shape[1]):
                xv, dv = xc, dc
            else:
                xv = np.zeros((B, self.cols), dtype=np.int64)
                dv = np.zeros((B, self.rows), dtype=np.int64)
                xv[:, : c1 - c0] = xc[:, c0:c1]
                dv[:, : r1 - r0] = dc[:, r0:r1]
            for b in range(0, B, step):          # chunks of update_batch_max, each applied
                fired += int(self.backend.update(t, xv[b: b + step], dv[b: b + step]))
        self.pulses += fired
        return fired


# ---------------------------------------------------------------------------- the network
class NumpyMLP:
    """``Linear-ReLU-...-Linear`` on crossbar tiles (see the module docstring for ``backend``).

    ``sizes``: layer widths, e.g. ``[64, 32, 10]``; ``seed``: the initial weights (those of
    ``memhil.nn.float_mlp(sizes, seed)``) unless ``weights`` (``[(W, b)]`` per layer) are given;
    ``config``: the device (:class:`~memhil.config.DeviceConfig`); ``w_range``: as
    ``CrossbarLinear``'s; ``coding``: the host's update coding
    (:class:`~memhil.config.UpdateCoding` or its dict), layer ``i``'s stochastic rounding keyed
    by ``layer_seed(seed, i)`` as in ``memhil.nn.crossbar_mlp``.
    """

    def __init__(self, backend, sizes, *, seed: int = 0, config: DeviceConfig | None = None,
                 w_range: float = 4.0, weights=None, configure: bool = True,
                 backend_options: dict | None = None, coding=None):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes={sizes!r}: need at least two positive layer widths")
        self.sizes = sizes
        self.config = config = config or DeviceConfig()
        pairs = list(zip(sizes[:-1], sizes[1:]))
        init = init_mlp(sizes, seed) if weights is None else list(weights)
        if len(init) != len(pairs):
            raise ValueError(f"weights: {len(init)} layers given, the network has {len(pairs)}")
        self._owned: list = []
        self.layers: list[CrossbarLayer] = []
        self.coding = coding = UpdateCoding.from_dict(coding)
        coding.check_mode(config.update_mode)
        ck = [{"coding": coding, "coding_seed": layer_seed(seed, i)} for i in range(len(pairs))]
        if isinstance(backend, str) and backend == "twin":
            for i, (a, b) in enumerate(pairs):
                cfg = self._layer_config(i)
                rows, cols = min(b, MAX_ROWS), min(a + 1, MAX_COLS)
                n = len(plan_tiles(b, a + 1, rows, cols))
                xb = open_backend("twin", rows, cols, n, cfg)
                self._owned.append(xb)
                self.layers.append(CrossbarLayer(a, b, cfg, xb, None, *init[i], w_range=w_range,
                                                 **ck[i]))
        elif isinstance(backend, (list, tuple)):
            if len(backend) != len(pairs):
                raise ValueError(f"{len(backend)} backends for {len(pairs)} layers")
            for i, ((a, b), xb) in enumerate(zip(pairs, backend)):
                cfg = self._layer_config(i)
                if configure:
                    xb.configure(cfg)
                self.layers.append(CrossbarLayer(a, b, cfg, xb, None, *init[i], w_range=w_range,
                                                 **ck[i]))
        else:
            if isinstance(backend, str) and backend == "board":
                # the bitstream's own tile shape: the layers are split onto it
                xb, tiles_of = open_fitted(backend, sizes, config, **(backend_options or {}))
                self._owned.append(xb)
            elif isinstance(backend, str):
                rows, cols, tiles_of = network_tiles(sizes)
                xb = open_backend(backend, rows, cols, sum(map(len, tiles_of)), config,
                                  **(backend_options or {}))
                self._owned.append(xb)
            else:
                xb = backend
                tiles_of = fit_network(sizes, xb.rows, xb.cols, xb.tiles)
                if configure:
                    xb.configure(config)
            for i, (a, b) in enumerate(pairs):
                self.layers.append(CrossbarLayer(a, b, config, xb, tiles_of[i], *init[i],
                                                 w_range=w_range, **ck[i]))
        self._cache: list = []

    def _layer_config(self, i: int) -> DeviceConfig:
        c = self.config
        return c.replace(seed=layer_seed(c.seed, i), d2d_seed=layer_seed(c.d2d_seed, i),
                         stuck_seed=layer_seed(c.stuck_seed, i))

    # ------------------------------------------------------------------ inference
    @staticmethod
    def _inputs(x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):
            x = x.astype(np.float32)
        if x.ndim == 1:
            return x[None]
        return x.reshape(x.shape[0], -1) if x.ndim > 2 else x

    def forward(self, x, train: bool = False) -> np.ndarray:
        """The logits ``(B, classes)`` of ``x`` ``(B, features)``. ``train=True``: training reads
        (adaptive ADC gains) and keeps what :meth:`backward` needs. An evaluation outside
        :meth:`predict` advances the LFSRs when read noise is on: wrap it in
        :meth:`preserved_lfsrs` when training continues afterwards."""
        h = self._inputs(x)
        if h.shape[1] != self.sizes[0]:
            raise ValueError(f"expected {self.sizes[0]} input features, got shape {h.shape}")
        self._cache = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            layer.training = bool(train)
            xa = layer.augment(h)
            y = layer.read_forward(xa)
            if train:
                self._cache.append((xa, y))
            h = np.maximum(y, y.dtype.type(0)) if i < last else y
        return h

    @contextlib.contextmanager
    def preserved_lfsrs(self):
        """Run the body with the LFSR states of every tile of the network saved before and
        written back after (``memhil.nn.preserved_lfsrs``)."""
        saved, seen = [], set()
        for layer in self.layers:
            b = layer.backend
            for t, *_ in layer.blocks:
                if (id(b), t) not in seen:
                    seen.add((id(b), t))
                    saved.append((b, t, b.read_rng(t, 0, b.rows + b.cols)))
        try:
            yield
        finally:
            for b, t, states in saved:
                b.write_rng(t, 0, states)

    def predict(self, x, batch: int = 512) -> np.ndarray:
        """Predicted classes of ``x`` (evaluation reads, in batches; the LFSRs are restored)."""
        x = np.asarray(x, dtype=np.float32)
        out = []
        with self.preserved_lfsrs():
            for i in range(0, len(x), batch):
                out.append(self.forward(x[i: i + batch]).argmax(axis=1))
        return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    def accuracy(self, x, y, batch: int = 512) -> float:
        """The fraction of ``x`` classified as ``y`` (nan for no samples)."""
        y = np.asarray(y).reshape(-1)
        if len(y) == 0:
            return float("nan")
        return int(np.count_nonzero(self.predict(x, batch) == y)) / len(y)

    # ------------------------------------------------------------------ training
    def backward(self, grad: np.ndarray) -> None:
        """Back-propagate ``d loss / d logits`` of the last :meth:`forward` (``train=True``):
        each layer keeps ``(x, dL/dy)`` for :meth:`step`; transpose reads give ``dL/dx`` (not
        for the first layer)."""
        if len(self._cache) != len(self.layers):
            raise RuntimeError("backward() needs a forward(x, train=True) before it")
        g = grad
        for i in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[i]
            xa, _ = self._cache[i]
            layer._pending.append((xa, g))
            if i > 0:
                gx = layer.read_transpose(g)[:, : layer.in_features]
                y_prev = self._cache[i - 1][1]
                g = np.where(y_prev > 0, gx, gx.dtype.type(0))
        self._cache = []

    def step(self, lr: float) -> int:
        """Pulse-update every layer with what :meth:`backward` kept; the pulses fired."""
        return sum(layer.pulse_update(float(lr)) for layer in self.layers)

    def zero_grad(self) -> None:
        for layer in self.layers:
            layer._pending.clear()

    def train_step(self, x, y, lr: float) -> dict:
        """One minibatch: forward, loss (:func:`memhil.hostmath.softmax_cross_entropy`),
        backward, pulse update. Returns ``loss``, ``correct``, ``pulses`` and ``logits``."""
        y = np.asarray(y).reshape(-1)
        self.zero_grad()
        out = self.forward(x, train=True)
        loss, grad = hostmath.softmax_cross_entropy(out, y)
        self.backward(grad.astype(out.dtype))
        pulses = self.step(lr)
        return {"loss": loss, "correct": int(np.count_nonzero(out.argmax(axis=1) == y)),
                "pulses": pulses, "logits": out}

    # ------------------------------------------------------------------ state
    @property
    def pulses(self) -> int:
        """Pulses fired by all layers since they were made."""
        return sum(layer.pulses for layer in self.layers)

    def codes(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer, the conductance codes ``(c+, c-)`` (out, in + 1), read from the tiles."""
        return [layer.codes() for layer in self.layers]

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per layer, the float weights ``(W (out, in), b (out,))`` the codes represent."""
        out = []
        for layer in self.layers:
            w = layer.effective_weight()
            out.append((w[:, : layer.in_features], w[:, -1]))
        return out

    def close(self) -> None:
        """Close the backends this model opened (not one it was given)."""
        for xb in self._owned:
            xb.close()
        self._owned = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------- the trainer
class NumpyTrainer:
    """Trains a :class:`NumpyMLP` as ``memhil.nn.Trainer`` trains ``RunSpec(epochs, batch, lr,
    seed, lr_schedule, lr_end)`` (see the module docstring)."""

    def __init__(self, model: NumpyMLP, *, epochs: int = 10, batch: int = 8, lr: float = 0.1,
                 seed: int = 0, lr_schedule: str = "linear", lr_end: float = 0.1):
        if int(epochs) < 1 or int(batch) < 1 or not lr > 0:
            raise ValueError(f"epochs={epochs}, batch={batch}, lr={lr}: need epochs >= 1, "
                             "batch >= 1, lr > 0")
        if lr_schedule not in ("linear", "constant"):
            raise ValueError(f"lr_schedule={lr_schedule!r}: one of 'linear', 'constant'")
        self.model = model
        self.epochs, self.batch = int(epochs), int(batch)
        self.lr, self.lr_end, self.lr_schedule = float(lr), float(lr_end), lr_schedule
        self.rng = TorchRNG(seed)
        self.epoch = 0
        self.history: list[dict] = []
        self.order: np.ndarray | None = None

    def lr_at(self, epoch: int) -> float:
        """Learning rate of (0-based) ``epoch`` (:func:`memhil.hostmath.lr_at`)."""
        return hostmath.lr_at(self.lr, epoch, self.epochs, self.lr_schedule, self.lr_end)

    def train_epoch(self, x, y, x_test=None, y_test=None, on_batch=None) -> dict | None:
        """One epoch over ``(x, y)`` in a new random order, then the test accuracy; returns
        the epoch's record (appended to :attr:`history`), or None when ``on_batch`` stopped it."""
        x = NumpyMLP._inputs(x)
        y = np.asarray(y).astype(np.int64).reshape(-1)
        n = len(y)
        if n == 0 or len(x) != n:
            raise ValueError(f"train_epoch: {len(x)} inputs and {n} labels (need as many, >= 1)")
        self.order = self.rng.randperm(n)
        lr = self.lr_at(self.epoch)
        tot_loss, correct, pulses = 0.0, 0, 0
        batches = (n + self.batch - 1) // self.batch
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, n, self.batch)):
            idx = self.order[i: i + self.batch]
            r = self.model.train_step(x[idx], y[idx], lr)
            pulses += r["pulses"]
            tot_loss += r["loss"] * len(idx)
            correct += r["correct"]
            if on_batch is not None:
                info = {"epoch": self.epoch + 1, "batch": k, "batches": batches,
                        "samples": len(idx), "loss": r["loss"], "correct": r["correct"],
                        "pulses": r["pulses"]}
                if on_batch(info) is False:
                    return None
        train_s = time.perf_counter() - t0
        test_acc = None
        if x_test is not None and y_test is not None:
            test_acc = self.model.accuracy(x_test, y_test)
        self.epoch += 1
        rec = {"epoch": self.epoch, "lr": lr, "train_loss": tot_loss / n,
               "train_accuracy": correct / n, "test_accuracy": test_acc, "pulses": pulses,
               "epoch_time_s": train_s}
        self.history.append(rec)
        return rec

    def fit(self, x, y, x_test=None, y_test=None, *, on_epoch=None, on_batch=None) -> list[dict]:
        """Train the remaining epochs; returns :attr:`history`. ``on_epoch(record)`` and
        ``on_batch(info)`` may return ``False`` to stop."""
        while self.epoch < self.epochs:
            rec = self.train_epoch(x, y, x_test, y_test, on_batch)
            if rec is None or (on_epoch is not None and on_epoch(rec) is False):
                break
        return self.history
