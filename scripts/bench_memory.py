"""The paper's networks with their weights in external memory: images/s at 100 MHz
per configuration (P lanes, K x K bank grid, batch slots, DRAM bytes per cycle,
mean exit timestep), with the ATSNN paper's figures beside them and the bound
that holds each point (golden/memory.py's model; docs/architecture.md).

The `vgg16` and `resnet19` presets are built at CIFAR-10 shapes, untrained, batch
norms calibrated on CIFAR-10 subset images, int8 (scripts/bench_rtl.py). Their
exits are not calibrated (untrained), so the exit timestep is a parameter: a
mean m is realised as images exiting at floor(m) and ceil(m) in proportion.

    python scripts/bench_memory.py [--model vgg16 resnet19] [--cifar-images 2]
                                   [--exit-steps 4 2 1.6] [--json] [--port]
                                   [--membrane-depth 1024]
                                   [--image vgg16=runs/gpu/vgg16/image]

``--image NAME=DIR``: a trained image of that preset (``atsnn train``'s
``RUN/image``) instead of the untrained one: its spike counts are a trained
network's, and its exits are its own calibrated ones, measured image by image
by the golden model (the "exit t" column is then their mean).

``--port``: the weight port as built (one slot, every weight streamed through
256 KB of tile buffers, membranes on chip), priced by golden/memory.py
``port_cycles``, which the RTL's cycle counter equals against a memory of 40
cycles of latency returning one beat per cycle. ``--membrane-depth N``: with
off-chip membranes (``HwConfig.membrane_swap``), N membrane words per bank on
chip; the first layers' membranes are swapped through DRAM (default: every
membrane on chip, as deep as the plan asks).
"""

import argparse
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from atsnn import AtsnnError  # noqa: E402
from atsnn import model_image as gi  # noqa: E402
from atsnn.data import load_dataset  # noqa: E402
from atsnn.model.paper import preset_image  # noqa: E402
from atsnn.golden import run  # noqa: E402
from atsnn.golden.memory import (DDR3_16BIT, BURST_BYTES, DRAM_PJ_PER_BYTE, port_cycles,  # noqa: E402
                                 stream)
from atsnn.rtl.compiler import plan  # noqa: E402
from atsnn.rtl.config import HwConfig  # noqa: E402

#: images/s of the ATSNN paper's accelerator on CIFAR-10 (its Table 3)
PAPER = {"vgg16": 248, "resnet19": 212}
ARRAYS = ((8, 3), (16, 3), (32, 3))
SLOTS = (1, 4, 8, 16)
BYTES_PER_CYCLE = (6.4, 12.8, 25.6)


def exit_steps(mean, n, t_max):
    """int [n]: exit timesteps whose mean is ``mean`` (floor and ceil mixed), or
    ``mean`` itself when it is already the images' exit timesteps."""
    if isinstance(mean, np.ndarray):
        return mean
    lo = max(1, min(t_max, math.floor(mean)))
    hi = min(t_max, lo + 1)
    k = round((mean - lo) * n) if hi > lo else 0
    return np.array([hi] * k + [lo] * (n - k), dtype=np.int64)


def rows(name, image, x, steps_list, images=64):
    out = []
    for lanes, grid in ARRAYS:
        g = run(image, x, lanes=lanes, grid=grid, early_exit=False)
        for mean in steps_list:
            exit_t = exit_steps(mean, len(x), image.t_max)
            for bpc in BYTES_PER_CYCLE:
                model = replace(DDR3_16BIT, bytes_per_cycle=bpc)
                for slots in SLOTS:
                    s = stream(image, g.scatter_cycles, exit_t, lanes, grid, slots, model,
                               images=max(images, 2 * slots))
                    bound = "memory" if s["memory_bound_share"] > 0.5 else "compute"
                    out.append({"model": name, "lanes": lanes, "grid": grid, "slots": slots,
                                "bytes_per_cycle": bpc, "mean_exit_t": float(np.mean(mean)),
                                "images_per_s": s["images_per_s"], "paper_images_per_s": PAPER[name],
                                "bound": bound, "memory_bound_share": s["memory_bound_share"],
                                "mb_per_image": (s["read_bytes"] + s["written_bytes"]) / 1e6,
                                "stall_cycles": s["stall_cycles"],
                                "compute_cycles": s["compute_cycles"],
                                "dram_energy_uj": s["dram_energy_uj"],
                                "offchip_membrane_layers": len(s["offchip_membrane_layers"])})
    return out


