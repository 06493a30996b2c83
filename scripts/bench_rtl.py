"""Accelerator throughput per array configuration (P lanes, K x K bank grid).

For each network and configuration: cycles per image (the golden cycle model,
which the RTL cycle counter equals at every grid), images/s at 100 MHz, operations
(SOPs and first-layer MACs) per cycle over the image, and per layer the
operations per cycle of its scatter phases and their share of the array's
P x K^2 lanes. Grids above 1 are the kernel-parallel array (docs/architecture.md).
With --sim N, N images of each MNIST network also run through the RTL under
Verilator at P = 16 and grid --sim-grid (default 3): RTL cycles vs the model and
simulated cycles per second.

The `vgg16` and `resnet19` presets are built at CIFAR-10 shapes, untrained, their
batch norms calibrated on CIFAR-10 subset images, quantized to int8 and run on
the golden model only (they do not fit the on-chip memories).

    python scripts/bench_rtl.py [--model NAME ...] [--images 200] [--cifar-images 2]
                                [--sim 8] [--sim-grid 3] [--amaranth] [--json]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from atsnn.data import load_dataset
from atsnn.golden import run
from atsnn.model.paper import preset_image
from atsnn.model_image import load, resolve_model

CLOCK_HZ = 100e6
#: (P, grid): today's array, wider lanes, and the kernel-parallel grids
CONFIGS = ((16, 1), (32, 1), (16, 2), (32, 2), (8, 3), (16, 3), (16, 4))
MNIST_MODELS = ("mnist-tiny", "reference")
CIFAR_PRESETS = ("vgg16", "resnet19")


def config_row(image, x, lanes, grid):
    """Cycle-model figures of one configuration."""
    g = run(image, x, lanes=lanes, grid=grid)
    array = lanes * grid * grid
    scatter = g.scatter_cycles.sum(axis=(0, 1))
    ops = g.layer_ops.sum(axis=0)
    layers = {}
    for li, layer in enumerate(image.layers):
        if layer.kind == "maxpool" or not scatter[li]:
            continue
        layers[layer.name] = {"kind": layer.kind, "scatter_cycles_per_image": scatter[li] / len(x),
                              "ops_per_cycle": ops[li] / scatter[li],
                              "lane_share": ops[li] / (array * scatter[li])}
    per_image = float(g.cycles.mean())
    return {"lanes": lanes, "grid": grid, "array_lanes": array,
            "cycles_per_image": per_image, "images_per_s": CLOCK_HZ / per_image,
            "sops_per_cycle": g.sops_per_cycle, "avg_timesteps": float(g.exit_t.mean()),
            "layers": layers}


def verilator_row(model_path, x, grid):
    """Images through the RTL at P = 16 on a ``grid`` x ``grid`` array, with the
    model's count beside it."""
    from atsnn.rtl.compiler import plan
    from atsnn.rtl.config import HwConfig
    from atsnn.tb.cli import summarize
    from atsnn.tb.runner import run_testbench
    image = load(model_path)
    config = HwConfig(lanes=16, grid=grid)
    plan(image, config)
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, x)
        start = time.perf_counter()
        ok, records = run_testbench(config, [{"model": str(model_path), "inputs": str(inputs)}],
                                    testcase="images_match_golden")
        wall = time.perf_counter() - start
    summary = summarize(records, np.zeros(len(x), np.int64), config.array_lanes)
    summary.pop("details")
    summary["grid"] = grid
    summary["model_cycles_per_image"] = float(run(image, x, lanes=16, grid=grid).cycles.mean())
    summary["wall_s_total"] = wall
    summary["ok"] = ok
    return summary


def amaranth_speed(image, x):
    """Simulated cycles per second of the bare core (P = 16) in Amaranth's simulator."""
    from atsnn.rtl.config import HwConfig
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from rtl_harness import run_core
    start = time.perf_counter()
    results, _ = run_core(image, x, HwConfig(lanes=16))
    wall = time.perf_counter() - start
    return results[0]["cycles"] / wall if results else 0.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=None,
                    help="an MNIST model image or built-in name, repeatable (default: "
                         + ", ".join(MNIST_MODELS) + ")")
    ap.add_argument("--images", type=int, default=200, help="MNIST test images per network")
    ap.add_argument("--cifar-images", type=int, default=2,
                    help="CIFAR-10 subset test images per paper preset (0: skip them)")
    ap.add_argument("--sim", type=int, default=0, metavar="N",
                    help="also run N images of each MNIST network through the RTL (Verilator)")
    ap.add_argument("--sim-grid", type=int, default=3, choices=(1, 2, 3, 4),
                    help="the bank grid of the --sim runs (default 3)")
    ap.add_argument("--amaranth", action="store_true",
                    help="also time one image of the first network in Amaranth's simulator")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    networks = []
    xm, _ = load_dataset("mnist", "test")
    for name in args.model or MNIST_MODELS:
        path = Path(resolve_model(name)).resolve()
        networks.append((name, load(path), xm[:args.images], path))
    if args.cifar_images:
        xc, _ = load_dataset("cifar10-subset", "test")
        xtrain, _ = load_dataset("cifar10-subset", "train")
        for name in CIFAR_PRESETS:
            networks.append((name, preset_image(name, xtrain[:256]), xc[:args.cifar_images], None))

    out = {"clock_mhz": CLOCK_HZ / 1e6, "networks": []}
    for name, image, x, path in networks:
        rows = [config_row(image, x, lanes, grid) for lanes, grid in CONFIGS]
        entry = {"network": name, "images": len(x), "rows": rows}
        if args.sim and path is not None:
            entry["verilator"] = verilator_row(path, x[:args.sim], args.sim_grid)
        out["networks"].append(entry)
    if args.amaranth:
        out["amaranth_cycles_per_s"] = amaranth_speed(networks[0][1], xm[:1])

    if args.json:
        print(json.dumps(out))
        return 0
    print(f"cycle model at {CLOCK_HZ / 1e6:.0f} MHz (the RTL's cycle counter equals it at "
          f"every grid; grid 1: one (spike, offset) per cycle)")
    for entry in out["networks"]:
        base = entry["rows"][0]["cycles_per_image"]
        print(f"\n{entry['network']}: {entry['images']} test images")
        print(f"  {'P':>3} {'grid':>5} {'lanes':>6} {'cycles/img':>12} {'img/s':>10} "
              f"{'vs P16':>7} {'ops/cycle':>10}   per-layer scatter ops/cycle (share of lanes)")
        for r in entry["rows"]:
            per_layer = ", ".join(f"{n} {v['ops_per_cycle']:.1f} ({v['lane_share']:.2f})"
                                  for n, v in r["layers"].items())
            print(f"  {r['lanes']:>3} {r['grid']:>3}x{r['grid']:<1} {r['array_lanes']:>6} "
                  f"{r['cycles_per_image']:>12.0f} {r['images_per_s']:>10.1f} "
                  f"{base / r['cycles_per_image']:>7.2f} {r['sops_per_cycle']:>10.2f}   {per_layer}")
        if "verilator" in entry:
            v = entry["verilator"]
            print(f"  Verilator, P=16, grid {v['grid']}, {v['images']} images: RTL {v['cycles_per_image']:.1f} "
                  f"cycles/image vs model {v['model_cycles_per_image']:.1f}, "
                  f"{v['mismatches']} mismatches, {v['sim_cycles_per_s']:.0f} simulated cycles/s")
    if "amaranth_cycles_per_s" in out:
        print(f"\nAmaranth simulator, P=16: {out['amaranth_cycles_per_s']:.0f} simulated cycles/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
