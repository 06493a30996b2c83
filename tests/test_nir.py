"""NIR import and export (docs/nir.md): round trips of the shipped models, graphs
built with `nir` in the shapes snnTorch writes, the errors, and the CLI."""

import json

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from atsnn import AtsnnError
from atsnn.cli import main
from atsnn.data import load_dataset
from atsnn.golden.engine import run
from atsnn.interop import nir_export, nir_sim
from atsnn.interop.graph import read
from atsnn.interop.nir_import import import_graph
from atsnn.model_image import BUILTIN_MODELS, load_model

DT = 1e-4
RNG = np.random.default_rng(0)


def _data(image, n=200):
    if image.input.kind == "events":
        return load_dataset("nmnist", "test", time_steps=image.t_max)[0][:n]
    if tuple(image.input.shape) == (3, 32, 32):
        return load_dataset("cifar10-subset", "test")[0][:n]
    return load_dataset("mnist", "test")[0][:n]


def _chains():
    """Shipped models export-nir writes (chains: one edge per layer; a residual
    network such as resnet19-cifar10-w8 is refused, tested below)."""
    return sorted(n for n in set(BUILTIN_MODELS) - {"reference"}
                  if all(len(l.inputs) <= 1 for l in load_model(n).layers if l.kind != "maxpool"))


@pytest.mark.parametrize("convention", ["snntorch", "norse"])
@pytest.mark.parametrize("name", _chains())
def test_round_trip_gives_identical_golden_results(name, convention, tmp_path):
    image = load_model(name)
    nir_export.write(image, tmp_path / "g.nir", convention=convention)
    back, _ = import_graph(read(tmp_path / "g.nir"))
    assert [l.name for l in back.layers] == [l.name for l in image.layers]
    assert (back.t_max, back.tau) == (image.t_max, image.tau)
    x = _data(image)
    a, b = run(image, x), run(back, x)
    for field in ("pred", "exit_t", "u", "spikes", "cycles", "sops"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)


def test_a_residual_network_is_refused_by_name(tmp_path):
    from atsnn import AtsnnError
    with pytest.raises(AtsnnError, match="layer 'res1b': 2 edges .* writes chains only"):
        nir_export.write(load_model("resnet19-cifar10-w8"), tmp_path / "g.nir")


def test_foreign_view_of_an_export_keeps_the_network(tmp_path):
    """Without the atsnn metadata (what another tool writes back), an IF network
    with subtract reset still imports to the same predictions, exits and spikes."""
    image = load_model("reference")
    graph = nir_export.to_graph(image)
    for node in graph.nodes.values():
        node.metadata = {}
    graph.metadata = {}
    back, notes = import_graph(graph, t_max=image.t_max, reset="subtract",
                               input_scale=image.input.scale, tau=image.tau)
    x = _data(image, 100)
    a, b = run(image, x), run(back, x)
    np.testing.assert_array_equal(a.pred, b.pred)
    np.testing.assert_array_equal(a.exit_t, b.exit_t)
    np.testing.assert_array_equal(a.spikes, b.spikes)
    assert any("reset subtract" in n.text and not n.exact for n in notes)


# ---------------------------------------------------------------- graphs built with nir

def _grid(shape, scale=2.0 ** -4, lo=-8, hi=9):
    """Weights on a power-of-two grid, so an IF network imports exactly."""
    return RNG.integers(lo, hi, size=shape).astype(np.float64) * scale


def _if(shape, thr):
    return nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.full(shape, float(thr)),
                  v_reset=np.zeros(shape))


def _graph(nodes, in_shape):
    names = ["input"] + [str(i) for i in range(len(nodes))] + ["output"]
    d = {"input": nir.Input(input_type=np.array(in_shape))}
    d.update({str(i): n for i, n in enumerate(nodes)})
    d["output"] = nir.Output(output_type=np.array([10]))
    return nir.NIRGraph(nodes=d, edges=list(zip(names[:-1], names[1:])), type_check=False)


