"""Projected board training throughput of the paper network (``memhil bench board``; issue 11,
deliverable 3): cycle-exact simulation of the batched commands, against the twin measured in the
same run.

The network is 784-256-128-10 with bias columns: layer tiles (rows x cols) 256x785, 128x257 and
10x129, each simulated on a ``memhil_top`` build of its own shape, at each of :data:`LANES`
(8, the default build, gives the headline keys; 32 for comparison).
One minibatch of ``B`` samples costs

* ``FORWARD_B`` on the three layers,
* ``TRANSPOSE_B`` on layers 2 and 3 (the error of layer 1's input is not needed),
* ``UPDATE_B`` with APPLY on the three layers (in the update mode being projected),
* the register writes the host makes per minibatch (ADC_SHIFT, LR_Q when they change: each a
  WRITE_REG command),

plus the host's share. **Cycles** are counted in Verilator (cocotb, ``sim/bench_rtl/
bench_board.py``) as ``memhil bench rtl`` counts them: no idle cycles on the command stream, no
backpressure on the response stream, from the clock that takes the frame's first byte to the
one that sends the response's last byte. Simulating ``B`` = 32 on 256x785 would take long, so
each batched command is simulated at ``B`` = 1, 2 and 3; the counts must be exactly linear in
``B`` (second difference 0; :class:`CountsNotLinear` otherwise) and are extrapolated exactly to
``B`` = 32. They are also checked against the documented formula (:func:`batched_cycles`:
``memhil.bench.rtl``'s single-command formula plus the executor's per-sample step).

**DMA**: the command and response streams are 8 bits wide at the PL clock, so the counts
already hold one cycle per byte in and out; the output gives the bytes per minibatch and the
share of the cycles that is stream byte movement (what a wider stream would shrink) and the
share that is the array's own one-byte-per-clock operand and result movement.

**Host** (named constants below, each a parameter): a fixed time per command (the DMA round
trip driven from Python), a time per frame byte (encode, CRC, decode) and the training math
per sample. The projection is sequential: no host work overlaps the device.

**Twin**: the same network, batch 32, both update modes, trained on the twin in this process as
``memhil bench train`` does (warm-up epoch, median of ``MEMHIL_BENCH_REPEATS`` (5) timed epochs
of ``MEMHIL_BENCH_SUBSET`` (2,048) samples; Fashion-MNIST if installed, else random inputs of
the same shape: the JSON's ``twin.data`` says which), each mode on 1 and on 2 threads
(``MEMHIL_BENCH_TWIN_THREADS``), the faster counting.

Keys of the result (the headline LANES): ``board_samples_per_s``, ``twin_samples_per_s``,
``board_vs_twin`` (per mode, and ``worst``), ``device_only_samples_per_s``,
``host_only_samples_per_s``, ``command_cycles`` and ``cycles_vs_bare_bound`` (per command at
B = 32), ``cycles_per_minibatch``, ``bytes_per_minibatch``, ``stream_share``, ``host`` (the
host figures used), ``assumptions``; ``builds["L<lanes>"]`` holds everything per LANES,
including the raw counts (``simulated``) that ``cycles_from`` (``--cycles-from``) reuses.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from memhil.bench import rtl
from memhil.contract.spec import SPEC

ROOT = rtl.ROOT
NETWORK = (784, 256, 128, 10)
BATCH = 32                      # the minibatch projected (issue 11: batch 32)
MEASURED_BS = (1, 2, 3)         # batch sizes simulated; linear in B, extrapolated to BATCH
CLOCK_HZ = 100e6                # the PL clock of the PYNQ-Z2 overlay (FCLK0)
BL = 31                         # coincidence mode's stream length
LANES = (8, 32)                 # 8: memhil_top's default (the headline); 32 for comparison
MODES = (("rounding", 0), ("coincidence", 1))      # name, UPDATE_MODE register value
STREAM_BYTES_PER_CYCLE = 1      # the AXI4-Stream command/response width: 8 bits

# Host side (parameters of run()/`memhil bench board`; printed in the JSON under "host"):
#: per command (batched command or WRITE_REG): Python on the board's Cortex-A9 arming pynq's
#: DMA send and receive channels and waiting for both. ASSUMPTION, not measured (no board):
#: pynq's DMA driver is Python (a few MMIO register writes and status reads per channel, cache
#: flush/invalidate of the buffers), each MMIO access a few microseconds on the A9.
HOST_US_PER_COMMAND = 100.0
#: per frame byte (command and response): the driver's encode, CRC-16 (binascii, in C) and
#: decode. Measured on the 2-core x86 build VM: 4.6 ns/byte encoding a 33 kB UPDATE_B frame,
#: 5.2 ns/byte decoding a 16 kB response (2026-12-01); a Cortex-A9 is slower.
HOST_NS_PER_BYTE = 5.0
#: per sample: the host's training math (DAC coding, ADC ranging and scaling, ReLU, loss,
#: gradients, update scaling) of memhil.npnn at batch 32, device calls excluded. Measured on
#: the x86 build VM: 46-64 us per sample (Fashion-MNIST, both modes, one thread,
#: 2026-12-01). This default is that speed, i.e. a host as fast as this machine (the PC of
#: `memhil board-server`'s PC-driven mode); the board's Cortex-A9 running npnn itself will be
#: several times slower (not measured): pass --host-us-per-sample.
HOST_US_PER_SAMPLE = 50.0
#: register writes per minibatch (ADC_SHIFT before a read whose gain changed, LR_Q before an
#: update): memhil.npnn on one 3-tile device, Fashion-MNIST, batch 32, after 16 minibatches:
#: 4.2 (coincidence) and 4.6 (rounding) per minibatch (2026-12-01).
REG_WRITES_PER_MINIBATCH = 4

CMD_FRAME, RSP_FRAME = rtl.CMD_FRAME, rtl.RSP_FRAME    # header + CRC around the payload
#: memhil_exec's cycles between one sample's array ``done`` and the next sample's command
#: handshake in a batched command (hdl/memhil_exec.sv: E_ARR_RUN -> E_ARR_CMD -> handshake)
EXEC_GAP = 2
OPS = ("forward_b", "transpose_b", "update_b")
_SINGLE = {"forward_b": "forward", "transpose_b": "transpose", "update_b": "update"}


class CountsNotLinear(RuntimeError):
    """Simulated cycle counts that are not exactly linear in the batch size B: the
    extrapolation to B = 32 would be wrong."""


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------------------------ arithmetic
def layer_tiles(network=NETWORK) -> list[tuple[int, int]]:
    """(rows, cols) of each layer's tile: outputs x (inputs + the bias column)."""
    return [(b, a + 1) for a, b in zip(network[:-1], network[1:])]


