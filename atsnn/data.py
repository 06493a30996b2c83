"""Dataset loaders for atsnn (NumPy only, no torch, nothing downloaded).

Every loader returns ``(x, y)``: ``x`` uint8 (static images ``[N, C, H, W]``,
event frames ``[N, T, 2, H, W]`` with values in {0, 1}) and ``y`` int64 ``[N]``.
Bad or missing files raise :class:`atsnn.AtsnnError` naming the file and what
was expected. See docs/data.md.
"""

import gzip
import inspect
import math
import os
import pickle
import re
import zlib
from pathlib import Path

import numpy as np

from atsnn import AtsnnError

GZIP_MAGIC = b"\x1f\x8b"

# IDX dtype code -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

SPLITS = ("train", "test")


def default_data_dir():
    """``$ATSNN_DATA_DIR`` if set, else ``../shared/data`` next to the repo root."""
    env = os.environ.get("ATSNN_DATA_DIR")
    if env:
        return Path(env)
    repo_root = Path(__file__).resolve().parent.parent
    return (repo_root.parent / "shared" / "data").resolve()


def _data_dir(data_dir):
    path = Path(data_dir) if data_dir is not None else default_data_dir()
    if not path.is_dir():
        raise AtsnnError(f"data directory {path} does not exist "
                         "(pass --data-dir or set ATSNN_DATA_DIR)")
    return path


def _check_split(split):
    if split not in SPLITS:
        raise AtsnnError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")


def _find_file(data_dir, subdir, names, what):
    """First existing ``data_dir/name`` or ``data_dir/subdir/name``."""
    tried = []
    for folder in (data_dir, data_dir / subdir):
        for name in names:
            path = folder / name
            if path.is_file():
                return path
            tried.append(str(path))
    raise AtsnnError(f"{what} not found: expected one of {', '.join(tried)}")


