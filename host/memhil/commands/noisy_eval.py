"""memhil noisy-eval: accuracy on noise-corrupted test data, memristive network beside the
float baseline (a saved model, or a fresh training), on any backend."""
from __future__ import annotations

HELP = "evaluate a saved or freshly trained network on noise-corrupted test data vs the float baseline"

EXAMPLES = """
  memhil noisy-eval --out runs/ne                 # train memristive and float afresh, evaluate
  memhil noisy-eval --model runs/t1 --baseline runs/f1 --out runs/ne1
  memhil noisy-eval --model runs/t1 --noise gaussian --noise-levels 0,0.1,0.2 --out runs/ne2
"""

# flags that may accompany --model (the network's settings come from its checkpoint)
MODEL_FLAGS = {"model", "baseline", "noise", "noise_levels", "noise_seed", "out", "quiet",
               "backend", "bitfile", "port", "baud", "energy_model"}


def add_arguments(p) -> None:
    from memhil.commands.common import add_model_arguments
    add_model_arguments(p)
    g = p.add_argument_group("noisy evaluation")
    g.add_argument("--model", metavar="DIR", default=None,
                   help="a run folder of `memhil train` (its checkpoint.pt); default: train afresh")
    g.add_argument("--baseline", metavar="DIR", default=None,
                   help="a float run folder to compare with; default: train the float baseline "
                        "with the same settings")
    g.add_argument("--noise", default="gaussian,salt-pepper",
                   help="noise kinds, comma separated: gaussian, salt-pepper")
    g.add_argument("--noise-levels", default=None,
                   help="levels for every kind, comma separated (default: gaussian sigma "
                        "0..0.5, salt-and-pepper fraction 0..0.4)")
    g.add_argument("--noise-seed", type=int, default=0, help="seed of the corruption")
    p.add_argument("--out", default="runs/noisy-eval", help="output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--energy-model", metavar="FILE.json", default=None,
                   help="energy model parameters for energy.json (docs/energy.md)")


def _load(folder, flag, log, prog, opts=None):
    """The trainer of the run in ``folder`` (``flag``: the argument that named it)."""
    from pathlib import Path

    from memhil.commands.common import UsageError
    from memhil.data import load_data
    from memhil.nn.checkpoint import CheckpointError
    from memhil.nn.trainer import Trainer
    if not (Path(folder) / "checkpoint.pt").is_file():
        raise UsageError(flag, f"{folder} is not a run folder of `memhil train` (no "
                               f"{Path(folder) / 'checkpoint.pt'})")
    try:
        tr = Trainer.from_checkpoint(folder, load_data, progress=prog, log=log,
                                     backend_options=opts)
    except CheckpointError as e:
        e.flag = flag
        raise
    if tr.epoch < tr.spec.epochs:
        log(f"note: {folder} stopped after epoch {tr.epoch}/{tr.spec.epochs}; "
            f"evaluating it as it is (finish it with memhil train --resume {folder})")
    return tr


def _train(spec, out, log, prog, opts=None):
    from memhil.data import load_data
    from memhil.nn.trainer import Trainer
    tr = Trainer(spec, load_data(spec), out_dir=out, progress=prog, log=log,
                 backend_options=opts)
    tr.fit()
    return tr


