"""`atsnn verilog` and `atsnn lint`: the emitted top level is lint-clean under
verilator -Wall with only the documented waivers, and has the AXI port names."""

import re
from pathlib import Path

import pytest

from atsnn.cli import main
from atsnn.tb.runner import WAIVERS, lint

SMALL = ["--lanes", "4", "--weight-depth", "256", "--membrane-depth", "256",
         "--event-depth", "128", "--input-depth", "128", "--t-max", "4"]


@pytest.mark.verilator
@pytest.mark.parametrize("grid", [1, 3])
def test_verilog_has_axi_ports_and_lints_clean(tmp_path, capsys, grid):
    """At grid 3 too (the kernel-parallel array): a bank-0 compare against an
    unsigned remainder was a Verilator error there once."""
    out = tmp_path / "atsnn.v"
    assert main(["verilog", *SMALL, "--grid", str(grid), "-o", str(out)]) == 0
    text = out.read_text()
    header = re.search(r"module atsnn_top\((.*?)\);", text, re.S).group(1)
    ports = {p.strip() for p in header.split(",")}
    for name in ("clk", "rst", "s_axil_awaddr", "s_axil_bresp", "s_axil_rdata",
                 "s_axis_load_tdata", "s_axis_load_tlast", "s_axis_image_tready",
                 "m_axis_result_tvalid", "m_axis_result_tlast"):
        assert name in ports, name
    assert main(["lint", str(out)]) == 0
    assert "lint clean" in capsys.readouterr().out


@pytest.mark.verilator
def test_lint_reports_a_real_problem(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module atsnn_top(input clk, output [3:0] y);\n"
                   "  assign y = undeclared_wire;\nendmodule\n")
    rc, output = lint(bad)
    assert rc != 0 and "undeclared_wire" in output
    assert main(["lint", str(bad)]) == 1


def test_waivers_are_documented():
    doc = (Path(__file__).resolve().parent.parent / "docs" / "rtl.md").read_text()
    for name in WAIVERS:
        assert f"`{name}`" in doc, name


def test_emitting_verilog_leaves_the_collector_mostly_idle(tmp_path):
    """At Python's default thresholds converting this small core ran 678 young and
    6 full collections, half the conversion's time on the large ones; the
    thresholds come back afterwards."""
    import gc
    from rtl_harness import SMALL
    from atsnn.rtl.synth import emit_verilog
    from atsnn.tb.runner import make_top
    runs = {0: 0, 1: 0, 2: 0}

    def count(phase, info):
        if phase == "start":
            runs[info["generation"]] += 1

    before = gc.get_threshold()
    gc.callbacks.append(count)
    try:
        emit_verilog(make_top(SMALL, "accelerator"), tmp_path / "top.v")
    finally:
        gc.callbacks.remove(count)
    assert (tmp_path / "top.v").read_text().startswith("/*")
    assert runs[2] == 0 and runs[0] < 50, runs
    assert gc.get_threshold() == before