def minibatch_commands(n_layers: int) -> list[tuple[int, str]]:
    """(layer, op) of one training minibatch: forward on all layers, transpose on all but the
    first (its input error is not needed), update (with APPLY) on all."""
    return ([(i, "forward_b") for i in range(n_layers)]
            + [(i, "transpose_b") for i in range(n_layers - 1, 0, -1)]
            + [(i, "update_b") for i in range(n_layers)])


def payload_bytes(R: int, C: int, op: str, B: int) -> tuple[int, int]:
    """Command and response payload bytes of a batched command (contract section 8)."""
    if op == "forward_b":
        return 3 + B * C, 2 * B * R
    if op == "transpose_b":
        return 3 + B * R, 2 * B * C
    if op == "update_b":
        return 4 + B * (C + R), 4
    raise ValueError(op)


def frame_bytes(R: int, C: int, op: str, B: int) -> tuple[int, int]:
    """Bytes of the command frame and of the response frame on the streams."""
    p, q = payload_bytes(R, C, op, B)
    return CMD_FRAME + p, RSP_FRAME + q


def payload_log2_needed(R: int, C: int, ops, B: int) -> int:
    """The smallest PAYLOAD_LOG2 (at least the contract's minimum) whose MAX_PAYLOAD carries
    these commands and their answers at batch B."""
    need = max(max(payload_bytes(R, C, op, B)) for op in ops)
    return max(SPEC.limits["payload_log2_min"], (need - 1).bit_length())


def bare_bound(R: int, C: int, L: int) -> int:
    """ceil(R*C/LANES): the cell pass of one sample, nothing else."""
    return _cdiv(R * C, L)


