import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn import data

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared data not present")


def idx_bytes(array, code=0x08):
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


# ---------------------------------------------------------------- IDX / MNIST

def test_read_idx_raw_and_gzip_by_magic_not_name(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = tmp_path / "a.gz"  # misleading name, raw content
    raw.write_bytes(idx_bytes(a))
    gz = tmp_path / "b.bin"
    gz.write_bytes(gzip.compress(idx_bytes(a)))
    np.testing.assert_array_equal(data.read_idx(raw), a)
    np.testing.assert_array_equal(data.read_idx(gz), a)


def test_read_idx_big_endian_int32(tmp_path):
    a = np.array([[1, -2], [70000, 3]], dtype=">i4")
    p = tmp_path / "i.idx"
    p.write_bytes(idx_bytes(a, 0x0C))
    out = data.read_idx(p)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, [[1, -2], [70000, 3]])


@pytest.mark.parametrize("content,needle", [
    (b"\x00\x00", "4-byte magic"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "magic"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "dtype code 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
    (b"\x00\x00\x08\x02" + struct.pack(">I", 2), "truncated IDX header"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 4, "expected 5"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00" * 6, "expected 5"),
])
def test_read_idx_malformed_names_file(tmp_path, content, needle):
    p = tmp_path / "bad-idx"
    p.write_bytes(content)
    with pytest.raises(AtsnnError, match=needle) as e:
        data.read_idx(p)
    assert str(p) in str(e.value)


def test_read_idx_truncated_gzip_names_file(tmp_path):
    p = tmp_path / "t.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)))[:-20])
    with pytest.raises(AtsnnError) as e:
        data.read_idx(p)
    assert str(p) in str(e.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(AtsnnError) as e:
        data.read_idx(tmp_path / "nope")
    assert "nope" in str(e.value)


def write_mnist(folder, split, n, gz):
    prefix = "train" if split == "train" else "t10k"
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for base, a in ((f"{prefix}-images-idx3-ubyte", x), (f"{prefix}-labels-idx1-ubyte", y)):
        b = idx_bytes(a)
        if gz:
            (folder / (base + ".gz")).write_bytes(gzip.compress(b))
        else:
            (folder / base).write_bytes(b)
    return x, y


@pytest.mark.parametrize("sub,gz", [("", False), ("mnist", True), ("mnist", False)])
def test_load_mnist_layouts(tmp_path, sub, gz):
    x, y = write_mnist(tmp_path / sub if sub else tmp_path, "test", 7, gz)
    xo, yo = data.load_mnist(tmp_path, "test")
    assert xo.shape == (7, 1, 28, 28) and xo.dtype == np.uint8
    assert yo.shape == (7,) and yo.dtype == np.int64
    np.testing.assert_array_equal(xo[:, 0], x)
    np.testing.assert_array_equal(yo, y)


def test_load_mnist_missing_file_names_path(tmp_path):
    with pytest.raises(AtsnnError, match="t10k-images-idx3-ubyte") as e:
        data.load_mnist(tmp_path, "test")
    assert str(tmp_path / "mnist") in str(e.value)


def test_load_mnist_missing_dir(tmp_path):
    with pytest.raises(AtsnnError, match="does not exist") as e:
        data.load_mnist(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(e.value)


def test_load_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path, "train", 4, False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(AtsnnError, match="4 images but .*3 labels"):
        data.load_mnist(tmp_path, "train")


def test_load_mnist_wrong_image_shape(tmp_path):
    write_mnist(tmp_path, "test", 2, False)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros((2, 20, 20), np.uint8)))
    with pytest.raises(AtsnnError, match="28, 28") as e:
        data.load_mnist(tmp_path, "test")
    assert str(p) in str(e.value)


def test_unknown_split(tmp_path):
    with pytest.raises(AtsnnError, match="train, test"):
        data.load_mnist(tmp_path, "validation")


@needs_shared
def test_real_mnist_test_split():
    x, y = data.load_mnist(SHARED, "test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == np.uint8
    assert y.shape == (10000,) and y.dtype == np.int64
    assert list(y[:5]) == [7, 2, 1, 0, 4]
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert x.max() == 255 and 33.5 < x.mean() < 34.0  # 0.1325 * 255


@needs_shared
def test_real_mnist_train_labels():
    y = data.read_idx(SHARED / "mnist" / "train-labels-idx1-ubyte.gz")
    assert y.shape == (60000,) and list(y[:5]) == [5, 0, 4, 1, 9]


# ---------------------------------------------------------------- data dir

def test_default_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("ATSNN_DATA_DIR", str(tmp_path))
    assert data.default_data_dir() == tmp_path
    write_mnist(tmp_path, "test", 3, True)
    assert data.load_dataset("mnist", "test")[0].shape == (3, 1, 28, 28)


def test_default_data_dir_relative_to_repo(monkeypatch):
    monkeypatch.delenv("ATSNN_DATA_DIR", raising=False)
    repo = Path(data.__file__).resolve().parent.parent
    assert data.default_data_dir() == (repo.parent / "shared" / "data").resolve()


# ---------------------------------------------------------------- split / dispatch

def test_train_val_split_disjoint_deterministic():
    tr, va = data.train_val_split(100, 0.2, seed=3)
    assert len(va) == 20 and len(tr) == 80
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(100))
    tr2, va2 = data.train_val_split(100, 0.2, seed=3)
    np.testing.assert_array_equal(va, va2)
    _, va3 = data.train_val_split(100, 0.2, seed=4)
    assert not np.array_equal(va, va3)


def test_train_val_split_bad_fraction():
    with pytest.raises(AtsnnError, match="val_fraction"):
        data.train_val_split(10, 1.0)


def test_load_dataset_unknown_lists_known():
    with pytest.raises(AtsnnError) as e:
        data.load_dataset("imagenet", "test")
    for name in data.DATASETS:
        assert name in str(e.value)
