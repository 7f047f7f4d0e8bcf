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


# ---------------------------------------------------------------- register fields and ranges
def test_register_fields_round_trip_through_pack_and_unpack():
    for r in SPEC.registers.values():
        assert r.fields, r.name
        for f in r.fields:
            for v in (0, 1, f.max, f.max >> 1):
                word = SPEC.pack(r.name, **{f.name: v})
                assert word == v << f.lsb
                assert SPEC.unpack(r.name, word)[f.name] == v
        every = {f.name: f.max for f in r.fields}
        assert SPEC.unpack(r.name, SPEC.pack(r.name, **every)) == every
    assert SPEC.pack("GEOMETRY1", TILES=2, LANES=4, G_W=8) == 2 | (4 << 8) | (8 << 16)
    assert SPEC.unpack("STATUS", 0x0401) == {"BUSY": 1, "LAST_ERROR": 4}


def test_pack_refuses_a_value_wider_than_its_field():
    import pytest
    from memhil.contract.spec import RegisterValueError

    with pytest.raises(RegisterValueError, match="GEOMETRY1 field LANES: value 256"):
        SPEC.pack("GEOMETRY1", LANES=256)
    with pytest.raises(KeyError, match="GEOMETRY1 has no field 'ROWS'"):
        SPEC.pack("GEOMETRY1", ROWS=1)


def test_check_write_accepts_min_and_max_and_refuses_outside():
    import pytest
    from memhil.contract.spec import RegisterValueError

    rw = [r for r in SPEC.registers.values() if r.access == "rw"]
    assert {r.name for r in rw} >= {"CTRL", "CMAX", "BL", "ADC_BITS"}
    for r in rw:
        lo, hi = r.limits()
        assert SPEC.check_write(r.name, lo) == lo and SPEC.check_write(r.name, hi) == hi
        assert r.reset is not None
        for bad in (lo - 1, hi + 1):
            if 0 <= bad <= 0xFFFFFFFF or bad == -1:
                msg = rf"register {r.name}: value {bad} must be in \[{lo}, {hi}\]"
                with pytest.raises(RegisterValueError, match=msg):
                    SPEC.check_write(r.name, bad)
    assert SPEC.registers["CMAX"].limits(g_w=4) == (1, 15)
    # BL is bounded by the build's BL_MAX (contract v3), named in the message; others are not
    assert SPEC.registers["BL"].limits(bl_max=32) == (1, 32)
    assert SPEC.registers["BL"].limits() == (1, 255)
    assert SPEC.registers["CMAX"].limits(bl_max=32) == (1, 65535)
    with pytest.raises(RegisterValueError, match=r"register BL: value 33 must be in \[1, 32\] "
                                                 r"\(this build's BL_MAX is 32\)"):
        SPEC.check_write("BL", 33, bl_max=32)
    assert SPEC.check_write("BL", 32, bl_max=32) == 32
    with pytest.raises(RegisterValueError, match="not writable"):
        SPEC.check_write("STATUS", 0)


def test_twin_write_limits_are_the_contracts():
    from memhil.twin.core import RW_LIMITS

    assert RW_LIMITS == {n: (r.min, r.max) for n, r in SPEC.registers.items() if r.access == "rw"}
    # the values the twin and RTL refused before the ranges moved into contract.toml
    assert RW_LIMITS == {
        "CTRL": (0, 1), "CMAX": (1, 65535), "SUB_BITS": (0, 8), "C0": (0, 65535),
        "UPDATE_MODE": (0, 1), "BL": (1, SPEC.limits["max_bl"]), "LR_Q": (0, 0xFFFFFFFF),
        "C2C_Q": (0, 16383), "D2D_Q": (0, 16383), "D2D_KEY": (0, 0xFFFFFFFF),
        "RN_Q": (0, 65535), "ADC_SHIFT": (0, 31), "ADC_BITS": (2, 16),
        # stuck devices (contract §3)
        "FAULT_RATE": (0, 65535), "FAULT_KEY": (0, 0xFFFFFFFF), "FAULT_KIND": (0, 3)}


def test_sv_package_carries_register_fields_and_ranges():
    from memhil.contract.gen_sv import field_prefix

    text = PKG_PATH.read_text()
    for r in SPEC.registers.values():
        for f in r.fields:
            p = field_prefix(r, f)
            assert f"localparam int unsigned {p}_LSB = {f.lsb};" in text
            assert f"localparam int unsigned {p}_WIDTH = {f.width};" in text
        if r.access == "rw":
            assert f"localparam logic [31:0] {r.name}_MIN = 32'd{r.min};" in text
            assert f"localparam logic [31:0] {r.name}_MAX = 32'd{r.max};" in text
            assert f"      REG_{r.name}: reg_wr_in_range = " in text
    for name in ("geometry0", "geometry1", "status"):
        assert f"function automatic logic [31:0] pack_{name}(" in text


def test_regfile_uses_the_generated_ranges():
    """No write range is typed by hand in the RTL: the regfile calls reg_wr_in_range."""
    from memhil.contract.gen_sv import REPO

    rtl = (REPO / "hdl" / "memhil_regfile.sv").read_text()
    assert "reg_wr_in_range(" in rtl
    for lit in ("32'd8)", "32'd16)", "32'd31)", "[31:14] == ", "32'(MAX_BL)"):
        assert lit not in rtl, lit


def test_contract_loader_refuses_a_bad_register_map(tmp_path):
    import pytest
    from memhil.contract.spec import CONTRACT_TOML, Spec

    text = CONTRACT_TOML.read_text()
    bad = text.replace('{ name = "LANES", lsb = 8, width = 8 }',
                       '{ name = "LANES", lsb = 4, width = 8 }')
    assert bad != text
    (tmp_path / "c.toml").write_text(bad)
    with pytest.raises(ValueError, match="GEOMETRY1 field LANES"):
        Spec.load(tmp_path / "c.toml")
    bad = text.replace("min = 2\nmax = 16\n", "min = 2\nmax = 64\n")
    assert bad != text
    (tmp_path / "c.toml").write_text(bad)
    with pytest.raises(ValueError, match="ADC_BITS"):
        Spec.load(tmp_path / "c.toml")


def test_hardware_contract_register_table_matches_the_toml():
    """docs/hardware-contract.md section 7's table: address and access of every register."""
    import re

    from memhil.contract.gen_sv import REPO

    doc = (REPO / "docs" / "hardware-contract.md").read_text()
    sec = doc[doc.index("## 7. Registers"):doc.index("## 8.")]
    rows = {m[1]: (int(m[0], 16), m[2])
            for m in re.findall(r"^\| (0x[0-9A-Fa-f]{3}) \| (\w+) \| (ro|rw) \|", sec, re.M)}
    assert rows == {n: (r.addr, r.access) for n, r in SPEC.registers.items()}
    for r in SPEC.registers.values():
        if r.access == "rw" and r.max < 0xFFFFFFFF and r.name != "CTRL":
            lo, hi = r.min, r.max
            spelled = {f"{lo}..{hi}", f"≤ {hi}", f"< 2^{hi.bit_length()}", f"{lo}..2^G_W − 1"}
            line = sec[sec.index(f"`{r.name}`"):][:60]
            assert any(s in line for s in spelled), (r.name, line)
            if r.max_bl_max:                          # the build's bound is named too
                assert "BL_MAX" in line, (r.name, line)
