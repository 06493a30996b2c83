"""Export a quantized :class:`~atsnn.model.networks.Network` as a model image.

The integers written are exactly the ones the fake-quantized torch model uses in
quantized mode (:func:`atsnn.model.quant.integer_params`), so the golden model on
the image and the torch model in float64 agree bit for bit (torch value =
integer x the layer's scale). What the accelerator cannot run is refused with an
:class:`~atsnn.AtsnnError` naming the layer.
"""

import numpy as np

from atsnn import AtsnnError
from atsnn import model_image as gi
from atsnn.model import quant
from atsnn.model.networks import Pool, Weighted

INPUT_BITS = 8
#: How training bins a recording into its T_max frames (train.load_data), recorded
#: in the image so that golden and sim bin recordings the same way.
FRAME_MODE = "count"
EVENT_ENCODING = f"frames:{FRAME_MODE}"


def _int_array(t):
    a = t.cpu().numpy().astype(np.int64)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if a.size == 0 or (a.min() >= info.min and a.max() <= info.max):
            return a.astype(dtype)
    return a


def check_exportable(net):
    """Raise AtsnnError for anything the accelerator cannot run. What the network is
    (a spiking output, no output layer) is checked before what was not done to it
    yet (folding, quantizing): the first is the real reason it cannot export."""
    kinds = {m.name: m.kind for m in net.layers}
    for m in net.layers:
        if m.kind == "output" and isinstance(m, Weighted) and m.lif is not None:
            raise AtsnnError(f"{net.name}: layer {m.name!r}: the output layer spikes "
                             "(trained with --spiking-output, an ablation that is not "
                             "exportable); the accelerator's output is a non-spiking "
                             "integrator")
    for m in net.layers:
        where = f"{net.name}: layer {m.name!r}"
        if isinstance(m, Pool):
            if m.kind != "maxpool":
                raise AtsnnError(f"{where}: {m.kind} is not a spike operation; the accelerator "
                                 "runs max-pool (kernel = stride) or strided conv")
            if kinds.get(m.source) != "conv":
                raise AtsnnError(f"{where}: max-pool must read a conv layer, not {m.source!r}")
            continue
        if not isinstance(m, Weighted):
            raise AtsnnError(f"{where}: unsupported layer type {type(m).__name__}")
        if any(e.bn is not None for e in m.edges):
            raise AtsnnError(f"{where}: batch norm is not folded (run quant.fold_bn first)")
        if not m.quantized:
            raise AtsnnError(f"{where}: not quantized (run quant.enable first)")
        if m.kind != "output" and m.lif is None:
            raise AtsnnError(f"{where}: a {m.kind} layer must be spiking")
    if net.layers[-1].kind != "output" or sum(m.kind == "output" for m in net.layers) != 1:
        raise AtsnnError(f"{net.name}: exactly one output layer, last, is required")
    quant.check_scales(net)


def out_scale(net):
    return net.layers[-1].scales()[1]


def tau_to_int(tau):
    """Margins in output-accumulator integers: ``None`` stays disabled."""
    return [None if t is None else int(t) for t in tau]


def to_image(net, tau=None, membrane_bits=24, acc_bits=32, name=None):
    """The :class:`atsnn.model_image.ModelImage` of a quantized network."""
    check_exportable(net)
    layers = []
    for m in net.layers:
        if isinstance(m, Pool):
            layers.append(gi.maxpool_layer(m.name, m.source, m.kernel))
            continue
        weights, bias, theta, s_w, s_acc = quant.integer_params(m)
        edges = []
        for e, w in zip(m.edges, weights):
            w = _int_array(w)
            if e.kind == "conv":
                if e.op.kernel_size[0] != e.op.kernel_size[1]:
                    raise AtsnnError(f"{net.name}: layer {m.name!r}: non-square kernel")
                edges.append(gi.conv_edge(e.source, w, stride=e.op.stride[0],
                                          padding=e.op.padding[0]))
            else:
                edges.append(gi.linear_edge(e.source, w))
        if m.kind == "output":
            layers.append(gi.output_layer(m.name, edges, bias=_int_array(bias),
                                          weight_bits=m.weight_bits, scale=s_acc))
        else:
            layers.append(gi.spiking_layer(m.name, m.kind, edges, bias=_int_array(bias),
                                           theta=_int_array(theta),
                                           leak_shift=m.lif.leak_shift, reset=m.lif.reset,
                                           weight_bits=m.weight_bits, scale=s_acc))
    if net.input_kind == "static":
        inp = gi.Input("static", tuple(net.input_shape), bits=INPUT_BITS, zero_point=0,
                       scale=quant.INPUT_SCALE, encoding="pixels")
    else:
        inp = gi.Input("events", tuple(net.input_shape), bits=1, zero_point=0, scale=1.0,
                       encoding=EVENT_ENCODING)
    t_max = net.t_max
    if tau is None:
        tau = [None] * (t_max - 1)
    if len(tau) != t_max - 1:
        raise AtsnnError(f"{net.name}: tau has {len(tau)} entries, T_max = {t_max} needs "
                         f"{t_max - 1}")
    return gi.build(name or net.name, inp, layers, t_max, tau=tau_to_int(tau),
                    classes=net.classes, membrane_bits=membrane_bits, acc_bits=acc_bits)


def export(net, path, tau=None, membrane_bits=24, acc_bits=32):
    """Write the model image to ``path`` (a directory, or a ``.npz`` file)."""
    img = to_image(net, tau, membrane_bits, acc_bits)
    gi.save(img, path)
    return img
