"""``atsnn verilog`` (and ``atsnn synth`` from :mod:`atsnn.rtl.synth_cli`): the RTL's
commands. The testbench's (``atsnn sim``, ``atsnn lint``) are in :mod:`atsnn.tb.cli`:
rtl/ never imports tb/."""

from pathlib import Path

from .hwflags import add_config_arguments, config_from_args

__all__ = ["add_commands"]


def add_commands(subparsers):
    p = subparsers.add_parser("verilog", help="emit the accelerator's Verilog (atsnn_top)",
                              description="Emit atsnn_top (the AXI wrapper around the core) "
                                          "as Verilog for the given hardware parameters.")
    add_config_arguments(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.set_defaults(func=cmd_verilog)

    try:
        from .synth_cli import add_synth_command
    except ImportError:
        pass
    else:
        add_synth_command(subparsers)


def cmd_verilog(args):
    from .synth import build_design, emit_verilog
    design, _ = build_design(config_from_args(args), "top")
    out = emit_verilog(design, args.output)
    print(f"wrote {out} ({len(out.read_text().splitlines())} lines)")
    return 0
