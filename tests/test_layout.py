"""The package's layout holds (issue #10): every command module imports (a broken one fails
here, loudly, instead of silently dropping its command), benchmarks live in memhil.bench,
docs link only to files in the repository."""
import importlib
import re
from pathlib import Path

import pytest

from memhil import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_command_module_imports(name):
    mod = importlib.import_module(f"memhil.commands.{cli.COMMANDS[name]}")
    assert isinstance(mod.HELP, str) and callable(mod.add_arguments) and callable(mod.run)
    sub = cli.build_parser()._subparsers._group_actions[0].choices
    assert name in sub


def test_a_broken_command_module_is_an_error(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "nope", "no_such_module")
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        cli.build_parser()


def test_benchmarks_live_in_one_package():
    top = REPO / "host" / "memhil"
    assert not list(top.glob("bench_*.py"))
    from memhil.commands.bench import TARGETS

    for modname, _ in TARGETS.values():
        assert modname.startswith("memhil.bench.")
        assert callable(importlib.import_module(modname).run)


def test_docs_link_only_to_files_in_the_repository():
    bad = []
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)", md.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            path = (md.parent / target).resolve()
            if not path.exists() or REPO not in path.parents:
                bad.append(f"{md.relative_to(REPO)} -> {target}")
    assert bad == []
    # paths written in code spans count too: nothing outside the repository
    for md in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        assert "`../" not in md.read_text(), md
