"""`atsnn report`: one self-contained HTML page and the same figures as JSON for a
model image or trained run (accuracy, exits, spikes, cycles, energy, FPGA)."""

import json
from pathlib import Path

from atsnn import AtsnnError
from atsnn.data import load_dataset
from atsnn.model_image import load_model
from atsnn.rtl.hwflags import add_config_arguments, config_from_args


def add_commands(subparsers):
    p = subparsers.add_parser("report", help="one HTML page (and JSON) on what a network "
                              "does on the accelerator", description=__doc__)
    p.add_argument("model", help="model image, built-in name, or RUN directory (RUN/image)")
    p.add_argument("--out", default=None, help="directory for report.html and report.json "
                                               "(default RUN/report or report-NAME)")
    p.add_argument("--dataset", default=None,
                   help="default mnist (static input) or nmnist (events)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--limit", type=int, default=1000, help="first N samples (default 1000; 0: all)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--synth-dir", default="build/synth",
                   help="where atsnn synth left its result.json files")
    add_config_arguments(p, only=("lanes", "membrane_bits", "acc_bits"))
    p.set_defaults(func=report_command)


def report_command(args):
    from atsnn.report import figures, html

    if args.limit < 0:
        raise AtsnnError(f"--limit {args.limit}: must be 0 (all) or more")
    hw = config_from_args(args)
    path = Path(args.model)
    run_dir = path.is_dir() and (path / "image").is_dir()
    image = load_model(str(path / "image" if run_dir else path), hw.membrane_bits, hw.acc_bits)
    out = Path(args.out) if args.out else (path / "report" if run_dir else Path(f"report-{image.name}"))
    events = image.input.kind == "events"
    dataset = args.dataset or ("nmnist" if events else "mnist")
    kw = {"time_steps": image.t_max,
          "mode": "time" if "time" in (image.input.encoding or "") else "count"} if events else {}
    x, y = load_dataset(dataset, args.split, args.data_dir, **kw)
    if args.limit:
        x, y = x[:args.limit], y[:args.limit]
    if len(x) == 0:
        raise AtsnnError(f"{dataset}/{args.split}: no images")
    fig = figures.figures(image, x, y, hw.lanes, hw.membrane_bits, args.synth_dir)
    fig.update(dataset=dataset, split=args.split)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(fig, indent=1) + "\n")
    (out / "report.html").write_text(html.page(fig))
    print(f"wrote {out / 'report.html'} and report.json: {image.name} on {dataset}/{args.split}, "
          f"{fig['images']} images, accuracy {fig['adaptive']['accuracy']:.4f} at "
          f"{fig['adaptive']['avg_timesteps']:.2f} timesteps")
    return 0
