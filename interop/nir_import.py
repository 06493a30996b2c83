"""NIR graph -> model image under the numeric contract (docs/nir.md).

NIR is continuous-time and floating point; the contract is discrete-time integers.
The convention (forward Euler at step dt, which the file does not store):
decay beta = 1 - dt/tau, input gain g = dt*r/tau (IF, I: dt*r), a constant drive
(dt/tau)*v_leak folded into the bias. Each layer then gets one power-of-two scale:
weights round to `weight_bits`, bias and threshold to the accumulator scale, and
NIR's spike test v > thr becomes the contract's V >= floor(thr/s) + 1, which is the
same test on the integer grid. What is rounded or dropped is returned as notes, one
per layer; what cannot be mapped at all is an AtsnnError naming the node.
"""

import math
from dataclasses import dataclass

import numpy as np

from atsnn import AtsnnError
from atsnn import model_image as mi
from atsnn.interop.graph import atsnn_metadata, chain

DEFAULTS = {"t_max": None, "dt": 1e-4, "reset": "nir", "spike": "gt", "weight_bits": 8, "input_kind": "static",
            "input_bits": 8, "input_scale": 1 / 255, "zero_point": 0, "membrane_bits": 24,
            "acc_bits": 32, "name": "nir", "tau": None, "classes": None,
            "input_encoding": None, "input_shape": None}
RESETS = ("nir", "subtract", "zero")
#: Time constants compare equal within float32's precision (exporters write float32).
REL = 1e-6
#: A threshold within this relative distance of the grid is on it: above float32's
#: rounding (6e-8), below export-nir's offset 2^-20 (9.5e-7).
SNAP = 1e-7


@dataclass
class Note:
    layer: str
    exact: bool
    text: str


def import_graph(graph, **given):
    """(ModelImage, [Note]) for a NIRGraph. `given` holds the user's options (None
    = not given); the graph's own atsnn metadata (written by export-nir) comes
    next, then DEFAULTS."""
    ch = chain(graph)
    opts = dict(DEFAULTS)
    opts.update({k: v for k, v in ch.metadata.items() if k in DEFAULTS})
    opts.update({k: v for k, v in given.items() if v is not None})
    if opts["t_max"] is None:
        raise AtsnnError("--t-max is required: a NIR file does not store the number of "
                         "timesteps the source ran")
    if opts["spike"] not in ("gt", "ge"):
        raise AtsnnError(f"--spike {opts['spike']!r}: expected gt (NIR's v > thr) or ge")
    if opts["reset"] not in RESETS:
        raise AtsnnError(f"--reset {opts['reset']!r}: expected one of {', '.join(RESETS)}")
    if not opts["dt"] > 0 or not math.isfinite(opts["dt"]):
        raise AtsnnError(f"--dt {opts['dt']}: must be a positive number")
    in_shape = tuple(opts["input_shape"] or ch.input_shape)   # Sinabs puts T in the Input type
    inp = mi.Input(opts["input_kind"], in_shape, 1 if opts["input_kind"] == "events"
                   else opts["input_bits"], opts["zero_point"],
                   1.0 if opts["input_kind"] == "events" else opts["input_scale"],
                   opts["input_encoding"] or ("frames:count" if opts["input_kind"] == "events"
                                              else "pixels"))
    nodes, notes = _flat_input(ch, in_shape)
    segments = _segments(nodes)
    layers = []
    shape, src = in_shape, "input"
    for i, (lin, neuron) in enumerate(segments):
        last = i == len(segments) - 1
        fold = _fold(lin, shape)
        if fold is None:
            layer, note = _maxpool(lin, neuron, shape, src, layers, opts)
        else:
            layer, note = _layer(fold, neuron, src, inp, opts, last)
        layers.append(layer)
        notes += note
        shape, src = tuple(layer.shape), layer.name
    if not layers or layers[-1].kind != "output":
        raise AtsnnError("graph: no output layer (the chain must end in weights, "
                         "optionally followed by one neuron node)")
    tau = opts["tau"]
    if tau is None or len(tau) != opts["t_max"] - 1:   # none given, or for another T_max
        tau = [None] * (opts["t_max"] - 1)
    image = mi.build(opts["name"], inp, layers, opts["t_max"], tau=tau, classes=opts["classes"],
                     membrane_bits=opts["membrane_bits"], acc_bits=opts["acc_bits"])
    return image, notes


