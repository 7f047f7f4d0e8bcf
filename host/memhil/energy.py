"""Energy and latency of a run, from the crossbar's own counters (issue #16).

The hardware counts what an analog crossbar would spend energy on (docs/hardware-contract.md
section 7): programming pulses by direction and those sent to stuck devices
(``CNT_PULSES_UP``/``_DN``/``_STUCK``), cells read (``CNT_CELL_READS``), DAC and ADC
conversions (``CNT_DAC``, ``CNT_ADC``) and, on the RTL, clock cycles (``CNT_BUSY``). The twin
counts the same events bit for bit (all but cycles). This module turns those counts into joules
and seconds with an :class:`EnergyModel` whose parameters are named, have units, and default to
published device and circuit figures (docs/energy.md lists the sources):

* a programming pulse costs ``v_prog^2 * G * t_pulse`` (``G``: the mean device conductance),
* a cell read costs ``v_read^2 * (G+ + G-) * t_read`` (full-scale input: an upper bound),
* a DAC conversion ``e_dac``; an ADC conversion ``adc_fom * 2^adc_bits`` (Walden figure of merit),
* a clock of the digital periphery ``e_clock`` (measured cycles: sim and board backends only).

Counters are 32-bit and wrap: :class:`CounterMeter` reads them often enough (the trainer every
few minibatches) and keeps 64-bit totals per phase ("train", "inference").
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from memhil.config import ConfigError
from memhil.contract.spec import SPEC

M32 = 0xFFFFFFFF

#: the counters an energy report needs (all in the contract's register map)
ENERGY_COUNTERS = ("CNT_PULSES", "CNT_PULSES_UP", "CNT_PULSES_DN", "CNT_PULSES_STUCK",
                   "CNT_CELL_READS", "CNT_DAC", "CNT_ADC", "CNT_READS", "CNT_UPDATES",
                   "CNT_BUSY")

#: parameter -> (unit, what it is, source of the default); docs/energy.md shows this table
PARAMETERS = {
    "g_max": ("S", "conductance of a device at code CMAX (Gmax); Gmin = Gmax / dynamic range",
              "100 uS: the top of the analog range of HfOx 1T1R RRAM used for in-situ "
              "training (Li et al., Nat. Commun. 9, 2385, 2018)"),
    "v_read": ("V", "read voltage at full-scale input",
               "0.2 V: the largest read input of the memristor dot-product engine "
               "(Hu et al., Adv. Mater. 30, 1705914, 2018)"),
    "t_read": ("s", "integration time of one crossbar read",
               "80 ns: RPU baseline (Gokmen & Vlasov, Front. Neurosci. 10, 333, 2016)"),
    "v_prog": ("V", "amplitude of a programming pulse",
               "1 V: RPU baseline update pulse amplitude (Gokmen & Vlasov 2016)"),
    "t_pulse": ("s", "duration of a programming pulse (one stream-bit slot)",
                "1 ns: RPU baseline update pulse (Gokmen & Vlasov 2016)"),
    "adc_fom": ("J/conversion-step", "Walden figure of merit of the ADC",
                "10 fJ: a moderate SAR ADC in Murmann's ADC Performance Survey "
                "(best designs reach ~1 fJ)"),
    "e_dac": ("J", "energy of one input (DAC) conversion, including the line driver",
              "0.1 pJ: estimate for an 8-bit switched-capacitor DAC driving one line "
              "(no single source; replace with your circuit's figure)"),
    "e_clock": ("J", "energy of one clock cycle of the digital periphery (control, "
                "LFSRs, counters)", "10 pJ: a 1 mW controller at 100 MHz (estimate)"),
    "clock_hz": ("Hz", "clock of the emulator's digital logic (cycles -> seconds)",
                 "100 MHz: the PYNQ-Z2 build's FCLK0 (bitstreams/build.tcl)"),
}


@dataclass(frozen=True)
class EnergyModel:
    """Energy per event of an analog crossbar (see :data:`PARAMETERS` for units and sources)."""

    g_max: float = 100e-6
    v_read: float = 0.2
    t_read: float = 80e-9
    v_prog: float = 1.0
    t_pulse: float = 1e-9
    adc_fom: float = 10e-15
    e_dac: float = 0.1e-12
    e_clock: float = 10e-12
    clock_hz: float = 100e6

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v <= 0:
                unit = PARAMETERS[f.name][0]
                raise ConfigError(f"energy.{f.name}", v, f"must be a positive number (in {unit})")

    @classmethod
    def from_dict(cls, d: dict, where: str = "energy model") -> "EnergyModel":
        if not isinstance(d, dict):
            raise ConfigError(where, d, "must be a JSON object of parameter: value")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", d[unknown[0]],
                              f"is not a parameter; known: {', '.join(PARAMETERS)}")
        return cls(**d)

    @classmethod
    def from_file(cls, path) -> "EnergyModel":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except OSError as e:
            raise ConfigError("--energy-model", str(p), f"must be a readable JSON file ({e.strerror})")
        except json.JSONDecodeError as e:
            raise ConfigError("--energy-model", str(p), f"must hold valid JSON ({e})")
        return cls.from_dict(d, str(p))

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------- counting
class CounterMeter:
    """64-bit totals of the 32-bit wrapping counters of several backends, split by phase.

    ``sample()`` adds the change since the last read (mod 2^32) to the current phase; call it
    at least once per 2^32 events of any counter (the trainer samples every few minibatches).
    """

    def __init__(self, backends, names=ENERGY_COUNTERS):
        self.backends = list(backends)
        self.names = tuple(names)
        self.phase = None
        self.totals: dict[str, dict[str, int]] = {}
        self._last = [self._read(b) for b in self.backends]

    def _read(self, backend) -> dict:
        c = backend.counters()
        missing = [n for n in self.names if n not in c]
        if missing:
            raise ValueError(f"backend {type(backend).__name__} has no counter "
                             f"{', '.join(missing)} (contract older than the energy counters?)")
        return {n: int(c[n]) for n in self.names}

    def sample(self) -> None:
        acc = self.totals.setdefault(self.phase, dict.fromkeys(self.names, 0)) \
            if self.phase is not None else None
        for k, b in enumerate(self.backends):
            now = self._read(b)
            if acc is not None:
                for n in self.names:
                    acc[n] += (now[n] - self._last[k][n]) & M32
            self._last[k] = now

    def start(self, phase: str) -> None:
        """Count from here on into ``phase`` (what happened before goes to the old phase)."""
        self.sample()
        self.phase = phase

    def stop(self) -> None:
        self.sample()
        self.phase = None

    def state_dict(self) -> dict:
        return {"totals": {p: dict(t) for p, t in self.totals.items()}}

    def load_state_dict(self, st: dict) -> None:
        self.totals = {p: {n: int(t.get(n, 0)) for n in self.names}
                       for p, t in st.get("totals", {}).items()}
        self._last = [self._read(b) for b in self.backends]


# ---------------------------------------------------------------------- the report
@dataclass(frozen=True)
class ArrayFacts:
    """What the energy model needs to know about the devices besides the counts."""

    cmax: int                 # top code
    c0: int                   # Gmin in code units
    adc_bits: int
    bl: int                   # stream length (coincidence mode)
    mode: str                 # "rounding" or "coincidence"
    mean_pair_code: float     # mean of c+ + c- over the cells (CMAX when balanced)
    cycles_measured: bool     # True on sim/board (CNT_BUSY counts), False on the twin


def energy_of(model: EnergyModel, facts: ArrayFacts, counts: dict) -> dict:
    """Joules by part for the events in ``counts`` (one phase's totals)."""
    g_lsb = model.g_max / (facts.cmax + facts.c0)
    g_pair = (facts.mean_pair_code + 2 * facts.c0) * g_lsb          # G+ + G- of a mean cell
    g_dev = g_pair / 2
    pulses = counts["CNT_PULSES_UP"] + counts["CNT_PULSES_DN"] + counts["CNT_PULSES_STUCK"]
    parts = {
        "programming": pulses * model.v_prog ** 2 * g_dev * model.t_pulse,
        "array_read": counts["CNT_CELL_READS"] * model.v_read ** 2 * g_pair * model.t_read,
        "dac": counts["CNT_DAC"] * model.e_dac,
        "adc": counts["CNT_ADC"] * model.adc_fom * 2 ** facts.adc_bits,
    }
    parts["digital"] = counts["CNT_BUSY"] * model.e_clock if facts.cycles_measured else None
    return parts


def latency_of(model: EnergyModel, facts: ArrayFacts, counts: dict, applies: int) -> dict:
    """Seconds: the analog array's own time (reads, stream slots, pulse trains) and, on the
    sim and board backends, the emulator's measured time (cycles at ``clock_hz``)."""
    nmax = SPEC.limits["nmax"]
    slots = counts["CNT_UPDATES"] * facts.bl if facts.mode == "coincidence" else 0
    analog = counts["CNT_READS"] * model.t_read + (slots + applies * nmax) * model.t_pulse
    emu = counts["CNT_BUSY"] / model.clock_hz if facts.cycles_measured else None
    return {"analog_array": analog, "emulator": emu}


def phase_report(model: EnergyModel, facts: ArrayFacts, counts: dict, samples: int,
                 applies: int = 0) -> dict:
    parts = energy_of(model, facts, counts)
    known = sum(v for v in parts.values() if v is not None)
    lat = latency_of(model, facts, counts, applies)
    per = (lambda v: None if v is None or samples == 0 else v / samples)
    return {
        "samples": samples,
        "counts": dict(counts),
        "energy_j": {**parts, "total": known},
        "energy_per_sample_j": {**{k: per(v) for k, v in parts.items()}, "total": per(known)},
        "latency_s": lat,
        "latency_per_sample_s": {k: per(v) for k, v in lat.items()},
    }


def report(model: EnergyModel, facts: ArrayFacts, meter: CounterMeter, samples: dict,
           applies: int = 0) -> dict:
    """The energy.json document: the model, the facts and one report per phase counted."""
    doc = {"model": model.to_dict(),
           "units": {k: v[0] for k, v in PARAMETERS.items()},
           "facts": asdict(facts),
           "phases": {}}
    for phase, counts in meter.totals.items():
        doc["phases"][phase] = phase_report(model, facts, counts, samples.get(phase, 0),
                                            applies if phase == "train" else 0)
    return doc


def summary_line(doc: dict) -> str:
    """One line: joules and seconds per training sample and per inference."""
    bits = []
    for phase, name in (("train", "per training sample"), ("inference", "per inference")):
        p = doc["phases"].get(phase)
        if p and p["samples"]:
            e = p["energy_per_sample_j"]["total"]
            t = p["latency_per_sample_s"]["analog_array"]
            bits.append(f"{_eng(e, 'J')} and {_eng(t, 's')} {name}")
    return "energy: " + ("; ".join(bits) if bits else "nothing counted")


def _eng(v: float, unit: str) -> str:
    if v is None:
        return "n/a"
    for f, p in ((1, ""), (1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(v) >= f:
            return f"{v / f:.3g} {p}{unit}"
    return f"{v:.3g} {unit}"


# ---------------------------------------------------------------------- runs
def array_facts(backends, config) -> ArrayFacts:
    """The facts of a trained network's crossbars: the device configuration's registers and the
    mean ``c+ + c-`` over every cell of every tile the backends hold (unused cells conduct at
    ``Gmin`` too, and a read drives every cell of its tile)."""
    import numpy as np
    regs = config.registers()
    tot, n, measured = 0, 0, False
    for b in backends:
        sd = b.state_dict()
        for k in ("gp", "gm"):
            a = np.asarray(sd[k], dtype=np.int64)
            tot += int(a.sum())
        n += np.asarray(sd["gp"]).size
        measured = measured or not _is_twin(b)
    mode = "coincidence" if regs["UPDATE_MODE"] == SPEC.update_mode["COINCIDENCE"] else "rounding"
    return ArrayFacts(cmax=regs["CMAX"], c0=regs["C0"], adc_bits=regs["ADC_BITS"], bl=regs["BL"],
                      mode=mode, mean_pair_code=(tot / n) if n else float(regs["CMAX"]),
                      cycles_measured=measured)


def _is_twin(backend) -> bool:
    return type(backend).__module__.startswith("memhil.twin")


def applies_of(counts: dict, batch: int) -> int:
    """Applies (one per tile per minibatch): update samples over the minibatch size."""
    return -(-counts.get("CNT_UPDATES", 0) // max(1, batch))


def trainer_report(trainer, model: EnergyModel | None = None) -> dict | None:
    """The energy.json document of a :class:`memhil.nn.trainer.Trainer`'s run so far (its
    meter's totals, ``model`` or the default model), or None for a run that counted nothing
    (the float baseline)."""
    meter = getattr(trainer, "meter", None)
    if meter is None or not meter.totals:
        return None
    train = meter.totals.get("train")
    return report(model or EnergyModel(),
                  array_facts(meter.backends, trainer.spec.device_config()), meter,
                  trainer.energy_samples, applies_of(train, trainer.spec.batch) if train else 0)


def per_sample_totals(doc: dict) -> dict:
    """``{phase: joules per sample}`` of an energy.json document."""
    return {ph: p["energy_per_sample_j"]["total"] for ph, p in doc["phases"].items()}


def write_energy(out, doc: dict) -> None:
    """``doc`` as ``out/energy.json``, written atomically."""
    from memhil.fileio import atomic_write_bytes
    atomic_write_bytes(Path(out) / "energy.json", (json.dumps(doc, indent=2) + "\n").encode())
