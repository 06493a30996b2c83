import gzip
import pickle
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


def test_data_module_does_not_import_torch():
    import subprocess
    import sys
    code = "import sys, atsnn.data; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- CIFAR

@needs_shared
@pytest.mark.parametrize("split,n,first", [("train", 5085, [6, 9, 9, 4, 1]),
                                           ("test", 1017, [3, 8, 8, 0, 6])])
def test_real_cifar10_subset(split, n, first):
    x, y = data.load_dataset("cifar10-subset", split, SHARED)
    assert x.shape == (n, 3, 32, 32) and x.dtype == np.uint8
    assert y.dtype == np.int64 and list(y[:5]) == first
    assert np.bincount(y, minlength=10).min() > 50


def test_cifar10_subset_missing_and_bad_keys(tmp_path):
    with pytest.raises(AtsnnError, match="cifar10_subset.npz"):
        data.load_cifar10_subset(tmp_path)
    p = tmp_path / "cifar10_subset.npz"
    np.savez(p, x_train=np.zeros((2, 3, 32, 32), np.uint8), y_train=np.zeros(2, np.uint8))
    with pytest.raises(AtsnnError, match="missing arrays") as e:
        data.load_cifar10_subset(tmp_path, "test")
    assert str(p) in str(e.value)
    np.savez(p, x_test=np.zeros((2, 3, 28, 28), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(AtsnnError, match=r"uint8 \[N, 3, 32, 32\]"):
        data.load_cifar10_subset(tmp_path, "test")
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(AtsnnError, match="not a readable npz") as e:
        data.load_cifar10_subset(tmp_path, "test")
    assert str(p) in str(e.value)


def py2_pickle(d):
    """Protocol-2 pickle as Python 2's cPickle wrote the CIFAR batches: str
    (BINSTRING) keys and array bytes, numpy.core globals, numpy 1.x array state."""
    def s(b):
        return (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<I", len(b))) + b

    def i(v):
        return b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v)

    def value(v):
        if isinstance(v, bytes):
            return s(v)
        if isinstance(v, list):
            items = b"".join(value(e) if isinstance(e, bytes) else i(e) for e in v)
            return b"](" + items + b"e"
        dtype = (b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R"
                 + b"(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i(0) + b"\x85"
                + s(b"b") + b"\x87R(" + i(1) + b"(" + b"".join(i(n) for n in v.shape) + b"t"
                + dtype + b"\x89" + s(v.tobytes()) + b"tb")

    items = b"".join(s(k) + value(v) for k, v in d.items())
    return b"\x80\x02}(" + items + b"u."


def test_py2_pickle_helper_matches_pickle():
    d = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 300],
         b"filenames": [b"a.png"]}
    back = pickle.loads(py2_pickle(d), encoding="bytes")
    assert back[b"labels"] == [1, 300] and back[b"filenames"] == [b"a.png"]
    np.testing.assert_array_equal(back[b"data"], d[b"data"])


def write_batch(path, n, seed, label_keys=(b"labels",), classes=10):
    rng = np.random.default_rng(seed)
    d = {b"batch_label": b"batch", b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
         b"filenames": [b"f%d.png" % i for i in range(n)]}
    for k in label_keys:
        d[k] = rng.integers(0, classes, n).tolist()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(py2_pickle(d))
    return d


