"""Time the golden model against a float PyTorch forward of the same network
(fixed T_max, same batch, same thread count) and print images/s of each.

    python scripts/bench_golden.py --model reference --images 2000 --threads 1
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from atsnn.data import load_dataset
from atsnn.golden.engine import run
from atsnn.golden.image import load_model


def torch_forward(image, x):
    """Float LIF forward of the image at fixed T_max (same integers as floats)."""
    t = {}
    for layer in image.layers:
        if layer.kind == "maxpool":
            continue
        t[layer.name] = [(e, torch.tensor(e.weight, dtype=torch.float32)) for e in layer.inputs]
    xs = torch.tensor(x, dtype=torch.float32) - image.input.zero_point
    v, out = {}, None
    first = image.layers[0]
    (e0, w0), = t[first.name]
    i0 = F.conv2d(xs, w0, stride=e0.stride, padding=e0.padding) if e0.op == "conv" else xs.flatten(1) @ w0.T
    i0 = i0 + torch.tensor(first.bias, dtype=torch.float32).view(-1, *([1] * (i0.dim() - 2)))
    for _ in range(image.t_max):
        acts = {}
        for layer in image.layers:
            if layer.kind == "maxpool":
                acts[layer.name] = F.max_pool2d(acts[layer.source], layer.kernel)
                continue
            shape = (-1,) + (1,) * (len(layer.shape) - 1)
            if layer is first:
                cur = i0
            else:
                cur = torch.tensor(layer.bias, dtype=torch.float32).view(shape)
                for e, w in t[layer.name]:
                    s = acts[e.source]
                    cur = cur + (F.conv2d(s, w, stride=e.stride, padding=e.padding) if e.op == "conv"
                                 else s.flatten(1) @ w.T)
            if layer.kind == "output":
                out = cur if out is None else out + cur
                continue
            vv = v.get(layer.name, 0) + cur
            theta = torch.tensor(layer.theta, dtype=torch.float32).view(shape)
            s = (vv >= theta).float()
            v[layer.name] = vv - theta * s if layer.reset == "subtract" else vv * (1 - s)
            acts[layer.name] = s
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="reference")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        pass
    image = load_model(args.model)
    if any(l.spiking and l.leak_shift for l in image.layers):
        raise SystemExit("bench: the torch forward here models leak_shift = 0 only")
    x, y = load_dataset(args.dataset, "test")
    x, y = x[:args.images], y[:args.images]

    t0 = time.perf_counter()
    res = run(image, x, batch=args.batch)
    t_golden = time.perf_counter() - t0
    t0 = time.perf_counter()
    with torch.no_grad():
        preds = [torch_forward(image, x[i:i + args.batch]).argmax(1).numpy()
                 for i in range(0, len(x), args.batch)]
    t_torch = time.perf_counter() - t0
    fixed = run(image, x, batch=args.batch, early_exit=False)
    agree = np.mean(np.concatenate(preds) == fixed.pred)
    print(f"{len(x)} images, batch {args.batch}, {args.threads} thread(s)")
    print(f"golden (adaptive exits, integer, all counters): {len(x) / t_golden:9.1f} images/s")
    print(f"torch float forward (fixed T_max={image.t_max}):        {len(x) / t_torch:9.1f} images/s")
    print(f"ratio golden / torch: {t_torch / t_golden:.2f}; torch argmax agrees with fixed-T golden "
          f"on {agree:.4f}; golden accuracy {np.mean(res.pred == y):.4f}")


if __name__ == "__main__":
    main()
