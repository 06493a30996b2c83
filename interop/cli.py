"""`atsnn import-nir` and `atsnn export-nir`: NIR graphs in and out (docs/nir.md)."""

import argparse
import json
from pathlib import Path

import numpy as np

from atsnn import AtsnnError
from atsnn.data import load_dataset
from atsnn.interop.graph import atsnn_metadata
from atsnn.model_image import load_model, save
from atsnn.rtl.hwflags import add_config_arguments, config_from_args


def add_commands(subparsers):
    p = subparsers.add_parser("import-nir", help="a NIR graph to a model image",
                              description=__doc__)
    p.add_argument("file", help="NIR file (HDF5, written by nir.write)")
    p.add_argument("--out", required=True, help="image directory or .npz file to write")
    p.add_argument("--t-max", type=int, default=None,
                   help="timesteps the source ran (NIR does not store it; required unless "
                        "the graph was written by export-nir)")
    p.add_argument("--dt", type=float, default=None,
                   help="the exporter's time step: decay 1 - dt/tau, gain dt*r/tau "
                        "(default 1e-4, snnTorch's export_to_nir)")
    p.add_argument("--reset", choices=("nir", "subtract", "zero"), default=None,
                   help="nir (default): reset to v_reset as NIR says; subtract: what snnTorch "
                        "trains with (its exporter does not record it)")
    p.add_argument("--spike", choices=("gt", "ge"), default=None,
                   help="gt (default): NIR's v > v_threshold; ge: v >= v_threshold (Sinabs)")
    p.add_argument("--weight-bits", type=int, default=None, help="2..8, default 8")
    p.add_argument("--input-kind", choices=("static", "events"), default=None,
                   help="static pixels presented every step (default) or event frames")
    p.add_argument("--input-scale", type=float, default=None,
                   help="graph input = (pixel - zero point) * scale (default 1/255)")
    p.add_argument("--input-bits", type=int, default=None, help="pixel bits, default 8")
    p.add_argument("--input-shape", type=_shape, default=None, metavar="C,H,W",
                   help="the input's shape per timestep, when the Input node's type is not "
                        "(Sinabs records [T, N])")
    p.add_argument("--zero-point", type=int, default=None)
    p.add_argument("--name", default=None, help="image name")
    p.add_argument("--dataset", default=None,
                   help="also run the image (golden) and the graph (float NIR simulation) "
                        "on this dataset and report both accuracies")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--limit", type=int, default=None, help="first N samples only")
    p.add_argument("--data-dir", default=None)
    add_config_arguments(p, only=("membrane_bits", "acc_bits"))
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=import_command)

    e = subparsers.add_parser("export-nir", help="a model image or run to a NIR graph",
                              description=__doc__)
    e.add_argument("model", help="model image, built-in name, or RUN directory (RUN/image)")
    e.add_argument("--out", required=True, help="NIR file to write")
    e.add_argument("--convention", choices=("snntorch", "norse"), default="snntorch",
                   help="snntorch: LIF r = tau/dt, dt 1e-4; norse: LIF r = 1 (Norse ignores r), "
                        "dt 1e-3 (pass the same dt to norse's from_nir)")
    e.add_argument("--dt", type=float, default=None,
                   help="time step the graph's tau and r assume (default: the convention's)")
    add_config_arguments(e, only=("membrane_bits", "acc_bits"))
    e.set_defaults(func=export_command)


def _shape(text):
    try:
        dims = tuple(int(d) for d in text.split(","))
    except ValueError:
        dims = ()
    if not dims or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a shape like 784 or 1,28,28")
    return dims


def _check_out(out):
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise AtsnnError(f"--out {out}: already exists (remove it or name another path)")


def import_command(args):
    from atsnn.interop import graph, nir_import

    _check_out(args.out)
    if args.weight_bits is not None and not 2 <= args.weight_bits <= 8:
        raise AtsnnError(f"--weight-bits {args.weight_bits}: must be 2..8")
    if args.t_max is not None and not 1 <= args.t_max <= 256:
        raise AtsnnError(f"--t-max {args.t_max}: must be 1..256")
    if args.limit is not None and args.limit < 1:
        raise AtsnnError(f"--limit {args.limit}: must be at least 1")
    hw = config_from_args(args)
    g = graph.read(args.file)
    image, notes = nir_import.import_graph(
        g, t_max=args.t_max, dt=args.dt, reset=args.reset, spike=args.spike,
        weight_bits=args.weight_bits,
        input_kind=args.input_kind, input_scale=args.input_scale, input_bits=args.input_bits,
        zero_point=args.zero_point, input_shape=args.input_shape, name=args.name or Path(args.file).stem,
        membrane_bits=hw.membrane_bits, acc_bits=hw.acc_bits)
    exact = all(n.exact for n in notes)
    s = {"file": args.file, "out": args.out, "exact": exact, "t_max": image.t_max,
         "layers": [l.name for l in image.layers],
         "notes": [{"layer": n.layer, "exact": n.exact, "text": n.text} for n in notes]}
    if args.dataset:
        s.update(compare(g, image, args))
    save(image, args.out)
    if args.json:
        print(json.dumps(s))
        return 0
    print(f"wrote {args.out}: {len(image.layers)} layers, T_max {image.t_max}, "
          f"{'exact' if exact else 'approximate'}")
    for n in notes:
        print(f"  [{'exact ' if n.exact else 'approx'}] {n.layer}: {n.text}")
    if args.dataset:
        print(f"  on {s['dataset']}/{args.split} ({s['images']} images): golden (image) "
              f"{s['golden_accuracy']:.4f}, NIR float simulation {s['nir_accuracy']:.4f}, "
              f"same prediction {s['agreement']:.4f}")
    return 0


def compare(g, image, args):
    """Accuracy of the image (golden, fixed T_max) beside the graph's own float run."""
    from atsnn.golden.engine import run
    from atsnn.interop import nir_sim
    from atsnn.interop.nir_import import DEFAULTS

    kw = {"time_steps": image.t_max} if image.input.kind == "events" else {}
    x, y = load_dataset(args.dataset, args.split, args.data_dir, **kw)
    if args.limit is not None:
        x, y = x[:args.limit], y[:args.limit]
    if len(x) == 0:
        raise AtsnnError(f"{args.dataset}/{args.split}: no images")
    golden = run(image, x, early_exit=False).pred
    meta = atsnn_metadata(g)
    dt = args.dt if args.dt is not None else meta.get("dt", DEFAULTS["dt"])
    ref = nir_sim.predict(g, x, image.t_max, dt=dt, reset=args.reset or "nir",
                          input_kind=image.input.kind, input_scale=image.input.scale,
                          zero_point=image.input.zero_point, spike=args.spike or "gt")
    return {"dataset": args.dataset, "images": int(len(y)),
            "golden_accuracy": float(np.mean(golden == y)),
            "nir_accuracy": float(np.mean(ref == y)),
            "agreement": float(np.mean(golden == ref))}


def export_command(args):
    from atsnn.interop import nir_export

    if args.dt is not None and not args.dt > 0:
        raise AtsnnError(f"--dt {args.dt}: must be a positive number")
    hw = config_from_args(args)
    path = Path(args.model)
    if path.is_dir() and (path / "image").is_dir():
        path = path / "image"
    image = load_model(str(path), hw.membrane_bits, hw.acc_bits)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    g = nir_export.write(image, args.out, args.dt, args.convention)
    print(f"wrote {args.out}: {len(g.nodes)} NIR nodes from {len(image.layers)} layers of "
          f"{image.name}, T_max {image.t_max}")
    return 0