def linear_fit(counts: dict, what: str = "cycles") -> tuple[int, int]:
    """``(a, b)`` with ``counts[B] == a + b*B`` exactly for every measured B (at least 3
    batch sizes); :class:`CountsNotLinear` if the counts are not exactly linear."""
    pts = sorted((int(k), int(v)) for k, v in counts.items())
    if len(pts) < 3:
        raise ValueError(f"{what}: need counts at 3 or more batch sizes to check linearity, "
                         f"got {dict(pts)}")
    (b0, c0), (b1, c1) = pts[0], pts[1]
    slope, rem = divmod(c1 - c0, b1 - b0)
    bad = rem != 0 or any(c != c0 + slope * (b - b0) for b, c in pts[2:])
    if bad:
        if all(pts[i + 1][0] - pts[i][0] == 1 for i in range(len(pts) - 1)):
            d2 = [pts[i + 2][1] - 2 * pts[i + 1][1] + pts[i][1] for i in range(len(pts) - 2)]
            why = f"second differences {d2}, not 0"
        else:
            why = "not on one line"
        raise CountsNotLinear(f"{what}: cycle counts {dict(pts)} are not linear in B ({why}); "
                              f"the extrapolation to B = {BATCH} would be wrong")
    return c0 - slope * b0, slope


def extrapolate(counts: dict, B: int, what: str = "cycles") -> int:
    """The exact count at batch ``B`` from counts that :func:`linear_fit` accepts."""
    a, b = linear_fit(counts, what)
    return a + b * B


def batched_cycles(R: int, C: int, L: int, op: str, B: int, mode: int = 0, bl: int = BL) -> int:
    """Documented cycles of a batched command at the top (docs/rtl.md, "Cycle counts"): the
    frame in; for FORWARD_B/TRANSPOSE_B B single-sample array commands with the executor's
    EXEC_GAP cycles between samples, for UPDATE_B one array update over the B samples (contract
    v3: no accumulator, the batch sums in lane registers); the response frame out and the
    control path's fixed cycles (``memhil.bench.rtl``'s single-command formula, of which B = 1
    is the case with two more payload bytes)."""
    single = _SINGLE[op]
    p, q = payload_bytes(R, C, op, B)
    if single == "update":            # contract v3: one array command over the B samples
        arr, gaps = rtl.array_cycles(R, C, L, single, mode, bl=bl, B=B), 0
    else:
        arr = B * rtl.array_cycles(R, C, L, single, mode, bl=bl)
        gaps = (B - 1) * EXEC_GAP
    return (CMD_FRAME + p) + arr + gaps + (RSP_FRAME + q) + rtl.CTRL_FIXED[single]


def _byte_cycles(R: int, C: int, op: str) -> int:
    """The array's own one-byte-per-clock movement per sample (docs/rtl-datapath.md): operand
    bytes in, result bytes out."""
    return {"forward_b": C + 2 * R, "transpose_b": R + 2 * C, "update_b": C + R}[op]


def command_figures(R: int, C: int, L: int, op: str, counts: dict, batch: int = BATCH,
                    mode: int = 0, bl: int = BL, clock_hz: float = CLOCK_HZ) -> dict:
    """One batched command at ``batch`` from its simulated counts: the extrapolated cycles,
    the cycles against the bare ceil(R*C/L) bound per sample, the documented formula, the
    bytes and where the cycles go."""
    what = f"{op} {R}x{C} LANES={L}" + (f" mode {mode}" if op == "update_b" else "")
    a, b = linear_fit(counts, what)
    cyc = a + b * batch
    bare = bare_bound(R, C, L)
    cmd, rsp = frame_bytes(R, C, op, batch)
    core = batch * R * _cdiv(C, L)
    internal = batch * _byte_cycles(R, C, op)
    formula = {str(k): batched_cycles(R, C, L, op, int(k), mode, bl) for k in counts}
    return {
        "rows": R, "cols": C, "lanes": L, "batch": batch,
        "measured": {str(k): int(v) for k, v in sorted(counts.items(), key=lambda t: int(t[0]))},
        "intercept": a, "per_sample": b, "cycles": cyc,
        "extrapolated": batch not in {int(k) for k in counts},
        "formula": formula,
        "formula_exact": all(formula[str(k)] == int(v) for k, v in counts.items()),
        "formula_at_batch": batched_cycles(R, C, L, op, batch, mode, bl),
        "bare_bound_per_sample": bare,
        "cycles_vs_bare_bound": cyc / (batch * bare),
        "per_sample_vs_bare_bound": b / bare,
        "cmd_bytes": cmd, "rsp_bytes": rsp,
        "stream_cycles": (cmd + rsp) // STREAM_BYTES_PER_CYCLE,
        "array_byte_cycles": internal,
        "core_cycles": core,
        "other_cycles": cyc - (cmd + rsp) // STREAM_BYTES_PER_CYCLE - internal - core,
        "us": cyc / clock_hz * 1e6,
    }


