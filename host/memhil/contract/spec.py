"""Load ``contract.toml`` (the single source of shared constants) and derive its tables.

Everything that the RTL and the host must agree on comes from here: LFSR taps and step counts,
fixed-point formats, the inverse-CDF Gaussian table, the sqrt table, the hash constants, the
protocol's framing, opcodes and status codes, and the register map. ``memhil.contract.gen_sv``
writes the SystemVerilog package from the same object, so the two sides cannot drift.
"""
from __future__ import annotations

import math
try:
    import tomllib  # novermin (3.11+; the except branch is the 3.10 path, tested)
except ModuleNotFoundError:  # Python 3.10 (the PYNQ-Z2 image): the same parser, as a package
    import tomli as tomllib
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType

CONTRACT_TOML = Path(__file__).with_name("contract.toml")


M32 = 0xFFFFFFFF


class RegisterValueError(ValueError):
    """A value that a register (or one of its fields) does not accept; the message names the
    register, the value and the allowed range."""


@dataclass(frozen=True)
class Field:
    """One bit field of a register: bits ``[lsb + width - 1 : lsb]``."""

    name: str
    lsb: int
    width: int
    access: str

    @property
    def max(self) -> int:
        return (1 << self.width) - 1

    @property
    def mask(self) -> int:
        return self.max << self.lsb


@dataclass(frozen=True)
class Register:
    """One register of the map (docs/hardware-contract.md section 7), as contract.toml gives it.

    ``min``/``max`` bound a write of the whole word (``rw`` registers only); ``max_g_w`` narrows
    ``max`` to ``2^g_w - 1`` of the build, ``max_bl_max`` to the build's ``BL_MAX``.
    :meth:`pack`/:meth:`unpack` convert between the word
    and its fields, :meth:`check_write` is the write-range check of the RTL and the twin.
    """

    name: str
    addr: int
    access: str
    reset: int | None
    fields: tuple[Field, ...] = ()
    min: int | None = None
    max: int | None = None
    max_g_w: bool = False
    max_bl_max: bool = False

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r} (fields: "
                       f"{', '.join(self.field_names)})")

    def limits(self, g_w: int | None = None, bl_max: int | None = None) -> tuple[int, int]:
        """``(min, max)`` of an accepted write; ``g_w`` narrows a ``max_g_w`` register,
        ``bl_max`` (the build's BL_MAX) a ``max_bl_max`` register."""
        if self.access != "rw":
            raise RegisterValueError(f"register {self.name} is not writable")
        hi = self.max
        if self.max_g_w and g_w is not None:
            hi = min(hi, (1 << int(g_w)) - 1)
        if self.max_bl_max and bl_max is not None:
            hi = min(hi, int(bl_max))
        return self.min, hi

    def check_write(self, value: int, g_w: int | None = None, bl_max: int | None = None) -> int:
        """Return ``value`` if a write of it is accepted, else raise RegisterValueError."""
        lo, hi = self.limits(g_w, bl_max)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise RegisterValueError(f"register {self.name}: value {value} must be in "
                                     f"[{lo}, {hi}]" + self.build_note(hi, g_w, bl_max))
        return value

    def build_note(self, hi: int, g_w: int | None = None, bl_max: int | None = None) -> str:
        """`` (the build's ...)`` when a build parameter set the upper bound ``hi``, else ''."""
        if self.max_bl_max and bl_max is not None and hi == int(bl_max) and hi < self.max:
            return f" (this build's BL_MAX is {hi})"
        if self.max_g_w and g_w is not None and hi == (1 << int(g_w)) - 1 and hi < self.max:
            return f" (this build's G_W is {g_w})"
        return ""

    def pack(self, **fields: int) -> int:
        """The 32-bit word of the given field values (missing fields are 0)."""
        word = 0
        for name, v in fields.items():
            f = self.field(name)
            v = int(v)
            if not 0 <= v <= f.max:
                raise RegisterValueError(f"register {self.name} field {name}: value {v} must be "
                                         f"in [0, {f.max}]")
            word |= v << f.lsb
        return word

    def unpack(self, word: int) -> dict[str, int]:
        """The field values of the 32-bit word ``word`` (bits outside every field ignored)."""
        word = int(word)
        return {f.name: (word >> f.lsb) & f.max for f in self.fields}


