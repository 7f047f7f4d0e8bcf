"""The fused training step: one minibatch of a crossbar MLP in three native calls.

The plain step (:class:`memhil.nn.Trainer` without this) runs the network through torch's
autograd: per layer and minibatch a forward read, a transpose read (not for the first layer)
and a pulse update, each a dozen small torch operations around a native kernel, plus the
register writes, the ADC auto-ranging and the host's DAC coding. At batch 1 that glue, not the
crossbar arithmetic, is most of the time. :class:`FusedStep` does the same minibatch as

1. ``memhil_fused_forward`` (native.c): every layer's DAC coding, read with ADC auto-ranging,
   output scaling and ReLU;
2. the loss and its gradient, :func:`memhil.hostmath.softmax_cross_entropy` (Python);
3. ``memhil_fused_backward``: the transpose reads with auto-ranging, the ReLU masks;
4. the new ADC shifts (:func:`memhil.hostmath.target_shift`) and the update scales
   (:func:`memhil.hostmath.update_scales`) in Python, then ``memhil_fused_update``: every
   layer's update codes, pulse update and apply,

and keeps the twins' and layers' bookkeeping (registers, counters, caches, ADC shifts, pulse
counts) as the plain step leaves it. It is a speed path with the plain step's results bit for
bit: the same float32/float64 operations in the same order, the same integer kernels, the same
LFSR draws in the same order; ``tests/test_fused.py`` compares the two after every minibatch
(the twins' integer states, and the float32 inputs, outputs and gradients of every layer).

It is used when it applies, and the plain step runs otherwise: a ``Sequential`` of
:class:`CrossbarLinear` layers with ``ReLU`` between them, each on one tile of its own CPU
:class:`memhil.twin.Twin` that it fills exactly (so ``memhil train --backend twin`` with
layers of at most 1024 inputs and outputs), the native kernels loaded, a
:class:`CrossbarSGD` without float parameters, and per minibatch: at most every twin's
``batch_max`` samples (a larger minibatch is applied in chunks by the plain step), sums that fit
the kernels' int32 lanes, registers as the layers last wrote them.
``MEMHIL_FUSED=0`` turns it off.
"""
from __future__ import annotations

import ctypes
import operator
import os

import numpy as np
import torch
from torch import nn

from memhil import hostmath
from memhil.contract.spec import SPEC
from memhil.nn.layer import CrossbarLinear, CrossbarSGD
from memhil.twin import native
from memhil.twin.core import CODE_MAX, GAUSS_SHIFT, RN_FRAC, Twin

_RANGE_TRIES = 16               # CrossbarLinear._ranged: at most 16 reads, the shift raised by 2
_RANGE_STEP = 2
_TWIN_METHODS = ("forward", "transpose", "update", "write_reg", "_apply")
_SHIFT_LIMITS = SPEC.registers["ADC_SHIFT"].limits()
#: registers that a FusedStep's set-up reads once (the layers never write them)
_STATIC_REGS = ("CMAX", "RN_Q", "C0", "ADC_BITS", "BL", "UPDATE_MODE")
_static_regs = operator.itemgetter(*_STATIC_REGS)


def enabled() -> bool:
    """False when ``MEMHIL_FUSED=0``."""
    return os.environ.get("MEMHIL_FUSED", "1") != "0"


def _layers_of(model: nn.Module) -> list[CrossbarLinear] | None:
    """The crossbar layers of ``Linear-ReLU-...-Linear`` (else None)."""
    if not isinstance(model, nn.Sequential) or len(model) % 2 != 1:
        return None
    mods = list(model)
    for i, m in enumerate(mods):
        if i % 2 == 0 and type(m) is not CrossbarLinear:
            return None
        if i % 2 == 1 and type(m) is not nn.ReLU:
            return None
    return mods[::2]


def _fits(layer: CrossbarLinear) -> bool:
    """The layer sits on one tile of a native CPU twin of its own size."""
    b = layer.backend
    if type(b) is not Twin or b.device.type != "cpu" or b._native() is None:
        return False
    if any(name in vars(b) for name in _TWIN_METHODS):
        return False
    if len(layer.blocks) != 1:
        return False
    t, r0, r1, c0, c1 = layer.blocks[0]
    return (r0, c0, r1 - r0, c1 - c0) == (0, 0, b.rows, b.cols) and \
        (b.rows, b.cols) == (layer.out_features, layer.n_in) and \
        layer.cols == b.cols and layer.rows == b.rows


