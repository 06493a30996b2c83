"""Accelerator-shaped spiking networks: one torch module per manifest layer.

A :class:`Network` is a list of layers run in order at every timestep, exactly as
the accelerator runs them (docs/contract.md): ``conv`` / ``linear`` spiking layers
(:class:`Weighted` with a :class:`~atsnn.model.neurons.LIF`), ``maxpool`` (OR of
spikes), and one ``output`` integrator last. A layer has one or more input
:class:`Edge` s; a residual shortcut is one more edge into the same membrane.
Batch norm sits on each edge during training and is folded at export.

``Network.forward(x)`` returns the output layer's per-step current ``[T, B, K]``;
the accumulated output is ``U = cumsum(out, 0)`` (:func:`accumulate`).
Static input ``x`` is ``[B, C, H, W]`` (pixel / 256), event input ``[T, B, C, H, W]``.
"""

import torch
import torch.nn.functional as F
from torch import nn

from atsnn import AtsnnError
from atsnn.model import distributed, quant
from atsnn.model.neurons import LIF


class Edge(nn.Module):
    """A weighted input of a layer: conv (square kernel, zero padding) or linear."""

    def __init__(self, source, op, bn=None):
        super().__init__()
        self.source = source
        self.op = op
        self.bn = bn

    @property
    def kind(self):
        return "conv" if isinstance(self.op, nn.Conv2d) else "linear"

    def forward(self, x, weight):
        if self.kind == "linear":
            y = F.linear(x.flatten(1), weight)
        else:
            y = F.conv2d(x, weight, stride=self.op.stride, padding=self.op.padding)
        return distributed.batch_norm(self.bn, y) if self.bn is not None else y


class Weighted(nn.Module):
    """A ``conv`` / ``linear`` spiking layer, or the ``output`` integrator.

    ``static``: fed by the static input; its current is computed once and reused
    at every timestep. ``quantized``: weights, bias and theta fake-quantized to
    the layer's power-of-two scales (see :mod:`atsnn.model.quant`)."""

    def __init__(self, name, kind, edges, shape, lif=None, static=False, weight_bits=8,
                 theta=1.0):
        super().__init__()
        self.name = name
        self.kind = kind
        self.edges = nn.ModuleList(edges)
        self.shape = tuple(shape)
        self.lif = lif
        self.static = static
        self.weight_bits = weight_bits
        self.quantized = False
        self.bias = nn.Parameter(torch.zeros(shape[0]))
        self.register_buffer("theta", torch.tensor(float(theta)))

    def scales(self):
        """``(s_w, s_acc)``: the power-of-two weight and accumulator scales."""
        maxabs = max(float(e.op.weight.detach().abs().max()) for e in self.edges)
        s_w = quant.po2_scale(maxabs, self.weight_bits)
        return s_w, s_w * (quant.INPUT_SCALE if self.static else 1.0)

    def effective(self):
        """``(weights, bias, theta, scale)`` as used by forward; ``scale`` is None
        in float mode."""
        weights = [e.op.weight for e in self.edges]
        if not self.quantized:
            return weights, self.bias, self.theta, None
        s_w, s_acc = self.scales()
        q = quant.qmax(self.weight_bits)
        weights = [quant.quantize(w, s_w, -q, q) for w in weights]
        bias = quant.quantize(self.bias, s_acc)
        theta = torch.clamp(torch.round(self.theta / s_acc), min=1) * s_acc
        return weights, bias, theta, s_acc

    def forward(self, sources, T):
        weights, bias, theta, scale = self.effective()
        current = 0
        for edge, w in zip(self.edges, weights):
            x = sources[edge.source]
            if self.static:
                current = current + edge(x, w)
            else:
                current = current + edge(x.flatten(0, 1), w).unflatten(0, (T, -1))
        per_channel = (-1,) + (1,) * (len(self.shape) - 1)
        current = current + bias.reshape(per_channel)
        if self.static:
            current = current.unsqueeze(0).expand(T, *current.shape)
        if self.lif is None:
            return current
        return self.lif(current, theta, scale)

    def extra_repr(self):
        return f"name={self.name}, kind={self.kind}, shape={list(self.shape)}, static={self.static}"


