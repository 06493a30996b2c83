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
from cocotbext.axi import (AxiBus, AxiLiteBus, AxiLiteMaster, AxiRamRead, AxiRamWrite, AxiReadBus,
                           AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource)

from atsnn.rtl.config import HwConfig
from atsnn.rtl.top import (CTRL_CLEAR_COUNTERS, CTRL_SOFT_RESET, ERROR_BITS, ID_VALUE, REGS,
                           STATUS_BUSY, STATUS_LOADED, VERSION_VALUE, config_words)

CLOCK_NS = 10
#: Where the testbench's DRAM holds a streamed model's weight tiles (DRAM_BASE).
DRAM_BASE = 0x10000


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

    def __init__(self, config, model_path, inputs_path, stream=None):
        from atsnn.golden import load, run
        from atsnn.rtl import compiler
        self.compiler = compiler
        self.image = load(model_path, membrane_bits=config.membrane_bits,
                          acc_bits=config.acc_bits)
        self.name = self.image.name
        self.plan = compiler.plan(self.image, config, stream)
        self.load_words = [int(w) for w in compiler.compile_model(self.image, config, stream)]
        # a streamed model (or one with off-chip membranes): its DRAM image, and
        # its cycles bounded below by the port model at the fastest memory (one
        # cycle of latency)
        self.dram = (compiler.dram_image(self.image, config, stream)
                     if self.plan.stream or self.plan.swaps else None)
        inputs = np.load(inputs_path)
        self.images = [[int(w) for w in compiler.encode_input(self.plan, x)] for x in inputs]
        gold = run(self.image, inputs, lanes=config.lanes, grid=config.grid)
        names = [layer.name for layer in self.image.layers]
        self.expected = []
        for i in range(len(inputs)):
            per_layer = gold.spikes[i].sum(axis=0)
            self.expected.append({
                "class": int(gold.pred[i]), "exit_t": int(gold.exit_t[i]),
                "u": [int(v) for v in gold.u[i]],
                "spikes": {name: int(per_layer[j]) for j, name in enumerate(names)},
                "cycles": int(gold.cycles[i]),
                "sops": int(gold.array_ops[i]),
                "scatter_cycles": int(gold.scatter_cycles[i].sum()),
            })
        if self.dram is not None:
            from atsnn.golden.memory import BURST_BYTES, port_cycles
            least = port_cycles(self.image, gold, self.plan.tiles, 1, BURST_BYTES // config.axi_bytes,
                                swaps=self.plan.swaps, row_beats=config.row_beats)
            for exp, c in zip(self.expected, least):
                exp["cycles"] = int(c)
                exp["cycles_at_least"] = True
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
                for key in ("class", "exit_t", "u", "cycles", "sops") if decoded[key] != exp[key]
                and not (key == "cycles" and exp.get("cycles_at_least") and decoded[key] > exp[key])]
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
    return [ModelWork(job["config"], item["model"], item["inputs"], item.get("stream"))
            for item in job["jobs"]]


# --------------------------------------------------------------------- driver

class Dram(AxiRamRead):
    """The testbench's DRAM: an ``AxiRamRead`` whose reads at or above
    ``fault_from`` fail (cocotbext-axi answers a failed read SLVERR)."""

    fault_from = None

    async def _read(self, address, length):
        if self.fault_from is not None and address >= self.fault_from:
            raise IOError(f"no memory at {address:#x}")
        return await super()._read(address, length)

    @property
    def channels(self):
        return [self.ar_channel, self.r_channel]


class SwapDram:
    """The DRAM of a core with off-chip membranes: :class:`Dram`'s reads and an
    ``AxiRamWrite`` over the same memory."""

    def __init__(self, bus, clock, reset, size):
        self.read_if = Dram(bus.read, clock, reset, size=size)
        self.write_if = AxiRamWrite(bus.write, clock, reset, mem=self.read_if.mem)

    def write(self, address, data):
        self.read_if.write(address, data)

    @property
    def fault_from(self):
        return self.read_if.fault_from

    @fault_from.setter
    def fault_from(self, value):
        self.read_if.fault_from = value

    @property
    def channels(self):
        w = self.write_if
        return self.read_if.channels + [w.aw_channel, w.w_channel, w.b_channel]


