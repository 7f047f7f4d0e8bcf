"""The crossbar backend interface, its errors and the registry of backend kinds.

A *backend* is ``tiles`` crossbar tiles of ``rows x cols`` cells that speak the contract's
operations (docs/hardware-contract.md). :class:`CrossbarBackend` is the abstract interface:

* the primitives each implementation writes (abstract here)::

    write_reg(addr, value) / read_reg(addr)         registers (addresses: memhil.contract.SPEC)
    write_cells(tile, start, gp, gm)                program conductance codes (flat row-major)
    read_cells(tile, start, count) -> (gp, gm)
    write_rng(tile, start, states)                  LFSR states: rows 0..R-1, then columns
    read_rng(tile, start, count) -> states
    forward(tile, x (B, cols)) -> (B, rows)         ADC codes of y = W x
    transpose(tile, d (B, rows)) -> (B, cols)       ADC codes of z = W^T d
    update(tile, x (B, cols), d (B, rows)) -> pulses applied (always applies; contract v3)
    state_dict() / load_state_dict(sd)              the complete state, one format for all

* what is written once, here, on top of them: :meth:`~CrossbarBackend.configure` (registers,
  step tables and LFSR seeds of a :class:`~memhil.config.DeviceConfig`, in that order),
  :meth:`~CrossbarBackend.seed`, :meth:`~CrossbarBackend.counters`,
  :meth:`~CrossbarBackend.clear_counters`, :meth:`~CrossbarBackend.weights`,
  :meth:`~CrossbarBackend.snapshot`, and the argument checks (``_check_*``), which raise
  :class:`CrossbarError` with the same message on every backend.

Implementations: :class:`memhil.twin.Twin` (the bit-exact software model) and
:class:`memhil.runtime.driver.Crossbar` (the same operations as protocol commands over a
transport, to the simulated RTL or a board; ``LockstepCrossbar`` checks each answer against a
twin).

Errors: :class:`CrossbarError` (a ``ValueError``) is the one family for "this argument is not
allowed by the contract" (the hardware's ``BAD_ARG``); ``memhil.twin.TwinError`` is another name
for it and ``memhil.runtime.driver.DeviceError`` (the device itself refused a command) is a
subclass. Failures that are not about the arguments are not in it: ``LinkError`` (no valid
answer after every retry), ``TransportError`` (the link is gone) and :class:`BackendUnavailable`
(the kind cannot be opened here) are ``RuntimeError``\\ s.

Registry: :func:`open_backend` opens a backend by kind (``twin``, ``sim``, ``board``; see
:func:`backend_kinds`). A module provides a kind by calling :func:`register_backend` when it is
imported: ``memhil.twin`` registers ``twin``, ``memhil.runtime.session`` registers ``sim`` and
``board``. This module imports neither: for the built-in kinds it knows the provider's module
name (:data:`PROVIDERS`) and imports it the first time that kind is opened, so the layers above
(``memhil.nn``) reach every kind through here, and ``memhil.runtime`` need not be installed for
``twin``.
"""
from __future__ import annotations

import abc
import importlib
from collections.abc import Callable

from memhil.config import DeviceConfig
from memhil.contract.hashing import lfsr_seeds
from memhil.contract.spec import SPEC

M32 = 0xFFFFFFFF
#: the counter registers (CNT_*), in the contract's register order
COUNTERS = tuple(name for name in SPEC.registers if name.startswith("CNT_"))


class CrossbarError(ValueError):
    """An operation's argument is outside what the contract allows (the hardware's BAD_ARG)."""


class BackendUnavailable(RuntimeError):
    """The requested backend kind cannot be opened here (unknown kind, no simulator or board
    runtime, the simulation could not be built or started, ...)."""


