"""Model image: round trips, and every malformed case refused with a message that
names the field and the layer."""

import copy
import json

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn import model_image as gi


def base_image(t_max=3):
    rng = np.random.default_rng(1)
    layers = [
        gi.spiking_layer("conv1", "conv", [gi.conv_edge("input", rng.integers(-8, 8, (4, 1, 3, 3)), 1, 1)],
                         bias=rng.integers(-3, 3, 4), theta=20),
        gi.maxpool_layer("pool1", "conv1", 2),
        gi.spiking_layer("fc1", "linear", [gi.linear_edge("pool1", rng.integers(-8, 8, (4, 36)))],
                         bias=1, theta=[3, 4, 5, 6], leak_shift=1, reset="zero"),
        gi.output_layer("out", [gi.linear_edge("fc1", rng.integers(-8, 8, (3, 4))),
                                gi.linear_edge("pool1", rng.integers(-8, 8, (3, 36)))], bias=[1, 0, -1]),
    ]
    return gi.build("base", gi.Input("static", (1, 6, 6), 8), layers, t_max, [5, None][:t_max - 1])


def base():
    m, a = gi.to_manifest(base_image())
    return copy.deepcopy(m), dict(a)


def layer(m, name):
    return next(d for d in m["layers"] if d["name"] == name)


def test_build_save_load_round_trip(tmp_path):
    img = base_image()
    for path in (tmp_path / "dir", tmp_path / "one.npz"):
        gi.save(img, path)
        back = gi.load(path)
        assert gi.to_manifest(back)[0] == gi.to_manifest(img)[0]
        for la, lb in zip(img.layers, back.layers):
            for ea, eb in zip(la.inputs, lb.inputs):
                assert np.array_equal(ea.weight, eb.weight)
            assert np.array_equal(la.bias, lb.bias) if la.bias is not None else lb.bias is None
    assert json.loads((tmp_path / "dir" / "manifest.json").read_text())["tau"] == [5, None]
    assert img.layer("fc1").theta.tolist() == [3, 4, 5, 6]
    assert img.layer("conv1").theta.tolist() == [20] * 4
    assert img.layer("pool1").shape == (4, 3, 3)


def test_scalar_bias_and_theta_in_manifest():
    m, a = base()
    layer(m, "fc1")["theta"] = 7
    layer(m, "fc1")["bias"] = -2
    img = gi.from_manifest(m, a)
    assert img.layer("fc1").theta.tolist() == [7] * 4 and img.layer("fc1").bias.tolist() == [-2] * 4


def test_layer_bound_bits_formula():
    img = base_image()
    w = img.layer("conv1").inputs[0].weight
    bits = gi.layer_bound_bits(img)
    imax = max(int(np.abs(w[c]).sum()) * 255 + abs(int(img.layer("conv1").bias[c])) for c in range(4))
    assert bits["conv1"] == (4 * imax).bit_length() + 1
    assert set(bits) == {"conv1", "fc1", "out"}


def walk(m, path):
    """The dict holding path[-1]; inside "layers" a string picks a layer by name."""
    d = m
    for key in path[:-1]:
        d = layer(m, key) if isinstance(d, list) and isinstance(key, str) else d[key]
    return d


def set_(path, value):
    def f(m, a):
        walk(m, path)[path[-1]] = value
    return f


def delete(path):
    def f(m, a):
        del walk(m, path)[path[-1]]
    return f


def arr(name, value):
    def f(m, a):
        a[name] = np.asarray(value)
    return f


