"""Training package: neurons, surrogates, loss, networks, quantization, exits, and
exact agreement of the fake-quantized torch model with the golden model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from atsnn import AtsnnError
from atsnn import model_image as gi
from atsnn.golden import run as golden_run
from atsnn.model import exits, export, loss, networks, quant, surrogate, train
from atsnn.model.neurons import LIF, integrate, leak

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED / "mnist").is_dir(), reason="shared data not present")

torch.set_num_threads(2)


# ---------------------------------------------------------------- surrogates

@pytest.mark.parametrize("name", sorted(surrogate.SURROGATES))
def test_surrogate_forward_is_heaviside_at_or_above_zero(name):
    x = torch.tensor([-1.0, -1e-6, 0.0, 1e-6, 2.0])
    s = surrogate.get(name)(x)
    assert s.tolist() == [0, 0, 1, 1, 1]


def test_s2nn_surrogate_gradient_matches_its_formula():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0], requires_grad=True)
    surrogate.S2NN()(x).sum().backward()
    sig = torch.sigmoid(4 * x.detach())
    want = torch.where(x.detach() < 0, 4 * sig * (1 - sig), 1 / (x.detach() + 1))
    torch.testing.assert_close(x.grad, want)
    assert x.grad[2] == 1.0 and x.grad[4] == 0.25


def test_sigmoid_surrogate_gradient_is_derivative_of_sigmoid():
    x = torch.linspace(-3, 3, 13, requires_grad=True)
    surrogate.Sigmoid(alpha=4)(x).sum().backward()
    y = torch.linspace(-3, 3, 13, requires_grad=True)
    torch.sigmoid(4 * y).sum().backward()
    torch.testing.assert_close(x.grad, y.grad)


def test_ste_surrogate_passes_the_gradient_unchanged():
    x = torch.tensor([-50.0, -1.0, 0.0, 0.3, 7.0], requires_grad=True)
    (surrogate.get("ste")(x) * torch.arange(1.0, 6.0)).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_unknown_surrogate_is_refused():
    with pytest.raises(AtsnnError, match="unknown surrogate"):
        surrogate.get("relu")


# ---------------------------------------------------------------- neurons

def lif_reference(currents, theta, k, reset):
    """Integer LIF of the contract, Python ints."""
    v, out = 0, []
    for i in currents:
        v = (v - (v >> k) if k else v) + i
        s = int(v >= theta)
        v = v - theta * s if reset == "subtract" else v * (1 - s)
        out.append(s)
    return out


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("k", [0, 1, 3])
def test_lif_with_scale_is_the_integer_contract(reset, k):
    rng = np.random.default_rng(k)
    scale = 2.0**-5
    currents = rng.integers(-40, 60, size=(12, 50))
    theta = 37
    lif = LIF(leak_shift=k, reset=reset)
    spikes = lif(torch.tensor(currents * scale, dtype=torch.float64)[:, :, None],
                 torch.tensor(theta * scale, dtype=torch.float64), scale)[:, :, 0]
    for n in range(50):
        assert spikes[:, n].tolist() == lif_reference(currents[:, n].tolist(), theta, k, reset)


def lif_autograd(lif, current, theta):
    """The LIF step by step through autograd: what the hand-written backward must equal."""
    v, out = torch.zeros_like(current[0]), []
    for i in current:
        v_pre = leak(v, lif.leak_shift) + i
        s = lif.surrogate(v_pre - theta)
        v = v_pre - theta * s if lif.reset == "subtract" else v_pre * (1 - s)
        out.append(s)
    return torch.stack(out)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("sg", ["sigmoid", "triangular"])
def test_lif_backward_equals_step_by_step_autograd(reset, k, sg):
    torch.manual_seed(k)
    current = torch.randn(5, 7, 3, dtype=torch.float64, requires_grad=True)
    theta = torch.tensor(0.7, dtype=torch.float64)
    w = torch.randn(5, 7, 3, dtype=torch.float64)
    lif = LIF(leak_shift=k, reset=reset, surrogate=sg)
    want = lif_autograd(lif, current, theta)
    (want * w).sum().backward()
    grad_want, current.grad = current.grad, None
    got = lif(current, theta)
    (got * w).sum().backward()
    assert torch.equal(got, want) and 0 < want.sum() < want.numel()
    torch.testing.assert_close(current.grad, grad_want, rtol=1e-12, atol=1e-12)


def test_leak_floor_on_negative_values():
    s = 0.25
    v = torch.tensor([-3 * s, 3 * s, -1 * s], dtype=torch.float64)
    # -3 - (-3 >> 1) = -3 - (-2) = -1;  3 - 1 = 2;  -1 - (-1) = 0
    assert (leak(v, 1, s) / s).tolist() == [-1, 2, 0]
    assert leak(v, 0, s).tolist() == v.tolist()


def test_lif_spikes_on_equality_and_output_integrates():
    lif = LIF(leak_shift=0)
    s = lif(torch.tensor([[1.0], [0.5], [0.5]]), torch.tensor(1.0))
    assert s[:, 0].tolist() == [1, 0, 1]
    assert integrate(torch.tensor([[1.0], [2.0], [-1.0]]))[:, 0].tolist() == [1, 3, 2]


def test_lif_refuses_bad_parameters():
    with pytest.raises(AtsnnError, match="leak_shift"):
        LIF(leak_shift=40)
    with pytest.raises(AtsnnError, match="reset"):
        LIF(reset="soft")


# ---------------------------------------------------------------- loss

def test_loss_schedules():
    assert loss.weights(4, "uniform").tolist() == [0.25] * 4
    assert loss.weights(4, "final").tolist() == [0, 0, 0, 1]
    d = loss.weights(4, "decay", 0.5)
    assert torch.isclose(d.sum(), torch.tensor(1.0)) and (d[:-1] > d[1:]).all()
    with pytest.raises(AtsnnError, match="schedule"):
        loss.weights(4, "cosine")


def test_time_dependent_loss_uses_normalized_accumulated_output():
    out = torch.randn(3, 5, 10)
    y = torch.randint(0, 10, (5,))
    ce = torch.nn.functional.cross_entropy
    final = loss.time_dependent(out, y, "final")
    torch.testing.assert_close(final, ce(out.sum(0) / 3, y))
    uni = loss.time_dependent(out, y, "uniform")
    want = sum(ce(out[:t + 1].sum(0) / (t + 1), y) for t in range(3)) / 3
    torch.testing.assert_close(uni, want)
    per_step = loss.time_dependent(out, y, "final", accumulate=False)
    torch.testing.assert_close(per_step, ce(out[-1], y))


# ---------------------------------------------------------------- networks

@pytest.mark.parametrize("name", ["mnist-tiny", "cifar-small", "cifar10", "nmnist-small",
                                  "digits-tiny"])
def test_presets_run_a_forward_pass(name):
    net = networks.preset(name, t_max=3)
    x = torch.rand(2, *net.input_shape)
    if net.input_kind == "events":
        x = (torch.rand(3, 2, *net.input_shape) < 0.1).float()
    out = net(x)
    assert out.shape == (3, 2, 10)
    for layer in net.weighted_layers():
        assert layer.shape[0] % 16 == 0 or layer.kind == "output"


@pytest.mark.parametrize("name,width", [("vgg16", 0.25), ("resnet19", 0.125)])
def test_paper_networks_build_and_run(name, width):
    net = networks.preset(name, width=width, t_max=2)
    out = net(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 2, 10)
    n_weighted = len(net.weighted_layers())
    assert n_weighted == (15 if name == "vgg16" else 19)


def test_full_width_paper_networks_have_paper_channel_counts():
    vgg = networks.preset("vgg16")
    assert [m.shape[0] for m in vgg.weighted_layers()][:13] == [64, 64, 128, 128, 256, 256, 256,
                                                                512, 512, 512, 512, 512, 512]
    res = networks.preset("resnet19")
    assert max(m.shape[0] for m in res.weighted_layers()) == 512


def test_residual_block_adds_shortcut_into_the_same_membrane():
    net = networks.build("r", [("conv", 16), ("res", 16, 1), ("res", 32, 2), ("out",)],
                         (1, 8, 8), list("ab"))
    b1 = net.layers[2]
    assert b1.name == "res1b" and [e.source for e in b1.edges] == ["res1a", "conv1"]
    torch.testing.assert_close(b1.edges[1].op.weight[:, :, 0, 0], torch.eye(16))
    assert not b1.edges[1].op.weight.requires_grad
    b2 = net.layers[4]
    assert b2.edges[1].op.stride == (2, 2) and b2.shape == (32, 4, 4)


@pytest.mark.parametrize("name,width", [("mnist-tiny", 1.0), ("digits-tiny", 1.0),
                                        ("nmnist-small", 1.0), ("cifar-small", 0.5)])
def test_small_presets_fit_the_accelerator(name, width):
    from atsnn.rtl.compiler import HwConfig, plan

    net = quant.enable(quant.fold_bn(networks.preset(name, width=width)))
    assert plan(export.to_image(net), HwConfig()).weight_words <= HwConfig().weight_depth


def test_builder_refuses_what_does_not_fit():
    with pytest.raises(AtsnnError, match="not divisible"):
        networks.build("bad", [("conv", 16), ("pool", 3), ("out",)], (1, 8, 8), list("ab"))
    with pytest.raises(AtsnnError, match="output"):
        networks.build("bad", [("conv", 16)], (1, 8, 8), list("ab"))
    with pytest.raises(AtsnnError, match="unknown preset"):
        networks.preset("alexnet")


# ---------------------------------------------------------------- quantization

def random_bn(net, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net.weighted_layers():
            for e in layer.edges:
                if e.bn is not None:
                    n = e.bn.num_features
                    e.bn.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                    e.bn.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                    e.bn.weight.copy_(torch.rand(n, generator=g) + 0.5)
                    e.bn.bias.copy_(torch.randn(n, generator=g) * 0.2)
    return net


def test_fold_bn_keeps_eval_outputs():
    net = random_bn(networks.preset("digits-tiny", t_max=3)).eval()
    x = torch.rand(8, 1, 8, 8)
    with torch.no_grad():
        before = net(x)
        net.recorded = None
        quant.fold_bn(net)
        after = net(x)
    assert all(e.bn is None for m in net.weighted_layers() for e in m.edges)
    torch.testing.assert_close(before, after, atol=1e-4, rtol=1e-4)


def test_po2_scale():
    assert quant.po2_scale(1.0, 8) == 2.0**-6
    assert quant.po2_scale(127 / 64, 8) == 2.0**-6
    assert quant.po2_scale(127 / 64 + 1e-9, 8) == 2.0**-5
    assert quant.po2_scale(0.0, 8) == 1.0
    with pytest.raises(AtsnnError, match="weight_bits"):
        quant.po2_scale(1.0, 9)


# ---------------------------------------------------------------- exact agreement

AGREEMENT_NETS = {
    "leaky-subtract": dict(spec=[("conv", 16), ("pool", 2), ("fc", 32), ("out",)],
                           leak_shift=1, reset="subtract"),
    "if-zero-4bit": dict(spec=[("conv", 16, 3, 2, 1), ("fc", 16), ("out",)], leak_shift=0,
                         reset="zero", weight_bits=4),
    "residual": dict(spec=[("conv", 16), ("res", 16, 1), ("res", 32, 2), ("pool", 2), ("out",)],
                     leak_shift=2),
}


def quantized_random(spec, input_shape=(1, 8, 8), input_kind="static", t_max=4, seed=0, **kw):
    torch.manual_seed(seed)
    net = networks.build("t", spec, input_shape, [str(i) for i in range(10)],
                         input_kind=input_kind, t_max=t_max, **kw)
    random_bn(net, seed)
    with torch.no_grad():
        for layer in net.weighted_layers():
            layer.bias.uniform_(-0.3, 0.5)
            for e in layer.edges:
                if e.op.weight.requires_grad:
                    e.op.weight.mul_(3.0)
    return quant.enable(quant.fold_bn(net), kw.get("weight_bits"))


def check_agreement(net, x, tau):
    cfg = train.config_with(progress=False, time_steps=net.t_max)
    u, ops, macs = train.exact_outputs(net, x, cfg)
    img = export.to_image(net, tau)
    res, agree = train.golden_agreement(img, x, u, tau, lanes=16)
    assert agree.all(), f"{(~agree).sum()} of {len(x)} samples disagree"
    assert res.spikes.sum() > 0
    T = net.t_max
    sops_torch = np.array([ops[:t, n].sum() for n, t in enumerate(res.exit_t)])
    np.testing.assert_array_equal(sops_torch, res.sops)
    if net.input_kind == "static":
        np.testing.assert_array_equal(macs, res.first_layer_macs)
    return u, res, T


@pytest.mark.parametrize("case", sorted(AGREEMENT_NETS))
def test_quantized_torch_equals_golden(case):
    kw = dict(AGREEMENT_NETS[case])
    net = quantized_random(kw.pop("spec"), **kw)
    x = np.random.default_rng(1).integers(0, 256, size=(64, 1, 8, 8), dtype=np.uint8)
    u, res, T = check_agreement(net, x, [None] * 3)
    assert (res.exit_t == T).all()
    margin = exits.margins(u.astype(float))
    tau = [int(np.median(margin[0])), None, int(np.median(margin[2]))]
    _, res, _ = check_agreement(net, x, tau)
    assert 1 < len(np.unique(res.exit_t))


def test_cifar10_preset_exports_and_equals_golden():
    p = networks.PRESETS["cifar10"]
    assert p["dataset"] == "cifar10-subset"
    net = quantized_random(p["spec"], input_shape=p["input_shape"])
    x = np.random.default_rng(2).integers(0, 256, size=(8, 3, 32, 32), dtype=np.uint8)
    check_agreement(net, x, [None] * 3)


def test_event_input_torch_equals_golden():
    net = quantized_random([("conv", 16), ("pool", 2), ("fc", 16), ("out",)],
                           input_shape=(2, 8, 8), input_kind="events", t_max=3)
    x = (np.random.default_rng(2).random((40, 3, 2, 8, 8)) < 0.2).astype(np.uint8)
    cfg = train.config_with(progress=False, time_steps=3)
    u, _, _ = train.exact_outputs(net, x, cfg)
    res, agree = train.golden_agreement(export.to_image(net), x, u, [None, None], 16)
    assert agree.all()


def test_weights_stay_inside_weight_bits_and_scales_are_powers_of_two():
    net = quantized_random(AGREEMENT_NETS["if-zero-4bit"]["spec"], weight_bits=4)
    img = export.to_image(net)
    for layer in img.layers:
        if layer.kind != "maxpool":
            w = np.concatenate([e.weight.ravel() for e in layer.inputs])
            assert np.abs(w).max() <= 7 and layer.weight_bits == 4
            assert quant.is_power_of_two(layer.scale)


# ---------------------------------------------------------------- export refusals

def test_export_refuses_average_pooling():
    net = networks.build("avg", [("conv", 16), ("avgpool", 2), ("out",)], (1, 8, 8), list("ab"))
    quant.enable(quant.fold_bn(net))
    with pytest.raises(AtsnnError, match="avgpool is not a spike operation"):
        export.to_image(net)


def test_export_refuses_spiking_output_and_unfolded_bn():
    """A spiking output is the reason, folded or not (issue 16: it used to say
    'batch norm is not folded')."""
    net = networks.build("s", [("conv", 16), ("out",)], (1, 8, 8), list("ab"), spiking_output=True)
    with pytest.raises(AtsnnError, match="output layer spikes"):
        export.to_image(net)
    quant.enable(quant.fold_bn(net))
    with pytest.raises(AtsnnError, match="output layer spikes"):
        export.to_image(net)
    net = networks.build("s", [("conv", 16), ("out",)], (1, 8, 8), list("ab"))
    with pytest.raises(AtsnnError, match="batch norm is not folded"):
        export.to_image(net)


def test_export_refuses_membrane_bound_beyond_width(tmp_path):
    net = quantized_random([("conv", 16), ("out",)])
    with pytest.raises(gi.ModelImageError, match="layer 'conv1'.*needs \\d+ bits"):
        export.to_image(net, membrane_bits=16)
    img = export.export(net, tmp_path / "img")
    again = gi.load(tmp_path / "img")
    np.testing.assert_array_equal(again.layers[0].inputs[0].weight, img.layers[0].inputs[0].weight)


# ---------------------------------------------------------------- exits

def test_exit_steps_margin_ties_never_exit_unless_tau_le_zero():
    U = np.array([[[5, 5, 0], [9, 1, 0]], [[6, 5, 0], [9, 2, 0]]], dtype=float)  # [T=2, N=2, K]
    sc = exits.margins(U)
    assert exits.exit_steps(sc, [1]).tolist() == [2, 1]
    assert exits.exit_steps(sc, [0]).tolist() == [1, 1]
    assert exits.exit_steps(sc, [None]).tolist() == [2, 2]


def test_calibrate_exits_confident_samples_and_keeps_accuracy():
    rng = np.random.default_rng(0)
    T, N, K = 4, 2000, 10
    y = rng.integers(0, K, N)
    easy = rng.random(N) < 0.7
    U = rng.normal(0, 1, (T, N, K)).cumsum(0)
    boost = np.where(easy, 8.0, 0.6)[None, :] * np.arange(1, T + 1)[:, None]
    U[:, np.arange(N), y] += boost
    fixed = exits.accuracy_per_t(U, y)[-1]
    for rule in exits.RULES:
        thr, curve = exits.calibrate(U, y, rule, max_drop=0.002)
        acc, avg_t = exits.outcome(U, y, exits.exit_steps(exits.scores(U, rule), thr))
        assert acc >= fixed - 0.002 - 1e-12
        assert avg_t < 2.5, rule
        assert len(curve) > 5


def test_calibrate_single_step_network_has_no_thresholds():
    rng = np.random.default_rng(0)
    U, y = rng.normal(size=(1, 50, 10)), rng.integers(0, 10, 50)
    for rule in exits.RULES:
        thr, curve = exits.calibrate(U, y, rule)
        assert thr == [] and curve == [(1.0, exits.accuracy_per_t(U, y)[0])]


def test_complexity_ratio():
    ops = np.array([[10.0, 10.0], [20.0, 20.0]])
    macs = np.array([5.0, 5.0])
    assert exits.complexity(ops, macs, np.array([2, 2])) == 1.0
    assert exits.complexity(ops, macs, np.array([1, 2])) == pytest.approx(50 / 70)


# ---------------------------------------------------------------- command line

@needs_shared
def test_train_command_end_to_end(tmp_path):
    from atsnn.cli import main

    run = tmp_path / "run"
    rc = main(["train", "--preset", "mnist-tiny", "--limit-train", "1000", "--limit-test", "300",
               "--epochs", "1", "--qat-epochs", "0.5", "--quiet", "--data-dir", str(SHARED),
               "--out", str(run)])
    assert rc == 0
    m = json.loads((run / "metrics.json").read_text())
    for key in ("accuracy_fixed", "accuracy_adaptive", "avg_timesteps", "complexity_ratio",
                "accuracy_golden", "golden_matches_torch"):
        assert key in m
    assert m["golden_matches_torch"] is True
    assert m["accuracy_golden"] == m["accuracy_adaptive"]
    assert m["accuracy_fixed"] > 0.6  # 8 Adam steps; chance is 0.1
    assert m["n_train"] == 1000 and m["n_val"] == 200 and m["n_test"] == 300
    for png in ("accuracy_per_t.png", "exit_histogram.png", "accuracy_vs_timesteps.png"):
        assert (run / png).stat().st_size > 1000
    img = gi.load(run / "image")
    assert main(["export", str(run), "--out", str(tmp_path / "again")]) == 0
    again = gi.load(tmp_path / "again")
    assert again.tau == img.tau == m["tau"]
    for a, b in zip(img.layers, again.layers):
        for ea, eb in zip(a.inputs, b.inputs):
            np.testing.assert_array_equal(ea.weight, eb.weight)


def test_train_command_refuses_missing_cuda(tmp_path, capsys):
    from atsnn.cli import main

    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
