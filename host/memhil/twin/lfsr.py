"""The contract's LFSR: 32-bit Galois, right-shifting, taps from contract.toml.

Scalar helpers (``step``, ``advance``) are the plain definition; :class:`LfsrJump` advances a
whole vector of states at once by expressing "the low bits of the state after k*step single
steps" as a GF(2) matrix applied to the state's bits (one small float matmul, exact because
the sums stay below 2^24), so the twin never loops over single steps.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from memhil.contract.spec import SPEC

WIDTH = SPEC.lfsr["width"]
TAPS = SPEC.lfsr["taps"]
MASK = (1 << WIDTH) - 1


def step(s: int) -> int:
    """One single step of the Galois LFSR."""
    lsb = s & 1
    s >>= 1
    if lsb:
        s ^= TAPS
    return s


def advance(s: int, n: int) -> int:
    for _ in range(n):
        s = step(s)
    return s


@lru_cache(maxsize=64)
def _basis_images(stride: int, count: int) -> tuple[tuple[int, ...], ...]:
    """For each state bit k: the states after stride, 2*stride, ..., count*stride steps of e_k."""
    out = []
    for k in range(WIDTH):
        s = 1 << k
        seq = []
        for _ in range(count):
            s = advance(s, stride)
            seq.append(s)
        out.append(tuple(seq))
    return tuple(out)


@lru_cache(maxsize=64)
def _jump_matrix(stride: int, count: int, low_bits: int, with_final: bool) -> torch.Tensor:
    """(WIDTH, count*low_bits [+ WIDTH]) 0/1 float64 matrix on the CPU."""
    imgs = _basis_images(stride, count)
    cols = count * low_bits + (WIDTH if with_final else 0)
    m = torch.zeros((WIDTH, cols), dtype=torch.float64)
    for k in range(WIDTH):
        for c in range(count):
            v = imgs[k][c]
            for b in range(low_bits):
                if (v >> b) & 1:
                    m[k, c * low_bits + b] = 1.0
        if with_final:
            v = imgs[k][count - 1]
            for b in range(WIDTH):
                if (v >> b) & 1:
                    m[k, count * low_bits + b] = 1.0
    return m


_BIT_CACHE: dict = {}


def _cached(kind: str, n: int, device) -> torch.Tensor:
    key = (kind, n, str(device))
    if key not in _BIT_CACHE:
        ar = torch.arange(n, dtype=torch.int64)
        _BIT_CACHE[key] = (ar if kind == "shift" else (1 << ar)).to(device)
    return _BIT_CACHE[key]


def _bit_weights(n: int, device) -> torch.Tensor:
    return _cached("weight", n, device)


def jump(states: torch.Tensor, stride: int, count: int, low_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance every state by ``count * stride`` single steps.

    Returns ``(outs, final)``: ``outs[..., c]`` holds the low ``low_bits`` bits of the state after
    ``(c + 1) * stride`` steps, and ``final`` the full state after ``count * stride`` steps.
    """
    dev = states.device
    dtype = torch.float32 if dev.type == "cpu" else torch.float64
    mat = _jump_matrix(stride, count, low_bits, True)
    mkey = ("m", stride, count, low_bits, str(dev), dtype)
    m = _BIT_CACHE.get(mkey)
    if m is None:
        m = _BIT_CACHE[mkey] = mat.to(device=dev, dtype=dtype)
    shape = states.shape
    flat = states.reshape(-1)
    bits = ((flat[:, None] >> _cached("shift", WIDTH, dev)) & 1).to(dtype)
    prod = (bits @ m).to(torch.int64) & 1
    n_out = count * low_bits
    final = (prod[:, n_out:] * _bit_weights(WIDTH, dev)).sum(-1)
    if low_bits == 0:
        return flat.new_zeros((*shape, count)), final.view(shape)
    outs = (prod[:, :n_out].view(-1, count, low_bits) * _bit_weights(low_bits, dev)).sum(-1)
    return outs.view(*shape, count), final.view(shape)