def test_cifar10_pickle_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    batches = [write_batch(folder / f"data_batch_{i}", 3, i) for i in range(1, 6)]
    test = write_batch(folder / "test_batch", 4, 9)
    x, y = data.load_dataset("cifar10", "train", tmp_path)
    assert x.shape == (15, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert y.tolist() == sum((b[b"labels"] for b in batches), [])
    # row layout: 1024 red, 1024 green, 1024 blue, each row-major 32x32
    row = batches[1][b"data"][2]
    assert x[5, 1, 3, 7] == row[1024 + 3 * 32 + 7]
    xt, yt = data.load_cifar10(folder, "test")  # the batches folder itself works too
    np.testing.assert_array_equal(xt.reshape(4, -1), test[b"data"])


def test_cifar10_batch_written_by_python3(tmp_path):
    d = {"data": np.full((2, 3072), 7, np.uint8), "labels": [4, 5]}  # str keys
    (tmp_path / "test_batch").write_bytes(pickle.dumps(d, protocol=4))
    x, y = data.load_cifar10(tmp_path, "test")
    assert x.shape == (2, 3, 32, 32) and x.max() == 7 and y.tolist() == [4, 5]


def test_cifar100_fine_and_coarse(tmp_path):
    folder = tmp_path / "cifar-100-python"
    d = write_batch(folder / "test", 6, 1, (b"fine_labels", b"coarse_labels"), classes=20)
    write_batch(folder / "train", 2, 2, (b"fine_labels", b"coarse_labels"), classes=20)
    x, y = data.load_dataset("cifar100", "test", tmp_path)
    assert x.shape == (6, 3, 32, 32) and y.tolist() == d[b"fine_labels"]
    _, yc = data.load_dataset("cifar100", "test", tmp_path, labels="coarse")
    assert yc.tolist() == d[b"coarse_labels"]
    assert len(data.load_cifar100(tmp_path, "train")[0]) == 2


def test_cifar_pickle_errors_name_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    p = folder / "test_batch"
    write_batch(p, 2, 0, (b"fine_labels",))
    with pytest.raises(AtsnnError, match="missing keys.*labels") as e:
        data.load_cifar10(tmp_path, "test")
    assert str(p) in str(e.value)
    with open(p, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f)
    with pytest.raises(AtsnnError, match=r"uint8 \[N, 3072\]") as e:
        data.load_cifar10(tmp_path, "test")
    assert str(p) in str(e.value)
    with open(p, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, f)
    with pytest.raises(AtsnnError, match="out of range"):
        data.load_cifar10(tmp_path, "test")
    p.write_bytes(b"not a pickle")
    with pytest.raises(AtsnnError, match="not a CIFAR python pickle") as e:
        data.load_cifar10(tmp_path, "test")
    assert str(p) in str(e.value)
    with pytest.raises(AtsnnError, match="data_batch_1"):
        data.load_cifar10(tmp_path, "train")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_pickle_refuses_code(tmp_path, capsys):
    p = tmp_path / "test_batch"
    with open(p, "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": []}, f)
    with pytest.raises(AtsnnError, match="refusing") as e:
        data.load_cifar10(tmp_path, "test")
    assert str(p) in str(e.value)
    assert "pwned" not in capsys.readouterr().out


# ---------------------------------------------------------------- events

