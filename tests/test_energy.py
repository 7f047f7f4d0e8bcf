"""memhil.energy: counter totals across 32-bit wraps, phases, the model's arithmetic, validation."""
from __future__ import annotations

import json

import pytest

from memhil.config import ConfigError
from memhil.energy import (ENERGY_COUNTERS, ArrayFacts, CounterMeter, EnergyModel, PARAMETERS,
                           energy_of, phase_report, report, summary_line)

M32 = 0xFFFFFFFF


class FakeCounters:
    """A backend whose counters are 32-bit registers that wrap, as the device's do."""

    def __init__(self):
        self.value = dict.fromkeys(ENERGY_COUNTERS, 0)

    def add(self, **inc):
        for k, v in inc.items():
            self.value[k] = (self.value[k] + v) & M32

    def counters(self):
        return dict(self.value)


def facts(**kw):
    base = dict(cmax=248, c0=18, adc_bits=8, bl=31, mode="coincidence", mean_pair_code=248.0,
                cycles_measured=True)
    base.update(kw)
    return ArrayFacts(**base)


def test_meter_counts_across_wraps_and_phases():
    a, b = FakeCounters(), FakeCounters()
    a.value["CNT_PULSES_UP"] = M32 - 5           # about to wrap
    m = CounterMeter([a, b])
    m.start("train")
    total_up = 0
    for k in range(7):                           # 7 x 3e9 events: several wraps of the register
        a.add(CNT_PULSES_UP=3_000_000_000)
        b.add(CNT_PULSES_UP=11, CNT_CELL_READS=1000)
        total_up += 3_000_000_011
        m.sample()
    m.start("inference")
    b.add(CNT_ADC=40, CNT_CELL_READS=7)
    m.stop()
    b.add(CNT_ADC=99)                            # after stop: counted nowhere
    m.sample()
    assert m.totals["train"]["CNT_PULSES_UP"] == total_up
    assert m.totals["train"]["CNT_CELL_READS"] == 7000
    assert m.totals["inference"]["CNT_ADC"] == 40
    assert m.totals["inference"]["CNT_CELL_READS"] == 7
    assert "CNT_ADC" in m.totals["train"] and m.totals["train"]["CNT_ADC"] == 0


def test_meter_refuses_a_backend_without_the_counters():
    class Old:
        def counters(self):
            return {"CNT_PULSES": 0}
    with pytest.raises(ValueError, match="CNT_PULSES_UP"):
        CounterMeter([Old()])


def test_energy_parts_follow_the_formulas():
    model = EnergyModel()
    f = facts()
    counts = dict.fromkeys(ENERGY_COUNTERS, 0)
    counts.update(CNT_PULSES_UP=1000, CNT_PULSES_DN=500, CNT_PULSES_STUCK=100,
                  CNT_CELL_READS=10**6, CNT_DAC=300, CNT_ADC=200, CNT_BUSY=12345)
    e = energy_of(model, f, counts)
    g_lsb = model.g_max / (248 + 18)
    g_pair = (248 + 36) * g_lsb
    assert e["programming"] == pytest.approx(1600 * 1.0 * (g_pair / 2) * 1e-9)
    assert e["array_read"] == pytest.approx(1e6 * 0.04 * g_pair * 80e-9)
    assert e["dac"] == pytest.approx(300 * 0.1e-12)
    assert e["adc"] == pytest.approx(200 * 10e-15 * 256)
    assert e["digital"] == pytest.approx(12345 * 10e-12)
    # the twin counts no cycles: the digital part is unknown, not zero
    assert energy_of(model, facts(cycles_measured=False), counts)["digital"] is None
    # conductance enters the array parts: twice Gmax, twice the read and pulse energy
    e2 = energy_of(EnergyModel(g_max=200e-6), f, counts)
    assert e2["array_read"] == pytest.approx(2 * e["array_read"])
    assert e2["programming"] == pytest.approx(2 * e["programming"])
    assert e2["adc"] == e["adc"]
    # a more resolved ADC costs 2x per bit
    assert energy_of(model, facts(adc_bits=9), counts)["adc"] == pytest.approx(2 * e["adc"])


