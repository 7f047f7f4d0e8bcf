"""Arguments shared by ``memhil train``, ``noisy-eval``, ``demo`` and ``paper``, and their
checking (every bad value: a message naming the argument, exit status 2)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from memhil.config import STEP_MODELS, UPDATE_MODES, ConfigError, DeviceConfig

# DeviceConfig field -> command-line flag
FIELD_FLAGS = {
    "levels": "--levels", "dynamic_range": "--dynamic-range", "c2c_sigma": "--c2c-sigma",
    "d2d_sigma": "--d2d-sigma", "read_noise_sigma": "--read-noise-sigma",
    "update_mode": "--update-mode", "bl": "--bl", "sub_bits": "--sub-bits",
    "asymmetry": "--asymmetry", "step_model": "--step-model", "dac_bits": "--dac-bits",
    "adc_bits": "--adc-bits", "seed": "--seed", "d2d_seed": "--seed",
}
DEFAULT_HIDDEN = {"digits": [32], "fashion-mnist": [256, 128], "mnist": [256, 128]}
DEFAULT_EPOCHS = {"digits": 15, "fashion-mnist": 5, "mnist": 5}


class UsageError(Exception):
    """A bad command-line value: ``flag`` and why."""

    def __init__(self, flag: str, message: str):
        self.flag = flag
        super().__init__(f"argument {flag}: {message}")


def usage_exit(prog: str, err: Exception, code: int = 2) -> int:
    print(f"memhil {prog}: error: {err}", file=sys.stderr)
    return code


def _int_at_least(lo: int, what: str):
    """An argparse type: an integer >= ``lo``; the message says ``what`` is required."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid integer: {s!r}")
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be {what}, got {v}")
        return v
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_nonneg_int = _int_at_least(0, ">= 0")


def _positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {s!r}")
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {s}")
    return v


def _hidden(s: str) -> list[int]:
    parts = [p for p in s.replace("x", ",").replace("-", ",").split(",") if p.strip()]
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated layer sizes like 256,128, "
                                         f"got {s!r}")
    if not vals or any(v < 1 or v > 4096 for v in vals):
        raise argparse.ArgumentTypeError(f"layer sizes must be in [1, 4096], got {s!r}")
    return vals


positive_int = _positive_int
positive_float = _positive_float


def add_model_arguments(p: argparse.ArgumentParser, *, device_default="memristive") -> None:
    """The network, device and training arguments of ``memhil train``."""
    g = p.add_argument_group("data and network")
    g.add_argument("--dataset", default="digits",
                   help="digits (built in, default) | fashion-mnist | mnist | PATH to a folder of IDX files")
    g.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden layer sizes, e.g. 256,128 (default: 32 on digits, 256,128 otherwise)")
    g.add_argument("--train-subset", type=_positive_int, default=None,
                   help="use only the first N training samples")
    g.add_argument("--test-subset", type=_positive_int, default=None,
                   help="use only the first N test samples")
    g = p.add_argument_group("device")
    g.add_argument("--device", choices=("memristive", "float"), default=device_default,
                   help="memristive crossbar or the float baseline (torch.nn.Linear)")
    g.add_argument("--backend", choices=("twin", "sim", "board"), default="twin",
                   help="crossbar backend: twin (software), sim (Verilator RTL), board (PYNQ)")
    g.add_argument("--levels", type=int, default=32, help="conductance levels per device (32)")
    g.add_argument("--dynamic-range", type=float, default=15.0, help="Gmax/Gmin (15)")
    g.add_argument("--c2c-sigma", type=float, default=0.0,
                   help="cycle-to-cycle variability of one pulse, relative (0)")
    g.add_argument("--d2d-sigma", type=float, default=0.0,
                   help="device-to-device spread of the step size, relative (0)")
    g.add_argument("--read-noise-sigma", type=float, default=0.0, help="read noise (0)")
    g.add_argument("--update-mode", choices=UPDATE_MODES, default="coincidence",
                   help="stochastic pulse scheme (coincidence)")
    g.add_argument("--bl", type=int, default=31, help="stream length in coincidence mode (31)")
    g.add_argument("--asymmetry", type=float, default=0.0, help="up/down step asymmetry (0)")
    g.add_argument("--step-model", choices=STEP_MODELS[:2], default="linear",
                   help="device response (linear)")
    g.add_argument("--sub-bits", type=int, default=3, help="sub-level bits of the codes (3)")
    g.add_argument("--dac-bits", type=int, default=8, help="input DAC resolution (8)")
    g.add_argument("--adc-bits", type=int, default=12, help="output ADC resolution (12)")
    g.add_argument("--w-range", type=_positive_float, default=4.0,
                   help="weight range of a layer over its init bound 1/sqrt(fan_in) (4)")
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=None,
                   help="epochs (default: 15 on digits, 5 otherwise)")
    g.add_argument("--batch", type=_positive_int, default=8, help="minibatch size (8)")
    g.add_argument("--lr", type=_positive_float, default=0.1, help="learning rate (0.1)")
    g.add_argument("--lr-schedule", choices=("linear", "constant"), default="linear",
                   help="linear decay to 0.1*lr over the run (default) or constant")
    g.add_argument("--seed", type=_nonneg_int, default=0, help="seed of everything (0)")


