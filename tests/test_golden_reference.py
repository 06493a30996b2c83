"""The vectorized engine against the plain loop model (tests/loop_reference.py) on
random small networks, plus hand-computed checks of the contract itself."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atsnn import AtsnnError
from atsnn import model_image as gi
from atsnn.golden import engine
from atsnn.golden.engine import lif_update, run
from loop_reference import run_one

FIELDS = ("pred", "exit_t", "u", "spikes", "scatter_cycles", "sops",
          "first_layer_macs", "weight_reads", "membrane_reads", "membrane_writes",
          "event_reads", "event_writes", "cycles")


@st.composite
def cases(draw):
    """(image, inputs, lanes): a random small network with residual edges, pools,
    every leak and reset mode, thresholds hit exactly, and random exit tables."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["static", "events"]))
    if draw(st.integers(0, 4)) == 0:
        in_shape = (draw(st.integers(1, 12)),)
    else:
        in_shape = (draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    bits = draw(st.integers(1, 8)) if kind == "static" else 1
    zero_point = draw(st.integers(0, (1 << bits) - 1)) if kind == "static" and draw(st.booleans()) else 0
    t_max = draw(st.integers(1, 8))
    lanes = draw(st.sampled_from([1, 2, 4, 16]))
    inp = gi.Input(kind, in_shape, bits, zero_point)

    shapes = {"input": in_shape}
    readable = ["input"] if kind == "events" else []
    layers = []
    prev = "input"

    def weights(shape, wb):
        hi = min((1 << (wb - 1)) - 1, 3)
        return rng.integers(-hi - 1, hi + 1, size=shape)

    def params(n):
        return dict(bias=rng.integers(-2, 3, n), theta=rng.integers(1, 6, n),
                    leak_shift=draw(st.sampled_from([0, 0, 1, 2, 5])),
                    reset=draw(st.sampled_from(["subtract", "zero"])))

    for i in range(draw(st.integers(1, 3))):
        name = f"l{i}"
        src_shape = shapes[prev]
        wb = draw(st.integers(2, 8))
        if len(src_shape) == 3 and draw(st.booleans()):
            c, h, w = src_shape
            c_out = draw(st.sampled_from([1, 2, 3, 5, 17]))
            k = draw(st.integers(1, 3))
            s = draw(st.integers(1, 2))
            p = draw(st.integers(0, k - 1))
            ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            if ho < 1 or wo < 1:
                k, s, p, ho, wo = 1, 1, 0, h, w
            edges = [gi.conv_edge(prev, weights((c_out, c, k, k), wb), s, p)]
            if layers:
                for src in readable:
                    if src != prev and len(shapes[src]) == 3 and shapes[src][1:] == (ho, wo) \
                            and draw(st.booleans()):
                        edges.append(gi.conv_edge(src, weights((c_out, shapes[src][0], 3, 3), wb), 1, 1))
            layers.append(gi.spiking_layer(name, "conv", edges, weight_bits=wb, **params(c_out)))
            shapes[name] = (c_out, ho, wo)
            prev = name
            pk = draw(st.sampled_from([0, 1, 2]))
            if pk and ho % pk == 0 and wo % pk == 0:
                layers.append(gi.maxpool_layer(f"p{i}", name, pk))
                shapes[f"p{i}"] = (c_out, ho // pk, wo // pk)
                prev = f"p{i}"
            readable.append(prev)
        else:
            n_out = draw(st.sampled_from([1, 2, 4, 7, 18]))
            edges = [gi.linear_edge(prev, weights((n_out, int(np.prod(src_shape))), wb))]
            if layers:
                for src in readable:
                    if src != prev and draw(st.integers(0, 2)) == 0:
                        edges.append(gi.linear_edge(src, weights((n_out, int(np.prod(shapes[src]))), wb)))
            layers.append(gi.spiking_layer(name, "linear", edges, weight_bits=wb, **params(n_out)))
            shapes[name] = (n_out,)
            prev = name
            readable.append(prev)
    k_out = draw(st.integers(2, 5))
    edges = [gi.linear_edge(prev, weights((k_out, int(np.prod(shapes[prev]))), 8))]
    for src in readable:
        if src not in (prev, "input") and draw(st.integers(0, 3)) == 0:
            edges.append(gi.linear_edge(src, weights((k_out, int(np.prod(shapes[src]))), 8)))
    layers.append(gi.output_layer("out", edges, bias=rng.integers(-2, 3, k_out)))
    tau = [draw(st.one_of(st.none(), st.integers(-1, 6))) for _ in range(t_max - 1)]
    image = gi.build("random", inp, layers, t_max, tau, membrane_bits=48, acc_bits=56)

    n = draw(st.integers(1, 4))
    if kind == "static":
        x = rng.integers(0, 1 << bits, size=(n,) + in_shape)
        x[rng.random(x.shape) < 0.4] = zero_point
        x = x.astype(np.uint8 if bits <= 8 else np.uint16)
    else:
        x = (rng.random((n, t_max) + in_shape) < draw(st.sampled_from([0.1, 0.3, 0.7]))).astype(np.uint8)
    return image, x, lanes


def check_agrees(image, x, lanes):
    res = run(image, x, lanes=lanes, batch=3)
    for i in range(len(x)):
        ref = run_one(image, x[i], lanes)
        for f in FIELDS:
            got = getattr(res, f)[i]
            assert np.array_equal(got, np.asarray(ref[f])), (f, i, got, ref[f])
    with pytest.MonkeyPatch.context() as mp:   # one sample per conv and LIF block
        mp.setattr(engine, "IM2COL_BLOCK", 1)
        mp.setattr(engine, "LIF_BLOCK", 1)
        one = run(image, x, lanes=lanes, batch=3)
    for f in FIELDS:
        assert np.array_equal(getattr(one, f), getattr(res, f)), f


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_engine_matches_loop_reference(case):
    check_agrees(*case)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_engine_matches_loop_reference_many(case):
    check_agrees(*case)


def test_layer_with_three_input_edges_runs_and_agrees():
    """The golden model takes up to MAX_EDGES input edges per layer (the RTL takes 2);
    its per-edge scatter work was once sized for 2 and raised IndexError on 3."""
    inp = gi.Input("static", (1,), 1)
    layers = [gi.spiking_layer(f"l{i}", "linear", [gi.linear_edge(f"l{i - 1}" if i else "input", [[1]])],
                               bias=[0], theta=[1]) for i in range(3)]
    layers.append(gi.output_layer("out", [gi.linear_edge(f"l{i}", [[1], [i]]) for i in (2, 0, 1)]))
    image = gi.build("three-edges", inp, layers, 2, [None])
    res = run(image, np.array([[1]], np.uint8), lanes=1)
    assert res.scatter_work.shape[3] == 3
    assert res.u[0].tolist() == [6, 6]
    check_agrees(image, np.array([[1], [0]], np.uint8), 1)


def tiny(theta, w, t_max=3, tau=None, leak_shift=0, reset="subtract", bias=0, out_w=None):
    """1 pixel -> 1 LIF neuron -> 2 outputs (static input, zero_point 0)."""
    out_w = np.array([[1], [0]]) if out_w is None else np.asarray(out_w)
    layers = [gi.spiking_layer("h", "linear", [gi.linear_edge("input", [[w]])], bias=bias,
                               theta=theta, leak_shift=leak_shift, reset=reset),
              gi.output_layer("out", [gi.linear_edge("h", out_w)])]
    return gi.build("tiny", gi.Input("static", (1,), 8), layers, t_max, tau)


def test_fires_at_v_equal_theta():
    res = run(tiny(theta=10, w=5), np.array([[2]], np.uint8))
    assert res.spikes[0, :, 0].tolist() == [1, 1, 1]
    res = run(tiny(theta=20, w=5), np.array([[2]], np.uint8))
    assert res.spikes[0, :, 0].tolist() == [0, 1, 0]   # V_pre 10, 20 (= theta), 0 + 10


def test_lif_update_leak_floors_negative_values():
    s, v = lif_update(np.array([-3, 7, -1]), np.array([0, 0, 0]), 100, 1, "subtract")
    assert v.tolist() == [-1, 4, 0] and not s.any()   # -3 - (-2), 7 - 3, -1 - (-1)
    s, v = lif_update(np.array([5, 5]), np.array([5, 4]), 10, 0, "zero")
    assert s.tolist() == [True, False] and v.tolist() == [0, 9]


def test_tie_never_exits_and_argmax_takes_lowest_index():
    img = tiny(theta=1, w=1, tau=[0, 1], out_w=[[1], [1]])
    res = run(img, np.array([[1]], np.uint8))
    assert res.exit_t.tolist() == [1] and res.pred.tolist() == [0]   # tau 0 exits on a tie
    img = tiny(theta=1, w=1, tau=[1, 1], out_w=[[1], [1]])
    res = run(img, np.array([[1]], np.uint8))
    assert res.exit_t.tolist() == [3] and res.pred.tolist() == [0] and res.u.tolist() == [[3, 3]]


def test_disabled_tau_entry_never_exits_and_early_exit_off():
    img = tiny(theta=1, w=1, tau=[None, 1])
    res = run(img, np.array([[1]], np.uint8))
    assert res.exit_t.tolist() == [2]
    assert run(img, np.array([[1]], np.uint8), early_exit=False).exit_t.tolist() == [3]


def test_input_errors_name_the_expected_input():
    img = tiny(theta=1, w=1)
    with pytest.raises(AtsnnError, match=r"shape \[1, 2\].*raw pixels \[N, 1\]"):
        run(img, np.zeros((1, 2), np.uint8))
    with pytest.raises(AtsnnError, match="dtype float32"):
        run(img, np.zeros((1, 1), np.float32))
    with pytest.raises(AtsnnError, match=r"outside 0\.\.255"):
        run(img, np.full((1, 1), 256))
    with pytest.raises(AtsnnError, match="lanes"):
        run(img, np.zeros((1, 1), np.uint8), lanes=0)


@pytest.mark.parametrize("big, dtype", [(1 << 40, np.float64), (1 << 58, np.int64)])
def test_wide_layers_leave_float32_and_stay_exact(big, dtype):
    """Bounds past 2**24 (2**53) make the engine hold a layer in float64 (int64);
    values near 2**40 (2**58) whose low bits decide the spikes still match the loop."""
    rng = np.random.default_rng(big.bit_length())
    conv = gi.spiking_layer("c", "conv", [gi.conv_edge("input", rng.integers(-100, 101, (3, 2, 3, 3)), 1, 1)],
                            bias=big + rng.integers(-300, 300, 3), theta=big + 7, leak_shift=1)
    fc = gi.spiking_layer("h", "linear", [gi.linear_edge("c", rng.integers(-5, 6, (4, 3 * 4 * 4)))],
                          bias=rng.integers(-3, 4, 4), theta=2, reset="zero")
    out = gi.output_layer("out", [gi.linear_edge("h", rng.integers(-3, 4, (3, 4)))], bias=[big, big, big + 1])
    img = gi.build("wide", gi.Input("static", (2, 4, 4), 8, zero_point=7), [conv, fc, out], 3, [2, None],
                   membrane_bits=63, acc_bits=63)
    assert [p[1] for p in engine._plan(img, 16)] == [dtype, np.float32, dtype]
    x = rng.integers(0, 256, (5, 2, 4, 4)).astype(np.uint8)
    check_agrees(img, x, 2)


def test_block_sizes_do_not_change_results(monkeypatch):
    """The conv matmul and the LIF update run a few samples at a time; one sample
    per block (and blocks that do not divide the batch) give the same Result."""
    img = gi.load_model("reference")
    x = np.random.default_rng(3).integers(0, 256, (7, 1, 28, 28)).astype(np.uint8)
    want = run(img, x, batch=5)
    for im2col, lif in ((1, 1), (3 * 28 * 28 * 9, 2 * 16 * 28 * 28)):
        monkeypatch.setattr(engine, "IM2COL_BLOCK", im2col)
        monkeypatch.setattr(engine, "LIF_BLOCK", lif)
        got = run(img, x, batch=5)
        for f in FIELDS:
            assert np.array_equal(getattr(got, f), getattr(want, f)), (im2col, lif, f)
