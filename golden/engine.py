"""The golden engine: contract v1 (docs/contract.md) on a batch, integers only.

Samples run together, time-major, and leave the batch as they exit. Currents are
computed with a BLAS matmul (im2col for conv) in float32 or float64 only where
that is exact: every partial sum of an edge's dot product is bounded by
sum |W| * max|x| over the neuron's inputs, and when that bound is <= 2**24
(float32) or <= 2**53 (float64) every intermediate value is an integer the
format represents exactly, whatever order BLAS sums in. Above 2**53 the edge
falls back to an int64 matmul. Results are converted to int64 before anything
else (bias, leak, threshold) touches them.
"""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from atsnn import AtsnnError
from atsnn.golden import cycles as cyc
from atsnn.golden.image import edge_abs_sum, input_max_abs

FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53


@dataclass
class Result:
    """Per-sample results (first axis N); see docs/golden.md."""
    pred: np.ndarray
    exit_t: np.ndarray
    u: np.ndarray
    spikes: np.ndarray
    scatter_cycles: np.ndarray
    input_scatter_cycles: np.ndarray
    sops: np.ndarray
    first_layer_macs: np.ndarray
    weight_reads: np.ndarray
    membrane_reads: np.ndarray
    membrane_writes: np.ndarray
    event_reads: np.ndarray
    event_writes: np.ndarray
    cycles: np.ndarray
    lanes: int

    @property
    def utilization(self):
        """PE utilization over the batch: (SOPs + first-layer MACs) / (P x scatter
        cycles, input scatter included)."""
        return cyc.utilization(self.sops.sum() + self.first_layer_macs.sum(),
                               self.scatter_cycles.sum() + self.input_scatter_cycles.sum(),
                               self.lanes)


def lif_update(v, current, theta, leak_shift, reset):
    """One LIF timestep: V_pre = L(V) + I, spike if V_pre >= theta, reset.
    Returns (spikes bool, new V); `current` includes the bias."""
    if leak_shift:
        v = v - (v >> leak_shift)
    v_pre = v + current
    s = v_pre >= theta
    v_new = v_pre - theta * s if reset == "subtract" else np.where(s, 0, v_pre)
    return s, v_new


def nvalid_map(in_hw, kernel, stride, padding, out_hw):
    """[H_in, W_in]: kernel offsets through which an input position reaches a valid
    output position of a conv edge."""
    def axis(n_in, n_out):
        pos = np.arange(n_in)[:, None] + padding - np.arange(kernel)[None, :]
        ok = (pos % stride == 0) & (pos >= 0) & (pos // stride < n_out)
        return ok.sum(axis=1)
    return np.outer(axis(in_hw[0], out_hw[0]), axis(in_hw[1], out_hw[1])).astype(np.int64)


class _Edge:
    def __init__(self, image, layer, edge, lanes):
        self.source = edge.source
        self.op = edge.op
        self.k, self.s, self.p = edge.kernel, edge.stride, edge.padding
        self.out_shape = tuple(layer.shape)
        bound = int(edge_abs_sum(edge).max()) * (input_max_abs(image.input) if edge.source == "input" else 1)
        self.dtype = (np.float32 if bound <= FLOAT32_EXACT else
                      np.float64 if bound <= FLOAT64_EXACT else np.int64)
        w = edge.weight.reshape(edge.weight.shape[0], -1)
        self.wt = np.ascontiguousarray(w.T.astype(self.dtype))
        src = image.source_shape(edge.source)
        self.nvalid = (nvalid_map(src[1:], self.k, self.s, self.p, layer.shape[1:])
                       if self.op == "conv" else None)
        self.c_out = int(layer.shape[0])
        self.g_out = cyc.groups(layer.shape[0], lanes)

    def current(self, x):
        """int64 [m, *out_shape] = W * x for x [m, *source shape]."""
        m = x.shape[0]
        x = x.astype(self.dtype, copy=False)
        if self.op == "linear":
            return (x.reshape(m, -1) @ self.wt).astype(np.int64)
        k, s, p = self.k, self.s, self.p
        c_out, ho, wo = self.out_shape
        if p:
            x = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :ho, :wo]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(m * ho * wo, -1)
        out = (cols @ self.wt).astype(np.int64)
        return out.reshape(m, ho, wo, c_out).transpose(0, 3, 1, 2)

    def reach(self, active):
        """Per sample: sum over active inputs of the valid kernel offsets (the
        number of (input, offset) pairs the scatter walks)."""
        if self.op == "linear":
            return active.reshape(active.shape[0], -1).sum(axis=1, dtype=np.int64)
        per_pos = active.sum(axis=1, dtype=np.int64)
        return (per_pos * self.nvalid).sum(axis=(1, 2))