def project(sims: dict, lanes: int, twin: dict, *, network=NETWORK, batch: int = BATCH,
            clock_hz: float = CLOCK_HZ, host_us_per_command: float = HOST_US_PER_COMMAND,
            host_ns_per_byte: float = HOST_NS_PER_BYTE,
            host_us_per_sample: float = HOST_US_PER_SAMPLE,
            reg_writes_per_minibatch: int = REG_WRITES_PER_MINIBATCH, bl: int = BL) -> dict:
    """The board's training throughput on one LANES from the simulated counts.

    ``sims[layer]``: what the testbench wrote for that layer's build (``forward_b``,
    ``transpose_b``, ``update_b_m0``, ``update_b_m1``: ``{B: cycles}``; ``write_reg``: the
    cycles of one WRITE_REG); ``twin``: ``{"rounding": samples/s, "coincidence": ...}``.
    """
    tiles = layer_tiles(network)
    cmds = minibatch_commands(len(tiles))
    commands: dict = {}
    for i, (R, C) in enumerate(tiles):
        s = sims[i]
        for op in OPS:
            if op == "update_b":
                for name, m in MODES:
                    commands[f"l{i + 1}_update_b_{name}"] = command_figures(
                        R, C, lanes, op, s[f"update_b_m{m}"], batch, m, bl, clock_hz)
            elif (i, op) in cmds:
                commands[f"l{i + 1}_{op}"] = command_figures(R, C, lanes, op, s[op], batch,
                                                             0, bl, clock_hz)
    wreg_cycles = int(sims[0]["write_reg"])
    wreg_bytes = CMD_FRAME + 6 + RSP_FRAME
    modes = {}
    for name, _ in MODES:
        keys = [f"l{i + 1}_{op}" + (f"_{name}" if op == "update_b" else "") for i, op in cmds]
        rows = [commands[k] for k in keys]
        n_cmd = len(rows) + reg_writes_per_minibatch
        cycles = sum(r["cycles"] for r in rows) + reg_writes_per_minibatch * wreg_cycles
        nbytes = sum(r["cmd_bytes"] + r["rsp_bytes"] for r in rows) \
            + reg_writes_per_minibatch * wreg_bytes
        stream = sum(r["stream_cycles"] for r in rows) + reg_writes_per_minibatch * wreg_bytes
        device_s = cycles / clock_hz
        host = {"commands_s": n_cmd * host_us_per_command * 1e-6,
                "bytes_s": nbytes * host_ns_per_byte * 1e-9,
                "samples_s": batch * host_us_per_sample * 1e-6}
        host_s = sum(host.values())
        bare = sum(batch * r["bare_bound_per_sample"] for r in rows)
        board = batch / (device_s + host_s)
        modes[name] = {
            "commands": keys, "commands_per_minibatch": n_cmd,
            "cycles_per_minibatch": cycles,
            "bare_bound_per_minibatch": bare,
            "cycles_vs_bare_bound": cycles / bare,
            "bytes_per_minibatch": nbytes,
            "stream_share": stream / cycles,
            "array_byte_share": sum(r["array_byte_cycles"] for r in rows) / cycles,
            "core_share": sum(r["core_cycles"] for r in rows) / cycles,
            "device_s_per_minibatch": device_s,
            "host_s_per_minibatch": host_s, "host_parts_s": host,
            "host_share": host_s / (device_s + host_s),
            "board_samples_per_s": board,
            "device_only_samples_per_s": batch / device_s,
            "host_only_samples_per_s": batch / host_s if host_s else None,
            "twin_samples_per_s": twin[name],
            "board_vs_twin": board / twin[name],
        }
    worst = min(modes, key=lambda n: modes[n]["board_vs_twin"])
    per_mode = lambda k: {n: modes[n][k] for n in modes}    # noqa: E731
    return {
        "lanes": lanes,
        "board_samples_per_s": per_mode("board_samples_per_s"),
        "device_only_samples_per_s": per_mode("device_only_samples_per_s"),
        "host_only_samples_per_s": per_mode("host_only_samples_per_s"),
        "cycles_per_minibatch": per_mode("cycles_per_minibatch"),
        "bytes_per_minibatch": per_mode("bytes_per_minibatch"),
        "stream_share": per_mode("stream_share"),
        "board_vs_twin": {**per_mode("board_vs_twin"), "worst": modes[worst]["board_vs_twin"],
                          "worst_mode": worst},
        "cycles_vs_bare_bound": {k: v["cycles_vs_bare_bound"] for k, v in commands.items()},
        "command_cycles": {k: v["cycles"] for k, v in commands.items()},
        "modes": modes,
        "commands": commands,
        "formula_exact": all(v["formula_exact"] for v in commands.values()),
    }