#: The built port's arrays: P, grid, and its tile buffers (weight memory) in bytes.
PORT_ARRAYS = ((8, 3), (16, 1), (16, 3))
TILE_BYTES = 256 * 1024
LATENCY = 40


def port_rows(name, image, x, steps_list, membrane_depth=None):
    out = []
    for lanes, grid in PORT_ARRAYS:
        config = HwConfig(lanes=lanes, grid=grid, weight_port=True, max_layers=32,
                          weight_depth=TILE_BYTES // (lanes * grid * grid),
                          membrane_depth=membrane_depth or 1 << 16, event_depth=1 << 16,
                          input_depth=1 << 16, param_depth=1 << 10, out_depth=64,
                          tile_depth=1 << 12, membrane_swap=membrane_depth is not None)
        try:
            p = plan(image, config, stream=True)
        except AtsnnError as e:     # membranes stay on chip with this port
            out.append({"model": name, "lanes": lanes, "grid": grid, "refused": str(e)})
            continue
        g = run(image, x, lanes=lanes, grid=grid, early_exit=False)
        for mean in steps_list:
            exit_t = exit_steps(mean, len(x), image.t_max)
            g.exit_t = exit_t
            d = port_cycles(image, g, p.tiles, LATENCY, BURST_BYTES // config.axi_bytes,
                            details=True, swaps=p.swaps, row_beats=config.row_beats)
            cycles = d["cycles"]
            written = d["swap_write_beats"] * config.axi_bytes
            read = (d["beats"] + d["swap_read_beats"]) * config.axi_bytes
            alone = cycles_on_chip(image, g, lanes, grid)
            out.append({"model": name, "lanes": lanes, "grid": grid, "tiles": len(p.tiles),
                        "axi_bytes": config.axi_bytes, "mean_exit_t": float(np.mean(mean)),
                        "cycles": float(cycles.mean()), "on_chip_cycles": float(alone.mean()),
                        "images_per_s": 100e6 / float(cycles.mean()),
                        "paper_images_per_s": PAPER[name],
                        "mb_per_image": float((read + written).mean() / 1e6),
                        "swapped_layers": len(p.swaps),
                        "swap_cycles": float(d["swap_cycles"].mean()),
                        "stall_cycles": float(d["stall_cycles"].mean()),
                        "bound": "memory" if d["stall_cycles"].sum() > 0.5 * (cycles - alone).sum()
                                 and d["stall_cycles"].mean() > 0.1 * cycles.mean() else "compute",
                        "dram_energy_uj": float((read + written).mean() * DRAM_PJ_PER_BYTE * 1e-6),
                        "port_busy": float((d["beats"] + d["swap_read_beats"]
                                            + d["swap_write_beats"]).mean() / cycles.mean())})
    return out


