"""Mapping a network onto crossbar tiles, for both host training paths (no torch here).

:mod:`memhil.nn` (torch) and :mod:`memhil.npnn` (numpy, for a board without torch) place a
network's layers on tiles in the same way, so that they drive a backend with the same commands:

* :func:`plan_tiles`: a weight matrix split into blocks of at most ``rows x cols`` (the
  contract's largest tile by default), one block per tile;
* :func:`network_tiles`: the geometry of one device that holds all layers of an MLP, and the
  tiles of each layer on it (``--backend sim|board``);
* :func:`layer_seed`: the per-layer LFSR and d2d seeds of per-layer twins;
* :class:`RegCache` / :func:`reg_cache`: the one register cache of a backend, shared by every
  layer mapped onto it (a register is written only when its value changes).
"""
from __future__ import annotations

from memhil.contract.hashing import splitmix64
from memhil.contract.spec import SPEC

MAX_ROWS = SPEC.limits["max_rows"]
MAX_COLS = SPEC.limits["max_cols"]
MAX_TILES = SPEC.limits["max_tiles"]


class RegCache:
    """Writes a register only when its value changes (reads of several layers share one
    device; each layer sets the ADC gain / learning-rate register it needs before an op)."""

    def __init__(self, backend):
        self.backend = backend
        self.values: dict[str, int] = {}

    def set(self, name: str, value: int) -> None:
        value = int(value)
        if self.values.get(name) != value:
            self.backend.write_reg(SPEC.reg(name), value)
            self.values[name] = value

    def forget(self) -> None:
        self.values.clear()


_CACHES: dict[int, RegCache] = {}


def reg_cache(backend) -> RegCache:
    """The one register cache of ``backend`` (shared by every layer mapped onto it)."""
    c = getattr(backend, "_memhil_regcache", None)
    if c is None:
        c = RegCache(backend)
        try:
            backend._memhil_regcache = c
        except AttributeError:  # pragma: no cover - slotted objects
            c = _CACHES.setdefault(id(backend), c)
    return c


def plan_tiles(out_features: int, in_features: int, rows: int = MAX_ROWS, cols: int = MAX_COLS):
    """Split an ``out x in`` weight matrix into blocks of at most ``rows x cols``.

    Returns a list of ``(row_start, row_stop, col_start, col_stop)``, row blocks outer.
    """
    blocks = []
    for r0 in range(0, out_features, rows):
        for c0 in range(0, in_features, cols):
            blocks.append((r0, min(r0 + rows, out_features), c0, min(c0 + cols, in_features)))
    return blocks


def network_tiles(sizes, rows: int | None = None, cols: int | None = None
                  ) -> tuple[int, int, list[list[int]]]:
    """``(rows, cols, tiles_of)`` for an MLP of layer widths ``sizes`` (each layer with a bias
    column) on one device: the geometry (by default the largest layer's, capped at the
    contract's tile) and, per layer, its consecutive tile indices (one per block of
    :func:`plan_tiles`). The total is ``sum(map(len, tiles_of))`` tiles."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    if rows is None:
        rows = min(MAX_ROWS, max(b for _, b in pairs))
    if cols is None:
        cols = min(MAX_COLS, max(a + 1 for a, _ in pairs))
    tiles_of, t = [], 0
    for a, b in pairs:
        n = len(plan_tiles(b, a + 1, rows, cols))
        tiles_of.append(list(range(t, t + n)))
        t += n
    return rows, cols, tiles_of


def layer_seed(seed: int, index: int) -> int:
    """A distinct, reproducible 63-bit seed for layer ``index`` (decorrelates the LFSRs and
    device-to-device patterns of the per-layer twins)."""
    s = seed & 0xFFFFFFFFFFFFFFFF
    for _ in range(index + 1):
        s, z = splitmix64(s)
    return z & 0x7FFFFFFFFFFFFFFF


class NetworkDoesNotFit(ValueError):
    """A network needs more tiles of a build's shape than the build has."""


