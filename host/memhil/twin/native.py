"""Build and load the twin's native CPU kernels (``native.c``) through ctypes.

The kernels are compiled at first use with the machine's C compiler (``$CC`` or ``cc``/``gcc``;
``-O3 -march=native``, about a second) into a cache folder (``MEMHIL_NATIVE_CACHE``, default
``~/.cache/memhil/native``), keyed by the source, the flags and the CPU, and written atomically,
so concurrent processes never load a half-written library. ``MEMHIL_NATIVE=0`` turns the kernels
off (the twin then uses its torch path: same results, slower); ``MEMHIL_NATIVE=1`` makes a
failed build an error instead of a warning; ``MEMHIL_NATIVE_CFLAGS`` adds compiler flags (the
tests build once with ``-mno-avx2`` to check the portable C paths). They are a speed path only:
tests check them against the torch twin and the loop-by-loop reference, bit for bit.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from memhil.contract.spec import SPEC
from memhil.twin import lfsr

SRC = Path(__file__).with_name("native.c")
# -ffp-contract=off: the host's float arithmetic in the kernels (DAC coding, output scaling)
# must round every product and sum as numpy and torch do, never fuse them into an FMA
FLAGS = ["-O3", "-march=native", "-shared", "-fPIC", "-fno-strict-aliasing", "-ffp-contract=off",
         f"-DMEMHIL_TAPS={SPEC.lfsr['taps']:#x}u"]
OPENMP = ["-fopenmp"]   # tried first; without it the kernels run on one thread
_STATE: dict = {"lib": None, "tried": False}


class NativeUnavailable(RuntimeError):
    """The native kernels could not be built or loaded."""


class ApplyParams(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in (
        "cmax", "sub_bits", "c2c_q", "lr_q", "s_up0", "s_dn0", "lr_frac", "nmax", "max_levels",
        "factor_frac", "step_frac", "noise_shift", "rounding", "uniform", "d2d", "c2c",
        "bl", "stream_k8", "apply_k8", "prob_mask", "code_max", "taps")]


class FusedLayer(ctypes.Structure):
    """One layer of a fused training step (native.c's ``fused_layer``; memhil.nn.fused)."""
    _fields_ = ([(n, ctypes.c_int64) for n in ("R", "C", "bias")]
                + [(n, ctypes.c_void_p) for n in ("gp", "gm", "sums", "w16", "row_lfsr", "col_lfsr",
                                                  "fp", "fm", "steps", "ap")]
                + [(n, ctypes.c_int64) for n in ("lr_q", "do_update", "rn_q", "two_c0",
                                                 "adc_lo", "adc_hi", "range_hi", "dac")]
                + [(n, ctypes.c_double) for n in ("w_unit", "ax", "ad")]
                + [(n, ctypes.c_int64 * 2) for n in ("shift", "sreg", "top", "reads")]
                + [("mx", ctypes.c_double), ("md", ctypes.c_double), ("pulses", ctypes.c_int64)]
                + [(n, ctypes.c_void_p) for n in ("xin", "y", "gy", "stuck")]
                + [("counts", ctypes.c_int64 * 2)])


class FusedConst(ctypes.Structure):
    """What the layers of a fused step share (native.c's ``fused_const``)."""
    _fields_ = ([(n, ctypes.c_void_p) for n in ("t8", "fb", "gauss", "root")]
                + [(n, ctypes.c_int64) for n in ("rn_frac", "gauss_shift", "read_k8", "code_max",
                                                 "max_shift", "max_tries", "shift_step")])


def _cpu_key() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features", "model name")):
                return line
    except OSError:
        pass
    return os.uname().machine


def _compiler() -> str | None:
    for cc in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cc and shutil.which(cc):
            return cc
    return None


def cache_dir() -> Path:
    return Path(os.environ.get("MEMHIL_NATIVE_CACHE", Path.home() / ".cache" / "memhil" / "native"))


def build() -> Path:
    """Compile native.c (if not cached) and return the library's path."""
    cc = _compiler()
    if cc is None:
        raise NativeUnavailable("no C compiler found (set CC, or install gcc)")
    src = SRC.read_bytes()
    flags = FLAGS + os.environ.get("MEMHIL_NATIVE_CFLAGS", "").split()
    key = hashlib.sha256(src + " ".join([cc, *flags, *OPENMP, _cpu_key()]).encode()).hexdigest()[:16]
    out = cache_dir() / f"memhil_twin_{key}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        for extra in (OPENMP, []):       # OpenMP where the compiler has it, else one thread
            r = subprocess.run([cc, *flags, *extra, "-o", tmp, str(SRC), "-lm"], capture_output=True,
                               text=True)
            if r.returncode == 0:
                break
        else:
            raise NativeUnavailable(f"{cc} failed to build {SRC.name}:\n{r.stderr[-2000:]}")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _declare(lib: ctypes.CDLL) -> None:
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.memhil_update.argtypes = ([i64] * 4 + [p] * 15
                                  + [ctypes.POINTER(ApplyParams), i64, p, p])
    lib.memhil_update.restype = i64
    lib.memhil_read.argtypes = [i64] * 4 + [p, p] + [i64] * 3 + [p, i64]
    lib.memhil_read.restype = None
    lib.memhil_read_noisy.argtypes = ([i64] * 4 + [p] * 5 + [i64] * 6 + [p] * 3 + [i64] * 3
                                      + [p, i64])
    lib.memhil_read_noisy.restype = None
    lib.memhil_weights16.argtypes = [i64, i64, p, p, p, i64]
    lib.memhil_weights16.restype = None
    lib.memhil_codes_scaled.argtypes = [i64, p, ctypes.c_double, i64, p]
    lib.memhil_codes_scaled.restype = None
    lib.memhil_codes_rows.argtypes = [i64, i64, p, i64, p, p]
    lib.memhil_codes_rows.restype = None
    for name, last in (("memhil_fused_forward", p), ("memhil_fused_backward", p),
                       ("memhil_fused_update", None)):
        f = getattr(lib, name)
        f.argtypes = [i64, ctypes.c_void_p, ctypes.c_void_p, i64] + ([last] if last else []) + [i64]
        f.restype = None


def library():
    """The loaded kernels, or None when turned off or unavailable (with a warning once)."""
    mode = os.environ.get("MEMHIL_NATIVE", "auto")
    if mode == "0":
        return None
    if not _STATE["tried"]:
        _STATE["tried"] = True
        try:
            _check_contract()
            lib = ctypes.CDLL(str(build()))
            _declare(lib)
            _STATE["lib"] = lib
        except (NativeUnavailable, OSError) as e:
            if mode == "1":
                raise
            warnings.warn(f"memhil: native twin kernels unavailable ({e}); using the torch path "
                          "(same results, slower)", RuntimeWarning)
    if _STATE["lib"] is None and mode == "1":
        raise NativeUnavailable("MEMHIL_NATIVE=1 but the native kernels could not be loaded")
    return _STATE["lib"]


_T8: dict = {}


def t8_table() -> torch.Tensor:
    """T8[v] = the LFSR state reached from the 8-bit state v after 8 single steps (uint32)."""
    if "t" not in _T8:
        _T8["t"] = torch.tensor([lfsr.advance(v, 8) for v in range(256)],
                                dtype=torch.int64).to(torch.int32)
    return _T8["t"]


def feedback_table() -> torch.Tensor:
    """The feedback bits of 8 single steps as a function of the state's low byte, split by
    nibble (uint8 x 32: entries 0..15 for the low nibble, 16..31 for the high nibble; the
    function is linear, so FB[v] = FB_lo[v & 15] ^ FB_hi[v >> 4])."""
    if "fb" not in _T8:
        def fb(v: int) -> int:
            f, s = 0, v
            for k in range(8):
                f |= (s & 1) << k
                s = lfsr.step(s)
            return f
        _T8["fb"] = torch.tensor([fb(v) for v in range(16)] + [fb(v << 4) for v in range(16)],
                                 dtype=torch.uint8)
    return _T8["fb"]


def _eight_steps_by_feedback(v: int) -> int:
    """8 single steps from the formula native.c uses without tables (checked at load)."""
    fbt = feedback_table().tolist()
    f = fbt[v & 15] ^ fbt[16 + ((v >> 4) & 15)]
    r = v >> 8
    for t in range(32):
        if (TAPS >> t) & 1:
            r ^= (f << (t - 7)) if t >= 7 else (f >> (7 - t))
    return r & 0xFFFFFFFF


def steps_per_byte(steps: int) -> int:
    if steps % 8:
        raise NativeUnavailable(f"LFSR stride {steps} is not a multiple of 8")
    return steps // 8


def _check_contract() -> None:
    """The kernels' fixed-point shortcuts hold for these contract constants (else: torch path)."""
    f, lim = SPEC.fixed, SPEC.limits
    if f["lr_frac"] != 16 or lim["nmax"] > 255 or lim["sum_bits"] > 24 or SPEC.lfsr["width"] != 32:
        raise NativeUnavailable("contract constants outside what native.c assumes "
                                "(lr_frac 16, nmax <= 255, sum_bits <= 24, 32-bit LFSRs)")
    g_max = max(abs(g) for g in SPEC.gauss)
    noise_shift = SPEC.fixed["gauss_scale"].bit_length() - 1 + f["factor_frac"] + f["root_frac"]
    step1_max = (0xFFFF * f["factor_max"]) >> f["factor_frac"]
    if step1_max >= 1 << 18 or g_max >= 1 << 10 or max(SPEC.root) >= 1 << 12 or noise_shift < 24:
        raise NativeUnavailable("contract constants outside native.c's 32-bit apply arithmetic")
    for v in (1, 2, 0x80, 0xFF, 0x1234_5678, 0xDEAD_BEEF, 0xFFFF_FFFF):
        if _eight_steps_by_feedback(v) != lfsr.advance(v, 8):
            raise NativeUnavailable("the LFSR taps do not fit native.c's 8-step formula")


TAPS = SPEC.lfsr["taps"]
STREAM_K8 = steps_per_byte(SPEC.lfsr["stream_steps"])
APPLY_K8 = steps_per_byte(SPEC.lfsr["apply_steps"])
READ_K8 = steps_per_byte(SPEC.lfsr["read_steps"])


def ptr(t: torch.Tensor | None) -> int | None:
    if t is None:
        return None
    assert t.is_contiguous()          # (CPU tensors only: the native path is never used on CUDA)
    return t.data_ptr()
