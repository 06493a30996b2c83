"""The host compiler's plan: typed hardware layers and edges built from the typed image."""

import numpy as np
import pytest

from atsnn import model_image as gi
from atsnn.rtl.compiler import HwEdge, HwLayer, plan
from atsnn.rtl.config import HwConfig


def _conv_pool_net():
    rng = np.random.default_rng(3)
    w = lambda *s: rng.integers(-3, 4, size=s)   # noqa: E731
    layers = [
        gi.spiking_layer("conv1", "conv", [gi.conv_edge("input", w(5, 2, 3, 3), 1, 1)],
                         bias=0, theta=20, leak_shift=2, reset="zero"),
        gi.maxpool_layer("pool1", "conv1", 2),
        gi.spiking_layer("fc1", "linear", [gi.linear_edge("pool1", w(6, 5 * 2 * 2))],
                         bias=1, theta=9),
        gi.output_layer("out", [gi.linear_edge("fc1", w(3, 6))]),
    ]
    return gi.build("cp", gi.Input(kind="events", shape=(2, 4, 4), bits=1), layers, 2)


def test_plan_layers_and_edges_are_typed():
    image = _conv_pool_net()
    p = plan(image, HwConfig(lanes=4))
    assert all(isinstance(hw, HwLayer) for hw in p.layers)
    assert [hw.name for hw in p.layers] == ["conv1", "fc1", "out"]
    conv, fc, out = p.layers
    assert conv.image_layer is image.layer("conv1")
    assert (conv.shape, conv.pool, conv.pooled_shape, conv.groups) == ((5, 4, 4), 2, (5, 2, 2), 2)
    assert conv.consumers == ["fc1"] and conv.last_group_lanes == 1
    assert p.hw_of == {"conv1": 0, "pool1": 0, "fc1": 1, "out": 2}
    assert p.pool_of == {0: "pool1"} and p.spike_names == ["conv1", "pool1", "fc1", None]
    e0, = conv.edges
    assert isinstance(e0, HwEdge) and e0.source_index == p.config.src_input and not e0.linear
    assert (e0.kernel, e0.stride, e0.padding, e0.padded_inputs) == (3, 1, 1, 4)
    assert e0.weight is image.layer("conv1").inputs[0].weight
    e1, = fc.edges
    assert e1.linear and e1.source == "pool1" and e1.source_index == 0
    assert e1.source_shape == (5, 2, 2) and e1.padded_inputs == 2 * 2 * 2 * 4
    # weights lie back to back, edge after edge
    bases = [e.weight_base for hw in p.layers for e in hw.edges]
    sizes = [e.group_step * hw.groups for hw in p.layers for e in hw.edges]
    assert bases == list(np.cumsum([0] + sizes[:-1])) and p.weight_words == sum(sizes)
    assert out.membrane_base == 0 and fc.membrane_base == conv.neuron_words


def test_plan_takes_only_a_model_image():
    with pytest.raises(TypeError, match="Expected a model image"):
        plan(gi.to_manifest(_conv_pool_net()), HwConfig(lanes=4))


# --- grid 1: the layout before the banked array (issue 13), field by field ------

