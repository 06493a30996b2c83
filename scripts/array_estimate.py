"""Cycles per image of a kernel-parallel PE array, estimated before it is built
(docs/architecture.md, "Kernel-parallel PE array: design").

The golden model gives today's per-layer scatter cycles (= the RTL counter) on
real MNIST test images. A position-banked array with a Kb x Kb grid of banks
(output position (oy mod Kb, ox mod Kb)) and P output-channel lanes per bank
takes, per input spike of a conv edge, ceil(ny/Kb) * ceil(nx/Kb) * G_out cycles
instead of ny * nx * G_out (ny, nx: output rows and columns the spike reaches);
a linear edge's spike takes ceil(G_out / Kb^2) instead of G_out. Each layer's
measured scatter cycles are scaled by the ratio of those two sums over the
source positions (spikes taken as uniform over positions); init and fire walk
ceil(H/Kb) * ceil(W/Kb) * G words. Block RAMs: width-bound DP16KD count.

    python scripts/array_estimate.py [--images 500]
"""
import argparse
import math

import numpy as np

from atsnn import data, model_image as mi
from atsnn.golden import engine
from atsnn.golden.cycles import C_START, C_PHASE, C_EXIT, groups, layer_words


def reach(size, k, s, p, out):
    """Output positions along one axis reached from each input position."""
    n = np.zeros(size, dtype=np.int64)
    for y in range(size):
        n[y] = sum(1 for kk in range(k) if (y + p - kk) % s == 0 and 0 <= (y + p - kk) // s < out)
    return n


def edge_ratio(image, layer, edge, lanes, kb):
    ky, kx = kb
    """(new cost, old cost) per source spike summed over source positions."""
    g_out = groups(layer.shape[0], lanes)
    if edge.op == "linear":
        return math.ceil(g_out / (ky * kx)), g_out
    src = image.input.shape if edge.source == "input" else image.layer(edge.source).shape
    ny = reach(src[1], edge.kernel, edge.stride, edge.padding, layer.shape[1])
    nx = reach(src[2], edge.kernel, edge.stride, edge.padding, layer.shape[2])
    old = np.maximum(1, np.outer(ny, nx)).sum() * g_out
    new = np.maximum(1, np.outer(-(-ny // ky), -(-nx // kx))).sum() * g_out
    return new, old


def walk_words(layer, lanes, kb):
    ky, kx = kb
    if layer.kind == "maxpool":
        return 0
    g = groups(layer.shape[0], lanes)
    if len(layer.shape) != 3:
        return math.ceil(g / (ky * kx))
    return g * math.ceil(layer.shape[1] / ky) * math.ceil(layer.shape[2] / kx)


def estimate(image, r, lanes, kb):
    n = len(r.cycles)
    static = image.input.kind == "static"
    scatter = 0.0
    for i, layer in enumerate(image.layers):
        if layer.kind == "maxpool" or not layer.inputs:
            continue
        new = old = 0
        for e in layer.inputs:
            a, b = edge_ratio(image, layer, e, lanes, kb)
            new, old = new + a, old + b
        measured = r.scatter_cycles[:, :, i].sum() / n
        if static and i == 0:
            measured = r.input_scatter_cycles.sum() / n
        scatter += measured * new / old
    init = sum(walk_words(l, lanes, kb) + C_PHASE for l in image.layers if l.kind != "maxpool")
    per_t = 0
    for i, l in enumerate(image.layers):
        if l.kind == "maxpool":
            continue
        per_t += (0 if static and i == 0 else len(l.inputs)) * C_PHASE
        per_t += walk_words(l, lanes, kb) + C_PHASE if l.spiking else 0
    per_t += 2 * groups(image.output.shape[0], lanes) + C_EXIT
    return C_START + init + r.exit_t.mean() * per_t + scatter + (C_PHASE if static else 0)


def brams(image, lanes, kb, membrane_bits=24):
    """Width-bound DP16KD count (36-bit ports, 512 words) of weights, membranes, I0."""
    nb = kb[0] * kb[1]
    mem_words = sum(walk_words(l, lanes, kb) for l in image.layers)
    w_words = 0
    for l in image.layers:
        for e in l.inputs:
            w_words += math.ceil(e.weight.size / lanes / nb)
    i0 = walk_words(image.layers[0], lanes, kb) if image.input.kind == "static" else 0
    per = lambda bits, words: nb * math.ceil(lanes * bits / 36) * max(1, math.ceil(words / 512))
    return {"weights": per(8, w_words), "membranes": per(membrane_bits, mem_words),
            "i0": per(membrane_bits, i0)}


#: (P, (Kb_y, Kb_x)) compared; (16, (1, 1)) is today's array.
CONFIGS = [(16, (1, 1)), (32, (1, 1)), (16, (2, 2)), (32, (2, 2)), (8, (3, 3)), (16, (1, 3)),
           (32, (1, 3)), (16, (3, 3)), (32, (3, 3)), (16, (4, 4))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=500)
    args = ap.parse_args()
    x, _ = data.load_mnist(None, "test")
    x = x[:args.images]
    print(f"{'model':<11} {'P':>3} {'grid':>5} {'lanes':>6} {'cycles/img':>11} {'x today':>8} "
          f"{'DP16KD w/m/i0':>15}")
    for name in ("mnist-tiny", "mnist-ref"):
        image = mi.load_model(name)
        runs = {p: engine.run(image, x, lanes=p) for p in (8, 16, 32)}
        today = runs[16].cycles.mean()
        for lanes, kb in CONFIGS:
            r = runs[lanes]
            est = r.cycles.mean() if kb == (1, 1) else estimate(image, r, lanes, kb)
            b = brams(image, lanes, kb)
            print(f"{name:<11} {lanes:>3} {kb[0]:>2}x{kb[1]:<2} {lanes * kb[0] * kb[1]:>6} "
                  f"{est:>11.0f} {today / est:>8.2f} {b['weights']:>5}/{b['membranes']}/{b['i0']}")


if __name__ == "__main__":
    main()