def _events(n, t, shape):
    return (RNG.random((n, t) + shape) < 0.3).astype(np.uint8)


def _assert_exact(graph, image, notes, x, scale_out):
    """Every note exact, and the golden output U equals the float simulation."""
    assert all(n.exact for n in notes), [n.text for n in notes if not n.exact]
    u = run(image, x, early_exit=False).u
    ref = nir_sim.scores(graph, x, image.t_max, input_kind=image.input.kind)
    np.testing.assert_allclose(u * scale_out, ref, rtol=0, atol=1e-9)


def test_mlp_of_if_neurons_is_exact():
    shape = (2, 6, 6)
    nodes = [nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0),
             nir.Affine(weight=_grid((32, 72)), bias=_grid(32)), _if((32,), 0.53),
             nir.Linear(weight=_grid((10, 32))), nir.I(r=np.full(10, 1 / DT))]
    graph = _graph(nodes, shape)
    image, notes = import_graph(graph, t_max=5, input_kind="events")
    x = _events(300, 5, shape)
    _assert_exact(graph, image, notes, x, image.output.scale)
    assert [l.kind for l in image.layers] == ["linear", "output"]


def test_flat_input_reads_the_given_shape_through_an_implicit_flatten():
    """A graph whose Input is flat (Norse's and Sinabs' MLPs have no Flatten node):
    --input-shape C,H,W of the same size gives an image on C, H, W samples, exact,
    and the float simulation reads the same samples flattened."""
    shape = (2, 6, 6)
    nodes = [nir.Affine(weight=_grid((32, 72)), bias=_grid(32)), _if((32,), 0.53),
             nir.Linear(weight=_grid((10, 32))), nir.I(r=np.full(10, 1 / DT))]
    graph = _graph(nodes, (72,))
    image, notes = import_graph(graph, t_max=5, input_kind="events", input_shape=shape)
    assert tuple(image.input.shape) == shape
    assert "flattened in C, H, W order" in notes[0].text and notes[0].exact
    x = _events(300, 5, shape)
    _assert_exact(graph, image, notes, x, image.output.scale)
    flat, _ = import_graph(graph, t_max=5, input_kind="events")
    np.testing.assert_array_equal(run(flat, x.reshape(300, 5, 72), early_exit=False).u,
                                  run(image, x, early_exit=False).u)
    with pytest.raises(AtsnnError, match="put a Flatten before it"):
        import_graph(graph, t_max=5, input_kind="events", input_shape=(2, 6, 5))


def test_spike_test_is_strictly_greater():
    """NIR spikes on v > thr: a membrane that reaches exactly thr stays silent."""
    nodes = [nir.Linear(weight=np.ones((1, 1))), _if((1,), 1.0),
             nir.Linear(weight=np.ones((2, 1)) * np.array([[1.0], [0.0]])),
             nir.I(r=np.full(2, 1 / DT))]
    graph = _graph(nodes, (1,))
    image, _ = import_graph(graph, t_max=2, input_kind="events")
    one = round(1 / image.layers[0].scale)            # 1.0 on the layer's integer grid
    assert int(image.layers[0].theta[0]) == one + 1    # V > 1  <=>  V >= 1 + 1 LSB
    x = np.array([[[1], [0]], [[1], [1]]], dtype=np.uint8)   # V reaches 1, then 2
    u = run(image, x, early_exit=False).u[:, 0] * image.output.scale
    np.testing.assert_array_equal(u, [0, 1])                 # one spike, in the second sample


