"""docs/results.md names, for every table, a `memhil train` command that reproduces one of its
runs, and these commands build exactly the RunSpec that the experiment code (``memhil paper``,
memhil.experiments.paper.plan) trained for that table (issue 17); ``command_line(spec)`` turns
every run of the --quick and --full grids into such a command (``commands.txt``)."""
import shlex
from dataclasses import replace
from pathlib import Path

import pytest

from memhil.cli import build_parser
from memhil.commands.common import spec_from_args
from memhil.commands.paper import scale_from_args
from memhil.commands.common import command_args, command_line
from memhil.commands.paper import commands_text
from memhil.experiments.paper import SCALES, plan
from memhil.nn.trainer import RunSpec

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.md"


def parse(command: str):
    """``memhil CMD ARGS  # comment`` -> (parsed arguments, comment), with memhil's parser."""
    text, _, comment = command.partition("  #")
    argv = shlex.split(text)
    assert argv[0] == "memhil", command
    return build_parser().parse_args(argv[1:]), comment.strip()


def train_spec(command: str) -> RunSpec:
    args, _ = parse(command)
    assert args.command == "train", command
    return spec_from_args(args)


# ------------------------------------------------------------------ command_line(spec)
@pytest.mark.parametrize("scale", ["quick", "full"])
def test_command_line_builds_the_same_runspec_for_every_run_of_the_grid(scale):
    runs = plan(SCALES[scale])
    assert len(runs) == 99
    for r in runs:
        cmd = command_line(r["spec"])
        assert train_spec(cmd) == r["spec"], cmd
        args, _ = parse(command_line(r["spec"], out=f"runs/x y/{r['tags'][0]}"))
        assert args.out == f"runs/x y/{r['tags'][0]}"     # quoted for the shell


def test_command_line_names_only_flags_that_differ_from_the_defaults():
    assert command_args(RunSpec(epochs=15)) == []           # train's defaults on digits
    spec = SCALES["full"]
    cmd = command_line(plan(replace(spec, seeds=[7]))[0]["spec"])
    assert cmd == ("memhil train --dataset fashion-mnist --device float --batch 32 --lr 0.05 "
                   "--seed 7")
    neg = RunSpec(config={**RunSpec().config, "asymmetry": -0.25})
    assert "--asymmetry=-0.25" in command_line(neg)
    assert train_spec(command_line(neg)) == neg
    const = RunSpec(lr_schedule="constant", lr=0.05)
    assert command_args(const) == ["--epochs", "10", "--lr", "0.05", "--lr-schedule", "constant"]
    assert train_spec(command_line(const)) == const


@pytest.mark.parametrize("change, what", [
    ({"lr_end": 0.5}, "lr_end"),
    ({"config": {**RunSpec().config, "seed": 5}}, "seed"),
    ({"config": {**RunSpec().config, "step_model": "table", "step_table_up": [1.0] * 32,
                 "step_table_down": [1.0] * 32}}, "step"),
])
def test_command_line_refuses_specs_no_command_can_express(change, what):
    with pytest.raises(ValueError, match=what):
        command_line(replace(RunSpec(), **change))


@pytest.mark.parametrize("scale", ["quick", "full"])
def test_commands_txt_has_one_command_per_run(scale):
    sc = SCALES[scale]
    runs = plan(sc)
    lines = [ln for ln in commands_text(sc, "runs/p").splitlines() if not ln.startswith("#")]
    assert len(lines) == len(runs)
    for ln, r in zip(lines, runs):
        args, comment = parse(ln)
        assert spec_from_args(args) == r["spec"]
        assert comment.split(";")[0] == ", ".join(r["tags"])
        assert args.out.startswith("runs/p/train/")


# ------------------------------------------------------------------ docs/results.md
def _doc():
    """(tables, code lines): tables as (first line index, last line index); code lines as
    (line index, command) for the indented lines that start with ``memhil``."""
    lines = RESULTS.read_text().splitlines()
    tables, code = [], []
    i = 0
    while i < len(lines):
        if lines[i].startswith("|"):
            j = i
            while j + 1 < len(lines) and lines[j + 1].startswith("|"):
                j += 1
            tables.append((i, j))
            i = j + 1
            continue
        if lines[i].startswith("    ") and lines[i].strip().startswith("memhil "):
            code.append((i, lines[i].strip()))
        i += 1
    return lines, tables, code


def test_every_table_in_results_md_names_a_train_command():
    lines, tables, code = _doc()
    assert len(tables) >= 10
    prev_end = -1
    for start, end in tables:
        cmds = [c for i, c in code if prev_end < i < start and c.startswith("memhil train ")]
        assert cmds, (f"docs/results.md: the table at line {start + 1} ({lines[start][:60]}...) "
                      f"names no `memhil train` command (an indented line) before it")
        prev_end = end


