"""Load ``contract.toml`` (the single source of shared constants) and derive its tables.

Everything that the RTL and the host must agree on comes from here: LFSR taps and step counts,
fixed-point formats, the inverse-CDF Gaussian table, the sqrt table, the hash constants, the
protocol's framing, opcodes and status codes, and the register map. ``memhil.contract.gen_sv``
writes the SystemVerilog package from the same object, so the two sides cannot drift.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from types import MappingProxyType

CONTRACT_TOML = Path(__file__).with_name("contract.toml")


@dataclass(frozen=True)
class Register:
    name: str
    addr: int
    access: str
    reset: int | None


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
    registers: MappingProxyType
    tables: MappingProxyType
    gauss: tuple[int, ...] = field(repr=False)
    root: tuple[int, ...] = field(repr=False)

    @classmethod
    def load(cls, path: Path = CONTRACT_TOML) -> "Spec":
        raw = tomllib.loads(Path(path).read_text())
        regs = {
            name: Register(name, int(r["addr"]), str(r["access"]), r.get("reset"))
            for name, r in raw["registers"].items()
        }
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
            registers=MappingProxyType(regs),
            tables=MappingProxyType(dict(raw["tables"])),
            gauss=_gauss_table(int(fx["gauss_bits"]), int(fx["gauss_scale"])),
            root=_root_table(int(raw["limits"]["nmax"]), int(fx["root_frac"])),
        )

    def reg(self, name: str) -> int:
        """Byte address of register ``name``."""
        return self.registers[name].addr

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