def test_report_per_sample_and_summary(tmp_path):
    a = FakeCounters()
    m = CounterMeter([a])
    m.start("train")
    a.add(CNT_PULSES_UP=64, CNT_CELL_READS=6400, CNT_DAC=128, CNT_ADC=64, CNT_READS=32,
          CNT_UPDATES=32, CNT_BUSY=1000)
    m.start("inference")
    a.add(CNT_CELL_READS=1000, CNT_DAC=10, CNT_ADC=10, CNT_READS=10)
    m.stop()
    doc = report(EnergyModel(), facts(), m, {"train": 32, "inference": 10}, applies=1)
    tr, inf = doc["phases"]["train"], doc["phases"]["inference"]
    assert tr["energy_per_sample_j"]["total"] == pytest.approx(tr["energy_j"]["total"] / 32)
    assert inf["energy_per_sample_j"]["array_read"] == pytest.approx(
        inf["energy_j"]["array_read"] / 10)
    # analog latency: reads, BL stream slots per update sample, NMAX slots per apply
    assert tr["latency_s"]["analog_array"] == pytest.approx(32 * 80e-9 + (32 * 31 + 255) * 1e-9)
    assert tr["latency_s"]["emulator"] == pytest.approx(1000 / 100e6)
    json.dumps(doc)                                   # energy.json is plain JSON
    line = summary_line(doc)
    assert "per training sample" in line and "per inference" in line and "J" in line
    empty = phase_report(EnergyModel(), facts(), dict.fromkeys(ENERGY_COUNTERS, 0), 0)
    assert empty["energy_per_sample_j"]["total"] is None


@pytest.mark.parametrize("name,value", [("g_max", 0), ("v_read", -0.1), ("t_read", float("nan")),
                                        ("adc_fom", "10f"), ("clock_hz", True)])
def test_bad_parameters_name_the_field(name, value):
    with pytest.raises(ConfigError, match=f"energy.{name}"):
        EnergyModel(**{name: value})


def test_model_file(tmp_path):
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"g_max": 50e-6, "t_pulse": 10e-9}))
    m = EnergyModel.from_file(p)
    assert m.g_max == 50e-6 and m.t_pulse == 10e-9 and m.v_read == EnergyModel().v_read
    p.write_text(json.dumps({"g_maks": 1}))
    with pytest.raises(ConfigError, match="g_maks.*known: g_max"):
        EnergyModel.from_file(p)
    p.write_text("{")
    with pytest.raises(ConfigError, match="valid JSON"):
        EnergyModel.from_file(p)
    assert set(PARAMETERS) == set(EnergyModel().to_dict())


# ---------------------------------------------------------------------- runs
SMALL = ["--train-subset", "160", "--test-subset", "60", "--hidden", "12", "--batch", "16",
         "--quiet"]


def _energy(out):
    return json.loads((out / "energy.json").read_text())


def _forward_reads(c):
    """Forward reads per layer of the 64-12-10 net (with bias columns: 12 x 65 and 10 x 13, one
    tile each) that explain the read counters of an inference phase, checked against every
    counter: a forward read of an R x C tile adds 1 read, R*C cells, C DAC and R ADC conversions
    (contract §7)."""
    n1 = (c["CNT_ADC"] - 10 * c["CNT_READS"]) // 2
    n2 = c["CNT_READS"] - n1
    assert 12 * n1 + 10 * n2 == c["CNT_ADC"]
    assert c["CNT_DAC"] == 65 * n1 + 13 * n2
    assert c["CNT_CELL_READS"] == 12 * 65 * n1 + 10 * 13 * n2
    return n1, n2


