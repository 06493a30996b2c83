"""Adaptive inference: exit rules on the accumulated output ``U[t]``.

Every rule turns ``U [T, N, K]`` into a confidence score per timestep and sample;
a sample exits after the first ``t < T`` whose score reaches the threshold of
timestep ``t`` and always stops at ``T``:

- ``margin`` (the hardware rule): ``top1(U[t]) - top2(U[t])``, thresholds ``tau[t]``
  per timestep (integers when ``U`` is in output-accumulator integers);
- ``softmax`` (SEENN): ``max softmax(U[t] / t)``, one threshold;
- ``entropy`` (DT-SNN): ``1 - H(softmax(U[t] / t)) / log K``, one threshold
  (exit when the normalized entropy is at most ``1 - threshold``).

Thresholds are calibrated on a validation split held out from the training data.
"""

import numpy as np
import torch
import torch.nn.functional as F

RULES = ("margin", "softmax", "entropy")


def predictions(U):
    """argmax of ``U [T, N, K]`` per timestep, lowest index on ties."""
    return np.argmax(U, axis=-1)


def accuracy_per_t(U, y):
    return (predictions(U) == y[None]).mean(axis=1)


def margins(U):
    top2 = np.sort(U, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def scores(U, rule):
    """Confidence ``[T, N]`` of a rule."""
    if rule == "margin":
        return margins(U)
    T, _, K = U.shape
    steps = np.arange(1, T + 1).reshape(T, 1, 1)
    p = F.softmax(torch.as_tensor(U / steps, dtype=torch.float64), dim=-1).numpy()
    if rule == "softmax":
        return p.max(-1)
    if rule == "entropy":
        h = -(p * np.log(np.clip(p, 1e-300, None))).sum(-1)
        return 1 - h / np.log(K)
    raise ValueError(f"unknown exit rule {rule!r}: expected one of {', '.join(RULES)}")


def exit_steps(score, thresholds):
    """1-based exit timestep ``[N]`` for per-timestep thresholds (``None`` =
    disabled; ``T - 1`` entries)."""
    T, N = score.shape
    exit_t = np.full(N, T)
    done = np.zeros(N, bool)
    for t, thr in enumerate(thresholds):
        if thr is None:
            continue
        go = ~done & (score[t] >= thr)
        exit_t[go] = t + 1
        done |= go
    return exit_t


def outcome(U, y, exit_t):
    """(accuracy, average timesteps) when each sample stops at ``exit_t``."""
    pred = predictions(U)[exit_t - 1, np.arange(len(y))]
    return float((pred == y).mean()), float(exit_t.mean())


def complexity(ops, macs, exit_t):
    """Synaptic ops (+ first-layer MACs, paid once) up to each sample's exit,
    relative to running every sample to T_max. ``ops [T, N]``, ``macs [N]``."""
    T = ops.shape[0]
    done = np.arange(1, T + 1)[:, None] <= exit_t[None]
    total = macs.sum() + ops.sum()
    return float((macs.sum() + (ops * done).sum()) / total) if total else 1.0


def precision_thresholds(score, correct, precision):
    """Per-timestep thresholds: at each ``t < T`` the lowest threshold whose
    exiting samples (among those still running) are correct at least a fraction
    ``precision`` of the time; ``None`` where no threshold reaches it."""
    T, N = score.shape
    alive = np.ones(N, bool)
    out = []
    for t in range(T - 1):
        s, c = score[t][alive], correct[t][alive]
        thr = None
        if len(s):
            order = np.argsort(-s, kind="stable")
            s, c = s[order], c[order]
            prec = np.cumsum(c) / np.arange(1, len(c) + 1)
            last = np.r_[s[1:] != s[:-1], True]  # cut only between distinct scores
            ok = np.nonzero(last & (prec >= precision))[0]
            if len(ok):
                thr = s[ok[-1]].item()
        out.append(thr)
        if thr is not None:
            alive &= ~(score[t] >= thr)
    return out


def sweep(U, y, rule):
    """Candidate threshold tables of a rule, from least to most permissive."""
    T = U.shape[0]
    sc = scores(U, rule)
    if T == 1:
        return sc, [[]]  # single-step network: nothing to exit early from
    if rule == "margin":
        correct = predictions(U) == y[None]
        grid = [1.0 - 10 ** (-e) for e in np.linspace(4, 0.5, 36)]
        tables = [precision_thresholds(sc, correct, p) for p in grid]
    else:
        qs = np.unique(np.quantile(sc[:-1], np.linspace(0, 1, 201)))[::-1]
        tables = [[float(q)] * (T - 1) for q in qs]
    return sc, [[None] * (T - 1)] + tables


def calibrate(U, y, rule="margin", max_drop=0.002):
    """Threshold table minimizing average timesteps on ``(U, y)`` (validation
    data) with accuracy at least ``accuracy at T_max - max_drop``.

    Returns ``(thresholds, curve)``; ``curve`` is ``[(avg_t, accuracy)]`` over the
    sweep (for plots)."""
    sc, tables = sweep(U, y, rule)
    fixed = accuracy_per_t(U, y)[-1]
    best, best_t, curve = tables[0], float(U.shape[0]), []
    for table in tables:
        acc, avg_t = outcome(U, y, exit_steps(sc, table))
        curve.append((avg_t, acc))
        if acc >= fixed - max_drop - 1e-12 and avg_t < best_t:
            best, best_t = table, avg_t
    return best, curve


def curve_for(U, y, rule, tables):
    sc = scores(U, rule)
    return [outcome(U, y, exit_steps(sc, tb))[::-1] for tb in tables]


def synaptic_ops(net):
    """``(ops [T, N], macs [N])`` from the last ``net(x, record=True)``: per
    timestep, accumulations from spikes into every weighted layer (each input
    spike times the output neurons it reaches); ``macs``: the static first
    layer's multiplications by non-zero inputs (computed once per sample)."""
    rec = net.recorded
    ops, macs = 0, 0
    for layer in net.weighted_layers():
        for e in layer.edges:
            x = rec[e.source]
            if layer.static:
                macs = macs + _reach(e, (x != 0).to(x.dtype))
            else:
                ops = ops + _reach(e, x.flatten(0, 1)).unflatten(0, x.shape[:2])
    return ops, macs


def _reach(edge, x):
    """Per sample: sum over non-zero inputs of the outputs each one reaches."""
    with torch.no_grad():
        if edge.kind == "linear":
            return x.flatten(1).double().sum(1) * edge.op.out_features
        ones = torch.ones((1, x.shape[1]) + edge.op.kernel_size, dtype=x.dtype, device=x.device)
        n = F.conv2d(x, ones, stride=edge.op.stride, padding=edge.op.padding)
        return n.flatten(1).double().sum(1) * edge.op.out_channels  # exact past 2**24
