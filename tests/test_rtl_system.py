"""System tests of atsnn_top under Verilator (cocotb testbench atsnn.tb.top_tb).

The stand-in core checks the wrapper and the whole flow (AXI-Lite, streams,
back-pressure, resets, malformed loads) fast; the accelerator tests run real and
random networks through RTL and golden and require every result to match.
"""

import pytest

from atsnn.rtl.config import HwConfig
from atsnn.tb.runner import run_testbench

STANDIN = HwConfig(lanes=4, t_max=4)


def failures(records):
    return [(r["kind"], r["tag"], m) for r in records for m in r["mismatches"]]


def test_standin_flow_all_tests():
    ok, records = run_testbench(STANDIN, [{"images": 12}, {"images": 5}], core="standin",
                                backpressure=True, seed=3)
    assert ok, failures(records)
    images = [r for r in records if r["kind"] == "image"]
    # 17 images plain + 17 under back-pressure, 12 after each of 2 resets, 12 after
    # the malformed loads: every one compared, none lost or duplicated.
    assert len(images) == 2 * 17 + 3 * 12
    assert not failures(records)
    tags = {r["tag"] for r in records if r["kind"] == "test"}
    assert tags == {"registers", "pin-reset", "soft-reset", "malformed-load"}