class Pool(nn.Module):
    """``maxpool`` (OR of spikes; kernel = stride) or ``avgpool`` (trainable here,
    refused by export: it is not a spike operation)."""

    def __init__(self, name, kind, source, kernel, shape):
        super().__init__()
        self.name = name
        self.kind = kind
        self.source = source
        self.kernel = kernel
        self.shape = tuple(shape)

    def forward(self, sources, T):
        x = sources[self.source].flatten(0, 1)
        pool = F.max_pool2d if self.kind == "maxpool" else F.avg_pool2d
        return pool(x, self.kernel).unflatten(0, (T, -1))

    def extra_repr(self):
        return f"name={self.name}, kind={self.kind}, kernel={self.kernel}"


class Network(nn.Module):
    def __init__(self, name, layers, input_kind, input_shape, classes, t_max):
        super().__init__()
        self.name = name
        self.layers = nn.ModuleList(layers)
        self.input_kind = input_kind
        self.input_shape = tuple(input_shape)
        self.classes = list(classes)
        self.t_max = t_max
        self.recorded = None

    def weighted_layers(self):
        return [m for m in self.layers if isinstance(m, Weighted)]

    def forward(self, x, T=None, record=False):
        """Per-step output ``[T, B, K]``; ``record`` keeps every layer's output in
        ``self.recorded`` (for spike and synaptic-operation counts)."""
        if self.input_kind == "events":
            T = x.shape[0]
        T = T or self.t_max
        sources = {"input": x}
        for layer in self.layers:
            sources[layer.name] = layer(sources, T)
        self.recorded = sources if record else None
        return sources[self.layers[-1].name]


def accumulate(out):
    """Accumulated output ``U[t]`` from the per-step output ``[T, B, K]``."""
    return out.cumsum(0)


def input_tensor(x, input_kind, dtype=torch.float32):
    """Loader uint8 arrays -> network input: static ``[B, C, H, W]`` pixel / 256
    (exact in float), events ``[N, T, C, H, W]`` -> ``[T, N, C, H, W]``."""
    x = torch.as_tensor(x)
    if input_kind == "events":
        return x.to(dtype).transpose(0, 1)
    return x.to(dtype) * quant.INPUT_SCALE


def _channels(c, width):
    return max(16, int(round(c * width / 16)) * 16)


