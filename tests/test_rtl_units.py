"""Unit tests of the core's components, each alone in Amaranth's simulator:
the model loader, image receiver, PE bank, result sender, sequencer, event
fetch, init walker, fire unit and spike counters. The streams come from the compiler (or
are written by hand to docs/architecture.md's word formats), the memories and
the other units are stood in for by the testbench."""

import dataclasses

import numpy as np
import pytest
from amaranth.sim import Simulator

from atsnn.golden.cycles import C_PHASE
from atsnn.rtl.bram import column_width
from atsnn.rtl.compiler import compile_model, encode_input, decode_result, plan
from atsnn.rtl.config import (SECTION, LOAD_MAGIC, IMAGE_MAGIC, STEP_MAGIC, RESULT_MAGIC,
                              WEIGHT_BITS, section_bits)
from atsnn.rtl.counters import SpikeCounters
from atsnn.rtl.fetch import EventFetch
from atsnn.rtl.init import InitWalker
from atsnn.rtl.loader import ModelLoader
from atsnn.rtl.pe_bank import PeBank
from atsnn.rtl.pe_array import PeArray
from atsnn.rtl.receiver import ImageReceiver
from atsnn.rtl.sender import ResultSender
from atsnn.rtl.sequencer import Sequencer, Phase, Target, PHASE_FILL

from rtl_harness import (SMALL, stream_put, stream_get_packet, linear_events_net, conv_net,
                         event_inputs)

CLK = 1e-8
P = SMALL.lanes
NAMES = list(SECTION)           # strobe bit order of LoadWriteLayout


def simulate(dut, bench, *background, limit=20000):
    """Run ``bench`` with ``background`` testbenches beside it; fail (instead of
    hanging) when the bench has not finished within ``limit`` cycles."""
    finished = []

    async def main(ctx):
        await bench(ctx)
        finished.append(True)

    async def watchdog(ctx):
        for _ in range(limit):
            if finished:
                return
            await ctx.tick()
        raise AssertionError(f"testbench did not finish in {limit} cycles")

    sim = Simulator(dut)
    sim.add_clock(CLK)
    sim.add_testbench(main)
    sim.add_testbench(watchdog)
    for b in background:
        sim.add_testbench(b, background=True)
    sim.run()
    assert finished


def s32(v):
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >> 31 else v


# ====================================================================== ModelLoader

def _small_load():
    image = linear_events_net(np.random.default_rng(5))
    return image, [int(w) for w in compile_model(image, SMALL)]


