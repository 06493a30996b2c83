"""Accelerator throughput and PE utilization on the MNIST reference network, and
simulator speed.

For each lane count P that fits, on N MNIST test images: cycles per image (the
cycle model the RTL counter matches), images/s at 100 MHz and the ratio to the
25,000 images/s target, PE utilization of the conv layers (contract definition:
synaptic operations / (P x scatter cycles)) and over the whole image
(operations / (P x all cycles)). Then, with --sim K, K images through the RTL
under Verilator at P=16 (simulated cycles per second, RTL cycles vs the model),
and with --amaranth, one image through Amaranth's simulator for comparison.

    python scripts/bench_rtl.py [--model reference] [--images 200] [--sim 8] [--amaranth]
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from atsnn import AtsnnError
from atsnn.data import load_mnist
from atsnn.golden import run
from atsnn.golden import cycles as cyc
from atsnn.model_image import load, resolve_model
from atsnn.rtl.compiler import plan
from atsnn.rtl.config import HwConfig

CLOCK_HZ = 100e6
TARGET = 25_000
LANES = (2, 4, 8, 16, 32)
MODEL_ONLY_LANES = (64, 128, 256, 512)   # beyond HwConfig's 32: the cycle model alone


def fits(image, config):
    try:
        plan(image, config)
        return True
    except AtsnnError:
        return False


def config_for(image, lanes):
    """The default config at ``lanes`` if the model fits it, else one with every
    memory at its largest depth (the cycle model does not depend on depths)."""
    config = HwConfig(lanes=lanes)
    if fits(image, config):
        return config
    big = {name: 1 << 16 for name in ("weight_depth", "membrane_depth", "event_depth",
                                      "input_depth", "i0_depth", "param_depth", "out_depth")}
    config = HwConfig(lanes=lanes, **big)
    return config if fits(image, config) else None


def model_row(image, x, lanes):
    """Cycle-model figures for one lane count."""
    g = run(image, x, lanes=lanes)
    names = [layer.name for layer in image.layers]
    cycles = g.cycles.astype(np.float64)
    conv_ops = conv_cycles = 0
    for layer in image.layers:
        if layer.kind != "conv":
            continue
        li = names.index(layer.name)
        c_out = int(layer.shape[0])
        groups = cyc.groups(c_out, lanes)
        scatter = int(g.scatter_cycles[:, :, li].sum())
        if image.input.kind == "static" and li == 0:
            scatter += int(g.input_scatter_cycles.sum())
        conv_cycles += scatter
        conv_ops += scatter * c_out // groups
    ops = int(g.sops.sum() + g.first_layer_macs.sum())
    scatter_all = int(g.scatter_cycles.sum() + g.input_scatter_cycles.sum())
    per_image = float(cycles.mean())
    return {
        "lanes": lanes,
        "cycles_per_image": per_image,
        "images_per_s": CLOCK_HZ / per_image,
        "x_target": CLOCK_HZ / per_image / TARGET,
        "conv_utilization": conv_ops / (lanes * conv_cycles) if conv_cycles else None,
        "overall_utilization": ops / (lanes * float(cycles.sum())),
        "scatter_share": scatter_all / float(cycles.sum()),
        "avg_timesteps": float(g.exit_t.mean()),
    }


def verilator_row(model_path, config, x):
    from atsnn.tb.cli import summarize
    from atsnn.tb.runner import run_testbench
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, x)
        start = time.perf_counter()
        ok, records = run_testbench(config, [{"model": str(model_path), "inputs": str(inputs)}],
                                    testcase="images_match_golden")
        total = time.perf_counter() - start
    summary = summarize(records, np.zeros(len(x), np.int64), config.lanes)
    summary["wall_s_total"] = total
    summary.pop("details")
    return summary


def amaranth_speed(image, config, x):
    """Simulated cycles per second of the bare core in Amaranth's simulator, one image."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from rtl_harness import run_core
    start = time.perf_counter()
    results, _ = run_core(image, x[:1], config)
    wall = time.perf_counter() - start
    return results[0]["cycles"] / wall if results else 0.0


