"""cocotb testbench of ``atsnn_top`` under Verilator: driver, monitor and golden
scoreboard in one module (the layout of cocotb's examples/matrix_multiplier).

Imported inside the simulator only; the launcher is :mod:`atsnn.tb.runner`
(used by ``tests/test_rtl_system.py`` and ``atsnn sim``). The launcher writes a
job (JSON, named by ``ATSNN_TB_JOB``): the hardware config, the core
(``accelerator`` or the ``standin``), and jobs (a model image and an ``.npy`` of
inputs each). Every test here drives the DUT over AXI with cocotbext-axi, checks
every result word against the golden model and appends what it saw to the
job file's results file (JSON lines), which the launcher reads back.
"""

import json
import os
import random
import time

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, SimTimeoutError, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from atsnn.rtl.config import HwConfig
from atsnn.rtl.top import (CTRL_CLEAR_COUNTERS, CTRL_SOFT_RESET, ERROR_BITS, ID_VALUE, REGS,
                           STATUS_BUSY, STATUS_LOADED, VERSION_VALUE, config_words)

CLOCK_NS = 10


# --------------------------------------------------------------------- job

def read_job():
    with open(os.environ["ATSNN_TB_JOB"]) as f:
        job = json.load(f)
    job["config"] = HwConfig(**job["config"])
    return job


def record(job, entry):
    """Append one record (a dict) to the results file of the job."""
    with open(job["results"], "a") as f:
        f.write(json.dumps(entry) + "\n")


# ------------------------------------------------------------------ workloads

class StandInWork:
    """Random load and image words for the stand-in core, with its exact results."""

    def __init__(self, seed, images):
        rng = random.Random(seed)
        self.load_words = [5] + [rng.getrandbits(32) for _ in range(5)]
        self.images = [[rng.getrandbits(8) for _ in range(rng.randint(1, 6))]
                       for _ in range(images)]
        self.expected = []
        for words in self.images:
            from atsnn.tb.standin import standin_result
            result, busy = standin_result(words)
            self.expected.append({"words": result, "cycles": busy,
                                  "sops": result[0], "spikes": result[1]})
        self.name = "standin"

    def check(self, index, words):
        exp = self.expected[index]
        mism = [] if list(words) == exp["words"] else [f"words {list(words)} != {exp['words']}"]
        return mism, {"words": list(words)}

    def max_cycles(self, index):
        return 200


class ModelWork:
    """A model image and inputs: load words, image words, golden expectations."""

    def __init__(self, config, model_path, inputs_path):
        from atsnn.golden import load, run
        from atsnn.rtl import compiler
        self.compiler = compiler
        self.image = load(model_path, membrane_bits=config.membrane_bits,
                          acc_bits=config.acc_bits)
        self.name = self.image.name
        self.plan = compiler.plan(self.image, config)
        self.load_words = [int(w) for w in compiler.compile_model(self.image, config)]
        inputs = np.load(inputs_path)
        self.images = [[int(w) for w in compiler.encode_input(self.plan, x)] for x in inputs]
        gold = run(self.image, inputs, lanes=config.lanes)
        names = [layer.name for layer in self.image.layers]
        self.expected = []
        for i in range(len(inputs)):
            per_layer = gold.spikes[i].sum(axis=0)
            self.expected.append({
                "class": int(gold.pred[i]), "exit_t": int(gold.exit_t[i]),
                "u": [int(v) for v in gold.u[i]],
                "spikes": {name: int(per_layer[j]) for j, name in enumerate(names)},
                "cycles": int(gold.cycles[i]),
                "sops": int(gold.sops[i] + gold.first_layer_macs[i]),
                "scatter_cycles": int(gold.scatter_cycles[i].sum()
                                      + gold.input_scatter_cycles[i]),
            })
        spiking = [layer.name for layer in self.image.layers if layer.spiking]
        for exp in self.expected:
            exp["spikes_total"] = sum(exp["spikes"][n] for n in spiking)

    def check(self, index, words):
        """Compare one image's result words with the golden model: (mismatches, decoded)."""
        exp = self.expected[index]
        try:
            got = self.compiler.decode_result(words, self.plan)
        except ValueError as e:
            return [str(e)], {"words": list(words)}
        decoded = {"class": int(got["class"]), "exit_t": int(got["exit_t"]),
                   "u": [int(v) for v in got["u"]],
                   "spikes": {k: int(v) for k, v in got["spikes"].items()},
                   "cycles": int(got["cycles"]), "sops": int(got["sops"])}
        mism = [f"{key}: rtl {decoded[key]} != golden {exp[key]}"
                for key in ("class", "exit_t", "u", "cycles", "sops") if decoded[key] != exp[key]]
        for name, count in decoded["spikes"].items():
            if count != exp["spikes"][name]:
                mism.append(f"spikes[{name}]: rtl {count} != golden {exp['spikes'][name]}")
        return mism, decoded

    def max_cycles(self, index):
        return 4 * self.expected[index]["cycles"] + 2000


def workloads(job):
    if job["core"] == "standin":
        return [StandInWork(job.get("seed", 0) + i, item.get("images", 8))
                for i, item in enumerate(job["jobs"])]
    return [ModelWork(job["config"], item["model"], item["inputs"]) for item in job["jobs"]]


