"""``CrossbarLinear``: a drop-in ``torch.nn.Linear`` whose weights live on a crossbar.

Mapping between floats and the crossbar's integers (the host's business, contract §9):

* **Weights.** ``W = (c+ - c-) * w_unit``: one conductance code is worth ``w_unit``. The layer's
  representable range ``[-w_max, w_max]`` (``w_max = CMAX * w_unit``) is ``w_range`` times the
  bound of the float initialisation (``1/sqrt(in_features)``, torch's default for ``Linear``).
  The initial weights are programmed onto nominal levels: a weight of ``k`` levels becomes
  ``c+ = mid + ceil(k/2)``, ``c- = mid - floor(k/2)`` levels with ``mid = (levels-1)//2``.
  A bias is one more crossbar column driven by a constant input of 1.
* **Forward read.** Each sample's input is scaled so that its largest magnitude uses the DAC
  range (``x_code = round(x * dac_max / max|x|)``); the ADC gain ``ADC_SHIFT`` auto-ranges so
  that outputs use about half the ADC range (a read that saturates is repeated with a larger
  shift; in ``eval()`` mode a coarse read picks the shift, see :meth:`CrossbarLinear._read`);
  ``y = code * 2^ADC_SHIFT * w_unit * max|x| / dac_max``.
* **Backward.** ``dL/dx = W^T dL/dy`` comes from the transpose read, scaled the same way.
  ``dL/dW`` is never formed: ``x`` and ``dL/dy`` of the minibatch are kept for the update.
* **Update** (:meth:`CrossbarLinear.pulse_update`, called by :class:`CrossbarSGD`): the whole
  minibatch is one update (``UPDATE_B``: the batch sums, then one apply), with ``d = -dL/dy`` so
  that the expected code change equals ``-lr/w_unit * sum_b dL/dy_b x_b^T`` (contract §6); a
  minibatch larger than the backend's ``update_batch_max()`` (the build's BATCH_MAX) is applied
  in chunks of that many samples, in order, the same on every backend:

  - coincidence: ``E[pulses] = BL * sum d x / 2^14`` and one pulse is ``2^SUB_BITS`` codes, so the
    code scales must satisfy ``a_x * a_d = lr * 2^14 / (w_unit * 2^SUB_BITS * BL)``; they are
    balanced (``max|x_code| = max|d_code|``, aihwkit's update management) and clipped at the DAC
    range (stream-bit probability 127/128);
  - rounding: ``x`` uses the full DAC range, and ``LR_Q * a_x * a_d = lr * 2^16 / (w_unit *
    2^SUB_BITS)`` with ``LR_Q`` the smallest integer (>= 1) that keeps ``d`` within the DAC range.

  Small gradients mostly round to zero pulses; only their expectation is kept.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from memhil import hostmath
from memhil.backend import open_backend
from memhil.config import DeviceConfig, UpdateCoding
from memhil.hostmath import LR_Q_MAX, LR_Q_MIN, MAX_SHIFT  # noqa: F401  (also exported here)
from memhil.nn.backend import MAX_COLS, MAX_ROWS, plan_tiles, reg_cache
from memhil.twin import native


def _fast_lib(t: torch.Tensor):
    """The native helpers for host-side DAC coding when ``t`` suits them (float32 on the CPU),
    else None. They compute exactly what the torch expressions next to each call compute."""
    if t.dtype != torch.float32 or t.device.type != "cpu":
        return None
    return native.library()


def scaled_codes(t: torch.Tensor, mul: float, dac: int) -> torch.Tensor:
    """``clamp(round(t * mul), -dac, dac)`` as int64, in float64, rounding half to even."""
    lib = _fast_lib(t)
    if lib is None:
        return t.to(torch.float64).mul_(mul).round_().clamp_(-dac, dac).to(torch.int64)
    t = t.contiguous()
    out = torch.empty(t.shape, dtype=torch.int64)
    lib.memhil_codes_scaled(t.numel(), t.data_ptr(), float(mul), int(dac), out.data_ptr())
    return out


def row_codes(v: torch.Tensor, dac: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row DAC codes of ``v`` (B, n) and the per-row scale (float64 per code):
    ``code = round(v / scale)`` in float64 with ``scale = max|v| / dac`` (1 for a zero row).
    (``|v| / scale`` cannot round above ``dac``, so no clamp is needed.)"""
    lib = _fast_lib(v)
    if lib is None:
        m = v.abs().amax(dim=1).to(torch.float64)           # exact: abs and max of floats
        scale = torch.where(m > 0, m / dac, torch.ones_like(m))
        return torch.div(v, scale[:, None]).round_().to(torch.int64), scale  # float64 (promoted)
    v = v.contiguous()
    B, n = v.shape
    codes = torch.empty(B, n, dtype=torch.int64)
    scale = torch.empty(B, dtype=torch.float64)
    lib.memhil_codes_rows(B, n, v.data_ptr(), int(dac), codes.data_ptr(), scale.data_ptr())
    return codes, scale


