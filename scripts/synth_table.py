"""Resources, Fmax and MNIST images/s of the accelerator on an LFE5U-85F, per lane count.

For each P: the ECP5 flow of :mod:`atsnn.rtl.synth` (Yosys + nextpnr, one run at
a time, each tool bounded by --timeout), and the cycles per image of the golden
cycle model (which the RTL's cycle counter equals) on the first --images MNIST
test images with the reference model at lanes=P. images/s = Fmax / cycles.

    python scripts/synth_table.py --lanes 4 8 16 32 --images 200 --timeout 3600

Prints a Markdown table (paste into docs/fpga.md) and writes
OUT/table.json; each P's tool files stay in OUT/pP/. --reuse takes a finished
OUT/pP/result.json instead of running the flow again. Other HwConfig flags
(--weight-depth ...) apply to every P.
"""

import argparse
import copy
import json
import sys
import time
from pathlib import Path

from atsnn import AtsnnError
from atsnn.rtl.synth import DEVICE, TOPS, build_design, synthesize
from atsnn.rtl.hwflags import add_config_arguments, config_from_args, lanes_type


def mnist_cycles(model, lanes, images, data_dir):
    """Mean golden cycles per image, or the reason there is none."""
    try:
        from atsnn.data import load_mnist
        from atsnn import model_image as gi
        from atsnn.golden.engine import run
        img = gi.load(gi.resolve_model(model))
        x, _ = load_mnist(data_dir, "test")
        res = run(img, x[:images], lanes=lanes)
    except (AtsnnError, FileNotFoundError, ImportError, AttributeError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return float(res.cycles.mean()), None


def fits_model(model, config):
    """Whether the host compiler accepts the model for this configuration."""
    try:
        from atsnn import model_image as gi
        from atsnn.rtl.compiler import plan
        plan(gi.load(gi.resolve_model(model)), config)
    except (AtsnnError, FileNotFoundError, ImportError) as exc:
        return str(exc)
    return True


def fitted_depths(model, lanes):
    """Memory depths sized to the model: what the host compiler's plan uses, rounded
    up to a multiple of 512 words (a DP16KD's shallowest shape), or to a power of two
    for memories under 512 words. Input events: the --input-depth given, else 512
    (MNIST has at most 311 non-zero pixels)."""
    from atsnn import model_image as gi
    from atsnn.rtl.compiler import plan
    from atsnn.rtl.config import HwConfig
    big = HwConfig(lanes=lanes, weight_depth=1 << 16, membrane_depth=1 << 16,
                   event_depth=1 << 16, input_depth=1 << 16,
                   param_depth=1 << 16, out_depth=1 << 16)
    p = plan(gi.load(gi.resolve_model(model)), big)

    def fit(n):
        n = int(n)
        return -(-n // 512) * 512 if n > 512 else 1 << max(4, (n - 1).bit_length())

    return {"weight_depth": fit(p.weight_words), "membrane_depth": fit(p.membrane_words),
            "event_depth": fit(p.event_words), "param_depth": fit(p.param_words),
            "out_depth": fit(p.out_words)}


def run_one(args, lanes):
    args = copy.copy(args)
    args.hw_lanes = lanes
    row = {"lanes": lanes}
    if args.fit:
        try:
            for name, depth in fitted_depths(args.model, lanes).items():
                if getattr(args, f"hw_{name}") is None:
                    setattr(args, f"hw_{name}", depth)
        except (AtsnnError, FileNotFoundError) as exc:
            row["fit_note"] = f"depths not fitted ({exc}); HwConfig defaults"
    if args.hw_input_depth is None:
        args.hw_input_depth = 512
    config = config_from_args(args)
    out = Path(args.out) / f"p{lanes}"
    cached = out / "result.json"
    if args.reuse and cached.exists():
        row.update(json.loads(cached.read_text()))
        row["status"] = "ok (reused)"
    else:
        start = time.monotonic()
        try:
            design, _ = build_design(config, args.top)
            row.update(synthesize(design, "ecp5", out, freq_mhz=args.freq, seed=args.seed,
                                  timeout=args.timeout, config=config, route=args.route,
                                  router=args.router, placer=args.placer,
                                  nextpnr_args=args.nextpnr_arg, speed=args.speed))
            row["status"] = "ok" if row["fits"] else row["fit_note"]
        except AtsnnError as exc:
            row["status"] = str(exc)
        row["wall_s"] = round(time.monotonic() - start)
    row["cycles_per_image"], row["cycles_note"] = mnist_cycles(args.model, lanes, args.images,
                                                               args.data_dir)
    row["model_fits"] = fits_model(args.model, config)
    cyc = row["cycles_per_image"]
    if cyc:
        row["images_per_s_100mhz"] = 100e6 / cyc
        if row.get("fmax_mhz") and row["status"].startswith("ok"):
            row["images_per_s"] = row["fmax_mhz"] * 1e6 / cyc
    return row


def _fmt(v, spec="{}"):
    return "–" if v is None else spec.format(v)


def markdown(rows):
    head = ("| P | LUT4 | FF | DP16KD | MULT18X18D | Fmax (MHz) | cycles/image | "
            "images/s at Fmax | images/s at 100 MHz | status |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        ran = "luts" in r
        fmax = _fmt(r.get("fmax_mhz"), "{:.1f}")
        if r.get("fmax_kind") == "placement estimate":
            fmax += " (placed)"
        lines.append("| " + " | ".join([
            str(r["lanes"]),
            _fmt(r.get("luts") if ran else None), _fmt(r.get("ffs") if ran else None),
            _fmt(r.get("brams") if ran else None), _fmt(r.get("dsps") if ran else None),
            fmax,
            _fmt(r.get("cycles_per_image"), "{:.0f}"),
            _fmt(r.get("images_per_s"), "{:.0f}"),
            _fmt(r.get("images_per_s_100mhz"), "{:.0f}"),
            r["status"].replace("|", "/")]) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lanes", type=lanes_type, nargs="+", default=[4, 8, 16, 32], dest="lane_list")
    p.add_argument("--images", type=int, default=200, help="MNIST test images for the cycles")
    p.add_argument("--model", default="reference")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--timeout", type=float, default=3600, help="seconds per tool run")
    p.add_argument("--freq", type=float, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--speed", type=int, choices=DEVICE["speeds"], default=DEVICE["speed"],
                   help="the LFE5U-85F's speed grade")
    p.add_argument("--router", choices=("router1", "router2"), default="router2")
    p.add_argument("--placer", choices=("heap", "static"), default="heap")
    p.add_argument("--nextpnr-arg", action="append", default=[], metavar="ARG",
                   help="extra nextpnr option, repeatable (--nextpnr-arg=--placer=static)")
    p.add_argument("--no-route", dest="route", action="store_false",
                   help="Fmax from nextpnr's post-placement estimate (no routing)")
    p.add_argument("--top", choices=TOPS, default="auto")
    p.add_argument("--out", default="build/synth-table")
    p.add_argument("--reuse", action="store_true", help="reuse finished OUT/pP/result.json")
    p.add_argument("--no-fit", dest="fit", action="store_false",
                   help="keep HwConfig's default depths instead of sizing them to --model")
    add_config_arguments(p, skip=("lanes",))
    args = p.parse_args(argv)
    rows = []
    for lanes in args.lane_list:
        row = run_one(args, lanes)
        rows.append(row)
        print(f"P={lanes}: {row['status']}, LUT4 {row.get('luts')}, Fmax {row.get('fmax_mhz')}, "
              f"cycles/image {row.get('cycles_per_image')}", file=sys.stderr, flush=True)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "table.json").write_text(json.dumps(rows, indent=2, default=str) + "\n")
    print(markdown(rows))
    for r in rows:
        if r.get("critical_path"):
            print(f"\nP={r['lanes']} critical path: {r['critical_path']}")
        if r.get("cycles_note"):
            print(f"\nP={r['lanes']} cycles: {r['cycles_note']}")
        if r.get("fit_note"):
            print(f"\nP={r['lanes']}: {r['fit_note']}")
        if r.get("model_fits") is not True:
            print(f"\nP={r['lanes']} model: {r['model_fits']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
