"""DeviceConfig validation and derived register values."""
import pytest

from memhil import ConfigError, DeviceConfig


@pytest.mark.parametrize("field,value,fragment", [
    ("levels", 1, "[2, 256]"),
    ("levels", 2.5, "integer"),
    ("dynamic_range", 1.0, "(1.0"),
    ("sub_bits", 9, "[0, 8]"),
    ("step_model", "cubic", "one of"),
    ("asymmetry", 0.95, "[-0.9, 0.9]"),
    ("c2c_sigma", -0.1, "[0.0, 3.0]"),
    ("d2d_sigma", float("nan"), "finite"),
    ("dac_bits", 9, "[2, 8]"),
    ("adc_bits", 1, "[2, 16]"),
    ("update_mode", "sgd", "one of"),
    ("bl", 0, "[1, 255]"),
    ("seed", -1, "[0,"),
    ("levels", True, "integer"),
])
def test_bad_values_name_field_value_and_range(field, value, fragment):
    with pytest.raises(ConfigError) as e:
        DeviceConfig(**{field: value})
    msg = str(e.value)
    assert msg.startswith(f"{field}=") and repr(value) in msg and fragment in msg
    assert e.value.field == field


def test_table_model_needs_one_entry_per_level():
    with pytest.raises(ConfigError, match="step_table_up"):
        DeviceConfig(levels=4, step_model="table", step_table_up=(1, 1, 1), step_table_down=(1, 1, 1, 1))
    cfg = DeviceConfig(levels=4, sub_bits=2, step_model="table",
                       step_table_up=(1, 0.5, 0.25, 0), step_table_down=(0, 1, 1, 1))
    up, dn = cfg.step_tables()
    assert up == [1024, 512, 256, 0] and dn == [0, 1024, 1024, 1024]


def test_derived_registers():
    cfg = DeviceConfig(levels=32, dynamic_range=15, sub_bits=3, c2c_sigma=0.25, d2d_sigma=0.1,
                       read_noise_sigma=0.01, update_mode="rounding", bl=20)
    r = cfg.registers()
    assert cfg.cmax == 248 and r["CMAX"] == 248
    assert r["C0"] == round(248 / 14) and abs((248 + r["C0"]) / r["C0"] - 15) < 0.5
    assert r["C2C_Q"] == 1024 and r["D2D_Q"] == 410 and r["RN_Q"] == 655
    assert r["UPDATE_MODE"] == 0 and r["BL"] == 20
    up, dn = DeviceConfig(asymmetry=0.5).step_tables()
    assert up[0] == 3072 and dn[0] == 1024


def test_roundtrip_dict_and_unknown_field():
    cfg = DeviceConfig(levels=8, c2c_sigma=0.3)
    assert DeviceConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="not a DeviceConfig field"):
        DeviceConfig.from_dict({"levles": 8})
