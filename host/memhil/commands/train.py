"""memhil train: train the float baseline or the memristive network; checkpoints and --resume."""
from __future__ import annotations

HELP = "train a network on a crossbar backend (or the float baseline); writes results into --out"

EXAMPLES = """
  memhil train --out runs/t1                     # memristive 64-32-10 on digits, twin backend
  memhil train --device float --out runs/f1      # the float baseline
  memhil train --dataset fashion-mnist --levels 64 --c2c-sigma 0.1 --out runs/fm
  memhil train --stuck-rate 0.05 --stuck-kind mixed --out runs/s1   # 5 % stuck devices
  memhil train --resume runs/t1                  # continue an interrupted run
  memhil train --backend board --bitfile overlay.bit --out runs/b1
"""

# flags that may accompany --resume (everything else comes from the checkpoint)
RESUME_FLAGS = {"resume", "quiet", "bitfile", "port", "baud", "energy_model"}


def add_arguments(p) -> None:
    from memhil.commands.common import add_model_arguments
    add_model_arguments(p)
    p.add_argument("--out", default="runs/train", help="output folder")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="continue the run whose checkpoint is in DIR (other settings come from it)")
    p.add_argument("--force", action="store_true",
                   help="start afresh even if --out already holds a run")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.add_argument("--energy-model", metavar="FILE.json", default=None,
                   help="energy model parameters for energy.json (docs/energy.md; default: "
                        "published figures listed there)")


def run(args) -> int:
    import sys
    import time
    from pathlib import Path

    from memhil.commands.common import (UsageError, backend_options_from_args, check_out_dir,
                                        refuse_conflicts, progress_enabled, set_threads,
                                        spec_from_args)
    from memhil.data import load_data
    from memhil.experiments.runs import write_run_outputs
    from memhil.nn.trainer import Trainer

    set_threads()
    from memhil.energy import EnergyModel
    try:
        emodel = EnergyModel.from_file(args.energy_model) if args.energy_model else None
    except ValueError as e:
        raise UsageError("--energy-model", str(e))
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    prog = progress_enabled(args)
    if args.resume:
        out = Path(args.resume)
        refuse_conflicts(args, RESUME_FLAGS, "--resume", "a run continues with the settings "
                         "in its checkpoint", "start a new run with --out")
        if out.is_file():
            raise UsageError("--resume", f"{out} is a file: pass the run directory that "
                             f"holds it ({out.parent})")
        if not out.exists():
            raise UsageError("--resume", f"{out} does not exist (pass the --out folder of an "
                                         f"earlier `memhil train`)")
        if not (out / "checkpoint.pt").exists():
            raise UsageError("--resume", f"{out} holds no checkpoint.pt (pass the --out folder "
                                         f"of an earlier `memhil train`)")
        opts = ({"bitfile": args.bitfile} if args.bitfile else
                {"port": args.port, "baudrate": args.baud} if args.port else {})
        tr = Trainer.from_checkpoint(out, load_data, progress=prog, log=log,
                                     backend_options=opts)
        log(f"resuming {out} after epoch {tr.epoch}/{tr.spec.epochs}")
    else:
        spec = spec_from_args(args)
        opts = backend_options_from_args(args)
        out = check_out_dir(args.out)
        if (out / "checkpoint.pt").exists() and not args.force:
            raise UsageError("--out", f"{out} already holds a run (checkpoint.pt); continue "
                             f"it with --resume {out}, or pass --force or another --out")
        data = load_data(spec)
        tr = Trainer(spec, data, out_dir=out, progress=prog, log=log, backend_options=opts)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    try:
        tr.fit()
    except KeyboardInterrupt:
        if tr.epoch:
            print(f"memhil train: interrupted during epoch {tr.epoch + 1}/{tr.spec.epochs}; the "
                  f"checkpoint of epoch {tr.epoch} is kept in {out / 'checkpoint.pt'}; continue "
                  f"with: memhil train --resume {out}", file=sys.stderr)
        else:
            print(f"memhil train: interrupted during epoch 1/{tr.spec.epochs}; no epoch was "
                  f"finished, so no checkpoint was written", file=sys.stderr)
        return 130
    doc = write_run_outputs(out, tr, time.perf_counter() - t0, energy_model=emodel)
    n = doc["epochs_done"]
    print(f"{tr.spec.device} on {doc['dataset']['name']}: test accuracy "
          f"{100 * doc['test_accuracy']:.2f} % after {n} epoch{'s' if n != 1 else ''} "
          f"-> {out}/results.json")
    if doc.get("energy_summary"):
        print(f"{doc['energy_summary']} -> {out}/energy.json")
    return 0
