"""``atsnn sim`` and ``atsnn lint``: the testbench's commands (Verilator)."""

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from atsnn import AtsnnError
from atsnn.rtl.hwflags import add_config_arguments, config_from_args

__all__ = ["add_commands", "sim_inputs", "summarize"]


def add_commands(subparsers):
    p = subparsers.add_parser("lint", help="lint emitted Verilog with Verilator",
                              description="verilator --lint-only -Wall with the waivers "
                                          "documented in docs/rtl.md.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--top", default="atsnn_top", help="top module (default atsnn_top)")
    p.set_defaults(func=cmd_lint)

    p = subparsers.add_parser(
        "sim", help="run test images through the RTL (Verilator) and the golden model",
        description="Build atsnn_top once under Verilator, run N test images through it and "
                    "through the golden model, compare class, exit timestep, U, spikes and "
                    "cycles exactly. Exit status 1 on any mismatch.")
    p.add_argument("--model", default="mnist-tiny",
                   help="model image path or shipped name (default mnist-tiny; see golden/models)")
    p.add_argument("--images", type=int, default=20, metavar="N")
    p.add_argument("--offset", type=int, default=0, help="first test image (default 0)")
    p.add_argument("--data-dir", default=None, help="dataset directory (default: shared data)")
    p.add_argument("--backpressure", action="store_true",
                   help="run the images a second time under random stream back-pressure")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--build-dir", default=None, help="Verilator build root (default build/sim)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_config_arguments(p)
    p.set_defaults(func=cmd_sim)


def cmd_lint(args):
    from atsnn.tb.runner import lint
    if not Path(args.file).is_file():
        raise AtsnnError(f"{args.file}: no such Verilog file")
    rc, output = lint(args.file, args.top)
    if output.strip():
        print(output.rstrip())
    print(f"lint {'clean' if rc == 0 else 'FAILED'}: {args.file}")
    return 0 if rc == 0 else 1


