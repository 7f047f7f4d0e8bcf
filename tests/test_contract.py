"""The single source of shared constants, and the LFSR it specifies."""
import math

from memhil.contract import SPEC
from memhil.contract.gen_sv import PKG_PATH, render
from memhil.twin import lfsr


def test_sv_package_is_generated_from_the_toml():
    assert PKG_PATH.read_text() == render(), (
        "hdl/memhil_pkg.sv is stale: run `python -m memhil.contract.gen_sv`"
    )


def test_sv_package_carries_every_opcode_register_and_table():
    text = PKG_PATH.read_text()
    for name, v in SPEC.opcodes.items():
        assert f"OP_{name} = 8'h{v:02X};" in text
    for r in SPEC.registers.values():
        assert f"REG_{r.name} = 12'h{r.addr:03X};" in text
    for i, g in enumerate(SPEC.gauss):
        assert f"8'd{i}: gauss_lut = {'-' if g < 0 else ''}11'sd{abs(g)};" in text


def _gf2_matrix_power_is_identity(exponent: int) -> bool:
    """Is M^exponent == I for the single-step matrix M of the contract's LFSR?"""
    def apply(cols, v):
        out = 0
        k = 0
        while v:
            if v & 1:
                out ^= cols[k]
            v >>= 1
            k += 1
        return out

    def mul(a, b):  # (a o b) as column lists: column k of a*b = a applied to column k of b
        return [apply(a, c) for c in b]

    w = lfsr.WIDTH
    m = [lfsr.step(1 << k) for k in range(w)]
    result = [1 << k for k in range(w)]
    e = exponent
    base = m
    while e:
        if e & 1:
            result = mul(base, result)
        base = mul(base, base)
        e >>= 1
    return result == [1 << k for k in range(w)]


def test_lfsr_is_maximal_length():
    # period 2^32 - 1 exactly: M^(2^32-1) = I and M^((2^32-1)/q) != I for every prime q | 2^32-1
    n = (1 << lfsr.WIDTH) - 1
    primes = [3, 5, 17, 257, 65537]
    assert math.prod(primes) == n
    assert _gf2_matrix_power_is_identity(n)
    for q in primes:
        assert not _gf2_matrix_power_is_identity(n // q), q


def test_a_non_primitive_polynomial_would_fail_the_check(monkeypatch):
    # the check above can fail: taps 0x80000000 make the LFSR a 32-bit rotation (period 32)
    monkeypatch.setattr(lfsr, "TAPS", 0x80000000)
    assert _gf2_matrix_power_is_identity(32)
    assert not _gf2_matrix_power_is_identity((1 << 32) - 1)


def test_gauss_table_is_a_standard_normal_quantile_table():
    g = SPEC.gauss
    assert len(g) == 256 and sum(g) == 0 and g == tuple(sorted(g))
    assert all(a == -b for a, b in zip(g, reversed(g)))
    assert abs(SPEC.gauss_std - 1.0) < 0.005
    assert SPEC.root[0] == 0 and SPEC.root[1] == 256 and SPEC.root[255] == round(256 * 255 ** 0.5)