def _sections(words):
    """Parse a load stream per docs/architecture.md: {section: [entry ints]}."""
    assert words[0] == LOAD_MAGIC and words[1] == len(words) - 2
    sizes = section_bits(SMALL)
    out = {}
    i = 2
    while i < len(words):
        code, count = words[i] >> 24, words[i] & 0xFFFFFF
        name = NAMES[list(SECTION.values()).index(code)]
        n = -(-sizes[name] // 32)
        out[name] = [sum(words[i + 1 + e * n + c] << (32 * c) for c in range(n))
                     for e in range(count)]
        i += 1 + count * n
    assert i == len(words)
    return out


def _write_monitor(dut, log):
    async def monitor(ctx):
        async for _, _, strobe, index, entry in ctx.tick().sample(
                dut.write.strobe.as_value(), dut.write.index, dut.write.entry):
            if strobe:
                log.append((strobe, index, entry))
    return monitor


async def _load(ctx, dut, words, settle=4):
    await stream_put(ctx, dut.load, words)
    for _ in range(settle):
        await ctx.tick()
    return ctx.get(dut.loaded), ctx.get(dut.errors)


def test_loader_writes_every_section_entry_and_ends_loaded():
    image, words = _small_load()
    want = _sections(words)
    assert len(want["descriptor"]) == 2 and len(want["weight"]) > 4 and len(want["tau"]) == 2
    sizes = section_bits(SMALL)
    dut = ModelLoader(SMALL)
    log = []
    got = {}

    async def bench(ctx):
        ctx.set(dut.enable, 1)
        await ctx.tick()
        assert ctx.get(dut.idle) and not ctx.get(dut.loaded)
        got["loaded"], got["errors"] = await _load(ctx, dut, words)
        got["glob"] = ctx.get(dut.glob)
        got["idle"] = ctx.get(dut.idle)

    simulate(dut, bench, _write_monitor(dut, log))
    assert got["loaded"] == 1 and got["errors"].as_value().value == 0 and got["idle"]
    seen = {name: [] for name in NAMES}
    for strobe, index, entry in log:
        assert bin(strobe).count("1") == 1, f"strobe {strobe:#b} is not one-hot"
        name = NAMES[strobe.bit_length() - 1]
        n = -(-sizes[name] // 32)
        seen[name].append((index, entry & ((1 << (32 * n)) - 1)))
    for name in NAMES:
        assert seen[name] == list(enumerate(want.get(name, []))), name
    g = got["glob"]
    classes = plan(image, SMALL).layers[-1].shape[0]
    assert (g.n_layers, g.t_max, g.static, g.classes) == (2, image.t_max, 0, classes)
    assert g.as_value().value == want["global"][0] & ((1 << sizes["global"]) - 1)


def _corrupt(kind, words):
    words = list(words)
    if kind == "tlast-early":
        return words[:-3], "bad_load_length"
    if kind == "tlast-late":               # N one short: TLAST comes a word late
        words[1] -= 1
        return words, "bad_load_length"
    if kind == "magic-only":
        return words[:1], "bad_load_length"
    if kind == "section-short":            # N and TLAST agree, the last entry is missing
        n = -(-section_bits(SMALL)["tau"] // 32)
        words = words[:-n]
        words[1] -= n
        return words, "bad_load_length"
    if kind == "zero-length":
        return [LOAD_MAGIC, 0, 0], "bad_load_length"
    if kind == "unknown-section":
        assert words[2] >> 24 == SECTION["global"]
        words[2] = 7 << 24 | (words[2] & 0xFFFFFF)
        return words, "bad_descriptor"
    if kind == "section-too-long":         # more descriptors than max_layers
        i = 2 + 1 + -(-section_bits(SMALL)["global"] // 32)
        assert words[i] >> 24 == SECTION["descriptor"]
        words[i] = SECTION["descriptor"] << 24 | (SMALL.max_layers + 1)
        return words, "bad_descriptor"
    if kind == "bad-magic":
        words[0] ^= 1
        return words, "bad_descriptor"
    if kind == "load-inside-bad":           # a whole load, drained as part of a bad packet
        return [0xDEADBEEF, 0] + words, "bad_descriptor"
    if kind == "t_max-zero":               # GlobalLayout: n_layers[0:4], t_max[4:12]
        words[3] &= ~0xFF0
        return words, "bad_descriptor"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["tlast-early", "tlast-late", "section-short", "magic-only",
                                  "zero-length",
                                  "unknown-section", "section-too-long", "bad-magic",
                                  "load-inside-bad", "t_max-zero"])
def test_loader_flags_a_bad_stream_drains_it_and_recovers(kind):
    _, good = _small_load()
    bad, flag = _corrupt(kind, good)
    dut = ModelLoader(SMALL)
    log = []
    got = {}

    async def bench(ctx):
        ctx.set(dut.enable, 1)
        got["first"] = await _load(ctx, dut, good)
        n = len(log)
        # the whole bad packet is taken (stream_put returns), to its TLAST
        got["bad"] = await _load(ctx, dut, bad)
        got["bad_writes"] = len(log) - n
        got["idle_after_bad"] = ctx.get(dut.idle)
        for _ in range(20):
            await ctx.tick()
        got["later"] = ctx.get(dut.errors)
        got["again"] = await _load(ctx, dut, good)

    simulate(dut, bench, _write_monitor(dut, log))
    loaded, errors = got["first"]
    assert loaded and errors.as_value().value == 0
    loaded, errors = got["bad"]
    assert not loaded, "a bad load left loaded set"
    flags = {name: getattr(errors, name) for name in ("bad_load_length", "bad_descriptor",
                                                      "bad_image")}
    assert flags[flag] == 1, flags
    if flag == "bad_load_length":
        assert flags["bad_descriptor"] == 0, flags
    if flag == "bad_descriptor" and kind != "t_max-zero":
        assert flags["bad_load_length"] == 0, flags
    assert flags["bad_image"] == 0
    assert got["idle_after_bad"], "the loader did not return to waiting for a load"
    assert got["later"] == errors, "error flags are not sticky"
    if kind in ("magic-only", "zero-length", "unknown-section", "bad-magic", "load-inside-bad"):
        assert got["bad_writes"] == 0, "a rejected packet wrote entries"
    loaded, errors = got["again"]
    assert loaded and errors.as_value().value == 0, "the next good load did not clear the flags"


def test_loader_errors_sticky_until_next_load_and_enable_gates_ready():
    _, good = _small_load()
    dut = ModelLoader(SMALL)
    got = {}

    async def bench(ctx):
        # not enabled: the loader does not take words
        ctx.set(dut.load.valid, 1)
        ctx.set(dut.load.payload.data, LOAD_MAGIC)
        await ctx.tick()
        got["ready_disabled"] = ctx.get(dut.load.ready)
        got["idle_offered"] = ctx.get(dut.idle)
        ctx.set(dut.load.valid, 0)
        ctx.set(dut.enable, 1)
        await _load(ctx, dut, good[:5])                 # TLAST early
        got["after_bad"] = ctx.get(dut.errors)
        ctx.set(dut.image_error, 1)
        await ctx.tick()
        ctx.set(dut.image_error, 0)
        for _ in range(10):
            await ctx.tick()
        got["after_image_error"] = ctx.get(dut.errors)
        got["end"] = await _load(ctx, dut, good)

    simulate(dut, bench)
    assert got["ready_disabled"] == 0 and got["idle_offered"] == 0
    e = got["after_bad"]
    assert (e.bad_load_length, e.bad_descriptor, e.bad_image) == (1, 0, 0)
    e = got["after_image_error"]
    assert (e.bad_load_length, e.bad_descriptor, e.bad_image) == (1, 0, 1)
    loaded, e = got["end"]
    assert loaded and e.as_value().value == 0


# ====================================================================== ImageReceiver

def _receiver_bench(dut, glob, packets, loaded=1):
    """Send ``packets`` back to back; log every write and the done/error pulses
    (with the packet number each falls in)."""
    log = {"writes": [], "done": [], "error": [], "steps": [], "entries": []}
    current = [0]

    async def monitor(ctx):
        async for _, _, en, addr, data, done, error in ctx.tick().sample(
                dut.write.en, dut.write.addr, dut.write.data, dut.done, dut.error):
            if en:
                log["writes"].append((current[0], addr, data))
            if done:
                log["done"].append(current[0])
            if error:
                log["error"].append(current[0])

    async def bench(ctx):
        ctx.set(dut.glob, glob)
        ctx.set(dut.loaded, loaded)
        ctx.set(dut.enable, 1)
        await ctx.tick()
        for i, words in enumerate(packets):
            current[0] = i
            await stream_put(ctx, dut.image, words)
            await ctx.tick()
            assert ctx.get(dut.idle), f"packet {i}: not back to idle"
            log["entries"].append(ctx.get(dut.entries))
            log["steps"].append(([ctx.get(dut.step_first[t]) for t in range(SMALL.t_max + 1)],
                                 [ctx.get(dut.step_len[t]) for t in range(SMALL.t_max + 1)]))

    return bench, monitor, log


def _entry(d):
    return (d.mask, d.group, d.y, d.x, d.value)


EV_GLOB = {"n_layers": 2, "t_max": 3, "static": 0, "classes": 3, "in_groups": 2,
           "in_height": 2, "in_width": 3}
#: three timesteps: two entries, none, one (docs/architecture.md, image stream)
EV_IMAGE = [IMAGE_MAGIC << 24 | 3 << 16 | 3,
            STEP_MAGIC << 24 | 2, 2 | 1 << 8 | 0 << 16, 0b1010, 0 | 0 << 8 | 1 << 16, 0b0001,
            STEP_MAGIC << 24 | 0,
            STEP_MAGIC << 24 | 1, 1 | 1 << 8 | 1 << 16, 0b1111]


def test_receiver_event_image_entries_and_step_table():
    dut = ImageReceiver(SMALL)
    bench, monitor, log = _receiver_bench(dut, EV_GLOB, [EV_IMAGE])
    simulate(dut, bench, monitor)
    assert [(a, _entry(d)) for _, a, d in log["writes"]] == [
        (0, (0b1010, 0, 1, 2, 1)), (1, (0b0001, 1, 0, 0, 1)), (2, (0b1111, 1, 1, 1, 1))]
    assert log["done"] == [0] and log["error"] == []
    assert log["entries"] == [3]
    first, length = log["steps"][0]
    assert first[1:4] == [0, 2, 2] and length[1:4] == [2, 0, 1]


STATIC_GLOB = {"n_layers": 2, "t_max": 2, "static": 1, "classes": 3, "in_groups": 1,
               "in_height": 2, "in_width": 2}


def _static_image(values):
    """Entries (x, y, group, lane, value) as docs/architecture.md writes them."""
    words = [IMAGE_MAGIC << 24 | 0 << 16 | len(values)]
    for x, y, g, lane, v in values:
        words += [x | y << 8 | g << 16 | lane << 24, v & 0xFFFFFFFF]
    return words


def test_receiver_static_image_lane_masks_and_signed_values():
    lim = 1 << 17                           # VALUE_BITS = 18, signed
    image = _static_image([(1, 0, 0, 3, -7), (0, 1, 0, 0, 100), (1, 1, 0, 1, lim - 1),
                           (0, 0, 0, 2, -lim)])
    dut = ImageReceiver(SMALL)
    bench, monitor, log = _receiver_bench(dut, STATIC_GLOB, [image])
    simulate(dut, bench, monitor)
    assert [(a, _entry(d)) for _, a, d in log["writes"]] == [
        (0, (1 << 3, 0, 0, 1, -7)), (1, (1, 0, 1, 0, 100)), (2, (1 << 1, 0, 1, 1, lim - 1)),
        (3, (1 << 2, 0, 0, 0, -lim))]
    assert log["done"] == [0] and log["error"] == [] and log["entries"] == [4]


@pytest.mark.parametrize("entry", [(0, 0, 0, 0, 1 << 17), (0, 0, 0, 0, -(1 << 17) - 1),
                                   (0, 0, 0, 4, 1), (0, 0, 1, 0, 1), (0, 2, 0, 0, 1)],
                         ids=["value-high", "value-low", "lane", "group", "y"])
def test_receiver_static_bad_entry_pulses_error(entry):
    good = _static_image([(1, 1, 0, 3, 5)])
    dut = ImageReceiver(SMALL)
    bench, monitor, log = _receiver_bench(
        dut, STATIC_GLOB, [_static_image([(1, 0, 0, 0, 2), entry, (1, 1, 0, 3, 5)]), good])
    simulate(dut, bench, monitor)
    assert log["error"] == [0] and log["done"] == [1]


def test_receiver_takes_no_header_while_disabled():
    dut = ImageReceiver(SMALL)
    got = []

    async def bench(ctx):
        ctx.set(dut.glob, STATIC_GLOB)
        ctx.set(dut.loaded, 1)
        ctx.set(dut.image.valid, 1)
        ctx.set(dut.image.payload.data, _static_image([(0, 0, 0, 0, 1)])[0])
        for _ in range(3):
            await ctx.tick()
            got.append((ctx.get(dut.image.ready), ctx.get(dut.idle)))
        ctx.set(dut.image.valid, 0)
        ctx.set(dut.enable, 1)
        await ctx.tick()
        got.append((ctx.get(dut.image.ready), ctx.get(dut.idle)))

    simulate(dut, bench)
    assert got == [(0, 1)] * 3 + [(1, 1)]


def test_receiver_compiler_event_image():
    """An image from encode_input, its entries computed here from the frames."""
    rng = np.random.default_rng(3)
    image = conv_net(rng)
    p = plan(image, SMALL)
    x = event_inputs(rng, image, 1, density=0.3)[0]
    C, H, W = p.in_shape
    G = -(-C // P)
    want, lens = [], []
    for t in range(p.t_max):
        n = 0
        for g in range(G):
            for yy in range(H):
                for xx in range(W):
                    mask = sum(int(x[t, c, yy, xx] != 0) << (c - g * P)
                               for c in range(g * P, min(C, g * P + P)))
                    if mask:
                        want.append((mask, g, yy, xx, 1))
                        n += 1
        lens.append(n)
    assert sum(lens) > 3
    glob = {"n_layers": len(p.layers), "t_max": p.t_max, "static": 0, "classes": 2,
            "in_groups": G, "in_height": H, "in_width": W}
    dut = ImageReceiver(SMALL)
    bench, monitor, log = _receiver_bench(dut, glob, [encode_input(p, x)])
    simulate(dut, bench, monitor)
    assert [(a, _entry(d)) for _, a, d in log["writes"]] == list(enumerate(want))
    first, length = log["steps"][0]
    assert length[1:p.t_max + 1] == lens
    assert first[1:p.t_max + 1] == list(np.cumsum([0] + lens[:-1]))
    assert log["done"] == [0] and log["error"] == [] and log["entries"] == [len(want)]


def _bad_image(kind):
    words = list(EV_IMAGE)
    if kind == "magic":
        words[0] = 0xA4 << 24 | (words[0] & 0xFFFFFF)
    elif kind == "steps":                   # T != glob.t_max
        words[0] = IMAGE_MAGIC << 24 | 2 << 16 | 3
    elif kind == "step-magic":
        words[6] = 0xD4 << 24
    elif kind == "x-range":                 # x = 3 >= in_width
        words[2] = 3 | 1 << 8
    elif kind == "mask-bits":               # a mask bit beyond the P lanes
        words[3] = 1 << P
    elif kind == "early-tlast":
        words = words[:5]
    elif kind == "late-tlast":              # one step word more than announced
        words = words + [STEP_MAGIC << 24]
    elif kind == "count":                   # the steps carry fewer entries than n
        words[0] = IMAGE_MAGIC << 24 | 3 << 16 | 4
    elif kind == "count-last-empty":        # the same, the last timestep empty
        words = [IMAGE_MAGIC << 24 | 3 << 16 | 4, *words[1:6], STEP_MAGIC << 24 | 1,
                 *words[8:], STEP_MAGIC << 24]
    elif kind == "header-only":
        words = words[:1]
    return words


@pytest.mark.parametrize("kind", [
    "magic", "steps", "step-magic", "x-range", "mask-bits", "early-tlast", "late-tlast",
    "count",
    "count-last-empty", "header-only", "not-loaded"])
def test_receiver_bad_packet_pulses_error_once_and_drains(kind):
    bad = EV_IMAGE if kind == "not-loaded" else _bad_image(kind)
    dut = ImageReceiver(SMALL)
    packets = [bad, EV_IMAGE]
    if kind == "not-loaded":
        packets = [bad]
    bench, monitor, log = _receiver_bench(dut, EV_GLOB, packets,
                                          loaded=int(kind != "not-loaded"))
    simulate(dut, bench, monitor)
    assert log["error"] == [0], f"error pulses: {log['error']}"
    assert 0 not in log["done"], "a bad packet ended with done"
    if kind in ("magic", "steps", "not-loaded", "header-only"):
        assert not any(p == 0 for p, _, _ in log["writes"]), "a bad header wrote entries"
    if kind != "not-loaded":
        # the rest of the bad packet was drained: the next one is taken whole
        assert log["done"].count(1) == 1
        assert [(a, _entry(d)) for pk, a, d in log["writes"] if pk == 1][-1] == \
            (2, (0b1111, 1, 1, 1, 1))


# ====================================================================== PeBank

WSEL_PE = {Target.MEM: "mem_pe", Target.ACC: "acc_pe"}

#: The memories as the core builds them (rtl/core.py's column plan): split into
#: block-RAM columns (SMALL's plan), or whole; the weight memory registers its
#: address either way (a two-cycle read).
COLUMNS = {
    "split": {name: column_width(getattr(SMALL, depth)) for name, depth in
              (("wgt", "weight_depth"), ("mem", "membrane_depth"))},
    "whole": {"wgt": None, "mem": None},
}


def _pack(values, bits):
    return sum((int(v) & ((1 << bits) - 1)) << (i * bits) for i, v in enumerate(values))


class _SelfBank(PeBank):
    """A PE bank that takes its own weight lanes (the array's rotation at grid 1)."""

    def elaborate(self, platform):
        m = super().elaborate(platform)
        m.d.comb += self.weights.eq(self.wgt_rdata)
        return m


def _op(w, m, value, valid=True):
    return {"w": w, "value": value, "banks": [{"valid": int(valid), "m": m, "wsel": 0}]}


async def _load_entry(ctx, dut, section, index, entry):
    ctx.set(dut.load.strobe[section], 1)
    ctx.set(dut.load.index, index)
    ctx.set(dut.load.entry, entry)
    await ctx.tick()
    ctx.set(dut.load.strobe[section], 0)
    ctx.set(dut.load.entry, 0)


async def _apply_ops(ctx, dut, weights, target, ops):
    """Load the weight words, select ``target`` for the PE writes, then drive one
    op per cycle (None: no op)."""
    for a, wv in weights.items():
        await _load_entry(ctx, dut, "weight", a, _pack(wv, WEIGHT_BITS))
    ctx.set(dut.target, target)
    ctx.set(dut.wsel[WSEL_PE[target]], 1)
    for _ in range(3):
        await ctx.tick()
    for op in ops:
        ctx.set(dut.op_valid, op is not None)
        if op is not None:
            ctx.set(dut.op, op)
        await ctx.tick()
    ctx.set(dut.op_valid, 0)


async def _read_word(ctx, dut, target, addr):
    """A word back through the bank's read outputs (the fire unit's ports or the
    exit unit's accumulator address)."""
    if target == Target.ACC:
        ctx.set(dut.exit_phase, 1)
        ctx.set(dut.exit_addr, addr)
        await ctx.tick()
        value = ctx.get(dut.acc_rdata)
        ctx.set(dut.exit_phase, 0)
    else:
        ctx.set(dut.fire_mem_addr, addr)
        for _ in range(3):                  # address register, block RAM, output register
            await ctx.tick()
        value = ctx.get(dut.mem_rdata)
    return list(value)


@pytest.mark.parametrize("columns", sorted(COLUMNS))
@pytest.mark.parametrize("target", [Target.MEM, Target.ACC])
def test_pe_bank_accumulates_with_forwarding(target, columns):
    """Ops on three words: four back to back on one word (every forwarding
    stage), then spaced 1 to 6 cycles, then a random stream; every word read
    back must equal the Python sum of weight * value."""
    rng = np.random.default_rng(int(target.value) + 1)
    weights = {a: rng.integers(-128, 128, size=P) for a in (0, 5, 9, 700)}
    weights[5] = np.array([1, -2, 3, -4])
    ops = [(5, 2, 1), (5, 2, 2), (5, 2, 3), (5, 2, 4)]        # (w, m, value), back to back
    for gap in range(1, 7):
        ops += [None] * (gap - 1) + [(0, 1, gap)]
        ops += [(9, 1, -gap)]
    for _ in range(60):
        if rng.random() < 0.3:
            ops.append(None)
        else:
            ops.append((int(rng.choice(list(weights))), int(rng.integers(0, 3)),
                        int(rng.integers(-300, 300))))
    want = {m: np.zeros(P, np.int64) for m in range(3)}
    for op in ops:
        if op is not None:
            w, m, v = op
            want[m] += weights[w] * v
    dut = _SelfBank(SMALL, 0, P, COLUMNS[columns])
    got = {}

    async def bench(ctx):
        await _apply_ops(ctx, dut, weights, target, [op and _op(*op) for op in ops])
        got["busy"] = ctx.get(dut.busy)
        for _ in range(8):
            await ctx.tick()
        got["idle"] = not ctx.get(dut.busy)
        ctx.set(dut.wsel[WSEL_PE[target]], 0)
        ctx.set(dut.fire_go, 1)             # the fire unit owns the read ports
        await ctx.tick()
        ctx.set(dut.fire_go, 0)
        for m in range(3):
            got[m] = await _read_word(ctx, dut, target, m)

    simulate(dut, bench)
    assert got["busy"] and got["idle"]
    for m in range(3):
        assert got[m] == list(want[m]), f"word {m}"


@pytest.mark.parametrize("index,lanes,columns", [
    (0, 4, "split"), (0, 4, "whole"), (1, 2, "whole"),
    (0, 4, None),
])
def test_pe_bank_single_ops_use_their_lanes_weights(index, lanes, columns):
    """Two ops back to back on different words, then an op without op_valid:
    each word gets its own weight * value, on this bank's lanes of the entry."""
    w3, w4 = [7, -1, 0, 127], [-128, 2, 2, 2]
    lo = index * lanes
    dut = _SelfBank(SMALL, index, lanes, COLUMNS.get(columns))
    got = {}

    async def bench(ctx):
        await _load_entry(ctx, dut, "weight", 3, _pack(w3, WEIGHT_BITS))
        await _load_entry(ctx, dut, "weight", 4, _pack(w4, WEIGHT_BITS))
        ctx.set(dut.target, Target.MEM)
        ctx.set(dut.wsel.mem_pe, 1)
        for _ in range(3):
            await ctx.tick()
        ctx.set(dut.op_valid, 1)
        ctx.set(dut.op, _op(3, 10, -5))
        await ctx.tick()
        ctx.set(dut.op, _op(4, 11, 1000))
        await ctx.tick()
        ctx.set(dut.op, _op(3, 13, 50, valid=False))         # not this bank's: no effect
        await ctx.tick()
        ctx.set(dut.op_valid, 0)
        ctx.set(dut.op, _op(3, 12, 99))                      # not valid: no effect
        for _ in range(10):
            await ctx.tick()
        ctx.set(dut.wsel.mem_pe, 0)
        ctx.set(dut.fire_go, 1)
        await ctx.tick()
        ctx.set(dut.fire_go, 0)
        for m in (10, 11, 12, 13):
            got[m] = await _read_word(ctx, dut, Target.MEM, m)

    simulate(dut, bench)
    assert got[10] == [-5 * w for w in w3[lo:lo + lanes]]
    assert got[11] == [1000 * w for w in w4[lo:lo + lanes]]
    assert got[12] == [0] * lanes
    assert got[13] == [0] * lanes


def test_pe_array_params_and_init_precharge():
    """Param entries through ``load``, read at ``pbase`` and stepped; the init
    walker's words precharge the membrane with the bias (the static first
    layer's too: its input is scattered on top every timestep)."""
    B, A = SMALL.membrane_bits, SMALL.acc_bits
    params = {6: ([5, -6, 7, -8], [10, -20, 30, -40]), 7: ([1, 2, 3, 4], [-1, 100, -1000, 9])}
    dut = PeArray(SMALL)
    got = {}

    async def init_word(ctx, mem_addr, addr):
        ctx.set(dut.init_valid, 1)
        ctx.set(dut.init_banks, 1)
        ctx.set(dut.init_mem_addr, mem_addr)
        ctx.set(dut.init_addr, addr)
        await ctx.tick()
        ctx.set(dut.init_valid, 0)

    async def read(ctx, addr):
        ctx.set(dut.fire_mem_addr, addr)
        for _ in range(3):
            await ctx.tick()
        return list(ctx.get(dut.mem_rdata[0]))

    async def bench(ctx):
        for index, (theta, bias) in params.items():
            await _load_entry(ctx, dut, "param", index,
                              _pack(theta, B) | _pack(bias, A) << (P * B))
        await ctx.tick()
        ctx.set(dut.pbase, 6)
        ctx.set(dut.par_start, 1)
        await ctx.tick()
        ctx.set(dut.par_start, 0)
        await ctx.tick()
        par = ctx.get(dut.par)
        got["p6"] = (list(par.theta), list(par.bias))
        # a spiking layer's init: membrane = bias of group 6, then of group 7
        ctx.set(dut.wsel.mem_init, 1)
        await ctx.tick()
        await init_word(ctx, 20, 0)
        ctx.set(dut.par_step, 1)
        await ctx.tick()
        ctx.set(dut.par_step, 0)
        await ctx.tick()
        par = ctx.get(dut.par)
        got["p7"] = (list(par.theta), list(par.bias))
        await init_word(ctx, 21, 1)
        ctx.set(dut.wsel, {})
        for _ in range(3):
            await ctx.tick()
        ctx.set(dut.fire_go, 1)
        await ctx.tick()
        ctx.set(dut.fire_go, 0)
        for a in (20, 21, 22):
            got[a] = await read(ctx, a)

    simulate(dut, bench)
    assert got["p6"] == params[6] and got["p7"] == params[7]
    assert got[20] == params[6][1]
    assert got[21] == params[7][1]
    assert got[22] == [0, 0, 0, 0]          # not initialized: the memory's reset value


@pytest.mark.parametrize("target", [Target.MEM, Target.ACC])
def test_pe_array_banks_take_the_weight_bank_they_select(target):
    """Grid 2: four position banks, each op giving every bank its own word and
    weight bank (back to back, on repeated words: forwarding per bank); every
    bank's words read back equal the Python sums, and an output group g is read
    from bank g mod 4, word g div 4."""
    cfg = dataclasses.replace(SMALL, grid=2)
    K2 = 4
    rng = np.random.default_rng(5 + int(target.value))
    weights = {a: rng.integers(-128, 128, size=K2 * P) for a in (1, 2, 40)}
    ops = []
    for _ in range(40):
        if rng.random() < 0.2:
            ops.append(None)
            continue
        banks = [{"valid": int(rng.random() < 0.8), "m": int(rng.integers(0, 2)),
                  "wsel": int(rng.integers(0, K2))} for _ in range(K2)]
        ops.append({"w": int(rng.choice(list(weights))), "value": int(rng.integers(-50, 50)),
                    "banks": banks})
    want = np.zeros((K2, 2, P), np.int64)
    for op in ops:
        if op is not None:
            for n, bank in enumerate(op["banks"]):
                if bank["valid"]:
                    sel = bank["wsel"]
                    want[n, bank["m"]] += weights[op["w"]][sel * P:(sel + 1) * P] * op["value"]
    dut = PeArray(cfg)
    got = {}

    async def bench(ctx):
        await _apply_ops(ctx, dut, weights, target, ops)
        for _ in range(8):
            await ctx.tick()
        ctx.set(dut.wsel[WSEL_PE[target]], 0)
        ctx.set(dut.fire_go, 1)
        await ctx.tick()
        ctx.set(dut.fire_go, 0)
        for word in range(2):
            if target == Target.MEM:
                ctx.set(dut.fire_mem_addr, word)
                for _ in range(3):
                    await ctx.tick()
                for n in range(K2):
                    got[n, word] = list(ctx.get(dut.mem_rdata[n]))
            else:
                ctx.set(dut.exit_phase, 1)
                for n in range(K2):
                    ctx.set(dut.exit_group, word * K2 + n)
                    await ctx.tick()
                    got[n, word] = list(ctx.get(dut.acc_rdata))

    simulate(dut, bench)
    for n in range(K2):
        for word in range(2):
            assert got[n, word] == list(want[n, word]), f"bank {n} word {word}"


# ====================================================================== ResultSender

def _sender_run(dut, packets, stall=0):
    """Send each packet's inputs with a start pulse, collect its words; the
    accumulator memory is stood in for (read data a cycle after acc_addr)."""
    results = []
    done = []
    acc = {}

    async def memory(ctx):
        async for _, _, addr, d in ctx.tick().sample(dut.acc_addr, dut.done):
            ctx.set(dut.acc_rdata, acc.get(addr, [0] * P))
            if d:
                done.append(len(results))

    async def bench(ctx):
        for inputs, u in packets:
            acc.clear()
            padded = list(u) + [0] * (-len(u) % P)
            for a in range(len(padded) // P):
                acc[a] = padded[a * P:(a + 1) * P]
            for name, value in inputs.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            held = []
            for _ in range(stall):
                await ctx.tick()
                held.append((ctx.get(dut.result.valid), ctx.get(dut.result.payload.data)))
            words = await stream_get_packet(ctx, dut.result, limit=100)
            for _ in range(3):
                await ctx.tick()
            results.append((held, words))

    simulate(dut, bench, memory)
    return results, done


def test_sender_word_order_with_backpressure():
    NL = SMALL.max_layers
    u = [5, -3, 2 ** 31 - 1, -(2 ** 31), 0, 17]
    spikes = [11, 22, 33, 44, 55][:NL]
    pooled = [1, 2, 3, 4, 5][:NL]
    inputs = {"winner": 4, "steps": 3, "cycles": 123456, "sops": 0xDEADBEEF, "classes": 6,
              "n_layers": 4, "spikes": spikes, "pooled": pooled}
    one = dict(inputs, n_layers=1, classes=2, winner=1, steps=1, cycles=99, sops=7)
    dut = ResultSender(SMALL)
    results, _ = _sender_run(dut, [(inputs, u), (one, [-9, 8])], stall=5)
    (held, words), (held1, words1) = results
    head = RESULT_MAGIC << 24 | 3 << 16 | 4
    assert held == [(1, head)] * 5, "the head word did not hold while the sink stalled"
    assert words == [head, *[v & 0xFFFFFFFF for v in u],
                     11, 1, 22, 2, 33, 3, 123456, 0xDEADBEEF]
    # one layer (the output only): no spike words
    assert held1 == [(1, RESULT_MAGIC << 24 | 1 << 16 | 1)] * 5
    assert words1 == [RESULT_MAGIC << 24 | 1 << 16 | 1, -9 & 0xFFFFFFFF, 8, 99, 7]


def test_sender_done_pulse_and_decode_result():
    """A packet for a compiled plan decodes with decode_result to what was sent;
    ``done`` pulses once per packet, with the last word."""
    image = linear_events_net(np.random.default_rng(2))
    p = plan(image, SMALL)
    k = p.layers[-1].shape[0]
    u = list(np.arange(k) * 7 - 10)
    inputs = {"winner": k - 1, "steps": 2, "cycles": 4321, "sops": 77, "classes": k,
              "n_layers": len(p.layers), "spikes": [9, 0, 0, 0, 0], "pooled": [9, 0, 0, 0, 0]}
    dut = ResultSender(SMALL)
    results, done = _sender_run(dut, [(inputs, u), (dict(inputs, cycles=5), u)])
    r = decode_result(results[0][1], p)
    assert r["class"] == k - 1 and r["exit_t"] == 2 and r["cycles"] == 4321 and r["sops"] == 77
    assert list(r["u"]) == u
    assert r["spikes"] == {"fc1": 9}
    assert decode_result(results[1][1], p)["cycles"] == 5
    # the pulse is sampled in the cycle the last word is taken, before its packet is logged
    assert done == [0, 1]


# ====================================================================== Sequencer

def _seq_desc(output, n_edges=1):
    return {"output": output, "n_edges": n_edges, "words": 4, "groups": 1}


def _sequencer_run(static, early, delays, t_max=2):
    """Two layers: a spiking one (one edge: events, or the static input) and the
    output layer (two edges). The units' handshakes answer each ``go`` after
    ``delays[kind]`` cycles; descriptors follow ``layer`` a cycle later."""
    cfg = SMALL
    dut = Sequencer(cfg)
    descs = [_seq_desc(0), _seq_desc(1, n_edges=2)]
    glob = {"n_layers": 2, "t_max": t_max, "static": static, "classes": 3}
    trace = []
    out = {}
    left = {"init": 0, "scatter": 0, "fire": 0, "exit": 0}
    scatter_delays = iter(delays["scatter"] * 10)
    current_scatter = [0]

    async def units(ctx):
        async for sampled in ctx.tick().sample(
                dut.go, dut.phase, dut.layer, dut.edge, dut.t, dut.target, dut.wsel,
                dut.clear, dut.send, dut.idle, dut.cycles):
            _, _, go, phase, layer, edge, t, target, wsel, clear, send, idle, cycles = sampled
            trace.append(dict(go=go, phase=phase, layer=layer, edge=edge, t=t, target=target,
                              wsel=wsel, clear=clear, send=send, idle=idle, cycles=cycles))
            for kind in left:
                if getattr(go, kind):
                    if kind == "scatter":
                        current_scatter[0] = next(scatter_delays)
                        left[kind] = current_scatter[0]
                    else:
                        left[kind] = delays[kind]
                else:
                    left[kind] = max(0, left[kind] - 1)
            ctx.set(dut.init_busy, left["init"] > 0)
            ctx.set(dut.drained, left["scatter"] == 0)
            ctx.set(dut.fire_done, left["fire"] == 0)
            ctx.set(dut.exit_done, left["exit"] == 0)
            ctx.set(dut.desc, descs[layer] if layer < 2 else {})

    async def bench(ctx):
        ctx.set(dut.glob, glob)
        ctx.set(dut.desc, descs[0])
        ctx.set(dut.margin, 50)
        ctx.set(dut.index, 2)
        ctx.set(dut.tau, {"value": 40 if early else 0, "enable": int(early)})
        await ctx.tick()
        out["idle_before"] = ctx.get(dut.idle)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        await ctx.tick().until(dut.send)
        await ctx.tick()
        out["cycles"], out["winner"], out["t"] = (ctx.get(dut.cycles), ctx.get(dut.winner),
                                                  ctx.get(dut.t))
        for _ in range(5):                  # the result is sent: SEND waits for ``sent``
            await ctx.tick()
            assert not ctx.get(dut.idle)
        ctx.set(dut.sent, 1)
        await ctx.tick()
        ctx.set(dut.sent, 0)
        out["idle_after"] = ctx.get(dut.idle)
        out["cycles_after"] = ctx.get(dut.cycles)

    simulate(dut, bench, units)
    return trace, out


@pytest.mark.parametrize("static,early", [(False, False), (True, False), (False, True)],
                         ids=["events", "static", "early-exit"])
def test_sequencer_walks_phases_in_order_and_counts_cycles(static, early):
    delays = {"init": 5, "scatter": [0, 25, 3], "fire": 12, "exit": 7}
    trace, out = _sequencer_run(static, early, delays)
    assert out["idle_before"] and out["idle_after"]
    gos = [(i, kind) for i, c in enumerate(trace) for kind in ("init", "scatter", "fire", "exit")
           if getattr(c["go"], kind)]
    assert all(sum(getattr(c["go"], k) for k in ("init", "scatter", "fire", "exit")) <= 1
               for c in trace)
    # what each phase's first cycle shows: (go, phase, layer, edge, t, target)
    steps = []
    for i, kind in gos:
        c = trace[i + 1]
        steps.append((kind, c["phase"], c["layer"], c["edge"], c["t"], c["target"]))
    S, MEM, ACC = Phase.SCATTER, Target.MEM, Target.ACC
    # the static input is scattered at every timestep, like an event input
    want = [("init", Phase.INIT, 0, 0, 0, MEM), ("init", Phase.INIT, 1, 0, 0, ACC)]
    n_t = 1 if early else 2
    for t in range(1, n_t + 1):
        want += [("scatter", S, 0, 0, t, MEM), ("fire", Phase.FIRE, 0, 1, t, MEM),
                 ("scatter", S, 1, 0, t, ACC), ("scatter", S, 1, 1, t, ACC),
                 ("exit", Phase.EXIT, 1, 2, t, ACC)]
    assert steps == want

    # the write selects follow the phase and the layer
    for (i, kind), (_, phase, layer, *_r) in zip(gos, want):
        w = trace[i + 1]["wsel"]
        if kind == "init":
            assert (w.mem_init, w.acc_init) == ((1, 0) if layer == 0 else (0, 1))
        elif kind == "scatter":
            assert (w.mem_pe, w.acc_pe) == ((1, 0) if layer == 0 else (0, 1))
        elif kind == "fire":
            assert w.mem_fire and not (w.mem_pe or w.acc_pe or w.mem_init)
        elif kind == "exit":
            assert w.acc_exit and not w.acc_pe

    # each phase's cost: go to the next go (that phase's state and the next SETUP)
    clear = [i for i, c in enumerate(trace) if c["clear"]]
    send = [i for i, c in enumerate(trace) if c["send"]]
    assert len(clear) == 1 and len(send) == 1
    assert gos[0][0] == clear[0] + 3        # START, then a SETUP of three cycles
    scatter_delays = iter(delays["scatter"] * 10)
    for (i, kind), (j, _) in zip(gos, gos[1:] + [(send[0] + 3, None)]):
        if kind == "init":
            cost = delays["init"] + C_PHASE - 1     # busy = words + 1: words + C_PHASE
        elif kind == "scatter":
            cost = max(PHASE_FILL, next(scatter_delays)) + 4
        elif kind == "fire":
            cost = delays["fire"] + 12
        else:
            cost = delays["exit"] + 5       # EXIT, DECIDE, the next SETUP
        assert j - i == cost, f"{kind} phase at cycle {i}: {j - i} cycles, expected {cost}"
    # the counter counts every cycle from START to DECIDE, and holds
    assert out["cycles"] == send[0] - clear[0] + 1 == out["cycles_after"]
    assert out["winner"] == 2 and out["t"] == n_t


# ====================================================================== EventFetch

@pytest.mark.parametrize("ready", [1.0, 0.6], ids=["streaming", "backpressure"])
def test_event_fetch_reads_each_source_in_order(ready):
    cfg = SMALL
    rng = np.random.default_rng(9)
    dut = EventFetch(cfg)
    ev = {a: {"mask": int(rng.integers(1, 16)), "group": a % 3, "y": a % 5, "x": a % 7,
              "wpos": 1000 + a} for a in range(64)}
    inp = {a: {"mask": 1 << (a % P), "group": a % 2, "y": a % 4, "x": a % 6,
               "value": int(rng.integers(-500, 500))} for a in range(64)}
    got = []

    async def memories(ctx):                 # both read ports: data a cycle after addr
        async for _, _, addr in ctx.tick().sample(dut.addr):
            ctx.set(dut.event_data, ev.get(addr, {}))
            ctx.set(dut.input_data, inp.get(addr, {}))

    async def fetch(ctx, n_want, **inputs):
        for name, value in inputs.items():
            ctx.set(getattr(dut, name), value)
        for _ in range(3):                   # the inputs settle three cycles before start
            await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        events = []
        empty_while_pending = False
        for i in range(6 * n_want + 20):
            take = bool(rng.random() < ready)
            ctx.set(dut.events.ready, take)
            valid, payload = ctx.get(dut.events.valid), ctx.get(dut.events.payload)
            if len(events) < n_want and ctx.get(dut.empty):
                empty_while_pending = True
            await ctx.tick()
            if valid and take:
                events.append({k: getattr(payload, k) for k in
                               ("mask", "group", "y", "x", "wpos", "value")})
        ctx.set(dut.events.ready, 0)
        got.append((events, ctx.get(dut.empty), empty_while_pending))

    async def bench(ctx):
        counts = [0] * cfg.max_layers
        counts[2] = 5
        first = [0] * (cfg.t_max + 1)
        lens = [0] * (cfg.t_max + 1)
        first[2], lens[2] = 7, 3
        first[3], lens[3] = 20, 1
        await fetch(ctx, 5, src=2, ebase=10, counts=counts, static=0, t=1)
        await fetch(ctx, 4, src=cfg.src_input, static=1, entries=4)
        await fetch(ctx, 3, src=cfg.src_input, static=0, t=2, step_first=first,
                    step_len=lens)
        await fetch(ctx, 1, t=3)                # a single entry: empty only once it is out
        await fetch(ctx, 0, src=1, t=1)          # no events from layer 1

    simulate(dut, bench, memories)
    layer = [dict(ev[a], value=1) for a in range(10, 15)]
    static = [dict(inp[a], wpos=inp[a]["group"]) for a in range(4)]
    step2 = [dict(inp[a], wpos=inp[a]["group"]) for a in range(7, 10)]
    step3 = [dict(inp[20], wpos=inp[20]["group"])]
    assert len(got) == 5
    for (events, empty, early_empty), want in zip(got, [layer, static, step2, step3, []]):
        assert events == want
        assert empty and not early_empty


# ====================================================================== InitWalker

def _init_walk(K, fields):
    """Run an init walker over a layer; per cycle after the start: (run, valid,
    addr, mem_addr, next_group, banks)."""
    dut = InitWalker(dataclasses.replace(SMALL, grid=K))
    log = []

    async def bench(ctx):
        _set_fields(ctx, dut.layer, fields)
        await ctx.tick()
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        for _ in range(fields["words"] + 6):
            log.append((ctx.get(dut.run), ctx.get(dut.valid), ctx.get(dut.addr),
                        ctx.get(dut.mem_addr), ctx.get(dut.next_group), ctx.get(dut.banks)))
            await ctx.tick()

    simulate(dut, bench)
    return log


@pytest.mark.parametrize("K", [1, 2, 3])
def test_init_walker_walks_words_and_steps_groups(K):
    """A conv layer: every word in all banks, the group stepping every plane words."""
    words, plane, mbase = 7, 3, 20
    log = _init_walk(K, dict(linear=0, words=words, plane=plane, mbase=mbase, groups=3))
    written = [(a, ma, b) for _, v, a, ma, _, b in log if v]
    assert written == [(i, mbase + i, (1 << K * K) - 1) for i in range(words)]
    assert sum(r for r, *_ in log) == words            # run: one cycle per word
    valid_at = [i for i, (_, v, *_r) in enumerate(log) if v]
    assert valid_at == list(range(1, 1 + words))        # the same timing at every grid
    steps = [i for i, (*_r, g, _b) in enumerate(log) if g]
    # the group steps as word plane - 1 (and 2 * plane - 1) is walked: a cycle
    # before it is written, so the next word is written from the next group
    assert steps == [valid_at[plane - 1] - 1, valid_at[2 * plane - 1] - 1]


@pytest.mark.parametrize("K,groups", [(1, 4), (2, 5), (3, 11)])
def test_init_walker_flat_layer_walks_groups_over_banks(K, groups):
    """A flat layer: group g at word g div K^2 of bank g mod K^2, one per cycle,
    the parameter group stepping every word."""
    mbase = 9
    log = _init_walk(K, dict(linear=1, words=groups, plane=1, mbase=mbase, groups=groups))
    K2 = K * K
    written = [(a, ma, b) for _, v, a, ma, _, b in log if v]
    assert written == [(g // K2, mbase + g // K2, 1 << g % K2) for g in range(groups)]
    valid_at = [i for i, (_, v, *_r) in enumerate(log) if v]
    assert valid_at == list(range(1, 1 + groups))
    steps = [i for i, (*_r, g, _b) in enumerate(log) if g]
    assert steps == [v - 1 for v in valid_at]


# ====================================================================== SpikeCounters

def test_spike_counters_per_layer_per_image_and_totals():
    dut = SpikeCounters(SMALL)
    got = {}

    async def fire_phase(ctx, layer, fired, pooled, events):
        ctx.set(dut.layer, layer)
        for _ in range(2):
            await ctx.tick()
        ctx.set(dut.fire_start, 1)
        await ctx.tick()
        ctx.set(dut.fire_start, 0)
        ctx.set(dut.fire, 1)
        for f, p in zip(fired, pooled):
            ctx.set(dut.fired, f)
            ctx.set(dut.pooled_fired, p)
            await ctx.tick()
        ctx.set(dut.fired, 0)
        ctx.set(dut.pooled_fired, 0)
        ctx.set(dut.events, events)
        for _ in range(3):
            await ctx.tick()
        ctx.set(dut.fire_end, 1)
        await ctx.tick()
        ctx.set(dut.fire_end, 0)
        for _ in range(2):
            await ctx.tick()
        ctx.set(dut.fire, 0)
        await ctx.tick()

    async def ops(ctx, lanes):
        for n in lanes:
            ctx.set(dut.op_valid, n is not None)
            ctx.set(dut.op_lanes[0], n or 0)
            await ctx.tick()
        ctx.set(dut.op_valid, 0)

    async def image(ctx, key):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        await ops(ctx, [4, 2, None, 3, 1])
        await fire_phase(ctx, 1, [1, 4, 0, 2], [1, 1, 0, 1], events=3)
        await ops(ctx, [4, 4])
        await fire_phase(ctx, 2, [3], [2], events=1)
        await fire_phase(ctx, 1, [2, 2], [1, 0], events=1)       # the next timestep
        got[key] = dict(spikes=list(ctx.get(dut.spikes)), pooled=list(ctx.get(dut.pooled)),
                        counts=list(ctx.get(dut.counts)), sops=ctx.get(dut.sops))
        ctx.set(dut.sent, 1)
        await ctx.tick()
        ctx.set(dut.sent, 0)
        await ctx.tick()
        got[key + "_totals"] = (ctx.get(dut.images_done), ctx.get(dut.sops_total),
                                ctx.get(dut.spikes_total))

    async def bench(ctx):
        await image(ctx, "a")
        await image(ctx, "b")

    simulate(dut, bench)
    zero = [0] * (SMALL.max_layers - 3)
    for key in "ab":
        r = got[key]
        assert r["spikes"] == [0, 7 + 4, 3] + zero
        assert r["pooled"] == [0, 3 + 1, 2] + zero
        assert r["counts"] == [0, 1, 1] + zero          # the layer's last fire phase
        assert r["sops"] == 4 + 2 + 3 + 1 + 8
    assert got["a_totals"] == (1, 18, 14)
    assert got["b_totals"] == (2, 36, 28)


def test_spike_counters_add_sops_through_registers():
    """The lane sum is registered on both sides (it crosses the die): an
    operation reaches ``sops`` on the third clock edge, not the first. Its lanes
    are summed over the position banks."""
    config = dataclasses.replace(SMALL, grid=3)
    dut = SpikeCounters(config)
    seen = []

    async def bench(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        ctx.set(dut.op_valid, 1)
        for n in (0, 4, 8):
            ctx.set(dut.op_lanes[n], n // 4 + 1)
        await ctx.tick()
        ctx.set(dut.op_valid, 0)
        for _ in range(3):
            seen.append(ctx.get(dut.sops))
            await ctx.tick()
        seen.append(ctx.get(dut.sops))

    simulate(dut, bench)
    assert seen == [0, 0, 6, 6]


# ====================================================================== FireUnit

#: Cycles from the start pulse to ``done`` beyond the walk's one cycle per word:
#: the start's cycle, the read (address register, block RAM, output register),
#: stages 1 to 4 (the last one the write) and ``done``'s register. The unit at
#: grid 1 before the banked array had the same (checked cycle by cycle against it).
FIRE_LATENCY = 9


def _fire_layer(K, P, groups, height, width, pool=1, linear=False, lanes_last=None,
                mbase=3, leak=0, reset_zero=False):
    """The DescriptorLayout fields the fire unit and the init walker read, as the
    compiler lays a layer out at grid K (docs/architecture.md)."""
    if linear:
        height = width = 1
    Hb, Wb = -(-height // K), -(-width // K)
    pH, pW = height // pool, width // pool
    return dict(
        linear=int(linear), reset_zero=int(reset_zero), leak=leak, pool=pool, mbase=mbase,
        groups=groups, words=groups if linear else groups * Hb * Wb,
        bgroups=-(-groups // (K * K)) if linear else 1,
        height=height, width=width, bheight=Hb, bwidth=Wb, plane=Hb * Wb,
        pheight=pH, pwidth=pW, pbheight=-(-pH // K), pbwidth=-(-pW // K), pplane=pH * pW,
        prow=pool * Wb, pbase=0, lanes_last=P if lanes_last is None else lanes_last)


def _set_fields(ctx, view, fields):
    for name, value in fields.items():
        ctx.set(getattr(view, name), value)


def _signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _words(raw, n, P, bits):
    """Unpack ``n`` words of ``P`` signed lanes from an integer."""
    return [[_signed(raw >> ((k * P + i) * bits), bits) for i in range(P)] for k in range(n)]


def _pack_words(words, bits):
    raw = 0
    flat = [v for w in words for v in w]
    for i, v in enumerate(flat):
        raw |= (v & ((1 << bits) - 1)) << (i * bits)
    return raw


def run_fire(dut, config, layer, mem, theta, bias, limit=2000):
    """Drive a fire unit through one pass over ``layer``: ``mem[(bank, addr)]``
    holds the membrane words (a bank's P lanes), read back three cycles after
    ``mem_addr`` (the core's address register, the block RAM, its output
    register); the parameter word of group ``g`` (``theta[g]``, ``bias[g]``) is
    read at an address register set by the start and stepped by ``next_group``,
    arriving a cycle after it. Returns the writes ``(cycle, bank, addr, lanes)``,
    the events, the summed spike and pooled counts and the cycle of ``done``
    (counted from the start pulse's cycle)."""
    P, B, K2 = config.lanes, config.membrane_bits, config.banks
    A = config.acc_bits
    zero = [0] * P
    out = dict(writes=[], events=[], spikes=0, pooled=0, done=None, event_count=None)

    async def bench(ctx):
        _set_fields(ctx, dut.layer, layer)
        await ctx.tick()
        addrs = []
        preg = 0
        par_addr = 0            # the parameter memory's registered read
        for cycle in range(limit):
            start = cycle == 0
            ctx.set(dut.start, int(start))
            # inputs of this cycle: the word read three cycles ago, the parameter
            # word addressed last cycle
            addrs.append(ctx.get(dut.mem_addr))
            addr = addrs[-4] if len(addrs) >= 4 else None
            words = [mem.get((n, addr), zero) for n in range(K2)]
            ctx.set(dut.mem_rdata.as_value(), _pack_words(words, B))
            g = min(par_addr, len(theta) - 1)
            ctx.set(dut.par_rdata.theta.as_value(), _pack_words([theta[g]], B))
            ctx.set(dut.par_rdata.bias.as_value(), _pack_words([bias[g]], A))
            # outputs of this cycle
            wr_en = ctx.get(dut.wr_en)
            if wr_en:
                data = _words(ctx.get(dut.wr_data.as_value()), K2, P, B)
                wa = ctx.get(dut.wr_addr)
                for n in range(K2):
                    if wr_en >> n & 1:
                        out["writes"].append((cycle, n, wa, data[n]))
                out.setdefault("all_data", []).append(data)
            if ctx.get(dut.events.valid):
                ev = dut.events.payload
                out["events"].append(dict(
                    group=ctx.get(ev.group), y=ctx.get(ev.y), x=ctx.get(ev.x),
                    wpos=ctx.get(ev.wpos), mask=ctx.get(ev.mask)))
            out["spikes"] += ctx.get(dut.spikes)
            out["pooled"] += ctx.get(dut.pooled)
            if not start and out["done"] is None and ctx.get(dut.done):
                out["done"] = cycle
                out["event_count"] = ctx.get(dut.event_count)
                return
            # the parameter address register, and its memory's registered read
            par_addr = preg
            preg = 0 if start else preg + ctx.get(dut.next_group)
            await ctx.tick()

    simulate(dut, bench, limit=limit + 10)
    return out


def fire_reference(config, layer, mem, theta, bias):
    """The fire pass in Python: the writes in walk order ``(bank, addr, lanes)``
    and the events, from the layout rule of docs/architecture.md."""
    P, B, K = config.lanes, config.membrane_bits, config.grid
    K2 = K * K
    L = layer
    G = L["groups"]
    zero = [0] * P

    def lif(v, g, valid):
        """(spikes, written lanes) of one word of group g."""
        spikes, written = [], []
        for i in range(P):
            fired = valid[i] and v[i] >= theta[g][i]
            u = (0 if L["reset_zero"] else v[i] - theta[g][i]) if fired else v[i]
            decay = u >> L["leak"] if L["leak"] else 0
            spikes.append(int(fired))
            written.append(_signed(u - decay + bias[g][i], B))
        return spikes, written

    def lanes(g):
        return P if g < G - 1 else L["lanes_last"]

    writes, events = [], []
    if L["linear"]:
        for g in range(G):
            n, addr = g % K2, L["mbase"] + g // K2
            spk, w = lif(mem.get((n, addr), zero), g, [i < lanes(g) for i in range(P)])
            writes.append((n, addr, w))
            mask = sum(s << i for i, s in enumerate(spk))
            if mask:
                events.append(dict(group=g, y=0, x=0, wpos=g, mask=mask))
        return writes, events

    H, W, k = L["height"], L["width"], L["pool"]
    Hb, Wb = L["bheight"], L["bwidth"]
    pH, pW = H // k, W // k
    for g in range(G):
        spiked = set()          # (oy, ox, lane)
        for pby in range(L["pbheight"]):
            for pbx in range(L["pbwidth"]):
                for dy in range(k):
                    for dx in range(k):
                        by, bx = pby * k + dy, pbx * k + dx
                        if by >= Hb or bx >= Wb:
                            continue
                        addr = L["mbase"] + g * Hb * Wb + by * Wb + bx
                        for a in range(K):
                            for b in range(K):
                                oy, ox = K * by + a, K * bx + b
                                valid = [oy < H and ox < W and i < lanes(g) for i in range(P)]
                                spk, w = lif(mem.get((a * K + b, addr), zero), g, valid)
                                writes.append((a * K + b, addr, w))
                                spiked |= {(oy, ox, i) for i in range(P) if spk[i]}
        # the block events of the (pooled) map, in block order
        for pby in range(-(-pH // K)):
            for pbx in range(-(-pW // K)):
                mask = 0
                for (oy, ox, i) in spiked:
                    py, px = oy // k, ox // k
                    if py // K == pby and px // K == pbx:
                        mask |= 1 << (((py % K) * K + px % K) * P + i)
                if mask:
                    events.append(dict(group=g, y=pby, x=pbx,
                                       wpos=g * pH * pW + K * (pby * pW + pbx), mask=mask))
    return writes, events


def _fire_case(K, groups, height, width, pool=1, linear=False, lanes_last=None, leak=0,
               reset_zero=False, seed=0, P=4):
    from atsnn.rtl.fire import FireUnit
    config = dataclasses.replace(SMALL, lanes=P, grid=K)
    B = config.membrane_bits
    rng = np.random.default_rng(seed)
    layer = _fire_layer(K, P, groups, height, width, pool, linear, lanes_last, leak=leak,
                        reset_zero=reset_zero)
    K2 = K * K
    mem = {(n, layer["mbase"] + w): [int(v) for v in rng.integers(-60, 100, P)]
           for n in range(K2) for w in range(-1, layer["words"] + 2)}
    theta = [[int(v) for v in rng.integers(1, 60, P)] for _ in range(groups)]
    bias = [[int(v) for v in rng.integers(-20, 20, P)] for _ in range(groups)]
    dut = FireUnit(config)
    got = run_fire(dut, config, layer, mem, theta, bias)
    want_writes, want_events = fire_reference(config, layer, mem, theta, bias)
    # every write: the banks of each cycle, its address and lanes, in walk order
    assert [(n, a, w) for _, n, a, w in got["writes"]] == want_writes
    cycles = [c for c, *_ in got["writes"]]
    assert cycles == sorted(cycles)
    if linear:
        assert len(set(cycles)) == len(cycles)          # one bank per cycle
        for data in got["all_data"]:                    # every bank carries the group
            assert all(w == data[0] for w in data)
    else:
        assert all(cycles.count(c) == K2 for c in set(cycles))
    assert len(set(cycles)) == layer["words"]
    assert got["events"] == want_events
    assert got["event_count"] == len(want_events)
    assert got["spikes"] == sum(
        1 for c in _fired_lanes(config, layer, mem, theta))
    assert got["pooled"] == sum(bin(e["mask"]).count("1") for e in want_events)
    # done: one cycle per word of the walk plus the fixed latency
    assert got["done"] == layer["words"] + FIRE_LATENCY
    return got, want_events


def _fired_lanes(config, layer, mem, theta):
    """Every (bank, addr, lane) that spikes, from the layout rule."""
    P, K = config.lanes, config.grid
    L = layer
    G = L["groups"]
    out = []
    for g in range(G):
        n_lanes = P if g < G - 1 else L["lanes_last"]
        if L["linear"]:
            key = (g % (K * K), L["mbase"] + g // (K * K))
            v = mem.get(key, [0] * P)
            out += [(key, i) for i in range(n_lanes) if v[i] >= theta[g][i]]
            continue
        for oy in range(L["height"]):
            for ox in range(L["width"]):
                key = ((oy % K) * K + ox % K,
                       L["mbase"] + g * L["plane"] + (oy // K) * L["bwidth"] + ox // K)
                v = mem.get(key, [0] * P)
                out += [(key, i) for i in range(n_lanes) if v[i] >= theta[g][i]]
    return out


@pytest.mark.parametrize("K,groups,height,width,pool,lanes_last,leak,reset_zero", [
    (1, 2, 4, 6, 1, 3, 0, False),
    (1, 3, 6, 4, 2, 4, 2, True),
    (1, 2, 6, 3, 3, 2, 1, False),
    (2, 3, 7, 5, 1, 3, 2, False),
    (2, 3, 6, 10, 2, 1, 0, True),
    (2, 2, 8, 4, 4, 4, 3, False),
    (3, 3, 7, 5, 1, 2, 1, True),
    (3, 3, 8, 6, 2, 3, 0, False),
    (3, 2, 10, 14, 2, 4, 2, False),
    (3, 2, 8, 8, 4, 1, 1, True),
])
def test_fire_unit_conv_layer_at_grid(K, groups, height, width, pool, lanes_last, leak,
                                      reset_zero):
    """A conv layer's fire pass, every bank at once: each write (bank, address,
    lanes), each block event (pooled: one per block group), the counts and the
    cycle of done against the Python pass of the layout rule."""
    _, events = _fire_case(K, groups, height, width, pool, lanes_last=lanes_last, leak=leak,
                           reset_zero=reset_zero, seed=K * 100 + height * 10 + width)
    assert events                                       # the case fires something


@pytest.mark.parametrize("K,groups,lanes_last", [(1, 5, 2), (2, 5, 3), (2, 4, 4), (3, 11, 1)])
def test_fire_unit_flat_layer_at_grid(K, groups, lanes_last):
    """A flat layer: group g from bank g mod K^2, word g div K^2, one per cycle,
    written back to that bank alone; its event in bank 0's mask bits."""
    _fire_case(K, groups, 1, 1, linear=True, lanes_last=lanes_last, leak=1, seed=groups + K)