def test_conv_with_pools_folded_is_exact():
    """Conv -> IF -> AvgPool -> Conv (pool on spikes), and Conv -> SumPool -> IF
    (pool on currents): both folded into the conv weights, exactly."""
    shape = (2, 8, 8)
    nodes = [nir.Conv2d(input_shape=(8, 8), weight=_grid((4, 2, 3, 3)), stride=1, padding=1,
                        dilation=1, groups=1, bias=_grid(4)), _if((4, 8, 8), 0.29),
             nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                           padding=np.array([0, 0])),
             nir.Conv2d(input_shape=(4, 4), weight=_grid((6, 4, 3, 3)), stride=1, padding=1,
                        dilation=1, groups=1, bias=_grid(6)),
             nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                           padding=np.array([0, 0])), _if((6, 2, 2), 0.61),
             nir.Flatten(input_type={"input": np.array([6, 2, 2])}, start_dim=0),
             nir.Affine(weight=_grid((10, 24)), bias=_grid(10)), nir.I(r=np.full(10, 1 / DT))]
    graph = _graph(nodes, shape)
    image, notes = import_graph(graph, t_max=4, input_kind="events")
    conv2 = image.layers[1]
    e = conv2.inputs[0]   # 3x3 on the pooled map = 6x6 stride 2 pad 2; then + (2-1)*2, stride x2
    assert (e.kernel, e.stride, e.padding) == (8, 4, 2)
    assert tuple(conv2.shape) == (6, 2, 2)
    _assert_exact(graph, image, notes, _events(200, 4, shape), image.output.scale)


def test_lif_static_input_is_approximate_and_close():
    """A random leaky network on pixels, snnTorch's convention (tau = dt/(1-beta),
    r = tau/dt): leak_shift 1 and 8-bit weights are reported as approximate, and
    the golden output tracks the float simulation (a random network has many
    near-ties, so its predictions agree less than a trained one's)."""
    rng = np.random.default_rng(0)
    tau = DT / (1 - 0.5)
    nodes = [nir.Flatten(input_type={"input": np.array([1, 28, 28])}, start_dim=0),
             nir.Affine(weight=rng.normal(0, 0.05, (64, 784)), bias=np.zeros(64)),
             nir.LIF(tau=np.full(64, tau), r=np.full(64, tau / DT), v_leak=np.zeros(64),
                     v_threshold=np.full(64, 0.3)),
             nir.Affine(weight=rng.normal(0, 0.3, (10, 64)), bias=np.zeros(10)),
             nir.I(r=np.full(10, 1 / DT))]
    graph = _graph(nodes, (1, 28, 28))
    image, notes = import_graph(graph, t_max=4, reset="subtract")
    assert image.layers[0].leak_shift == 1
    assert any("leak" in n.text and not n.exact for n in notes)
    assert any("weights 8 bits" in n.text and not n.exact for n in notes)
    x = load_dataset("mnist", "test")[0][:300]
    res = run(image, x, early_exit=False)
    ref = nir_sim.scores(graph, x, 4, reset="subtract")
    assert np.corrcoef((res.u * image.output.scale).ravel(), ref.ravel())[0, 1] > 0.98
    assert np.mean(res.pred == ref.argmax(1)) >= 0.85


def test_cubalif_reduces_when_tau_syn_is_dt():
    n = 16
    cuba = nir.CubaLIF(tau_syn=np.full(n, DT), tau_mem=np.full(n, 2 * DT), r=np.full(n, 2.0),
                       v_leak=np.zeros(n), v_threshold=np.full(n, 0.5), w_in=np.ones(n))
    nodes = [nir.Linear(weight=_grid((n, 20))), cuba, nir.Linear(weight=_grid((10, n))),
             nir.I(r=np.full(10, 1 / DT))]
    image, _ = import_graph(_graph(nodes, (20,)), t_max=3, input_kind="events")
    assert image.layers[0].leak_shift == 1


# ---------------------------------------------------------------- errors

def _one_layer(neuron, n=4):
    return _graph([nir.Linear(weight=_grid((n, 5))), neuron, nir.Linear(weight=_grid((10, n))),
                   nir.I(r=np.full(10, 1 / DT))], (5,))


