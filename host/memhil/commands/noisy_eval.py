"""memhil noisy-eval: accuracy on noise-corrupted test data, memristive network beside the
float baseline (a saved model, or a fresh training), on any backend."""
from __future__ import annotations

HELP = "evaluate a saved or freshly trained network on noise-corrupted test data vs the float baseline"


def add_arguments(p) -> None:
    from memhil.experiments.cli_common import add_model_arguments
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
    g.add_argument("--noise-seed", type=int, default=0, help="seed of the corruption (0)")
    p.add_argument("--out", default="runs/noisy-eval", help="output folder (runs/noisy-eval)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")


def _train_or_load(folder, spec, out, args, log, prog):
    from memhil.experiments.cli_common import load_data
    from memhil.nn.trainer import Trainer
    if folder is not None:
        tr = Trainer.from_checkpoint(folder, load_data, progress=prog, log=log)
        if tr.epoch < tr.spec.epochs:
            log(f"note: {folder} stopped after epoch {tr.epoch}/{tr.spec.epochs}; "
                f"evaluating it as it is (finish it with memhil train --resume {folder})")
        return tr
    tr = Trainer(spec, load_data(spec), out_dir=out, progress=prog, log=log)
    tr.fit()
    return tr


def run(args) -> int:
    import sys
    import time
    from dataclasses import replace
    from pathlib import Path

    from memhil.data import NOISE_KINDS, DataError
    from memhil.experiments.cli_common import (UsageError, load_data, progress_enabled,
                                               set_threads, spec_from_args, usage_exit)
    from memhil.experiments.noisy import (noisy_accuracy, parse_levels, retarget,
                                          write_noisy_outputs)
    from memhil.experiments.report import plot_histories, write_json
    from memhil.nn.backend import BackendUnavailable
    from memhil.nn.checkpoint import CheckpointError
    from memhil.nn.trainer import build_model, is_crossbar

    set_threads()
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    prog = progress_enabled(args)
    out = Path(args.out)
    t0 = time.perf_counter()
    try:
        kinds = [k.strip() for k in args.noise.split(",") if k.strip()]
        bad = [k for k in kinds if k not in NOISE_KINDS]
        if bad or not kinds:
            raise UsageError("--noise", f"{','.join(bad) or 'nothing'} is not allowed: "
                                        f"comma-separated kinds from {NOISE_KINDS}")
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
        spec = spec_from_args(args)
        main = _train_or_load(args.model, spec, out / "model", args, log, prog)
        mspec = main.spec
        models = {}
        histories = {}
        if is_crossbar(main.model):
            net = main.model
            if args.model is not None and args.backend != mspec.backend:
                log(f"moving the trained conductances from {mspec.backend} to {args.backend}")
                net = retarget(net, lambda: build_model(replace(mspec, backend=args.backend),
                                                        main.data.features, main.data.classes))
            models[f"memristive ({args.backend if args.model else mspec.backend})"] = net
            histories["memristive"] = main.history
            fspec = replace(mspec, device="float")
            base = _train_or_load(args.baseline, fspec, out / "float", args, log, prog)
            models["float"] = base.model
            histories["float"] = base.history
        else:
            models["float"] = main.model
            histories["float"] = main.history
        data = load_data(mspec)
    except UsageError as e:
        return usage_exit("noisy-eval", e)
    except DataError as e:
        return usage_exit("noisy-eval", f"argument --dataset: {e}")
    except BackendUnavailable as e:
        return usage_exit("noisy-eval", f"argument --backend: {e}")
    except CheckpointError as e:
        return usage_exit("noisy-eval", f"argument --model/--baseline: {e}", 1)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, net in models.items():
        log(f"evaluating {name} on {', '.join(kinds)} noise")
        results[name] = noisy_accuracy(net, data.x_test, data.y_test, kinds, levels, args.noise_seed)
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
    return 0
