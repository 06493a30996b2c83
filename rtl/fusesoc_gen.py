#!/usr/bin/env python3
"""FuseSoC generator ``atsnn_gen``: write ``atsnn_top.v`` for a HwConfig and a core
file that carries it.

FuseSoC calls this script with one argument, a YAML file holding ``parameters``
(HwConfig fields such as ``lanes``, plus ``top``: ``top`` or ``core``) and
``vlnv`` (the name the generated core gets). It runs in the directory where the
outputs go. Needs the ``atsnn`` package in the interpreter that runs it.
"""

import sys
from pathlib import Path

import yaml

from atsnn import AtsnnError
from atsnn.rtl.config import HwConfig
from atsnn.rtl.synth import build_design, emit_verilog


def generate(gapi_path, out_dir="."):
    gapi = yaml.safe_load(Path(gapi_path).read_text())
    params = dict(gapi.get("parameters") or {})
    top = params.pop("top", "top")
    try:
        config = HwConfig(**params)
    except TypeError as exc:
        raise AtsnnError(f"atsnn_gen: bad parameter in {gapi_path}: {exc}") from None
    design, _ = build_design(config, top)
    emit_verilog(design, Path(out_dir) / "atsnn_top.v")
    core = {
        "name": gapi["vlnv"],
        "description": f"atsnn accelerator, generated for {config}",
        "filesets": {"rtl": {"files": ["atsnn_top.v"], "file_type": "verilogSource"}},
        "targets": {"default": {"filesets": ["rtl"], "toplevel": "atsnn_top"}},
    }
    name = gapi["vlnv"].split(":")[2]
    (Path(out_dir) / f"{name}.core").write_text("CAPI=2:\n" + yaml.safe_dump(core, sort_keys=False))


if __name__ == "__main__":
    try:
        generate(sys.argv[1])
    except AtsnnError as exc:
        sys.exit(f"error: {exc}")