def nmnist_bytes(x, y, p, t):
    t = np.asarray(t)
    b = np.stack([x, y, (np.asarray(p) << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF], 1)
    return b.astype(np.uint8).tobytes()


def test_read_nmnist_decodes_fields(tmp_path):
    p = tmp_path / "s.bs2"
    p.write_bytes(nmnist_bytes([0, 33, 5], [1, 2, 33], [1, 0, 1], [0, 0x12345, 0x7FFFFF]))
    ev = data.read_nmnist(p)
    assert ev["x"].tolist() == [0, 33, 5] and ev["y"].tolist() == [1, 2, 33]
    assert ev["p"].tolist() == [1, 0, 1] and ev["t"].tolist() == [0, 0x12345, 0x7FFFFF]


def test_read_nmnist_truncated_names_file(tmp_path):
    p = tmp_path / "s.bs2"
    p.write_bytes(nmnist_bytes([1], [1], [0], [7]) + b"\x01\x02")
    with pytest.raises(AtsnnError, match="multiple of the 5-byte") as e:
        data.read_nmnist(p)
    assert str(p) in str(e.value)


@needs_shared
def test_real_nmnist_recording():
    ev = data.read_nmnist(SHARED / "nmnist_small" / "1.bs2")
    assert len(ev) == 4681
    assert ev["x"].max() == 33 and ev["y"].max() == 33 and set(ev["p"]) == {0, 1}
    assert (np.diff(ev["t"]) >= 0).all() and 250_000 < ev["t"][-1] < 350_000


@needs_shared
def test_real_nmnist_test_split():
    x, y = data.load_dataset("nmnist", "test", SHARED, time_steps=6, mode="time")
    assert x.shape == (100, 6, 2, 34, 34) and x.dtype == np.uint8
    assert set(np.unique(x)) == {0, 1}
    assert y.dtype == np.int64 and list(y[:5]) == [7, 2, 1, 0, 4]
    assert x[:, :, 0].any() and x[:, :, 1].any()  # both polarities used
    xl, yl = data.load_nmnist(SHARED, "train", time_steps=2, downsample=2, limit=3)
    assert xl.shape == (3, 2, 2, 17, 17) and list(yl) == [5, 0, 4]


def test_load_nmnist_list_errors(tmp_path):
    with pytest.raises(AtsnnError, match="test100.txt"):
        data.load_nmnist(tmp_path)
    lst = tmp_path / "test100.txt"
    lst.write_text("#sample #class\r\n60001\t7\r\n")
    with pytest.raises(AtsnnError, match="60001.bs2") as e:
        data.load_nmnist(tmp_path)
    assert str(lst) in str(e.value)
    (tmp_path / "60001.bs2").write_bytes(nmnist_bytes([3], [4], [1], [10]))
    x, y = data.load_nmnist(tmp_path, time_steps=3)
    assert x.shape == (1, 3, 2, 34, 34) and y.tolist() == [7]
    assert x.sum() == 1 and x[0, 0, 1, 4, 3] == 1
    lst.write_text("60001 seven\n")
    with pytest.raises(AtsnnError, match="test100.txt:1"):
        data.load_nmnist(tmp_path)


def events(x, y, p, t):
    return data._events(np.array(x), np.array(y), np.array(p), np.array(t))


def test_events_to_frames_count_bins():
    ev = events([0, 1, 2, 3, 0], [0, 0, 0, 0, 0], [0, 1, 0, 1, 0], [5, 6, 7, 1000, 1001])
    f = data.events_to_frames(ev, 2, (2, 4), "count")
    assert f.shape == (2, 2, 2, 4) and f.dtype == np.uint8
    # 5 events over 2 bins: bin of event i is i*2//5 -> 0,0,0,1,1
    assert f[0, 0, 0].tolist() == [1, 0, 1, 0] and f[0, 1, 0].tolist() == [0, 1, 0, 0]
    assert f[1, 0, 0].tolist() == [1, 0, 0, 0] and f[1, 1, 0].tolist() == [0, 0, 0, 1]


def test_events_to_frames_time_bins_and_binary():
    ev = events([0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 1], [0, 10, 20, 99])
    f = data.events_to_frames(ev, 4, (2, 2), "time")
    assert f[:, 1, 1].tolist() == [[1, 0], [0, 0], [0, 0], [0, 1]]  # triple event -> 1
    assert f.max() == 1 and f.sum() == 2


def test_events_to_frames_sorts_by_time_and_empty():
    ev = events([1, 0], [0, 0], [0, 0], [50, 10])
    f = data.events_to_frames(ev, 2, (1, 2), "count")
    assert f[0, 0, 0].tolist() == [1, 0] and f[1, 0, 0].tolist() == [0, 1]
    assert data.events_to_frames(ev[:0], 3, (4, 4)).shape == (3, 2, 4, 4)


def test_events_to_frames_errors():
    ev = events([4], [0], [0], [0])
    with pytest.raises(AtsnnError, match="outside the 4x4"):
        data.events_to_frames(ev, 1, (4, 4))
    with pytest.raises(AtsnnError, match="mode"):
        data.events_to_frames(ev, 1, (8, 8), "spikes")
    with pytest.raises(AtsnnError, match="time_steps"):
        data.events_to_frames(ev, 0, (8, 8))


def test_or_pool():
    f = np.zeros((1, 2, 4, 6), np.uint8)
    f[0, 1, 3, 5] = 1
    f[0, 0, 0, 0] = 1
    g = data.or_pool(f, 2)
    assert g.shape == (1, 2, 2, 3) and g.sum() == 2 and g[0, 1, 1, 2] == 1 and g[0, 0, 0, 0] == 1
    with pytest.raises(AtsnnError, match="divide"):
        data.or_pool(f, 4)


def aedat_bytes(rx, ry, rp, t, header=(b"#!AER-DAT2.0\r\n", b"# This is a raw AE data file\r\n")):
    addr = (np.asarray(ry) << 8) | (np.asarray(rx) << 1) | np.asarray(rp)
    words = np.stack([addr, np.asarray(t)], 1).astype(">u4")
    return b"".join(header) + words.tobytes()


def test_read_aedat2_decodes_spikingjelly_orientation(tmp_path):
    p = tmp_path / "a.aedat"
    p.write_bytes(aedat_bytes([0, 127, 10], [0, 5, 127], [0, 1, 1], [3, 4, 2**31 + 5]))
    ev = data.read_aedat2(p)
    assert ev["x"].tolist() == [127, 122, 0]   # 127 - raw y
    assert ev["y"].tolist() == [127, 0, 117]   # 127 - raw x
    assert ev["p"].tolist() == [1, 0, 0]       # 1 - raw polarity
    assert ev["t"].tolist() == [3, 4, 2**31 + 5]


def test_read_aedat2_errors_name_file(tmp_path):
    p = tmp_path / "a.aedat"
    p.write_bytes(aedat_bytes([1], [1], [1], [1], header=(b"#!AER-DAT3.1\r\n",)))
    with pytest.raises(AtsnnError, match="AER-DAT2.0") as e:
        data.read_aedat2(p)
    assert str(p) in str(e.value)
    p.write_bytes(aedat_bytes([1, 2], [1, 2], [1, 0], [1, 2])[:-3])
    with pytest.raises(AtsnnError, match="8-byte") as e:
        data.read_aedat2(p)
    assert str(p) in str(e.value)


def test_load_cifar10_dvs_folders(tmp_path):
    root = tmp_path / "cifar10_dvs"
    for label, c in enumerate(data.CIFAR10_CLASSES):
        (root / c).mkdir(parents=True)
        for i in (0, 1, 2, 10):
            # one event whose raw x encodes class and file index
            (root / c / f"cifar10_{c}_{i}.aedat").write_bytes(
                aedat_bytes([label * 12 + i], [0], [0], [i]))
    x, y = data.load_dataset("cifar10-dvs", "test", tmp_path, time_steps=2, test_fraction=0.25)
    assert x.shape == (10, 2, 2, 128, 128) and y.tolist() == list(range(10))
    # test = file index 0 of each class: event at y = 127 - raw x, x = 127, p = 1
    assert all(x[k, 0, 1, 127 - 12 * k, 127] == 1 for k in range(10)) and x.sum() == 10
    xt, yt = data.load_cifar10_dvs(tmp_path, "train", time_steps=1, test_fraction=0.25)
    assert xt.shape == (30, 1, 2, 128, 128) and yt.tolist() == list(range(10)) * 3
    # classes interleaved; within a class natural name order 1, 2, 10 (not 1, 10, 2)
    assert [int(np.argwhere(xt[j, 0, 1, :, 127])[0, 0]) for j in (0, 10, 20)] == [126, 125, 117]
    xl, yl = data.load_cifar10_dvs(tmp_path, "train", time_steps=1, downsample=4, limit=12,
                                   test_fraction=0.25)
    assert xl.shape == (12, 1, 2, 32, 32) and yl.tolist() == list(range(10)) + [0, 1]
    assert xl[10, 0, 1, 125 // 4, 127 // 4] == 1 and xl.sum() == 12


def test_load_cifar10_dvs_missing_classes(tmp_path):
    (tmp_path / "airplane").mkdir()
    with pytest.raises(AtsnnError, match="automobile") as e:
        data.load_cifar10_dvs(tmp_path)
    assert str(tmp_path) in str(e.value)


# ---------------------------------------------------------------- digits / dispatch

def test_digits_split():
    xtr, ytr = data.load_dataset("digits", "train")
    xte, yte = data.load_dataset("digits", "test")
    assert xtr.shape[1:] == (1, 8, 8) and xtr.dtype == np.uint8 and ytr.dtype == np.int64
    assert len(xtr) + len(xte) == 1797 and len(xte) == 359
    assert xtr.max() == 255 and set(np.unique(xtr)) <= {round(v * 255 / 16) for v in range(17)}
    np.testing.assert_array_equal(data.load_digits(split="test")[1], yte)
    assert np.bincount(yte).min() > 20


def test_load_dataset_options():
    with pytest.raises(AtsnnError, match="time_steps"):
        data.load_dataset("digits", "test", time_steps=4)
    x, _ = data.load_dataset("digits", "test", limit=5, time_steps=None)
    assert x.shape == (5, 1, 8, 8)
