"""Time the golden model against a float PyTorch forward of the same network on
the same images, batch size and thread count, in one run, and print images/s of
each and their ratio.

    python scripts/bench_golden.py --model reference --images 2000 --threads 1 --repeats 7

The torch forward is the float network: fixed T_max, no counters, no exits. The
golden model is timed as used (adaptive exits, every counter) and at fixed T_max
(like for like). Runs are interleaved and repeated and the medians printed: wall
clock, and the process's CPU time, which other jobs on a shared machine disturb
less. Each timing includes its own setup (golden: the plan inside `run`; torch:
weight tensors).
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from atsnn.data import load_dataset
from atsnn.golden.engine import run
from atsnn.model_image import load_model


def torch_params(image):
    """Per layer: (edges with float32 weight tensors, bias, theta) shaped for NCHW."""
    params = {}
    for layer in image.layers:
        if layer.kind == "maxpool":
            continue
        shape = (-1,) + (1,) * (len(layer.shape) - 1)
        params[layer.name] = (
            [(e, torch.tensor(e.weight, dtype=torch.float32)) for e in layer.inputs],
            torch.tensor(layer.bias, dtype=torch.float32).view(shape),
            None if layer.theta is None else torch.tensor(layer.theta, dtype=torch.float32).view(shape))
    return params


def torch_forward(image, params, x):
    """Float IF forward of the image at fixed T_max (the same integers as floats);
    returns U after T_max."""
    def apply(e, w, s):
        return F.conv2d(s, w, stride=e.stride, padding=e.padding) if e.op == "conv" else s.flatten(1) @ w.T

    first = image.layers[0]
    edges0, bias0, _ = params[first.name]
    (e0, w0), = edges0
    i0 = apply(e0, w0, torch.from_numpy(x).float() - image.input.zero_point) + bias0
    v, out = {}, None
    for _ in range(image.t_max):
        acts = {}
        for layer in image.layers:
            if layer.kind == "maxpool":
                acts[layer.name] = F.max_pool2d(acts[layer.source], layer.kernel)
                continue
            edges, bias, theta = params[layer.name]
            cur = i0 if layer is first else bias + sum(apply(e, w, acts[e.source]) for e, w in edges)
            if layer.kind == "output":
                out = cur if out is None else out + cur
                continue
            vv = v.get(layer.name, 0) + cur
            s = (vv >= theta).float()
            v[layer.name] = vv - theta * s if layer.reset == "subtract" else vv * (1 - s)
            acts[layer.name] = s
    return out


def timed(f, *args):
    """(wall seconds, CPU seconds of this process, f(*args))."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = f(*args)
    return time.perf_counter() - w0, time.process_time() - c0, out


def golden(image, x, batch, early_exit):
    return run(image, x, batch=batch, early_exit=early_exit)


def torch_all(image, x, batch):
    with torch.inference_mode():
        params = torch_params(image)
        return torch.cat([torch_forward(image, params, x[i:i + batch])
                          for i in range(0, len(x), batch)]).numpy()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="reference")
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
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
    n = len(x)

    golden(image, x[:args.batch], args.batch, True)   # warm-up (imports, BLAS, allocator)
    torch_all(image, x[:args.batch], args.batch)
    rows, cpu = [], []
    line = "  {:15.1f}  {:15.1f}  {:14.1f}  {:21.2f}  {:18.2f}"
    print(f"{n} images, batch {args.batch}, {args.threads} thread(s), {args.repeats} interleaved repeats; "
          f"images/s (wall clock):")
    print("  golden adaptive   golden fixed-T   torch fixed-T   ratio adaptive/torch   ratio fixed/torch")
    for _ in range(args.repeats):
        w_ad, c_ad, res = timed(golden, image, x, args.batch, True)
        w_fx, c_fx, fixed = timed(golden, image, x, args.batch, False)
        w_th, c_th, u = timed(torch_all, image, x, args.batch)
        rows.append((n / w_ad, n / w_fx, n / w_th, w_th / w_ad, w_th / w_fx))
        cpu.append((n / c_ad, n / c_fx, n / c_th, c_th / c_ad, c_th / c_fx))
        print(line.format(*rows[-1]))
    print(line.format(*np.median(rows, axis=0)) + "   median, wall clock")
    print(line.format(*np.median(cpu, axis=0)) + "   median, CPU time of this process")
    print(f"torch U equals fixed-T golden U on {np.mean(np.all(u == fixed.u, axis=1)):.4f} of images, "
          f"argmax on {np.mean(u.argmax(1) == fixed.pred):.4f}; golden accuracy adaptive "
          f"{np.mean(res.pred == y):.4f} ({res.exit_t.mean():.3f} timesteps), fixed {np.mean(fixed.pred == y):.4f}")


if __name__ == "__main__":
    main()