# --------------------------------------------------------------------- driver

class TopDriver:
    """Clock, reset, bus models and register access for ``atsnn_top``."""

    def __init__(self, dut):
        self.dut = dut
        self.clock = Clock(dut.clk, CLOCK_NS, unit="ns")
        self.clock.start()
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.load = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_load"), dut.clk,
                                    dut.rst, byte_size=32)
        self.image = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_image"), dut.clk,
                                     dut.rst, byte_size=32)
        self.result = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_result"), dut.clk,
                                    dut.rst, byte_size=32)

    async def reset(self, cycles=4):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def backpressure(self, seed):
        """Random pauses on every stream (valid on the sources, ready on the sink)."""
        def pauses(rng, p):
            while True:
                yield rng.random() < p
        self.load.set_pause_generator(pauses(random.Random(seed), 0.3))
        self.image.set_pause_generator(pauses(random.Random(seed + 1), 0.3))
        self.result.set_pause_generator(pauses(random.Random(seed + 2), 0.5))

    def no_backpressure(self):
        for s in (self.load, self.image, self.result):
            s.clear_pause_generator()
            s.pause = False     # clearing the generator can leave a pause standing

    async def read(self, name):
        return await self.axil.read_dword(REGS[name])

    async def write(self, name, value):
        await self.axil.write_dword(REGS[name], value)

    async def counter64(self, name):
        lo = await self.read(f"{name}_LO")
        return lo | await self.read(f"{name}_HI") << 32

    async def send_load(self, words):
        await self.load.send(AxiStreamFrame(list(words)))
        await self.load.wait()

    async def run_images(self, work, indices, timeout_cycles):
        """Queue the images back to back, collect one result frame per image.

        Returns the result words per image, in order.
        """
        for i in indices:
            await self.image.send(AxiStreamFrame(work.images[i]))
        results = []
        for i in indices:
            try:
                frame = await with_timeout(self.result.recv(), timeout_cycles * CLOCK_NS, "ns")
            except SimTimeoutError:
                status = await self.read("STATUS")
                raise AssertionError(
                    f"{work.name}: no result for image {i} within {timeout_cycles} cycles "
                    f"(STATUS {status:#x}, {len(results)} of {len(indices)} results)") from None
            results.append(list(frame.tdata))
        return results


# ------------------------------------------------------------------ scoreboard

