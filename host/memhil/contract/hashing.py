"""The contract's hash and seeding functions (docs/hardware-contract.md §4): ``mix32`` (the
d2d factors' hash, also in hdl/memhil_mix32.sv), and the host-side LFSR seeding rule
(``splitmix64``, ``lfsr_seeds``). Integer Python; the twin's vectorized copy of mix32 is
``memhil.twin.core.mix32_t``."""
from __future__ import annotations

from memhil.contract.spec import SPEC

M32 = 0xFFFFFFFF


def mix32(x: int) -> int:
    """The contract's 32-bit mixing hash (lowbias32)."""
    x &= M32
    x ^= x >> 16
    x = (x * SPEC.hash["m1"]) & M32
    x ^= x >> 15
    x = (x * SPEC.hash["m2"]) & M32
    x ^= x >> 16
    return x


def splitmix64(state: int) -> tuple[int, int]:
    """One SplitMix64 step: (new_state, output). Used host-side to seed the LFSRs."""
    state = (state + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return state, z ^ (z >> 31)


def lfsr_seeds(seed: int, count: int) -> list[int]:
    """``count`` nonzero 32-bit LFSR states derived from ``seed`` (the contract's seeding rule)."""
    out = []
    s = seed & 0xFFFFFFFFFFFFFFFF
    while len(out) < count:
        s, z = splitmix64(s)
        v = z & M32
        if v:
            out.append(v)
    return out
