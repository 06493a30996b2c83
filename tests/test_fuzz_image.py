"""Issue 16: a fuzz test of the model-image validator and the dataset readers.
Random mutations of shipped images (manifest fields, manifest bytes, npz bytes
and .npy headers, hardware widths) either load or raise AtsnnError with a
one-line message; mutated manifests and spoilt MNIST, N-MNIST and CIFAR-10 files give
`atsnn golden` a result or one line ``atsnn golden: error: ...`` with exit
status 2. Never another exception, a hang or a huge allocation. About 10 s in
the default tier."""

import copy
import io
import json
import resource
import shutil
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from atsnn import AtsnnError
from atsnn import model_image as gi

MODELS = ("mnist-tiny", "nmnist-small", "mnist-s2nn")
BASE = {name: json.loads((gi.BUILTIN_MODELS[name] / "manifest.json").read_text())
        for name in MODELS}
ARRAYS = {name: dict(np.load(gi.BUILTIN_MODELS[name] / "arrays.npz")) for name in MODELS}

FUZZ = settings(max_examples=100, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# Values a manifest field might be spoilt to: near the bounds, of the wrong type,
# names that mean something elsewhere in the format.
NAMES = sorted({n for a in ARRAYS.values() for n in a} | set(gi.LAYER_KINDS) | set(gi.EDGE_OPS)
               | set(gi.RESET_MODES) | set(gi.INPUT_KINDS) | set(gi.TOP_FIELDS)
               | set(gi.ANY_LAYER_FIELDS) | {"input", "conv1", "pool1", "fc1", "out",
                                              "frames", "frames:count", "frames:time",
                                              "frames:x", "atsnn-model-image", ""})
INTS = st.sampled_from([0, 1, -1, 2, 3, 4, 7, 8, 9, 14, 16, 28, 31, 32, 63, 64, 65, 255, 256,
                        257, 4096, 4097, 65536, 65537, 1 << 22, (1 << 22) + 1, 1 << 31,
                        1 << 63, 1 << 64, -(1 << 63), 10 ** 30]) | st.integers()
SCALARS = (st.none() | st.booleans() | INTS | st.sampled_from(NAMES) | st.text(max_size=6)
           | st.floats(allow_nan=True, allow_infinity=True))
VALUES = st.recursive(SCALARS, lambda kids: st.lists(kids, max_size=4)
                      | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=4), kids,
                                        max_size=3), max_leaves=8)


def _nodes(obj, path=()):
    """Every (path, node) of a JSON value."""
    yield path, obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield from _nodes(v, path + (k,))


def _mutate(data, m):
    """One random edit of a manifest in place: replace a node, delete one, add a
    key, or copy / drop a list entry."""
    nodes = list(_nodes(m))
    path, node = data.draw(st.sampled_from(nodes), label="node")
    op = data.draw(st.sampled_from(["replace", "delete", "add", "duplicate", "nudge"]), label="op")
    if not path:
        op = "add"
    parent = m
    for k in path[:-1]:
        parent = parent[k]
    key = path[-1] if path else None
    if op == "replace":
        parent[key] = data.draw(VALUES, label="value")
    elif op == "nudge" and isinstance(node, int) and not isinstance(node, bool):
        parent[key] = node + data.draw(st.sampled_from([-2, -1, 1, 2, 100, -100]), label="by")
    elif op == "delete":
        del parent[key]
    elif op == "add" and isinstance(node, dict):
        node[data.draw(st.sampled_from(NAMES), label="key")] = data.draw(VALUES, label="value")
    elif op == "duplicate" and isinstance(node, list) and node:
        i = data.draw(st.integers(0, len(node) - 1), label="index")
        node.insert(i, copy.deepcopy(node[i]))
    elif isinstance(node, list) and node:
        node.pop(data.draw(st.integers(0, len(node) - 1), label="index"))


def _loads_or_one_line_error(fn):
    try:
        fn()
    except AtsnnError as e:
        msg = str(e)
        assert msg and "\n" not in msg, repr(msg)
    # any other exception fails the test, with hypothesis's minimal example


