"""Atomic, validated checkpoints (torch.save to a temporary file, then ``os.replace``)."""
from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch

FORMAT = "memhil-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt or belongs to another run."""


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write ``payload`` with a format tag and a SHA-256 of its bytes, atomically."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    outer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION,
                "sha256": hashlib.sha256(body).hexdigest(), "body": body}, outer)
    atomic_write_bytes(path, outer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (a run directory written by "
                              "`memhil train --out DIR` holds DIR/checkpoint.pt)")
    try:
        outer = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt and cannot be read "
                              f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from e
    if not isinstance(outer, dict) or outer.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a memhil checkpoint")
    if outer.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has version {outer.get('version')}, "
                              f"this memhil reads version {VERSION}")
    body = outer.get("body")
    if not isinstance(body, (bytes, bytearray)) or \
            hashlib.sha256(body).hexdigest() != outer.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is corrupt (checksum mismatch)")
    try:
        return torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except Exception as e:  # pragma: no cover - checksum passed, so only version skew
        raise CheckpointError(f"checkpoint {path} cannot be decoded ({e})") from e
