"""Typed, validated device configuration (the user-facing side of the hardware contract).

A :class:`DeviceConfig` describes one kind of memristive device and how the crossbar updates
and reads it. Bad values raise :class:`ConfigError` naming the field, the value and what is
allowed. :meth:`DeviceConfig.registers` turns it into the integer register values that the
RTL and the twin both use (docs/hardware-contract.md, section "Registers").
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from memhil.contract.hashing import mix32
from memhil.contract.spec import SPEC

STEP_MODELS = ("linear", "soft-bounds", "table")
UPDATE_MODES = ("rounding", "coincidence")
STUCK_KINDS = ("gmin", "gmax", "current", "mixed")   # FAULT_KIND 0..3, contract.toml [fault_kind]


class ConfigError(ValueError):
    """A configuration field has a value outside what is allowed."""

    def __init__(self, field_name: str, value: Any, allowed: str):
        self.field = field_name
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field_name}={value!r} is not allowed: {allowed}")


_REG = SPEC.registers   # register write ranges (contract.toml) that configs map onto


def _check_num(name, value, lo=None, hi=None, *, integer=False, lo_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
        integer and not isinstance(value, int)
    ):
        kind = "an integer" if integer else "a number"
        raise ConfigError(name, value, f"must be {kind}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(name, value, "must be finite")
    lo_txt = "(" if lo_open else "["
    rng = f"{lo_txt}{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(name, value, f"must be in {rng}")
    if hi is not None and value > hi:
        raise ConfigError(name, value, f"must be in {rng}")


@dataclass(frozen=True)
class DeviceConfig:
    """One memristive device kind and the crossbar's update/read settings.

    Conductance: each device holds an integer code ``c`` in ``[0, cmax]`` with
    ``cmax = (levels - 1) << sub_bits``; its conductance is ``(c + c0)`` LSB units with
    ``c0 = round(cmax / (dynamic_range - 1))`` so that ``Gmax / Gmin = dynamic_range``.
    A weight is the difference of a pair: ``w ~ c_plus - c_minus``.
    """

    levels: int = 32
    dynamic_range: float = 15.0
    sub_bits: int = 3
    step_model: str = "linear"
    step_table_up: tuple[float, ...] | None = None    # in levels per pulse, one per level
    step_table_down: tuple[float, ...] | None = None
    asymmetry: float = 0.0           # up step x (1 + a), down step x (1 - a)
    c2c_sigma: float = 0.0           # per-pulse step error, relative to the nominal step
    d2d_sigma: float = 0.0           # fixed per-device step factor spread
    read_noise_sigma: float = 0.0    # output noise relative to the total read current
    dac_bits: int = 8                # input codes in [-(2^(dac_bits-1) - 1), 2^(dac_bits-1) - 1]
    adc_bits: int = 12
    update_mode: str = "coincidence"
    bl: int = 31
    seed: int = 0                    # RNG (LFSR) seed
    d2d_seed: int = 1                # device-to-device pattern seed
    stuck_rate: float = 0.0          # fraction of stuck devices (FAULT_RATE = rate * 2^16)
    stuck_kind: str = "mixed"        # gmin | gmax | current | mixed (a third of each)
    stuck_seed: int = 2              # stuck-device pattern seed

    def __post_init__(self):
        lim = SPEC.limits
        _check_num("levels", self.levels, 2, lim["max_levels"], integer=True)
        _check_num("dynamic_range", self.dynamic_range, 1.0, 1e6, lo_open=True)
        _check_num("sub_bits", self.sub_bits, *_REG["SUB_BITS"].limits(), integer=True)
        # levels <= 256 (8 bits) and sub_bits <= 8 keep G_W <= 16 = max_code_bits
        if self.step_model not in STEP_MODELS:
            raise ConfigError("step_model", self.step_model, f"one of {STEP_MODELS}")
        if self.step_model == "table":
            for name in ("step_table_up", "step_table_down"):
                t = getattr(self, name)
                if t is None or len(t) != self.levels:
                    raise ConfigError(
                        name, t, f"a sequence of levels={self.levels} step sizes (in levels)"
                    )
                for k, v in enumerate(t):
                    _check_num(f"{name}[{k}]", v, 0.0, 255.0)
                object.__setattr__(self, name, tuple(float(v) for v in t))
        elif self.step_table_up is not None or self.step_table_down is not None:
            raise ConfigError(
                "step_model", self.step_model, "'table' when step_table_up/down are given"
            )
        _check_num("asymmetry", self.asymmetry, -0.9, 0.9)
        _check_num("c2c_sigma", self.c2c_sigma, 0.0, 3.0)
        _check_num("d2d_sigma", self.d2d_sigma, 0.0, 1.0)
        _check_num("read_noise_sigma", self.read_noise_sigma, 0.0, 1.0)
        _check_num("dac_bits", self.dac_bits, 2, 8, integer=True)
        _check_num("adc_bits", self.adc_bits, *_REG["ADC_BITS"].limits(), integer=True)
        if self.update_mode not in UPDATE_MODES:
            raise ConfigError("update_mode", self.update_mode, f"one of {UPDATE_MODES}")
        _check_num("bl", self.bl, *_REG["BL"].limits(), integer=True)
        _check_num("seed", self.seed, 0, 2**63 - 1, integer=True)
        _check_num("d2d_seed", self.d2d_seed, 0, 2**63 - 1, integer=True)
        _check_num("stuck_rate", self.stuck_rate, 0.0, 1.0)
        if self.stuck_kind not in STUCK_KINDS:
            raise ConfigError("stuck_kind", self.stuck_kind, f"one of {STUCK_KINDS}")
        _check_num("stuck_seed", self.stuck_seed, 0, 2**63 - 1, integer=True)

    # ---- derived integers -------------------------------------------------------------
    @property
    def code_bits(self) -> int:
        """Conductance register width G_W."""
        return max(1, math.ceil(math.log2(self.levels))) + self.sub_bits

    @property
    def cmax(self) -> int:
        return (self.levels - 1) << self.sub_bits

    @property
    def c0(self) -> int:
        """Gmin in code units: (cmax + c0) / c0 ~= dynamic_range."""
        return max(1, int(round(self.cmax / (self.dynamic_range - 1.0))))

    @property
    def dac_max(self) -> int:
        return (1 << (self.dac_bits - 1)) - 1

    def step_tables(self) -> tuple[list[int], list[int]]:
        """(STEP_UP, STEP_DN): per level k, the nominal step in Q8 code units (16-bit)."""
        one = 1 << (self.sub_bits + SPEC.fixed["step_frac"])   # one level, Q8 code units
        L = self.levels
        if self.step_model == "linear":
            up = [1.0] * L
            dn = [1.0] * L
        elif self.step_model == "soft-bounds":
            # step shrinks linearly towards the bound it moves to (aihwkit SoftBounds-like)
            up = [max(0.0, 1.0 - k / (L - 1)) * 2.0 for k in range(L)]
            dn = [max(0.0, k / (L - 1)) * 2.0 for k in range(L)]
        else:
            up = list(self.step_table_up)
            dn = list(self.step_table_down)
        a = self.asymmetry
        q_up = [min(0xFFFF, int(round(v * (1.0 + a) * one))) for v in up]
        q_dn = [min(0xFFFF, int(round(v * (1.0 - a) * one))) for v in dn]
        return q_up, q_dn

    @property
    def fault_rate(self) -> int:
        """FAULT_RATE: ``stuck_rate`` in Q16, at most 65535 (then all but 1/65536 of the
        devices are stuck)."""
        return min(SPEC.registers["FAULT_RATE"].limits()[1],
                   int(round(self.stuck_rate * (1 << 16))))

    def registers(self) -> dict[str, int]:
        """Register values (name -> int) for the configuration registers of the contract.
        The fault registers come right after CMAX: they act on every later write of codes
        (contract §3, "Stuck devices"), so the backend has them before the weights."""
        fr = 1 << SPEC.fixed["factor_frac"]
        return {
            "CMAX": self.cmax,
            "FAULT_RATE": self.fault_rate,
            "FAULT_KEY": mix32(self.stuck_seed & 0xFFFFFFFF ^ (self.stuck_seed >> 32) & 0xFFFFFFFF),
            "FAULT_KIND": SPEC.fault_kind[self.stuck_kind.upper()],
            "SUB_BITS": self.sub_bits,
            "C0": self.c0,
            "UPDATE_MODE": SPEC.update_mode[self.update_mode.upper()],
            "BL": self.bl,
            "C2C_Q": int(round(self.c2c_sigma * fr)),
            "D2D_Q": int(round(self.d2d_sigma * fr)),
            "D2D_KEY": mix32(self.d2d_seed & 0xFFFFFFFF ^ (self.d2d_seed >> 32) & 0xFFFFFFFF),
            "RN_Q": int(round(self.read_noise_sigma * (1 << SPEC.fixed["rn_frac"]))),
            "ADC_BITS": self.adc_bits,
        }

    def replace(self, **changes) -> "DeviceConfig":
        d = asdict(self)
        d.update(changes)
        return DeviceConfig(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "DeviceConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(unknown[0], d[unknown[0]], f"not a DeviceConfig field; fields: {sorted(names)}")
        d = dict(d)
        for k in ("step_table_up", "step_table_down"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)


# ---------------------------------------------------------------------------- host-side coding
UPDATE_SCALINGS = ("batch", "sample")
CODE_ROUNDINGS = ("nearest", "stochastic")


@dataclass(frozen=True)
class UpdateCoding:
    """How the host codes a minibatch's inputs ``x`` and errors ``d`` into the 8-bit operands
    of a pulse update (a host-side choice: the contract, the twin and the RTL are unchanged;
    ``memhil.hostmath.coded_update`` defines it for the torch and numpy paths).

    * ``scaling``: ``"batch"`` (default) one pair of code scales ``(a_x, a_d)`` for the whole
      minibatch, balanced on its largest ``|x|`` and ``|d|``; ``"sample"`` a pair per sample,
      balanced on that sample's own largest ``|x|`` and ``|d|`` (the product ``a_x a_d``, and
      so the expected weight change, is the same). Coincidence mode only (in rounding mode
      ``LR_Q`` is one register for the minibatch).
    * ``rounding``: ``"nearest"`` (default) rounds ``x a_x`` and ``d a_d`` half to even;
      ``"stochastic"`` rounds them down or up with the probability that makes the expected
      code equal to the scaled value (no small value is lost: a ``d`` worth 0.3 codes is 1
      with probability 0.3), drawing from a counter-based hash of the layer's seed
      (:func:`memhil.hostmath.host_uniform`), not from the crossbar's LFSRs.

    The default is today's coding, bit for bit.
    """

    scaling: str = "batch"
    rounding: str = "nearest"

    def __post_init__(self):
        if self.scaling not in UPDATE_SCALINGS:
            raise ConfigError("scaling", self.scaling, f"one of {UPDATE_SCALINGS}")
        if self.rounding not in CODE_ROUNDINGS:
            raise ConfigError("rounding", self.rounding, f"one of {CODE_ROUNDINGS}")

    @property
    def is_default(self) -> bool:
        return self == UpdateCoding()

    def check_mode(self, update_mode: str) -> None:
        """Raise :class:`ConfigError` if this coding does not apply to ``update_mode``."""
        if self.scaling == "sample" and update_mode != "coincidence":
            raise ConfigError("scaling", self.scaling,
                              f"'batch' with update_mode={update_mode!r} ('sample' needs "
                              "'coincidence': rounding mode's LR_Q is one per minibatch)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "UpdateCoding":
        if d is None:
            return cls()
        if isinstance(d, UpdateCoding):
            return d
        if not isinstance(d, dict):
            raise ConfigError("coding", d, "a dict of UpdateCoding fields or None")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(unknown[0], d[unknown[0]],
                              f"not an UpdateCoding field; fields: {sorted(names)}")
        return cls(**d)