class CrossbarBackend(abc.ABC):
    """``tiles`` crossbar tiles of ``rows x cols`` cells; see the module docstring.

    Subclasses set ``rows``, ``cols``, ``tiles`` (geometry), ``g_w`` (code bits of the
    registers), ``lanes``, ``batch_max`` (the build's BATCH_MAX: the most samples one
    update applies at once), ``bl_max`` (the build's BL_MAX: the largest BL register value) and
    ``device`` (the torch device of returned tensors) and implement the abstract primitives.
    Tensors returned are int64 (reads, LFSR states) or the backend's code dtype (cells).
    """

    rows: int
    cols: int
    tiles: int
    g_w: int
    lanes: int
    batch_max: int
    bl_max: int

    # ------------------------------------------------------------------ primitives
    @abc.abstractmethod
    def write_reg(self, addr: int, value: int) -> None:
        """Write a register or a step-table entry (refused values: :class:`CrossbarError`)."""

    @abc.abstractmethod
    def read_reg(self, addr: int) -> int:
        """Read a register or a step-table entry."""

    @abc.abstractmethod
    def write_cells(self, tile: int, start: int, gp, gm) -> None:
        """Program ``len(gp)`` cells' codes from flat row-major index ``start``."""

    @abc.abstractmethod
    def read_cells(self, tile: int, start: int, count: int):
        """``(gp, gm)``: the codes of ``count`` cells from flat index ``start``."""

    @abc.abstractmethod
    def write_rng(self, tile: int, start: int, states) -> None:
        """Write LFSR states; index space: rows ``0..rows-1``, then columns."""

    @abc.abstractmethod
    def read_rng(self, tile: int, start: int, count: int):
        """``count`` LFSR states from index ``start`` (rows, then columns)."""

    @abc.abstractmethod
    def forward(self, tile: int, x):
        """ADC codes ``(B, rows)`` of ``y = W x`` for input codes ``x`` ``(B, cols)``."""

    @abc.abstractmethod
    def transpose(self, tile: int, d):
        """ADC codes ``(B, cols)`` of ``z = W^T d`` for codes ``d`` ``(B, rows)``."""

    @abc.abstractmethod
    def update(self, tile: int, x, d) -> int:
        """One update of ``B`` samples (contract §6: their batch sums, then one apply); the
        pulses applied. The twin takes ``1 <= B <= batch_max``; the driver splits a larger
        minibatch into chunks that are each applied (see its docstring)."""

    @abc.abstractmethod
    def state_dict(self) -> dict:
        """The complete state (codes, LFSRs, step tables, registers, counters)."""

    @abc.abstractmethod
    def load_state_dict(self, sd: dict) -> None:
        """Restore a :meth:`state_dict` of any backend of the same geometry."""

    # ------------------------------------------------------------------ written once
    def configure(self, config: DeviceConfig, *, seed_rng: bool = True) -> None:
        """Write the registers and step tables of ``config`` and (by default) seed the LFSRs:
        ``config.registers()`` in order, then each step-table level (up, then down), then
        :meth:`seed` with ``config.seed``."""
        for name, value in config.registers().items():
            self.write_reg(SPEC.reg(name), value)
        up, dn = config.step_tables()
        tb = SPEC.tables
        for k, (u, d) in enumerate(zip(up, dn)):
            self.write_reg(tb["step_up_base"] + 4 * k, u)
            self.write_reg(tb["step_dn_base"] + 4 * k, d)
        if seed_rng:
            self.seed(config.seed)

    def seed(self, seed: int) -> None:
        """Seed every LFSR with the contract's rule: ``lfsr_seeds(seed, tiles*(rows+cols))``,
        tile-major, each tile's rows first, then its columns (one ``write_rng`` per tile)."""
        n = self.rows + self.cols
        vals = lfsr_seeds(seed, self.tiles * n)
        for t in range(self.tiles):
            self.write_rng(t, 0, vals[t * n: (t + 1) * n])

    def update_batch_max(self) -> int:
        """The most samples one :meth:`update` applies at once (``batch_max``; a device whose
        MAX_PAYLOAD holds fewer samples reports less). Callers that must behave identically
        on every backend (``memhil.nn``, ``memhil.npnn``) split larger minibatches into chunks
        of this size themselves."""
        return self.batch_max

    def counters(self) -> dict[str, int]:
        """The counter registers (:data:`COUNTERS`) by name."""
        return {n: self.read_reg(SPEC.reg(n)) for n in COUNTERS}

    def clear_counters(self) -> None:
        """Clear every counter (``CTRL`` bit 0)."""
        self.write_reg(SPEC.reg("CTRL"), 1)

    def weights(self, tile: int = 0):
        """Integer weight matrix ``gp - gm`` of one tile (rows x cols)."""
        gp, gm = self.read_cells(tile, 0, self.rows * self.cols)
        return (gp - gm).reshape(self.rows, self.cols)   # a torch tensor or a numpy array

    def snapshot(self) -> dict:
        """Codes and LFSR states of every tile as ``(tiles, ...)`` tensors (``gp``, ``gm``,
        ``row_lfsr``, ``col_lfsr``), read with the primitives: torch tensors, or numpy arrays
        from a backend that returns those (the driver without torch)."""
        R, C, T = self.rows, self.cols, self.tiles
        gp, gm, rl, cl = [], [], [], []
        for t in range(T):
            p, m = self.read_cells(t, 0, R * C)
            gp.append(p.reshape(R, C))
            gm.append(m.reshape(R, C))
            s = self.read_rng(t, 0, R + C)
            rl.append(s[:R])
            cl.append(s[R:])
        import numpy as np  # lazy, as torch below: the interface itself imports neither

        if isinstance(gp[0], np.ndarray):
            stack = np.stack
        else:  # heavy: importing the interface (the CLI's --backend choices) needs no torch
            import torch
            stack = torch.stack
        return {"gp": stack(gp), "gm": stack(gm), "row_lfsr": stack(rl), "col_lfsr": stack(cl)}

    def close(self) -> None:
        """Release the backend (a device's link); nothing to do for an in-process one."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ argument checks
    def _check_tile(self, tile: int) -> int:
        tile = int(tile)
        if not 0 <= tile < self.tiles:
            raise CrossbarError(f"tile={tile} is not allowed: must be in [0, {self.tiles - 1}]")
        return tile

    @staticmethod
    def _check_range(what: str, start: int, count: int, size: int) -> None:
        if count < 0 or start < 0 or start + count > size:
            raise CrossbarError(f"{what}: start={start} count={count} must lie within [0, {size})")

    @staticmethod
    def _check_word(addr: int, value: int) -> int:
        """``value`` as an int; it must be a 32-bit register word."""
        value = int(value)
        if not 0 <= value <= M32:
            raise CrossbarError(f"register 0x{addr:03x}: value {value} is not a 32-bit word")
        return value

    @staticmethod
    def _check_cell_pair(gp, gm) -> None:
        if gp.shape != gm.shape:
            raise CrossbarError("write_cells: gp and gm differ in length")

    @staticmethod
    def _check_lfsr_states(states) -> None:
        """``states`` (a 1-D tensor or array) must be nonzero 32-bit words."""
        if len(states) and (int(states.min()) <= 0 or int(states.max()) > M32):
            raise CrossbarError("write_rng: LFSR states must be nonzero 32-bit words")

    @staticmethod
    def _check_code_dtype(what: str, dtype, integer: bool) -> None:
        if not integer:
            raise CrossbarError(f"{what}: operand codes must be integers, got {dtype}")

    @staticmethod
    def _check_code_shape(what: str, shape, n: int) -> None:
        """Operand codes are ``(B, n)`` (after a 1-D vector became one sample)."""
        if len(shape) != 2 or shape[1] != n:
            raise CrossbarError(f"{what}: expected codes of shape (B, {n}), got {tuple(shape)}")

    @staticmethod
    def _check_batch(bx: int, bd: int) -> None:
        if bx != bd:
            raise CrossbarError(f"update: x has {bx} samples but d has {bd}")
        if bx == 0:   # an update applies the batch sums of B >= 1 samples
            raise CrossbarError("update: B=0 samples is not allowed: an update needs at least "
                                "one sample")

    @staticmethod
    def _check_no_acc(sd: dict) -> None:
        """A state dict of contract version 2 carries per-cell accumulators (``"acc"``);
        version 3 has none, so such a dict loads only if they are all zero (as v2 leaves them
        after every apply: a checkpoint written between minibatches)."""
        acc = sd.get("acc")
        if acc is None:
            return
        import numpy as np  # lazy: the interface itself imports neither numpy nor torch

        a = np.asarray(acc.cpu() if hasattr(acc, "cpu") else acc)
        nz = int(np.count_nonzero(a))
        if nz:
            raise CrossbarError(f"state: 'acc' holds {nz} non-zero accumulator(s): contract "
                                "version 3 has no accumulators, so only a state whose "
                                "accumulators are all zero (saved after an apply) can be loaded")

    def _check_geometry(self, sd: dict) -> None:
        """A state dict to load must have this backend's geometry."""
        have = (self.rows, self.cols, self.tiles)
        if tuple(sd["geometry"]) != have:
            raise CrossbarError(f"state geometry {tuple(sd['geometry'])} does not match "
                                f"this {type(self).__name__}'s {have}")


