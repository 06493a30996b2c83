"""The HwConfig command-line flags, declared once for every command that takes them
(``atsnn verilog``, ``sim``, ``synth``, ``golden`` and the scripts), so each one
refuses what the hardware refuses (HwConfig's own checks)."""

import argparse
import dataclasses

from atsnn import AtsnnError
from .config import HwConfig

__all__ = ["add_config_arguments", "config_from_args", "lanes_type"]


def add_config_arguments(parser, skip=(), only=None):
    """One ``--field-name`` flag per :class:`HwConfig` field (``--weight-port`` /
    ``--no-weight-port`` for a bool), less ``skip`` (or just those in ``only``).
    :func:`config_from_args` reads them back."""
    group = parser.add_argument_group("hardware parameters (HwConfig)")
    for field in dataclasses.fields(HwConfig):
        if field.name in skip or (only is not None and field.name not in only):
            continue
        if field.type in (bool, "bool"):
            group.add_argument(f"--{field.name.replace('_', '-')}", dest=f"hw_{field.name}",
                               action=argparse.BooleanOptionalAction, default=None,
                               help=f"default {'on' if field.default else 'off'}")
            continue
        group.add_argument(f"--{field.name.replace('_', '-')}", dest=f"hw_{field.name}",
                           type=int, default=None, metavar="N",
                           help=f"default {field.default}")


def config_from_args(args):
    """The HwConfig the flags ask for; AtsnnError (one line, exit status 2) if the
    hardware refuses it."""
    values = {f.name: getattr(args, f"hw_{f.name}") for f in dataclasses.fields(HwConfig)
              if getattr(args, f"hw_{f.name}", None) is not None}
    try:
        return HwConfig(**values)
    except TypeError as exc:
        raise AtsnnError(f"bad hardware parameter: {exc}") from None


def lanes_type(text):
    """argparse ``type`` for a lane count given outside the flags above (lists of P)."""
    try:
        return HwConfig(lanes=int(text)).lanes
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
