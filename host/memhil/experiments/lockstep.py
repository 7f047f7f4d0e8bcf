"""A short lockstep training run: a network trained on the twin, continued on the simulated RTL.

:func:`lockstep_demo` (used by ``memhil demo``) takes a network of
:class:`~memhil.nn.layer.CrossbarLinear` layers on twins, moves each layer's state onto the
simulated RTL (``memhil.runtime.open_crossbar("sim", ..., lockstep=True)``), runs a few training
steps there with every answer checked against the twin, and the same steps on the twins alone,
and reports whether the two networks end up identical. It sits above both ``memhil.nn`` and
``memhil.runtime`` (neither imports the other's training or device code).
"""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import torch

from memhil.config import DeviceConfig
from memhil.nn.layer import CrossbarLinear, CrossbarSGD
from memhil.runtime.lockstep import DivergenceError
from memhil.runtime.session import open_crossbar


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
