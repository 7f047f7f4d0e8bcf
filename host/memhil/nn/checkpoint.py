"""Atomic, validated checkpoints (torch.save to a temporary file, then ``os.replace``)."""
from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

import torch

from memhil.fileio import atomic_write_bytes

FORMAT = "memhil-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or belongs to another run."""


def _canonical(x):
    """A fresh copy of ``x`` whose pickle depends only on its values: pickle writes an object
    met again as a reference to its first occurrence, so which equal strings, lists or tensor
    storages happen to be one object (a resumed run's strings come from the checkpoint, a fresh
    run's from the code) would change the bytes. Strings are interned, containers rebuilt and
    tensors cloned into storages of their own."""
    if isinstance(x, str):
        return sys.intern(str(x))
    if isinstance(x, dict):
        return {_canonical(k): _canonical(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_canonical(v) for v in x]
    if isinstance(x, tuple):
        return tuple(_canonical(v) for v in x)
    if isinstance(x, torch.Tensor):
        return x.detach().clone(memory_format=torch.contiguous_format)
    return x


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` with a format tag and a SHA-256 of its bytes, atomically. The bytes
    depend only on the payload's values (no time stamps, no object identities), so equal
    payloads give identical files."""
    buf = io.BytesIO()
    torch.save(_canonical(payload), buf)
    body = buf.getvalue()
    outer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION,
                "sha256": hashlib.sha256(body).hexdigest(), "body": body}, outer)
    atomic_write_bytes(path, outer.getvalue())


def first_line(e: BaseException, limit: int = 120) -> str:
    """``TypeName: first line of its message`` (at most ``limit`` characters of it), also for
    an exception without a message (an empty file makes torch.load raise a bare EOFError)."""
    lines = str(e).strip().splitlines()
    msg = lines[0].strip() if lines else ""
    if len(msg) > limit:                  # torch's messages go on: keep their first sentence
        msg = msg.split(". ")[0][:limit]
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _why_unreadable(path: Path) -> str:
    """In the user's words, why ``path`` could not be read as a torch file."""
    try:
        size = path.stat().st_size
    except OSError as e:
        return e.strerror or "it cannot be opened"
    if size == 0:
        return "the file is empty (the run was probably killed while writing it)"
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] != b"PK":
        return f"the file ({size} bytes) is not in torch's format"
    return f"the file ({size} bytes) ends early or was altered"


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The checkpoint file of ``path``: a run directory's ``checkpoint.pt``, or ``path`` itself."""
    path = Path(path)
    return path / "checkpoint.pt" if path.is_dir() else path


def load_checkpoint(path: str | os.PathLike) -> dict:
    """The payload dict that :func:`save_checkpoint` wrote to ``path`` (a file or a run
    directory). Raises :class:`CheckpointError`, with a one-line message, for a missing file
    and for every file that is not an intact memhil checkpoint (empty, truncated, altered, of
    another format or version, or holding something other than a dict)."""
    path = checkpoint_file(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (a run directory written by "
                              "`memhil train --out DIR` holds DIR/checkpoint.pt)")
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be read: "
                              f"{_why_unreadable(path)}") from e
    if not isinstance(outer, dict) or not isinstance(outer.get("format"), str) or \
            outer["format"] != FORMAT:
        raise CheckpointError(f"checkpoint {path} is damaged or is not a memhil checkpoint (it "
                              f"reads as a file of another program); start the run afresh")
    version = outer.get("version")
    if type(version) is not int or version != VERSION:
        shown = version if isinstance(version, (int, str)) else type(version).__name__
        raise CheckpointError(f"checkpoint {path} has version {shown!r}, "
                              f"this memhil reads version {VERSION}")
    body, digest = outer.get("body"), outer.get("sha256")
    if not isinstance(body, (bytes, bytearray)) or not isinstance(digest, str) or \
            hashlib.sha256(body).hexdigest() != digest:
        raise CheckpointError(f"checkpoint {path} is corrupt (checksum mismatch)")
    try:
        payload = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as e:   # checksum passed: written so, or by another version
        raise CheckpointError(f"checkpoint {path} is intact but its contents cannot be read "
                              f"by this memhil (written by another version?)") from e
    if not isinstance(payload, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(payload).__name__}, "
                              "not a memhil run's state")
    return payload


# ---------------------------------------------------------------------- payload checks
# A payload that passed the checksum was written so (or is of another memhil version); these
# checks turn every part that is missing, mistyped or out of range into a one-line reason
# (``None``: no problem), before anything of it is loaded.
def _kind(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a {str(x.dtype).removeprefix('torch.')} tensor of shape {tuple(x.shape)}"
    name = type(x).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def form_problem(ref, got, at: str) -> str | None:
    """Where ``got`` differs in form from ``ref``: dict keys, list lengths, tensor dtypes and
    shapes, scalar types (an int is a float too); ``None`` if it does not."""
    if isinstance(ref, torch.Tensor):
        if not isinstance(got, torch.Tensor) or got.dtype != ref.dtype or got.shape != ref.shape:
            return f"{at} is {_kind(got)}, not {_kind(ref)}"
        return None
    if isinstance(ref, dict):
        if not isinstance(got, dict):
            return f"{at} is {_kind(got)}, not a dict"
        if set(got) != set(ref):
            missing = sorted(map(str, set(ref) - set(got)))
            extra = sorted(map(str, set(got) - set(ref)))
            return f"{at} " + ("lacks " + ", ".join(missing) if missing else
                               "has unknown entries " + ", ".join(extra))
        for k in ref:
            p = form_problem(ref[k], got[k], f"{at}.{k}")
            if p:
                return p
        return None
    if isinstance(ref, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{at} is {_kind(got)}, not a list of length {len(ref)}"
        if len(got) != len(ref):
            return f"{at} has length {len(got)}, not {len(ref)}"
        for i, (r, g) in enumerate(zip(ref, got)):
            p = form_problem(r, g, f"{at}[{i}]")
            if p:
                return p
        return None
    ok = (got is None if ref is None else
          isinstance(got, bool) if isinstance(ref, bool) else
          _is_int(got) if _is_int(ref) else
          _is_number(got) if isinstance(ref, float) else
          isinstance(got, str) if isinstance(ref, str) else True)
    return None if ok else f"{at} is {_kind(got)}, not {_kind(ref)}"


def crossbar_state_problem(sd, rows: int, cols: int, tiles: int, at: str,
                           check_reg=None) -> str | None:
    """Problems of a crossbar state in ``Twin.state_dict()``'s format for a ``tiles`` x ``rows``
    x ``cols`` backend: its parts and their shapes, integer dtypes, and values in the contract's
    ranges (codes in [0, CMAX], LFSR states non-zero 32-bit words, an old (contract version 2)
    state's accumulators "acc" all zero,
    16-bit step entries, registers by name as 32-bit words; ``check_reg(addr, value)``, when
    given, raises for a configuration value that a write would refuse)."""
    from memhil.contract.spec import SPEC

    if not isinstance(sd, dict):
        return f"{at} is {_kind(sd)}, not a crossbar state"
    need = ("geometry", "gp", "gm", "row_lfsr", "col_lfsr", "step_up", "step_dn", "regs")
    missing = [k for k in need if k not in sd]
    if missing:
        return f"{at} lacks {', '.join(missing)}"
    g = sd["geometry"]
    if not isinstance(g, (list, tuple)) or [x for x in g if not _is_int(x)] or \
            tuple(g) != (rows, cols, tiles):
        return f"{at}.geometry is {g!r}, the network's crossbar has {(rows, cols, tiles)}"
    regs = sd["regs"]
    if not isinstance(regs, dict):
        return f"{at}.regs is {_kind(regs)}, not a dict"
    for name, v in regs.items():
        if name not in SPEC.registers:
            return f"{at}.regs has an unknown register {name!r}"
        if not _is_int(v) or not 0 <= v <= 0xFFFFFFFF:
            return f"{at}.regs.{name} is {v!r}, not a 32-bit word"
        r = SPEC.registers[name]
        if check_reg is not None and r.access == "rw" and name != "CTRL":
            try:
                check_reg(r.addr, v)
            except ValueError as e:
                return f"{at}.regs.{name}: {first_line(e)}"
    cmax = regs.get("CMAX")
    if cmax is None:
        return f"{at}.regs lacks CMAX"
    n = SPEC.limits["max_levels"]
    shapes = {"gp": ((tiles, rows, cols), 0, cmax), "gm": ((tiles, rows, cols), 0, cmax),
              "row_lfsr": ((tiles, rows), 1, 0xFFFFFFFF),
              "col_lfsr": ((tiles, cols), 1, 0xFFFFFFFF),
              "step_up": ((n,), 0, 0xFFFF), "step_dn": ((n,), 0, 0xFFFF)}
    if "acc" in sd:        # contract version 2's accumulators: v3 loads them only if all zero
        shapes["acc"] = ((tiles, rows, cols), 0, 0)
    for k, (shape, lo, hi) in shapes.items():
        t = sd[k]
        if not isinstance(t, torch.Tensor) or t.is_floating_point() or t.is_complex() or \
                t.dtype == torch.bool or tuple(t.shape) != shape:
            return f"{at}.{k} is {_kind(t)}, not an integer tensor of shape {shape}"
        if t.numel() and (int(t.min()) < lo or int(t.max()) > hi):
            if k == "acc":
                return (f"{at}.acc has non-zero accumulators: contract version 3 has none, so "
                        "only a state saved after an apply (all zero) can be loaded")
            return f"{at}.{k} has values outside [{lo}, {hi}]"
    return None


HISTORY_KEYS = ("epoch", "lr", "train_loss", "train_accuracy", "test_accuracy", "pulses")


def history_problem(history, epochs_done: int, at: str = "history") -> str | None:
    """A run's history must hold one record per epoch done, with numbers for ``HISTORY_KEYS``
    (``epoch_time_s`` may be absent)."""
    if not isinstance(history, list):
        return f"{at} is {_kind(history)}, not a list"
    if len(history) != epochs_done:
        return f"{at} has {len(history)} records for {epochs_done} epochs done"
    for i, h in enumerate(history):
        if not isinstance(h, dict):
            return f"{at}[{i}] is {_kind(h)}, not a dict"
        for k in HISTORY_KEYS:
            if not _is_number(h.get(k)):
                return f"{at}[{i}].{k} is {_kind(h.get(k))}, not a number"
        if h["epoch"] != i + 1:
            return f"{at}[{i}] is the record of epoch {h['epoch']}, not of epoch {i + 1}"
        t = h.get("epoch_time_s")
        if t is not None and not _is_number(t):
            return f"{at}[{i}].epoch_time_s is {_kind(t)}, not a number"
    return None