async def check_work(tb, job, work, *, tag, backpressure, batch=8):
    """Load ``work``'s model, run all its images, compare everything; return the
    number of mismatching images (each is recorded)."""
    await tb.send_load(work.load_words)
    await ClockCycles(tb.dut.clk, 2)
    status = await tb.read("STATUS")
    assert status & STATUS_LOADED and not status & 0xFF00, \
        f"{work.name}: load failed, STATUS {status:#x}"
    await tb.write("CTRL", CTRL_CLEAR_COUNTERS)
    mismatches = 0
    sim_cycles = 0
    start_wall = time.perf_counter()
    for first in range(0, len(work.images), batch):
        indices = list(range(first, min(first + batch, len(work.images))))
        timeout = sum(work.max_cycles(i) for i in indices) * (4 if backpressure else 1)
        t0 = get_sim_time("ns")
        results = await tb.run_images(work, indices, timeout)
        sim_cycles += int((get_sim_time("ns") - t0) // CLOCK_NS)
        for i, words in zip(indices, results):
            mism, decoded = work.check(i, words)
            mismatches += bool(mism)
            record(job, {"kind": "image", "tag": tag, "model": work.name, "index": i,
                          "mismatches": mism, "rtl": decoded, "golden": work.expected[i]})
        cycles_last = await tb.read("CYCLES_LAST")
        exp_last = work.expected[indices[-1]]["cycles"]
        if cycles_last != exp_last:
            mismatches += 1
            record(job, {"kind": "register", "tag": tag, "model": work.name,
                          "mismatches": [f"CYCLES_LAST {cycles_last} != golden {exp_last}"]})
    wall = time.perf_counter() - start_wall
    await ClockCycles(tb.dut.clk, 50)
    assert tb.result.empty(), f"{work.name}: extra result frames after the last image"
    counters = {"IMAGES_DONE": await tb.read("IMAGES_DONE"),
                "SOPS": await tb.counter64("SOPS"),
                "SPIKES": await tb.counter64("SPIKES")}
    expect = {"IMAGES_DONE": len(work.images),
              "SOPS": sum(e["sops"] for e in work.expected),
              "SPIKES": sum(e.get("spikes_total", e.get("spikes", 0)) for e in work.expected)}
    wrong = [f"{k} {counters[k]} != {expect[k]}" for k in counters if counters[k] != expect[k]]
    record(job, {"kind": "work", "tag": tag, "model": work.name, "images": len(work.images),
                  "mismatches": wrong, "image_mismatches": mismatches,
                  "sim_cycles": sim_cycles, "wall_s": wall})
    return mismatches + bool(wrong)


# ---------------------------------------------------------------------- tests

@cocotb.test()
async def registers(dut):
    """ID, version and config readback; unmapped addresses answer SLVERR."""
    job = read_job()
    tb = TopDriver(dut)
    await tb.reset()
    assert await tb.read("ID") == ID_VALUE
    assert await tb.read("VERSION") == VERSION_VALUE
    for name, value in config_words(job["config"]).items():
        assert await tb.read(name) == value, name
    resp = await tb.axil.read(0xFF0, 4)
    assert resp.resp != 0, "unmapped read answered OKAY"
    resp = await tb.axil.write(REGS["ID"], b"\0\0\0\0")
    assert resp.resp != 0, "write to ID answered OKAY"
    record(job, {"kind": "test", "tag": "registers", "mismatches": []})


@cocotb.test()
async def images_match_golden(dut):
    """Every job: load, all images back to back (and a second pass under random
    back-pressure when the job asks), each result equal to the golden model's."""
    job = read_job()
    tb = TopDriver(dut)
    await tb.reset()
    bad = 0
    for work in workloads(job):
        tb.no_backpressure()
        bad += await check_work(tb, job, work, tag="plain", backpressure=False)
        if job.get("backpressure"):
            tb.backpressure(job.get("seed", 0))
            bad += await check_work(tb, job, work, tag="backpressure", backpressure=True)
    tb.no_backpressure()
    assert bad == 0, f"{bad} images or counters differ from the golden model"


async def abort_and_recover(tb, job, work, how):
    """Start an image, reset (``rst`` pin or CTRL.SOFT_RESET) halfway through,
    then reload and check the images give correct results."""
    tb.no_backpressure()
    await tb.send_load(work.load_words)
    await tb.image.send(AxiStreamFrame(work.images[0]))
    await tb.image.wait()
    await ClockCycles(tb.dut.clk, max(1, work.expected[0]["cycles"] // 3))
    status = await tb.read("STATUS")
    busy = bool(status & STATUS_BUSY)
    if job["core"] != "standin":
        assert busy, f"image 0 ({work.expected[0]['cycles']} cycles) not busy at the reset"
    if how == "pin":
        await tb.reset()
    else:
        await tb.write("CTRL", CTRL_SOFT_RESET)
    await ClockCycles(tb.dut.clk, 4)
    tb.result.clear()
    status = await tb.read("STATUS")
    assert not status & (STATUS_LOADED | STATUS_BUSY), f"{how} reset left STATUS {status:#x}"
    bad = await check_work(tb, job, work, tag=f"after-{how}-reset", backpressure=False)
    record(job, {"kind": "test", "tag": f"{how}-reset", "busy_at_reset": busy,
                  "mismatches": [] if bad == 0 else [f"{bad} mismatches after reset"]})
    assert bad == 0


@cocotb.test()
async def reset_mid_inference(dut):
    """Reset pin and soft reset in the middle of an image, then correct results."""
    job = read_job()
    tb = TopDriver(dut)
    await tb.reset()
    work = workloads(job)[0]
    await abort_and_recover(tb, job, work, "pin")
    await abort_and_recover(tb, job, work, "soft")


async def malformed(tb, words, flag, timeout_cycles):
    """Send a malformed load; the stream must drain and ``flag`` must be set."""
    await tb.write("ERRORS", 0xFFFFFFFF)
    await with_timeout(tb.send_load(words), timeout_cycles * CLOCK_NS, "ns")
    await ClockCycles(tb.dut.clk, 4)
    status = await tb.read("STATUS")
    sticky = await tb.read("ERRORS")
    return status, sticky


@cocotb.test()
async def malformed_load_sets_error(dut):
    """Truncated, over-long and bad-section load streams set an error flag (never
    hang, never report loaded); a good load afterwards works."""
    job = read_job()
    tb = TopDriver(dut)
    await tb.reset()
    work = workloads(job)[0]
    good = list(work.load_words)
    limit = 20 * len(good) + 1000
    cases = [("truncated", good[:len(good) // 2], "bad_load_length"),
             ("too long", good + [0, 0, 0], "bad_load_length")]
    if job["core"] != "standin":
        bad_section = list(good)
        bad_section[2] = (0x7F << 24) | (bad_section[2] & 0xFFFFFF)
        cases.append(("bad section", bad_section, "bad_descriptor"))
        bad_magic = [good[0] ^ 1] + good[1:]
        cases.append(("bad magic", bad_magic, None))
    problems = []
    for what, words, flag in cases:
        status, sticky = await malformed(tb, words, flag, limit)
        if status & STATUS_LOADED:
            problems.append(f"{what}: STATUS {status:#x} says loaded")
        if flag is not None and not status & ERROR_BITS[flag]:
            problems.append(f"{what}: STATUS {status:#x} lacks {flag}")
        if not sticky & 0xFF00:
            problems.append(f"{what}: ERRORS {sticky:#x} has no flag")
    bad = await check_work(tb, job, work, tag="after-malformed", backpressure=False)
    if bad:
        problems.append(f"{bad} mismatches after the malformed loads")
    record(job, {"kind": "test", "tag": "malformed-load", "mismatches": problems})
    assert not problems, problems