def cycles_on_chip(image, g, lanes, grid):
    from atsnn.golden.cycles import image_cycles
    scatter = g.scatter_cycles * (np.arange(image.t_max)[None, :, None] < g.exit_t[:, None, None])
    return image_cycles(image, lanes, scatter, g.exit_t, grid)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", nargs="+", default=list(PAPER), choices=list(PAPER))
    p.add_argument("--cifar-images", type=int, default=2)
    p.add_argument("--exit-steps", type=float, nargs="+", default=[4, 2, 1.6])
    p.add_argument("--json", action="store_true")
    p.add_argument("--port", action="store_true", help="the weight port as built, one slot")
    p.add_argument("--membrane-depth", type=int, default=None, metavar="N",
                   help="with --port: N membrane words per bank on chip, the rest swapped "
                        "through DRAM")
    p.add_argument("--image", action="append", default=[], metavar="NAME=DIR",
                   help="a trained image of preset NAME, with its own calibrated exits")
    args = p.parse_args(argv)
    trained = {}
    for item in args.image:
        name, _, path = item.partition("=")
        if name not in PAPER or not path:
            print(f"bench_memory: --image {item!r}: expected NAME=DIR with NAME one of "
                  f"{', '.join(PAPER)}", file=sys.stderr)
            return 2
        try:
            trained[name] = gi.load(path)
        except (AtsnnError, FileNotFoundError) as e:
            print(f"bench_memory: --image {item!r}: {e}", file=sys.stderr)
            return 2
    if args.membrane_depth is not None and not (args.port and 1 <= args.membrane_depth <= 1 << 16):
        print("bench_memory: --membrane-depth needs --port and must be within 1..65536",
              file=sys.stderr)
        return 2
    if args.cifar_images < 1 or any(not 1 <= m <= 4 for m in args.exit_steps):
        print("bench_memory: --cifar-images must be >= 1 and --exit-steps within 1..4",
              file=sys.stderr)
        return 2
    x_cal = load_dataset("cifar10-subset", "train")[0][:256]
    x = load_dataset("cifar10-subset", "test")[0][:args.cifar_images]
    table = []
    for name in args.model:
        steps = args.exit_steps
        if name in trained:
            image = trained[name]
            steps = [run(image, x, lanes=16).exit_t]
        else:
            image = preset_image(name, x_cal)
        if args.port:
            table += port_rows(name, image, x, steps, args.membrane_depth)
        else:
            table += rows(name, image, x, steps)
    if args.json:
        print(json.dumps(table, indent=1))
        return 0
    if args.port:
        print(f"{'model':9} {'P':>3} {'K':>2} {'tiles':>5} {'B/beat':>6} {'exit t':>6} "
              f"{'cycles':>10} {'on chip':>10} {'stalls':>9} {'img/s':>7} {'paper':>6} {'MB/img':>7} "
              f"{'DRAM uJ':>8} {'port busy':>9} {'bound':>8} {'swapped':>7} {'swap cyc':>9}")
        for r in table:
            if "refused" in r:
                print(f"{r['model']:9} {r['lanes']:>3} {r['grid']:>2} refused: {r['refused']}")
                continue
            print(f"{r['model']:9} {r['lanes']:>3} {r['grid']:>2} {r['tiles']:>5} "
                  f"{r['axi_bytes']:>6} {r['mean_exit_t']:>6.2f} {r['cycles']:>10.0f} "
                  f"{r['on_chip_cycles']:>10.0f} {r['stall_cycles']:>9.0f} {r['images_per_s']:>7.1f} "
                  f"{r['paper_images_per_s']:>6} {r['mb_per_image']:>7.2f} "
                  f"{r['dram_energy_uj']:>8.0f} {r['port_busy']:>9.2f} {r['bound']:>8} "
                  f"{r['swapped_layers']:>7} {r['swap_cycles']:>9.0f}")
        return 0
    print(f"{'model':9} {'P':>3} {'K':>2} {'slots':>5} {'B/cyc':>6} {'exit t':>6} "
          f"{'img/s':>8} {'paper':>6} {'bound':>8} {'MB/img':>7} {'DRAM uJ':>8}")
    for r in table:
        print(f"{r['model']:9} {r['lanes']:>3} {r['grid']:>2} {r['slots']:>5} "
              f"{r['bytes_per_cycle']:>6.1f} {r['mean_exit_t']:>6.2f} {r['images_per_s']:>8.1f} "
              f"{r['paper_images_per_s']:>6} {r['bound']:>8} {r['mb_per_image']:>7.2f} "
              f"{r['dram_energy_uj']:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