CASES = [
    ("format", delete(("format",)), r"^manifest: missing field 'format'"),
    ("format-value", set_(("format",), "onnx"), r"^manifest: field 'format' is 'onnx'"),
    ("version", set_(("version",), 2), r"^manifest: field 'version' = 2 is not supported"),
    ("t_max-type", set_(("t_max",), "3"), r"^manifest: field 't_max' must be an integer"),
    ("t_max-bool", set_(("t_max",), True), r"^manifest: field 't_max' must be an integer"),
    ("tau-length", set_(("tau",), [1]), r"^manifest: field 'tau' has 1 entries, expected t_max - 1 = 2"),
    ("tau-entry", set_(("tau",), [1.5, None]), r"^manifest: field 'tau' entry 0 must be an integer or null"),
    ("classes-few", set_(("classes",), ["a"]), r"^manifest: field 'classes' must be a list of at least 2"),
    ("classes-count", set_(("classes",), ["a", "b"]), r"^layer 'out': output size 3 differs .* 'classes'"),
    ("layers-empty", set_(("layers",), []), r"^manifest: field 'layers' is empty"),
    ("input-kind", set_(("input", "kind"), "video"), r"^input: field 'kind' is 'video'"),
    ("input-bits", set_(("input", "bits"), 17), r"^input: field 'bits' = 17 out of range 1\.\.16"),
    ("input-zero-point", set_(("input", "zero_point"), 256), r"^input: field 'zero_point' = 256 out of range"),
    ("input-shape", set_(("input", "shape"), [1, 0, 6]), r"^input: field 'shape' must be"),
    ("events-bits", lambda m, a: m["input"].update(kind="events", bits=8),
     r"^input: field 'bits' = 8, but events input must have bits = 1"),
    ("layer-name-missing", delete(("layers", 2, "name")), r"^layer 2: missing field 'name'"),
    ("layer-kind", set_(("layers", "fc1", "kind"), "dense"), r"^layer 'fc1': field 'kind' is 'dense'"),
    ("duplicate-name", set_(("layers", "fc1", "name"), "conv1"), r"^layer 'conv1': field 'name' must be unique"),
    ("input-name", set_(("layers", "conv1", "name"), "input"), r"^layer 'input': field 'name' must be unique and not 'input'"),
    ("output-not-last", lambda m, a: m["layers"].insert(0, dict(layer(m, "out"))),
     r"^layer 'out': an 'output' layer must be the last"),
    ("last-not-output", lambda m, a: m["layers"].pop(), r"^layer 'fc1': the last layer must be the 'output'"),
    ("weight-bits-missing", delete(("layers", "fc1", "weight_bits")), r"^layer 'fc1': missing field 'weight_bits'"),
    ("weight-bits-range", set_(("layers", "fc1", "weight_bits"), 9), r"^layer 'fc1': field 'weight_bits' = 9 out of range 2\.\.8"),
    ("reset", set_(("layers", "fc1", "reset"), "hard"), r"^layer 'fc1': field 'reset' is 'hard', expected one of subtract, zero"),
    ("leak", set_(("layers", "fc1", "leak_shift"), 40), r"^layer 'fc1': field 'leak_shift' = 40 out of range 0\.\.31"),
    ("theta-missing", delete(("layers", "fc1", "theta")), r"^layer 'fc1': missing field 'theta'"),
    ("theta-zero", arr("fc1.theta", np.array([3, 4, 0, 6], np.int8)), r"^layer 'fc1': field 'theta' entry 2 = 0, must be > 0"),
    ("theta-on-output", set_(("layers", "out", "theta"), 5), r"^layer 'out': field 'theta' is not allowed"),
    ("shape", set_(("layers", "fc1", "shape"), [4, 1]), r"^layer 'fc1': field 'shape' must be 1 positive integers"),
    ("edges-empty", set_(("layers", "fc1", "inputs"), []), r"^layer 'fc1': field 'inputs' is empty"),
    ("edge-op", lambda m, a: layer(m, "fc1")["inputs"][0].update(op="matmul"),
     r"^layer 'fc1' edge 0: field 'op' is 'matmul', expected one of conv, linear"),
    ("edge-op-kind", lambda m, a: layer(m, "fc1")["inputs"][0].update(op="conv", kernel=1, stride=1, padding=0),
     r"^layer 'fc1' edge 0: field 'op' is 'conv', but a linear layer's edges must all be 'linear'"),
    ("edge-source-later", lambda m, a: layer(m, "fc1")["inputs"][0].update(source="out"),
     r"^layer 'fc1' edge 0: field 'source' = 'out' is not 'input' or an earlier layer"),
    ("edge-source-pooled", lambda m, a: layer(m, "fc1")["inputs"][0].update(source="conv1"),
     r"^layer 'fc1' edge 0: field 'source' = 'conv1' is pooled"),
    ("static-input-twice", lambda m, a: layer(m, "fc1")["inputs"][0].update(source="input"),
     r"^layer 'fc1' edge 0: the static input may only feed the first layer"),
    ("edge-kernel-missing", lambda m, a: layer(m, "conv1")["inputs"][0].pop("kernel"),
     r"^layer 'conv1' edge 0: missing field 'kernel'"),
    ("conv-size", lambda m, a: layer(m, "conv1")["inputs"][0].update(padding=0),
     r"^layer 'conv1' edge 0: output size .* = 4x4 .* does not match the layer shape \[4, 6, 6\]"),
    ("array-missing", set_(("layers", "fc1", "bias"), "nope"),
     r"^layer 'fc1': field 'bias': array 'nope' not found"),
    ("array-name-type", set_(("layers", "fc1", "bias"), 1.5), r"^layer 'fc1': field 'bias' must name an array"),
    ("array-float", arr("fc1.w", np.zeros((4, 36), np.float32)),
     r"^layer 'fc1' edge 0: field 'weight': array 'fc1.w' has dtype float32, expected an integer"),
    ("array-shape", arr("fc1.b", np.zeros(3, np.int32)),
     r"^layer 'fc1': field 'bias': array 'fc1.b' has shape \[3\], expected \[4\]"),
    ("weight-range", arr("fc1.w", np.full((4, 36), 200, np.int16)),
     r"^layer 'fc1' edge 0: field 'weight': values 200\.\.200 do not fit weight_bits = 8"),
    ("maxpool-source", set_(("layers", "pool1", "source"), "fc1"),
     r"^layer 'pool1': field 'source' = 'fc1' is not an earlier layer"),
    ("maxpool-kernel", set_(("layers", "pool1", "kernel"), 4), r"^layer 'pool1': field 'kernel' = 4 does not divide"),
    ("maxpool-shape", set_(("layers", "pool1", "shape"), [4, 2, 2]), r"^layer 'pool1': field 'shape' is \[4, 2, 2\], expected \[4, 3, 3\]"),
]


