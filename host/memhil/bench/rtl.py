"""RTL cycle figures of ``memhil_top`` (``memhil bench rtl``; docs/rtl.md, "Cycle counts").

Simulates the top level with Verilator (cocotb) at two tile sizes, sends FORWARD, TRANSPOSE and
UPDATE frames with no idle cycles and no backpressure, counts the clock cycles from the frame's
first byte to the response's last byte, and compares them with the documented formula

    cycles = ceil(ROWS*COLS/LANES) + fixed(op)        (fixed: docs/rtl.md, "Cycle counts")

The ``*_cycles_vs_bound`` ratios (target <= 1.1) are the measured cycles over that bound on the
larger size; ``formula_exact`` says whether the measured counts equal the full formula (which
also counts the padding of a row to whole LANES words) exactly on every size.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from memhil.contract.spec import SPEC

ROOT = Path(__file__).resolve().parents[3]
SB = 8            # memhil_array's stream bits per LFSR per clock (its parameter default)
ARRAY_FIXED = 31  # docs/rtl-datapath.md, "Cycle counts"
# frame bytes around the payload: header (SOF SEQ OP [STATUS] LEN: 24 bits since contract v2)
# and the two CRC bytes
CMD_FRAME = SPEC.protocol["cmd_header_bytes"] + 2     # 8
RSP_FRAME = SPEC.protocol["rsp_header_bytes"] + 2     # 9
# control-path cycles on top of the bytes in, the array and the bytes out (docs/rtl.md)
CTRL_FIXED = {"forward": 3, "transpose": 3, "update": 8}
# (ROWS, COLS, LANES): the formula is checked on all, the ratios reported for the last
SIZES = [(15, 22, 4), (128, 256, 8)]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def array_cycles(R: int, C: int, L: int, op: str, mode: int = 0, apply: bool = True,
                 bl: int = 31, rn: bool = False, B: int = 1) -> int:
    """memhil_array's own cycles from the command handshake to ``done`` (docs/rtl-datapath.md).
    An update (contract v3: always applied; ``apply`` is kept for the callers' signature) is
    ONE array command over its ``B`` samples: operands of all samples in, the LFSRs stream the
    samples one after another, then the pass with the samples innermost."""
    wc, wr = _cdiv(C, L), _cdiv(R, L)
    if op == "forward":
        return C + (4 * wr if rn else 0) + R * wc + 2 * R + ARRAY_FIXED
    if op == "transpose":
        return R + (4 * wc if rn else 0) + R * wc + 2 * C + ARRAY_FIXED
    if mode:
        gen = (wr + wc) * (4 + B * _cdiv(bl, SB) + 3 * (B - 1))
    else:
        gen = (wr + wc) * 4
    return B * (C + R) + gen + B * R * wc + 4 + ARRAY_FIXED


def io_bytes(R: int, C: int, op: str) -> tuple[int, int]:
    """Command payload and response payload bytes."""
    if op == "forward":
        return 1 + C, 2 * R
    if op == "transpose":
        return 1 + R, 2 * C
    return 2 + R + C, 4


def top_cycles(R, C, L, op, mode=0, apply=False, bl=31) -> int:
    """memhil_top: frame in (header, payload, CRC: 8 + P bytes), the array, the response frame
    out (9 + Q bytes), and the control path's fixed cycles."""
    p, q = io_bytes(R, C, op)
    return (CMD_FRAME + p) + array_cycles(R, C, L, op, mode, apply, bl) + (RSP_FRAME + q) \
        + CTRL_FIXED[op]


def bound(R, C, L, op, mode=0, apply=False, bl=31) -> int:
    """ceil(ROWS*COLS/LANES) + every cycle that does not scale with ROWS*COLS."""
    wc = _cdiv(C, L)
    return _cdiv(R * C, L) + top_cycles(R, C, L, op, mode, apply, bl) - R * wc


@contextlib.contextmanager
def _quiet(log: Path):
    """Send this process's and its children's stdout/stderr (Verilator, cocotb) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _simulate(R: int, C: int, L: int, build_root: Path) -> dict:
    from memhil.tools.verilator import ensure_env

    ensure_env()
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    from cocotb_tools.runner import get_runner

    from memhil.tools.hdl import hdl_sources

    params = dict(ROWS=R, COLS=C, TILES=1, LANES=L, G_W=8)
    bdir = build_root / f"r{R}c{C}l{L}"
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    runner = get_runner("verilator")
    if not (bdir / "Vtop").exists():
        print(f"building the RTL simulation ({R}x{C}) with Verilator (first time only, about "
              f"2 minutes; cached in {bdir})...", file=sys.__stderr__, flush=True)
    runner.build(sources=hdl_sources(), hdl_toplevel="memhil_top", parameters=params,
                 build_dir=bdir, build_args=["-Wno-fatal", "-O1"], always=False)
    env = {"MEMHIL_BENCH_OUT": str(out)}
    tb_dir = str(ROOT / "sim" / "bench_rtl")     # the testbench; the runner passes sys.path on
    if tb_dir not in sys.path:
        sys.path.append(tb_dir)
    runner.test(hdl_toplevel="memhil_top", test_module="bench_memhil_top", build_dir=bdir,
                test_dir=bdir, extra_env=env, results_xml=str(bdir / "bench.xml"))
    res = json.loads(out.read_text())
    out.unlink()
    return res


def measure(sizes=SIZES, build_root: Path | None = None) -> dict:
    build_root = build_root or ROOT / "sim_build" / "bench_rtl"
    t0 = time.perf_counter()
    checks = []
    last = None
    speed = []
    build_root.mkdir(parents=True, exist_ok=True)
    log = build_root / "bench.log"
    for (R, C, L) in sizes:
        with _quiet(log):
            m = _simulate(R, C, L, build_root)
        speed.append(m["cycles_per_s"])
        rows = {}
        for mode in (0, 1):
            # (contract v3: every UPDATE applies; there is no accumulate-only UPDATE to time)
            for key, op, apply in (("forward", "forward", False), ("transpose", "transpose", False),
                                   ("update_apply", "update", True)):
                got = m[f"{key}_m{mode}" if key in ("forward", "transpose") else f"update_m{mode}_{key[7:]}"]
                want = top_cycles(R, C, L, op, mode, apply, m["bl"])
                b = bound(R, C, L, op, mode, apply, m["bl"])
                rows[f"{key}_m{mode}"] = {"cycles": got, "formula": want, "bound": b,
                                          "fixed": b - _cdiv(R * C, L)}
        checks.append({"rows": R, "cols": C, "lanes": L, "ops": rows,
                       "exact": all(v["cycles"] == v["formula"] for v in rows.values())})
        last = (R, C, L, rows)
    R, C, L, rows = last

    def ratio(key):
        v = rows[key]
        return round(v["cycles"] / v["bound"], 4)

    return {
        "top": "memhil_top",
        "rows": R, "cols": C, "lanes": L,
        "forward_cycles_vs_bound": ratio("forward_m0"),
        "transpose_cycles_vs_bound": ratio("transpose_m0"),
        "update_cycles_vs_bound": max(ratio("update_apply_m0"), ratio("update_apply_m1")),
        "target": 1.1,
        "core_fraction_forward": round(_cdiv(R * C, L) / rows["forward_m0"]["cycles"], 4),
        "formula_exact": all(c["exact"] for c in checks),
        "sizes": checks,
        "sim_cycles_per_wall_s": round(min(speed)),
        "wall_s": round(time.perf_counter() - t0, 1),
    }


def run(json_out: bool = False) -> dict:
    """Measure and return the figures (``memhil bench rtl`` prints them as JSON with --json);
    without ``json_out`` also print a readable table. Simulator output goes to
    ``sim_build/bench_rtl/bench.log``."""
    res = measure()
    if not json_out:
        print(f"memhil_top {res['rows']}x{res['cols']} LANES={res['lanes']}: cycles / "
              f"(ceil(R*C/L) + fixed)")
        for k in ("forward", "transpose", "update"):
            print(f"  {k:10s} {res[f'{k}_cycles_vs_bound']:.4f}  (target <= 1.1)")
        for c in res["sizes"]:
            print(f"  formula on {c['rows']}x{c['cols']} L={c['lanes']}: "
                  f"{'exact' if c['exact'] else 'MISMATCH'}")
            for k, v in c["ops"].items():
                print(f"    {k:16s} {v['cycles']:7d} formula {v['formula']:7d} bound {v['bound']:7d}")
        print(f"  simulation speed: {res['sim_cycles_per_wall_s']} clock cycles per wall second")
    return res


def ok(res: dict) -> bool:
    return res["formula_exact"] and max(res[f"{k}_cycles_vs_bound"]
                                        for k in ("forward", "transpose", "update")) <= 1.1


if __name__ == "__main__":
    want_json = "--json" in sys.argv
    r = run(want_json)
    if want_json:
        print(json.dumps(r, sort_keys=True))
    sys.exit(0 if ok(r) else 1)