def _register(name: str, r: dict, limits: dict) -> Register:
    access = str(r["access"])
    if access not in ("ro", "rw"):
        raise ValueError(f"contract: register {name}: access {access!r} must be ro or rw")
    fields = tuple(Field(str(f["name"]), int(f["lsb"]), int(f["width"]),
                         str(f.get("access", access))) for f in r.get("fields", ()))
    if not fields:
        raise ValueError(f"contract: register {name} has no fields")
    used = 0
    for f in fields:
        if f.width < 1 or f.lsb < 0 or f.lsb + f.width > 32 or used & f.mask:
            raise ValueError(f"contract: register {name} field {f.name} [{f.lsb}+:{f.width}] "
                             "is empty, outside 32 bits or overlaps another field")
        if f.access not in ("ro", "rw", "wo"):
            raise ValueError(f"contract: register {name} field {f.name}: access {f.access!r}")
        used |= f.mask

    def bound(key):
        v = r.get(key)
        return int(limits[v]) if isinstance(v, str) else (None if v is None else int(v))

    lo, hi = bound("min"), bound("max")
    reset = r.get("reset")
    if access == "rw":
        if lo is None or hi is None or not 0 <= lo <= hi <= M32 or hi & ~used:
            raise ValueError(f"contract: register {name} needs 0 <= min <= max with max inside "
                             "its fields")
        if reset is None or (not r.get("max_g_w") and not lo <= int(reset) <= hi):
            raise ValueError(f"contract: register {name}: reset must be in [min, max]")
    elif lo is not None or hi is not None or r.get("max_g_w") or r.get("max_bl_max"):
        raise ValueError(f"contract: read-only register {name} has a write range")
    return Register(name, int(r["addr"]), access, reset, fields, lo, hi, bool(r.get("max_g_w")),
                    bool(r.get("max_bl_max")))


def _gauss_table(bits: int, scale: int) -> tuple[int, ...]:
    n = 1 << bits
    nd = NormalDist()
    return tuple(int(math.floor(scale * nd.inv_cdf((i + 0.5) / n) + 0.5)) for i in range(n))


def _root_table(nmax: int, frac: int) -> tuple[int, ...]:
    return tuple(int(math.floor(math.sqrt(n) * (1 << frac) + 0.5)) for n in range(nmax + 1))


@dataclass(frozen=True)
class Spec:
    raw: dict
    version: int
    magic: int
    limits: MappingProxyType
    lfsr: MappingProxyType
    fixed: MappingProxyType
    hash: MappingProxyType
    protocol: MappingProxyType
    opcodes: MappingProxyType
    status: MappingProxyType
    update_mode: MappingProxyType
    fault_kind: MappingProxyType
    registers: MappingProxyType
    tables: MappingProxyType
    gauss: tuple[int, ...] = field(repr=False)
    root: tuple[int, ...] = field(repr=False)

    @classmethod
    def load(cls, path: Path = CONTRACT_TOML) -> "Spec":
        raw = tomllib.loads(Path(path).read_text())
        regs = {name: _register(name, r, raw["limits"]) for name, r in raw["registers"].items()}
        fx = raw["fixed_point"]
        return cls(
            raw=raw,
            version=int(raw["version"]),
            magic=int(raw["magic"]),
            limits=MappingProxyType(dict(raw["limits"])),
            lfsr=MappingProxyType(dict(raw["lfsr"])),
            fixed=MappingProxyType(dict(fx)),
            hash=MappingProxyType(dict(raw["hash"])),
            protocol=MappingProxyType(dict(raw["protocol"])),
            opcodes=MappingProxyType(dict(raw["opcodes"])),
            status=MappingProxyType(dict(raw["status"])),
            update_mode=MappingProxyType(dict(raw["update_mode"])),
            fault_kind=MappingProxyType(dict(raw["fault_kind"])),
            registers=MappingProxyType(regs),
            tables=MappingProxyType(dict(raw["tables"])),
            gauss=_gauss_table(int(fx["gauss_bits"]), int(fx["gauss_scale"])),
            root=_root_table(int(raw["limits"]["nmax"]), int(fx["root_frac"])),
        )

    def reg(self, name: str) -> int:
        """Byte address of register ``name``."""
        return self.registers[name].addr

    def pack(self, name: str, **fields: int) -> int:
        """The word of register ``name`` with the given field values (see Register.pack)."""
        return self.registers[name].pack(**fields)

    def unpack(self, name: str, word: int) -> dict[str, int]:
        """The field values of register ``name``'s word ``word`` (see Register.unpack)."""
        return self.registers[name].unpack(word)

    def check_write(self, name: str, value: int, g_w: int | None = None,
                    bl_max: int | None = None) -> int:
        """``value`` if register ``name`` accepts it, else RegisterValueError (names the range
        and, when a build parameter narrowed it, that parameter)."""
        return self.registers[name].check_write(value, g_w, bl_max)

    def reg_name(self, addr: int) -> str | None:
        for r in self.registers.values():
            if r.addr == addr:
                return r.name
        return None

    @property
    def gauss_std(self) -> float:
        """Standard deviation of one inverse-CDF draw in units of gauss_scale (slightly < 1)."""
        n = len(self.gauss)
        s = self.fixed["gauss_scale"]
        m = sum(self.gauss) / n
        return math.sqrt(sum((g - m) ** 2 for g in self.gauss) / n) / s


SPEC = Spec.load()
