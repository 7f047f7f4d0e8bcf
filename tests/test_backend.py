"""memhil.backend: the crossbar backend interface (Twin and the runtime's Crossbar implement it),
the one error family, the registry of kinds, and the import layering it makes possible."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from memhil import backend
from memhil.backend import (COUNTERS, BackendUnavailable, CrossbarBackend, CrossbarError,
                            backend_kinds, open_backend, register_backend)
from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC
from memhil.runtime import protocol as pr
from memhil.runtime.device_model import TwinDevice
from memhil.runtime.driver import Crossbar, DeviceError, LinkError
from memhil.runtime.lockstep import LockstepCrossbar
from memhil.runtime.protocol import Op
from memhil.runtime.transport import LoopbackTransport
from memhil.twin import Twin, TwinError

HOST = Path(__file__).resolve().parents[1] / "host"
CFG = DeviceConfig(update_mode="rounding", step_model="soft-bounds", asymmetry=0.2, seed=5,
                   c2c_sigma=0.1, d2d_sigma=0.1, read_noise_sigma=0.05)


class _Recorder(LoopbackTransport):
    """The loopback, keeping every command frame written."""

    def __init__(self, device):
        super().__init__(device)
        self.frames: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.frames.append(bytes(data))
        super().write(data)


def _commands(frames):
    """(OP, payload) of each command frame."""
    hb = SPEC.protocol["cmd_header_bytes"]
    return [(f[2], f[hb: hb + int.from_bytes(f[3:hb], "little")]) for f in frames]


def _crossbar(rows=3, cols=4, tiles=2, cls=Crossbar):
    tr = _Recorder(TwinDevice(rows, cols, tiles, g_w=CFG.code_bits))
    return cls(tr), tr


# ---------------------------------------------------------------------------- the interface
def test_twin_and_crossbar_implement_the_interface():
    xb, _ = _crossbar()
    ls, _ = _crossbar(cls=LockstepCrossbar)
    for b in (Twin(3, 4, 2), xb, ls):
        assert isinstance(b, CrossbarBackend)
    with pytest.raises(TypeError, match="abstract"):
        CrossbarBackend()
    # configure, seed and the checks are written once, in the interface
    for name in ("configure", "seed", "counters", "clear_counters", "snapshot",
                 "_check_tile", "_check_range", "_check_word", "_check_geometry"):
        assert getattr(Twin, name) is getattr(CrossbarBackend, name), name
        assert getattr(Crossbar, name) is getattr(CrossbarBackend, name), name


def test_counter_names_come_from_the_contract():
    assert COUNTERS == tuple(n for n in SPEC.registers if n.startswith("CNT_"))
    assert COUNTERS == ("CNT_PULSES", "CNT_UPDATES", "CNT_READS", "CNT_BUSY", "CNT_ERRORS",
                        "CNT_PULSES_UP", "CNT_PULSES_DN", "CNT_PULSES_STUCK", "CNT_CELL_READS",
                        "CNT_DAC", "CNT_ADC")


def test_one_error_family():
    assert TwinError is CrossbarError and issubclass(CrossbarError, ValueError)
    assert issubclass(DeviceError, CrossbarError)
    assert issubclass(LinkError, RuntimeError) and not issubclass(LinkError, CrossbarError)
    assert not issubclass(BackendUnavailable, CrossbarError)


def test_configure_and_seed_give_the_twins_state():
    """configure/seed on a Crossbar over the loopback leave the device in the state they leave a
    Twin in, bit for bit, and the interface's counters() agree."""
    xb, _ = _crossbar()
    tw = Twin(3, 4, 2, g_w=CFG.code_bits)
    for b in (xb, tw):
        b.configure(CFG)
    dev = xb.transport.device.twin
    for k in ("row_lfsr", "col_lfsr", "step_up", "step_dn"):
        assert torch.equal(getattr(dev, k), getattr(tw, k)), k
    assert dev.regs == tw.regs
    for b in (xb, tw):
        b.seed(99)
        b.configure(CFG, seed_rng=False)
    assert torch.equal(dev.row_lfsr, tw.row_lfsr) and torch.equal(dev.col_lfsr, tw.col_lfsr)
    x, d = torch.tensor([[5, -7, 9, 100]]), torch.tensor([[20, -30, 40]])
    assert xb.update(1, x, d) == tw.update(1, x, d)
    assert xb.counters() == tw.counters()
    assert torch.equal(xb.snapshot()["row_lfsr"], tw.snapshot()["row_lfsr"])