@pytest.mark.parametrize("mutate,pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_image_is_refused_naming_field_and_layer(mutate, pattern):
    m, a = base()
    mutate(m, a)
    with pytest.raises(gi.ModelImageError, match=pattern):
        gi.from_manifest(m, a)


def test_membrane_bound_refused_with_bits_needed():
    need = gi.layer_bound_bits(base_image())
    m, a = base()
    with pytest.raises(gi.ModelImageError, match=rf"^layer 'conv1': needs {need['conv1']} bits .* "
                                            rf"T_max = 3 timesteps, but membrane_bits = {need['conv1'] - 1}"):
        gi.from_manifest(m, a, membrane_bits=need["conv1"] - 1, acc_bits=40)
    gi.from_manifest(m, a, membrane_bits=need["conv1"], acc_bits=40)
    a["conv1.w"] = np.ones((4, 1, 3, 3), np.int8)
    a["out.w"] = np.full((3, 4), 127, np.int8)
    a["out.w1"] = np.full((3, 36), 127, np.int8)
    need = gi.layer_bound_bits(gi.from_manifest(m, a, 40, 40))
    assert need["out"] > max(need["conv1"], need["fc1"])
    with pytest.raises(gi.ModelImageError, match=rf"^layer 'out': needs {need['out']} bits .* acc_bits = {need['out'] - 1}"):
        gi.from_manifest(m, a, membrane_bits=need["out"] - 1, acc_bits=need["out"] - 1)
    with pytest.raises(gi.ModelImageError, match="membrane_bits <= acc_bits"):
        gi.from_manifest(m, a, membrane_bits=24, acc_bits=16)


def test_theta_must_fit_membrane_bits():
    m, a = base()
    a["fc1.theta"] = np.array([3, 4, 5, 1 << 20], np.int32)
    with pytest.raises(gi.ModelImageError, match=r"^layer 'fc1': field 'theta' max 1048576 does not fit membrane_bits = 20"):
        gi.from_manifest(m, a, membrane_bits=20)


def test_events_input_may_not_feed_output():
    m, a = base()
    m["input"].update(kind="events", bits=1)
    layer(m, "out")["inputs"][1] = {"source": "input", "op": "linear", "weight": "out.w1"}
    with pytest.raises(gi.ModelImageError, match=r"^layer 'out' edge 1: an events input may only feed spiking layers"):
        gi.from_manifest(m, a)


def test_file_errors(tmp_path):
    with pytest.raises(gi.ModelImageError, match="model image not found"):
        gi.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(gi.ModelImageError, match="no manifest.json"):
        gi.load(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(gi.ModelImageError, match="cannot read manifest JSON"):
        gi.load(tmp_path / "bad")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(gi.ModelImageError, match="no __manifest__ array"):
        gi.load(tmp_path / "plain.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(gi.ModelImageError, match="cannot read arrays"):
        gi.load(tmp_path / "junk.npz")
    assert issubclass(gi.ModelImageError, AtsnnError)


def test_resolve_model():
    assert gi.resolve_model("reference") == gi.MODELS_DIR / "mnist-ref"
    with pytest.raises(gi.ModelImageError, match="neither a built-in model"):
        gi.resolve_model("no/such/model")


def test_an_unbuilt_paper_model_names_the_command_that_builds_it(tmp_path, monkeypatch):
    """``vgg16-cifar10`` is not shipped: before ``make paper-models`` its name gives
    a one-line error naming the command and the cache, and ``atsnn sim`` exits 2."""
    from atsnn.cli import main
    monkeypatch.setenv("ATSNN_MODEL_CACHE", str(tmp_path / "cache"))
    with pytest.raises(gi.ModelImageError,
                       match=r"model 'vgg16-cifar10' is not built: run `make paper-models`"):
        gi.resolve_model("vgg16-cifar10")
    assert main(["golden", "--model", "resnet19-cifar10", "--dataset", "cifar10-subset"]) == 2
