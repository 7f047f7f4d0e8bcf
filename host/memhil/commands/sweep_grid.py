"""The grid of ``memhil sweep``: axes from its flags or a TOML file, turned into points
(:class:`memhil.experiments.sweep.Point`) by ``memhil train``'s own parser and
:func:`memhil.commands.common.spec_from_args`, so every value is checked exactly as
``memhil train`` checks it before anything runs."""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from memhil.experiments.sweep import Point, gpus_needed, spec_key

# train flags that cannot be swept (how to reach a board is no part of a run), or are swept
# under another name (--seed: --seeds)
NOT_AXES = {"help", "seed", "bitfile", "port", "baud"}


# --------------------------------------------------------------------------- the grid
class _PointParser(argparse.ArgumentParser):
    """``memhil train``'s model arguments; a bad value raises instead of exiting."""

    def error(self, message):
        raise _ParseError(message)


class _ParseError(Exception):
    pass


_POINT_PARSER: list = []


def point_parser() -> argparse.ArgumentParser:
    if not _POINT_PARSER:
        from memhil.commands.common import add_model_arguments
        p = _PointParser(prog="memhil train", add_help=False)
        add_model_arguments(p)
        _POINT_PARSER.append(p)
    return _POINT_PARSER[0]


def axis_actions() -> list[argparse.Action]:
    """The arguments of ``memhil train`` that a sweep can take as axes, in train's order."""
    return [a for a in point_parser()._actions
            if a.option_strings and a.dest not in NOT_AXES]


def axis_flags() -> dict[str, str]:
    """dest -> flag of every axis (``levels`` -> ``--levels``)."""
    return {a.dest: a.option_strings[0] for a in axis_actions()}


def split_values(dest: str, text: str) -> list[str]:
    """The values of one axis given as ``text``: comma-separated, except ``--hidden`` whose
    commas separate layer sizes (its values are separated by ``;`` or blanks)."""
    import re
    if dest == "hidden":
        return [v.strip() for v in re.split(r"[;\s]+", text.strip())]
    return [v.strip() for v in text.split(",")]


def _text(v) -> str:
    """A TOML value as a command-line value."""
    if isinstance(v, bool):
        raise TypeError("true/false is not a value of any axis")
    if isinstance(v, (list, tuple)):
        return ",".join(str(int(x)) for x in v)
    if isinstance(v, float):
        s = repr(v)
        return s[:-2] if s.endswith(".0") else s
    return str(v)


def grid_from_toml(path) -> dict[str, list[str]]:
    """The axes of a TOML grid file: ``name = value`` or ``name = [values]`` with the names of
    ``memhil train``'s flags (``levels``, ``update-mode`` or ``update_mode``, ..., ``seeds``).
    ``hidden`` values are lists of layer sizes (``hidden = [[32], [64, 32]]``) or strings."""
    from memhil.commands.common import UsageError
    try:
        import tomllib  # novermin (3.11+; the except branch is the 3.10 path)
    except ImportError:       # pragma: no cover - Python 3.10
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise UsageError("--grid", f"{p} does not exist (pass a TOML file of axes)")
    try:
        doc = tomllib.loads(p.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UsageError("--grid", f"{p} is not a readable TOML file: {e}") from None
    flags = axis_flags()
    axes: dict[str, list[str]] = {}
    for name, value in doc.items():
        dest = name.replace("-", "_")
        if dest not in flags and dest != "seeds":
            raise UsageError("--grid", f"{p}: unknown parameter {name!r} (use the names of "
                                       f"`memhil train`'s flags, such as levels, update-mode, "
                                       f"c2c-sigma, and seeds)")
        vals = value if isinstance(value, list) else [value]
        if dest == "hidden" and vals and all(isinstance(x, int) for x in vals):
            vals = [vals]          # hidden = [64, 32]: one value, two layers
        try:
            axes[dest] = [_text(v) for v in vals]
        except (TypeError, ValueError) as e:
            raise UsageError("--grid", f"{p}: {name} = {value!r}: {e}") from None
    return axes


def plan(axes: dict[str, list[str]], seeds: list[str]) -> list[Point]:
    """Every point of the grid ``axes`` (dest -> values, in any order) x ``seeds``, checked as
    ``memhil train`` checks its arguments: raises :class:`UsageError` naming the flag and the
    value. Points with the same RunSpec are run once."""
    from memhil.commands.common import UsageError, backend_options_from_args, spec_from_args
    flags = axis_flags()
    for dest, vals in axes.items():
        if dest not in flags:
            raise UsageError("--" + dest.replace("_", "-"), "is not a parameter of a sweep")
        for v in vals:
            if v == "":
                raise UsageError(flags[dest], f"an empty value in {','.join(vals)!r}")
    for s in seeds:
        if s == "":
            raise UsageError("--seeds", f"an empty value in {','.join(seeds)!r}")
    order = [d for d in flags if d in axes]
    parser = point_parser()
    points: dict[str, Point] = {}
    for combo in itertools.product(*[axes[d] for d in order]):
        values = dict(zip(order, combo))
        base = [f"{flags[d]}={v}" for d, v in values.items()]
        for seed in seeds:
            argv = [*base, f"--seed={seed}"]
            try:
                ns = parser.parse_args(argv)
            except _ParseError as e:
                msg = str(e)
                flag = msg.split(":", 1)[0].replace("argument ", "").split("/")[0].strip()
                if flag == "--seed":
                    flag, msg = "--seeds", msg.replace("argument --seed:", "argument --seeds:")
                err = UsageError(flag, "")
                err.args = (msg,)
                raise err from None
            try:
                spec = spec_from_args(ns)
                backend_options_from_args(ns)
            except UsageError as e:
                if e.flag == "--seed":
                    raise UsageError("--seeds", str(e).split(": ", 1)[-1]) from None
                given = values.get(e.flag.lstrip("-").replace("-", "_"))
                if given is not None and given not in str(e):
                    e.args = (f"{e} (the value {given!r} of the sweep)",)
                raise
            k = spec_key(spec)
            if k not in points:
                points[k] = Point(argv=argv, values=values, seed=int(ns.seed), spec=spec, key=k,
                                  num_gpus=gpus_needed(spec))
    return list(points.values())


def check_datasets(points: list[Point]) -> None:
    """Load each data set of the sweep once (a :class:`memhil.data.DataError`, a usage error,
    for one that is not there), before anything runs."""
    from memhil.data import load_dataset
    seen = set()
    for p in points:
        if p.spec.dataset not in seen:
            seen.add(p.spec.dataset)
            load_dataset(p.spec.dataset)


# --------------------------------------------------------------------------- one run