@pytest.fixture(autouse=True)
def memory_bound():
    """An allocation the validator should have refused fails here (MemoryError, not
    an AtsnnError) instead of swapping: 4 GiB of address space on top of what is
    mapped now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        now = int(f.read().split()[0]) * resource.getpagesize()
    limit = now + (4 << 30)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@FUZZ
@given(data=st.data(), name=st.sampled_from(MODELS), edits=st.integers(1, 3))
def test_mutated_manifest_loads_or_is_one_line_error(data, name, edits):
    m = copy.deepcopy(BASE[name])
    for _ in range(edits):
        _mutate(data, m)
    _loads_or_one_line_error(lambda: gi.from_manifest(m, ARRAYS[name]))


@FUZZ
@given(mb=INTS, ab=INTS, name=st.sampled_from(MODELS))
def test_any_hardware_widths_load_or_are_one_line_error(mb, ab, name):
    _loads_or_one_line_error(lambda: gi.from_manifest(BASE[name], ARRAYS[name], mb, ab))


def _spoil_bytes(data, raw):
    """Flip, overwrite, cut or insert bytes."""
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="spoils")):
        op = data.draw(st.sampled_from(["flip", "set", "cut", "insert"]), label="op")
        i = data.draw(st.integers(0, max(len(raw) - 1, 0)), label="at")
        if op == "flip" and raw:
            raw[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        elif op == "set" and raw:
            raw[i] = data.draw(st.sampled_from(b"[]{}\",:0123456789-eE.\0\xff "), label="byte")
        elif op == "cut":
            del raw[i:]
        else:
            raw[i:i] = data.draw(st.binary(max_size=8), label="bytes")
    return bytes(raw)


@pytest.fixture(scope="module")
def image_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return {name: shutil.copytree(gi.BUILTIN_MODELS[name], root / name) for name in MODELS}


@FUZZ
@given(data=st.data(), name=st.sampled_from(MODELS))
def test_spoilt_manifest_bytes_load_or_are_one_line_error(image_dirs, data, name):
    path = image_dirs[name]
    text = (gi.BUILTIN_MODELS[name] / "manifest.json").read_bytes()
    (path / "manifest.json").write_bytes(_spoil_bytes(data, text))
    try:
        _loads_or_one_line_error(lambda: gi.load(path))
    finally:
        (path / "manifest.json").write_bytes(text)


def _header(shape, descr):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue()


@FUZZ
@given(data=st.data(), name=st.sampled_from(MODELS))
def test_spoilt_npz_loads_or_is_one_line_error(image_dirs, data, name):
    """Spoilt zip bytes, or one member replaced by a spoilt .npy (a header declaring
    another shape, dtype or a huge size, cut data)."""
    path = image_dirs[name] / "arrays.npz"
    src = gi.BUILTIN_MODELS[name] / "arrays.npz"
    if data.draw(st.booleans(), label="whole file"):
        path.write_bytes(_spoil_bytes(data, src.read_bytes()))
    else:
        with zipfile.ZipFile(src) as z:
            members = {n: z.read(n) for n in z.namelist()}
        member = data.draw(st.sampled_from(sorted(members)), label="member")
        shape = data.draw(st.lists(INTS.filter(lambda v: 0 <= v < 1 << 62), max_size=4),
                          label="shape")
        descr = data.draw(st.sampled_from(["<i8", "<i4", "|i1", "<f8", "|O", "<U4", "|b1",
                                           ">i2", "<c16"]), label="descr")
        body = _header(shape, descr) + members[member][data.draw(st.integers(0, 200),
                                                                 label="skip"):]
        if data.draw(st.booleans(), label="spoil the header bytes"):
            body = _spoil_bytes(data, body)
        members[member] = body
        with zipfile.ZipFile(path, "w") as z:
            for n, b in members.items():
                z.writestr(n, b)
    try:
        _loads_or_one_line_error(lambda: gi.load(image_dirs[name]))
    finally:
        shutil.copy(src, path)


def _one_run_or_one_line(capsys, command, argv):
    """`atsnn ...` gave a result (exit 0, JSON) or one line ``atsnn CMD: error:`` (exit 2)."""
    from atsnn.cli import main
    capsys.readouterr()
    rc = main(argv)
    out, err = capsys.readouterr()
    if rc == 0:
        return json.loads(out)
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith(f"atsnn {command}: error: "), (rc, err)
    return None


@settings(FUZZ, max_examples=60, deadline=None)   # the first example imports the CLI
@given(data=st.data(), name=st.sampled_from(MODELS), edits=st.integers(1, 3))
def test_mutated_image_through_atsnn_golden(image_dirs, capsys, data, name, edits):
    """A mutated manifest that loads also runs: `atsnn golden` gives a result or one
    line (exit 2), never a traceback from the engine, the counters or the energy
    estimate."""
    m = copy.deepcopy(BASE[name])
    for _ in range(edits):
        _mutate(data, m)
    path = image_dirs[name]
    text = (gi.BUILTIN_MODELS[name] / "manifest.json").read_bytes()
    (path / "manifest.json").write_text(json.dumps(m))
    dataset = "nmnist" if BASE[name]["input"]["kind"] == "events" else "mnist"
    try:
        out = _one_run_or_one_line(capsys, "golden", ["golden", "--model", str(path), "--dataset",
                                                      dataset, "--limit", "2", "--json"])
        assert out is None or out["images"] == 2
    finally:
        (path / "manifest.json").write_bytes(text)


# ---------------------------------------------------------------- dataset files

@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """Small copies of the shared test sets: 4 MNIST images (IDX, one file
    gzipped), 3 N-MNIST recordings with their list, 3 CIFAR-10 subset images."""
    import gzip
    from atsnn import data
    root = tmp_path_factory.mktemp("data")
    x, y = data.load_mnist(None, "test")
    idx = lambda a: bytes([0, 0, 8, a.ndim]) + np.array(a.shape, ">u4").tobytes() + a.tobytes()
    (root / "mnist").mkdir()
    (root / "mnist" / "t10k-images-idx3-ubyte").write_bytes(idx(x[:4, 0]))
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx(y[:4].astype(np.uint8))))
    listing = data._find_file(data._data_dir(None), "nmnist_small", ("test100.txt",), "")
    lines = [l for l in listing.read_text().splitlines() if l.strip() and not l.startswith("#")][:3]
    (root / "nmnist_small").mkdir()
    (root / "nmnist_small" / "test100.txt").write_text("\n".join(lines) + "\n")
    for line in lines:
        name = f"{line.split()[0]}.bs2"
        shutil.copy(listing.parent / name, root / "nmnist_small" / name)
    cx, cy = data.load_cifar10_subset(None, "test")
    (root / "cifar10_subset").mkdir()
    np.savez(root / "cifar10_subset" / "cifar10_subset.npz", x_test=cx[:3], y_test=cy[:3])
    return root


@settings(FUZZ, max_examples=60, deadline=None)   # the first example imports the CLI
@given(data=st.data(), which=st.sampled_from(["mnist", "nmnist", "cifar10-subset"]))
def test_spoilt_dataset_file_gives_a_result_or_one_line_error(datasets, capsys, data, which):
    """(No shipped model reads CIFAR-10: mnist-tiny on it is always refused, but only
    after the spoilt file is read.)"""
    from atsnn.cli import main
    folder = {"mnist": "mnist", "nmnist": "nmnist_small", "cifar10-subset": "cifar10_subset"}
    files = sorted((datasets / folder[which]).iterdir())
    path = data.draw(st.sampled_from(files), label="file")
    raw = path.read_bytes()
    path.write_bytes(_spoil_bytes(data, raw))
    try:
        capsys.readouterr()
        rc = main(["golden", "--model", "nmnist-mlp" if which == "nmnist" else "mnist-tiny",
                   "--dataset", which, "--data-dir", str(datasets), "--json"])
        out, err = capsys.readouterr()
        if rc == 0:
            assert json.loads(out)["images"] >= 1
        else:
            lines = err.strip().splitlines()
            assert rc == 2 and len(lines) == 1 and lines[0].startswith("atsnn golden: error: "), err
    finally:
        path.write_bytes(raw)
