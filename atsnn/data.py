"""Dataset loaders for atsnn (NumPy only, no torch, nothing downloaded).

Every loader returns ``(x, y)``: ``x`` uint8 (static images ``[N, C, H, W]``,
event frames ``[N, T, 2, H, W]`` with values in {0, 1}) and ``y`` int64 ``[N]``.
Bad or missing files raise :class:`atsnn.AtsnnError` naming the file and what
was expected. See docs/data.md.
"""

import gzip
import os
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
        except (OSError, EOFError) as e:
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
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
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


LOADERS = {
    "mnist": lambda split, data_dir, **kw: load_mnist(data_dir, split, **kw),
}

DATASETS = ("mnist", "cifar10-subset", "cifar10", "cifar100", "nmnist", "cifar10-dvs", "digits")


def load_dataset(name, split="test", data_dir=None, **kw):
    """Load dataset ``name`` (a ``--dataset`` value) -> ``(x, y)``."""
    if name not in DATASETS:
        raise AtsnnError(f"unknown dataset {name!r}: expected one of {', '.join(DATASETS)}")
    if name not in LOADERS:
        raise AtsnnError(f"dataset {name!r} is not implemented yet")
    return LOADERS[name](split, data_dir, **kw)