def _old_layout(p):
    """Descriptor dicts and weight words per edge by the formulas of the compiler
    before the K x K position banks (the unbanked layout grid 1 must keep)."""
    P = p.config.lanes
    mbase = ebase = pbase = wbase = 0
    descs, weights = [], []
    for hw in p.layers:
        C, H, W = hw.shape
        G = -(-C // P)
        k = hw.pool
        ph, pw = H // k, W // k
        layer = hw.image_layer
        if hw.kind == "output":
            m_at, e_at = 0, 0
        else:
            m_at, e_at = mbase, ebase
            mbase += G * H * W
            ebase += G * ph * pw
        edges = []
        for e in hw.edges:
            Cs, Hs, Ws = e.source_shape
            gs = -(-Cs // P)
            w = np.asarray(e.weight).astype(np.int64)
            if e.linear:
                cin = gs * Hs * Ws * P
                s_go, s_col, s_row = cin, 0, 0
            else:
                cin = gs * P
                s_go = e.kernel * e.kernel * cin
                s_col, s_row = e.stride * cin, e.stride * e.kernel * cin
            words = np.zeros((G, s_go, P), np.int64)
            if e.linear:
                jp = np.arange(cin)
                lane, wpos = jp % P, jp // P
                g, rest = np.divmod(wpos, Hs * Ws)
                y, x = np.divmod(rest, Ws)
                c = g * P + lane
                ok = c < Cs
                flat = c * Hs * Ws + y * Ws + x
                for o in range(C):
                    words[o // P, ok, o % P] = w[o, flat[ok]]
            else:
                kk = e.kernel
                for o in range(C):
                    for ky in range(kk):
                        for kx in range(kk):
                            base = (ky * kk + kx) * cin
                            words[o // P, base:base + Cs, o % P] = w[o, :, ky, kx]
            weights.append(words.reshape(-1, P))
            edges.append({"src": e.source_index, "linear": int(e.linear), "k": e.kernel,
                          "shift": e.stride.bit_length() - 1, "pad": e.padding,
                          "wbase": wbase, "cin_pad": cin, "s_go": s_go, "s_col": s_col,
                          "s_row": s_row,
                          # the new fields at grid 1
                          "slots": e.kernel,
                          "src_w": (Ws if e.linear and e.source_index != p.config.src_input
                                    and p.layers[e.source_index].kind == "conv" else 0)})
            wbase += s_go * G
        flat_layer = hw.kind != "conv"
        descs.append({
            "output": int(hw.kind == "output"), "reset_zero": int(layer.reset == "zero"),
            "leak": int(layer.leak_shift or 0), "n_edges": len(hw.edges), "pool": k,
            "mbase": m_at, "words": G * H * W, "groups": G, "height": H, "width": W,
            "plane": H * W, "pheight": ph, "pwidth": pw, "prow": k * W, "pbase": pbase,
            "lanes_last": C - (G - 1) * P, "ebase": e_at, "edges": edges,
            # the new fields at grid 1
            "linear": int(flat_layer), "bgroups": G if flat_layer else 1,
            "bheight": H, "bwidth": W, "pbheight": ph, "pbwidth": pw, "pplane": ph * pw})
        pbase += G
    totals = {"weight_words": wbase, "membrane_words": mbase, "event_words": ebase,
              "param_words": pbase, "out_words": descs[-1]["groups"]}
    return descs, weights, totals


@pytest.mark.parametrize("lanes", [16, 8])
@pytest.mark.parametrize("name", sorted(gi.BUILTIN_MODELS))
def test_grid_1_layout_is_the_unbanked_one(name, lanes):
    from atsnn.rtl.compiler import _descriptor, _weights
    from atsnn.rtl.config import DescriptorLayout
    from atsnn import AtsnnError
    config = HwConfig(lanes=lanes, weight_depth=1 << 16, membrane_depth=1 << 16,
                      event_depth=1 << 16, input_depth=1 << 16, param_depth=1 << 10,
                      max_layers=32, grid=1)
    try:
        p = plan(gi.load_model(name), config)
    except AtsnnError as e:     # nmnist-mlp at P = 8: 289 input groups, over DIM_BITS
        assert "the input's channel groups" in str(e)
        pytest.skip(str(e))
    descs, weights, totals = _old_layout(p)
    fields = {n for n, _ in DescriptorLayout(config)}
    assert all(set(d) == fields for d in descs)
    assert [_descriptor(hw) for hw in p.layers] == descs
    new = [_weights(p, hw, e) for hw in p.layers for e in hw.edges]
    assert len(new) == len(weights)
    for a, b in zip(new, weights):
        np.testing.assert_array_equal(a, b)
    assert {k: getattr(p, k) for k in totals} == totals


def test_grid_refuses_a_pool_not_a_power_of_two():
    rng = np.random.default_rng(1)
    layers = [
        gi.spiking_layer("conv1", "conv", [gi.conv_edge("input", rng.integers(-3, 4, (2, 1, 3, 3)), 1, 1)],
                         bias=0, theta=5),
        gi.maxpool_layer("pool1", "conv1", 3),
        gi.output_layer("out", [gi.linear_edge("pool1", rng.integers(-3, 4, (3, 2 * 2 * 2)))]),
    ]
    image = gi.build("p3", gi.Input(kind="events", shape=(1, 6, 6), bits=1), layers, 2)
    plan(image, HwConfig(lanes=4, grid=1))
    from atsnn import AtsnnError
    with pytest.raises(AtsnnError, match="'conv1': max-pool kernel 3 is not a power of two"):
        plan(image, HwConfig(lanes=4, grid=2))
