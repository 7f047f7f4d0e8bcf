"""memhil demo: float vs memristive (dynamic range 15, 32 levels) on digits with the twin, a
short lockstep stretch on the simulated device when it is available, a table and a plot."""
from __future__ import annotations

HELP = "train float vs memristive (DR 15, 32 levels) on digits, lockstep check, table and plot"

EXAMPLES = """
  memhil demo                                    # about a minute on 2 CPU cores
  memhil demo --epochs 5 --c2c-sigma 0 --out runs/demo0
  memhil demo --no-lockstep --quiet              # skip the simulated RTL stretch
"""


def add_arguments(p) -> None:
    from memhil.commands.common import nonneg_int, positive_float, positive_int
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--epochs", type=positive_int, default=15, help="epochs")
    p.add_argument("--batch", type=positive_int, default=8, help="minibatch size")
    p.add_argument("--lr", type=positive_float, default=0.1, help="learning rate")
    p.add_argument("--hidden", type=positive_int, default=32, help="hidden units")
    p.add_argument("--c2c-sigma", type=float, default=0.1,
                   help="cycle-to-cycle variability of the memristive devices")
    p.add_argument("--update-mode", choices=("coincidence", "rounding"), default="coincidence",
                   help="how an update becomes pulses: stochastic coincidence of pulse streams "
                        "or deterministic rounding")
    p.add_argument("--seed", type=nonneg_int, default=0, help="seed")
    p.add_argument("--lockstep-steps", type=positive_int, default=4,
                   help="training steps run on the simulated RTL in lockstep with the twin")
    p.add_argument("--no-lockstep", action="store_true", help="skip the simulator stretch")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def lockstep_verdict(trainer, args, out) -> tuple[str, dict]:
    """A short lockstep stretch (sim vs twin, memhil.experiments.lockstep); never raises."""
    if args.no_lockstep:
        return "skipped: --no-lockstep", {}
    try:
        from memhil.experiments.lockstep import lockstep_demo as fn
    except ImportError as e:
        return f"skipped: simulator not available ({e})", {}
    try:
        import numpy as np
        d = trainer.data
        n = args.lockstep_steps * args.batch
        res = fn(model=trainer.model, x=np.asarray(d.x_train[:n]), y=np.asarray(d.y_train[:n]),
                 steps=args.lockstep_steps, batch=args.batch, lr=args.lr,
                 config=trainer.spec.device_config(), out_dir=out)
    except Exception as e:  # the runtime's own failure, reported not raised
        return f"error: {type(e).__name__}: {e}", {}
    if isinstance(res, dict):
        return str(res.get("verdict", res)), res
    return str(res), {}


def run(args) -> int:
    import sys
    import time

    from memhil.config import ConfigError, DeviceConfig
    from memhil.data import load_digits
    from memhil.commands.common import UsageError, check_out_dir, progress_enabled, set_threads
    from memhil.experiments.report import plot_histories, write_csv, write_json
    from memhil.nn.trainer import RunSpec, Trainer

    set_threads()
    t_start = time.perf_counter()
    out = check_out_dir(args.out)
    try:
        cfg = DeviceConfig(levels=32, dynamic_range=15.0, c2c_sigma=args.c2c_sigma,
                           update_mode=args.update_mode, seed=args.seed, d2d_seed=args.seed + 1)
    except ConfigError as e:
        flag = {"c2c_sigma": "--c2c-sigma"}.get(e.field, "--" + e.field.replace("_", "-"))
        raise UsageError(flag, str(e)) from None
    data = load_digits()
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    prog = progress_enabled(args)
    runs = {}
    for dev in ("float", "memristive"):
        spec = RunSpec(dataset="digits", hidden=[args.hidden], device=dev, epochs=args.epochs,
                       batch=args.batch, lr=args.lr, seed=args.seed, config=cfg.to_dict())
        tr = Trainer(spec, data, out_dir=out / dev, progress=prog, log=log)
        t0 = time.perf_counter()
        tr.fit()
        runs[dev] = (tr, time.perf_counter() - t0)
    verdict, lock = lockstep_verdict(runs["memristive"][0], args, out)
    fa = runs["float"][0].history[-1]["test_accuracy"]
    ma = runs["memristive"][0].history[-1]["test_accuracy"]
    out.mkdir(parents=True, exist_ok=True)
    plot_histories(out / "demo.png",
                   {"float baseline": runs["float"][0].history,
                    f"memristive (DR 15, 32 levels, {args.update_mode}, c2c {args.c2c_sigma:g})":
                        runs["memristive"][0].history},
                   f"digits 64-{args.hidden}-10, {args.epochs} epochs, twin backend")
    rows = [{"network": "float baseline", "test_accuracy": fa, "train_s": runs["float"][1]},
            {"network": "memristive (twin)", "test_accuracy": ma, "train_s": runs["memristive"][1]}]
    write_csv(out / "demo.csv", rows)
    doc = {"test_accuracy": ma, "float_accuracy": fa, "memristive_accuracy": ma,
           "gap_points": 100 * (fa - ma), "lockstep": verdict, "lockstep_detail": lock,
           "config": {"device": cfg.to_dict(), "hidden": [args.hidden], "epochs": args.epochs,
                      "batch": args.batch, "lr": args.lr, "seed": args.seed, "backend": "twin"},
           "history": {"float": runs["float"][0].history,
                       "memristive": runs["memristive"][0].history},
           "elapsed_s": time.perf_counter() - t_start, "command": sys.argv}
    write_json(out / "results.json", doc)
    w = 34
    print(f"{'':<{w}} {'test accuracy':>14}")
    print(f"{'float baseline':<{w}} {100 * fa:>13.2f}%")
    print(f"{'memristive (DR 15, 32 levels)':<{w}} {100 * ma:>13.2f}%")
    gap = 100 * (fa - ma)
    lead = "float ahead" if gap > 0 else "memristive ahead" if gap < 0 else "tie"
    print(f"{'difference (' + lead + ')':<{w}} {abs(gap):>12.2f} pt")
    print(f"{'lockstep (sim vs twin)':<{w}} {verdict}")
    print(f"plot: {out / 'demo.png'}   results: {out / 'results.json'}   "
          f"({time.perf_counter() - t_start:.0f} s)")
    return 0