# ------------------------------------------------------------------------------ measuring
def _build_dir(build_root: Path, R: int, C: int, L: int, payload_log2: int) -> Path:
    return build_root / f"r{R}c{C}l{L}p{payload_log2}"


def simulate(R: int, C: int, L: int, plan: dict, payload_log2: int, build_root: Path) -> dict:
    """Build ``memhil_top`` (ROWS=R, COLS=C, LANES=L, PAYLOAD_LOG2) in Verilator and run the
    plan of ``sim/bench_rtl/bench_board.py``; its counts."""
    from cocotb_tools.runner import get_runner

    from memhil.tools.hdl import hdl_sources
    from memhil.tools.verilator import ensure_env

    ensure_env()
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    params = dict(ROWS=R, COLS=C, TILES=1, LANES=L, G_W=8, PAYLOAD_LOG2=payload_log2)
    bdir = _build_dir(build_root, R, C, L, payload_log2)
    fd, name = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    out = Path(name)
    out.unlink()
    runner = get_runner("verilator")
    runner.build(sources=hdl_sources(), hdl_toplevel="memhil_top", parameters=params,
                 build_dir=bdir, build_args=["-Wno-fatal", "-O1"], always=False)
    env = {"MEMHIL_BENCH_OUT": str(out), "MEMHIL_BENCH_PLAN": json.dumps(plan)}
    tb_dir = str(ROOT / "sim" / "bench_rtl")     # the testbench; the runner passes sys.path on
    if tb_dir not in sys.path:
        sys.path.append(tb_dir)
    runner.test(hdl_toplevel="memhil_top", test_module="bench_board", build_dir=bdir,
                test_dir=bdir, extra_env=env, results_xml=str(bdir / "bench.xml"))
    if not out.exists():
        raise RuntimeError(f"the board benchmark's simulation of {R}x{C} LANES={L} failed "
                           f"(see {build_root / 'bench.log'})")
    res = json.loads(out.read_text())
    out.unlink()
    return res


def _data(n: int):
    import numpy as np
    try:
        from memhil.data import load_dataset
        return load_dataset("fashion-mnist").subset(n, 256), "fashion-mnist"
    except Exception:  # not installed: same shapes, random inputs
        from memhil.data import Dataset
        rng = np.random.default_rng(0)
        x = rng.random((n, 784), dtype=np.float32)
        y = rng.integers(0, 10, n).astype(np.int64)
        return Dataset("synthetic", x, y, x[:256], y[:256], (28, 28)), "random 784-d inputs"


def _twin_threads() -> list[int]:
    """Torch (and native-kernel) thread counts the twin is timed with: MEMHIL_BENCH_TWIN_THREADS
    (default "1,2"), capped at the CPU count."""
    spec = os.environ.get("MEMHIL_BENCH_TWIN_THREADS", "1,2")
    cpus = os.cpu_count() or 1
    return sorted({max(1, min(int(t), cpus)) for t in spec.split(",") if t.strip()})


