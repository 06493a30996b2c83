"""The golden engine: contract v1 (docs/contract.md) on a batch, integers only.

Samples run together, time-major, and leave the batch as they exit. Maps are kept
channels-last ([m, H, W, C]) so a conv is one im2col matmul with no transposes.
Values are held in float32 or float64 only where that is exact: every partial sum
of an edge's dot product is bounded by sum |W| * max|x| over the neuron's inputs,
and every current, V_pre, V and U of a layer by the contract's M =
(T_max + 1) * max Imax (image.layer_bound_bits). When the bound (and theta) is
<= 2**24 (float32) or <= 2**53 (float64), every intermediate value is an integer
the format represents exactly, whatever order BLAS sums in; above 2**53 the layer
falls back to int64. Results leave the engine as int64.
"""

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from atsnn import AtsnnError
from atsnn.golden import cycles as cyc
from atsnn.model_image import edge_abs_sum, input_max_abs, layer_bound_bits

FLOAT32_EXACT = 1 << 24
FLOAT64_EXACT = 1 << 53
IM2COL_BLOCK = 1 << 20   # im2col elements per matmul (measured best near 1-4 MB)
LIF_BLOCK = 1 << 17      # neurons per LIF update (its temporaries stay in cache)


@dataclass
class Result:
    """Per-sample results (first axis N); see docs/golden.md."""
    pred: np.ndarray
    exit_t: np.ndarray
    u: np.ndarray
    spikes: np.ndarray
    scatter_cycles: np.ndarray
    sops: np.ndarray
    first_layer_macs: np.ndarray
    weight_reads: np.ndarray
    membrane_reads: np.ndarray
    membrane_writes: np.ndarray
    event_reads: np.ndarray
    event_writes: np.ndarray
    cycles: np.ndarray
    layer_ops: np.ndarray
    scatter_work: np.ndarray
    lanes: int
    grid: int

    @property
    def array_ops(self):
        """int [N]: operations the PE array applies: the SOPs, and the static first
        layer's MACs at every timestep run (the accelerator scatters the input
        again each timestep; the RTL's SOP counter counts these)."""
        return self.sops + self.first_layer_macs * self.exit_t

    @property
    def utilization(self):
        """PE utilization over the batch: array operations / (P x grid^2 x
        scatter cycles)."""
        return cyc.utilization(self.array_ops.sum(), self.scatter_cycles.sum(), self.lanes,
                               self.grid)

    @property
    def sops_per_cycle(self):
        """Array operations per cycle over the batch; 0 for an empty batch."""
        total = int(self.cycles.sum())
        return float(self.array_ops.sum()) / total if total else 0.0


def exact_dtype(bound):
    """The fastest dtype holding every integer of magnitude <= bound exactly."""
    return np.float32 if bound <= FLOAT32_EXACT else np.float64 if bound <= FLOAT64_EXACT else np.int64


def lif_update(v, current, theta, leak_shift, reset):
    """One LIF timestep: V_pre = L(V) + I, spike if V_pre >= theta, reset.
    Returns (spikes bool, new V); `current` includes the bias. Works on integer
    arrays and on float arrays holding exact integers (floor(v / 2**k) is v >> k)."""
    if leak_shift:
        v = v - (v >> leak_shift if np.asarray(v).dtype.kind in "iub" else np.floor(v * 0.5 ** leak_shift))
    v_pre = v + current
    s = v_pre >= theta
    if reset == "subtract":
        v_pre -= theta * s
    else:
        v_pre *= ~s   # zero where it fired (faster than a masked store)
    return s, v_pre


def _last(x):
    """Channels-first [m, C, H, W] -> channels-last view [m, H, W, C]; [m, C] as is."""
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


