# SPDX-License-Identifier: MIT
"""The test suite's own machinery: `make test` runs pytest-xdist with --dist loadgroup, and
tests marked with one xdist_group (the RTL-simulation links "sim-rtl", the timing proxy's
Yosys run "timing-proxy") must run on one worker. pytest 9.2 with pytest-xdist 3.8 drops the
grouping without a word (pytest-dev/pytest-xdist#1386), hence the pin in pyproject.toml and
this check."""
from __future__ import annotations

import subprocess
import sys
import textwrap


def test_loadgroup_puts_a_group_on_one_worker(tmp_path):
    (tmp_path / "test_grouped.py").write_text(textwrap.dedent("""
        import os
        import pytest

        pytestmark = pytest.mark.xdist_group("one")

        @pytest.mark.parametrize("i", range(8))
        def test_where(i):
            with open(os.path.join(os.path.dirname(__file__), f"w{i}.txt"), "w") as f:
                f.write(os.environ["PYTEST_XDIST_WORKER"])
    """))
    r = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-q",
                        "-p", "no:cacheprovider", "test_grouped.py"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    workers = {(tmp_path / f"w{i}.txt").read_text() for i in range(8)}
    assert len(workers) == 1, (f"the 8 tests of one xdist_group ran on workers {sorted(workers)}: "
                               "--dist loadgroup does not group with this pytest/pytest-xdist")