@pytest.mark.parametrize("graph, words", [
    (_one_layer(nir.CubaLIF(tau_syn=np.full(4, 5e-3), tau_mem=np.full(4, 2e-4), r=np.ones(4),
                            v_leak=np.zeros(4), v_threshold=np.ones(4))),
     ["node '1'", "tau_syn", "dt"]),
    (_one_layer(nir.IF(r=np.full(4, 1 / DT), v_threshold=np.ones(4), v_reset=np.full(4, 0.2))),
     ["node '1'", "v_reset"]),
    (_one_layer(nir.LIF(tau=np.array([2e-4, 2e-4, 4e-4, 2e-4]), r=np.ones(4), v_leak=np.zeros(4),
                        v_threshold=np.ones(4))), ["node '1'", "one leak per layer"]),
    (_one_layer(nir.LIF(tau=np.full(4, 1e-5), r=np.ones(4), v_leak=np.zeros(4),
                        v_threshold=np.ones(4))), ["node '1'", "unstable", "--dt"]),
    (_graph([nir.Flatten(input_type={"input": np.array([2, 3, 3])}, start_dim=1),
             nir.Linear(weight=_grid((10, 18))), nir.I(r=np.ones(10))], (2, 3, 3)),
     ["node '0'", "start_dim=1"]),
    (_graph([nir.Linear(weight=_grid((4, 5))), nir.Delay(delay=np.ones(4)),
             nir.Linear(weight=_grid((10, 4))), nir.I(r=np.ones(10))], (5,)),
     ["node '1'", "Delay"]),
    (_graph([nir.Linear(weight=_grid((4, 5))), nir.Linear(weight=_grid((10, 4))),
             nir.I(r=np.ones(10))], (5,)), ["node '1'", "second weight node"]),
])
def test_unmappable_nodes_are_named(graph, words):
    with pytest.raises(AtsnnError) as e:
        import_graph(graph, t_max=2, input_kind="events")
    msg = str(e.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_branches_are_refused():
    g = _one_layer(_if((4,), 0.5))
    g.edges.append(("input", "2"))
    with pytest.raises(AtsnnError, match="only chains"):
        import_graph(g, t_max=2)


def test_t_max_is_required_for_foreign_graphs():
    with pytest.raises(AtsnnError, match="--t-max"):
        import_graph(_one_layer(_if((4,), 0.5)))


# ---------------------------------------------------------------- CLI

def test_cli_export_then_import_reports_agreement(tmp_path, capsys):
    assert main(["export-nir", "mnist-mlp", "--out", str(tmp_path / "m.nir")]) == 0
    assert main(["import-nir", str(tmp_path / "m.nir"), "--out", str(tmp_path / "img"),
                 "--dataset", "mnist", "--limit", "200", "--json"]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert s["layers"] == ["fc1", "out"] and s["images"] == 200
    assert s["golden_accuracy"] >= 0.9 and s["agreement"] >= 0.95
    assert load_model(str(tmp_path / "img")).layers[0].weight_bits == 6


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    assert main(["import-nir", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("atsnn import-nir: error:") and "bad.nir" in err and "\n" not in err
    assert main(["import-nir", str(tmp_path / "none.nir"), "--out", str(tmp_path / "x")]) == 2
    assert main(["export-nir", "no-such-model", "--out", str(tmp_path / "y.nir")]) == 2


def test_t_max_given_for_an_exported_graph_drops_its_exit_table(tmp_path):
    nir_export.write(load_model("mnist-tiny"), tmp_path / "g.nir")
    image, _ = import_graph(read(tmp_path / "g.nir"), t_max=2)
    assert (image.t_max, image.tau, image.input.encoding) == (2, [None], "pixels")


def test_a_membrane_too_narrow_for_any_weight_is_refused():
    image = load_model("mnist-mlp")
    with pytest.raises(AtsnnError, match="node 'fc1': every weight rounds to 0"):
        import_graph(nir_export.to_graph(image), membrane_bits=8)


def test_cli_writes_nothing_when_the_comparison_fails(tmp_path):
    nir_export.write(load_model("mnist-mlp"), tmp_path / "m.nir")
    assert main(["import-nir", str(tmp_path / "m.nir"), "--out", str(tmp_path / "img"),
                 "--dataset", "nmnist", "--limit", "5"]) == 2
    assert not (tmp_path / "img").exists()