def _flat_input(ch, in_shape):
    """(nodes, notes): a graph whose Input is flat ([784]: Norse's and Sinabs' MLPs,
    which have no Flatten node) given --input-shape C,H,W of the same size reads
    the image's C, H, W input through an implicit Flatten (torch's row-major
    order), so the image runs on the dataset's own samples."""
    first = ch.nodes[0] if ch.nodes else None
    if (len(in_shape) < 2 or len(ch.input_shape) != 1
            or math.prod(in_shape) != ch.input_shape[0] or first is None
            or type(first[1]).__name__ not in ("Affine", "Linear")):
        return ch.nodes, []
    import nir
    flat = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
    text = (f"the graph reads a flat [{ch.input_shape[0]}] input: --input-shape "
            f"{','.join(map(str, in_shape))} flattened in C, H, W order before it (exact)")
    return [("input.flatten", flat)] + list(ch.nodes), [Note(first[0], True, text)]


# ---------------------------------------------------------------- segments

def _segments(nodes):
    """[(linear nodes, neuron node or None)]: the chain cut after every neuron node;
    a trailing run of linear nodes is the last segment with no neuron."""
    segments, run = [], []
    for name, node in nodes:
        if type(node).__name__ in ("IF", "LIF", "CubaLIF", "LI", "I"):
            segments.append((run, (name, node)))
            run = []
        else:
            run.append((name, node))
    if run:
        segments.append((run, None))
    return segments


@dataclass
class Fold:
    """One weight node with the pools around it folded in (all exact: pooling and
    weights are both linear)."""
    name: str
    op: str
    weight: np.ndarray
    bias: np.ndarray
    stride: int = None
    padding: int = None
    shape: tuple = None    # output shape
    notes: tuple = ()