def word_events(s, lanes):
    """Per sample: words (channel group x position) with at least one spike."""
    m, c = s.shape[0], s.shape[1]
    g = cyc.groups(c, lanes)
    if g * lanes != c:
        pad = np.zeros((m, g * lanes - c) + s.shape[2:], dtype=s.dtype)
        s = np.concatenate([s, pad], axis=1)
    return s.reshape((m, g, lanes) + s.shape[2:]).any(axis=2).reshape(m, -1).sum(axis=1)


def check_inputs(image, inputs):
    """The input array as int64, checked against the image's input spec."""
    x = np.asarray(inputs)
    shape = tuple(image.input.shape)
    if image.input.kind == "static":
        want, what = (None,) + shape, f"raw pixels [N, {', '.join(map(str, shape))}]"
        hi = (1 << image.input.bits) - 1
    else:
        want = (None, image.t_max) + shape
        what = f"binary event frames [N, T_max={image.t_max}, {', '.join(map(str, shape))}]"
        hi = 1
    if x.ndim != len(want) or x.shape[1:] != want[1:]:
        raise AtsnnError(f"inputs: shape {list(x.shape)} does not match the image's "
                         f"{image.input.kind} input, expected {what}")
    if x.dtype.kind not in "iub":
        raise AtsnnError(f"inputs: dtype {x.dtype} is not an integer dtype ({what})")
    if x.size and (int(x.min()) < 0 or int(x.max()) > hi):
        raise AtsnnError(f"inputs: values {int(x.min())}..{int(x.max())} outside 0..{hi} "
                         f"({image.input.kind} input, bits = {image.input.bits})")
    return x


def run(image, inputs, lanes=16, early_exit=True, batch=256):
    """Run `image` on `inputs` (raw pixels [N, *shape] or event frames
    [N, T_max, *shape]); returns a Result. `early_exit=False` disables every tau
    entry (the fixed-T_max SNN)."""
    if not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise AtsnnError(f"lanes must be a positive integer, not {lanes!r}")
    x = check_inputs(image, inputs)
    plan = [[_Edge(image, l, e, lanes) for e in l.inputs] for l in image.layers]
    parts = [_run_chunk(image, plan, x[i:i + batch], lanes, early_exit)
             for i in range(0, len(x), batch)] or [_run_chunk(image, plan, x[:0], lanes, early_exit)]
    fields = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    fields.update(_memory_counts(image, lanes, fields))
    fields["cycles"] = cyc.image_cycles(image, lanes, fields["input_scatter_cycles"],
                                        fields["scatter_cycles"], fields["exit_t"])
    return Result(lanes=int(lanes), **fields)


def _memory_counts(image, lanes, f):
    """Memory words per sample, following the phases of docs/architecture.md."""
    words = [cyc.layer_words(l, lanes) for l in image.layers]
    spiking_words = sum(w for w, l in zip(words, image.layers) if l.spiking)
    k_words = words[-1]
    i0 = cyc.i0_words(image, lanes)
    scatter = f["scatter_cycles"].sum(axis=(1, 2))
    isc = f["input_scatter_cycles"]
    t = f["exit_t"]
    return {
        "weight_reads": isc + scatter,
        "membrane_reads": isc + scatter + t * (spiking_words + i0 + k_words),
        "membrane_writes": sum(words) + i0 + isc + scatter + t * (spiking_words + k_words),
    }


