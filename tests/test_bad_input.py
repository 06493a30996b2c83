"""Issue 16: bad input gets one line ``atsnn CMD: error: ...`` (exit status 2) naming
what is wrong and where; never a traceback, never a silent wrong answer."""

import copy
import io
import json
import shutil
import struct
import zipfile

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn import data
from atsnn import model_image as gi
from atsnn.cli import main
from atsnn.golden.engine import run


def one_line_error(capsys, command):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"atsnn {command}: error: "), err
    return err[0]


@pytest.fixture
def tiny(tmp_path):
    """A copy of the shipped mnist-tiny image, to spoil."""
    path = tmp_path / "tiny"
    shutil.copytree(gi.BUILTIN_MODELS["mnist-tiny"], path)
    return path


def manifest(path):
    return json.loads((path / "manifest.json").read_text())


def write_manifest(path, m):
    (path / "manifest.json").write_text(json.dumps(m))


def layer(m, name):
    return next(d for d in m["layers"] if d["name"] == name)


def npy_header(shape, descr="<i8"):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue()


def rewrite_npz(path, replace=None, add=None):
    """Rewrite an npz: members in `replace` get new bytes, `add` adds members."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members.update(replace or {})
    members.update(add or {})
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


# ---------------------------------------------------------------- 1. broken arrays.npz

@pytest.mark.parametrize("how", ["truncated", "empty"])
def test_broken_arrays_npz_is_one_line_naming_the_file(tiny, capsys, how):
    npz = tiny / "arrays.npz"
    npz.write_bytes(npz.read_bytes()[:len(npz.read_bytes()) // 2] if how == "truncated" else b"")
    assert main(["golden", "--model", str(tiny), "--limit", "5"]) == 2
    line = one_line_error(capsys, "golden")
    assert str(npz) in line and "cannot read arrays" in line


def test_broken_single_file_image(tmp_path, capsys):
    path = tmp_path / "one.npz"
    gi.save(gi.load_model("mnist-tiny"), path)
    path.write_bytes(path.read_bytes()[:1000])
    assert main(["golden", "--model", str(path), "--limit", "5"]) == 2
    assert str(path) in one_line_error(capsys, "golden")


# ---------------------------------------------------------------- 2. huge npz members

TIB = 1 << 40


def test_huge_member_the_manifest_does_not_name_is_not_read(tiny):
    rewrite_npz(tiny / "arrays.npz", add={"junk.npy": npy_header((TIB // 8,)) + b"\0" * 64})
    img = gi.load(tiny)
    assert img.name == gi.load_model("mnist-tiny").name


def test_huge_member_the_manifest_names_is_refused_before_allocating(tiny, capsys):
    rewrite_npz(tiny / "arrays.npz",
                replace={"conv1.w.npy": npy_header((TIB // 8,)) + b"\0" * 64})
    with pytest.raises(gi.ModelImageError, match=r"'conv1.w' has shape \[137438953472\], "
                                                 r"expected \[16, 1, 5, 5\]"):
        gi.load(tiny)
    assert main(["golden", "--model", str(tiny), "--limit", "5"]) == 2
    assert "conv1.w" in one_line_error(capsys, "golden")


def test_member_dtype_checked_from_its_header(tiny):
    rewrite_npz(tiny / "arrays.npz",
                replace={"conv1.w.npy": npy_header((16, 1, 5, 5), "|O") + b"\0" * 64})
    with pytest.raises(gi.ModelImageError, match=r"'conv1.w' has dtype object"):
        gi.load(tiny)


def test_member_shorter_than_its_header(tiny):
    rewrite_npz(tiny / "arrays.npz",
                replace={"conv1.w.npy": npy_header((16, 1, 5, 5), "|i1") + b"\0" * 10})
    with pytest.raises(gi.ModelImageError, match=r"conv1.w"):
        gi.load(tiny)


def test_single_file_image_still_round_trips(tmp_path):
    img = gi.load_model("mnist-tiny")
    gi.save(img, tmp_path / "one.npz")
    back = gi.load(tmp_path / "one.npz")
    assert gi.to_manifest(back)[0] == gi.to_manifest(img)[0]
    for la, lb in zip(img.layers, back.layers):
        for ea, eb in zip(la.inputs, lb.inputs):
            assert np.array_equal(ea.weight, eb.weight)


# ---------------------------------------------------------------- 3. deep JSON

def test_deeply_nested_manifest_is_one_line(tiny, capsys):
    (tiny / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    assert main(["golden", "--model", str(tiny), "--limit", "5"]) == 2
    line = one_line_error(capsys, "golden")
    assert "manifest.json" in line


def test_deeply_nested_manifest_in_single_file(tmp_path):
    text = "[" * 100_000 + "]" * 100_000
    np.savez(tmp_path / "one.npz", __manifest__=np.frombuffer(text.encode(), np.uint8))
    with pytest.raises(gi.ModelImageError, match="__manifest__"):
        gi.load(tmp_path / "one.npz")


# ---------------------------------------------------------------- 4. size bounds

@pytest.mark.parametrize("p", [32_754, 2_000])
@pytest.mark.parametrize("stride", [2, 64])
def test_huge_padding_refused_at_validation(tiny, p, stride):
    """With the layer shape the padding implies: refused for its shape (too large) or,
    where a large stride keeps the shape small, for the padding itself."""
    m = manifest(tiny)
    conv1 = layer(m, "conv1")
    conv1["inputs"][0].update(padding=p, stride=stride)
    size = (28 + 2 * p - 5) // stride + 1
    conv1["shape"] = [16, size, size]
    write_manifest(tiny, m)
    field = "padding" if size <= gi.MAX_SIZE and 16 * size * size <= gi.MAX_NEURONS else "shape"
    with pytest.raises(gi.ModelImageError, match=rf"^layer 'conv1'( edge 0)?: field '{field}'"):
        gi.load(tiny)


@pytest.mark.parametrize("path,value,field", [
    (("layers", 0, "inputs", 0, "kernel"), 65, "kernel"),
    (("layers", 0, "inputs", 0, "stride"), 65, "stride"),
    (("t_max",), 1000, "t_max"),
    (("input", "shape"), [1, 28, 100_000], "shape"),
    (("layers", 0, "shape"), [100_000, 14, 14], "shape"),
    (("layers", 2, "kernel"), 5000, "kernel"),
])
def test_declared_sizes_are_bounded(tiny, path, value, field):
    m = manifest(tiny)
    d = m
    for key in path[:-1]:
        d = d[key]
    d[path[-1]] = value
    if path == ("t_max",):
        m["tau"] = [None] * (value - 1)
    write_manifest(tiny, m)
    with pytest.raises(gi.ModelImageError, match=rf"field '{field}'.*(out of range|at most)"):
        gi.load(tiny)


def test_neurons_per_layer_bounded(tiny):
    m = manifest(tiny)
    m["input"]["shape"] = [4096, 1024, 1024]
    write_manifest(tiny, m)
    with pytest.raises(gi.ModelImageError, match=r"^input: field 'shape'.*at most"):
        gi.load(tiny)


def test_every_shipped_image_fits_the_bounds():
    for name in gi.BUILTIN_MODELS:
        gi.load_model(name)


@pytest.mark.parametrize("width", [1, pytest.param(4, marks=pytest.mark.slow)])
@pytest.mark.parametrize("preset", ["vgg16", "resnet19"])
def test_big_presets_fit_the_bounds(preset, width):
    torch = pytest.importorskip("torch")
    from atsnn.model import export, networks, train
    torch.manual_seed(0)
    net = train.quantized_copy(networks.preset(preset, width=width), 8)
    export.to_image(net, membrane_bits=gi.MAX_ACC_BITS, acc_bits=gi.MAX_ACC_BITS)


# ---------------------------------------------------------------- 5. empty batch

def test_engine_runs_an_empty_batch():
    for name, shape in (("mnist-tiny", (0, 1, 28, 28)), ("nmnist-small", (0, 4, 2, 34, 34))):
        img = gi.load_model(name)
        res = run(img, np.zeros(shape, np.uint8))
        assert res.pred.shape == (0,) and res.exit_t.shape == (0,) and res.cycles.shape == (0,)
        assert res.u.shape == (0, 10) and res.utilization == 0.0


def test_golden_limit_zero_is_no_images(capsys):
    assert main(["golden", "--model", "mnist-tiny", "--limit", "0"]) == 2
    assert "no images" in one_line_error(capsys, "golden")


def test_golden_on_an_empty_idx_file(tmp_path, capsys):
    for base, a in (("t10k-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8)),
                    ("t10k-labels-idx1-ubyte", np.zeros(0, np.uint8))):
        header = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
        (tmp_path / base).write_bytes(header)
    assert main(["golden", "--model", "mnist-tiny", "--data-dir", str(tmp_path)]) == 2
    line = one_line_error(capsys, "golden")
    assert "no images" in line


# ---------------------------------------------------------------- 6. limit / offset / images

@pytest.mark.parametrize("argv,needle", [
    (["golden", "--model", "mnist-tiny", "--limit", "-3"], "--limit"),
    (["golden", "--model", "mnist-tiny", "--limit", "10001"], "--limit"),
    (["sim", "--offset", "-5"], "--offset"),
    (["sim", "--images", "3", "--offset", "-2"], "--offset"),
    (["sim", "--images", "-1"], "--images"),
    (["sim", "--images", "5", "--offset", "9999"], "9999"),
])
def test_bad_counts_are_usage_errors_before_any_build(capsys, monkeypatch, argv, needle):
    from atsnn.tb import runner

    def no_build(*a, **k):
        raise AssertionError("built before checking the arguments")
    monkeypatch.setattr(runner, "run_testbench", no_build)
    assert main(argv) == 2
    assert needle in one_line_error(capsys, argv[0])


# ---------------------------------------------------------------- 7. unknown keys

@pytest.mark.parametrize("where,bad,good,prefix", [
    (("input",), "zero_pont", "zero_point", "input"),
    ((), "t_mx", "t_max", "manifest"),
    (("layers", 0), "thetta", "theta", "layer 'conv1'"),
    (("layers", 0, "inputs", 0), "paddng", "padding", "layer 'conv1' edge 0"),
    (("layers", 2), "kernal", "kernel", "layer 'pool1'"),
])
def test_unknown_manifest_key_names_the_nearest(tiny, where, bad, good, prefix):
    m = manifest(tiny)
    d = m
    for key in where:
        d = d[key]
    d[bad] = d.pop(good) if good in d else 1
    write_manifest(tiny, m)
    with pytest.raises(gi.ModelImageError) as e:
        gi.load(tiny)
    msg = str(e.value)
    assert msg.startswith(prefix + ":") and f"'{bad}'" in msg and f"did you mean '{good}'" in msg


def test_unknown_key_without_a_near_one(tiny):
    m = manifest(tiny)
    m["input"]["colour"] = "red"
    write_manifest(tiny, m)
    with pytest.raises(gi.ModelImageError, match=r"^input: unknown field 'colour' \(known:"):
        gi.load(tiny)


def test_key_of_another_layer_kind_is_refused(tiny):
    m = manifest(tiny)
    layer(m, "pool1")["leak_shift"] = 1
    write_manifest(tiny, m)
    with pytest.raises(gi.ModelImageError, match=r"^layer 'pool1': unknown field 'leak_shift'"):
        gi.load(tiny)


# ---------------------------------------------------------------- 8. widths

@pytest.mark.parametrize("mb,ab,field", [(64, 64, "membrane_bits"), (24, 64, "acc_bits"),
                                         (100, 100, "membrane_bits"), (24, 1 << 70, "acc_bits")])
def test_widths_the_engine_cannot_hold_are_refused(mb, ab, field):
    with pytest.raises(gi.ModelImageError, match=rf"{field}"):
        gi.load_model("mnist-tiny", membrane_bits=mb, acc_bits=ab)


def test_widest_engine_widths_load():
    gi.load_model("mnist-tiny", membrane_bits=gi.MAX_ACC_BITS, acc_bits=gi.MAX_ACC_BITS)


# ---------------------------------------------------------------- 9. numbers and labels

@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_scales_refused(tiny, value):
    text = (tiny / "manifest.json").read_text()
    m = manifest(tiny)
    m["input"]["scale"] = 12345.5
    write_manifest(tiny, m)
    text = (tiny / "manifest.json").read_text().replace("12345.5", value)
    (tiny / "manifest.json").write_text(text)
    with pytest.raises(gi.ModelImageError, match=r"^input: field 'scale' must be a finite"):
        gi.load(tiny)
    m = manifest(tiny)
    m["input"]["scale"] = 1.0
    layer(m, "conv1")["scale"] = float(value.replace("Infinity", "inf"))
    write_manifest(tiny, m)
    with pytest.raises(gi.ModelImageError, match=r"^layer 'conv1': field 'scale' must be a finite"):
        gi.load(tiny)


def cifar_subset(tmp_path, y):
    np.savez(tmp_path / "cifar10_subset.npz", x_test=np.zeros((2, 3, 32, 32), np.uint8), y_test=y)


def test_float_labels_refused_not_truncated(tmp_path):
    cifar_subset(tmp_path, np.array([0.5, 9.7]))
    with pytest.raises(AtsnnError, match=r"y_test.*integer"):
        data.load_cifar10_subset(tmp_path, "test")


def test_label_shape_named(tmp_path):
    cifar_subset(tmp_path, np.array([[1], [2]]))
    with pytest.raises(AtsnnError, match=r"y_test.*shape \[2, 1\]"):
        data.load_cifar10_subset(tmp_path, "test")


def test_float_labels_in_a_cifar_batch_refused(tmp_path):
    import pickle
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "labels": [0.5, 9.7]}))
    with pytest.raises(AtsnnError, match=r"'labels'.*integer"):
        data.read_cifar_batch(path)


def test_cifar_subset_member_declaring_a_huge_array_is_one_line(tmp_path, capsys):
    """np.load allocated what a .npy header declares (3 PiB: _ArrayMemoryError); the
    header is now checked and the data read only as far as it goes."""
    cifar_subset(tmp_path, np.zeros(2, np.int64))
    rewrite_npz(tmp_path / "cifar10_subset.npz",
                replace={"x_test.npy": npy_header((TIB * 1024, 3, 32, 32), "|u1") + b"\0" * 64})
    with pytest.raises(AtsnnError, match=r"x_test.*truncated"):
        data.load_cifar10_subset(tmp_path, "test")
    assert main(["golden", "--model", "mnist-tiny", "--dataset", "cifar10-subset",
                 "--data-dir", str(tmp_path), "--limit", "2"]) == 2
    assert "cifar10_subset.npz" in one_line_error(capsys, "golden")


@pytest.mark.parametrize("member,shape,descr,needle", [
    ("x_test.npy", (2, 1, 28, 28), "|u1", r"x_test must be uint8 \[N, 3, 32, 32\]"),
    ("x_test.npy", (2, 3, 32, 32), "<f8", r"x_test must be uint8"),
    ("y_test.npy", (TIB,), "<i8", r"x_test has 2 images but y_test declares"),
])
def test_cifar_subset_headers_checked_before_reading(tmp_path, member, shape, descr, needle):
    cifar_subset(tmp_path, np.zeros(2, np.int64))
    rewrite_npz(tmp_path / "cifar10_subset.npz", replace={member: npy_header(shape, descr)})
    with pytest.raises(AtsnnError, match=needle):
        data.load_cifar10_subset(tmp_path, "test")


def test_idx_shape_whose_size_wraps_int64(tmp_path):
    """65536**4 bytes is 0 in int64: an empty payload passed the size check and the
    reshape raised ValueError."""
    path = tmp_path / "images"
    path.write_bytes(bytes([0, 0, 8, 4]) + struct.pack(">4I", *[65536] * 4))
    with pytest.raises(AtsnnError, match=r"payload is 0 bytes, expected 18446744073709551616"):
        data.read_idx(path)


# ---------------------------------------------------------------- 10. lanes

@pytest.mark.parametrize("lanes", ["1", "3"])
def test_golden_lanes_the_hardware_refuses(capsys, lanes):
    assert main(["golden", "--model", "mnist-tiny", "--limit", "5", "--lanes", lanes]) == 2
    assert "power of two from 2 to 32" in one_line_error(capsys, "golden")


# ---------------------------------------------------------------- atsnn train arguments

@pytest.mark.parametrize("flags,needle", [
    (["--time-steps", "0"], "--time-steps"),
    (["--batch-size", "0"], "--batch-size"),
    (["--val-fraction", "0"], "--val-fraction"),
    (["--val-fraction", "1"], "--val-fraction"),
    (["--threads", "0"], "--threads"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--epochs", "0"], "--epochs"),
    (["--epochs", "-1"], "--epochs"),
    (["--epochs", "inf"], "--epochs"),
    (["--qat-epochs", "-0.5"], "--qat-epochs"),
    (["--limit-train", "0"], "--limit-train"),
    (["--width", "0"], "--width"),
    (["--gamma", "0"], "--gamma"),
    (["--gamma", "nan"], "--gamma"),
    (["--membrane-bits", "64", "--acc-bits", "64"], "--membrane-bits"),
])
def test_train_refuses_bad_arguments_up_front(capsys, monkeypatch, tmp_path, flags, needle):
    from atsnn.model import train

    def no_training(cfg):
        raise AssertionError("trained before checking the arguments")
    monkeypatch.setattr(train, "run", no_training)
    assert main(["train", *flags, "--out", str(tmp_path / "run")]) == 2
    assert needle in one_line_error(capsys, "train")


def test_train_gamma_reaches_the_loss_config(monkeypatch, tmp_path):
    from atsnn.model import train
    seen = {}
    monkeypatch.setattr(train, "run", lambda cfg: seen.update(cfg))
    main(["train", "--schedule", "decay", "--gamma", "0.5", "--out", str(tmp_path / "run")])
    assert (seen["schedule"], seen["gamma"]) == ("decay", 0.5)
    main(["train", "--out", str(tmp_path / "run2")])
    assert seen["gamma"] == train.DEFAULTS["gamma"]


def test_train_out_naming_a_file(capsys, monkeypatch, tmp_path):
    from atsnn.model import train
    monkeypatch.setattr(train, "run", lambda cfg: pytest.fail("trained"))
    (tmp_path / "file").write_text("x")
    assert main(["train", "--out", str(tmp_path / "file")]) == 2
    assert "not a directory" in one_line_error(capsys, "train")


@pytest.mark.parametrize("leftover", ["checkpoint.pt", "metrics.json", "image"])
def test_train_out_holding_a_run_is_not_overwritten(capsys, monkeypatch, tmp_path, leftover):
    from atsnn.model import train
    monkeypatch.setattr(train, "run", lambda cfg: pytest.fail("trained"))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / leftover).write_text("earlier run")
    assert main(["train", "--out", str(tmp_path / "run")]) == 2
    assert "already holds a run" in one_line_error(capsys, "train")
    assert (tmp_path / "run" / leftover).read_text() == "earlier run"


def test_train_into_an_empty_directory_is_allowed(monkeypatch, tmp_path):
    from atsnn.model import cli as model_cli, train
    ran = []
    monkeypatch.setattr(train, "run", lambda cfg: ran.append(cfg["out"]) or {})
    monkeypatch.setattr(model_cli, "summary", lambda m: "trained")
    (tmp_path / "run").mkdir()
    assert main(["train", "--out", str(tmp_path / "run")]) == 0
    assert ran == [str(tmp_path / "run")]


def test_train_lanes_the_hardware_refuses(capsys, monkeypatch, tmp_path):
    from atsnn.model import train
    monkeypatch.setattr(train, "run", lambda cfg: pytest.fail("trained"))
    for lanes in ("1", "3", "64", "0"):
        assert main(["train", "--lanes", lanes, "--out", str(tmp_path / "run")]) == 2
        assert "--lanes" in one_line_error(capsys, "train")


@pytest.mark.parametrize("preset,dataset,needle", [
    ("mnist-tiny", "nmnist", "event frames [2, 34, 34]"),
    ("nmnist-small", "mnist", "static images [1, 28, 28]"),
    ("mnist-tiny", "cifar10", "static images [3, 32, 32]"),
    ("mnist-tiny", "imagenet", "unknown dataset 'imagenet'"),
])
def test_train_preset_and_dataset_that_do_not_match(capsys, monkeypatch, tmp_path, preset,
                                                    dataset, needle):
    from atsnn.model import train
    monkeypatch.setattr(train, "run", lambda cfg: pytest.fail("trained"))
    assert main(["train", "--preset", preset, "--dataset", dataset,
                 "--out", str(tmp_path / "run")]) == 2
    line = one_line_error(capsys, "train")
    assert needle in line and (needle.startswith("unknown") or f"--preset {preset}" in line)


# ---------------------------------------------------------------- atsnn export

def write_checkpoint(path, preset="mnist-mlp", **kw):
    """A checkpoint like atsnn train writes, of an untrained network (export needs
    only its shape)."""
    import torch
    from atsnn.model import train
    cfg = train.config_with(preset=preset, **kw)
    net = train.build_net(cfg)
    quantized = not cfg["spiking_output"]
    if quantized:
        net = train.quantized_copy(net, cfg["weight_bits"])
    torch.save({"config": cfg, "classes": net.classes, "state_dict": net.state_dict(),
                "quantized": quantized, "tau": None}, path)
    return path


def test_export_writes_an_event_image_that_names_its_binning(tmp_path, capsys):
    ck = write_checkpoint(tmp_path / "checkpoint.pt", preset="nmnist-mlp")
    assert main(["export", str(ck), "--out", str(tmp_path / "img")]) == 0
    img = gi.load(tmp_path / "img")
    assert img.input.encoding == "frames:count" and gi.frame_mode(img.input) == "count"


@pytest.mark.parametrize("spoil", ["garbage", "truncated", "empty", "not-a-dict", "wrong-keys"])
def test_export_of_a_broken_checkpoint_is_one_line(tmp_path, capsys, spoil):
    import torch
    ck = write_checkpoint(tmp_path / "checkpoint.pt")
    raw = ck.read_bytes()
    if spoil == "garbage":
        ck.write_bytes(bytes(range(256)) * 40)
    elif spoil == "truncated":
        ck.write_bytes(raw[:len(raw) // 2])
    elif spoil == "empty":
        ck.write_bytes(b"")
    elif spoil == "not-a-dict":
        torch.save(torch.zeros(3), ck)
    else:
        state = torch.load(ck, weights_only=False)
        state["state_dict"] = {"nonsense": torch.zeros(1)}
        torch.save(state, ck)
    assert main(["export", str(ck), "--out", str(tmp_path / "img")]) == 2
    line = one_line_error(capsys, "export")
    assert str(ck) in line and "not a checkpoint written by atsnn train" in line
    assert not (tmp_path / "img").exists()


@pytest.mark.parametrize("existing", ["file", "npz", "image-dir"])
def test_export_out_naming_something_that_exists(tmp_path, capsys, existing):
    ck = write_checkpoint(tmp_path / "checkpoint.pt")
    out = tmp_path / {"file": "out", "npz": "out.npz", "image-dir": "img"}[existing]
    if existing == "image-dir":
        out.mkdir()
        (out / "manifest.json").write_text("{}")
    else:
        out.write_text("keep me")
    assert main(["export", str(ck), "--out", str(out)]) == 2
    assert "already exists" in one_line_error(capsys, "export")
    assert (out / "manifest.json" if existing == "image-dir" else out).read_text() in ("{}", "keep me")


def test_export_into_an_empty_directory(tmp_path, capsys):
    ck = write_checkpoint(tmp_path / "checkpoint.pt")
    (tmp_path / "img").mkdir()
    assert main(["export", str(ck), "--out", str(tmp_path / "img"),
                 "--membrane-bits", "40", "--acc-bits", "48"]) == 0
    gi.load(tmp_path / "img", membrane_bits=40, acc_bits=48)


def test_export_of_a_spiking_output_names_the_real_reason(tmp_path, capsys):
    ck = write_checkpoint(tmp_path / "checkpoint.pt", spiking_output=True)
    assert main(["export", str(ck), "--out", str(tmp_path / "img")]) == 2
    line = one_line_error(capsys, "export")
    assert "output layer spikes" in line and "batch norm" not in line


@pytest.mark.parametrize("flags", [["--membrane-bits", "64", "--acc-bits", "64"],
                                   ["--membrane-bits", "1"],
                                   ["--membrane-bits", "40", "--acc-bits", "32"]])
def test_export_widths_checked_before_reading_the_checkpoint(tmp_path, capsys, monkeypatch,
                                                             flags):
    from atsnn.model import train
    monkeypatch.setattr(train, "load_checkpoint", lambda p: pytest.fail("read the checkpoint"))
    ck = tmp_path / "checkpoint.pt"
    ck.write_bytes(b"x")
    assert main(["export", str(ck), "--out", str(tmp_path / "img"), *flags]) == 2
    assert "--membrane-bits" in one_line_error(capsys, "export")


# ---------------------------------------------------------------- event binning

def event_image(tmp_path, encoding):
    path = tmp_path / "ev"
    shutil.copytree(gi.BUILTIN_MODELS["nmnist-mlp"], path)
    m = manifest(path)
    m["input"]["encoding"] = encoding
    write_manifest(path, m)
    return path


def test_shipped_event_images_name_their_binning():
    for name in ("nmnist-small", "nmnist-mlp"):
        assert gi.frame_mode(gi.load_model(name).input) == "count"


def test_unknown_binning_refused_at_load(tmp_path):
    with pytest.raises(gi.ModelImageError, match=r"^input: field 'encoding' is 'frames:random'"):
        gi.load(event_image(tmp_path, "frames:random"))


@pytest.mark.parametrize("encoding", ["frames", "pixels"])
def test_event_image_that_does_not_say_its_binning_is_refused(tmp_path, capsys, encoding):
    """It used to be guessed as count binning (the time binning scores differently)."""
    path = event_image(tmp_path, encoding)
    assert main(["golden", "--model", str(path), "--dataset", "nmnist", "--limit", "2"]) == 2
    line = one_line_error(capsys, "golden")
    assert "'frames:count' or 'frames:time'" in line
    from atsnn.tb.cli import sim_inputs
    with pytest.raises(gi.ModelImageError, match="binned"):
        sim_inputs(gi.load(path), 2)


@pytest.mark.parametrize("mode", ["count", "time"])
def test_event_frames_follow_the_recorded_binning(tmp_path, monkeypatch, mode):
    from atsnn.tb.cli import sim_inputs
    asked = []
    real = data.events_to_frames
    monkeypatch.setattr(data, "events_to_frames",
                        lambda ev, t, shape, m: asked.append((t, m)) or real(ev, t, shape, m))
    img = gi.load(event_image(tmp_path, f"frames:{mode}"))
    x, _ = sim_inputs(img, 2)
    assert asked == [(img.t_max, mode)] * 2
    assert np.array_equal(x[0], real(data.read_nmnist(nmnist_files()[0]), img.t_max, (34, 34), mode))


def nmnist_files():
    listing = data._find_file(data._data_dir(None), "nmnist_small", ("test100.txt", "test.txt"), "")
    ids, _ = data._read_list(listing)
    return [listing.parent / f"{i}.bs2" for i in ids]


def test_golden_limit_converts_only_those_recordings(monkeypatch, capsys):
    read = []
    real = data.read_nmnist
    monkeypatch.setattr(data, "read_nmnist", lambda p: read.append(p) or real(p))
    assert main(["golden", "--model", "nmnist-small", "--dataset", "nmnist", "--limit", "3",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 3 and len(read) == 3


def test_golden_event_model_on_static_data_names_the_reason(capsys):
    assert main(["golden", "--model", "nmnist-small", "--dataset", "mnist", "--limit", "3"]) == 2
    line = one_line_error(capsys, "golden")
    assert "takes events input" in line and "'mnist' is static" in line


def test_golden_dataset_defaults_to_the_models_input_kind(capsys):
    """Without --dataset an event model runs on N-MNIST (it was refused: "dataset
    'mnist' is static", a dataset the user never named)."""
    assert main(["golden", "--model", "nmnist-small", "--limit", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "nmnist" and out["images"] == 2
    assert main(["golden", "--model", "mnist-mlp", "--limit", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dataset"] == "mnist"


def test_bias_field_says_an_integer_is_allowed(tiny):
    """bias and theta may be a plain integer: the error for a wrong type says so."""
    m = manifest(tiny)
    m["layers"][0]["bias"] = [1, 2]
    write_manifest(tiny, m)
    with pytest.raises(AtsnnError, match="field 'bias' must name an array or be an integer"):
        gi.load(tiny)
