"""Opening a crossbar backend for training code, and a short lockstep training demo.

:func:`open_crossbar` is what ``memhil.nn.backend.open_backend(kind, ...)`` calls for
``--backend sim`` and ``--backend board``: it returns a configured :class:`Crossbar` (or
:class:`LockstepCrossbar`) with the Twin's methods. :func:`lockstep_demo` takes a network
trained on the twin, moves each crossbar layer's state onto the simulated RTL and runs a few
training steps there with every answer checked against the twin, and the same steps on the
twin alone, and reports whether the two networks end up identical.
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from memhil.config import DeviceConfig
from memhil.runtime.driver import Crossbar
from memhil.runtime.lockstep import LockstepCrossbar


def _lanes_for(cols: int) -> int:
    """LANES for a simulation build: 4 (the default build's) unless the tile is narrower."""
    return 4 if cols >= 4 else 2


def open_crossbar(kind: str, *, rows: int, cols: int, tiles: int, config: DeviceConfig,
                  lockstep: bool = False, model: str = "rtl", lanes: int | None = None,
                  port: str | None = None, baudrate: int = 115200, bitfile: str | None = None,
                  timeout: float = 2.0, retries: int = 8, configure: bool = True,
                  **ignored) -> Crossbar:
    """A configured crossbar of ``tiles`` tiles of ``rows x cols``.

    ``kind="sim"``: the Verilator build of the RTL with exactly this geometry (``model="twin"``:
    the twin behind the same socket), started now and stopped on ``close()``.
    ``kind="board"``: ``bitfile=`` (PYNQ overlay) or ``port=`` (UART, ``baudrate``); the
    bitstream's geometry must match. ``lockstep=True`` checks every answer against the twin.
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
        if (xb.rows, xb.cols) != (rows, cols) or xb.tiles < tiles:
            have = (xb.rows, xb.cols, xb.tiles)
            xb.close()
            raise ValueError(f"the board's bitstream has tiles of {have[0]}x{have[1]} (x{have[2]});"
                             f" this network needs {rows}x{cols} (x{tiles}): rebuild "
                             f"bitstreams/ with ROWS={rows} COLS={cols} TILES>={tiles}")
    else:
        raise ValueError(f"kind={kind!r} is not allowed: must be 'sim' or 'board'")
    if (1 << xb.g_w) <= config.cmax:
        xb.close()
        raise ValueError(f"config needs codes up to {config.cmax} but the device's registers "
                         f"have G_W={xb.g_w} bits")
    xb.kind = kind
    if configure:
        xb.configure(config)
    return xb


def _train(net, x, y, steps, batch, lr, loss_fn, opt_cls) -> None:
    opt = opt_cls(net, lr)
    net.train()
    for s in range(steps):
        xb, yb = x[s * batch:(s + 1) * batch], y[s * batch:(s + 1) * batch]
        if len(yb) == 0:
            break
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()


def lockstep_demo(model, x, y, *, steps: int = 4, batch: int = 32, lr: float = 0.01,
                  config: DeviceConfig | None = None, out_dir=None, sim_model: str = "rtl",
                  **ignored) -> dict:
    """Run ``steps`` training steps of ``model`` (CrossbarLinear layers on twins) on the
    simulated RTL in lockstep, and the same steps on the twins; return a verdict dict."""
    from memhil.nn.layer import CrossbarLinear, CrossbarSGD  # the training part of memhil
    from memhil.runtime.lockstep import DivergenceError

    t0 = time.monotonic()
    x = torch.as_tensor(x, dtype=torch.float32)
    y = torch.as_tensor(y, dtype=torch.int64)
    on_sim, on_twin = copy.deepcopy(model), copy.deepcopy(model)
    opened = []
    try:
        for layer in (m for m in on_sim.modules() if isinstance(m, CrossbarLinear)):
            twin = layer.backend
            sd = twin.state_dict()
            cfg = layer.config
            xb = open_crossbar("sim", rows=twin.rows, cols=twin.cols, tiles=twin.tiles,
                               config=cfg, lockstep=True, model=sim_model, configure=False)
            opened.append(xb)
            xb.load_state_dict(sd)
            layer.backend = xb
            if hasattr(layer, "regs") and hasattr(layer.regs, "backend"):
                layer.regs.backend = xb           # the layer's register cache, same values
        loss_fn = torch.nn.CrossEntropyLoss()
        outs = {}
        res = None
        for name, net in (("sim", on_sim), ("twin", on_twin)):
            if name == "sim":
                try:
                    _train(net, x, y, steps, batch, lr, loss_fn, CrossbarSGD)
                except DivergenceError as e:
                    res = {"verdict": f"DIVERGENCE: {e}", "ok": False, "steps": steps,
                           "seconds": round(time.monotonic() - t0, 2)}
                    break
            else:
                _train(net, x, y, steps, batch, lr, loss_fn, CrossbarSGD)
            net.eval()
            with torch.no_grad():
                outs[name] = net(x[:batch])
        if res is None:
            same_codes = all(
                torch.equal(a.backend.snapshot()["gp"], b.backend.gp.cpu())
                and torch.equal(a.backend.snapshot()["gm"], b.backend.gm.cpu())
                for a, b in zip((m for m in on_sim.modules() if isinstance(m, CrossbarLinear)),
                                (m for m in on_twin.modules() if isinstance(m, CrossbarLinear))))
            identical = same_codes and torch.equal(outs["sim"], outs["twin"])
            commands = sum(xb.stats.commands for xb in opened)
            checked = sum(xb.checked for xb in opened)
            res = {
                "verdict": (f"lockstep OK: {steps} training steps on the simulated RTL, {checked} "
                            f"answers checked against the twin, network identical to the twin run"
                            if identical else
                            "MISMATCH: the RTL-trained network differs from the twin-trained one"),
                "ok": bool(identical), "steps": steps, "commands": commands, "checked": checked,
                "layers": len(opened), "seconds": round(time.monotonic() - t0, 2),
            }
    finally:
        for xb in opened:
            xb.close()
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "lockstep.json").write_text(json.dumps(res, indent=2) + "\n")
    return res