def test_configure_commands_on_the_wire():
    """Crossbar.configure sends exactly: WRITE_REG of every register of config.registers() in
    order, the step tables level by level (up, then down), then one WRITE_RNG per tile."""
    xb, tr = _crossbar()
    n0 = len(tr.frames)
    xb.configure(CFG)
    want = [(Op.WRITE_REG, pr.pack_write_reg(SPEC.reg(n), v)) for n, v in CFG.registers().items()]
    tb = SPEC.tables
    for k, (u, d) in enumerate(zip(*CFG.step_tables())):
        want += [(Op.WRITE_REG, pr.pack_write_reg(tb["step_up_base"] + 4 * k, u)),
                 (Op.WRITE_REG, pr.pack_write_reg(tb["step_dn_base"] + 4 * k, d))]
    tw = Twin(3, 4, 2, g_w=CFG.code_bits)
    tw.seed(CFG.seed)
    for t in range(2):
        states = torch.cat([tw.row_lfsr[t], tw.col_lfsr[t]]).tolist()
        want.append((Op.WRITE_RNG, pr.pack_range(t, 0, len(states), start16=True)
                     + pr.pack_u32s(states)))
    assert _commands(tr.frames[n0:]) == want


def test_the_same_checks_and_messages():
    """An argument the contract refuses raises the same CrossbarError on the twin and on a
    Crossbar (which sends nothing)."""
    xb, tr = _crossbar()
    tw = Twin(3, 4, 2, g_w=CFG.code_bits)
    x, d = torch.zeros(2, 4, dtype=torch.int64), torch.zeros(2, 3, dtype=torch.int64)
    bad = [lambda b: b.forward(2, x), lambda b: b.read_cells(0, 10, 3),
           lambda b: b.write_rng(1, 0, [1, 0]), lambda b: b.transpose(0, d.float()),
           lambda b: b.forward(0, d), lambda b: b.update(0, x, d[:1]),
           lambda b: b.write_reg(SPEC.reg("BL"), 1 << 32),
           lambda b: b.write_cells(0, 0, [1, 2], [1]), lambda b: b.read_rng(-1, 0, 1),
           lambda b: b.update(0, x[:0], d[:0])]
    for f in bad:
        n0 = len(tr.frames)
        msgs = []
        for b in (tw, xb):
            with pytest.raises(CrossbarError) as ei:
                f(b)
            msgs.append(str(ei.value))
        assert msgs[0] == msgs[1]
        assert len(tr.frames) == n0                       # refused before anything was sent
    sd = tw.state_dict()
    sd["geometry"] = (1, 1, 1)
    for b in (tw, xb):
        with pytest.raises(CrossbarError, match=r"geometry \(1, 1, 1\) does not match"):
            b.load_state_dict(sd)
    with pytest.raises(DeviceError, match="WRITE_REG with BAD_ARG"):
        xb.write_reg(SPEC.reg("ID"), 1)                   # the device's own refusal


# ---------------------------------------------------------------------------- the registry
def test_registry_knows_twin_sim_board():
    assert backend_kinds()[:3] == ("twin", "sim", "board")
    tw = open_backend("twin", 3, 4, 2, CFG)
    ref = Twin(3, 4, 2, CFG)
    assert type(tw) is Twin
    sd, rd = tw.state_dict(), ref.state_dict()
    assert all(torch.equal(sd[k], rd[k]) for k in ("row_lfsr", "col_lfsr", "step_up"))
    assert (tw.batch_max, tw.bl_max) == (256, 255) and tw.update_batch_max() == 256
    small = open_backend("twin", 3, 4, 2, CFG, batch_max=8, bl_max=40)   # a build's limits
    assert (small.batch_max, small.bl_max, small.update_batch_max()) == (8, 40, 8)
    with pytest.raises(CrossbarError, match=r"BL: value 50 must be in \[1, 40\] \(this "
                                            r"build's BL_MAX is 40\)"):
        open_backend("twin", 3, 4, 2, CFG.replace(bl=50), bl_max=40)


def test_unknown_kind_names_the_allowed_ones():
    with pytest.raises(BackendUnavailable,
                       match=r"backend='analog' is not allowed: one of \('twin', 'sim', 'board'"):
        open_backend("analog", 3, 4, 1, CFG)