class _Edge:
    def __init__(self, image, layer, edge, lanes, grid=1):
        self.source = edge.source
        self.op = edge.op
        self.k, self.s, self.p = edge.kernel, edge.stride, edge.padding
        self.out_shape = tuple(layer.shape)
        bound = int(edge_abs_sum(edge).max()) * (input_max_abs(image.input) if edge.source == "input" else 1)
        self.dtype = exact_dtype(bound)
        src = tuple(image.source_shape(edge.source))
        w = edge.weight
        if self.op == "conv":     # rows in (ky, kx, C_in) order, the order of a channels-last window
            w = w.transpose(2, 3, 1, 0)
        elif len(src) == 3:       # a linear edge reads (C, H, W)-flattened maps: reorder rows to (H, W, C)
            w = w.reshape((-1,) + src).transpose(2, 3, 1, 0)
        else:
            w = w.T
        self.wt = np.ascontiguousarray(w.reshape(-1, w.shape[-1]).astype(self.dtype))
        conv = self.op == "conv"
        # per input position: valid kernel offsets (operations), and the
        # scatter's cycles on a spike there
        self.nvalid = (cyc.conv_passes(src[1:], self.k, self.s, self.p, layer.shape[1:]).ravel()
                       .astype(np.float64) if conv else None)
        self.c_out = int(layer.shape[0])
        self.g_out = cyc.groups(layer.shape[0], lanes)
        self.spike_cycles = (cyc.conv_spike_cycles(src[1:], self.k, self.s, self.p, layer.shape[1:],
                                                   self.g_out, grid).ravel()
                             .astype(np.float64) if conv else None)
        self.linear_cycles = cyc.linear_passes(self.g_out, grid)
        self.passes = (cyc.conv_passes(src[1:], self.k, self.s, self.p, layer.shape[1:], grid)
                       .ravel() if conv else None)

    def current(self, x):
        """int64 [m, *out_shape] = W * x for channels-first x [m, *source shape]."""
        out = self.forward(_last(np.asarray(x)))
        return (out.transpose(0, 3, 1, 2) if out.ndim == 4 else out).astype(np.int64)

    def forward(self, x):
        """W * x in self.dtype for channels-last x; channels-last result."""
        m = x.shape[0]
        x = x.astype(self.dtype, copy=False)
        if self.op == "linear":
            return x.reshape(m, -1) @ self.wt
        k, s, p = self.k, self.s, self.p
        c_out, ho, wo = self.out_shape
        if p:
            x = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
        win = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s][:, :ho, :wo].transpose(0, 1, 2, 4, 5, 3)
        out = np.empty((m, ho, wo, c_out), self.dtype)
        step = max(1, IM2COL_BLOCK // (ho * wo * len(self.wt)))
        for i in range(0, m, step):   # a few samples at a time: their im2col rows stay in cache
            np.matmul(win[i:i + step].reshape(-1, len(self.wt)), self.wt, out=out[i:i + step].reshape(-1, c_out))
        return out

    def reach(self, ev):
        """Per sample: sum over active inputs of the valid kernel offsets (the
        number of (input, offset) pairs the scatter walks); `ev` from _events."""
        count, per_pos, _ = ev
        return count if self.op == "linear" else (per_pos @ self.nvalid).astype(np.int64)

    def work(self, ev):
        """int [m, 2]: per sample, the scatter's work as ``(A, Z)``: cycles = ``A x
        steps + Z`` over ``steps`` output groups (a linear edge: passes); ``A``
        sums the spikes' passes (a linear edge: counts its spikes), ``Z`` counts
        the spikes that reach no output (golden/memory.py ``port_cycles``)."""
        count, per_pos, _ = ev
        if self.op == "linear":
            return np.stack([count, np.zeros_like(count)], axis=1).astype(np.int64)
        return np.stack([per_pos @ self.passes, per_pos @ (self.passes == 0)],
                        axis=1).round().astype(np.int64)

    def cycles(self, ev):
        """Per sample: the scatter's cycles on these events."""
        count, per_pos, _ = ev
        if self.op == "linear":
            return count * self.linear_cycles
        return (per_pos @ self.spike_cycles).astype(np.int64)


def _lif_blocks(v, current, theta, layer):
    """lif_update over a few samples at a time (its temporaries stay in cache), V
    updated in place; returns the spikes and the spike count per sample."""
    s = np.empty(v.shape, bool)
    count = np.empty(len(v), np.int64)
    step = max(1, LIF_BLOCK // max(1, v[0].size))
    acc = np.int32 if v[0].size < 1 << 31 else np.int64
    for i in range(0, len(v), step):
        block = slice(i, i + step)
        s[block], v[block] = lif_update(v[block], current[block], theta, layer.leak_shift, layer.reset)
        count[block] = s[block].reshape(len(s[block]), -1).view(np.uint8).sum(axis=1, dtype=acc)
    return s, count


def _events(s, lanes, grid=1):
    """(active inputs, active inputs per position [m, positions], events) per
    sample of a channels-last 0/1 float32 map. An event is a word of `lanes`
    channels at one position with an active input, or, for a conv map and
    ``grid > 1``, such a word over a ``grid x grid`` block of positions (one
    event per bank word the fire pass writes)."""
    m, c = s.shape[0], s.shape[-1]
    g = cyc.groups(c, lanes)
    onehot = np.zeros((c, g), np.float32)
    onehot[np.arange(c), np.arange(c) // lanes] = 1
    positions = int(np.prod(s.shape[1:-1], dtype=np.int64))   # explicit: m may be 0
    per_word = s.reshape(-1, c) @ onehot   # exact: at most `lanes`
    per_pos = (per_word.sum(axis=1) if g > 1 else per_word).reshape(m, positions)
    if grid > 1 and s.ndim == 4:
        h, w = s.shape[1:3]
        hb, wb = cyc.blocks(h, grid), cyc.blocks(w, grid)
        words = np.zeros((m, hb * grid, wb * grid, g), bool)
        words[:, :h, :w] = per_word.reshape(m, h, w, g) != 0
        events = words.reshape(m, hb, grid, wb, grid, g).any(axis=(2, 4)).reshape(m, -1).sum(axis=1)
    else:
        events = np.count_nonzero(per_word.reshape(m, positions * g), axis=1)
    return per_pos.sum(axis=1, dtype=np.float64).astype(np.int64), per_pos, events


def _maxpool(s, k):
    """OR over k x k windows of a channels-last binary map."""
    m, h, w, c = s.shape
    s = s.reshape(m, h // k, k, w // k, k, c)
    out = s[:, :, 0, :, 0].copy()
    for a in range(k):
        for b in range(k):
            if a or b:
                np.maximum(out, s[:, :, a, :, b], out=out)
    return out


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


def run(image, inputs, lanes=16, early_exit=True, batch=256, grid=1):
    """Run `image` on `inputs` (raw pixels [N, *shape] or event frames
    [N, T_max, *shape]); returns a Result. `early_exit=False` disables every tau
    entry (the fixed-T_max SNN). `grid`: the PE array's bank grid side
    (`HwConfig.grid`; docs/architecture.md, "Kernel-parallel PE array"); results
    other than cycles and event counts do not depend on it."""
    if not isinstance(lanes, (int, np.integer)) or lanes < 1:
        raise AtsnnError(f"lanes must be a positive integer, not {lanes!r}")
    grid = cyc.check_grid(grid)
    x = check_inputs(image, inputs)
    plan = _plan(image, lanes, grid)
    parts = [_run_chunk(image, plan, x[i:i + batch], lanes, early_exit, grid)
             for i in range(0, len(x), batch)] or [_run_chunk(image, plan, x[:0], lanes, early_exit, grid)]
    fields = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    fields.update(_memory_counts(image, lanes, fields, fields.pop("word_ops")))
    fields["cycles"] = cyc.image_cycles(image, lanes, fields["scatter_cycles"], fields["exit_t"],
                                        grid)
    return Result(lanes=int(lanes), grid=grid, **fields)


def _plan(image, lanes, grid=1):
    """Per layer (None for maxpool): edges, the layer's exact dtype (bound: the
    contract's M and theta), and theta and bias as full channels-last maps of one
    sample (broadcasting a [C] vector over the last axis runs numpy's inner loop
    C elements at a time, several times slower)."""
    bits = layer_bound_bits(image)
    plan = []
    for layer in image.layers:
        if layer.kind == "maxpool":
            plan.append(None)
            continue
        bound = 1 << (bits[layer.name] - 1)
        if layer.theta is not None:
            bound = max(bound, int(np.abs(layer.theta).max()))
        dtype = exact_dtype(bound)
        shape = tuple(layer.shape[1:]) + tuple(layer.shape[:1])

        def full(values):
            return np.ascontiguousarray(np.broadcast_to(values.astype(dtype), shape))
        plan.append(([_Edge(image, layer, e, lanes, grid) for e in layer.inputs], dtype,
                     None if layer.theta is None else full(layer.theta), full(layer.bias)))
    return plan


def _memory_counts(image, lanes, f, word_ops):
    """Memory words per sample, following the phases of docs/architecture.md, in
    words of P lanes: ``word_ops`` is the scatter's (weight word, membrane word)
    pairs, input scatter included, whatever the bank grid (a spike's
    operation on one output position and channel group is one pair)."""
    words = [cyc.layer_words(l, lanes) for l in image.layers]
    spiking_words = sum(w for w, l in zip(words, image.layers) if l.spiking)
    k_words = words[-1]
    t = f["exit_t"]
    return {
        "weight_reads": word_ops,
        "membrane_reads": word_ops + t * (spiking_words + k_words),
        "membrane_writes": sum(words) + word_ops + t * (spiking_words + k_words),
    }


def _run_chunk(image, plan, x, lanes, early_exit, grid=1):
    n, t_max, n_layers = len(x), image.t_max, len(image.layers)
    n_edges = max([len(l.inputs or ()) for l in image.layers] + [1])
    out = {
        "pred": np.zeros(n, np.int64), "exit_t": np.zeros(n, np.int64),
        "u": np.zeros((n, image.output.shape[0]), np.int64),
        "spikes": np.zeros((n, t_max, n_layers), np.int64),
        "scatter_cycles": np.zeros((n, t_max, n_layers), np.int64),
        "scatter_work": np.zeros((n, t_max, n_layers, n_edges, 2), np.int64),
        "sops": np.zeros(n, np.int64), "first_layer_macs": np.zeros(n, np.int64),
        "layer_ops": np.zeros((n, n_layers), np.int64), "word_ops": np.zeros(n, np.int64),
        "event_reads": np.zeros(n, np.int64), "event_writes": np.zeros(n, np.int64),
    }
    static = image.input.kind == "static"
    idx = np.arange(n)
    if static:
        edges0, dtype0, _, bias0 = plan[0]
        e0 = edges0[0]
        xs = _last(x.astype(np.int64) - image.input.zero_point)
        i0 = e0.forward(xs).astype(dtype0, copy=False) + bias0
        # the input entries (non-zero values), written once and scattered again
        # at every timestep run
        ev0 = _events((xs != 0).astype(np.float32), lanes)
        reach0, cycles0, work0 = e0.reach(ev0), e0.cycles(ev0), e0.work(ev0)
        out["first_layer_macs"] = reach0 * e0.c_out
        out["event_writes"] += ev0[0]
        frames = None
    else:
        frames = _last(x.reshape((n * t_max,) + x.shape[2:])).astype(np.float32)
        frames = frames.reshape((n, t_max) + frames.shape[1:])
    state = [None if p is None else np.zeros((n,) + tuple(l.shape[1:]) + tuple(l.shape[:1]), p[1])
             for l, p in zip(image.layers, plan)]
    pooled = {l.source for l in image.layers if l.kind == "maxpool"}

    for t in range(1, t_max + 1):
        m = len(idx)
        if m == 0:
            break
        acts, events = {}, {}
        if not static:
            acts["input"] = frames[:, t - 1]
            events["input"] = _events(acts["input"], lanes)
            out["event_writes"][idx] += events["input"][2]
        for li, layer in enumerate(image.layers):
            if layer.kind == "maxpool":
                s = _maxpool(acts[layer.source], layer.kernel).astype(np.float32, copy=False)
                acts[layer.name] = s
                ev = events[layer.name] = _events(s, lanes, grid)
                out["event_writes"][idx] += ev[2]
                out["spikes"][idx, t - 1, li] = ev[0]
                continue
            edges, dtype, theta, bias = plan[li]
            if static and li == 0:
                current = i0
                out["layer_ops"][idx, 0] += reach0[idx] * e0.c_out
                out["word_ops"][idx] += reach0[idx] * e0.g_out
                out["scatter_cycles"][idx, t - 1, 0] = cycles0[idx]
                out["scatter_work"][idx, t - 1, 0, 0] = work0[idx]
                out["event_reads"][idx] += ev0[0][idx]
            else:
                current = bias
                scatter = 0
                for j, e in enumerate(edges):
                    ev = events[e.source]
                    current = current + e.forward(acts[e.source]).astype(dtype, copy=False)
                    reach = e.reach(ev)
                    out["sops"][idx] += reach * e.c_out
                    out["layer_ops"][idx, li] += reach * e.c_out
                    out["word_ops"][idx] += reach * e.g_out
                    scatter = scatter + e.cycles(ev)
                    out["scatter_work"][idx, t - 1, li, j] = e.work(ev)
                    out["event_reads"][idx] += ev[2]
                out["scatter_cycles"][idx, t - 1, li] = scatter
            if layer.kind == "output":
                state[li] += current
                continue
            s, count = _lif_blocks(state[li], current, theta, layer)
            out["spikes"][idx, t - 1, li] = count
            if layer.name in pooled:   # only its maxpool reads it
                acts[layer.name] = s
            else:
                s = acts[layer.name] = s.astype(np.float32)
                ev = events[layer.name] = _events(s, lanes, grid)
                out["event_writes"][idx] += ev[2]

        u = state[-1].astype(np.int64)
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