def build(name, spec, input_shape, classes, input_kind="static", t_max=4, leak_shift=1,
          reset="subtract", surrogate="sigmoid", weight_bits=8, bn=True, width=1.0,
          spiking_output=False):
    """Build a :class:`Network` from a layer list.

    ``spec`` items: ``("conv", C[, k, stride, padding])``, ``("pool", k)``,
    ``("avgpool", k)``, ``("fc", N)``, ``("res", C, stride)`` (two 3x3 convs; the
    shortcut, identity or 1x1 strided conv, adds into the second one's membrane),
    ``("out",)``. Channel counts are scaled by ``width`` and rounded to multiples
    of 16 (``fc`` and ``out`` sizes are not scaled by ``width`` below 1)."""
    def lif():
        return LIF(leak_shift=leak_shift, reset=reset, surrogate=surrogate)

    def norm(kind, c):
        if not bn:
            return None
        return nn.BatchNorm2d(c) if kind == "conv" else nn.BatchNorm1d(c)

    def conv(src, cin, cout, k, stride, padding, use_bn=True):
        op = nn.Conv2d(cin, cout, k, stride=stride, padding=padding, bias=False)
        return Edge(src, op, norm("conv", cout) if use_bn else None)

    layers = []
    counts = {}
    src, shape = "input", tuple(input_shape)
    static = input_kind == "static"

    def fresh(prefix):
        counts[prefix] = counts.get(prefix, 0) + 1
        return f"{prefix}{counts[prefix]}"

    def conv_shape(shape, cout, k, stride, padding, where):
        if len(shape) != 3:
            raise AtsnnError(f"{name}: {where} needs a [C, H, W] input, got {list(shape)}")
        h, w = ((d + 2 * padding - k) // stride + 1 for d in shape[1:])
        if h < 1 or w < 1:
            raise AtsnnError(f"{name}: {where}: kernel {k} does not fit input {list(shape)}")
        return (cout, h, w)

    for item in spec:
        kind, args = item[0], item[1:]
        first_static = static and src == "input"
        if kind == "conv":
            c = _channels(args[0], width)
            k = args[1] if len(args) > 1 else 3
            stride = args[2] if len(args) > 2 else 1
            padding = args[3] if len(args) > 3 else k // 2
            lname = fresh("conv")
            out_shape = conv_shape(shape, c, k, stride, padding, lname)
            edge = conv(src, shape[0], c, k, stride, padding)
            layers.append(Weighted(lname, "conv", [edge], out_shape, lif(), first_static,
                                   weight_bits))
        elif kind in ("pool", "avgpool"):
            k = args[0]
            lname = fresh("pool")
            if len(shape) != 3 or shape[1] % k or shape[2] % k:
                raise AtsnnError(f"{name}: {lname}: input {list(shape)} is not divisible by "
                                 f"pool kernel {k}")
            if first_static or not isinstance(layers[-1], Weighted) or layers[-1].kind != "conv":
                raise AtsnnError(f"{name}: {lname}: a pool must follow a conv layer")
            out_shape = (shape[0], shape[1] // k, shape[2] // k)
            layers.append(Pool(lname, "maxpool" if kind == "pool" else "avgpool", src, k,
                               out_shape))
        elif kind == "fc":
            n = args[0] if width <= 1 else _channels(args[0], width)
            lname = fresh("fc")
            nin = int(torch.tensor(shape).prod())
            edge = Edge(src, nn.Linear(nin, n, bias=False), norm("linear", n))
            out_shape = (n,)
            layers.append(Weighted(lname, "linear", [edge], out_shape, lif(), first_static,
                                   weight_bits))
        elif kind == "res":
            c, stride = _channels(args[0], width), args[1]
            block = fresh("res")
            a_shape = conv_shape(shape, c, 3, stride, 1, block)
            a = Weighted(f"{block}a", "conv", [conv(src, shape[0], c, 3, stride, 1)], a_shape,
                         lif(), first_static, weight_bits)
            main = conv(a.name, c, c, 3, 1, 1)
            if stride == 1 and shape[0] == c:
                short = conv(src, c, c, 1, 1, 0, use_bn=False)
                with torch.no_grad():
                    short.op.weight.copy_(torch.eye(c).reshape(c, c, 1, 1))
                short.op.weight.requires_grad_(False)
            else:
                short = conv(src, shape[0], c, 1, stride, 0)
            if first_static:
                raise AtsnnError(f"{name}: {block}: a residual block cannot read the static "
                                 "input (it feeds only the first layer)")
            b = Weighted(f"{block}b", "conv", [main, short], a_shape, lif(), False, weight_bits)
            layers += [a, b]
            out_shape = a_shape
            lname = b.name
        elif kind == "out":
            n = len(classes)
            nin = int(torch.tensor(shape).prod())
            edge = Edge(src, nn.Linear(nin, n, bias=False))
            lname = "out"
            layers.append(Weighted(lname, "output", [edge], (n,),
                                   lif() if spiking_output else None, first_static,
                                   weight_bits))
            out_shape = (n,)
        else:
            raise AtsnnError(f"{name}: unknown layer kind {kind!r} in spec")
        src, shape = lname, out_shape
    if not layers or layers[-1].kind != "output":
        raise AtsnnError(f"{name}: the last layer must be the output integrator ('out')")
    return Network(name, layers, input_kind, input_shape, classes, t_max)


DIGITS = [str(i) for i in range(10)]
CIFAR10 = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck"]

VGG16 = [("conv", 64), ("conv", 64), ("pool", 2), ("conv", 128), ("conv", 128), ("pool", 2),
         ("conv", 256), ("conv", 256), ("conv", 256), ("pool", 2),
         ("conv", 512), ("conv", 512), ("conv", 512), ("pool", 2),
         ("conv", 512), ("conv", 512), ("conv", 512), ("pool", 2), ("fc", 512), ("out",)]

RESNET19 = [("conv", 128), ("res", 128, 1), ("res", 128, 1), ("res", 128, 1),
            ("res", 256, 2), ("res", 256, 1), ("res", 256, 1),
            ("res", 512, 2), ("res", 512, 1), ("pool", 8), ("fc", 256), ("out",)]

# VGG-style: three stages of one 3x3 conv and a 2x2 max-pool (32, 64, 128 channels)
CIFAR3 = [("conv", 32), ("pool", 2), ("conv", 64), ("pool", 2), ("conv", 128), ("pool", 2),
          ("fc", 128), ("out",)]

PRESETS = {
    # A 5x5 stride-2 first layer instead of conv 3x3 + max-pool: a quarter of the
    # first layer's neurons, about 35% less training time on the CPU.
    "mnist-tiny": dict(spec=[("conv", 16, 5, 2, 2), ("conv", 32), ("pool", 2), ("fc", 128),
                             ("out",)],
                       input_shape=(1, 28, 28), classes=DIGITS, dataset="mnist"),
    "mnist-mlp": dict(spec=[("fc", 256), ("out",)], input_shape=(1, 28, 28), classes=DIGITS,
                      dataset="mnist"),
    "digits-tiny": dict(spec=[("conv", 16), ("pool", 2), ("fc", 64), ("out",)],
                        input_shape=(1, 8, 8), classes=DIGITS, dataset="digits"),
    "cifar-small": dict(spec=CIFAR3, input_shape=(3, 32, 32), classes=CIFAR10,
                        dataset="cifar10-subset"),
    # the CIFAR-10 network of docs/training.md ("cifar10 on the CIFAR-10 subset":
    # its recipe trains in under 15 minutes on one CPU thread); --dataset cifar10
    # trains it on a full copy. The same layers as cifar-small, the name of the
    # measured recipe. 22,560 weight words: more than the default accelerator's
    # 16,384 (--width 0.5 fits).
    "cifar10": dict(spec=CIFAR3, input_shape=(3, 32, 32), classes=CIFAR10,
                    dataset="cifar10-subset"),
    # fc 64: 128 would need 21,296 weight words, more than the accelerator's 16,384
    "nmnist-small": dict(spec=[("conv", 16), ("pool", 2), ("conv", 32, 3, 2, 1), ("fc", 64),
                               ("out",)],
                         input_shape=(2, 34, 34), classes=DIGITS, dataset="nmnist",
                         input_kind="events"),
    "nmnist-mlp": dict(spec=[("fc", 96), ("out",)], input_shape=(2, 34, 34), classes=DIGITS,
                       dataset="nmnist", input_kind="events"),
    "vgg16": dict(spec=VGG16, input_shape=(3, 32, 32), classes=CIFAR10, dataset="cifar10"),
    "resnet19": dict(spec=RESNET19, input_shape=(3, 32, 32), classes=CIFAR10, dataset="cifar10"),
}


def preset(name, classes=None, **kw):
    """Build a preset network; ``kw`` overrides :func:`build` options (``width``,
    ``t_max``, ``leak_shift``, ``surrogate``, ...)."""
    if name not in PRESETS:
        raise AtsnnError(f"unknown preset {name!r}: expected one of {', '.join(PRESETS)}")
    p = dict(PRESETS[name])
    p.pop("dataset")
    if classes is not None:
        p["classes"] = list(classes)
    p.update(kw)
    return build(name, **p)
