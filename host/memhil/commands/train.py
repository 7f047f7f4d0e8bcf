"""memhil train: train the float baseline or the memristive network; checkpoints and --resume."""
from __future__ import annotations

HELP = "train a network on a crossbar backend (or the float baseline); writes results into --out"


def add_arguments(p) -> None:
    from memhil.experiments.cli_common import add_model_arguments
    add_model_arguments(p)
    p.add_argument("--out", default="runs/train", help="output folder (runs/train)")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="continue the run whose checkpoint is in DIR (other settings come from it)")
    p.add_argument("--force", action="store_true",
                   help="start afresh even if --out already holds a run")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")


def run(args) -> int:
    import sys
    import time
    from pathlib import Path

    from memhil.data import DataError
    from memhil.experiments.cli_common import (UsageError, load_data, progress_enabled,
                                               set_threads, spec_from_args, usage_exit)
    from memhil.experiments.runs import write_run_outputs
    from memhil.nn.backend import BackendUnavailable
    from memhil.nn.checkpoint import CheckpointError
    from memhil.nn.trainer import Trainer

    set_threads()
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    prog = progress_enabled(args)
    try:
        if args.resume:
            out = Path(args.resume)
            tr = Trainer.from_checkpoint(out, load_data, progress=prog, log=log)
            log(f"resuming {out} after epoch {tr.epoch}/{tr.spec.epochs}")
        else:
            spec = spec_from_args(args)
            out = Path(args.out)
            if (out / "checkpoint.pt").exists() and not args.force:
                raise UsageError("--out", f"{out} already holds a run (checkpoint.pt); continue "
                                 f"it with --resume {out}, or pass --force or another --out")
            data = load_data(spec)
            tr = Trainer(spec, data, out_dir=out, progress=prog, log=log)
    except UsageError as e:
        return usage_exit("train", e)
    except DataError as e:
        return usage_exit("train", f"argument --dataset: {e}")
    except BackendUnavailable as e:
        return usage_exit("train", f"argument --backend: {e}")
    except CheckpointError as e:
        return usage_exit("train", f"argument --resume: {e}", 1)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    tr.fit()
    doc = write_run_outputs(out, tr, time.perf_counter() - t0)
    print(f"{tr.spec.device} on {doc['dataset']['name']}: test accuracy "
          f"{100 * doc['test_accuracy']:.2f} % after {doc['epochs_done']} epochs -> {out}/results.json")
    return 0
