"""Layering and shared flags: rtl/ never imports tb/ (tb/ builds on rtl/), and every
command that takes HwConfig flags refuses what the hardware refuses."""

import ast
from pathlib import Path

import pytest

from atsnn.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _imports(path):
    """Every module name an ``import`` or ``from ... import`` in ``path`` names."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:       # relative: inside rtl/ means rtl/
                yield "atsnn.rtl." + (node.module or "")
            else:
                yield node.module


def test_rtl_never_imports_tb():
    bad = [f"{path.name}: {name}" for path in sorted((ROOT / "rtl").glob("*.py"))
           for name in _imports(path)
           if name == "atsnn.tb" or name.startswith("atsnn.tb.") or name.split(".")[0] == "tb"]
    assert not bad, bad


@pytest.mark.parametrize("command", [["golden"], ["sim"], ["verilog", "-o", "/dev/null"],
                                     ["synth", "--target", "generic"]], ids=lambda c: c[0])
@pytest.mark.parametrize("lanes", ["1", "3", "64"])
def test_lanes_the_hardware_refuses(capsys, command, lanes):
    """One line ``atsnn CMD: error: ...``, exit status 2, before any work."""
    assert main([*command, "--lanes", lanes]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"atsnn {command[0]}: error: "), err
    assert "power of two from 2 to 32" in err[0]
