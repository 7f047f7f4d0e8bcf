"""memhil.data: IDX reader, data sets, corruption statistics."""
import gzip

import numpy as np
import pytest

from memhil.data import (FASHION_DIR, DataError, corrupt, has_idx, load_dataset, load_digits,
                         load_idx_folder, read_idx, write_idx)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_roundtrip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((5, 3, 4)) * 100).astype(dtype)
    p = tmp_path / f"a.idx{suffix}"
    write_idx(p, a)
    if suffix:
        assert p.read_bytes()[:2] == b"\x1f\x8b"
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape and np.array_equal(a, b)


def test_idx_errors(tmp_path):
    a = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    p = tmp_path / "x-idx3-ubyte"
    write_idx(p, a)
    raw = p.read_bytes()
    (tmp_path / "t").write_bytes(raw[:-7])
    with pytest.raises(DataError, match="truncated"):
        read_idx(tmp_path / "t")
    (tmp_path / "m").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "m")
    gz = gzip.compress(raw)
    (tmp_path / "g.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match="gzip"):
        read_idx(tmp_path / "g.gz")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "absent")


def _fake_folder(folder, n_train=20, n_test=10, gz=True):
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True, exist_ok=True)
    sfx = ".gz" if gz else ""
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{split}-images-idx3-ubyte{sfx}", rng.integers(0, 256, (n, 6, 6), dtype=np.uint8))
        write_idx(folder / f"{split}-labels-idx1-ubyte{sfx}", rng.integers(0, 10, n).astype(np.uint8))


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_as_dataset(tmp_path, gz):
    _fake_folder(tmp_path / "set", gz=gz)
    d = load_dataset(str(tmp_path / "set"))
    assert d.x_train.shape == (20, 36) and d.x_test.shape == (10, 36)
    assert d.x_train.dtype == np.float32 and 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert d.shape == (6, 6)


def test_missing_and_mismatched_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("MEMHIL_MNIST", str(tmp_path / "none"))
    monkeypatch.setattr("memhil.data.MNIST_DIRS", [])
    with pytest.raises(DataError, match="MNIST not found.*--dataset"):
        load_dataset("mnist")
    monkeypatch.setenv("MEMHIL_FASHION_MNIST", str(tmp_path / "none"))
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist")
    with pytest.raises(DataError, match="not one of"):
        load_dataset("no-such-set")
    _fake_folder(tmp_path / "bad")
    (tmp_path / "bad" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels"):
        load_idx_folder(tmp_path / "bad")
    _fake_folder(tmp_path / "bad2")
    write_idx(tmp_path / "bad2" / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DataError, match="do not match"):
        load_idx_folder(tmp_path / "bad2")


def test_digits_split():
    d = load_digits()
    assert d.x_train.shape == (1437, 64) and d.x_test.shape == (360, 64)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1
    assert set(np.unique(d.y_test)) == set(range(10))


@pytest.mark.skipif(not has_idx(FASHION_DIR), reason="dataset-fashion-mnist not installed (make data)")
def test_fashion_mnist_found_by_itself():
    d = load_dataset("fashion-mnist")
    assert d.x_train.shape == (60000, 784) and d.x_test.shape == (10000, 784)
    assert d.shape == (28, 28)


def test_gaussian_corruption_statistics():
    x = np.full((200, 100), 0.5, np.float32)
    y = corrupt(x, "gaussian", 0.1, seed=0)
    n = y - x
    assert abs(n.mean()) < 0.002 and abs(n.std() - 0.1) < 0.003
    assert np.array_equal(y, corrupt(x, "gaussian", 0.1, seed=0))
    assert not np.array_equal(y, corrupt(x, "gaussian", 0.1, seed=1))
    big = corrupt(x, "gaussian", 2.0, seed=0)
    assert big.min() >= 0 and big.max() <= 1
    assert np.array_equal(corrupt(x, "gaussian", 0.0), x)


def test_salt_pepper_statistics():
    x = np.full((200, 100), 0.5, np.float32)
    y = corrupt(x, "salt-pepper", 0.2, seed=0)
    hit = y != 0.5
    assert abs(hit.mean() - 0.2) < 0.01
    assert abs((y[hit] == 1).mean() - 0.5) < 0.03
    assert set(np.unique(y[hit])) <= {0.0, 1.0}


def test_corruption_argument_errors():
    x = np.zeros((2, 2), np.float32)
    with pytest.raises(ValueError, match="noise kind"):
        corrupt(x, "blur", 0.1)
    with pytest.raises(ValueError, match="salt-pepper"):
        corrupt(x, "salt-pepper", 1.5)
    with pytest.raises(ValueError, match=">= 0"):
        corrupt(x, "gaussian", -1)