@pytest.mark.usefixtures("one_thread")
def test_train_writes_energy_json_from_the_counters(tmp_path, capsys, monkeypatch):
    """`memhil train` totals the crossbars' counters by phase into energy.json; the counts are
    the contract's (reads: cells, DAC, ADC per sample) and the same with and without the fused
    native step; a resumed run ends with the uninterrupted run's totals."""
    from memhil.cli import main
    out = tmp_path / "a"
    argv = ["--epochs", "2", "--stuck-rate", "0.1", "--out", str(out), *SMALL]
    assert main(["train", *argv]) == 0
    line = capsys.readouterr().out
    assert "energy:" in line and "per training sample" in line and "energy.json" in line
    doc = _energy(out)
    tr, inf = doc["phases"]["train"], doc["phases"]["inference"]
    assert tr["samples"] == 2 * 160 and inf["samples"] == 2 * 60
    c = inf["counts"]
    n1, n2 = _forward_reads(c)        # inference: forward reads only, a coarse and a ranged
    assert n1 >= 2 * 120 and n2 >= 2 * 120    # read per sample and layer (memhil.nn.layer)
    assert c["CNT_PULSES"] == 0 and c["CNT_UPDATES"] == 0
    t = tr["counts"]
    assert t["CNT_UPDATES"] == 320 * 2 and t["CNT_PULSES"] > 0
    assert t["CNT_PULSES"] == t["CNT_PULSES_UP"] + t["CNT_PULSES_DN"] + t["CNT_PULSES_STUCK"]
    assert t["CNT_PULSES_STUCK"] > 0                          # 10 % of the devices are stuck
    assert all(v > 0 for k, v in tr["energy_j"].items() if k != "digital")
    assert tr["energy_j"]["digital"] is None and doc["facts"]["cycles_measured"] is False
    res = json.loads((out / "results.json").read_text())
    assert res["energy_per_sample_j"]["train"] == pytest.approx(tr["energy_per_sample_j"]["total"])
    # the plain autograd step counts the same events as the fused native step
    monkeypatch.setenv("MEMHIL_FUSED", "0")
    out2 = tmp_path / "plain"
    assert main(["train", *argv[:-len(SMALL) - 2], "--out", str(out2), *SMALL]) == 0
    assert _energy(out2)["phases"] == doc["phases"]
    monkeypatch.delenv("MEMHIL_FUSED")
    # killed after one epoch and resumed: the same totals
    from memhil.data import load_data
    from memhil.nn import Trainer, load_checkpoint
    from memhil.nn.trainer import RunSpec
    spec = RunSpec.from_dict(load_checkpoint(out)["spec"])
    Trainer(spec, load_data(spec), out_dir=tmp_path / "b", stop_after=1).fit()
    assert main(["train", "--resume", str(tmp_path / "b"), "--quiet"]) == 0
    assert _energy(tmp_path / "b")["phases"] == doc["phases"]


@pytest.mark.usefixtures("one_thread")
def test_noisy_eval_and_energy_model_file(tmp_path, capsys):
    from memhil.cli import main
    m = tmp_path / "model.json"
    m.write_text(json.dumps({"adc_fom": 20e-15}))
    out = tmp_path / "ne"
    assert main(["noisy-eval", "--epochs", "1", "--noise", "gaussian", "--noise-levels", "0,0.1",
                 "--energy-model", str(m), "--out", str(out), *SMALL]) == 0
    assert "per inference" in capsys.readouterr().out
    doc = _energy(out)
    assert doc["model"]["adc_fom"] == 20e-15
    inf = doc["phases"]["inference"]
    assert inf["samples"] == 60 * 2                     # clean + one noise level
    n1, n2 = _forward_reads(inf["counts"])
    assert n1 >= 2 * 120 and n2 >= 2 * 120
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"adc_fom": -1}))
    assert main(["train", "--energy-model", str(bad), "--out", str(tmp_path / "x"), *SMALL]) == 2
    assert "--energy-model" in capsys.readouterr().err


@pytest.mark.sim
@pytest.mark.xdist_group("sim-rtl")
@pytest.mark.usefixtures("one_thread")
def test_sim_backend_reports_measured_cycles(tmp_path):
    """On the simulated RTL the counters include CNT_BUSY: energy.json has the digital part
    and the emulator's latency (cycles at clock_hz); the twin reports them as unknown. (The
    two runs map the layers onto different tile shapes, so their event counts differ; RTL and
    twin counters are compared bit for bit in sim/test_array and sim/test_top.)"""
    from memhil.cli import main
    argv = ["--train-subset", "48", "--test-subset", "20", "--hidden", "6", "--batch", "16",
            "--epochs", "1", "--quiet"]
    assert main(["train", "--backend", "sim", "--out", str(tmp_path / "s"), *argv]) == 0
    assert main(["train", "--out", str(tmp_path / "t"), *argv]) == 0
    s, t = _energy(tmp_path / "s"), _energy(tmp_path / "t")
    assert s["facts"]["cycles_measured"] is True and t["facts"]["cycles_measured"] is False
    for ph in ("train", "inference"):
        cs, ct = s["phases"][ph]["counts"], t["phases"][ph]["counts"]
        assert cs["CNT_BUSY"] > 0 and ct["CNT_BUSY"] == 0
        assert cs["CNT_CELL_READS"] > 0 and cs["CNT_ADC"] > 0
        lat = s["phases"][ph]["latency_s"]
        assert lat["emulator"] == pytest.approx(cs["CNT_BUSY"] / s["model"]["clock_hz"])
        assert s["phases"][ph]["energy_j"]["digital"] == pytest.approx(
            cs["CNT_BUSY"] * s["model"]["e_clock"])
        assert t["phases"][ph]["energy_j"]["digital"] is None
        assert t["phases"][ph]["latency_s"]["emulator"] is None
