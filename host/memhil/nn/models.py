"""Multilayer perceptrons: the float baseline and the same network on crossbars."""
from __future__ import annotations

import contextlib

import torch
from torch import nn

from memhil.backend import open_backend
from memhil.config import DeviceConfig
from memhil.mapping import layer_seed, network_tiles, open_fitted  # noqa: F401
from memhil.nn.layer import CrossbarLinear


def float_mlp(sizes: list[int], seed: int) -> nn.Sequential:
    """``Linear-ReLU-...-Linear`` with torch's default initialisation under ``seed``."""
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)


def crossbar_mlp(sizes: list[int], seed: int, config: DeviceConfig, backend: str = "twin",
                 w_range: float = 4.0, device: str = "cpu", backend_options: dict | None = None,
                 coding=None) -> nn.Sequential:
    """The same network as :func:`float_mlp` (same initial weights, quantized to levels) with
    every ``Linear`` a :class:`CrossbarLinear`.

    With ``backend="twin"`` each layer gets its own twin (sized to the layer, with a per-layer
    LFSR and d2d seed derived from ``config.seed`` / ``config.d2d_seed``). With ``sim`` or
    ``board`` one device is opened whose tiles hold all layers' blocks: a simulation is built
    to the network's size; a board's bitstream has its own tile shape, onto which the layers
    are split (:func:`memhil.mapping.fit_network`, a clear error if they need more tiles than
    it has). ``coding``: the host's update coding (:class:`memhil.config.UpdateCoding` or its
    dict) of every layer; layer ``i`` draws its stochastic rounding from ``layer_seed(seed, i)``.
    """
    ref = float_mlp(sizes, seed)
    shared = None
    tiles_of = []
    if backend == "board":
        shared, tiles_of = open_fitted(backend, sizes, config, device=device,
                                       **(backend_options or {}))
    elif backend != "twin":
        rows, cols, tiles_of = network_tiles(sizes)
        shared = open_backend(backend, rows, cols, sum(map(len, tiles_of)), config,
                              device=device, **(backend_options or {}))
    layers: list[nn.Module] = []
    li = 0
    for m in ref:
        if isinstance(m, nn.Linear):
            if shared is None:
                cfg = config.replace(seed=layer_seed(config.seed, li),
                                     d2d_seed=layer_seed(config.d2d_seed, li),
                                     stuck_seed=layer_seed(config.stuck_seed, li))
                layers.append(CrossbarLinear(m.in_features, m.out_features, True, cfg, "twin",
                                             weight=m.weight.detach(), bias_init=m.bias.detach(),
                                             w_range=w_range, device=device, coding=coding,
                                             coding_seed=layer_seed(seed, li)))
            else:
                layers.append(CrossbarLinear(m.in_features, m.out_features, True, config, shared,
                                             tiles=tiles_of[li], weight=m.weight.detach(),
                                             bias_init=m.bias.detach(), w_range=w_range,
                                             coding=coding, coding_seed=layer_seed(seed, li)))
            li += 1
        else:
            layers.append(m)
    return nn.Sequential(*layers)


def backends_of(model: nn.Module) -> list:
    """The distinct crossbar backends used by ``model``, in layer order."""
    out, seen = [], set()
    for m in model.modules():
        if isinstance(m, CrossbarLinear) and id(m.backend) not in seen:
            seen.add(id(m.backend))
            out.append(m.backend)
    return out


def lfsr_states(model: nn.Module) -> list:
    """``[(backend, tile, states)]``: the LFSR states (rows, then columns) of every crossbar tile
    that ``model`` uses, read through the backend's ``read_rng``."""
    out, seen = [], set()
    for m in model.modules():
        if isinstance(m, CrossbarLinear):
            b = m.backend
            for t, *_ in m.blocks:
                if (id(b), t) not in seen:
                    seen.add((id(b), t))
                    out.append((b, t, b.read_rng(t, 0, b.rows + b.cols)))
    return out


@contextlib.contextmanager
def preserved_lfsrs(model: nn.Module):
    """Run the body (an evaluation) with the LFSR states of every tile of ``model`` saved before
    and written back after (also when the body raises).

    Reads with read noise (``RN_Q != 0``) advance the output-side LFSRs (contract §4.3), the same
    LFSRs that the next update draws its stream bits and noise words from; without this, the
    size and number of evaluations between training steps would change the training. The
    states go through ``read_rng``/``write_rng`` (READ_RNG/WRITE_RNG on a device), so this
    holds on the twin, the simulated RTL and a board alike. What it cannot undo: the read
    counters ``CNT_READS``, ``CNT_CELL_READS``, ``CNT_DAC`` and ``CNT_ADC``, which count the
    evaluation's reads (they are read-only on a device).
    """
    saved = lfsr_states(model)
    try:
        yield
    finally:
        for b, t, states in saved:
            b.write_rng(t, 0, states)
