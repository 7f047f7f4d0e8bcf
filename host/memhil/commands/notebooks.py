"""``memhil notebooks``: copy the board's Jupyter notebooks (and an overlay) into a folder.

The notebooks are package data (``memhil/notebooks/*.ipynb``). Each copy's ``BITFILE``
parameter is set to the overlay's place in the folder. A manifest (``.memhil-notebooks.json``)
records what was copied, so that running the command again updates the files nobody changed and
refuses to overwrite one that was changed (run or edited in Jupyter) or that memhil did not put
there, unless ``--force``. Runs without torch (on the board).
"""
from __future__ import annotations

HELP = "copy the Jupyter notebooks for the board (and an overlay) into a folder"

EXAMPLES = """
  memhil notebooks                       # into /home/xilinx/jupyter_notebooks/memhil
  memhil notebooks ~/nb --bitfile ~/memhil/memhil.bit   # with the overlay (.bit, .hwh)
  memhil notebooks --force               # also overwrite notebooks changed since the last copy
"""

DEFAULT_DIR = "/home/xilinx/jupyter_notebooks/memhil"    # a PYNQ image's Jupyter home
MANIFEST = ".memhil-notebooks.json"
OVERLAY_NAME = "memhil.bit"


def add_arguments(p) -> None:
    p.add_argument("dir", nargs="?", default=DEFAULT_DIR, metavar="DIR",
                   help="folder to copy into, made if needed (default: %(default)s, in the "
                        "Jupyter home of a PYNQ image)")
    p.add_argument("--bitfile", metavar="FILE", default=None,
                   help="the overlay to copy too: FILE (.bit) with the .hwh (and a .dtbo) of "
                        "the same name beside it. Without it: bitstreams/memhil.bit of the "
                        "source tree memhil runs from, if it was built there; else none")
    p.add_argument("--force", action="store_true",
                   help="overwrite files changed since memhil copied them, or not copied by "
                        "memhil (default: refuse, and copy nothing)")


def _sha(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def packaged_notebooks() -> dict[str, bytes]:
    """name -> contents of the notebooks shipped in the package."""
    from importlib.resources import files

    folder = files("memhil") / "notebooks"
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir(), key=lambda f: f.name)
            if f.name.endswith(".ipynb")}


def _built_overlay():
    """bitstreams/memhil.bit of the source tree this memhil runs from (an editable install or
    a checkout), if ``make -C bitstreams`` made it there."""
    from pathlib import Path

    import memhil

    bit = Path(memhil.__file__).resolve().parents[2] / "bitstreams" / OVERLAY_NAME
    return bit if bit.is_file() and bit.with_suffix(".hwh").is_file() else None


def overlay_files(bitfile) -> list:
    """The .bit, its .hwh (required: pynq reads it) and its .dtbo (if any)."""
    from pathlib import Path

    from memhil.commands.common import UsageError

    bit = Path(bitfile)
    if not bit.is_file():
        raise UsageError("--bitfile", f"{bit} does not exist")
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        raise UsageError("--bitfile", f"{bit} has no {hwh.name} beside it: pynq needs both "
                                      f"(make -C bitstreams writes them side by side)")
    return [bit, hwh] + [p for p in [bit.with_suffix(".dtbo")] if p.is_file()]


def with_bitfile(nb: bytes, bitfile: str) -> bytes:
    """The notebook ``nb`` with the ``BITFILE = ...`` line of its parameters cell set to
    ``bitfile`` (everything else as it was)."""
    import json

    doc = json.loads(nb)
    for cell in doc["cells"]:
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        src = cell["source"]
        lines = (src if isinstance(src, list) else src.splitlines(keepends=True))
        for i, line in enumerate(lines):
            if line.startswith("BITFILE = "):
                comment = line.split("#", 1)[1].rstrip("\n") if "#" in line else ""
                end = "\n" if line.endswith("\n") else ""
                lines[i] = f"BITFILE = {json.dumps(bitfile)}" + \
                    (f"  #{comment}" if comment else "") + end
        cell["source"] = lines if isinstance(src, list) else "".join(lines)
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode()


def run(args) -> int:
    import json
    from pathlib import Path

    from memhil import __version__
    from memhil.commands.common import UsageError, check_out_dir
    from memhil.fileio import atomic_write_bytes

    if args.bitfile is not None:
        overlay = overlay_files(args.bitfile)
    else:
        built = _built_overlay()
        overlay = overlay_files(built) if built else []
    out = check_out_dir(Path(args.dir).expanduser(), "DIR")
    bit_name = overlay[0].name if overlay else OVERLAY_NAME
    bitfile = str(out.resolve() / bit_name)

    new: dict[str, bytes] = {name: with_bitfile(nb, bitfile)
                             for name, nb in packaged_notebooks().items()}
    for f in overlay:
        new[f.name] = f.read_bytes()
    try:
        manifest = json.loads((out / MANIFEST).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        manifest = {}
    plan, changed = {}, []
    for name, data in new.items():
        dest = out / name
        if not dest.exists():
            plan[name] = "new"
            continue
        have = dest.read_bytes() if dest.is_file() else None
        if have == data:
            plan[name] = "unchanged"
        elif have is not None and manifest.get(name) == _sha(have):
            plan[name] = "updated"          # as memhil left it: safe to replace
        else:
            changed.append(name)
            plan[name] = "overwritten"
    if changed and not args.force:
        raise UsageError("DIR", f"{out}: {len(changed)} file(s) changed since memhil copied them, "
                                f"or not copied by memhil ({', '.join(changed)}): move them "
                                f"away or pass --force to overwrite them; nothing was copied")
    for name, what in plan.items():
        if what != "unchanged":
            if (out / name).is_dir():
                raise UsageError("DIR", f"{out / name} is a folder: move it away")
            atomic_write_bytes(out / name, new[name])
    manifest.update({name: _sha(data) for name, data in new.items()})
    atomic_write_bytes(out / MANIFEST, (json.dumps({"memhil": __version__, "files": manifest},
                                                   indent=1, sort_keys=True) + "\n").encode())
    for name, what in plan.items():
        print(f"{what:12s} {out / name}")
    if not overlay:
        print(f"no overlay copied: put {OVERLAY_NAME} and memhil.hwh (make -C bitstreams) in "
              f"{out}, or run again with --bitfile FILE")
    print(f"the notebooks' BITFILE is {bitfile}; open {out} in Jupyter (on a PYNQ image: "
          f"http://<board>:9090) and start with 1_selftest.ipynb")
    return 0
