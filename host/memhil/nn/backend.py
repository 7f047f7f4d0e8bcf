"""Crossbar backends for :mod:`memhil.nn`: the twin now, the simulator or a board through
``memhil.runtime`` when it is installed.

A backend is any object with the twin's method names (the *backend protocol*)::

    rows, cols, tiles                       geometry of one tile / number of tiles
    write_reg(addr, value)                  register write (addresses: memhil.contract.SPEC.reg)
    write_cells(tile, start, gp, gm)        program conductance codes (flat row-major index)
    read_cells(tile, start, count) -> (gp, gm)
    forward(tile, x_codes (B, cols)) -> (B, rows) ADC codes
    transpose(tile, d_codes (B, rows)) -> (B, cols) ADC codes
    update(tile, x_codes (B, cols), d_codes (B, rows), apply=True) -> pulses
    state_dict() / load_state_dict(sd)      (needed for checkpoints and --resume)

:class:`memhil.twin.Twin` is one; ``memhil.runtime`` offers the same methods over the Verilator
simulation of the RTL (``sim``) or a PYNQ/UART board (``board``).
"""
from __future__ import annotations

from memhil.config import DeviceConfig
from memhil.contract.spec import SPEC

BACKENDS = ("twin", "sim", "board")
MAX_ROWS = SPEC.limits["max_rows"]
MAX_COLS = SPEC.limits["max_cols"]
MAX_TILES = SPEC.limits["max_tiles"]


class BackendUnavailable(RuntimeError):
    """The requested backend cannot be opened here (e.g. no simulator or board runtime)."""


def open_backend(kind: str, rows: int, cols: int, tiles: int, config: DeviceConfig,
                 device: str = "cpu", **options):
    """Open a crossbar backend of ``tiles`` tiles of ``rows x cols`` configured with ``config``.

    ``twin`` is the bit-exact software model; ``sim`` and ``board`` are delegated lazily to
    ``memhil.runtime.open_crossbar(kind, rows=, cols=, tiles=, config=, **options)``.
    """
    if kind == "twin":
        from memhil.twin import Twin
        return Twin(rows, cols, tiles, config, device=device)
    if kind not in BACKENDS:
        raise BackendUnavailable(f"backend={kind!r} is not allowed: one of {BACKENDS}")
    try:
        import memhil.runtime as rt  # noqa: F401  (another part of the project)
    except ImportError as e:
        raise BackendUnavailable(
            f"backend {kind!r} needs memhil.runtime, which is not available here ({e}); "
            "use --backend twin") from e
    opener = getattr(rt, "open_crossbar", None)
    if opener is None:
        raise BackendUnavailable(
            f"backend {kind!r}: memhil.runtime has no open_crossbar(); use --backend twin")
    try:
        return opener(kind, rows=rows, cols=cols, tiles=tiles, config=config, **options)
    except BackendUnavailable:
        raise
    except Exception as e:  # the runtime's own reason (no Verilator, no board, ...)
        raise BackendUnavailable(f"backend {kind!r} could not be opened: {e}") from e


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
