"""Helpers of :mod:`memhil.nn` for the crossbar backends it maps layers onto.

The backend interface (:class:`memhil.backend.CrossbarBackend`, implemented by
:class:`memhil.twin.Twin` and ``memhil.runtime``'s ``Crossbar``) and the registry of kinds
(:func:`memhil.backend.open_backend`: ``twin``, ``sim``, ``board``) live in :mod:`memhil.backend`.
A layer uses the primitives ``write_reg``, ``write_cells``, ``read_cells``, ``forward``,
``transpose``, ``update``, ``read_rng``/``write_rng`` (to restore the LFSRs after an
evaluation) and ``state_dict``/``load_state_dict`` (checkpoints, ``--resume``), and the geometry
``rows``, ``cols``, ``tiles``.

The per-backend register cache (:func:`reg_cache`) and the tiling of a weight matrix
(:func:`plan_tiles`) with the contract's largest tile live in :mod:`memhil.mapping` (torch-free,
shared with the numpy training path :mod:`memhil.npnn`); they are re-exported here.
"""
from __future__ import annotations

from memhil.mapping import (MAX_COLS, MAX_ROWS, MAX_TILES, RegCache,  # noqa: F401
                            network_tiles, plan_tiles, reg_cache)
