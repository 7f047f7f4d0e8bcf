"""The contract's LFSR: 32-bit Galois, right-shifting, taps from contract.toml.

Scalar helpers (``step``, ``advance``) are the plain definition. :func:`jump` advances a whole
vector of states at once: an LFSR is linear over GF(2), so "the low bits of the state after
``c * stride`` single steps" is an XOR of the images of the state's set bits. The images are
folded into four 256-entry tables per output (one per byte of the state), so producing
``count`` outputs for N states costs four gathers and three XORs of an (N, count) array;
the twin never loops over single steps.
"""
from __future__ import annotations

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


_IMAGES: dict[int, list[list[int]]] = {}     # stride -> per state bit: states after 1..c leaps
_TABLES: dict = {}


def _images(stride: int, count: int) -> list[list[int]]:
    """images[k][c] = state after (c + 1) * stride steps from the state with only bit k set."""
    imgs = _IMAGES.setdefault(stride, [[] for _ in range(WIDTH)])
    for k in range(WIDTH):
        seq = imgs[k]
        s = seq[-1] if seq else 1 << k
        while len(seq) < count:
            s = advance(s, stride)
            seq.append(s)
    return imgs


def _byte_tables(columns: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(4, 256, n) tables: T[q, v] = XOR of columns[8q + b] over the set bits b of v."""
    n = columns.shape[1]
    v = torch.arange(256, dtype=torch.int64)
    out = torch.zeros((4, 256, n), dtype=torch.int64)
    for q in range(4):
        for b in range(8):
            out[q] ^= ((v >> b) & 1)[:, None] * columns[8 * q + b][None, :]
    return out.to(dtype)


def _tables(stride: int, count: int, low_bits: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    key = (stride, count, low_bits, str(device))
    hit = _TABLES.get(key)
    if hit is None:
        imgs = _images(stride, count)
        full = torch.tensor([[imgs[k][c] for c in range(count)] for k in range(WIDTH)],
                            dtype=torch.int64)
        outs = _byte_tables(full & ((1 << low_bits) - 1), torch.uint8 if low_bits <= 8 else torch.int64)
        final = _byte_tables(full[:, count - 1: count], torch.int64)[:, :, 0]
        hit = _TABLES[key] = (outs.to(device), final.to(device))
        if len(_TABLES) > 64:
            _TABLES.pop(next(iter(_TABLES)))
    return hit


def jump(states: torch.Tensor, stride: int, count: int, low_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance every state by ``count * stride`` single steps.

    Returns ``(outs, final)``: ``outs[..., c]`` holds the low ``low_bits`` bits of the state after
    ``(c + 1) * stride`` steps (uint8 when ``low_bits <= 8``, else int64), and ``final`` the full
    state after ``count * stride`` steps (int64).
    """
    shape = states.shape
    flat = states.reshape(-1)
    outs_t, final_t = _tables(stride, count, max(low_bits, 1), states.device)
    b = [(flat >> (8 * q)) & 0xFF for q in range(4)]
    final = final_t[0][b[0]] ^ final_t[1][b[1]] ^ final_t[2][b[2]] ^ final_t[3][b[3]]
    if low_bits == 0:
        outs = flat.new_zeros((flat.shape[0], count))
    else:
        outs = torch.index_select(outs_t[0], 0, b[0])
        for q in range(1, 4):
            outs.bitwise_xor_(torch.index_select(outs_t[q], 0, b[q]))
    return outs.view(*shape, count), final.view(shape)