class TopDriver:
    """Clock, reset, bus models and register access for ``atsnn_top``."""

    def __init__(self, dut, config=None):
        self.dut = dut
        self.ram = None
        if config is not None and config.membrane_swap:
            self.ram = SwapDram(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst,
                                size=1 << 27)
        elif config is not None and config.weight_port:
            self.ram = Dram(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst,
                              size=1 << 27)
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
        if self.ram is not None:
            for i, channel in enumerate(self.ram.channels):
                channel.set_pause_generator(pauses(random.Random(seed + 3 + i), 0.3))

    def no_backpressure(self):
        streams = [self.load, self.image, self.result]
        if self.ram is not None:
            streams += self.ram.channels
        for s in streams:
            s.clear_pause_generator()
            s.pause = False     # clearing the generator can leave a pause standing

    async def read(self, name):
        return await self.axil.read_dword(REGS[name])

    async def write(self, name, value):
        await self.axil.write_dword(REGS[name], value)

    async def counter64(self, name):
        lo = await self.read(f"{name}_LO")
        return lo | await self.read(f"{name}_HI") << 32

    async def load_model(self, work):
        """Load ``work``'s model: a streamed one's tiles into the DRAM and
        DRAM_BASE first (a pin reset clears the register)."""
        if getattr(work, "dram", None) is not None:
            self.ram.write(DRAM_BASE, work.dram.tobytes())
            await self.write("DRAM_BASE", DRAM_BASE)
        await self.send_load(work.load_words)

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
    await tb.load_model(work)
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
        last = work.expected[indices[-1]]
        exp_last = last["cycles"]
        if cycles_last != exp_last and not (last.get("cycles_at_least") and cycles_last > exp_last):
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
                  "streamed": getattr(work, "dram", None) is not None,
                  "mismatches": wrong, "image_mismatches": mismatches,
                  "sim_cycles": sim_cycles, "wall_s": wall})
    return mismatches + bool(wrong)


# ---------------------------------------------------------------------- tests

@cocotb.test()
async def registers(dut):
    """ID, version and config readback; unmapped addresses answer SLVERR."""
    job = read_job()
    tb = TopDriver(dut, job["config"])
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
    tb = TopDriver(dut, job["config"])
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


class Handshakes:
    """Words and packets (TLAST) accepted on each stream, counted in the background,
    so a test knows exactly where in a packet it resets."""

    STREAMS = {"load": "s_axis_load", "image": "s_axis_image", "result": "m_axis_result"}

    def __init__(self, dut):
        self.words = dict.fromkeys(self.STREAMS, 0)
        self.packets = dict.fromkeys(self.STREAMS, 0)
        self.task = cocotb.start_soon(self._run(dut))

    async def _run(self, dut):
        sig = {k: (getattr(dut, f"{p}_tvalid"), getattr(dut, f"{p}_tready"),
                   getattr(dut, f"{p}_tlast")) for k, p in self.STREAMS.items()}
        while True:
            await RisingEdge(dut.clk)
            for k, (valid, ready, last) in sig.items():
                if valid.value == 1 and ready.value == 1:
                    self.words[k] += 1
                    self.packets[k] += int(last.value == 1)

    def stop(self):
        self.task.cancel()


async def until(tb, cond, limit, what):
    """Wait (clock by clock) until ``cond()``; AssertionError after ``limit`` cycles."""
    for _ in range(limit):
        if cond():
            return
        await RisingEdge(tb.dut.clk)
    raise AssertionError(f"{what}: not within {limit} cycles")


def flag_names(word):
    return sorted(name for name, bit in ERROR_BITS.items() if word & bit)


#: Where in an inference ``reset_mid_inference`` resets: half-way through the load
#: stream, half-way through the image stream, during compute (result not yet
#: valid), with the first result word offered but not taken, and after part of
#: the result frame was taken.
STAGES = ("load", "image", "compute", "output", "output-mid")


