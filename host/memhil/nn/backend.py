"""Helpers of :mod:`memhil.nn` for the crossbar backends it maps layers onto.

The backend interface (:class:`memhil.backend.CrossbarBackend`, implemented by
:class:`memhil.twin.Twin` and ``memhil.runtime``'s ``Crossbar``) and the registry of kinds
(:func:`memhil.backend.open_backend`: ``twin``, ``sim``, ``board``) live in :mod:`memhil.backend`.
A layer uses the primitives ``write_reg``, ``write_cells``, ``read_cells``, ``forward``,
``transpose``, ``update``, ``read_rng``/``write_rng`` (to restore the LFSRs after an
evaluation) and ``state_dict``/``load_state_dict`` (checkpoints, ``--resume``), and the geometry
``rows``, ``cols``, ``tiles``.

Here: the per-backend register cache (:func:`reg_cache`) and the tiling of a weight matrix
(:func:`plan_tiles`) with the contract's largest tile.
"""
from __future__ import annotations

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
