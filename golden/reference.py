"""The hand-built MNIST reference network (golden/models/mnist-ref), until trained
models exist.

Deterministic, NumPy only, fit on the MNIST TRAINING split only (exit thresholds
on a held-out slice of it): 1x28x28 -> conv1 16ch 3x3 (hand-designed edge and
blob kernels) -> pool 2 -> conv2 32ch 3x3 (top principal components of conv1
spike-count patches, both signs) -> pool 2 -> fc1 128 (ridge class
discriminants, each class a population of neurons with staggered biases) ->
out 10 (ridge on fc1 spike counts), T_max 4, IF neurons, subtract reset.

Rebuild: python -m atsnn.golden.reference [--data-dir DIR] [--out DIR]
"""

import argparse
from pathlib import Path

import numpy as np

from atsnn.data import load_mnist, train_val_split
from atsnn import model_image as gi
from atsnn.golden.engine import _Edge, lif_update, run

T_MAX = 4
OUT_DIR = gi.MODELS_DIR / "mnist-ref"
FIT_SAMPLES = 20000
VAL_FRACTION = 0.1
TARGET_EXIT_ERROR = 0.001   # extra error allowed per exit timestep on the held-out slice


def conv1_kernels():
    """16 hand-designed 3x3 kernels: 8 oriented edges (Sobel, both polarities),
    4 lines, 4 corner/blob detectors; integer, |w| <= 4."""
    sx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    sd = np.array([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]])
    edges = [sx, sx.T, sd, np.fliplr(sd)]
    edges += [-e for e in edges]
    line = np.array([[-1, 2, -1]] * 3)
    diag = np.array([[2, -1, -1], [-1, 2, -1], [-1, -1, 2]])
    lines = [line, line.T, diag, np.fliplr(diag)]
    blob = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1]])
    dot = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]) // 2
    corner = np.array([[0, 0, 0], [0, 2, 2], [0, 2, 2]])
    blobs = [blob, dot, corner, np.flipud(np.fliplr(corner))]
    return np.stack(edges + lines + blobs)[:, None].astype(np.int64)


def _counts(layers, image_input, x, upto, chunk=1000):
    """Spike counts over T_MAX of layer `upto` of a partial network (for fitting)."""
    return np.concatenate([_counts_chunk(layers, image_input, x[i:i + chunk], upto)
                           for i in range(0, len(x), chunk)])