def _fold(lin, shape):
    """The Fold of a run of linear nodes read from a tensor of `shape`, or None when
    the run has no weight node (a pool on its own)."""
    src_shape = tuple(shape)
    pre_k = post_k = 1
    pre_f = post_f = 1.0
    op = None
    notes = []
    for name, node in lin:
        kind = type(node).__name__
        if kind == "Flatten":
            shape = _flatten(name, node, shape)
        elif kind in ("SumPool2d", "AvgPool2d"):
            k = _pool(name, node, shape)
            f = 1.0 if kind == "SumPool2d" else 1.0 / (k * k)
            if op is None:
                pre_k, pre_f = pre_k * k, pre_f * f
            elif op.op == "conv":
                post_k, post_f = post_k * k, post_f * f
            else:
                raise AtsnnError(f"node '{name}': a pool after linear node '{op.name}'")
            shape = (shape[0], shape[1] // k, shape[2] // k)
            notes.append(f"{kind} '{name}' folded into the weights (exact)")
        elif op is not None:
            raise AtsnnError(f"node '{name}': second weight node after '{op.name}' with no "
                             "neuron between them")
        elif kind == "Conv2d":
            op = _conv(name, node, shape)
            shape = op.shape
        else:
            op = _affine(name, node, shape)
            shape = op.shape
    if op is None:
        return None if pre_k > 1 else _no_weights(lin)
    if pre_k > 1:
        op = _fold_pre(op, src_shape, pre_k, pre_f)
    if post_k > 1:
        op = _fold_post(op, post_k, post_f)
    _check_conv_shape(op, src_shape, shape)
    op.shape = tuple(shape)
    op.notes = tuple(notes)
    return op


def _no_weights(lin):
    where = f"node '{lin[0][0]}'" if lin else "graph"
    raise AtsnnError(f"{where}: a neuron with no weight node before it")


def _flatten(name, node, shape):
    n = len(shape)
    start, end = int(node.start_dim), int(node.end_dim)
    if n == 1:
        return shape
    if start % n != 0 or end % n != n - 1:
        raise AtsnnError(f"node '{name}': Flatten start_dim={start}, end_dim={end} of a "
                         f"{list(shape)} tensor; the contract flattens all of C, H, W "
                         "(snnTorch: export with ignore_dims=[0])")
    return (math.prod(shape),)


def _pair(name, field, value):
    v = np.asarray(value).ravel()
    if v.dtype.kind not in "iuf" or v.size not in (1, 2) or (v.size == 2 and v[0] != v[1]):
        raise AtsnnError(f"node '{name}': {field} = {np.asarray(value).tolist()}; only square, "
                         "equal values are imported")
    if float(v[0]) != int(v[0]):
        raise AtsnnError(f"node '{name}': {field} = {float(v[0])} is not an integer")
    return int(v[0])


def _pool(name, node, shape):
    if len(shape) != 3:
        raise AtsnnError(f"node '{name}': a 2-D pool on a {list(shape)} tensor")
    k = _pair(name, "kernel_size", node.kernel_size)
    s = _pair(name, "stride", node.stride)
    p = _pair(name, "padding", node.padding)
    if s != k or p != 0 or k < 1:
        raise AtsnnError(f"node '{name}': pool kernel {k}, stride {s}, padding {p}; only "
                         "kernel = stride without padding is exact")
    if shape[1] % k or shape[2] % k:
        raise AtsnnError(f"node '{name}': {shape[1]}x{shape[2]} is not a multiple of the "
                         f"pool kernel {k}")
    return k


def _conv(name, node, shape):
    if len(shape) != 3:
        raise AtsnnError(f"node '{name}': Conv2d on a {list(shape)} tensor (flattened)")
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 4 or w.shape[1] != shape[0]:
        raise AtsnnError(f"node '{name}': weight {list(w.shape)} does not read "
                         f"{shape[0]} channels")
    if w.shape[2] != w.shape[3]:
        raise AtsnnError(f"node '{name}': kernel {w.shape[2]}x{w.shape[3]}; only square "
                         "kernels are imported")
    if int(node.groups) != 1:
        raise AtsnnError(f"node '{name}': groups = {int(node.groups)}; only groups = 1")
    if _pair(name, "dilation", node.dilation) != 1:
        raise AtsnnError(f"node '{name}': dilation {np.asarray(node.dilation).tolist()}; only 1")
    k = w.shape[2]
    s = _pair(name, "stride", node.stride)
    pad = node.padding
    if isinstance(pad, (str, bytes)):
        pad = pad.decode() if isinstance(pad, bytes) else pad
        if pad == "valid":
            pad = 0
        elif pad == "same" and s == 1 and k % 2:
            pad = k // 2
        else:
            raise AtsnnError(f"node '{name}': padding {pad!r} with kernel {k}, stride {s}")
    p = _pair(name, "padding", pad)
    bias = _bias(name, node, w.shape[0])
    h, wd = (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1
    if h < 1 or wd < 1:
        raise AtsnnError(f"node '{name}': kernel {k} on {shape[1]}x{shape[2]} gives no output")
    return Fold(name, "conv", w, bias, s, p, (w.shape[0], h, wd))


def _affine(name, node, shape):
    w = np.asarray(node.weight, dtype=np.float64)
    if len(shape) != 1:
        raise AtsnnError(f"node '{name}': {type(node).__name__} on a {list(shape)} tensor; "
                         "put a Flatten before it")
    if w.ndim != 2 or w.shape[1] != shape[0]:
        raise AtsnnError(f"node '{name}': weight {list(w.shape)} does not read {shape[0]} inputs")
    return Fold(name, "linear", w, _bias(name, node, w.shape[0]), shape=(w.shape[0],))


def _bias(name, node, n):
    if getattr(node, "bias", None) is None:
        return np.zeros(n)
    b = np.asarray(node.bias, dtype=np.float64).ravel()
    if b.size != n:
        raise AtsnnError(f"node '{name}': bias has {b.size} entries for {n} outputs")
    return b


def _fold_pre(op, src_shape, k, f):
    """Pool (kernel = stride k, factor f) on the source, then op == op with a wider
    kernel on the source itself."""
    c, h, w = src_shape
    if op.op == "linear":
        n = op.weight.shape[0]
        hp, wp = h // k, w // k
        w4 = op.weight.reshape(n, c, hp, wp).repeat(k, axis=2).repeat(k, axis=3) * f
        full = np.zeros((n, c, h, w))
        full[:, :, :hp * k, :wp * k] = w4
        return Fold(op.name, "linear", full.reshape(n, -1), op.bias)
    wk = op.weight.repeat(k, axis=2).repeat(k, axis=3) * f
    return Fold(op.name, "conv", wk, op.bias, op.stride * k, op.padding * k)


def _fold_post(op, k, f):
    """Conv (kernel K, stride s) then a pool k == one conv of kernel K + (k-1)s,
    stride s*k: every pooled output sums k*k shifted copies of the kernel."""
    co, ci, kk, _ = op.weight.shape
    s = op.stride
    big = kk + (k - 1) * s
    w = np.zeros((co, ci, big, big))
    for a in range(k):
        for b in range(k):
            w[:, :, a * s:a * s + kk, b * s:b * s + kk] += op.weight * f
    return Fold(op.name, "conv", w, op.bias * (k * k * f), s * k, op.padding)


def _check_conv_shape(op, src_shape, shape):
    if op.op != "conv":
        return
    k = op.weight.shape[2]
    h = (src_shape[1] + 2 * op.padding - k) // op.stride + 1
    w = (src_shape[2] + 2 * op.padding - k) // op.stride + 1
    if (h, w) != tuple(shape[1:]) or len(shape) != 3:
        raise AtsnnError(f"node '{op.name}': folding its pools gives {h}x{w}, the graph "
                         f"says {list(shape)} (a Flatten between conv and neuron?)")


# ---------------------------------------------------------------- neurons

@dataclass
class Neuron:
    name: str
    kind: str
    gain: np.ndarray     # per channel
    drive: np.ndarray    # per channel, (dt/tau) * v_leak
    thr: np.ndarray      # per channel (None for LI, I)
    beta: float
    reset: str           # "zero" or "subtract" (after options and metadata)
    meta: dict


def _neuron(name, node, shape, opts):
    kind = type(node).__name__
    dt = float(opts["dt"])

    def pc(field, value=None):
        return _per_channel(name, field, getattr(node, field) if value is None else value, shape)

    tau_field = {"LIF": "tau", "LI": "tau", "CubaLIF": "tau_mem"}.get(kind)
    r = pc("r")
    if tau_field:
        tau = pc(tau_field)
        if np.any(tau <= 0) or np.any(np.isnan(tau)):
            raise AtsnnError(f"node '{name}': {tau_field} must be > 0")
        a = dt / tau
        if np.any(a > 1):
            raise AtsnnError(f"node '{name}': dt/{tau_field} = {float(a.max()):.4g} > 1 (the "
                             f"Euler step is unstable): is --dt {dt} the exporter's step? "
                             "(snnTorch: 1e-4)")
        if np.ptp(a) > REL * float(a.max()):
            raise AtsnnError(f"node '{name}': {tau_field} differs between neurons; the "
                             "contract has one leak per layer")
        beta = 1.0 - float(a.max())
        gain = r * a
        drive = a * pc("v_leak")
    else:
        beta, gain, drive = 1.0, r * dt, np.zeros(shape[0])
    if kind == "CubaLIF":
        ts = pc("tau_syn")
        if np.any(np.abs(ts - dt) > REL * dt):
            raise AtsnnError(f"node '{name}': CubaLIF tau_syn = {float(ts.min()):.4g}; it reduces "
                             f"to the contract (no synaptic current state) only when tau_syn = "
                             f"dt = {dt:.4g}")
        gain = gain * pc("w_in")
    if np.any(~np.isfinite(gain)) or np.any(gain <= 0):
        raise AtsnnError(f"node '{name}': input gain dt*r/tau must be finite and > 0 "
                         f"(got {float(np.nanmin(gain)):.4g}); check r and --dt")
    thr = None
    meta = atsnn_metadata(node)
    reset = meta.get("reset") or ("zero" if opts["reset"] == "nir" else opts["reset"])
    if kind in ("IF", "LIF", "CubaLIF"):
        thr = pc("v_threshold")
        v_reset = pc("v_reset")
        if np.any(v_reset != 0):
            raise AtsnnError(f"node '{name}': v_reset = {float(v_reset[v_reset != 0][0]):.4g}; "
                             "the contract resets to 0 (or subtracts the threshold)")
    return Neuron(name, kind, gain, drive, thr, beta, reset, meta)


def _per_channel(name, field, value, shape):
    a = np.asarray(value, dtype=np.float64)
    c = shape[0]
    if a.ndim == 1 and a.size == c and len(shape) == 3:
        a = a.reshape(c, 1, 1)
    try:
        a = np.broadcast_to(a, shape).reshape(c, -1)
    except ValueError:
        raise AtsnnError(f"node '{name}': {field} has shape {list(np.shape(value))}, the "
                         f"layer is {list(shape)}") from None
    if a.shape[1] > 1 and np.any(a != a[:, :1]):
        raise AtsnnError(f"node '{name}': {field} differs between positions of one channel; "
                         "the contract has one value per channel")
    return a[:, 0].copy()


def _leak(nrn):
    """(leak_shift, exact, text)."""
    if nrn.beta == 1.0:
        return 0, True, None
    k = min(31, max(1, round(-math.log2(1.0 - nrn.beta))))
    if abs((1.0 - nrn.beta) - 2.0 ** -k) <= REL * 2.0 ** -k:
        return k, False, f"leak beta = 1 - 2^-{k}: leak_shift {k} (the integer leak floors v >> {k})"
    return k, False, (f"leak beta = {nrn.beta:.6g} is not 1 - 2^-k: rounded to leak_shift {k} "
                      f"(beta {1 - 2.0 ** -k:.6g})")


# ---------------------------------------------------------------- layers

def _layer(fold, neuron, src, inp, opts, last):
    notes = [Note(fold.name, True, t) for t in fold.notes]
    shape = fold.shape
    if neuron is not None:
        nrn = _neuron(neuron[0], neuron[1], shape, opts)
    else:
        nrn = Neuron(fold.name, "none", np.ones(shape[0]), np.zeros(shape[0]), None, 1.0,
                     "zero", {})
    if last:
        if nrn.kind == "none":
            notes.append(Note(fold.name, False, "the graph's output is the current of "
                                                f"'{fold.name}' each step; read as its sum over timesteps"))
        elif nrn.kind in ("IF", "LIF", "CubaLIF"):
            notes.append(Note(fold.name, False, f"last node '{nrn.name}' is a spiking {nrn.kind}: "
                              "read as an integrator of its input current (threshold, reset "
                              "and leak dropped; snnTorch's membrane readout with "
                              "reset_mechanism='none', beta=1)"))
        elif nrn.beta != 1.0:
            notes.append(Note(fold.name, False, f"output leak beta = {nrn.beta:.6g} dropped "
                                                "(the output integrator has no leak)"))
    static = src == "input" and inp.kind == "static"
    s_x = inp.scale if static else 1.0
    w_eff = fold.weight * nrn.gain.reshape((-1,) + (1,) * (fold.weight.ndim - 1))
    b_eff = fold.bias * nrn.gain + nrn.drive
    bits = int(nrn.meta.get("weight_bits") or opts["weight_bits"])
    s = _weight_scale(w_eff, bits, nrn.meta.get("weight_scale"))
    xmax = mi.input_max_abs(inp) if src == "input" else 1
    limit = opts["acc_bits"] if last else opts["membrane_bits"]
    fine = s
    while _bound_bits(w_eff, b_eff, s, s * s_x, xmax, opts["t_max"]) > limit and s < 2 ** 60:
        s *= 2   # coarser weights so the membrane bound fits (docs/contract.md)
    if s != fine:
        notes.append(Note(fold.name, False, f"weight scale coarsened 2^{round(math.log2(fine))}"
                          f" -> 2^{round(math.log2(s))} so the membrane bound fits {limit} bits"))
    acc = s * s_x
    w_int = np.round(w_eff / s).astype(np.int64)
    if not w_int.any() and np.any(w_eff):
        raise AtsnnError(f"node '{fold.name}': every weight rounds to 0 at the scale 2^"
                         f"{round(math.log2(s))} that fits the membrane bound in {limit} bits")
    err = float(np.abs(w_int * s - w_eff).max(initial=0))
    wmax = float(np.abs(w_eff).max(initial=0))
    notes.append(Note(fold.name, err <= 1e-9 * max(wmax, 1e-300),
                      f"weights {bits} bits at scale 2^{round(math.log2(s))}"
                      + (f": max rounding error {err:.3g} ({100 * err / wmax:.2f} % of max |W|)"
                         if err > 1e-9 * max(wmax, 1e-300) else " (exact)")))
    b_int = np.round(b_eff / acc).astype(np.int64)
    berr = float(np.abs(b_int * acc - b_eff).max(initial=0))
    if berr > 1e-6 * acc:
        notes.append(Note(fold.name, False, f"bias rounded to scale {acc:.4g} (max error "
                                            f"{berr / acc:.3g} LSB)"))
    edge = (mi.conv_edge(src, w_int, fold.stride, fold.padding) if fold.op == "conv"
            else mi.linear_edge(src, w_int))
    if last:
        layer = mi.output_layer(fold.name, [edge], b_int, bits, scale=acc)
        layer.shape = list(shape)
        return layer, notes
    if nrn.kind in ("none", "LI", "I"):
        raise AtsnnError(f"node '{nrn.name}': a non-spiking {nrn.kind if nrn.kind != 'none' else 'weight'} "
                         "node before the last layer (the contract's hidden layers spike)")
    q = nrn.thr / acc
    # a threshold meant to sit on the grid (float noise) counts as on it
    q = np.where(np.abs(q - np.round(q)) < SNAP * np.maximum(1, np.abs(q)), np.round(q), q)
    # v > q is V >= floor(q) + 1 on integers; v >= q (Sinabs) is V >= ceil(q)
    theta = (np.floor(q) + 1 if opts["spike"] == "gt" else np.ceil(q)).astype(np.int64)
    if np.any(theta <= 0):
        raise AtsnnError(f"node '{nrn.name}': v_threshold {float(nrn.thr.min()):.4g} gives "
                         "theta <= 0; the contract needs a threshold above 0")
    if nrn.reset == "subtract" and "reset" not in nrn.meta:
        same = bool(np.all(theta == q))   # subtracts exactly thr only when it is on the grid
        notes.append(Note(fold.name, same, "reset subtract (NIR itself resets to v_reset): "
                          + ("subtracts theta = thr/s (exact)" if same else
                             "subtracts theta, up to one LSB more than thr")))
    elif not nrn.meta:
        rule = ("v > thr as V >= floor(thr/s) + 1" if opts["spike"] == "gt"
                else "v >= thr as V >= ceil(thr/s)")
        notes.append(Note(fold.name, True, f"spike {rule}, reset {nrn.reset} "
                                           "(exact on the integer grid)"))
    k, exact, text = _leak(nrn)
    if text:
        notes.append(Note(fold.name, exact, text))
    kind = "conv" if fold.op == "conv" else "linear"
    return mi.spiking_layer(fold.name, kind, [edge], b_int, theta, k, nrn.reset,
                            bits, shape=list(shape), scale=acc), notes


def _bound_bits(w, b, s, acc, xmax, t_max):
    """bits(M) of docs/contract.md for weights w and bias b at scales s, acc."""
    wi = np.abs(np.round(w / s)).reshape(w.shape[0], -1).sum(axis=1) * xmax
    m = (t_max + 1) * int((wi + np.abs(np.round(b / acc))).max(initial=0))
    return m.bit_length() + 1


def _weight_scale(w, bits, hint):
    """The power-of-two weight scale: the exporter's when the weights sit on it and
    fit, else the finest one whose integers fit `bits` signed bits."""
    qmax = (1 << (bits - 1)) - 1
    if hint:
        q = w / float(hint)
        if np.all(q == np.round(q)) and np.abs(q).max(initial=0) <= qmax:
            return float(hint)
    m = float(np.abs(w).max(initial=0))
    if m == 0:
        return 1.0
    s = 2.0 ** math.ceil(math.log2(m / qmax))
    while np.abs(np.round(w / s)).max() > qmax:   # rounding up at the top entry
        s *= 2
    return s


def _maxpool(lin, neuron, shape, src, layers, opts):
    """A pool with no weights, then IF/LIF, is the contract's maxpool when any spike
    in the window fires it and it resets to 0 (the OR of the window); else an error."""
    name = lin[0][0]
    if neuron is None:
        raise AtsnnError(f"node '{name}': a pool with no weight node after it")
    if not layers or layers[-1].name != src or layers[-1].kind != "conv":
        raise AtsnnError(f"node '{name}': a pool with no weights is imported only as a "
                         "maxpool right after a conv layer")
    k, f, c = 1, 1.0, shape
    for n, node in lin:
        kind = type(node).__name__
        if kind not in ("SumPool2d", "AvgPool2d"):
            raise AtsnnError(f"node '{n}': {kind} between a pool and neuron '{neuron[0]}' with "
                             "no weight node")
        kk = _pool(n, node, c)
        k, f = k * kk, f * (1.0 if kind == "SumPool2d" else 1.0 / (kk * kk))
        c = (c[0], c[1] // kk, c[2] // kk)
    nrn = _neuron(neuron[0], neuron[1], c, opts)
    # --reset is for layers with weights; a weightless pool + IF is read by NIR's own rule
    ok = (nrn.thr is not None and nrn.meta.get("reset", "zero") == "zero" and np.all(nrn.drive == 0)
          and np.all(nrn.thr >= 0) and np.all(nrn.thr < nrn.gain * f))
    if not ok:
        raise AtsnnError(f"node '{neuron[0]}': after pool '{name}' with no weights it must fire on "
                         "any one spike and reset to 0 (0 <= v_threshold < gain, v_leak = 0, "
                         "reset zero) to be a maxpool")
    layer = mi.maxpool_layer(name, src, k)
    layer.shape = list(c)
    return layer, [Note(name, True, f"pool {k} + {nrn.kind} "
                                                 f"'{nrn.name}' is the OR of the window: maxpool (exact)")]