def measure_twin(network=NETWORK, batch: int = BATCH) -> dict:
    """Training samples per second of the twin, both update modes, as ``memhil bench train``
    times it: a warm-up epoch, then one epoch of each trainer in turn, ``repeats`` times,
    medians. Each mode is timed on one and on two threads and the faster counts (the twin at
    its best on this machine: on a loaded machine two OpenMP threads can be many times slower
    than one)."""
    import torch

    from memhil.config import DeviceConfig
    from memhil.nn.trainer import RunSpec, Trainer

    subset = int(os.environ.get("MEMHIL_BENCH_SUBSET", 2048))
    repeats = int(os.environ.get("MEMHIL_BENCH_REPEATS", 5))
    threads = _twin_threads()
    saved = torch.get_num_threads()
    data, source = _data(subset)
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    trainers, times = {}, {}
    for name, _ in MODES:
        cfg = DeviceConfig(update_mode=name, bl=BL, c2c_sigma=0.1)
        for t in threads:
            spec = RunSpec(dataset="bench", hidden=list(network[1:-1]), device="memristive",
                           epochs=repeats + 1, batch=batch, lr=0.05, seed=0,
                           lr_schedule="constant", config=cfg.to_dict())
            trainers[name, t] = Trainer(spec, data)
            times[name, t] = []
    try:
        for (name, t), tr in trainers.items():        # warm-up epoch
            torch.set_num_threads(t)
            tr.train_epoch()
        for _ in range(repeats):
            for (name, t), tr in trainers.items():
                torch.set_num_threads(t)
                tr.train_epoch()
                times[name, t].append(tr.history[-1]["epoch_time_s"])
    finally:
        torch.set_num_threads(saved)
    n = len(data.y_train)
    per_threads = {name: {str(t): n / statistics.median(times[name, t]) for t in threads}
                   for name, _ in MODES}
    res: dict = {name: max(v.values()) for name, v in per_threads.items()}
    res.update({"data": source, "samples_per_epoch": n, "repeats": repeats, "batch": batch,
                "threads": threads, "samples_per_s_by_threads": per_threads,
                "best_threads": {name: int(max(v, key=v.get)) for name, v in
                                 per_threads.items()},
                "c2c_sigma": 0.1, "bl": BL, "read_noise": False, "backend": "twin",
                "load_average": [load_before,
                                 os.getloadavg()[0] if hasattr(os, "getloadavg") else None]})
    return res


def _lanes_of(key: str) -> int:
    return int(key.lstrip("L"))