async def reset_during(tb, job, work, how, stage):
    """Reset (``rst`` pin or CTRL.SOFT_RESET) at ``stage`` of image ``a``; then check
    that nothing of the aborted work survives: no result word ever comes out, the
    model is unloaded (an image now raises BAD_IMAGE and gives no result), the
    error flags are exactly the expected ones by name, and after a reload a
    different image ``b`` gives exactly its golden result, counters included.
    Returns the problems found (empty when all is well)."""
    standin = job["core"] == "standin"
    n = len(work.images)
    a = max(range(n), key=lambda i: (len(work.images[i]), work.expected[i]["cycles"]))
    b = next((i for i in range(n) if i != a and work.expected[i] != work.expected[a]),
             (a + 1) % n)
    limit = 4 * work.max_cycles(a) + 20 * len(work.load_words)
    problems = []
    tag = f"{how}-reset-{stage}"

    def check(ok, message):
        if not ok:
            problems.append(f"{tag}: {message}")

    tb.no_backpressure()
    await tb.load_model(work)
    await tb.write("ERRORS", 0xFFFFFFFF)
    check(await tb.read("STATUS") == STATUS_LOADED, "the model did not load before the test")
    hs = Handshakes(tb.dut)
    tb.result.pause = True           # no result leaves before the reset
    frame = AxiStreamFrame(work.images[a])
    if stage == "load":
        await tb.load.send(AxiStreamFrame(work.load_words))
        await until(tb, lambda: hs.words["load"] >= len(work.load_words) // 2, limit, tag)
        tb.load.pause = True
    elif stage == "image":
        await tb.image.send(frame)
        await until(tb, lambda: hs.words["image"] >= len(work.images[a]) // 2, limit, tag)
        tb.image.pause = True
    else:
        await tb.image.send(frame)
        await tb.image.wait()
        if stage == "compute":
            await ClockCycles(tb.dut.clk, max(1, work.expected[a]["cycles"] // 3))
        else:
            await until(tb, lambda: tb.dut.m_axis_result_tvalid.value == 1, limit, tag)
        if stage == "output-mid":
            tb.result.pause = False
            await until(tb, lambda: hs.words["result"] >= 1, limit, tag)
            tb.result.pause = True
    await ClockCycles(tb.dut.clk, 2)
    valid = int(tb.dut.m_axis_result_tvalid.value)
    busy = bool(await tb.read("STATUS") & STATUS_BUSY)
    words, packets = dict(hs.words), dict(hs.packets)
    if how == "pin":
        await tb.reset()             # the bus models drop their partial frames on rst
    else:
        await tb.write("CTRL", CTRL_SOFT_RESET)
        # the host's receive DMA restarts with the core: drop the partial frame
        tb.result._handle_reset(True)
        tb.result._handle_reset(False)
    out_at_reset = hs.words["result"]

    # where the reset landed
    if stage in ("load", "image"):
        check(0 < words[stage] < len(frame.tdata if stage == "image" else work.load_words)
              and packets[stage] == 0, f"reset after {words[stage]} {stage} words")
    elif stage == "compute" and not standin:
        check(busy and not valid and words["result"] == 0,
              f"not computing at the reset (busy {busy}, result valid {valid})")
    elif stage == "output":
        check(valid and words["result"] == 0, f"no result offered at the reset (valid {valid})")
    elif stage == "output-mid":
        check(words["result"] >= 1 and packets["result"] == 0,
              f"reset after {words['result']} result words, {packets['result']} frames")

    # nothing survives the reset: a soft reset leaves the host streaming the rest of
    # an interrupted packet, which the core drains and flags
    tb.no_backpressure()
    await ClockCycles(tb.dut.clk, max(200, 2 * work.expected[a]["cycles"]))
    expect = []
    if how == "soft" and stage == "load":
        expect = ["bad_load_length"] if standin else ["bad_descriptor"]
    elif how == "soft" and stage == "image":
        expect = ["bad_image"]
    status = await tb.read("STATUS")
    check(status & (STATUS_LOADED | STATUS_BUSY) == 0, f"STATUS {status:#x} after the reset")
    check(flag_names(status) == expect, f"live flags {flag_names(status)}, expected {expect}")
    sticky = await tb.read("ERRORS")
    check(flag_names(sticky) == expect, f"sticky flags {flag_names(sticky)}, expected {expect}")
    check(await tb.read("IMAGES_DONE") == 0, "IMAGES_DONE counts the aborted image")
    check(hs.words["result"] == out_at_reset and tb.result.empty(),
          f"{hs.words['result'] - out_at_reset} result words came out after the reset")

    # unloaded: an image is refused with BAD_IMAGE and gives no result
    await tb.write("ERRORS", 0xFFFFFFFF)
    await tb.image.send(AxiStreamFrame(work.images[b]))
    await tb.image.wait()
    await ClockCycles(tb.dut.clk, 200)
    status = await tb.read("STATUS")
    want = sorted(set(expect) | {"bad_image"})
    check(flag_names(status) == want and not status & STATUS_LOADED,
          f"an image without a model: STATUS {status:#x}, expected flags {want}")
    sticky = await tb.read("ERRORS")
    check(flag_names(sticky) == want, f"sticky flags {flag_names(sticky)}, expected {want}")
    check(hs.words["result"] == out_at_reset and tb.result.empty(),
          "an image without a model gave a result")

    # reload; a different image gives exactly its golden result, counted alone
    await tb.load_model(work)
    await ClockCycles(tb.dut.clk, 2)
    status = await tb.read("STATUS")
    check(status == STATUS_LOADED, f"reload: STATUS {status:#x}, expected LOADED only")
    await tb.write("ERRORS", 0xFFFFFFFF)    # W1C clears them all, now that none is live
    check(await tb.read("ERRORS") == 0, "ERRORS W1C left a flag")
    results = await tb.run_images(work, [b], work.max_cycles(b))
    mism, decoded = work.check(b, results[0])
    record(job, {"kind": "image", "tag": f"after-{tag}", "model": work.name, "index": b,
                 "mismatches": mism, "rtl": decoded, "golden": work.expected[b]})
    problems += [f"{tag}: image {b}: {m}" for m in mism]
    await ClockCycles(tb.dut.clk, 50)
    check(tb.result.empty(), "extra result frames after the recovery image")
    exp = work.expected[b]
    got = {"IMAGES_DONE": await tb.read("IMAGES_DONE"), "SOPS": await tb.counter64("SOPS"),
           "CYCLES_LAST": await tb.read("CYCLES_LAST")}
    want = {"IMAGES_DONE": 1, "SOPS": exp["sops"], "CYCLES_LAST": exp["cycles"]}
    check(got == want, f"counters {got}, expected {want}")
    hs.stop()
    record(job, {"kind": "test", "tag": tag, "busy_at_reset": busy, "valid_at_reset": valid,
                 "words_at_reset": words, "aborted": a, "recovery": b, "mismatches": problems})
    return problems


@cocotb.test()
async def reset_mid_inference(dut):
    """Reset pin and soft reset at every stage of an inference (load, image input,
    compute, result offered, result half taken); after each, nothing of the
    aborted work appears and the next load and a different image are exact."""
    job = read_job()
    tb = TopDriver(dut, job["config"])
    await tb.reset()
    work = workloads(job)[0]
    # the stand-in's two-word result cannot be half taken
    stages = [s for s in STAGES if job["core"] != "standin" or s != "output-mid"]
    problems = []
    for how in ("pin", "soft"):
        for stage in stages:
            problems += await reset_during(tb, job, work, how, stage)
    tb.no_backpressure()
    assert not problems, problems


async def malformed(tb, words, flag, timeout_cycles):
    """Send a malformed load; the stream must drain and ``flag`` must be set."""
    await tb.write("ERRORS", 0xFFFFFFFF)
    await with_timeout(tb.send_load(words), timeout_cycles * CLOCK_NS, "ns")
    await ClockCycles(tb.dut.clk, 4)
    status = await tb.read("STATUS")
    sticky = await tb.read("ERRORS")
    return status, sticky


async def malformed_image(tb, work, limit):
    """Images with a bad header magic or cut short: BAD_IMAGE by name, drained, no
    result; the model stays loaded and the next good image is exact."""
    problems = []
    await tb.load_model(work)
    good = list(work.images[0])
    for what, words in (("bad image magic", [good[0] ^ (1 << 24)] + good[1:]),
                        ("image cut short", good[:max(1, len(good) - 1)] if len(good) > 1
                         else [good[0] + 1])):
        await tb.write("ERRORS", 0xFFFFFFFF)
        await with_timeout(tb.image.send(AxiStreamFrame(words)), limit * CLOCK_NS, "ns")
        await tb.image.wait()
        await ClockCycles(tb.dut.clk, 100)
        status, sticky = await tb.read("STATUS"), await tb.read("ERRORS")
        if flag_names(status) != ["bad_image"] or not status & STATUS_LOADED:
            problems.append(f"{what}: STATUS {status:#x}, expected LOADED and BAD_IMAGE only")
        if flag_names(sticky) != ["bad_image"]:
            problems.append(f"{what}: sticky flags {flag_names(sticky)}, expected ['bad_image']")
        if not tb.result.empty():
            problems.append(f"{what}: gave a result")
            tb.result.clear()
    results = await tb.run_images(work, [0], work.max_cycles(0))
    mism, _ = work.check(0, results[0])
    problems += [f"image after the malformed images: {m}" for m in mism]
    return problems


async def faulty_dram(tb, work):
    """Reads answered SLVERR (weights at addresses the DRAM does not have): the
    image still ends with a result, BAD_MEMORY is set live and sticky; a load
    clears the live flag and the next image, from a good DRAM, is exact."""
    problems = []
    await tb.load_model(work)
    await tb.write("ERRORS", 0xFFFFFFFF)
    tb.ram.fault_from = DRAM_BASE
    results = await tb.run_images(work, [0], 20 * work.max_cycles(0))   # zero weights: no exit
    tb.ram.fault_from = None
    status, sticky = await tb.read("STATUS"), await tb.read("ERRORS")
    if len(results) != 1:
        problems.append(f"faulty DRAM: {len(results)} results for one image")
    if flag_names(status) != ["bad_memory"] or flag_names(sticky) != ["bad_memory"]:
        problems.append(f"faulty DRAM: live flags {flag_names(status)}, sticky "
                        f"{flag_names(sticky)}, expected ['bad_memory'] in both")
    await tb.load_model(work)
    await ClockCycles(tb.dut.clk, 4)
    if flag_names(await tb.read("STATUS")):
        problems.append("faulty DRAM: the next load left a live flag")
    results = await tb.run_images(work, [0], work.max_cycles(0))
    mism, _ = work.check(0, results[0])
    problems += [f"image after the faulty DRAM: {m}" for m in mism]
    return problems


@cocotb.test()
async def malformed_load_sets_error(dut):
    """Truncated, over-long and bad-section load streams set an error flag (never
    hang, never report loaded); a good load afterwards works."""
    job = read_job()
    tb = TopDriver(dut, job["config"])
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
        cases.append(("bad magic", bad_magic, "bad_descriptor"))
    problems = []
    live = []       # ERRORS W1C cannot clear a flag that is still live
    for what, words, flag in cases:
        status, sticky = await malformed(tb, words, flag, limit)
        if status & STATUS_LOADED:
            problems.append(f"{what}: STATUS {status:#x} says loaded")
        if flag_names(status) != [flag]:
            problems.append(f"{what}: live flags {flag_names(status)}, expected [{flag!r}]")
        want = sorted({flag, *live})
        if flag_names(sticky) != want:
            problems.append(f"{what}: sticky flags {flag_names(sticky)}, expected {want}")
        live = flag_names(status)
    if job["core"] != "standin":
        problems += await malformed_image(tb, work, limit)
    if getattr(work, "dram", None) is not None:
        problems += await faulty_dram(tb, work)
    bad = await check_work(tb, job, work, tag="after-malformed", backpressure=False)
    if bad:
        problems.append(f"{bad} mismatches after the malformed loads")
    record(job, {"kind": "test", "tag": "malformed-load", "mismatches": problems})
    assert not problems, problems
