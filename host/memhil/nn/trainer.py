"""Training and evaluation of the float baseline and the crossbar network, with per-epoch
checkpoints from which ``resume`` continues bit for bit."""
from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn

from memhil import hostmath
from memhil.config import DeviceConfig, UpdateCoding
from memhil.energy import CounterMeter
from memhil.nn.checkpoint import (CheckpointError, checkpoint_file, crossbar_state_problem,
                                   first_line, form_problem, history_problem, load_checkpoint,
                                   save_checkpoint)
from memhil.nn.fused import FusedStep
from memhil.nn.layer import CrossbarLinear, CrossbarSGD
from memhil.nn.loss import CrossEntropyLoss
from memhil.nn.models import backends_of, crossbar_mlp, float_mlp, preserved_lfsrs


#: minibatches between two reads of the event counters (memhil.energy): the paper network's
#: busiest counter (cell reads) grows by ~1e7 per minibatch of 32, far from 2^32 in 16
METER_EVERY = 16


@dataclass
class RunSpec:
    """Everything that defines one training run (stored in checkpoints and results.json)."""

    dataset: str = "digits"
    hidden: list[int] = field(default_factory=lambda: [32])
    device: str = "memristive"          # or "float" (the baseline)
    backend: str = "twin"
    epochs: int = 10
    batch: int = 8
    lr: float = 0.1
    seed: int = 0
    w_range: float = 4.0
    lr_schedule: str = "linear"         # "linear": lr falls linearly to lr_end * lr; or "constant"
    lr_end: float = 0.1
    train_subset: int | None = None
    test_subset: int | None = None
    config: dict = field(default_factory=lambda: DeviceConfig().to_dict())
    #: the host's update coding (``memhil.config.UpdateCoding`` fields); None: the default
    coding: dict | None = None

    def __post_init__(self):
        # one form for one coding: every field of a non-default coding, None for the default
        # (a bad coding raises memhil.config.ConfigError naming the field)
        if self.coding is not None:
            c = UpdateCoding.from_dict(self.coding)
            self.coding = None if c.is_default else c.to_dict()

    def device_config(self) -> DeviceConfig:
        return DeviceConfig.from_dict(self.config)

    def update_coding(self) -> UpdateCoding:
        return UpdateCoding.from_dict(self.coding)

    def to_dict(self) -> dict:
        """The spec as a dict; ``coding`` only when it is not the default, so that the specs
        (run keys, checkpoints) of runs with the default coding keep their earlier form."""
        d = asdict(self)
        if self.coding is None:
            d.pop("coding")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunSpec":
        return cls(**d)

    def lr_at(self, epoch: int) -> float:
        """Learning rate of (0-based) ``epoch`` (:func:`memhil.hostmath.lr_at`)."""
        return hostmath.lr_at(self.lr, epoch, self.epochs, self.lr_schedule, self.lr_end)

    def sizes(self, features: int, classes: int) -> list[int]:
        return [features, *self.hidden, classes]