def measure(*, lanes=LANES, network=None, batch: int = BATCH, bs=MEASURED_BS,
            simulate_fn=None, twin_fn=None, build_root: Path | None = None,
            cycles_from: dict | None = None, **host) -> dict:
    """Simulate every layer's build on every LANES, measure the twin, project. ``simulate_fn``
    and ``twin_fn`` replace :func:`simulate` and :func:`measure_twin` (the tests' stand-ins);
    ``cycles_from``: the JSON of an earlier run, whose simulated counts are used instead of
    simulating again (its network and LANES). ``host``: the keyword arguments of
    :func:`project` (host figures, clock)."""
    t0 = time.perf_counter()
    progress = simulate_fn is None and sys.stderr.isatty()
    network = tuple(network or NETWORK)
    build_root = build_root or ROOT / "sim_build" / "bench_board"
    simulate_fn = simulate_fn or simulate
    twin_fn = twin_fn or measure_twin
    sims: dict = {}
    sim_speed, sim_cycles = [], 0
    t_sim = time.perf_counter()
    if cycles_from is not None:
        try:
            network = tuple(int(v) for v in cycles_from["network"].split("-"))
            old = cycles_from["builds"]
            lanes = tuple(sorted((_lanes_of(k) for k in old), key=lambda L: L != cycles_from[
                "lanes"]))
            for L in lanes:
                for i, s in enumerate(old[f"L{L}"]["simulated"]):
                    sims[L, i] = s
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"not the JSON of `memhil bench board --json` (no simulated "
                             f"counts: {type(e).__name__} {e})") from e
    tiles = layer_tiles(network)
    cmds = minibatch_commands(len(tiles))
    for L in lanes:
        for i, (R, C) in enumerate(tiles):
            if (L, i) in sims:
                continue
            ops = [op for j, op in cmds if j == i]
            reads = [_SINGLE[op] for op in ("forward_b", "transpose_b") if op in ops]
            plan = {"bs": list(bs), "reads": reads, "modes": [m for _, m in MODES], "bl": BL}
            p2 = payload_log2_needed(R, C, ops, max(bs))
            build_root.mkdir(parents=True, exist_ok=True)
            if progress:
                built = (_build_dir(build_root, R, C, L, p2) / "memhil_top").exists()
                print(f"memhil bench board: {R}x{C} LANES={L}: "
                      f"{'simulating' if built else 'building (about a minute), simulating'}"
                      f"...", file=sys.stderr, flush=True)
            with rtl._quiet(build_root / "bench.log"):
                s = simulate_fn(R, C, L, plan, p2, build_root)
            s["payload_log2"] = p2
            sims[L, i] = s
            sim_speed.append(s.get("cycles_per_s", 0.0))
            sim_cycles += s.get("sim_cycles", 0)
    t_sim = time.perf_counter() - t_sim
    t_twin = time.perf_counter()
    if progress:
        print("memhil bench board: training the twin (both modes, 1 and 2 threads)...",
              file=sys.stderr, flush=True)
    twin = twin_fn(network, batch)
    t_twin = time.perf_counter() - t_twin
    builds = {}
    for L in lanes:
        layer_sims = [sims[L, i] for i in range(len(tiles))]
        builds[f"L{L}"] = project(layer_sims, L, twin, network=network, batch=batch, **host)
        # the single-sample commands against memhil.bench.rtl's formula
        single = {}
        for i, (R, C) in enumerate(tiles):
            s = layer_sims[i]
            for key, op, mode in (("forward", "forward", 0), ("transpose", "transpose", 0),
                                  ("update_m0", "update", 0), ("update_m1", "update", 1)):
                if key in s:
                    single[f"l{i + 1}_{key}"] = {
                        "cycles": s[key],
                        "formula": rtl.top_cycles(R, C, L, op, mode, op == "update", BL)}
        builds[f"L{L}"]["single_commands"] = single
        builds[f"L{L}"]["single_formula_exact"] = all(v["cycles"] == v["formula"]
                                                      for v in single.values())
        builds[f"L{L}"]["payload_log2_simulated"] = [sims[L, i]["payload_log2"]
                                                     for i in range(len(tiles))]
        builds[f"L{L}"]["payload_log2_needed_at_batch"] = [
            payload_log2_needed(R, C, [op for j, op in cmds if j == i], batch)
            for i, (R, C) in enumerate(tiles)]
        builds[f"L{L}"]["simulated"] = layer_sims       # what the testbench wrote, per layer
    first = builds[f"L{lanes[0]}"]
    hp = {k: host.get(k, d) for k, d in (
        ("clock_hz", CLOCK_HZ), ("host_us_per_command", HOST_US_PER_COMMAND),
        ("host_ns_per_byte", HOST_NS_PER_BYTE), ("host_us_per_sample", HOST_US_PER_SAMPLE),
        ("reg_writes_per_minibatch", REG_WRITES_PER_MINIBATCH))}
    return {
        "network": "-".join(map(str, network)), "tiles": [f"{r}x{c}" for r, c in tiles],
        "batch": batch, "lanes": first["lanes"],
        "board_samples_per_s": first["board_samples_per_s"],
        "twin_samples_per_s": {n: twin[n] for n, _ in MODES},
        "board_vs_twin": first["board_vs_twin"],
        "device_only_samples_per_s": first["device_only_samples_per_s"],
        "host_only_samples_per_s": first["host_only_samples_per_s"],
        "cycles_vs_bare_bound": first["cycles_vs_bare_bound"],
        "command_cycles": first["command_cycles"],
        "cycles_per_minibatch": first["cycles_per_minibatch"],
        "bytes_per_minibatch": first["bytes_per_minibatch"],
        "stream_share": first["stream_share"],
        "formula_exact": all(b["formula_exact"] and b["single_formula_exact"]
                             for b in builds.values()),
        "builds": builds,
        "twin": twin,
        "assumptions": {
            "stream_bits": 8 * STREAM_BYTES_PER_CYCLE,
            "minibatch": "FORWARD_B on every layer, TRANSPOSE_B on all but the first, UPDATE_B "
                         "with APPLY on every layer, plus reg_writes_per_minibatch WRITE_REGs",
            "cycles": f"simulated (Verilator) at B = {', '.join(map(str, bs))}, exactly linear "
                      f"in B, extrapolated exactly to B = {batch}; no idle cycles on the "
                      f"command stream, no backpressure on the response stream; read noise "
                      f"off; coincidence mode with BL = {BL}",
            "tiles": "each layer on a tile of its own shape (one build per shape simulated)",
            "payload": "simulated on builds whose PAYLOAD_LOG2 carries the simulated frames "
                       "(12); the projected batch needs the larger payload_log2_needed_at_batch; "
                       "the counts do not depend on PAYLOAD_LOG2 (10x129 at 12 and 16: "
                       "identical, 2026-12-01)",
            "host_us_per_command": "assumption (no board measurement): Python on the "
                                   "Cortex-A9 arming and completing one DMA transfer pair",
            "host_ns_per_byte": "measured on the x86 build VM (encode/decode with CRC)",
            "host_us_per_sample": "memhil.npnn's host math measured on the x86 build VM; "
                                  "a Cortex-A9 host is slower (not measured)",
            "overlap": "none: host and device work one after the other",
        },
        "host": hp,
        "simulation": {"wall_s": round(t_sim, 1), "cycles": sim_cycles,
                       "cycles_per_wall_s": round(min(sim_speed)) if sim_speed else None,
                       "counts_from_earlier_run": cycles_from is not None},
        "twin_wall_s": round(t_twin, 1),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


# ------------------------------------------------------------------------------ output
def _num(v) -> str:
    return "-" if v is None else f"{v:,.0f}"


def _table(res: dict) -> str:
    out = [f"memhil bench board: {res['network']} (tiles {', '.join(res['tiles'])}), batch "
           f"{res['batch']}, {res['host']['clock_hz'] / 1e6:g} MHz, "
           f"{res['assumptions']['stream_bits']}-bit streams"]
    a = res["host"]
    out.append(f"host: {a['host_us_per_command']:g} us/command (assumption), "
               f"{a['host_ns_per_byte']:g} ns/byte, {a['host_us_per_sample']:g} us/sample, "
               f"{a['reg_writes_per_minibatch']} register writes/minibatch")
    t = res["twin"]
    best = t.get("best_threads", {})
    out.append(f"twin: {t['data']}, median of {t['repeats']} epochs of {t['samples_per_epoch']} "
               f"samples on {t['threads']} thread(s), the faster counts "
               f"({', '.join(f'{k}: {v}' for k, v in best.items()) or '-'}); load average "
               f"{t.get('load_average')}")
    if res["simulation"].get("counts_from_earlier_run"):
        out.append("cycle counts: from an earlier run's JSON (--cycles-from), not simulated now")
    order = sorted(res["builds"], key=lambda k: (_lanes_of(k) != res["lanes"], _lanes_of(k)))
    for key in order:
        b = res["builds"][key]
        out.append("")
        bs = ", ".join(b["commands"][next(iter(b["commands"]))]["measured"])
        out.append(f"LANES={b['lanes']}: counts simulated at B = {bs} (exactly linear), "
                   f"extrapolated to B = {res['batch']}; formula "
                   f"{'exact' if b['formula_exact'] and b['single_formula_exact'] else 'MISMATCH'}")
        out.append(f"  {'command':28s} {'cycles':>10s} {'per sample':>10s} {'bare':>7s} "
                   f"{'vs bare':>7s} {'stream':>6s} {'bytes':>6s} {'core':>6s}")
        for k, c in b["commands"].items():
            cyc = c["cycles"]
            out.append(f"  {k:28s} {cyc:10d} {c['per_sample']:10d} "
                       f"{c['bare_bound_per_sample']:7d} {c['cycles_vs_bare_bound']:7.3f} "
                       f"{c['stream_cycles'] / cyc:6.1%} {c['array_byte_cycles'] / cyc:6.1%} "
                       f"{c['core_cycles'] / cyc:6.1%}")
        for name, m in b["modes"].items():
            out.append(f"  {name:12s} minibatch {m['cycles_per_minibatch']:,} cycles "
                       f"({m['device_s_per_minibatch'] * 1e3:.2f} ms; "
                       f"{m['cycles_vs_bare_bound']:.2f}x the bare bound; stream bytes "
                       f"{m['bytes_per_minibatch']:,} = {m['stream_share']:.1%} of the cycles), "
                       f"host {m['host_s_per_minibatch'] * 1e3:.2f} ms")
            out.append(f"  {'':12s} board {m['board_samples_per_s']:,.0f} samples/s (device "
                       f"alone {m['device_only_samples_per_s']:,.0f}, host alone "
                       f"{_num(m['host_only_samples_per_s'])}), twin "
                       f"{m['twin_samples_per_s']:,.0f}: board_vs_twin "
                       f"{m['board_vs_twin']:.3f}")
    bt = res["board_vs_twin"]
    out.append("")
    out.append(f"board_vs_twin (LANES={res['lanes']}): rounding {bt['rounding']:.3f}, "
               f"coincidence {bt['coincidence']:.3f}, worst {bt['worst']:.3f}")
    out.append(f"took {res['wall_s']:.0f} s (simulation {res['simulation']['wall_s']:.0f} s, "
               f"twin {res['twin_wall_s']:.0f} s)")
    return "\n".join(out)


def run(json_out: bool = False, *, lanes=LANES, cycles_from: dict | None = None,
        **host) -> dict:
    """Measure and project (``memhil bench board [--json]``); without ``json_out`` also print a
    readable table. Simulator output goes to ``sim_build/bench_board/bench.log``.
    ``cycles_from``: an earlier run's JSON whose counts are used instead of simulating."""
    res = measure(lanes=tuple(lanes), cycles_from=cycles_from, **host)
    if not json_out:
        print(_table(res))
    return res
