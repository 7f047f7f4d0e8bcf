"""Data sets for the experiments, and test-time corruption.

* ``digits``: scikit-learn's 8x8 handwritten digits (embedded, always available), split
  1437 train / 360 test (stratified, fixed seed 0), pixels scaled to [0, 1].
* ``fashion-mnist``: the IDX files of Debian's ``dataset-fashion-mnist`` under
  ``/usr/share/datasets/fashion-mnist`` (``make data`` or ``apt-get install dataset-fashion-mnist``).
* ``mnist``: IDX files in ``$MEMHIL_MNIST`` or a few usual folders; or any folder ``PATH`` holding
  ``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-...``,
  ``t10k-labels-...`` (MNIST, Fashion-MNIST, KMNIST...).

Images are flattened to float32 vectors in [0, 1]; labels are int64.
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memhil.fileio import atomic_write_bytes

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
MNIST_DIRS = [Path("/usr/share/datasets/mnist"), Path.home() / ".cache" / "memhil" / "mnist",
              Path("data/mnist")]
NAMES = ("digits", "fashion-mnist", "mnist")
_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
              np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
SPLITS = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
          "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


MAX_CLASSES = 1000     # labels of an IDX folder: class numbers 0..K-1 with K at most this


class DataError(RuntimeError):
    """A data set is absent, truncated or not in the expected format (the message says why
    and how to get it)."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    shape: tuple[int, ...]          # image shape (for plots), e.g. (8, 8)
    classes: int = 10
    source: str = ""

    @property
    def features(self) -> int:
        return int(self.x_train.shape[1])

    def subset(self, train: int | None = None, test: int | None = None) -> "Dataset":
        """The first ``train`` / ``test`` samples (a deterministic subset)."""
        return Dataset(self.name, self.x_train[:train], self.y_train[:train],
                       self.x_test[:test], self.y_test[:test], self.shape, self.classes,
                       self.source)

    def describe(self) -> dict:
        return {"name": self.name, "source": self.source, "train": int(len(self.y_train)),
                "test": int(len(self.y_test)), "features": self.features,
                "classes": self.classes}


