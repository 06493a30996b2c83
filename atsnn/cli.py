"""The ``atsnn`` command: one subcommand per job, each owned by its subpackage.

A subpackage exposes ``add_commands(subparsers)`` in its ``cli`` module; each
command it adds sets ``func`` to a callable taking the parsed arguments and
returning an exit status.
"""

import argparse
import importlib
import sys

from atsnn import AtsnnError

SUBPACKAGES = ("golden", "model", "rtl", "tb", "interop", "report")


def build_parser():
    parser = argparse.ArgumentParser(prog="atsnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBPACKAGES:
        try:
            module = importlib.import_module(f"atsnn.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name != f"atsnn.{name}.cli":
                raise
            continue
        module.add_commands(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except (AtsnnError, FileNotFoundError) as exc:
        print(f"atsnn {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