def _run_chunk(image, plan, x, lanes, early_exit):
    n, t_max, n_layers = len(x), image.t_max, len(image.layers)
    out = {
        "pred": np.zeros(n, np.int64), "exit_t": np.zeros(n, np.int64),
        "u": np.zeros((n, image.output.shape[0]), np.int64),
        "spikes": np.zeros((n, t_max, n_layers), np.int64),
        "scatter_cycles": np.zeros((n, t_max, n_layers), np.int64),
        "input_scatter_cycles": np.zeros(n, np.int64),
        "sops": np.zeros(n, np.int64), "first_layer_macs": np.zeros(n, np.int64),
        "event_reads": np.zeros(n, np.int64), "event_writes": np.zeros(n, np.int64),
    }
    static = image.input.kind == "static"
    idx = np.arange(n)
    if static:
        e0 = plan[0][0]
        xs = x.astype(np.int64) - image.input.zero_point
        i0 = e0.current(xs) + _bcast(image.layers[0].bias, e0.out_shape)
        reach = e0.reach(xs != 0)
        out["first_layer_macs"] = reach * e0.c_out
        out["input_scatter_cycles"] = reach * e0.g_out
        nnz = (xs != 0).reshape(n, -1).sum(axis=1)
        out["event_writes"] += nnz
        out["event_reads"] += nnz
        frames = None
    else:
        frames = x.astype(bool)
    state = [np.zeros((n,) + tuple(l.shape), np.int64) if l.kind != "maxpool" else None
             for l in image.layers]
    pooled = {l.source for l in image.layers if l.kind == "maxpool"}
    params = [(_bcast(l.theta, l.shape) if l.spiking else None, _bcast(l.bias, l.shape))
              if l.kind != "maxpool" else None for l in image.layers]

    for t in range(1, t_max + 1):
        m = len(idx)
        if m == 0:
            break
        acts, events = {}, {}
        if not static:
            acts["input"] = frames[:, t - 1]
            events["input"] = word_events(acts["input"], lanes)
            out["event_writes"][idx] += events["input"]
        for li, layer in enumerate(image.layers):
            if layer.kind == "maxpool":
                k = layer.kernel
                s = acts[layer.source]
                c, h, w = s.shape[1:]
                s = s.reshape(m, c, h // k, k, w // k, k).any(axis=(3, 5))
                acts[layer.name] = s
                events[layer.name] = word_events(s, lanes)
                out["event_writes"][idx] += events[layer.name]
                out["spikes"][idx, t - 1, li] = s.reshape(m, -1).sum(axis=1)
                continue
            theta, bias = params[li]
            if static and li == 0:
                current = i0
            else:
                current = bias
                scatter = 0
                for e in plan[li]:
                    src = acts[e.source]
                    current = current + e.current(src)
                    reach = e.reach(src)
                    out["sops"][idx] += reach * e.c_out
                    scatter = scatter + reach * e.g_out
                    out["event_reads"][idx] += events[e.source]
                out["scatter_cycles"][idx, t - 1, li] = scatter
            if layer.kind == "output":
                state[li] += current
                continue
            s, state[li] = lif_update(state[li], current, theta, layer.leak_shift, layer.reset)
            acts[layer.name] = s
            out["spikes"][idx, t - 1, li] = s.reshape(m, -1).sum(axis=1)
            if layer.name not in pooled:
                events[layer.name] = word_events(s, lanes)
                out["event_writes"][idx] += events[layer.name]

        u = state[-1]
        if t == t_max:
            leave = np.ones(m, bool)
        else:
            tau = image.tau[t - 1]
            if not early_exit or tau is None:
                leave = np.zeros(m, bool)
            else:
                top = np.sort(u, axis=1)
                leave = top[:, -1] - top[:, -2] >= tau
        if leave.any():
            gone = idx[leave]
            out["pred"][gone] = np.argmax(u[leave], axis=1)
            out["exit_t"][gone] = t
            out["u"][gone] = u[leave]
            keep = ~leave
            idx = idx[keep]
            state = [s_[keep] if s_ is not None else None for s_ in state]
            if static:
                i0 = i0[keep]
            else:
                frames = frames[keep]
    return out


def _bcast(values, shape):
    """Per-channel values [C] shaped to broadcast over a layer's [C, H, W] output."""
    return values.reshape((-1,) + (1,) * (len(shape) - 1))
