"""memhil paper: the experiments of Babu & Rajendran 2017 (tables and figures of docs/results.md)."""
from __future__ import annotations

from pathlib import Path

HELP = "run the paper's experiments (headline, device sweeps, noisy inference) into --out"

EXAMPLES = """
  memhil paper --quick --out runs/paper          # digits, 3 seeds: tables and figures
  memhil paper --quick --headline-only --seeds 1 --out runs/p1
  memhil paper --full --jobs 2 --out runs/paper-full   # Fashion-MNIST, about an hour
  memhil paper --full --headline-only --no-c2c-runs --seeds 10 --out runs/paper-full-10
"""


def add_arguments(p) -> None:
    from memhil.commands.common import positive_float, positive_int
    p.add_argument("--out", default="runs/paper", help="output folder")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="scale", action="store_const", const="quick",
                   help="digits, 64-32-10")
    g.add_argument("--full", dest="scale", action="store_const", const="full",
                   help="Fashion-MNIST, 784-256-128-10 (about an hour on 2 CPU cores)")
    p.set_defaults(scale="quick")
    p.add_argument("--seeds", type=positive_int, default=None,
                   help="number of seeds N: seeds 0 .. N-1 (default: 3)")
    p.add_argument("--epochs", type=positive_int, default=None, help="override the scale's epochs")
    p.add_argument("--batch", type=positive_int, default=None, help="override the minibatch size")
    p.add_argument("--lr", type=positive_float, default=None, help="override the learning rate")
    p.add_argument("--train-subset", type=positive_int, default=None,
                   help="first N training samples only")
    p.add_argument("--test-subset", type=positive_int, default=None,
                   help="first N test samples only")
    p.add_argument("--headline-only", action="store_true",
                   help="only (a) and (c): no sweeps")
    p.add_argument("--no-c2c-runs", action="store_true",
                   help="with --headline-only: not (c)'s memristive runs at c2c 0.25 and 2 "
                        "either, only the float and headline runs (a)")
    p.add_argument("--jobs", type=positive_int, default=2, help="worker processes")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def scale_from_args(args):
    """The :class:`memhil.experiments.paper.Scale` (the grid of runs) that these arguments
    select: the scale's defaults with the overrides given."""
    from dataclasses import replace

    from memhil.experiments.paper import SCALES
    ch = {}
    if args.seeds:
        ch["seeds"] = list(range(args.seeds))
    if args.epochs:
        ch["epochs"] = args.epochs
    if args.batch:
        ch["batch"] = args.batch
    if args.lr is not None:
        ch["lr"] = args.lr
    if args.train_subset:
        ch["train_subset"] = args.train_subset
    if args.test_subset:
        ch["test_subset"] = args.test_subset
    if args.headline_only:
        ch["sweeps"] = False
    if getattr(args, "no_c2c_runs", False):
        if not args.headline_only:
            from memhil.commands.common import UsageError
            raise UsageError("--no-c2c-runs", "only with --headline-only (the sweeps include "
                                              "the c2c runs)")
        ch["noisy_c2c"] = False
    return replace(SCALES[args.scale], **ch)


def commands_text(scale, out: Path | str | None = None) -> str:
    """``commands.txt``: for every run of ``plan(scale)`` the ``memhil train`` command line
    that reproduces its training (:func:`memhil.commands.common.command_line`; with ``--out
    OUT/train/<key>`` when ``out`` is given), its tags as a trailing comment."""
    from memhil.commands.common import command_line
    from memhil.experiments.paper import plan, spec_key
    runs = plan(scale)
    lines = [f"# {len(runs)} runs of `memhil paper` ({scale.name}: {scale.dataset}); one "
             f"`memhil train` command per run reproduces its training (same RunSpec, same "
             f"numbers).",
             "# Runs marked `noisy` were also evaluated on corrupted test data (table (c)); "
             "`memhil noisy-eval --model DIR` does that for a trained --out."]
    for r in runs:
        key = spec_key(r["spec"])
        o = None if out is None else Path(out) / "train" / key
        lines.append(f"{command_line(r['spec'], o)}  # {', '.join(r['tags'])}"
                     + ("; noisy" if r["noisy"] else ""))
    return "\n".join(lines) + "\n"


def run(args) -> int:
    import sys

    from memhil.data import DataError, load_dataset
    from memhil.commands.common import UsageError, check_out_dir, progress_enabled, set_threads
    from memhil.experiments.paper import run_paper, tables_markdown

    set_threads()
    sc = scale_from_args(args)
    try:
        load_dataset(sc.dataset)
    except DataError as e:
        raise UsageError(f"--{sc.name}", str(e)) from None
    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    out = check_out_dir(args.out)
    doc = run_paper(sc, out, args.jobs, log, progress_enabled(args))
    (out / "commands.txt").write_text(commands_text(sc, out))
    print(tables_markdown(doc["summary"], sc))
    print(f"-> {out}/results.json, tables.md, commands.txt, runs.csv, "
          f"{', '.join(doc['figures'])} "
          f"({doc['elapsed_s']:.0f} s)")
    return 0
