"""Opening a device as a crossbar backend: the ``sim`` and ``board`` kinds of the registry.

:func:`open_crossbar` returns a configured :class:`Crossbar` (or :class:`LockstepCrossbar`) of a
given geometry: the Verilator build of the RTL (``sim``) or a board (``board``). Importing this
module registers both kinds with :func:`memhil.backend.register_backend`, so that
``memhil.backend.open_backend("sim", ...)`` (what ``memhil.nn`` calls for ``--backend sim``)
reaches it; :data:`memhil.backend.PROVIDERS` names this module for them.
"""
from __future__ import annotations

import functools

from memhil.backend import BackendUnavailable, register_backend
from memhil.config import DeviceConfig
from memhil.runtime.driver import Crossbar
from memhil.runtime.lockstep import LockstepCrossbar


def _lanes_for(cols: int) -> int:
    """LANES for a simulation build: 4 (the default build's) unless the tile is narrower."""
    return 4 if cols >= 4 else 2


def open_crossbar(kind: str, *, rows: int | None, cols: int | None, tiles: int | None,
                  config: DeviceConfig,
                  lockstep: bool = False, model: str = "rtl", lanes: int | None = None,
                  port: str | None = None, baudrate: int = 115200, bitfile: str | None = None,
                  timeout: float = 2.0, retries: int = 8, configure: bool = True,
                  **ignored) -> Crossbar:
    """A configured crossbar of ``tiles`` tiles of ``rows x cols``.

    ``kind="sim"``: the Verilator build of the RTL with exactly this geometry (``model="twin"``:
    the twin behind the same socket), started now and stopped on ``close()``.
    ``kind="board"``: ``bitfile=`` (PYNQ overlay) or ``port=`` (UART, ``baudrate``); the
    bitstream's geometry must match, or, with ``rows=cols=tiles=None``, is whatever the board
    has (the caller maps its network onto it: :func:`memhil.mapping.fit_network`).
    ``lockstep=True`` checks every answer against the twin.
    """
    cls = LockstepCrossbar if lockstep else Crossbar
    if kind == "sim":
        from memhil.runtime import sim_link

        params = sim_link.SimParams(rows=rows, cols=cols, tiles=tiles,
                                    lanes=lanes or _lanes_for(cols), g_w=config.code_bits)
        xb = sim_link.open_sim(model, params, lockstep=lockstep, timeout=timeout,
                               retries=retries)
    elif kind == "board":
        if bitfile:
            from memhil.runtime.pynq_transport import PynqTransport

            tr = PynqTransport.from_bitfile(bitfile)
        elif port:
            from memhil.runtime.transport import SerialTransport

            tr = SerialTransport(port, baudrate=baudrate)
        else:
            raise ValueError("backend 'board' needs bitfile= (PYNQ overlay) or port= (UART)")
        xb = cls(tr, timeout=timeout, retries=retries)
        if rows is not None and ((xb.rows, xb.cols) != (rows, cols) or xb.tiles < tiles):
            have = (xb.rows, xb.cols, xb.tiles)
            xb.close()
            raise ValueError(f"the board's bitstream has tiles of {have[0]}x{have[1]} (x{have[2]});"
                             f" this network needs {rows}x{cols} (x{tiles}): rebuild "
                             f"bitstreams/ with ROWS={rows} COLS={cols} TILES>={tiles}")
    else:
        raise ValueError(f"kind={kind!r} is not allowed: must be 'sim' or 'board'")
    problem = code_width_problem(config, xb.g_w)
    if problem:
        xb.close()
        raise ValueError(problem)
    xb.kind = kind
    if configure:
        xb.configure(config)
    return xb


def code_width_problem(config: DeviceConfig, g_w: int) -> str | None:
    """Why ``config``'s codes do not fit a build's ``G_W``-bit registers (with the
    ``--sub-bits`` that would fit), or None. The paper-network bitstream has G_W = 6: 32 levels
    with SUB_BITS 1 (docs/rtl.md)."""
    if config.cmax < (1 << g_w):
        return None
    fit = [s for s in range(config.sub_bits) if ((config.levels - 1) << s) < (1 << g_w)]
    hint = (f": use --sub-bits {fit[-1]} ({config.levels} levels need CMAX = "
            f"{config.levels - 1} << SUB_BITS < 2^{g_w})" if fit else
            f": {config.levels} levels do not fit {g_w}-bit codes; use fewer --levels")
    return (f"config needs codes up to {config.cmax} (levels {config.levels}, sub_bits "
            f"{config.sub_bits}) but the device's registers have G_W={g_w} bits{hint}")


def _open_kind(kind: str, rows: int, cols: int, tiles: int, config: DeviceConfig,
               device: str = "cpu", **options) -> Crossbar:
    """The registry's opener of ``sim`` and ``board``: :func:`open_crossbar`, with any failure
    (no Verilator, no board, a geometry mismatch) as :class:`BackendUnavailable`. ``device``
    (the twin's torch device) does not apply to a device."""
    try:
        return open_crossbar(kind, rows=rows, cols=cols, tiles=tiles, config=config, **options)
    except BackendUnavailable:
        raise
    except Exception as e:  # the runtime's own reason (no Verilator, no board, ...)
        raise BackendUnavailable(f"backend {kind!r} could not be opened: {e}") from e


for _kind in ("sim", "board"):
    register_backend(_kind, functools.partial(_open_kind, _kind))