def _counts_chunk(layers, image_input, x, upto):
    fake = gi.ModelImage("partial", T_MAX, [None] * (T_MAX - 1), ["a", "b"], image_input, layers)
    v, total = {}, 0
    first = layers[0]
    i0 = (_Edge(fake, first, first.inputs[0], 16).current(x.astype(np.int64) - image_input.zero_point)
          + first.bias.reshape(-1, 1, 1))
    for _ in range(T_MAX):
        acts = {}
        for layer in layers:
            if layer.kind == "maxpool":
                s = acts[layer.source]
                m, c, h, w = s.shape
                k = layer.kernel
                acts[layer.name] = s.reshape(m, c, h // k, k, w // k, k).any(axis=(3, 5))
            else:
                per_channel = (-1,) + (1,) * (len(layer.shape) - 1)
                cur = i0 if layer is first else layer.bias.reshape(per_channel)
                if layer is not first:
                    for e in layer.inputs:
                        cur = cur + _Edge(fake, layer, e, 16).current(acts[e.source])
                s, v[layer.name] = lif_update(v.get(layer.name, 0), cur,
                                              layer.theta.reshape(per_channel),
                                              layer.leak_shift, layer.reset)
                acts[layer.name] = s
            if layer.name == upto:
                total = total + acts[upto].astype(np.int8)
                break
    return total


def _patches(counts, k=3):
    """[N*H*W, C*k*k] zero-padded k x k patches of [N, C, H, W] (conv weight order)."""
    p = k // 2
    x = np.pad(counts, ((0, 0), (0, 0), (p, p), (p, p)))
    win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(-1, counts.shape[1] * k * k)


def _quantize(w, bits=8):
    """Integer weights and the power-of-two scale: w ~ q * scale."""
    hi = (1 << (bits - 1)) - 1
    shift = int(np.floor(np.log2(hi / np.abs(w).max())))
    return np.clip(np.round(w * 2.0 ** shift), -hi - 1, hi).astype(np.int64), 2.0 ** -shift


def _ridge(f, y_onehot, lam):
    f1 = np.hstack([f, np.ones((len(f), 1))])
    a = f1.T @ f1 + lam * np.eye(f1.shape[1])
    sol = np.linalg.solve(a, f1.T @ y_onehot)
    return sol[:-1].T, sol[-1]


def build_reference(data_dir=None, log=print):
    x, y = load_mnist(data_dir, "train")
    fit_idx, val_idx = train_val_split(len(x), VAL_FRACTION, seed=0)
    fit_idx = fit_idx[:FIT_SAMPLES]
    xf, yf = x[fit_idx], y[fit_idx]
    inp = gi.Input("static", (1, 28, 28), 8, 0, 1 / 255, "pixels")
    onehot = np.eye(10)[yf]

    # conv1: hand kernels; theta so a strong response (99th percentile) fires every step.
    w1 = conv1_kernels()
    e1 = gi.conv_edge("input", w1, 1, 1)
    probe = gi.spiking_layer("conv1", "conv", [e1], 0, 1)
    probe.shape = (16, 28, 28)
    i0 = _Edge(gi.ModelImage("p", 1, [], ["a", "b"], inp, [probe]), probe, e1, 16).current(xf[:2000].astype(np.int64))
    pos = np.moveaxis(i0, 1, 0).reshape(16, -1)
    theta1 = np.array([max(1, int(np.percentile(c[c > 0], 90) / 2)) for c in pos])
    conv1 = gi.spiking_layer("conv1", "conv", [e1], bias=0, theta=theta1, shape=(16, 28, 28))
    pool1 = gi.maxpool_layer("pool1", "conv1", 2)
    pool1.shape = (16, 14, 14)
    c1 = _counts([conv1, pool1], inp, xf[:4000], "pool1")
    log(f"conv1/pool1 mean rate {c1.mean() / T_MAX:.3f}")

    # conv2: principal components of 3x3x16 pool1 count patches, both signs.
    pt = _patches(c1.astype(np.float64))
    pt = pt[np.random.default_rng(0).choice(len(pt), 60000, replace=False)]
    mean = pt.mean(axis=0)
    _, _, vt = np.linalg.svd(pt - mean, full_matrices=False)
    comps = np.concatenate([vt[:16], -vt[:16]])
    w2, _ = _quantize(comps.reshape(32, 16, 3, 3), 8)
    proj = (pt - mean) @ w2.reshape(32, -1).T
    b2 = -np.round(mean @ w2.reshape(32, -1).T).astype(np.int64)
    theta2 = np.array([max(1, int(np.percentile(p[p > 0], 90) / 2)) for p in proj.T])
    conv2 = gi.spiking_layer("conv2", "conv", [gi.conv_edge("pool1", w2, 1, 1)], bias=b2,
                             theta=theta2, shape=(32, 14, 14))
    pool2 = gi.maxpool_layer("pool2", "conv2", 2)
    pool2.shape = (32, 7, 7)
    hidden = [conv1, pool1, conv2, pool2]
    c2 = _counts(hidden, inp, xf, "pool2").reshape(len(xf), -1).astype(np.float64)
    log(f"conv2/pool2 mean rate {c2.mean() / T_MAX:.3f}")

    # fc1: ridge class discriminants; class c gets the neurons n with n % 10 == c,
    # each with a different offset (bias), so the population's spike count is a
    # fine staircase of the class score over [lo, hi].
    wd, bd = _ridge(c2, onehot * 2 - 1, lam=100.0)
    wq, s = _quantize(wd, 8)
    score = c2 @ wq.T + np.round(bd / s)
    n_fc = 128
    cls, rank = np.arange(n_fc) % 10, np.arange(n_fc) // 10
    per_class = np.bincount(cls, minlength=10)[cls]
    lo, hi = np.percentile(score, 1), np.percentile(score.max(axis=1), 99)
    delta = (hi - lo) / per_class
    offsets = lo + delta * (rank + 0.5)
    theta3 = np.maximum(1, np.round(delta / 2)).astype(np.int64)
    b3 = np.round((np.round(bd / s)[cls] - offsets) / T_MAX).astype(np.int64)
    fc1 = gi.spiking_layer("fc1", "linear", [gi.linear_edge("pool2", wq[cls])], bias=b3,
                           theta=theta3, shape=(n_fc,))
    c3 = _counts(hidden + [fc1], inp, xf, "fc1").astype(np.float64)
    log(f"fc1 mean rate {c3.mean() / T_MAX:.3f}")

    # out: ridge from fc1 counts; U at T_max = W4 c3 + T_max b4.
    w4f, b4f = _ridge(c3, onehot, lam=1.0)
    w4, s4 = _quantize(w4f, 8)
    b4 = np.round(b4f / s4 / T_MAX).astype(np.int64)
    out = gi.output_layer("out", [gi.linear_edge("fc1", w4)], bias=b4)
    image = gi.build("mnist-ref", inp, [conv1, pool1, conv2, pool2, fc1, out], T_MAX)

    image.tau = calibrate_tau(image, x[val_idx], y[val_idx], log)
    return gi.validate(image)


def calibrate_tau(image, x, y, log=print):
    """Smallest tau[t] whose exits at t cost at most TARGET_EXIT_ERROR extra error
    on the held-out slice (samples exiting at t are compared with the prediction
    at T_max)."""
    image.tau = [None] * (image.t_max - 1)
    full = run(image, x, early_exit=False)
    tau = []
    for t in range(1, image.t_max):
        trial = gi.ModelImage(image.name, t, [None] * (t - 1), image.classes, image.input, image.layers)
        r = run(trial, x)
        top = np.sort(r.u, axis=1)
        margin = top[:, -1] - top[:, -2]
        chosen = None
        for cand in np.unique(margin)[::-1]:
            exits = margin >= cand
            extra = (np.mean(exits & (r.pred != y) & (full.pred == y))
                     - np.mean(exits & (r.pred == y) & (full.pred != y)))
            if extra > TARGET_EXIT_ERROR:
                break
            chosen = int(cand)
        tau.append(chosen if chosen is not None and chosen > 0 else None)
        log(f"tau[{t}] = {tau[-1]}")
    return tau


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build the MNIST reference image.")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default=str(OUT_DIR))
    args = parser.parse_args(argv)
    image = build_reference(args.data_dir)
    gi.save(image, args.out)
    print(f"saved {args.out}; bound bits {gi.layer_bound_bits(image)}")


if __name__ == "__main__":
    main()