def _read_bytes(path):
    """File contents, gunzipped when the file starts with the gzip magic."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AtsnnError(f"{path}: cannot read ({e.strerror or e})") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise AtsnnError(f"{path}: corrupt or truncated gzip data ({e})") from None
    return raw


def read_idx(path):
    """Read an IDX file (gzip or raw, detected by magic bytes) into a NumPy array
    of the dtype and shape its header declares (multi-byte types made native)."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise AtsnnError(f"{path}: not an IDX file (expected a 4-byte magic number, "
                         f"got {len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0:
        raise AtsnnError(f"{path}: not an IDX file (magic number must start with two "
                         f"zero bytes, got {raw[:4].hex()})")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise AtsnnError(f"{path}: unknown IDX dtype code 0x{code:02X} (expected one of {known})")
    if ndim == 0:
        raise AtsnnError(f"{path}: IDX header declares 0 dimensions (expected at least 1)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise AtsnnError(f"{path}: truncated IDX header (expected {header} bytes for "
                         f"{ndim} dimensions, got {len(raw)})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    dtype = IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize   # Python ints: int64 would wrap to 0
    if len(raw) - header != expected:
        raise AtsnnError(f"{path}: IDX payload is {len(raw) - header} bytes, expected "
                         f"{expected} for shape {shape} of {dtype.name}")
    data = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def load_mnist(data_dir=None, split="test"):
    """MNIST from the IDX files in ``data_dir`` or ``data_dir/mnist``.

    Returns x uint8 [N, 1, 28, 28] and y int64 [N]."""
    _check_split(split)
    root = _data_dir(data_dir)
    prefix = "train" if split == "train" else "t10k"
    arrays = []
    for kind, ndim in (("images-idx3-ubyte", 3), ("labels-idx1-ubyte", 1)):
        base = f"{prefix}-{kind}"
        path = _find_file(root, "mnist", (base + ".gz", base), f"MNIST {split} file {base}[.gz]")
        a = read_idx(path)
        if a.dtype != np.uint8 or a.ndim != ndim or (ndim == 3 and a.shape[1:] != (28, 28)):
            want = "uint8 [N, 28, 28]" if ndim == 3 else "uint8 [N]"
            raise AtsnnError(f"{path}: expected MNIST {want}, got {a.dtype} {list(a.shape)}")
        arrays.append((path, a))
    (ipath, x), (lpath, y) = arrays
    if len(x) != len(y):
        raise AtsnnError(f"{ipath} has {len(x)} images but {lpath} has {len(y)} labels")
    if y.size and y.max() > 9:
        raise AtsnnError(f"{lpath}: label {int(y.max())} out of range (expected 0..9)")
    return x.reshape(-1, 1, 28, 28), y.astype(np.int64)


def train_val_split(n, val_fraction, seed=0):
    """Deterministic (train_idx, val_idx) over ``range(n)``, each sorted.

    Apply it to a TRAINING split: the validation part (exit-threshold calibration,
    early stopping) must never come from the test set."""
    if not 0.0 <= val_fraction < 1.0:
        raise AtsnnError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if n < 0:
        raise AtsnnError(f"n must be non-negative, got {n}")
    n_val = int(round(n * val_fraction))
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])



# ---------------------------------------------------------------- CIFAR

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")


def _check_labels(path, what, y):
    """Labels as int64 [N]: integers only (a float label is refused, not truncated)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iu" and y.size:
        raise AtsnnError(f"{path}: {what} must be integer class labels, got dtype {y.dtype}")
    if y.ndim != 1:
        raise AtsnnError(f"{path}: {what} must be a 1-D array [N] of labels, got shape "
                         f"{list(y.shape)}")
    return y


def _check_images(path, what, x, y, shape, num_classes, labels="labels"):
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.shape[1:] != shape:
        got = f"{x.dtype} {list(x.shape)}" if isinstance(x, np.ndarray) else type(x).__name__
        raise AtsnnError(f"{path}: {what} must be uint8 [N, {', '.join(map(str, shape))}], got {got}")
    y = _check_labels(path, labels, y)
    if len(y) != len(x):
        raise AtsnnError(f"{path}: {what} has {len(x)} images but {labels} has {len(y)} labels")
    if y.size and (y.min() < 0 or y.max() >= num_classes):
        raise AtsnnError(f"{path}: {what} labels out of range (expected 0..{num_classes - 1})")
    return y.astype(np.int64)


def load_cifar10_subset(data_dir=None, split="test"):
    """The CIFAR-10 subset npz (``cifar10_subset/cifar10_subset.npz``).

    Returns x uint8 [N, 3, 32, 32] and y int64 [N]."""
    _check_split(split)
    root = _data_dir(data_dir)
    path = _find_file(root, "cifar10_subset", ("cifar10_subset.npz",), "CIFAR-10 subset")
    from atsnn.model_image import ModelImageError
    # read member by member, each .npy header checked before its data is read: a
    # header may declare any size (np.load would try to allocate it)
    try:
        x, y = _read_cifar_subset(path, split)
    except ModelImageError as e:   # "PATH: cannot read array 'x_test' (why)"
        raise AtsnnError(str(e).replace(": cannot read", ": not a readable npz file: cannot read",
                                        1)) from None
    y = _check_images(path, f"x_{split}", x, y, (3, 32, 32), 10, f"y_{split}")
    return x, y


def _read_cifar_subset(path, split):
    from atsnn.model_image import NpzArrays
    with NpzArrays(path) as f:
        need = [f"x_{split}", f"y_{split}"]
        missing = [n for n in need if n not in f]
        if missing:
            raise AtsnnError(f"{path}: missing arrays {missing} "
                             f"(expected x_train, y_train, x_test, y_test)")
        shape, dtype = f.header(need[0])
        if dtype != np.uint8 or len(shape) != 4 or shape[1:] != (3, 32, 32):
            raise AtsnnError(f"{path}: {need[0]} must be uint8 [N, 3, 32, 32], got {dtype} "
                             f"{list(shape)}")
        n = shape[0]
        shape, dtype = f.header(need[1])
        if math.prod(shape) > n:
            raise AtsnnError(f"{path}: {need[0]} has {n} images but {need[1]} declares "
                             f"{dtype} {list(shape)}")
        return f.read(need[0]).copy(), f.read(need[1]).copy()


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that only builds NumPy arrays and plain containers: a CIFAR batch
    needs nothing else, and a hostile pickle cannot run code through it."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_cifar_batch(path, label_key=b"labels"):
    """One CIFAR python pickle batch -> (x uint8 [N, 3, 32, 32], y int64 [N])."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            d = _ArrayUnpickler(f, encoding="bytes").load()
    except OSError as e:
        raise AtsnnError(f"{path}: cannot read ({e.strerror or e})") from None
    except Exception as e:
        raise AtsnnError(f"{path}: not a CIFAR python pickle batch ({e})") from None
    if not isinstance(d, dict):
        raise AtsnnError(f"{path}: expected a pickled dict, got {type(d).__name__}")
    d = {k.encode() if isinstance(k, str) else k: v for k, v in d.items()}
    missing = [k.decode() for k in (b"data", label_key) if k not in d]
    if missing:
        have = ", ".join(k.decode(errors="replace") for k in d if isinstance(k, bytes))
        raise AtsnnError(f"{path}: missing keys {missing} (has: {have})")
    x = d[b"data"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        got = f"{x.dtype} {list(x.shape)}" if isinstance(x, np.ndarray) else type(x).__name__
        raise AtsnnError(f"{path}: 'data' must be uint8 [N, 3072], got {got}")
    try:
        y = np.asarray(d[label_key])
    except (TypeError, ValueError):
        y = None
    if y is None or (y.dtype.kind not in "iu" and y.size) or y.ndim != 1:
        raise AtsnnError(f"{path}: '{label_key.decode()}' is not a list of integers") from None
    return x.reshape(-1, 3, 32, 32), y.astype(np.int64)


def _load_cifar_pickles(data_dir, split, folder, files, label_key, num_classes, what):
    _check_split(split)
    root = _data_dir(data_dir)
    base = root / folder if (root / folder).is_dir() else root
    xs, ys = [], []
    for name in files:
        path = base / name
        if not path.is_file():
            raise AtsnnError(f"{what} {split} file not found: expected {path} "
                             f"(the python version, folder {folder}/)")
        x, y = read_cifar_batch(path, label_key)
        xs.append(x)
        ys.append(_check_images(path, what, x, y, (3, 32, 32), num_classes))
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar10(data_dir=None, split="test"):
    """Full CIFAR-10 from ``cifar-10-batches-py/`` (python pickle batches).

    Returns x uint8 [N, 3, 32, 32] and y int64 [N]."""
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    return _load_cifar_pickles(data_dir, split, "cifar-10-batches-py", files,
                               b"labels", 10, "CIFAR-10")


def load_cifar100(data_dir=None, split="test", labels="fine"):
    """CIFAR-100 from ``cifar-100-python/{train,test}`` (fine labels, or coarse).

    Returns x uint8 [N, 3, 32, 32] and y int64 [N]."""
    if labels not in ("fine", "coarse"):
        raise AtsnnError(f"CIFAR-100 labels must be 'fine' or 'coarse', got {labels!r}")
    key, n = (b"fine_labels", 100) if labels == "fine" else (b"coarse_labels", 20)
    return _load_cifar_pickles(data_dir, split, "cifar-100-python", [split], key, n, "CIFAR-100")


# ---------------------------------------------------------------- events

EVENT_DTYPE = np.dtype([("x", np.int16), ("y", np.int16), ("p", np.uint8), ("t", np.int64)])


def _events(x, y, p, t):
    ev = np.empty(len(t), EVENT_DTYPE)
    ev["x"], ev["y"], ev["p"], ev["t"] = x, y, p, t
    return ev


def read_nmnist(path):
    """One N-MNIST recording (5-byte events) -> structured array (x, y, p, t[us])."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AtsnnError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(raw) % 5:
        raise AtsnnError(f"{path}: truncated N-MNIST recording ({len(raw)} bytes is not a "
                         "multiple of the 5-byte event size)")
    b = np.frombuffer(raw, np.uint8).reshape(-1, 5).astype(np.int64)
    t = ((b[:, 2] & 0x7F) << 16) | (b[:, 3] << 8) | b[:, 4]
    return _events(b[:, 0], b[:, 1], b[:, 2] >> 7, t)


def read_aedat2(path):
    """One AEDAT 2.0 recording of a DVS128 (CIFAR10-DVS) -> structured events.

    Coordinates follow SpikingJelly's ``cifar10_dvs.py`` so frames match the
    usual CIFAR10-DVS orientation: with raw fields rx = (addr >> 1) & 0x7F,
    ry = (addr >> 8) & 0x7F, rp = addr & 1, the event is x = 127 - ry,
    y = 127 - rx, p = 1 - rp."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise AtsnnError(f"{path}: cannot read ({e.strerror or e})") from None
    if not raw.startswith(b"#!AER-DAT2"):
        raise AtsnnError(f"{path}: not an AEDAT 2.0 file (expected first line "
                         f"'#!AER-DAT2.0', got {raw[:16]!r})")
    pos = 0
    while raw.startswith(b"#", pos):
        end = raw.find(b"\n", pos)
        if end < 0:
            raise AtsnnError(f"{path}: AEDAT header line without a newline at byte {pos}")
        pos = end + 1
    body = len(raw) - pos
    if body % 8:
        raise AtsnnError(f"{path}: truncated AEDAT 2.0 event data ({body} bytes after the "
                         "header is not a multiple of the 8-byte event size)")
    words = np.frombuffer(raw, ">u4", offset=pos).astype(np.int64)
    addr, t = words[0::2], words[1::2]
    rx, ry, rp = (addr >> 1) & 0x7F, (addr >> 8) & 0x7F, addr & 1
    return _events(127 - ry, 127 - rx, 1 - rp, t)


def events_to_frames(events, time_steps, shape, mode="count"):
    """Binary frames uint8 {0, 1} [T, 2, H, W] from structured events.

    The (time-sorted) events are split into ``time_steps`` bins: ``"count"`` gives
    each bin an equal number of events (bins differ by at most one), ``"time"``
    equal slices of [t_first, t_last]. Pixel (p, y, x) of frame t is 1 when at
    least one event of that polarity fell there in bin t."""
    if time_steps < 1:
        raise AtsnnError(f"time_steps must be >= 1, got {time_steps}")
    if mode not in ("count", "time"):
        raise AtsnnError(f"frame mode must be 'count' or 'time', got {mode!r}")
    h, w = shape
    frames = np.zeros((time_steps, 2, h, w), np.uint8)
    n = len(events)
    if n == 0:
        return frames
    x, y, p, t = (events[k].astype(np.int64) for k in ("x", "y", "p", "t"))
    if x.min() < 0 or x.max() >= w or y.min() < 0 or y.max() >= h or p.max() > 1:
        raise AtsnnError(f"event outside the {h}x{w} sensor or polarity not 0/1 "
                         f"(x {x.min()}..{x.max()}, y {y.min()}..{y.max()}, p max {p.max()})")
    order = np.argsort(t, kind="stable")
    x, y, p, t = x[order], y[order], p[order], t[order]
    if mode == "count":
        bins = np.arange(n) * time_steps // n
    else:
        span = t[-1] - t[0] + 1
        bins = (t - t[0]) * time_steps // span
    frames[bins, p, y, x] = 1
    return frames


def or_pool(frames, factor):
    """OR-pool the last two axes by an integer ``factor`` (binary downsampling)."""
    if factor == 1:
        return frames
    h, w = frames.shape[-2:]
    if factor < 1 or h % factor or w % factor:
        raise AtsnnError(f"downsample factor {factor} must divide the frame size {h}x{w}")
    f = frames.reshape(*frames.shape[:-2], h // factor, factor, w // factor, factor)
    return f.max(axis=(-3, -1))


def _read_list(path):
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise AtsnnError(f"{path}: cannot read the sample list ({e})") from None
    ids, labels = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        try:
            sid, label = parts[0], int(parts[1])
        except (IndexError, ValueError):
            raise AtsnnError(f"{path}:{n}: expected '<sample id> <class>', got {line!r}") from None
        ids.append(sid)
        labels.append(label)
    return ids, np.array(labels, np.int64)


def _frames_stack(files, reader, time_steps, shape, mode, downsample):
    out = None
    for i, path in enumerate(files):
        fr = or_pool(events_to_frames(reader(path), time_steps, shape, mode), downsample)
        if out is None:
            out = np.zeros((len(files),) + fr.shape, np.uint8)
        out[i] = fr
    if out is None:
        h, w = shape
        out = np.zeros((0, time_steps, 2, h // downsample, w // downsample), np.uint8)
    return out


def load_nmnist(data_dir=None, split="test", time_steps=10, mode="count", downsample=1,
                limit=None):
    """N-MNIST as binary frames uint8 [N, T, 2, 34/d, 34/d] and labels int64 [N].

    Reads the sample lists ``train1K.txt`` / ``test100.txt`` (``<id> <class>`` per
    line) and ``<id>.bs2`` beside them, in ``data_dir`` or ``data_dir/nmnist_small``."""
    _check_split(split)
    root = _data_dir(data_dir)
    names = ("train1K.txt", "train.txt") if split == "train" else ("test100.txt", "test.txt")
    listing = _find_file(root, "nmnist_small", names, f"N-MNIST {split} sample list")
    ids, y = _read_list(listing)
    if y.size and (y.min() < 0 or y.max() > 9):
        raise AtsnnError(f"{listing}: class out of range (expected 0..9)")
    if limit is not None:
        ids, y = ids[:limit], y[:limit]
    files = []
    for sid in ids:
        path = listing.parent / f"{sid}.bs2"
        if not path.is_file():
            raise AtsnnError(f"N-MNIST recording not found: expected {path} (listed in {listing})")
        files.append(path)
    x = _frames_stack(files, read_nmnist, time_steps, (34, 34), mode, downsample)
    return x, y


def _natural_key(path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", path.name)]


def load_cifar10_dvs(data_dir=None, split="test", time_steps=10, mode="count", downsample=1,
                     limit=None, test_fraction=0.1):
    """CIFAR10-DVS as binary frames uint8 [N, T, 2, 128/d, 128/d], labels int64 [N].

    ``data_dir`` (or ``data_dir/cifar10_dvs``) holds one folder per class
    (airplane/, automobile/, ...) of ``.aedat`` files. The first ``test_fraction``
    of each class in natural file-name order is the test split (samples 0..99 of
    1000, the split most papers use), the rest train. Samples are interleaved
    across classes, so ``limit`` keeps the classes balanced."""
    _check_split(split)
    root = _data_dir(data_dir)
    if not (root / CIFAR10_CLASSES[0]).is_dir() and (root / "cifar10_dvs").is_dir():
        root = root / "cifar10_dvs"
    missing = [c for c in CIFAR10_CLASSES if not (root / c).is_dir()]
    if missing:
        raise AtsnnError(f"CIFAR10-DVS not found in {root}: expected class folders "
                         f"{', '.join(CIFAR10_CLASSES)} of .aedat files (missing {', '.join(missing)})")
    picked = []
    for label, c in enumerate(CIFAR10_CLASSES):
        files = sorted((root / c).glob("*.aedat"), key=_natural_key)
        if not files:
            raise AtsnnError(f"no .aedat files in {root / c}")
        n_test = int(round(len(files) * test_fraction))
        files = files[:n_test] if split == "test" else files[n_test:]
        picked += [(k, label, f) for k, f in enumerate(files)]
    picked.sort(key=lambda e: (e[0], e[1]))
    if limit is not None:
        picked = picked[:limit]
    y = np.array([label for _, label, _ in picked], np.int64)
    x = _frames_stack([f for _, _, f in picked], read_aedat2, time_steps, (128, 128), mode,
                      downsample)
    return x, y


# ---------------------------------------------------------------- digits

def load_digits(data_dir=None, split="test", test_fraction=0.2, seed=0):
    """scikit-learn's bundled 8x8 digits scaled 0..16 -> 0..255.

    Returns x uint8 [N, 1, 8, 8] and y int64 [N]; a fixed seeded split
    (``data_dir`` is ignored: the data ships with scikit-learn)."""
    _check_split(split)
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    x = np.round(d.images * (255 / 16)).astype(np.uint8).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    train, test = train_val_split(len(y), test_fraction, seed)
    idx = train if split == "train" else test
    return x[idx], y[idx]


# ---------------------------------------------------------------- dispatch

# name -> (loader, input kind, number of classes)
DATASETS = {
    "mnist": (load_mnist, "static", 10),
    "cifar10-subset": (load_cifar10_subset, "static", 10),
    "cifar10": (load_cifar10, "static", 10),
    "cifar100": (load_cifar100, "static", 100),
    "nmnist": (load_nmnist, "events", 10),
    "cifar10-dvs": (load_cifar10_dvs, "events", 10),
    "digits": (load_digits, "static", 10),
}

# name -> shape of one sample: [C, H, W] for a static image, [2, H, W] for one
# frame of an event recording (before any downsampling)
INPUT_SHAPES = {
    "mnist": (1, 28, 28), "cifar10-subset": (3, 32, 32), "cifar10": (3, 32, 32),
    "cifar100": (3, 32, 32), "nmnist": (2, 34, 34), "cifar10-dvs": (2, 128, 128),
    "digits": (1, 8, 8),
}


def load_dataset(name, split="test", data_dir=None, limit=None, **kw):
    """Load dataset ``name`` (a ``--dataset`` value) -> ``(x, y)``.

    Static datasets give x uint8 [N, C, H, W]; event datasets binary frames
    uint8 [N, T, 2, H, W] (keywords ``time_steps``, ``mode``, ``downsample``).
    ``limit`` keeps the first N samples; keywords given as None are ignored, so a
    command line can pass its optional flags through unchanged."""
    if name not in DATASETS:
        raise AtsnnError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    loader = DATASETS[name][0]
    params = inspect.signature(loader).parameters
    kw = {k: v for k, v in kw.items() if v is not None}
    bad = sorted(set(kw) - set(params) - {"limit"})
    if bad:
        takes = ", ".join(p for p in params if p not in ("data_dir", "split", "limit")) or "none"
        raise AtsnnError(f"dataset {name!r} does not take option(s) {', '.join(bad)} "
                         f"(its options: {takes})")
    if "limit" in params:
        return loader(data_dir, split, limit=limit, **kw)
    x, y = loader(data_dir, split, **kw)
    return (x, y) if limit is None else (x[:limit], y[:limit])