# ---------------------------------------------------------------------------- IDX
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or gzipped, told apart by the gzip magic), checking its size."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read IDX file {path}: {e.strerror or e}") from e
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise DataError(f"IDX file {path} is a corrupt or truncated gzip file ({e})") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES or raw[3] == 0:
        raise DataError(f"{path} is not an IDX file (bad magic {raw[:4].hex() or 'empty'})")
    dt = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    hdr = 4 + 4 * ndim
    if len(raw) < hdr:
        raise DataError(f"IDX file {path} is truncated in its header")
    dims = struct.unpack(f">{ndim}I", raw[4:hdr])
    n = int(np.prod(dims, dtype=np.int64))
    need = hdr + n * dt.itemsize
    if len(raw) != need:
        what = "truncated" if len(raw) < need else "longer than its header says"
        raise DataError(f"IDX file {path} is {what}: {len(raw)} bytes, header {dims} needs {need}")
    return np.frombuffer(raw, dtype=dt, count=n, offset=hdr).reshape(dims).astype(dt.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file (gzipped when ``compress`` or the name ends in .gz)."""
    path = Path(path)
    a = np.asarray(array)
    dt = a.dtype.newbyteorder(">") if a.dtype.itemsize > 1 else a.dtype
    if dt not in _IDX_CODES:
        raise ValueError(f"dtype {a.dtype} has no IDX type code")
    body = struct.pack(">BBBB", 0, 0, _IDX_CODES[dt], a.ndim) + \
        struct.pack(f">{a.ndim}I", *a.shape) + a.astype(dt).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        body = gzip.compress(body, mtime=0)
    atomic_write_bytes(path, body)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    return None


def has_idx(folder: Path) -> bool:
    return all(_find(folder, s) is not None for pair in SPLITS.values() for s in pair)


def load_idx_folder(folder: str | os.PathLike, name: str | None = None) -> Dataset:
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist")
    arrays = {}
    for split, (img, lab) in SPLITS.items():
        pi, pl = _find(folder, img), _find(folder, lab)
        if pi is None or pl is None:
            missing = img if pi is None else lab
            raise DataError(f"{folder} has no {missing}[.gz]; an IDX data folder needs "
                            f"{', '.join(s for p in SPLITS.values() for s in p)} (optionally .gz)")
        x, y = read_idx(pi), read_idx(pl)
        if x.ndim < 2 or y.ndim != 1 or len(x) != len(y):
            raise DataError(f"{pi} and {pl} do not match: images {x.shape}, labels {y.shape}")
        arrays[split] = (x, y)
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    shape = tuple(int(s) for s in xtr.shape[1:])
    scale = 255.0 if xtr.dtype == np.uint8 else max(1.0, float(np.abs(xtr).max()))

    def prep(x):
        return (x.reshape(len(x), -1).astype(np.float32) / np.float32(scale))

    for split, y in (("train", ytr), ("test", yte)):
        if not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
            raise DataError(f"{folder}: the {split} labels must be class numbers 0, 1, 2, ..., "
                            f"found {y.dtype} values from {y.min()!r} to {y.max()!r}")
    classes = int(max(ytr.max(), yte.max())) + 1
    used = np.unique(np.concatenate([ytr, yte]))
    if classes > MAX_CLASSES or len(used) * 2 < classes:
        shown = ", ".join(str(int(v)) for v in used[:12]) + (", ..." if len(used) > 12 else "")
        raise DataError(f"{folder}: the labels go up to {classes - 1} but only {len(used)} "
                        f"different values occur ({shown}); labels must be class numbers "
                        f"0..K-1 (K <= {MAX_CLASSES}) with most classes present")
    return Dataset(name or folder.name, prep(xtr), ytr.astype(np.int64), prep(xte),
                   yte.astype(np.int64), shape, classes, str(folder))


# ---------------------------------------------------------------------------- named sets
def load_digits() -> Dataset:
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split
    d = sk_digits()
    x = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return Dataset("digits", xtr, ytr, xte, yte, (8, 8), 10, "sklearn.datasets.load_digits")


def load_dataset(name: str) -> Dataset:
    """``digits``, ``fashion-mnist``, ``mnist`` or a folder of IDX files."""
    key = str(name).lower()
    if key == "digits":
        return load_digits()
    if key in ("fashion-mnist", "fashion_mnist", "fashionmnist", "fmnist"):
        env = os.environ.get("MEMHIL_FASHION_MNIST")
        folder = Path(env) if env else FASHION_DIR
        if not has_idx(folder):
            raise DataError(
                f"Fashion-MNIST not found in {folder}. Install it with `make data` or "
                "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or point "
                "--dataset at a folder holding its four IDX files (train-images-idx3-ubyte.gz, "
                "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz)")
        return load_idx_folder(folder, "fashion-mnist")
    if key == "mnist":
        env = os.environ.get("MEMHIL_MNIST")
        cands = ([Path(env)] if env else []) + MNIST_DIRS
        for folder in cands:
            if has_idx(folder):
                return load_idx_folder(folder, "mnist")
        raise DataError(
            "MNIST not found (looked in " + ", ".join(str(c) for c in cands) + "). It cannot be "
            "downloaded here: copy its four IDX files (train-images-idx3-ubyte[.gz], "
            "train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) "
            "into a folder and pass --dataset FOLDER (or set MEMHIL_MNIST=FOLDER); "
            "--dataset digits (built in) and fashion-mnist (`make data`) need no download")
    p = Path(name)
    if p.is_dir():
        return load_idx_folder(p)
    raise DataError(f"--dataset {name!r}: not one of {', '.join(NAMES)} and not a folder of IDX "
                    "files (train-images-idx3-ubyte[.gz], ...)")


# ---------------------------------------------------------------------------- corruption
NOISE_KINDS = ("gaussian", "salt-pepper")


_CACHE: dict = {}


def load_data(spec) -> Dataset:
    """The data set named by ``spec.dataset`` with ``spec.train_subset`` and ``test_subset``
    applied (a ``RunSpec``, or anything with those fields). The last full data set loaded stays
    in memory, so a series of runs on one data set reads its files once."""
    key = spec.dataset
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = load_dataset(key)
    d = _CACHE[key]
    if spec.train_subset or spec.test_subset:
        d = d.subset(spec.train_subset, spec.test_subset)
    return d


def corrupt(x: np.ndarray, kind: str, level: float, seed: int = 0) -> np.ndarray:
    """Test-time corruption of images in [0, 1].

    ``gaussian``: add N(0, level^2) per pixel, then clip to [0, 1].
    ``salt-pepper``: a fraction ``level`` of the pixels, chosen at random, is set to 0 or 1
    with equal probability.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind {kind!r} is not allowed: one of {NOISE_KINDS}")
    level = float(level)
    if not np.isfinite(level) or level < 0 or (kind == "salt-pepper" and level > 1):
        raise ValueError(f"noise level {level} is not allowed for {kind}: "
                         + ("must be in [0, 1]" if kind == "salt-pepper" else "must be >= 0"))
    x = np.asarray(x, dtype=np.float32)
    if level == 0:
        return x.copy()
    rng = np.random.default_rng(seed)
    if kind == "gaussian":
        return np.clip(x + rng.normal(0.0, level, size=x.shape).astype(np.float32), 0.0, 1.0)
    out = x.copy()
    hit = rng.random(x.shape) < level
    salt = rng.random(x.shape) < 0.5
    out[hit & salt] = 1.0
    out[hit & ~salt] = 0.0
    return out