def tiles_needed(sizes, rows: int, cols: int) -> list[int]:
    """Tiles of ``rows x cols`` each layer of the MLP ``sizes`` (bias columns included) needs."""
    return [len(plan_tiles(b, a + 1, rows, cols)) for a, b in zip(sizes[:-1], sizes[1:])]


def fit_network(sizes, rows: int, cols: int, tiles: int) -> list[list[int]]:
    """Per layer, its tile indices on a build of ``tiles`` tiles of ``rows x cols``; raises
    :class:`NetworkDoesNotFit` (naming the network, the build and what would fit) if the layers'
    blocks need more tiles than the build has."""
    need = tiles_needed(sizes, rows, cols)
    if sum(need) > tiles:
        arch = "-".join(str(s) for s in sizes)
        r, c, t = choose_geometry(sizes)
        per = ", ".join(f"{b}x{a + 1}: {n}" for (a, b), n in zip(zip(sizes[:-1], sizes[1:]), need))
        raise NetworkDoesNotFit(
            f"the network {arch} needs {sum(need)} tiles of {rows}x{cols} (per layer with its "
            f"bias column: {per}) but the build has {tiles}; a build of {t} tiles of {r}x{c} "
            f"holds it (bitstreams/: ROWS={r} COLS={c} TILES={t})")
    out, t0 = [], 0
    for n in need:
        out.append(list(range(t0, t0 + n)))
        t0 += n
    return out


def choose_geometry(sizes, *, lanes: int = 8, max_tiles: int = MAX_TILES, slack: float = 0.15
                    ) -> tuple[int, int, int]:
    """``(rows, cols, tiles)`` of a build that holds every layer of the MLP ``sizes`` (bias
    columns included) on its own tiles at once, for a bitstream of the paper-scale networks:
    among the tile shapes whose total cells (rows padded to whole LANES words, as the RTL
    stores them) are within ``slack`` of the fewest possible, the one with the fewest tiles
    (fewer blocks: fewer partial sums, commands and ADC conversions), then the fewest cells.
    At most ``max_tiles`` tiles. The host splits a layer larger than a tile into blocks
    (:func:`plan_tiles`) and sums their ADC outputs."""
    pairs = [(a + 1, b) for a, b in zip(sizes[:-1], sizes[1:])]
    rows_c = {-(-b // k) for _, b in pairs for k in range(1, max_tiles + 1)}
    cols_c = {-(-a // k) for a, _ in pairs for k in range(1, max_tiles + 1)}
    found = []
    for r in sorted(x for x in rows_c if x <= MAX_ROWS):
        for c in sorted(x for x in cols_c if x <= MAX_COLS):
            t = sum(tiles_needed(sizes, r, c))
            if t <= max_tiles:
                found.append((t * r * (-(-c // lanes) * lanes), t, r, c))
    if not found:
        raise NetworkDoesNotFit(f"the network {'-'.join(map(str, sizes))} does not fit "
                                f"{max_tiles} tiles of at most {MAX_ROWS}x{MAX_COLS}")
    least = min(f[0] for f in found)
    cells, t, r, c = min((f for f in found if f[0] <= least * (1 + slack)),
                         key=lambda f: (f[1], f[0], -f[3]))
    return r, c, t


def open_fitted(kind: str, sizes, config, **options):
    """Open the one device of ``kind`` with whatever tile shape it has (a board's bitstream)
    and map the MLP ``sizes`` onto it: ``(backend, tiles_of)``. A network that does not fit
    closes the device and raises :class:`NetworkDoesNotFit`."""
    from memhil.backend import open_backend

    xb = open_backend(kind, None, None, None, config, **options)
    try:
        return xb, fit_network(sizes, xb.rows, xb.cols, xb.tiles)
    except ValueError:
        xb.close()
        raise