def sim_inputs(image, count, offset=0, data_dir=None):
    """``count`` test inputs (and labels) for a model image: MNIST test images for a
    static 1x28x28 input, CIFAR-10 subset test images for 3x32x32, N-MNIST test recordings as frames for an event input."""
    from atsnn import data
    if count < 1 or offset < 0:
        raise AtsnnError(f"need at least 1 image from offset 0 or more, not {count} from {offset}")
    shape = tuple(image.input.shape)
    if image.input.kind == "static":
        if shape == (3, 32, 32):
            x, y = data.load_cifar10_subset(data_dir, "test")
        elif shape == (1, 28, 28):
            x, y = data.load_mnist(data_dir, "test")
        else:
            raise AtsnnError(f"no test set for a static input of shape {list(shape)} "
                             "(atsnn sim knows MNIST, 1x28x28, and the CIFAR-10 subset, 3x32x32)")
    else:
        if len(shape) != 3 or shape[0] != 2 or 34 % shape[1]:
            raise AtsnnError(f"no test set for an event input of shape {list(shape)} "
                             "(atsnn sim knows N-MNIST, 2x34x34 or OR-pooled)")
        from atsnn.model_image import frame_mode
        x, y = data.load_nmnist(data_dir, "test", time_steps=image.t_max,
                                mode=frame_mode(image.input),
                                downsample=34 // shape[1], limit=offset + count)
    if offset + count > len(x):
        raise AtsnnError(f"asked for images {offset}..{offset + count - 1}, the test set "
                         f"has {len(x)}")
    return x[offset:offset + count], y[offset:offset + count]


def summarize(records, labels, lanes):
    """The ``atsnn sim`` summary from the testbench records of one plain pass."""
    images = sorted((r for r in records if r["kind"] == "image" and r["tag"] == "plain"),
                    key=lambda r: r["index"])
    works = [r for r in records if r["kind"] == "work"]
    extra = [m for r in records if r["kind"] in ("work", "register", "test")
             for m in r["mismatches"]]
    n = len(images)
    rtl = [r["rtl"] for r in images]
    gold = [r["golden"] for r in images]
    correct = sum(1 for r, label in zip(rtl, labels) if r.get("class") == int(label))
    sops = sum(g["sops"] for g in gold)
    scatter = sum(g["scatter_cycles"] for g in gold)
    rtl_sops = sum(r.get("sops", 0) for r in rtl)
    rtl_cycles = sum(r.get("cycles", 0) for r in rtl)
    cycles = sum(w["sim_cycles"] for w in works)
    wall = sum(w["wall_s"] for w in works)
    return {
        "images": n,
        "mismatches": sum(1 for r in images if r["mismatches"]) + len(extra),
        "accuracy": correct / n if n else 0.0,
        "avg_timesteps": float(np.mean([r.get("exit_t", 0) for r in rtl])) if n else 0.0,
        "cycles_per_image": float(np.mean([r.get("cycles", 0) for r in rtl])) if n else 0.0,
        "sops_per_cycle": rtl_sops / rtl_cycles if rtl_cycles else 0.0,
        "utilization": sops / (lanes * scatter) if scatter else 0.0,
        "sim_cycles_per_s": cycles / wall if wall else 0.0,
        "details": [f"image {r['index']} ({r['tag']}): {m}" for r in images
                    for m in r["mismatches"]] + extra,
    }


def cmd_sim(args):
    if args.images < 1:
        raise AtsnnError(f"--images must be at least 1, not {args.images}")
    if args.offset < 0:
        raise AtsnnError(f"--offset must be at least 0, not {args.offset}")
    from atsnn.model_image import load, resolve_model
    from atsnn.tb.runner import run_testbench
    config = config_from_args(args)
    path = resolve_model(args.model)
    image = load(path, membrane_bits=config.membrane_bits, acc_bits=config.acc_bits)
    from atsnn.rtl.compiler import encode_input, plan
    p = plan(image, config)      # refuse a model or an input that does not fit before building
    x, y = sim_inputs(image, args.images, args.offset, args.data_dir)
    for i, sample in enumerate(x):
        try:
            encode_input(p, sample)
        except AtsnnError as exc:
            raise AtsnnError(f"test image {args.offset + i}: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="atsnn-sim-") as tmp:
        inputs = Path(tmp) / "inputs.npy"
        np.save(inputs, x)
        try:
            ok, records = run_testbench(
                config, [{"model": str(Path(path).resolve()), "inputs": str(inputs)}],
                testcase="images_match_golden", backpressure=args.backpressure, seed=args.seed,
                build_root=args.build_dir, progress=len(x) * (2 if args.backpressure else 1))
        except RuntimeError as exc:
            raise AtsnnError(f"{exc} (build directory {args.build_dir or 'build/sim'})") from None
    summary = summarize(records, y, config.array_lanes)
    if not ok and not summary["mismatches"]:
        summary["mismatches"] = 1
        summary["details"].append("the testbench failed (see the simulator log above)")
    if summary["images"] < args.images:
        summary["mismatches"] += args.images - summary["images"]
        summary["details"].append(f"only {summary['images']} of {args.images} results came back")
    if args.json:
        print(json.dumps({k: v for k, v in summary.items() if k != "details"}
                         | {"details": summary["details"][:20]}))
    else:
        print(f"atsnn sim: {image.name} on {args.images} test images, lanes {config.lanes}, "
              f"Verilator vs golden")
        rows = [("images", f"{summary['images']}"),
                ("mismatches", f"{summary['mismatches']}"),
                ("accuracy", f"{summary['accuracy']:.4f}"),
                ("avg_timesteps", f"{summary['avg_timesteps']:.3f}"),
                ("cycles_per_image", f"{summary['cycles_per_image']:.1f}"),
                ("sops_per_cycle", f"{summary['sops_per_cycle']:.2f}"),
                ("utilization", f"{summary['utilization']:.3f}"),
                ("sim_cycles_per_s", f"{summary['sim_cycles_per_s']:.0f}")]
        for key, value in rows:
            print(f"  {key:<18} {value:>12}")
        for line in summary["details"][:20]:
            print(f"  MISMATCH {line}", file=sys.stderr)
    return 1 if summary["mismatches"] else 0
