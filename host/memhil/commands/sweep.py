"""memhil sweep: ``memhil train`` over a grid of device and training parameters and seeds, on
a local process pool or a Ray cluster; resumable; a CSV and plots of the results."""
from __future__ import annotations

HELP = ("train over a grid of device/training parameters and seeds (local processes or a Ray "
        "cluster); resumable; CSV and plots in --out")

EXAMPLES = """
  memhil sweep --epochs 1 --levels 8,32 --update-mode rounding,coincidence --seeds 0,1,2 --out runs/s1
  memhil sweep --grid grid.toml --jobs 2 --out runs/s2      # axes from a TOML file
  memhil sweep --grid grid.toml --ray local --jobs 4 --out runs/s3   # a local Ray instance
  memhil sweep --grid grid.toml --ray head-node:6379 --out runs/s4   # a Ray cluster
  memhil sweep --hidden 16 --hidden 64,32 --out runs/s5     # two networks (repeat --hidden)
  memhil sweep --report runs/s1                             # CSV and plots of a finished sweep

Every axis takes the name and the values of a `memhil train` flag; comma-separated values
form an axis (--hidden: repeat the flag or separate networks with ';'). Unswept flags keep
train's defaults. Each run is one record OUT/runs/<key>.json, written as it finishes; the
same command again runs only the points that are missing or failed. See docs/sweeps.md.
"""


def add_arguments(p) -> None:
    from memhil.commands.common import positive_int
    from memhil.commands.sweep_grid import axis_actions
    g = p.add_argument_group("axes (the flags of `memhil train`; V,V,... is an axis)")
    for a in axis_actions():
        flag = a.option_strings[0]
        h = (a.help or "").split(" (default")[0]
        if a.dest == "hidden":
            h = "networks, e.g. 32 or 64,32; repeat the flag (or separate with ';') for an axis"
        elif a.choices:
            h += f": {'|'.join(map(str, a.choices))}"
        g.add_argument(flag, dest=a.dest, action="append", default=None, metavar="V[,V...]",
                       help=h)
    g.add_argument("--seeds", default=None, metavar="S[,S...]",
                   help="seeds of every point (default: 0)")
    g.add_argument("--grid", metavar="FILE", default=None,
                   help="a TOML file of axes (name = [values], the names of train's flags and "
                        "seeds); flags given on the command line replace its axes")
    g = p.add_argument_group("running")
    g.add_argument("--out", default="runs/sweep",
                   help="output folder: runs/<key>.json per run, sweep.csv, plots")
    g.add_argument("--jobs", type=positive_int, default=1,
                   help="worker processes (with --ray local: the CPUs of the Ray instance)")
    g.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run each point as a Ray task: HOST:PORT of a cluster's head, 'auto' "
                        "(the cluster this machine belongs to) or 'local' (start one here)")
    g.add_argument("--dry-run", action="store_true",
                   help="list the points (and which are done) without running them")
    g.add_argument("--report", metavar="DIR", default=None,
                   help="only write DIR/sweep.csv and the plots from DIR/runs (no grid flags)")
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-run lines")


def _axes_from_args(args) -> tuple[dict, list[str]]:
    from memhil.commands.sweep_grid import axis_flags, grid_from_toml, split_values
    axes = grid_from_toml(args.grid) if args.grid else {}
    seeds = axes.pop("seeds", None)
    for dest in axis_flags():
        given = getattr(args, dest, None)
        if given:
            axes[dest] = [v for text in given for v in split_values(dest, text)]
    if args.seeds is not None:
        seeds = [s.strip() for s in args.seeds.split(",")]
    return axes, seeds or ["0"]


def run(args) -> int:
    import sys
    from pathlib import Path

    from memhil.commands.common import (RunFailure, UsageError, check_out_dir,
                                        progress_enabled, set_threads)
    from memhil.commands import sweep_grid as sg
    from memhil.experiments import sweep as sw

    log = (lambda *a: None) if args.quiet else (lambda m: print(m, file=sys.stderr))
    if args.report is not None:
        given = sorted(d for d in getattr(args, "_explicit", set())
                       if d not in ("report", "quiet"))
        if given:
            raise UsageError("--report", f"{', '.join('--' + d.replace('_', '-') for d in given)}"
                                         f" cannot be given with --report (it only reports the "
                                         f"runs in DIR/runs; a sweep writes its report itself)")
        out = Path(args.report)
        if not (out / "runs").is_dir():
            raise UsageError("--report", f"{out} holds no runs/ folder (pass the --out folder "
                                         f"of an earlier `memhil sweep`)")
        rep = sw.write_report(out)
        print(f"sweep report: {rep['rows']} runs -> {rep['csv']}"
              + (f" and {len(rep['plots'])} plot{'s' if len(rep['plots']) != 1 else ''}"
                 if rep["plots"] else ""))
        return 0
    if args.ray is not None and not args.ray.strip():
        raise UsageError("--ray", "an empty address (give HOST:PORT, auto or local)")
    axes, seeds = _axes_from_args(args)
    points = sg.plan(axes, seeds)
    out = check_out_dir(args.out)
    sg.check_datasets(points)
    if args.ray is not None and not args.dry_run:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--ray", "Ray is not installed: pip install 'memhil[scale]' (or "
                                      "'ray>=2.9')") from None
    # the swept parameters: the axes with more than one value (the others are the fixed settings)
    axis_names = [d for d, v in axes.items() if len(set(v)) > 1]
    if args.dry_run:
        n_done = 0
        for p in points:
            done = sw.is_done(sw.read_record(sw.record_path(out, p.key)), p.spec.to_dict())
            n_done += done
            print(f"{p.key}  {'done' if done else 'todo'}  memhil train {' '.join(p.argv)}")
        print(f"sweep: {len(points)} runs, {n_done} done, {len(points) - n_done} to run")
        return 0
    set_threads()
    res = sw.execute(points, out, jobs=args.jobs, ray=args.ray, axes=axis_names,
                     progress=progress_enabled(args), log=log)
    rep = sw.write_report(out)
    print(f"sweep: {res.total} runs: {res.ok} ok ({res.cached} done before, "
          f"{res.ran - len(res.failed)} now), {len(res.failed)} failed; "
          + (f"ran {res.ran} in {res.seconds:.1f} s on {res.where}" if res.ran else
             "nothing to run") + f" -> {rep['csv']}"
          + (f" and {len(rep['plots'])} plot{'s' if len(rep['plots']) != 1 else ''}"
             if rep["plots"] else ""))
    if res.failed:
        first = res.failed[0]
        raise RunFailure(f"{len(res.failed)} of {res.total} runs failed (first: memhil train "
                         f"{' '.join(first['argv'])}: {first.get('error')}); their errors are in "
                         f"{out}/runs/<key>.json; run the same command again to retry them")
    return 0
