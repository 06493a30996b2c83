"""`atsnn golden`: run a model image on a dataset split with the golden model."""

import json
import time

import numpy as np

from atsnn import AtsnnError
from atsnn.data import DATASETS, load_dataset
from atsnn.golden import energy
from atsnn.golden.engine import run
from atsnn.rtl.hwflags import add_config_arguments, config_from_args
from atsnn.model_image import frame_mode, load_model


def add_commands(subparsers):
    p = subparsers.add_parser("golden", help="run the bit-accurate golden model on a dataset",
                              description=__doc__)
    p.add_argument("--model", default="reference",
                   help="model image (directory or .npz) or a built-in name (reference)")
    p.add_argument("--dataset", default=None,
                   help="dataset to run on (default: mnist for a static-input model, nmnist "
                        "for an events-input one)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--limit", type=int, default=None, help="first N samples only")
    p.add_argument("--data-dir", default=None)
    add_config_arguments(p, only=("lanes", "membrane_bits", "acc_bits", "grid"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=golden_command)


def evaluate(image, x, y, lanes=16, membrane_bits=24, grid=1):
    """Summary dict of the adaptive run, beside the same network at fixed T_max."""
    t0 = time.perf_counter()
    res = run(image, x, lanes=lanes, grid=grid)
    seconds = time.perf_counter() - t0
    fixed = run(image, x, lanes=lanes, early_exit=False, grid=grid)
    en = energy.summary(image, res, fixed, membrane_bits)
    n = len(y)
    return {
        "model": image.name, "images": n, "lanes": lanes, "grid": res.grid,
        "accuracy": float(np.mean(res.pred == y)) if n else 0.0,
        "avg_timesteps": float(res.exit_t.mean()) if n else 0.0,
        "exit_histogram": np.bincount(res.exit_t, minlength=image.t_max + 1)[1:].tolist(),
        "sops_per_image": float(res.sops.mean()) if n else 0.0,
        "first_layer_macs_per_image": float(res.first_layer_macs.mean()) if n else 0.0,
        "array_ops_per_image": float(res.array_ops.mean()) if n else 0.0,
        "spikes_per_image": float(res.spikes.sum(axis=(1, 2)).mean()) if n else 0.0,
        "cycles_per_image": float(res.cycles.mean()) if n else 0.0,
        "sops_per_cycle": res.sops_per_cycle,
        "pe_utilization": res.utilization,
        "energy_uj_per_image": en["snn"]["total_uj"],
        "fixed_t": {
            "t_max": image.t_max,
            "accuracy": float(np.mean(fixed.pred == y)) if n else 0.0,
            "sops_per_image": float(fixed.sops.mean()) if n else 0.0,
            "cycles_per_image": float(fixed.cycles.mean()) if n else 0.0,
            "sops_per_cycle": fixed.sops_per_cycle,
            "energy_uj_per_image": en["snn_fixed_t"]["total_uj"],
        },
        "ann_energy_uj_per_image": en["ann_int8"]["total_uj"],
        "energy_estimate": en,
        "golden_seconds": seconds,
    }


def golden_command(args):
    if args.limit is not None and args.limit < 0:
        raise AtsnnError(f"--limit must be at least 1, not {args.limit}")
    if args.limit == 0:
        raise AtsnnError("--limit 0: no images to run")
    hw = config_from_args(args)
    image = load_model(args.model, hw.membrane_bits, hw.acc_bits)
    if args.dataset is None:   # the dataset of the model's input kind, never a mismatch
        args.dataset = "nmnist" if image.input.kind == "events" else "mnist"
    kind = DATASETS[args.dataset][1] if args.dataset in DATASETS else None
    if kind is not None and kind != image.input.kind:
        raise AtsnnError(f"model {image.name!r} takes {image.input.kind} input, but dataset "
                         f"{args.dataset!r} is {kind}")
    kw = {}
    if image.input.kind == "events":   # frames as the image was trained on
        kw = {"time_steps": image.t_max, "mode": frame_mode(image.input)}
    # the limit is applied while loading: an event set converts only those recordings
    x, y = load_dataset(args.dataset, args.split, args.data_dir, limit=args.limit, **kw)
    where = f"{args.dataset}/{args.split}"
    if len(x) == 0:
        raise AtsnnError(f"{where}: no images in the dataset")
    if args.limit is not None:
        if args.limit > len(x):
            raise AtsnnError(f"--limit {args.limit}: {where} has only {len(x)} images")
        x, y = x[:args.limit], y[:args.limit]
    s = evaluate(image, x, y, hw.lanes, hw.membrane_bits, hw.grid)
    s.update(dataset=args.dataset, split=args.split)
    if args.json:
        print(json.dumps(s))
        return 0
    f = s["fixed_t"]
    rows = [
        ("", "adaptive", f"fixed T={f['t_max']}"),
        ("accuracy", f"{s['accuracy']:.4f}", f"{f['accuracy']:.4f}"),
        ("timesteps / image", f"{s['avg_timesteps']:.3f}", f"{f['t_max']}"),
        ("SOPs / image", f"{s['sops_per_image']:.0f}", f"{f['sops_per_image']:.0f}"),
        ("cycles / image", f"{s['cycles_per_image']:.0f}", f"{f['cycles_per_image']:.0f}"),
        ("SOPs / cycle", f"{s['sops_per_cycle']:.2f}", f"{f['sops_per_cycle']:.2f}"),
        ("energy / image (uJ, estimate)", f"{s['energy_uj_per_image']:.4f}",
         f"{f['energy_uj_per_image']:.4f}"),
    ]
    grid_note = f", {hw.grid} x {hw.grid} bank grid" if hw.grid > 1 else ""
    print(f"{s['model']} on {args.dataset}/{args.split}: {s['images']} images, P = {s['lanes']}"
          f"{grid_note}")
    for a, b, c in rows:
        print(f"  {a:<30} {b:>12} {c:>14}")
    print(f"  exits per timestep: {s['exit_histogram']}")
    print(f"  first-layer MACs / image: {s['first_layer_macs_per_image']:.0f}; "
          f"PE utilization {s['pe_utilization']:.3f}")
    print(f"  dense int8 ANN, same network (estimate): {s['ann_energy_uj_per_image']:.4f} uJ / image")
    return 0
