"""The NIR graph's own float simulation, to measure what importing it cost.

Same time-step convention as nir_import (forward Euler at dt, NIR's spike test
v > v_threshold, reset to v_reset unless --reset or the graph's metadata says
otherwise), in float64 with no rounding. NIR does not say how a graph's output is
read; like snnTorch's membrane readout, the prediction is the argmax of the last
node's membrane after T steps (a last spiking node integrates without threshold,
reset or spikes), or of the summed output when the last node is not a neuron.
"""

import numpy as np
import torch
import torch.nn.functional as F

from atsnn.interop.graph import atsnn_metadata, chain

NEURONS = ("IF", "LIF", "CubaLIF", "LI", "I")


def predict(graph, x, t_max, **kw):
    """argmax predictions [N] (lowest index on ties, as the contract)."""
    return scores(graph, x, t_max, **kw).argmax(1)


def scores(graph, x, t_max, dt=1e-4, reset="nir", input_kind="static", input_scale=1 / 255,
           zero_point=0, batch=256, spike="gt"):
    """The readout [N, K] (float64) for raw pixels [N, *shape] or event frames
    [N, T, *shape]."""
    ch = chain(graph)
    last = max((i for i, (_, n) in enumerate(ch.nodes) if type(n).__name__ in NEURONS), default=-1)
    readout_node = last if last == len(ch.nodes) - 1 else None
    x = np.asarray(x)
    lead = 2 if input_kind == "events" else 1
    if (x.ndim > lead and x.shape[lead:] != ch.input_shape
            and np.prod(x.shape[lead:]) == np.prod(ch.input_shape)):
        # a flat-input graph on C, H, W samples (import-nir --input-shape): torch's flatten
        x = x.reshape(x.shape[:lead] + ch.input_shape)
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            xb = torch.as_tensor(np.asarray(x[i:i + batch]), dtype=torch.float64)
            out.append(_run(ch, xb, t_max, dt, reset, spike, input_kind, input_scale, zero_point,
                              readout_node))
    return np.concatenate(out) if out else np.zeros((0, 0))


def _run(ch, xb, t_max, dt, reset, spike, input_kind, input_scale, zero_point, readout_node):
    state = {}
    total = 0
    for t in range(t_max):
        v = xb[:, t] if input_kind == "events" else (xb - zero_point) * input_scale
        for j, (name, node) in enumerate(ch.nodes):
            v = _step(name, node, v, state, dt, reset, spike, integrate_only=j == readout_node)
        total = total + v
    if readout_node is not None:
        return state[ch.nodes[readout_node][0]]["v"].flatten(1).numpy()
    return total.flatten(1).numpy()


def _p(node, field, like):
    a = torch.as_tensor(np.asarray(getattr(node, field), dtype=np.float64))
    if a.ndim == 1 and like.ndim == 4 and a.numel() == like.shape[1]:
        a = a.reshape(-1, 1, 1)
    return a


def _step(name, node, v, state, dt, reset, spike, integrate_only):
    kind = type(node).__name__
    if kind == "Flatten":
        return v.flatten(1)
    if kind in ("Affine", "Linear"):
        w = torch.as_tensor(np.asarray(node.weight, dtype=np.float64))
        out = v @ w.T
        return out + torch.as_tensor(np.asarray(node.bias, dtype=np.float64)) if kind == "Affine" else out
    if kind == "Conv2d":
        pad = node.padding
        if isinstance(pad, (str, bytes)):
            pad = pad.decode() if isinstance(pad, bytes) else pad
        else:
            pad = tuple(int(p) for p in np.asarray(pad).ravel()) * (2 if np.size(pad) == 1 else 1)
        stride = tuple(int(s) for s in np.asarray(node.stride).ravel()) * (2 if np.size(node.stride) == 1 else 1)
        return F.conv2d(v, torch.as_tensor(np.asarray(node.weight, dtype=np.float64)),
                        torch.as_tensor(np.asarray(node.bias, dtype=np.float64)), stride, pad)
    if kind in ("SumPool2d", "AvgPool2d"):
        k = int(np.asarray(node.kernel_size).ravel()[0])
        out = F.avg_pool2d(v, k, k)
        return out * (k * k) if kind == "SumPool2d" else out
    s = state.setdefault(name, {"v": torch.zeros_like(v), "i": torch.zeros_like(v)})
    if kind in ("LIF", "LI", "CubaLIF"):
        a = dt / _p(node, "tau_mem" if kind == "CubaLIF" else "tau", v)
        if kind == "CubaLIF":
            s["i"] = s["i"] + dt / _p(node, "tau_syn", v) * (_p(node, "w_in", v) * v - s["i"])
            v = s["i"]
        s["v"] = s["v"] + a * (_p(node, "v_leak", v) - s["v"]) + a * _p(node, "r", v) * v
    else:
        s["v"] = s["v"] + dt * _p(node, "r", v) * v
    if kind in ("LI", "I") or integrate_only:
        return s["v"]
    thr = _p(node, "v_threshold", v)
    z = s["v"] > thr if spike == "gt" else s["v"] >= thr
    mode = atsnn_metadata(node).get("reset") or ("nir" if reset == "nir" else reset)
    if mode == "subtract":
        s["v"] = s["v"] - thr * z
    elif mode == "zero":
        s["v"] = torch.where(z, torch.zeros_like(s["v"]), s["v"])
    else:
        s["v"] = torch.where(z, _p(node, "v_reset", v).expand_as(s["v"]), s["v"])
    return z.to(v.dtype)