def device_config_from_args(args) -> DeviceConfig:
    try:
        return DeviceConfig(
            levels=args.levels, dynamic_range=args.dynamic_range, sub_bits=args.sub_bits,
            step_model=args.step_model, asymmetry=args.asymmetry, c2c_sigma=args.c2c_sigma,
            d2d_sigma=args.d2d_sigma, read_noise_sigma=args.read_noise_sigma,
            dac_bits=args.dac_bits, adc_bits=args.adc_bits, update_mode=args.update_mode,
            bl=args.bl, seed=args.seed, d2d_seed=args.seed + 1)
    except ConfigError as e:
        raise UsageError(FIELD_FLAGS.get(e.field, "--" + e.field.replace("_", "-")), str(e)) from e


def dataset_key(name: str) -> str:
    k = str(name).lower()
    return "fashion-mnist" if k in ("fashion_mnist", "fashionmnist", "fmnist") else k


def spec_from_args(args):
    """A :class:`memhil.nn.RunSpec` from parsed arguments (raises :class:`UsageError`)."""
    from memhil.nn.trainer import RunSpec
    cfg = device_config_from_args(args)
    key = dataset_key(args.dataset)
    hidden = args.hidden if args.hidden is not None else DEFAULT_HIDDEN.get(key, [256, 128])
    epochs = args.epochs if args.epochs is not None else DEFAULT_EPOCHS.get(key, 5)
    ds = key if key in DEFAULT_HIDDEN else str(Path(args.dataset).resolve())
    return RunSpec(dataset=ds, hidden=list(hidden), device=args.device, backend=args.backend,
                   epochs=epochs, batch=args.batch, lr=args.lr, seed=args.seed,
                   w_range=args.w_range, lr_schedule=args.lr_schedule,
                   train_subset=args.train_subset, test_subset=args.test_subset,
                   config=cfg.to_dict())


_DATA_CACHE: dict = {}


def load_data(spec):
    """The data set of ``spec`` (subsets applied). Raises memhil.data.DataError."""
    from memhil.data import load_dataset
    key = spec.dataset
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()
        _DATA_CACHE[key] = load_dataset(key)
    d = _DATA_CACHE[key]
    if spec.train_subset or spec.test_subset:
        d = d.subset(spec.train_subset, spec.test_subset)
    return d


def progress_enabled(args) -> bool:
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def set_threads(n: int | None = None) -> None:
    """Torch CPU threads: ``$MEMHIL_THREADS``, else ``n``, else 1. The crossbar layers' matrices
    are small; on a shared 2-core machine one thread is much faster than two that spin."""
    import os

    import torch
    n = int(os.environ.get("MEMHIL_THREADS", n or 1))
    torch.set_num_threads(max(1, min(n, os.cpu_count() or 1)))