class FusedStep:
    """The fused training step of ``model`` with the optimizer ``opt`` (see the module
    docstring); :meth:`of` gives one, or None when the model is not of the form it handles.

    Made for one stretch of training (``Trainer`` makes one per epoch): what does not change
    while training runs (the layers' tiles and their buffers, the registers that only a
    configuration writes) is taken at construction and checked by :meth:`ready`."""

    def __init__(self, model: nn.Module, opt: CrossbarSGD, layers: list[CrossbarLinear]):
        self.model, self.opt, self.layers = model, opt, layers
        self.lib = native.library()
        n = len(layers)
        self.net = (native.FusedLayer * n)()
        self.net_ptr = ctypes.addressof(self.net)
        k = native.FusedConst()
        k.t8 = native.t8_table().data_ptr()
        k.fb = native.feedback_table().data_ptr()
        tw = layers[0].backend
        k.gauss, k.root = tw._gauss.data_ptr(), tw._root.data_ptr()
        k.rn_frac, k.gauss_shift, k.read_k8 = RN_FRAC, GAUSS_SHIFT, native.READ_K8
        k.code_max = CODE_MAX
        k.max_shift, k.max_tries, k.shift_step = hostmath.MAX_SHIFT, _RANGE_TRIES, _RANGE_STEP
        self.const = k
        self.const_ptr = ctypes.addressof(k)
        self._tables = (tw._gauss, tw._root)          # (kept alive with the pointers)
        self.features = layers[0].in_features
        # one apply per minibatch: at most every twin's BATCH_MAX samples (the batch sums of
        # B <= 256 samples stay below 2^23, contract §6)
        self.max_batch = min(m.backend.batch_max for m in layers)
        self._regs, self._tile = [], []
        for L, m in zip(self.net, layers):
            tile = m.blocks[0][0]
            b = m.backend
            r = b.regs
            L.R, L.C, L.bias = b.rows, b.cols, int(m.has_bias)
            L.gp, L.gm = (t[tile].data_ptr() for t in (b.gp, b.gm))
            L.sums = b.sums_buf().data_ptr()
            L.w16 = b._w16_buf(tile).data_ptr()
            L.row_lfsr, L.col_lfsr = b.row_lfsr[tile].data_ptr(), b.col_lfsr[tile].data_ptr()
            L.range_hi, L.dac = m.adc_hi, m.dac_max
            bits = r["ADC_BITS"]
            L.adc_lo, L.adc_hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
            L.rn_q, L.two_c0 = r["RN_Q"], 2 * r["C0"]
            # the registers this set-up depends on (a write to one between steps: plain step)
            self._regs.append(_static_regs(r))
            self._tile.append(tile)
        self._fits_int32 = all(
            r[0] <= 0x7FFF and max(m.backend.rows, m.backend.cols) * CODE_MAX * r[0]
            * (2 if r[1] else 1) < (1 << 31) for m, r in zip(layers, self._regs))
        self._bufs: dict = {}

    @classmethod
    def of(cls, model: nn.Module, opt) -> "FusedStep | None":
        """A fused step for ``model`` trained by ``opt``, or None (the plain step then runs)."""
        if not enabled() or type(opt) is not CrossbarSGD or opt.float_opt is not None:
            return None
        layers = _layers_of(model)
        if not layers or not all(_fits(m) for m in layers):
            return None
        if any(a.out_features != b.in_features for a, b in zip(layers, layers[1:])):
            return None
        if native.library() is None:
            return None
        return cls(model, opt, layers)

    # ------------------------------------------------------------------ per minibatch
    def _buffers(self, B: int) -> list:
        """Per layer the float32 buffers (xin, y, gy) of a minibatch of ``B`` and their
        addresses (kept for the last few batch sizes)."""
        bufs = self._bufs.get(B)
        if bufs is None:
            if len(self._bufs) > 4:
                self._bufs.clear()
            bufs = []
            for L in self.net:
                arrs = tuple(np.empty((B, n), dtype=np.float32) for n in (L.C, L.R, L.R))
                bufs.append((arrs, tuple(a.ctypes.data for a in arrs)))
            self._bufs[B] = bufs
        return bufs

    def ready(self, xb) -> bool:
        """Whether the minibatch ``xb`` (numpy or torch) can take the fused step (else the
        plain step, which gives the same results, runs): finite float32 inputs (B, features),
        B at most every twin's batch_max; every layer in training mode, its registers as at
        construction, its register cache in
        step with the twin, its ADC shifts within the register's range."""
        if isinstance(xb, torch.Tensor):
            if xb.device.type != "cpu" or xb.requires_grad:
                return False
            xb = xb.numpy()
        if xb.dtype != np.float32 or xb.ndim != 2 or xb.shape[1] != self.features or \
                not 1 <= xb.shape[0] <= self.max_batch or not self._fits_int32:
            return False
        if not np.isfinite(xb).all():            # (a NaN input: torch's max|x| is NaN)
            return False
        lo, hi = _SHIFT_LIMITS
        for m, tile, regs in zip(self.layers, self._tile, self._regs):
            if not m.training or m._pending:
                return False
            b = m.backend
            r = b.regs
            if _static_regs(r) != regs:
                return False
            cached = m.regs.values
            for name in ("ADC_SHIFT", "LR_Q"):
                if name in cached and cached[name] != r[name]:
                    return False
            sh = m.shift
            if not (lo <= sh["fwd"][0] <= hi and lo <= sh["bwd"][0] <= hi):
                return False
        return True

    def step(self, xb, yb) -> tuple[float, int, int]:
        """One minibatch (``xb`` float32 (B, features), ``yb`` labels; numpy arrays or CPU
        tensors) that :meth:`ready` accepted: forward, loss, backward and pulse updates, as
        ``Trainer`` does them with autograd. Returns the loss, the number of correct
        predictions and the pulses fired."""
        if isinstance(xb, torch.Tensor):
            xb = xb.numpy()
        if isinstance(yb, torch.Tensor):
            yb = yb.numpy()
        xb = np.ascontiguousarray(xb)
        B = xb.shape[0]
        lib, net, k, layers = self.lib, self.net, self.const_ptr, self.layers
        threads = torch.get_num_threads()
        bufs = self._buffers(B)
        for m, L, tile, (_, ptrs) in zip(layers, net, self._tile, bufs):
            b = m.backend
            if not b._w16_ok[tile]:                  # the int16 weights the reads use
                lib.memhil_weights16(L.R, L.C, L.gp, L.gm, L.w16, 0)
                b._w16_ok[tile] = True
            L.xin, L.y, L.gy = ptrs
            sh = m.shift
            L.shift[0], L.shift[1] = sh["fwd"][0], sh["bwd"][0]
            L.w_unit = m.w_unit
        lib.memhil_fused_forward(len(net), self.net_ptr, k, B, xb.ctypes.data, threads)
        for m, L in zip(layers, net):
            _after_read(m, L, 0, "fwd", B)
        logits = bufs[-1][0][1]
        loss, grad = hostmath.softmax_cross_entropy(logits, yb)
        correct = int(np.count_nonzero(logits.argmax(axis=1) == yb))
        if grad.dtype != np.float64 or not grad.flags.c_contiguous:
            grad = np.ascontiguousarray(grad, dtype=np.float64)
        lib.memhil_fused_backward(len(net), self.net_ptr, k, B, grad.ctypes.data, threads)
        for i in range(len(net) - 1, 0, -1):
            _after_read(layers[i], net[i], 1, "bwd", B)
        lr = self.opt.lr
        keep = []                                    # the apply parameters, alive until used
        update_scales = hostmath.update_scales
        hosted = []                                  # layers with a host-side coding
        for i, (m, L, tile) in enumerate(zip(layers, net, self._tile)):
            L.do_update = 0
            if not m.coding.is_default:
                hosted.append(i)
                continue
            vars(m)["updates"] += 1                  # (as CrossbarLinear.send_update counts)
            mx, md = L.mx, L.md
            if mx == 0.0 or md == 0.0 or lr == 0.0:
                continue
            cfg = m.config
            ax, ad, lr_q = update_scales(cfg.update_mode, lr, m.w_unit, m.sub, cfg.bl, m.dac_max,
                                         mx, md)
            b = m.backend
            if lr_q is not None:
                m.regs.set("LR_Q", lr_q)
                L.lr_q = lr_q
            else:
                L.lr_q = -1
            L.ax, L.ad = ax, ad
            setup = b._setup()
            keep.append(setup)
            params, steps = setup
            L.ap, L.steps = ctypes.addressof(params), steps.data_ptr()
            if params.d2d:
                fp, fm = b.d2d_factors()
                L.fp, L.fm = fp[tile].data_ptr(), fm[tile].data_ptr()
            else:
                L.fp = L.fm = None
            stuck = b._stuck(tile)                   # (cached by the twin: alive until used)
            L.stuck = None if stuck is None else stuck.data_ptr()
            L.do_update = 1
        lib.memhil_fused_update(len(net), self.net_ptr, k, B, threads)
        fired = 0
        for i in hosted:           # memhil.hostmath's coding, then the twin's own update
            xin, _, gy = bufs[i][0]
            fired += layers[i].send_update(torch.from_numpy(xin), torch.from_numpy(gy), lr)
        for m, L, tile in zip(layers, net, self._tile):
            if not L.do_update:
                continue
            b = m.backend
            r = b.regs
            p = L.pulses
            b._count_updates(B)
            b._count_pulses(p, L.counts[0], L.counts[1])
            b._invalidate(tile, keep_w16=True)
            vars(m)["pulses"] += p                   # (m.pulses += p without Module.__setattr__)
            fired += p
        self.opt.last_pulses = fired
        return loss, correct, fired


def _after_read(m: CrossbarLinear, L, d: int, direction: str, B: int) -> None:
    """The bookkeeping of one ranged read (``d``: 0 forward, 1 transpose): the twin's
    ADC_SHIFT register (and the layer's cache of it) at the last read's shift, its read
    counter, the layer's next shift (:func:`memhil.hostmath.target_shift`)."""
    r = m.backend.regs
    s_reg = L.sreg[d]
    r["ADC_SHIFT"] = s_reg
    m.regs.values["ADC_SHIFT"] = s_reg
    m.backend._count_reads(B * L.reads[d], bool(d))
    m.shift[direction][0] = hostmath.target_shift(L.top[d], L.shift[d], m.adc_hi)