def test_train_commands_in_results_md_build_the_experiment_runspec():
    """Each `memhil train ...  # TAG` line reproduces the run TAG (same seed) of the nearest
    `memhil paper` command above it, as memhil.experiments.paper.plan builds it."""
    _, _, code = _doc()
    paper, sweep, checked = None, None, 0
    for i, cmd in code:
        if cmd.startswith("memhil paper "):
            args, _ = parse(cmd)
            paper = (i, cmd, plan(scale_from_args(args)))
            continue
        if cmd.startswith("memhil sweep "):         # a sweep's points, as `memhil sweep` plans them
            from memhil.commands import sweep_grid
            from memhil.commands.sweep import _axes_from_args
            args, _ = parse(cmd)
            sweep = (i, cmd, [p.spec for p in sweep_grid.plan(*_axes_from_args(args))])
            continue
        if not cmd.startswith("memhil train "):
            parse(cmd)                          # every other command parses too
            continue
        spec = train_spec(cmd)
        comment = parse(cmd)[1]
        tag = comment.split()[0] if comment else ""
        assert tag, f"line {i + 1}: {cmd!r} names no run (`  # TAG`, e.g. headline/rounding)"
        if tag.startswith("coincidence/"):      # a row of the coincidence study, section (d)
            from memhil.commands.coincidence_study import STUDY, row_spec
            row = tag[len("coincidence/"):]
            assert row in STUDY, f"line {i + 1}: no row {row!r} in coincidence.STUDY"
            assert spec == row_spec(row, spec.seed), (
                f"line {i + 1}: `{cmd}` builds another RunSpec than the study's row {row}: "
                f"`memhil train {STUDY[row]} --seed {spec.seed}`")
            checked += 1
            continue
        if tag.startswith("sweep/"):            # a point of the nearest `memhil sweep` above
            assert sweep is not None, f"line {i + 1}: no `memhil sweep` command above {cmd!r}"
            assert spec in sweep[2], (f"line {i + 1}: `{cmd}` is not a point of `{sweep[1]}` "
                                      f"(line {sweep[0] + 1})")
            checked += 1
            continue
        assert paper is not None, f"line {i + 1}: no `memhil paper` command above {cmd!r}"
        match = [r for r in paper[2] if tag in r["tags"] and r["spec"].seed == spec.seed]
        assert len(match) == 1, (f"line {i + 1}: no run {tag}, seed {spec.seed} in "
                                 f"`{paper[1]}` (line {paper[0] + 1})")
        want = match[0]["spec"]
        assert spec == want, (f"line {i + 1}: `{cmd}` builds another RunSpec than the run "
                              f"{tag} of `{paper[1]}`; that run is `{command_line(want)}`")
        checked += 1
    assert checked >= 10


def test_results_md_states_the_schedule_the_code_uses():
    text = RESULTS.read_text()
    assert "(constant)" not in text
    for sc in SCALES.values():
        assert plan(sc)[0]["spec"].lr_schedule == "linear"


def test_paper_arguments_select_the_grid():
    from memhil.commands.common import UsageError

    def scale(cmd):
        return scale_from_args(build_parser().parse_args(cmd.split()))

    head = scale("paper --full --headline-only --no-c2c-runs --seeds 10")
    tags = {t for r in plan(head) for t in r["tags"]}
    assert len(plan(head)) == 30 and tags == {"float", "headline/coincidence", "headline/rounding"}
    assert len(plan(scale("paper --quick --headline-only --seeds 10"))) == 50
    assert plan(scale("paper --quick"))[0]["spec"] == plan(SCALES["quick"])[0]["spec"]
    with pytest.raises(UsageError, match="--headline-only"):
        scale("paper --quick --no-c2c-runs")


def test_memhil_paper_writes_commands_txt(tmp_path, capsys):
    """A tiny `memhil paper`: commands.txt beside tables.md, one command per run, each building
    the spec that the run's cached record holds."""
    import json

    from memhil.cli import main
    out = tmp_path / "p"
    assert main(["paper", "--quick", "--headline-only", "--no-c2c-runs", "--seeds", "1",
                 "--epochs", "1", "--train-subset", "64", "--test-subset", "32", "--jobs", "1",
                 "--quiet", "--out", str(out)]) == 0
    assert (out / "tables.md").is_file()
    lines = [ln for ln in (out / "commands.txt").read_text().splitlines()
             if not ln.startswith("#")]
    records = {json.loads(f.read_text())["key"]: json.loads(f.read_text())
               for f in (out / "runs").glob("*.json")}
    assert len(lines) == len(records) == 3
    for ln in lines:
        args, _ = parse(ln)
        key = Path(args.out).name
        assert spec_from_args(args).to_dict() == records[key]["spec"]
        assert "--train-subset 64" in ln and "--epochs 1" in ln