class _CrossbarFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, anchor, layer):
        ctx.layer = layer
        ctx.save_for_backward(x)
        return layer.read_forward(x)

    @staticmethod
    def backward(ctx, gy):
        (x,) = ctx.saved_tensors
        layer = ctx.layer
        layer._pending.append((x.detach(), gy.detach()))
        gx = layer.read_transpose(gy) if ctx.needs_input_grad[0] else None
        return gx, torch.zeros_like(layer._anchor), None


class CrossbarLinear(nn.Module):
    """``y = x W^T + b`` with ``W`` (and ``b``) on crossbar tiles.

    Parameters
    ----------
    in_features, out_features, bias: as for ``torch.nn.Linear``.
    config: the device (:class:`memhil.config.DeviceConfig`).
    backend: ``"twin"`` (the layer opens its own twin with just enough tiles), or an open backend
        object (a :class:`memhil.backend.CrossbarBackend`) together with ``tiles``, the tile indices to use
        (one per block of :func:`plan_tiles` with the backend's geometry).
    weight, bias_init: initial float weights (default: ``torch.nn.Linear``'s initialisation
        from the current torch RNG).
    w_range: ``w_max`` over the initialisation bound ``1/sqrt(in_features)``.
    coding: how the host codes ``x`` and ``d`` of an update (:class:`memhil.config.UpdateCoding`,
        or its dict; default: one pair of scales per minibatch, rounding to nearest).
    coding_seed: the key of the host's stochastic rounding (default ``config.seed``;
        ``crossbar_mlp`` gives layer ``i`` ``layer_seed(seed, i)``, as ``memhil.npnn`` does).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 config: DeviceConfig | None = None, backend="twin", tiles=None,
                 weight: torch.Tensor | None = None, bias_init: torch.Tensor | None = None,
                 w_range: float = 4.0, device: str = "cpu", coding=None,
                 coding_seed: int | None = None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.has_bias = bool(bias)
        self.config = config or DeviceConfig()
        self.coding = UpdateCoding.from_dict(coding)
        self.coding.check_mode(self.config.update_mode)
        self.coding_seed = int(self.config.seed if coding_seed is None else coding_seed)
        self.updates = 0                 # pulse updates sent (the stochastic rounding's counter)
        self.n_in = self.in_features + (1 if self.has_bias else 0)
        self._anchor = nn.Parameter(torch.zeros(0), requires_grad=True)
        self._pending: list = []
        if isinstance(backend, str):
            rows = min(self.out_features, MAX_ROWS)
            cols = min(self.n_in, MAX_COLS)
            blocks = plan_tiles(self.out_features, self.n_in, rows, cols)
            self.backend = open_backend(backend, rows, cols, len(blocks), self.config, device=device)
            self.backend_kind = backend
            tiles = list(range(len(blocks)))
        else:
            self.backend = backend
            self.backend_kind = getattr(backend, "kind", type(backend).__name__)
            rows, cols = backend.rows, backend.cols
            blocks = plan_tiles(self.out_features, self.n_in, rows, cols)
            if tiles is None or len(tiles) != len(blocks):
                raise ValueError(f"CrossbarLinear({in_features}, {out_features}) needs "
                                 f"{len(blocks)} tiles of {rows}x{cols}, got tiles={tiles!r}")
        self.rows, self.cols = rows, cols
        self.blocks = [(int(t), *b) for t, b in zip(tiles, blocks)]
        self.regs = reg_cache(self.backend)
        cfg = self.config
        self.cmax = cfg.cmax
        self.sub = 1 << cfg.sub_bits
        self.dac_max = cfg.dac_max
        self.adc_hi = (1 << (cfg.adc_bits - 1)) - 1
        self.bound = 1.0 / math.sqrt(self.in_features)
        self.w_range = float(w_range)
        self.w_unit = self.w_range * self.bound / self.cmax
        # ADC gain: first guess for |y| ~ sqrt(n) * 127 * (typical weight code), then adaptive
        s0 = hostmath.initial_shift(cols, self.dac_max, self.cmax, self.adc_hi)
        self.shift = {"fwd": [s0] * len(self.blocks), "bwd": [s0] * len(self.blocks)}
        self.pulses = 0
        if weight is None:
            ref = nn.Linear(self.in_features, self.out_features, bias=self.has_bias)
            weight = ref.weight.detach()
            bias_init = ref.bias.detach() if self.has_bias else None
        self.program(weight, bias_init)

    # ------------------------------------------------------------------ programming
    def program(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        """Program float weights (and bias) onto nominal conductance levels."""
        w = torch.as_tensor(weight, dtype=torch.float64).reshape(self.out_features, self.in_features)
        if self.has_bias:
            b = torch.zeros(self.out_features, dtype=torch.float64) if bias is None else \
                torch.as_tensor(bias, dtype=torch.float64).reshape(self.out_features)
            w = torch.cat([w, b[:, None]], dim=1)
        L = self.config.levels
        lvl = torch.round(w / (self.w_unit * self.sub)).clamp(-(L - 1), L - 1).to(torch.int64)
        mid = (L - 1) // 2
        gp = (mid + torch.div(lvl + 1, 2, rounding_mode="floor")).clamp(0, L - 1) * self.sub
        gm = (mid - torch.div(lvl, 2, rounding_mode="floor")).clamp(0, L - 1) * self.sub
        self.load_codes(gp, gm)

    def load_codes(self, gp: torch.Tensor, gm: torch.Tensor) -> None:
        """Program exact codes of the whole (out, in [+1]) matrix (e.g. copied from another
        backend's layer); padding cells get equal codes (weight 0)."""
        pad = ((self.config.levels - 1) // 2) * self.sub
        for t, r0, r1, c0, c1 in self.blocks:
            tp = torch.full((self.rows, self.cols), pad, dtype=torch.int64)
            tm = tp.clone()
            tp[: r1 - r0, : c1 - c0] = gp[r0:r1, c0:c1]
            tm[: r1 - r0, : c1 - c0] = gm[r0:r1, c0:c1]
            self.backend.write_cells(t, 0, tp.reshape(-1), tm.reshape(-1))

    def copy_from(self, other: "CrossbarLinear") -> None:
        """Take over another layer's conductances and host-side scales (cross-backend use)."""
        if (other.in_features, other.out_features, other.has_bias) != \
                (self.in_features, self.out_features, self.has_bias):
            raise ValueError("copy_from: layers differ in shape")
        self.w_unit = other.w_unit
        self.load_codes(*other.codes())

    def codes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Conductance codes (c+, c-) of the whole (out, in [+1]) matrix, read from the tiles."""
        gp = torch.zeros(self.out_features, self.n_in, dtype=torch.int64)
        gm = torch.zeros_like(gp)
        for t, r0, r1, c0, c1 in self.blocks:
            p, m = self.backend.read_cells(t, 0, self.rows * self.cols)
            p = torch.as_tensor(p).cpu().view(self.rows, self.cols)
            m = torch.as_tensor(m).cpu().view(self.rows, self.cols)
            gp[r0:r1, c0:c1] = p[: r1 - r0, : c1 - c0]
            gm[r0:r1, c0:c1] = m[: r1 - r0, : c1 - c0]
        return gp, gm

    def effective_weight(self) -> torch.Tensor:
        """The float matrix ``(c+ - c-) * w_unit`` including the bias column, float64."""
        gp, gm = self.codes()
        return (gp - gm).to(torch.float64) * self.w_unit

    @property
    def weight(self) -> torch.Tensor:
        return self.effective_weight()[:, : self.in_features].float()

    @property
    def bias(self) -> torch.Tensor | None:
        return self.effective_weight()[:, -1].float() if self.has_bias else None

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.has_bias}, backend={self.backend_kind}, tiles={len(self.blocks)}, "
                f"levels={self.config.levels}, update_mode={self.config.update_mode}")

    # ------------------------------------------------------------------ reads
    def _ranged(self, op, tile: int, v: torch.Tensor, s: int):
        """Read at shift ``s``; a read that saturates is repeated with the shift raised by 2.
        Returns the ADC codes, the shift and the largest output magnitude."""
        for _ in range(16):
            self.regs.set("ADC_SHIFT", s)
            o = op(tile, v)
            if not (isinstance(o, torch.Tensor) and o.dtype == torch.int64
                    and o.device.type == "cpu"):          # (the twin's are already)
                o = torch.as_tensor(o).cpu().to(torch.int64)
            top = int(o.abs().max()) if o.numel() else 0
            if s >= MAX_SHIFT or top < self.adc_hi:
                break
            s = min(MAX_SHIFT, s + 2)
        return o, s, top

    def _target_shift(self, top: int, s: int) -> int:
        """The shift at which the largest output ``top`` of a read at shift ``s`` would use half
        the ADC range (:func:`memhil.hostmath.target_shift`)."""
        return hostmath.target_shift(top, s, self.adc_hi)

    def safe_shift(self, direction: str) -> int:
        """A shift at which no read can saturate (all inputs and weights at their maximum)."""
        n = self.cols if direction == "fwd" else self.rows
        return hostmath.safe_shift(n, self.dac_max, self.cmax, self.adc_hi)

    def _read(self, direction: str, k: int, tile: int, v: torch.Tensor) -> tuple[torch.Tensor, int]:
        """One read with the auto-ranging ADC gain: the ADC codes and the shift ``s`` (the
        value in code-product units is ``code * 2^s``).

        Training: the shift of the previous read of this tile is used and then adapted (one
        read per minibatch). Inference (``eval()``): a coarse read at :meth:`safe_shift` picks
        the shift of a second read, so the shift depends only on the inputs and the
        conductances and the layer's own state (``shift``, ``pulses``) is not changed.

        The device's state is another matter: with read noise on (``RN_Q != 0``) every read,
        in either mode, advances the output-side LFSRs (contract §4.3), from which the next
        update draws its stream bits and noise words, and the result depends on their states.
        An evaluation between training steps therefore has to restore them:
        :func:`memhil.nn.trainer.predict` / ``accuracy`` do (through
        :func:`memhil.nn.models.preserved_lfsrs`); calling the model directly does not.
        """
        op = self.backend.forward if direction == "fwd" else self.backend.transpose
        if self.training:
            o, s, top = self._ranged(op, tile, v, self.shift[direction][k])
            self.shift[direction][k] = self._target_shift(top, s)
        else:
            o, s, top = self._ranged(op, tile, v, self.safe_shift(direction))
            s1 = self._target_shift(top, s)
            if s1 < s:
                o, s, _ = self._ranged(op, tile, v, s1)
        return o, s

    def _quantize_rows(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample DAC codes of ``v`` (B, n) and the per-sample scale (see row_codes)."""
        return row_codes(v.detach(), self.dac_max)

    def _read_all(self, direction: str, codes: torch.Tensor, scale: torch.Tensor,
                  n_out: int) -> torch.Tensor:
        """Read every tile of the layer in one direction and return float64 outputs (B, n_out):
        the ADC codes times ``2^shift * scale * w_unit``, summed over the tiles."""
        B = codes.shape[0]
        fwd = direction == "fwd"
        width = self.cols if fwd else self.rows
        if len(self.blocks) == 1 and codes.shape[1] == width:      # one tile, no padding
            t, r0, r1, c0, c1 = self.blocks[0]
            o, s = self._read(direction, 0, t, codes)
            n = r1 - r0 if fwd else c1 - c0
            if n != o.shape[1]:
                o = o[:, :n]
            # float64(code) * (scale * (w_unit * 2^s)): one op (int64 * float64 promotes);
            # the same products as (scale * w_unit) * 2^s, as scaling by 2^s is exact
            return torch.mul(o, scale.mul(self.w_unit * float(1 << s)).unsqueeze_(1))
        y = torch.zeros(B, n_out, dtype=torch.float64)
        for k, (t, r0, r1, c0, c1) in enumerate(self.blocks):
            v = torch.zeros(B, width, dtype=torch.int64)
            if fwd:
                v[:, : c1 - c0] = codes[:, c0:c1]
            else:
                v[:, : r1 - r0] = codes[:, r0:r1]
            o, s = self._read(direction, k, t, v)
            if fwd:
                y[:, r0:r1] += o[:, : r1 - r0].to(torch.float64) * float(1 << s)
            else:
                y[:, c0:c1] += o[:, : c1 - c0].to(torch.float64) * float(1 << s)
        return y.mul_(scale[:, None] * self.w_unit)

    def read_forward(self, x_aug: torch.Tensor) -> torch.Tensor:
        xc, sx = self._quantize_rows(x_aug)
        return self._read_all("fwd", xc, sx, self.out_features).to(x_aug.dtype)

    def read_transpose(self, gy: torch.Tensor) -> torch.Tensor:
        dc, sd = self._quantize_rows(gy)
        return self._read_all("bwd", dc, sd, self.n_in).to(gy.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"CrossbarLinear expects {self.in_features} input features, "
                             f"got shape {tuple(x.shape)}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        if self.has_bias:                       # the bias column's constant input 1
            x2 = torch.nn.functional.pad(x2, (0, 1), value=1.0)
        y = _CrossbarFn.apply(x2, self._anchor, self)
        return y.reshape(*lead, self.out_features)

    # ------------------------------------------------------------------ updates
    def update_codes(self, x: torch.Tensor, gy: torch.Tensor, lr: float):
        """The integer ``(x_codes, d_codes, LR_Q or None)`` that make the expected weight change
        ``-lr * gy^T x`` (see the module docstring). ``None`` when nothing is to be sent."""
        x, g = x.detach(), gy.detach()
        cfg = self.config
        if not self.coding.is_default:            # memhil.hostmath's coding (as memhil.npnn)
            got = hostmath.coded_update(cfg.update_mode, lr, self.w_unit, self.sub, cfg.bl,
                                        self.dac_max, x.cpu().numpy(), g.cpu().numpy(),
                                        self.coding.scaling, self.coding.rounding,
                                        self.coding_seed, self.updates)
            if got is None:
                return None
            return torch.from_numpy(got[0]), torch.from_numpy(got[1]), got[2]
        mx, md = float(x.abs().max()), float(g.abs().max())      # exact in the input's dtype
        if mx == 0.0 or md == 0.0 or lr == 0.0:
            return None
        ax, ad, lr_q = hostmath.update_scales(cfg.update_mode, lr, self.w_unit, self.sub, cfg.bl,
                                              self.dac_max, mx, md)
        # float64 products, rounded half to even, clipped at the DAC range
        return scaled_codes(x, ax, self.dac_max), scaled_codes(g, -ad, self.dac_max), lr_q

    def pulse_update(self, lr: float) -> int:
        """Send the kept minibatch(es) to the crossbar as stochastic pulse updates; returns the
        number of pulses fired."""
        if not self._pending:
            return 0
        pending = list(self._pending)        # (in place: a module's setattr is slow)
        self._pending.clear()
        if len(pending) == 1:
            x, gy = pending[0]
        else:
            x = torch.cat([p[0] for p in pending])
            gy = torch.cat([p[1] for p in pending])
        return self.send_update(x, gy, lr)

    def send_update(self, x: torch.Tensor, gy: torch.Tensor, lr: float) -> int:
        """Code one minibatch's ``x`` (B, n_in) and ``dL/dy`` (B, out) (:meth:`update_codes`)
        and send it to the tiles as a pulse update; returns the pulses fired."""
        got = self.update_codes(x, gy, lr)
        self.updates += 1
        if got is None:
            return 0
        xc, dc, lr_q = got
        if lr_q is not None:
            self.regs.set("LR_Q", lr_q)
        B = xc.shape[0]
        # contract v3: one update applies at most the backend's batch_max samples; a larger
        # minibatch is applied in chunks of it, here, so every backend does the same
        step = self.backend.update_batch_max()
        fired = 0
        for t, r0, r1, c0, c1 in self.blocks:
            if (r1 - r0, c1 - c0) == (self.rows, self.cols) == (dc.shape[1], xc.shape[1]):
                xv, dv = xc, dc                       # one tile that the layer fills exactly
            else:
                xv = torch.zeros(B, self.cols, dtype=torch.int64)
                dv = torch.zeros(B, self.rows, dtype=torch.int64)
                xv[:, : c1 - c0] = xc[:, c0:c1]
                dv[:, : r1 - r0] = dc[:, r0:r1]
            for b in range(0, B, step):          # chunks of update_batch_max, each applied
                fired += int(self.backend.update(t, xv[b: b + step], dv[b: b + step]))
        self.pulses += fired
        return fired

    # ------------------------------------------------------------------ state
    def get_extra_state(self):
        st = {"shift": {k: list(v) for k, v in self.shift.items()}, "pulses": self.pulses,
              "w_unit": self.w_unit}
        if not self.coding.is_default:      # (the default coding draws nothing: the state
            st["updates"] = self.updates    #  keeps the form of earlier checkpoints)
        return st

    def set_extra_state(self, state):
        self.shift = {k: [int(s) for s in v] for k, v in state["shift"].items()}
        self.pulses = int(state["pulses"])
        self.w_unit = float(state["w_unit"])
        self.updates = int(state.get("updates", 0))
        self._pending = []


class CrossbarSGD:
    """The trainer's step: crossbar layers get pulse updates, any other parameters plain SGD.

    ``zero_grad()``, ``step()``, ``state_dict()``, ``load_state_dict()`` like a torch optimizer.
    """

    def __init__(self, model: nn.Module, lr: float):
        self.lr = float(lr)
        self.layers = [m for m in model.modules() if isinstance(m, CrossbarLinear)]
        anchors = {id(m._anchor) for m in self.layers}
        others = [p for p in model.parameters() if id(p) not in anchors and p.requires_grad]
        self.float_opt = torch.optim.SGD(others, lr=self.lr) if others else None
        self.last_pulses = 0

    def zero_grad(self) -> None:
        for m in self.layers:
            m._pending.clear()
        if self.float_opt is not None:
            self.float_opt.zero_grad()

    def step(self) -> int:
        n = 0
        for m in self.layers:
            n += m.pulse_update(self.lr)
        if self.float_opt is not None:
            for g in self.float_opt.param_groups:
                g["lr"] = self.lr
            self.float_opt.step()
        self.last_pulses = n
        return n

    def state_dict(self) -> dict:
        return {"lr": self.lr,
                "float": self.float_opt.state_dict() if self.float_opt is not None else None}

    def load_state_dict(self, sd: dict) -> None:
        self.lr = float(sd["lr"])
        if self.float_opt is not None and sd.get("float") is not None:
            self.float_opt.load_state_dict(sd["float"])
