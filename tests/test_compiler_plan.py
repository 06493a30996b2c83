"""The host compiler's plan: typed hardware layers and edges built from the typed image."""

import numpy as np
import pytest

from atsnn import model_image as gi
from atsnn.rtl.compiler import HwEdge, HwLayer, plan
from atsnn.rtl.config import HwConfig, SRC_INPUT


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
    assert isinstance(e0, HwEdge) and e0.source_index == SRC_INPUT and not e0.linear
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
