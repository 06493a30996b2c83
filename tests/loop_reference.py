"""A deliberately plain per-neuron, per-event loop model of contract v1.

It shares no code with golden/engine.py: it walks events one at a time the way
docs/architecture.md describes the hardware (event, set bit, kernel offset,
channel group) and counts as it goes. Only the cycle constants are imported, so
the RTL engineer can tune them without touching this file; the terms of the
cycle formula are written out here again on purpose.
"""

from atsnn.golden.cycles import C_EXIT, C_PHASE, C_START


def ceil_div(a, b):
    return -(-a // b)


def words_of(shape, lanes):
    if len(shape) == 3:
        return ceil_div(shape[0], lanes) * shape[1] * shape[2]
    return ceil_div(shape[0], lanes)


def events_of(spikes, shape, lanes):
    """Event words written for a spike map (dict index tuple -> 0/1)."""
    count = 0
    if len(shape) == 3:
        c, h, w = shape
        for g in range(ceil_div(c, lanes)):
            for y in range(h):
                for x in range(w):
                    if any(spikes[(ch, y, x)] for ch in range(g * lanes, min(c, (g + 1) * lanes))):
                        count += 1
    else:
        for g in range(ceil_div(shape[0], lanes)):
            if any(spikes[(n,)] for n in range(g * lanes, min(shape[0], (g + 1) * lanes))):
                count += 1
    return count


def indices(shape):
    if len(shape) == 3:
        return [(c, y, x) for c in range(shape[0]) for y in range(shape[1]) for x in range(shape[2])]
    return [(n,) for n in range(shape[0])]


def flat_index(idx, shape):
    if len(shape) == 3:
        return (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]
    return idx[0]


def scatter(edge, src_values, src_shape, dst_shape, acc, lanes):
    """Walk the non-zero inputs of one edge, adding W * value into acc.
    Returns (ops, cycles, words): a spike that reaches no output costs the
    scatter one cycle and reads no word."""
    ops = cycles = words = 0
    c_out = dst_shape[0]
    groups = ceil_div(c_out, lanes)
    w = edge.weight
    for idx in indices(src_shape):
        v = int(src_values[idx])
        if v == 0:
            continue
        if edge.op == "linear":
            j = flat_index(idx, src_shape)
            for i in range(c_out):
                acc[(i,)] += int(w[i, j]) * v
            ops += c_out
            cycles += groups
            words += groups
            continue
        c, y, x = idx
        reached = False
        k, s, p = edge.kernel, edge.stride, edge.padding
        for dy in range(k):
            for dx in range(k):
                oy, ox = y + p - dy, x + p - dx
                if oy % s or ox % s:
                    continue
                oy, ox = oy // s, ox // s
                if not (0 <= oy < dst_shape[1] and 0 <= ox < dst_shape[2]):
                    continue
                for co in range(c_out):
                    acc[(co, oy, ox)] += int(w[co, c, dy, dx]) * v
                ops += c_out
                cycles += groups
                words += groups
                reached = True
        cycles += 0 if reached else 1
    return ops, cycles, words


def run_one(image, x, lanes):
    """One sample: x is raw pixels [*shape] (static) or frames [T_max, *shape]."""
    layers = image.layers
    static = image.input.kind == "static"
    in_shape = tuple(image.input.shape)
    n_layers = len(layers)
    r = {"spikes": [[0] * n_layers for _ in range(image.t_max)],
         "scatter_cycles": [[0] * n_layers for _ in range(image.t_max)],
         "sops": 0, "first_layer_macs": 0,
         "weight_reads": 0, "membrane_reads": 0, "membrane_writes": 0,
         "event_reads": 0, "event_writes": 0}
    words = [0 if l.kind == "maxpool" else words_of(tuple(l.shape), lanes) for l in layers]
    r["membrane_writes"] += sum(words)  # init

    V = {l.name: {i: 0 for i in indices(tuple(l.shape))} for l in layers if l.kind != "maxpool"}
    pooled = {l.source for l in layers if l.kind == "maxpool"}
    if static:   # the input entries: written once, scattered at every timestep
        xv = {i: int(x[i]) - image.input.zero_point for i in indices(in_shape)}
        nnz = sum(1 for v in xv.values() if v != 0)
        r["event_writes"] += nnz

    for t in range(1, image.t_max + 1):
        s_maps, ev = {}, {}
        if static:
            s_maps["input"], ev["input"] = xv, nnz
        else:
            s_maps["input"] = {i: int(x[(t - 1,) + i]) for i in indices(in_shape)}
            ev["input"] = events_of(s_maps["input"], in_shape, lanes)
            r["event_writes"] += ev["input"]
        for li, layer in enumerate(layers):
            shape = tuple(layer.shape)
            if layer.kind == "maxpool":
                k = layer.kernel
                src = s_maps[layer.source]
                pm = {}
                for (c, y, xx) in indices(shape):
                    pm[(c, y, xx)] = int(any(src[(c, y * k + a, xx * k + b)]
                                             for a in range(k) for b in range(k)))
                s_maps[layer.name] = pm
                r["spikes"][t - 1][li] = sum(pm.values())
                ev[layer.name] = events_of(pm, shape, lanes)
                r["event_writes"] += ev[layer.name]
                continue
            acc = {i: int(layer.bias[i[0]]) for i in indices(shape)}
            for e in layer.inputs:
                src_shape = in_shape if e.source == "input" else tuple(image.layer(e.source).shape)
                ops, cycles, word_ops = scatter(e, s_maps[e.source], src_shape, shape, acc, lanes)
                if static and e.source == "input":
                    r["first_layer_macs"] = ops          # the same every timestep
                else:
                    r["sops"] += ops
                r["scatter_cycles"][t - 1][li] += cycles
                r["weight_reads"] += word_ops
                r["membrane_reads"] += word_ops
                r["membrane_writes"] += word_ops
                r["event_reads"] += ev[e.source]
            v = V[layer.name]
            if layer.kind == "output":
                for i in v:
                    v[i] += acc[i]
                r["membrane_reads"] += words[li]
                r["membrane_writes"] += words[li]
                continue
            sm = {}
            for i in v:
                old = v[i]
                leaked = old - (old >> layer.leak_shift) if layer.leak_shift else old
                v_pre = leaked + acc[i]
                theta = int(layer.theta[i[0]])
                spike = 1 if v_pre >= theta else 0
                if layer.reset == "subtract":
                    v[i] = v_pre - theta * spike
                else:
                    v[i] = 0 if spike else v_pre
                sm[i] = spike
            s_maps[layer.name] = sm
            r["spikes"][t - 1][li] = sum(sm.values())
            r["membrane_reads"] += words[li]
            r["membrane_writes"] += words[li]
            if layer.name not in pooled:
                ev[layer.name] = events_of(sm, shape, lanes)
                r["event_writes"] += ev[layer.name]

        u = [V[layers[-1].name][(k,)] for k in range(layers[-1].shape[0])]
        best = max(u)
        pred = u.index(best)
        second = max(u[:pred] + u[pred + 1:])
        tau = image.tau[t - 1] if t < image.t_max else None
        if t == image.t_max or (tau is not None and best - second >= tau):
            r.update(pred=pred, exit_t=t, u=u)
            break

    state_layers = [li for li, layer in enumerate(layers) if layer.kind != "maxpool"]
    cycles = C_START + sum(words[li] + C_PHASE for li in state_layers)
    for t in range(r["exit_t"]):
        for li, layer in enumerate(layers):
            if layer.kind in ("conv", "linear"):
                cycles += (r["scatter_cycles"][t][li] + len(layer.inputs) * C_PHASE
                           + words[li] + C_PHASE)
        cycles += r["scatter_cycles"][t][-1] + len(layers[-1].inputs) * C_PHASE + 2 * words[-1] + C_EXIT
    r["cycles"] = cycles
    return r