def _spec_problem(d) -> str | None:
    """Why ``d`` (a checkpoint's spec) is not a ``RunSpec.to_dict()`` that can be trained."""
    from memhil.config import ConfigError
    if not isinstance(d, dict):
        return f"its spec is a {type(d).__name__}, not a dict"
    names = [f.name for f in fields(RunSpec)]
    unknown = sorted(map(str, set(d) - set(names)))
    if unknown:
        return f"its spec has unknown fields {', '.join(unknown)}"

    def num(x, lo=None, above=None):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and \
            (lo is None or x >= lo) and (above is None or x > above)

    def whole(x, lo):
        return isinstance(x, int) and not isinstance(x, bool) and x >= lo

    rules = {
        "dataset": (lambda x: isinstance(x, str) and x != "", "a data set name"),
        "hidden": (lambda x: isinstance(x, (list, tuple)) and all(whole(h, 1) for h in x),
                   "a list of positive integers"),
        "device": (lambda x: x in ("memristive", "float"), "'memristive' or 'float'"),
        "backend": (lambda x: isinstance(x, str), "a backend name"),
        "epochs": (lambda x: whole(x, 1), "an integer >= 1"),
        "batch": (lambda x: whole(x, 1), "an integer >= 1"),
        "lr": (lambda x: num(x, above=0), "a number > 0"),
        "seed": (lambda x: whole(x, 0), "an integer >= 0"),
        "w_range": (lambda x: num(x, above=0), "a number > 0"),
        "lr_schedule": (lambda x: x in ("linear", "constant"), "'linear' or 'constant'"),
        "lr_end": (lambda x: num(x), "a number"),
        "train_subset": (lambda x: x is None or whole(x, 1), "None or an integer >= 1"),
        "test_subset": (lambda x: x is None or whole(x, 1), "None or an integer >= 1"),
        "config": (lambda x: isinstance(x, dict), "a dict"),
        "coding": (lambda x: x is None or isinstance(x, dict), "None or a dict"),
    }
    for name in names:
        if name in d and not rules[name][0](d[name]):
            return f"its spec's {name} is {d[name]!r:.60}, not {rules[name][1]}"
    try:
        DeviceConfig.from_dict(d.get("config", {}))
    except (ConfigError, TypeError) as e:
        return f"its spec's config: {first_line(e)}"
    try:
        UpdateCoding.from_dict(d.get("coding")).check_mode(
            DeviceConfig.from_dict(d.get("config", {})).update_mode)
    except (ConfigError, TypeError) as e:
        return f"its spec's coding: {first_line(e)}"
    return None


def build_model(spec: RunSpec, features: int, classes: int,
                backend_options: dict | None = None) -> nn.Module:
    """The network of ``spec``; ``backend_options`` (``bitfile=``, ``port=``, ...) reach
    :func:`memhil.backend.open_backend` (how to reach a board is no part of the run's spec)."""
    sizes = spec.sizes(features, classes)
    if spec.device == "float":
        return float_mlp(sizes, spec.seed)
    cfg = spec.device_config()
    return crossbar_mlp(sizes, spec.seed, cfg, spec.backend, spec.w_range,
                        backend_options=backend_options, coding=spec.coding)


def is_crossbar(model: nn.Module) -> bool:
    return any(isinstance(m, CrossbarLinear) for m in model.modules())


@torch.no_grad()
def predict(model: nn.Module, x, batch: int = 512) -> torch.Tensor:
    """Predicted classes of ``x`` (numpy or tensor), in batches, in ``eval()`` mode.

    Evaluation leaves the training's state alone: the layers' ADC gains are not adapted (see
    ``CrossbarLinear._read``) and the crossbar LFSRs, which noisy reads advance, are restored
    afterwards (:func:`memhil.nn.models.preserved_lfsrs`). So what follows (more training, or
    another evaluation) does not depend on what or how much was evaluated before.
    """
    model.eval()
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    out = []
    with preserved_lfsrs(model):
        for i in range(0, len(x), batch):
            out.append(model(x[i: i + batch]).argmax(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.int64)


def accuracy(model: nn.Module, x, y, batch: int = 512) -> float:
    y = torch.as_tensor(np.asarray(y))
    if len(y) == 0:
        return float("nan")
    return float((predict(model, x, batch) == y).double().mean())


def network_state(model: nn.Module) -> dict:
    """The model's host state and every backend's complete state (``None`` for a backend
    without ``state_dict``; such a checkpoint can be evaluated but not resumed)."""
    bks = []
    for b in backends_of(model):
        sd = getattr(b, "state_dict", None)
        bks.append(sd() if callable(sd) else None)
    return {"model": model.state_dict(), "backends": bks}


def load_network_state(model: nn.Module, st: dict, where: str = "checkpoint") -> None:
    bks = backends_of(model)
    if len(bks) != len(st["backends"]):
        raise CheckpointError(f"{where} has {len(st['backends'])} crossbar backends, "
                              f"the network {len(bks)}")
    for b, s in zip(bks, st["backends"]):
        if s is None or not callable(getattr(b, "load_state_dict", None)):
            raise CheckpointError(f"{where} holds no complete crossbar state (its backend "
                                  "had no state_dict), so it cannot be loaded")
        b.load_state_dict(s)
        rc = getattr(b, "_memhil_regcache", None)
        if rc is not None:
            rc.forget()
    model.load_state_dict(st["model"])


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, dynamic_ncols=True)