# ---------------------------------------------------------------------------- registry
#: an opener: ``opener(rows, cols, tiles, config, device="cpu", **options) -> CrossbarBackend``
Opener = Callable[..., CrossbarBackend]

#: the built-in kinds and the module that registers each one when imported
PROVIDERS = {"twin": "memhil.twin", "sim": "memhil.runtime.session",
             "board": "memhil.runtime.session"}
_OPENERS: dict[str, Opener] = {}


def register_backend(kind: str, opener: Opener) -> None:
    """Make ``open_backend(kind, ...)`` call ``opener(rows, cols, tiles, config, device=,
    **options)``. An opener that cannot open its backend raises :class:`BackendUnavailable`
    (with the reason) or, for arguments the contract does not allow, :class:`CrossbarError`."""
    if not isinstance(kind, str) or not kind:
        raise ValueError(f"kind={kind!r} is not allowed: must be a non-empty string")
    if not callable(opener):
        raise ValueError(f"opener for backend {kind!r} must be callable, got {opener!r}")
    _OPENERS[kind] = opener


def backend_kinds() -> tuple[str, ...]:
    """Every kind that :func:`open_backend` knows: the built-in ones, then any registered."""
    return tuple(dict.fromkeys([*PROVIDERS, *_OPENERS]))


def open_backend(kind: str, rows: int, cols: int, tiles: int, config: DeviceConfig,
                 device: str = "cpu", **options) -> CrossbarBackend:
    """Open a crossbar backend of ``tiles`` tiles of ``rows x cols`` configured with ``config``.

    ``twin``: the bit-exact software model on torch device ``device``. ``sim`` and ``board``
    (``memhil.runtime.session.open_crossbar``, with ``options`` such as ``model=``,
    ``lockstep=``, ``port=``, ``bitfile=``): the RTL in Verilator or on a board.
    Raises :class:`BackendUnavailable` for an unknown kind or one that cannot be opened here.
    """
    opener = _OPENERS.get(kind)
    if opener is None:
        module = PROVIDERS.get(kind)
        if module is None:
            raise BackendUnavailable(f"backend={kind!r} is not allowed: one of {backend_kinds()}")
        try:
            importlib.import_module(module)
        except ImportError as e:
            hint = "" if kind == "twin" else "; use --backend twin"
            raise BackendUnavailable(f"backend {kind!r} needs {module}, which is not available "
                                     f"here ({e}){hint}") from e
        opener = _OPENERS.get(kind)
        if opener is None:
            raise BackendUnavailable(f"backend {kind!r}: importing {module} did not register it")
    return opener(rows, cols, tiles, config, device=device, **options)
