"""Quantization to the contract: one power-of-two scale per layer.

A weighted layer ``l`` has a weight scale ``s_w = 2**e`` (the smallest power of
two that fits every weight of every edge into ``weight_bits`` signed bits) and an
accumulator scale ``s_acc = s_w`` (spike input) or ``s_w * s_x`` (the static first
layer, ``s_x = 2**-8``: torch input = pixel / 256). Weights are
``round(W / s_w)`` (int), bias and threshold ``round(b / s_acc)``, ``round(theta /
s_acc)`` (theta at least 1). In quantized mode every torch value of the layer is
an integer times ``s_acc``, so evaluating in float64 reproduces the integer
golden model exactly (see docs/training.md).

Batch norm is folded into the weights and bias first (:func:`fold_bn`).
"""

import math

import torch

from atsnn import AtsnnError

INPUT_SCALE = 2.0**-8


def qmax(bits):
    return 2 ** (bits - 1) - 1


def po2_scale(maxabs, bits):
    """Smallest ``2**e`` with ``maxabs / 2**e <= qmax(bits)`` (1.0 for all-zero)."""
    if not 2 <= bits <= 8:
        raise AtsnnError(f"weight_bits must be 2..8, got {bits}")
    if maxabs <= 0 or not math.isfinite(maxabs):
        return 1.0
    e = math.ceil(math.log2(maxabs / qmax(bits)))
    while 2.0**e * qmax(bits) < maxabs:
        e += 1
    while 2.0 ** (e - 1) * qmax(bits) >= maxabs:
        e -= 1
    return 2.0**e


def round_ste(x):
    """Round half to even forward (numpy's rint), identity backward."""
    return x + (torch.round(x) - x).detach()


def floor_ste(x):
    return x + (torch.floor(x) - x).detach()


def quantize(x, scale, lo=None, hi=None):
    """``round(x / scale) * scale``, clamped to integers ``[lo, hi]``, STE gradient."""
    q = round_ste(x / scale)
    if lo is not None or hi is not None:
        q = torch.clamp(q, lo, hi)
    return q * scale


def fold_bn(net):
    """Fold every edge's batch norm into its weights and the layer's bias, in place.

    For an edge ``BN(W x)`` with running statistics ``mu, var`` and affine
    ``gamma, beta``: ``W' = W gamma / sqrt(var + eps)`` and the layer bias gains
    ``beta - mu gamma / sqrt(var + eps)``."""
    with torch.no_grad():
        for layer in net.weighted_layers():
            for edge in layer.edges:
                bn = edge.bn
                if bn is None:
                    continue
                g = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                shape = (-1,) + (1,) * (edge.op.weight.dim() - 1)
                edge.op.weight.mul_(g.reshape(shape))
                layer.bias.add_(bn.bias - bn.running_mean * g)
                edge.bn = None
    return net


def enable(net, weight_bits=None):
    """Switch every weighted layer to fake-quantized mode (BN must be folded)."""
    for layer in net.weighted_layers():
        if any(e.bn is not None for e in layer.edges):
            raise AtsnnError(f"layer {layer.name}: fold batch norm before quantizing")
        if weight_bits is not None:
            layer.weight_bits = weight_bits
        layer.quantized = True
    return net


def integer_params(layer):
    """The layer's integers: ``(weights per edge, bias, theta, s_w, s_acc)``."""
    with torch.no_grad():
        s_w, s_acc = layer.scales()
        q = qmax(layer.weight_bits)
        weights = [torch.clamp(torch.round(e.op.weight.double() / s_w), -q, q).long()
                   for e in layer.edges]
        bias = torch.round(layer.bias.double() / s_acc).long()
        theta = None
        if layer.lif is not None:
            t = torch.round(layer.theta.double() / s_acc).clamp(min=1).long()
            theta = t.expand(layer.shape[0]).clone()
    return weights, bias, theta, s_w, s_acc


def is_power_of_two(x):
    m, _ = math.frexp(x)
    return x > 0 and m == 0.5


def check_scales(net):
    for layer in net.weighted_layers():
        for s in layer.scales():
            if not is_power_of_two(s):
                raise AtsnnError(f"layer {layer.name}: scale {s} is not a power of two")