class Trainer:
    """Trains ``spec`` on ``data``; with ``out_dir`` writes ``checkpoint.pt`` after every epoch.

    ``fit()`` returns the result dict (``test_accuracy``, ``history``, ...). ``resume()`` loads
    the checkpoint in ``out_dir`` and continues; the final state equals an uninterrupted run's.
    """

    def __init__(self, spec: RunSpec, data, out_dir: str | Path | None = None,
                 progress: bool = False, log=None, stop_after: int | None = None,
                 backend_options: dict | None = None):
        self.spec = spec
        self.data = data
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress
        self.log = log or (lambda *a: None)
        self.stop_after = stop_after   # for tests: stop (as if killed) after this many epochs
        self.model = build_model(spec, data.features, data.classes, backend_options)
        if is_crossbar(self.model):
            self.opt = CrossbarSGD(self.model, spec.lr)
        else:
            self.opt = torch.optim.SGD(self.model.parameters(), lr=spec.lr)
        self.gen = torch.Generator().manual_seed(int(spec.seed))
        self.epoch = 0
        self.history: list[dict] = []
        self.order: torch.Tensor | None = None
        self.x = torch.as_tensor(data.x_train)
        self.y = torch.as_tensor(data.y_train)
        # the crossbars' event counters, totalled over the run by phase (memhil.energy)
        self.meter = CounterMeter(backends_of(self.model)) if is_crossbar(self.model) else None
        self.energy_samples = {"train": 0, "inference": 0}

    # ------------------------------------------------------------------ checkpoints
    @property
    def ckpt_path(self) -> Path | None:
        return self.out_dir / "checkpoint.pt" if self.out_dir is not None else None

    def state(self) -> dict:
        """What a checkpoint holds. Nothing in it depends on the clock or on torch's global
        generator (training draws only from ``self.gen`` and the crossbars' LFSRs), so identical
        runs write byte-identical checkpoints; the epochs' wall-clock times stay out."""
        history = [{k: v for k, v in h.items() if k != "epoch_time_s"} for h in self.history]
        return {"spec": self.spec.to_dict(), "epoch": self.epoch, "history": history,
                "net": network_state(self.model), "optimizer": self.opt.state_dict(),
                "data_rng": self.gen.get_state(), "order": self.order,
                "data": self.data.describe(),
                "energy": None if self.meter is None else
                {"meter": self.meter.state_dict(), "samples": dict(self.energy_samples)}}

    def save(self) -> None:
        if self.ckpt_path is not None:
            save_checkpoint(self.ckpt_path, self.state())

    def _state_problem(self, st: dict) -> str | None:
        """Why ``st`` is not a :meth:`state` of this run (its spec and data already match)."""
        need = ("epoch", "history", "net", "optimizer", "data_rng", "order")
        missing = [k for k in need if k not in st]
        if missing:
            return f"it lacks {', '.join(missing)}"
        ep = st["epoch"]
        if not isinstance(ep, int) or isinstance(ep, bool) or not 0 <= ep <= self.spec.epochs:
            return f"its epoch is {ep!r:.40}, not an integer in [0, {self.spec.epochs}]"
        net = st["net"]
        if not isinstance(net, dict) or set(net) != {"model", "backends"}:
            return "its net is not a dict of model and backends"
        p = history_problem(st["history"], ep) or \
            form_problem(self.model.state_dict(), net["model"], "net.model") or \
            form_problem(self.gen.get_state(), st["data_rng"], "data_rng")
        if p:
            return p
        bks = net["backends"]
        if not isinstance(bks, list):
            return f"net.backends is a {type(bks).__name__}, not a list"
        for i, (b, s) in enumerate(zip(backends_of(self.model), bks)):
            if s is not None and all(hasattr(b, a) for a in ("rows", "cols", "tiles")):
                p = crossbar_state_problem(s, b.rows, b.cols, b.tiles, f"net.backends[{i}]",
                                           getattr(b, "check_write_reg", None))
                if p:
                    return p
        if not isinstance(st["optimizer"], dict):
            return f"its optimizer state is a {type(st['optimizer']).__name__}, not a dict"
        order, n = st["order"], len(self.y)
        if order is not None and (not isinstance(order, torch.Tensor) or
                                  order.dtype != torch.int64 or tuple(order.shape) != (n,)):
            return f"its order is not None or an int64 tensor of {n} indices"
        return None

    def load(self, st: dict, where: str = "checkpoint") -> None:
        """Continue from ``st`` (a :meth:`state` of this run). A state that is not (another
        run, missing or mistyped parts) raises :class:`CheckpointError` naming ``where``.
        Checkpoints of earlier versions, which also held torch's global RNG state, load: that
        state is not used."""
        if st.get("spec") != self.spec.to_dict():
            raise CheckpointError(f"{where} belongs to a different run configuration")
        if st.get("data") != self.data.describe():
            raise CheckpointError(f"{where} was trained on {st.get('data')!r:.200}, "
                                  f"not on {self.data.describe()}")
        p = self._state_problem(st)
        if p:
            raise CheckpointError(f"{where} does not hold a valid run: {p}")
        try:
            load_network_state(self.model, st["net"], where)
            self.opt.load_state_dict(st["optimizer"])
            self.gen.set_state(st["data_rng"])
        except CheckpointError:
            raise
        except (LookupError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            if isinstance(e, RuntimeError) and type(e) is not RuntimeError:
                raise      # a link, device or backend failure, not the checkpoint's content
            raise CheckpointError(f"{where} does not hold a valid run: {first_line(e)}") from e
        self.epoch = st["epoch"]
        self.history = [dict(h) for h in st["history"]]
        for h in self.history:            # the wall-clock times are not in checkpoints
            h.setdefault("epoch_time_s", None)
        self.order = st["order"]
        en = st.get("energy")          # (checkpoints before the energy counters have none)
        if self.meter is not None and isinstance(en, dict):
            self.meter.load_state_dict(en.get("meter", {}))
            self.energy_samples.update(en.get("samples", {}))
        elif self.meter is not None:
            self.meter.load_state_dict({})

    @classmethod
    def from_checkpoint(cls, out_dir, data_loader, **kw) -> "Trainer":
        """Rebuild a trainer from ``out_dir/checkpoint.pt``; ``data_loader(spec)`` gives the data.
        Every checkpoint that cannot be continued raises :class:`CheckpointError` with a
        one-line message naming the file."""
        st = load_checkpoint(out_dir)
        where = f"checkpoint {checkpoint_file(out_dir)}"
        p = _spec_problem(st.get("spec"))
        if p:
            raise CheckpointError(f"{where} does not hold a valid run: {p}")
        spec = RunSpec.from_dict(st["spec"])
        tr = cls(spec, data_loader(spec), out_dir=out_dir, **kw)
        tr.load(st, where)
        return tr

    # ------------------------------------------------------------------ training
    def train_epoch(self) -> dict:
        spec = self.spec
        n = len(self.y)
        self.order = torch.randperm(n, generator=self.gen)
        lr = spec.lr_at(self.epoch)
        if isinstance(self.opt, CrossbarSGD):
            self.opt.lr = lr
        else:
            for g in self.opt.param_groups:
                g["lr"] = lr
        self.model.train()
        # the fused step (memhil.nn.fused: three native calls per minibatch, the plain step's
        # results bit for bit) where it applies; the plain autograd step below otherwise
        fused = FusedStep.of(self.model, self.opt) if isinstance(self.opt, CrossbarSGD) else None
        loss_fn = CrossEntropyLoss()       # memhil.hostmath's, as the numpy path (memhil.npnn)
        tot_loss, correct, pulses = 0.0, 0, 0
        bar = _progress((n + spec.batch - 1) // spec.batch,
                        f"{spec.device} epoch {self.epoch + 1}/{spec.epochs}", self.progress)
        if fused is not None:              # (numpy indexing: a few us less per minibatch)
            order_np, x_np, y_np = self.order.numpy(), self.x.numpy(), self.y.numpy()
        meter = self.meter
        if meter is not None:
            meter.start("train")
        t0 = time.perf_counter()
        for i in range(0, n, spec.batch):
            if meter is not None and i and (i // spec.batch) % METER_EVERY == 0:
                meter.sample()            # (32-bit counters: read often enough not to lose a wrap)
            if fused is not None:
                idx = order_np[i: i + spec.batch]
                xb, yb = x_np[idx], y_np[idx]
                if fused.ready(xb):
                    step_loss, step_correct, r = fused.step(xb, yb)
                    pulses += r
                    tot_loss += step_loss * len(idx)
                    correct += step_correct
                    if bar is not None:
                        bar.update(1)
                    continue
                xb, yb = torch.from_numpy(xb), torch.from_numpy(yb)
            else:
                idx = self.order[i: i + spec.batch]
                xb, yb = self.x[idx], self.y[idx]
            self.opt.zero_grad()
            out = self.model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            r = self.opt.step()
            if isinstance(r, int):
                pulses += r
            tot_loss += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        train_s = time.perf_counter() - t0
        if meter is not None:
            meter.start("inference")
        test_acc = accuracy(self.model, self.data.x_test, self.data.y_test)
        if meter is not None:
            meter.stop()
            self.energy_samples["train"] += n
            self.energy_samples["inference"] += len(self.data.y_test)
        self.epoch += 1
        rec = {"epoch": self.epoch, "lr": lr, "train_loss": tot_loss / n, "train_accuracy": correct / n,
               "test_accuracy": test_acc, "pulses": pulses, "epoch_time_s": train_s}
        self.history.append(rec)
        return rec

    def fit(self) -> dict:
        t0 = time.perf_counter()
        while self.epoch < self.spec.epochs:
            rec = self.train_epoch()
            self.log(f"[{self.spec.device}] epoch {rec['epoch']}/{self.spec.epochs}: "
                     f"loss {rec['train_loss']:.4f}  train {rec['train_accuracy']:.4f}  "
                     f"test {rec['test_accuracy']:.4f}  ({rec['epoch_time_s']:.1f} s)")
            self.save()
            if self.stop_after is not None and self.epoch >= self.stop_after:
                break
        return self.result(time.perf_counter() - t0)

    def result(self, elapsed: float | None = None) -> dict:
        last = self.history[-1] if self.history else {}
        return {"test_accuracy": last.get("test_accuracy"), "epochs_done": self.epoch,
                "spec": self.spec.to_dict(), "data": self.data.describe(),
                "history": copy.deepcopy(self.history), "elapsed_s": elapsed}


def final_state_equal(a: dict, b: dict) -> bool:
    """True when two network states (``network_state``) are identical, bit for bit."""
    def eq(x, y):
        if isinstance(x, torch.Tensor):
            return isinstance(y, torch.Tensor) and x.dtype == y.dtype and x.shape == y.shape \
                and bool(torch.equal(x, y))
        if isinstance(x, dict):
            return isinstance(y, dict) and x.keys() == y.keys() and all(eq(x[k], y[k]) for k in x)
        if isinstance(x, (list, tuple)):
            return isinstance(y, (list, tuple)) and len(x) == len(y) and \
                all(eq(p, q) for p, q in zip(x, y))
        return x == y
    return eq(a, b)