def _opt(value):
    return "-" if value is None else f"{value:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="reference")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--sim", type=int, default=0, metavar="K",
                    help="also run K images through the RTL under Verilator at P=16")
    ap.add_argument("--amaranth", action="store_true",
                    help="also time one image in Amaranth's simulator")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    path = resolve_model(args.model)
    image = load(path)
    x, _ = load_mnist(None, "test")
    x = x[:args.images]

    rows = []
    for lanes in LANES:
        config = config_for(image, lanes)
        if config is None:
            continue
        row = model_row(image, x, lanes)
        row["default_memories"] = config == HwConfig(lanes=lanes)
        row["weight_words"] = plan(image, config).weight_words
        rows.append(row)
    for lanes in MODEL_ONLY_LANES:
        row = model_row(image, x, lanes)
        row["default_memories"] = False
        row["weight_words"] = None
        rows.append(row)
    reaching = [r["lanes"] for r in rows if r["images_per_s"] >= TARGET]
    out = {"model": image.name, "images": len(x), "clock_mhz": CLOCK_HZ / 1e6,
           "rows": rows, "smallest_lanes_reaching_target": reaching[0] if reaching else None}

    if args.sim:
        config = config_for(image, 16)
        out["verilator"] = verilator_row(Path(path).resolve(), config, x[:args.sim])
        out["verilator"]["model_cycles_per_image"] = model_row(image, x[:args.sim], 16)[
            "cycles_per_image"]
    if args.amaranth:
        out["amaranth_cycles_per_s"] = amaranth_speed(image, config_for(image, 16), x)

    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{image.name}: {len(x)} MNIST test images, cycle model = RTL cycle counter, "
          f"{CLOCK_HZ / 1e6:.0f} MHz")
    print(f"{'P':>3} {'cycles/img':>11} {'img/s':>9} {'x 25k':>6} {'conv util':>9} "
          f"{'all util':>9} {'scatter%':>9} {'avg T':>6} {'weights':>8}")
    for r in rows:
        print(f"{r['lanes']:>3} {r['cycles_per_image']:>11.0f} {r['images_per_s']:>9.0f} "
              f"{r['x_target']:>6.2f} {_opt(r['conv_utilization']):>9} "
              f"{r['overall_utilization']:>9.3f} {100 * r['scatter_share']:>8.1f}% "
              f"{r['avg_timesteps']:>6.2f} "
              + (f"{r['weight_words']:>7}{'' if r['default_memories'] else '*'}"
                 if r["weight_words"] else "  model only (P > 32)"))
    if not all(r["default_memories"] for r in rows if r["weight_words"]):
        print("* needs memories deeper than the default HwConfig (weights: weight words)")
    best = out["smallest_lanes_reaching_target"]
    print(f"smallest P reaching {TARGET} images/s: "
          f"{best if best else f'none up to {MODEL_ONLY_LANES[-1]}'}"
          + (" (beyond the RTL's 32 lanes: cycle model only)" if best and best > 32 else ""))
    if "verilator" in out:
        v = out["verilator"]
        print(f"Verilator, P=16, {v['images']} images: {v['sim_cycles_per_s']:.0f} simulated "
              f"cycles/s; RTL cycles/image {v['cycles_per_image']:.0f} vs cycle model "
              f"{v['model_cycles_per_image']:.0f} on the same images "
              f"(ratio {v['cycles_per_image'] / v['model_cycles_per_image']:.3f}); "
              f"{v['mismatches']} mismatches vs golden")
    if "amaranth_cycles_per_s" in out:
        a = out["amaranth_cycles_per_s"]
        line = f"Amaranth simulator, P=16: {a:.0f} simulated cycles/s"
        if "verilator" in out and a:
            line += f" (Verilator is {out['verilator']['sim_cycles_per_s'] / a:.0f}x faster)"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
