"""Model image -> NIR graph (docs/nir.md), the inverse of nir_import.

Parameters are the image's integers times the layer's power-of-two scale, so a
tool reading the graph sees the trained float network and `import-nir` gets the
integers back. Where NIR cannot say what the contract does, the graph says it the
NIR way and records the contract in metadata['atsnn'] (JSON):

- spike V >= theta: v_threshold = theta * scale * (1 - 2^-20), so NIR's
  v > v_threshold is the same test on the integer grid, and a tool that subtracts
  v_threshold on a spike subtracts theta to within a millionth;
- reset "subtract" (NIR resets to v_reset): v_reset = 0 and metadata reset;
- leak_shift k: LIF with tau = dt * 2^k (beta = 1 - 2^-k) and gain r dt / tau = 1:
  r = tau / dt (snnTorch's convention, dt 1e-4), or r = 1 with the weights and
  bias times tau / dt (Norse's, which ignores r; dt 1e-3, its default);
  no leak: IF with r = 1 / dt (gain 1; Norse's IAF adds its input unscaled);
- maxpool: SumPool2d then an IF that fires on one spike and resets to 0 (the OR);
- output: Affine then I (r = 1 / dt), the integrator.
"""

import json
import math

import numpy as np

from atsnn import AtsnnError
from atsnn.interop.graph import nir_module


def _pow2(x):
    return 2.0 ** round(math.log2(x))


def layer_scales(image):
    """{layer name: (weight scale, accumulator scale)}, powers of two except the
    static first layer's accumulator scale (weight scale times input scale)."""
    scales = {}
    for layer in image.layers:
        if layer.kind == "maxpool":
            continue
        static = layer.inputs[0].source == "input" and image.input.kind == "static"
        s_x = image.input.scale if static else 1.0
        ws = _pow2(layer.scale / s_x) if layer.scale else 1.0
        scales[layer.name] = (ws, ws * s_x)
    return scales


def _meta(d):
    return {"atsnn": json.dumps(d)}


#: convention -> (default dt, LIF r = tau / dt?)
CONVENTIONS = {"snntorch": (1e-4, True), "norse": (1e-3, False)}
#: export-nir's threshold sits this far (relative) below theta * scale.
THRESHOLD_OFFSET = 2.0 ** -20


def to_graph(image, dt=None, convention="snntorch"):
    """The NIRGraph of a chain-shaped image (every layer one edge from the layer
    before it)."""
    if convention not in CONVENTIONS:
        raise AtsnnError(f"convention {convention!r}: expected one of {', '.join(CONVENTIONS)}")
    dt = CONVENTIONS[convention][0] if dt is None else dt
    lif_r_is_tau = CONVENTIONS[convention][1]
    nir = nir_module()
    scales = layer_scales(image)
    inp = image.input
    nodes = {"input": nir.Input(input_type=np.array(inp.shape))}
    edges = []
    prev, shape = "input", tuple(inp.shape)

    def add(name, node):
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    for i, layer in enumerate(image.layers):
        src = image.layers[i - 1].name if i else "input"
        if layer.kind == "maxpool":
            if layer.source != src:
                raise AtsnnError(f"layer '{layer.name}': reads '{layer.source}', not the layer "
                                 "before it; export-nir writes chains only")
            k = layer.kernel
            add(layer.name, nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]),
                                          padding=np.array([0, 0])))
            out = tuple(layer.shape)
            add(f"{layer.name}.or", nir.IF(r=np.full(out, 1 / dt), v_threshold=np.full(out, 0.5),
                                           v_reset=np.zeros(out),
                                           metadata=_meta({"reset": "zero"})))
            shape = out
            continue
        if len(layer.inputs) != 1 or layer.inputs[0].source != src:
            raise AtsnnError(f"layer '{layer.name}': {len(layer.inputs)} edges from "
                             f"{[e.source for e in layer.inputs]}; export-nir writes chains only "
                             "(one edge from the layer before)")
        e = layer.inputs[0]
        ws, acc = scales[layer.name]
        w = e.weight.astype(np.float64) * ws
        b = layer.bias.astype(np.float64) * acc
        if e.op == "conv":
            add(layer.name, nir.Conv2d(input_shape=tuple(shape[1:]), weight=w,
                                       stride=e.stride, padding=e.padding, dilation=1,
                                       groups=1, bias=b))
        else:
            if len(shape) != 1:
                add(f"{layer.name}.flatten", nir.Flatten(input_type={"input": np.array(shape)},
                                                         start_dim=0, end_dim=-1))
            add(layer.name, nir.Affine(weight=w, bias=b))
        out = tuple(layer.shape)
        meta = {"weight_scale": ws, "weight_bits": layer.weight_bits}
        if layer.kind == "output":
            add(f"{layer.name}.int", nir.I(r=np.full(out, 1 / dt), metadata=_meta(meta)))
        else:
            meta["reset"] = layer.reset
            thr = _full(layer.theta, out) * acc * (1 - THRESHOLD_OFFSET)
            zeros = np.zeros(out)
            if layer.leak_shift:
                tau = dt * 2.0 ** layer.leak_shift
                r = tau / dt
                if not lif_r_is_tau:   # gain r dt / tau = 1 with r = 1: scale the edge
                    node = nodes[layer.name]
                    node.weight, node.bias = node.weight * r, node.bias * r
                    r = 1.0
                add(f"{layer.name}.lif", nir.LIF(tau=np.full(out, tau), r=np.full(out, r),
                                                 v_leak=zeros, v_threshold=thr, v_reset=zeros,
                                                 metadata=_meta(meta)))
            else:
                add(f"{layer.name}.if", nir.IF(r=np.full(out, 1 / dt), v_threshold=thr,
                                               v_reset=zeros, metadata=_meta(meta)))
        shape = out
    nodes["output"] = nir.Output(output_type=np.array(shape))
    edges.append((prev, "output"))
    graph_meta = {"convention": convention, "t_max": image.t_max, "tau": list(image.tau), "classes": list(image.classes),
                  "name": image.name, "dt": dt, "input_kind": inp.kind, "input_bits": inp.bits,
                  "input_scale": inp.scale, "zero_point": inp.zero_point,
                  "input_encoding": inp.encoding}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_meta(graph_meta))


def _full(per_channel, shape):
    """A per-channel vector broadcast over a [C, H, W] or [N] shape."""
    v = per_channel.astype(np.float64)
    return np.broadcast_to(v.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy()


def write(image, path, dt=None, convention="snntorch"):
    nir = nir_module()
    graph = to_graph(image, dt, convention)
    nir.write(str(path), graph)
    return graph