def run(args) -> int:
    import sys
    import time
    from dataclasses import replace

    from memhil.data import NOISE_KINDS
    from memhil.data import load_data
    from memhil.commands.common import (UsageError, backend_options_from_args, check_out_dir,
                                        refuse_conflicts, progress_enabled, set_threads,
                                        spec_from_args)
    from memhil.experiments.noisy import (noisy_accuracy, parse_levels, retarget,
                                          write_noisy_outputs)
    from memhil.experiments.report import plot_histories, write_json
    from memhil.energy import (CounterMeter, EnergyModel, array_facts, report, summary_line,
                               write_energy)
    from memhil.nn.models import backends_of
    from memhil.nn.trainer import build_model, is_crossbar

    set_threads()
    try:
        emodel = EnergyModel.from_file(args.energy_model) if args.energy_model else None
    except ValueError as e:
        raise UsageError("--energy-model", str(e))
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    prog = progress_enabled(args)
    t0 = time.perf_counter()
    kinds = [k.strip() for k in args.noise.split(",") if k.strip()]
    bad = [k for k in kinds if k not in NOISE_KINDS]
    if bad or not kinds:
        raise UsageError("--noise", f"{','.join(bad) or 'nothing'} is not allowed: "
                                    f"comma-separated kinds from {', '.join(NOISE_KINDS)}")
    try:
        levels = parse_levels(args.noise_levels, kinds)
    except ValueError:
        raise UsageError("--noise-levels", f"expected comma-separated numbers, got "
                                           f"{args.noise_levels!r}")
    for k in kinds:
        for v in levels[k]:
            if not (v >= 0) or (k == "salt-pepper" and v > 1):
                raise UsageError("--noise-levels", f"{v} is not allowed for {k}: "
                                 + ("must be in [0, 1]" if k == "salt-pepper" else ">= 0"))
    if args.model is not None:
        refuse_conflicts(args, MODEL_FLAGS, "--model", "the saved network's data set and "
                         "settings come from its checkpoint", "leave out --model to train afresh")
        spec = None
    else:
        spec = spec_from_args(args)
    opts = backend_options_from_args(args)
    out = check_out_dir(args.out)
    base = None
    if args.baseline is not None:
        base = _load(args.baseline, "--baseline", log, prog)
        if base.spec.device != "float":
            raise UsageError("--baseline", f"{args.baseline} holds a {base.spec.device} run, not "
                                           f"the float baseline (train one with `memhil train "
                                           f"--device float`)")
    if args.model is not None:
        main = _load(args.model, "--model", log, prog,
                     opts if args.backend == "board" else None)
    else:
        main = _train(spec, out / "model", log, prog, opts)
    mspec = main.spec
    if base is not None and (base.data.describe() != main.data.describe()):
        raise UsageError("--baseline", f"{args.baseline} was trained on "
                                       f"{base.data.describe().get('name')}, the model on "
                                       f"{main.data.describe().get('name')}")
    models = {}
    histories = {}
    if is_crossbar(main.model):
        net = main.model
        if args.model is not None and args.backend != mspec.backend:
            log(f"moving the trained conductances from {mspec.backend} to {args.backend}")
            net = retarget(net, lambda: build_model(replace(mspec, backend=args.backend),
                                                    main.data.features, main.data.classes,
                                                    opts))
        models[f"memristive ({args.backend if args.model else mspec.backend})"] = net
        histories["memristive"] = main.history
        if base is None:
            base = _train(replace(mspec, device="float"), out / "float", log, prog)
        models["float"] = base.model
        histories["float"] = base.history
    else:
        if base is not None:
            raise UsageError("--model", f"{args.model} holds a float run: pass a memristive "
                                        f"run to compare with --baseline")
        models["float"] = main.model
        histories["float"] = main.history
    data = load_data(mspec)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    energy_line = None
    for name, net in models.items():
        log(f"evaluating {name} on {', '.join(kinds)} noise")
        meter = CounterMeter(backends_of(net)) if is_crossbar(net) else None
        if meter is not None:
            meter.start("inference")
        results[name] = noisy_accuracy(net, data.x_test, data.y_test, kinds, levels, args.noise_seed)
        if meter is not None:     # the crossbar's events of every evaluation: energy.json
            meter.stop()
            n_inf = len(data.y_test) * (1 + sum(1 for k in kinds for lv in levels[k] if lv > 0))
            edoc = report(emodel or EnergyModel(),
                          array_facts(meter.backends, mspec.device_config()), meter,
                          {"inference": n_inf})
            write_energy(out, edoc)
            energy_line = summary_line(edoc)
    write_noisy_outputs(out, results, kinds)
    plot_histories(out / "curves.png", histories, f"{data.name}: training")
    first = next(iter(results))
    doc = {"test_accuracy": results[first]["clean"], "model": first,
           "models": {n: {"test_accuracy": r["clean"], "noise": r["noise"]} for n, r in results.items()},
           "config": mspec.to_dict(), "noise_kinds": kinds, "noise_levels": levels,
           "noise_seed": args.noise_seed, "history": histories, "dataset": data.describe(),
           "elapsed_s": time.perf_counter() - t0, "command": sys.argv}
    write_json(out / "results.json", doc)
    print(f"{'model':<24} {'noise':<12} level:accuracy")
    for name, r in results.items():
        for k in kinds:
            nk = r["noise"][k]
            cells = "  ".join(f"{lv:g}:{100 * a:.1f}%" for lv, a in zip(nk["levels"], nk["accuracy"]))
            print(f"{name:<24} {k:<12} {cells}")
    print(f"-> {out}/results.json, noisy.csv, noisy_*.png")
    if energy_line:
        print(f"{energy_line} -> {out}/energy.json")
    return 0