def test_sim_kind_opens_a_crossbar_through_the_registry():
    xb = open_backend("sim", 3, 4, 2, CFG, model="twin", lockstep=True)
    try:
        assert isinstance(xb, LockstepCrossbar) and xb.kind == "sim"
        assert (xb.rows, xb.cols, xb.tiles) == (3, 4, 2)
        tw = Twin(3, 4, 2, CFG, g_w=CFG.code_bits)
        assert torch.equal(xb.read_rng(1, 0, 7), tw.read_rng(1, 0, 7))
    finally:
        xb.close()
    with pytest.raises(BackendUnavailable, match="backend 'board' could not be opened: .*port="):
        open_backend("board", 3, 4, 1, CFG)


def test_register_a_kind(monkeypatch):
    calls = []

    def opener(rows, cols, tiles, config, device="cpu", **options):
        calls.append(options)
        return Twin(rows, cols, tiles, config, device=device)

    monkeypatch.setattr(backend, "_OPENERS", dict(backend._OPENERS))
    register_backend("mine", opener)
    assert "mine" in backend_kinds()
    assert isinstance(open_backend("mine", 2, 2, 1, CFG, flavour=1), Twin)
    assert calls == [{"flavour": 1}]
    with pytest.raises(ValueError, match="kind="):
        register_backend("", opener)


# ---------------------------------------------------------------------------- layering
def _fresh(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_imports_in_fresh_interpreters():
    """Each layer imports on its own; memhil.nn does not import the runtime (it reaches the
    device kinds through the registry), and the runtime does not import memhil.nn."""
    _fresh("import memhil.runtime.session")
    out = _fresh("import sys, memhil.nn, memhil.backend as b\n"
                 "print(sorted(m for m in sys.modules if m.startswith('memhil.runtime')))\n"
                 "import importlib; importlib.import_module(b.PROVIDERS['sim'])\n"
                 "print(sorted(k for k in b._OPENERS))")
    runtime_after_nn, kinds = out.splitlines()
    assert runtime_after_nn == "[]"
    assert kinds == "['board', 'sim', 'twin']"
    _fresh("import sys, memhil.runtime.session, memhil.runtime.lockstep\n"
           "assert not [m for m in sys.modules if m.startswith('memhil.nn')], sys.modules")


def _import_graph():
    """memhil's modules -> (modules imported at module level, [(module, line)] imported inside
    functions); ``from P import m`` counts as importing P.m when that is a module."""
    files = {}
    for p in (HOST / "memhil").rglob("*.py"):
        parts = list(p.relative_to(HOST).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = p
    top, inner = {}, {}
    for mod, path in files.items():
        t, f = set(), []

        def targets(node):
            if isinstance(node, ast.Import):
                return [a.name for a in node.names]
            base = node.module or ""
            if node.level:
                pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            return [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                    for a in node.names]

        def walk(node, in_func):
            for ch in ast.iter_child_nodes(node):
                if isinstance(ch, (ast.Import, ast.ImportFrom)):
                    for x in targets(ch):
                        if x in files:
                            f.append((x, ch.lineno)) if in_func else t.add(x)
                walk(ch, in_func or isinstance(ch, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                    ast.Lambda)))

        walk(ast.parse(path.read_text()), False)
        top[mod], inner[mod] = t, f
    return top, inner


def _reaches(graph, a):
    seen, todo = set(), [a]
    while todo:
        for y in graph.get(todo.pop(), ()):
            if y not in seen:
                seen.add(y)
                todo.append(y)
    return seen


def test_no_import_cycles():
    """No module-level import cycle; no import inside a function that would close one (an
    import deferred to dodge a loop); and no cycle between memhil's parts (twin, runtime, nn,
    ...) even counting the imports inside functions: e.g. nn never imports the runtime and the
    runtime never imports nn."""
    top, inner = _import_graph()
    assert [m for m in top if m in _reaches(top, m)] == []
    dodges = [f"{m}:{line} imports {x}" for m, imps in inner.items() for x, line in imps
              if m in _reaches(top, x)]
    assert dodges == []

    def part(m):
        return m.split(".")[1] if "." in m else m

    parts: dict[str, set] = {}
    for m in top:
        for x in list(top[m]) + [x for x, _ in inner[m]]:
            if part(x) != part(m):
                parts.setdefault(part(m), set()).add(part(x))
    assert [p for p in parts if p in _reaches(parts, p)] == []
    assert "runtime" not in parts["nn"] and "nn" not in parts["runtime"]
    assert parts["backend"] <= {"config", "contract"}
