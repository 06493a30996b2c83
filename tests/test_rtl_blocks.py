"""Block tests of the accelerator in Amaranth's simulator, and the compiler's checks."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.sim import Simulator

from atsnn import AtsnnError
from atsnn.rtl.config import HwConfig
from atsnn.rtl.exit import ExitUnit
from atsnn.rtl.scatter import SpikeScatter
from atsnn.rtl.compiler import compile_model, encode_input, plan
from atsnn.rtl.core import Accelerator
from atsnn.rtl.bram import ColumnMemory, blocks, column_blocks, column_width, column_plan

from rtl_harness import (SMALL, stream_put, stream_get_packet, linear_events_net,
                         conv_net, event_inputs, run_core)


def test_config_checks():
    with pytest.raises(TypeError, match="Lane count"):
        HwConfig(lanes=12)
    with pytest.raises(TypeError, match="Accumulator width"):
        HwConfig(membrane_bits=24, acc_bits=16)
    with pytest.raises(TypeError, match="weight_depth"):
        HwConfig(weight_depth=0)


def test_exit_unit_top2_lowest_index_on_ties():
    cfg = HwConfig(lanes=4)
    rng = np.random.default_rng(3)
    dut = ExitUnit(cfg)
    cases = []
    for _ in range(12):
        k = int(rng.integers(2, 12))
        acc = rng.integers(-5, 5, size=k)          # small range: many ties
        bias = rng.integers(-2, 3, size=k)
        cases.append((acc, bias))

    async def bench(ctx):
        for acc, bias in cases:
            k = len(acc)
            groups = -(-k // 4)
            pad = groups * 4 - k
            acc_w = np.concatenate([acc, [0] * pad]).reshape(groups, 4)
            bias_w = np.concatenate([bias, [0] * pad]).reshape(groups, 4)
            ctx.set(dut.groups, groups)
            ctx.set(dut.lanes_last, 4 - pad)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            written = {}
            for _ in range(40):
                a = ctx.get(dut.acc_addr)
                if ctx.get(dut.wr_en):
                    written[ctx.get(dut.wr_addr)] = [ctx.get(dut.wr_data[i]) for i in range(4)]
                if ctx.get(dut.done):
                    break
                await ctx.tick()
                if a < groups:
                    for i in range(4):
                        ctx.set(dut.acc_rdata[i], int(acc_w[a, i]))
                        ctx.set(dut.par_rdata.bias[i], int(bias_w[a, i]))
            u = acc + bias
            assert ctx.get(dut.done)
            assert ctx.get(dut.index) == int(np.argmax(u))
            top = np.sort(u)
            assert ctx.get(dut.top1) == top[-1] and ctx.get(dut.top2) == top[-2]
            got = np.array([written[g] for g in range(groups)]).reshape(-1)[:k]
            np.testing.assert_array_equal(got, u)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def _axis(pos, pad, s, k, n_out):
    """A spike's offset run along one axis: (q, r, lo, hi), j = lo..hi."""
    q, r = divmod(pos + pad, s)
    return q, r, max(0, q - (n_out - 1)), min(q, (k - 1 - r) // s)


def _slots(k, s, K):
    """Weight slots per kernel row (docs/architecture.md)."""
    return max((((k - 1 - r) // s) // K) * s + r + 1 for r in range(min(s, k)))


def _expected_ops(events, edge, ho, wo, groups, lanes_last, P, K):
    """The bank rule, walked in Python: per operation the weight word, and per
    position bank (valid, word, weight bank); plus the SOP lanes."""
    ops = []
    hb, wb = -(-ho // K), -(-wo // K)
    for mask, g, by, bx, wpos in events:
        for i in range(K * K * P):
            if not mask >> i & 1:
                continue
            n, lane = divmod(i, P)
            a, b = divmod(n, K)
            if edge["linear"]:
                j = (wpos + a * edge["src_w"] + b) * P + lane
                for pss in range(-(-groups // (K * K))):
                    banks = {}
                    for bank in range(K * K):
                        if pss * K * K + bank < groups:
                            banks[bank] = (pss, bank)
                    sop = sum(lanes_last if pss * K * K + bank == groups - 1 else P
                              for bank in banks)
                    ops.append((pss * edge["cin_pad"] + j, banks, sop))
                continue
            c = g * P + lane
            k, s, pad, cin = edge["k"], edge["s"], edge["pad"], edge["cin_pad"]
            S = _slots(k, s, K)
            qy, ry, loy, hiy = _axis(K * by + a, pad, s, k, ho)
            qx, rx, lox, hix = _axis(K * bx + b, pad, s, k, wo)
            for jby in range(loy // K, hiy // K + 1):
                for jbx in range(lox // K, hix // K + 1):
                    for go in range(groups):
                        banks = {}
                        for mr in range(K):
                            for mc in range(K):
                                ty, tx = (qy - mr) % K, (qx - mc) % K
                                jy, jx = jby * K + ty, jbx * K + tx
                                if loy <= jy <= hiy and lox <= jx <= hix:
                                    oy, ox = qy - jy, qx - jx
                                    banks[mr * K + mc] = (go * hb * wb + (oy // K) * wb + ox // K,
                                                          ty * K + tx)
                        w = go * S * S * cin + ((jby * s + ry) * S + jbx * s + rx) * cin + c
                        sop = len(banks) * (lanes_last if go == groups - 1 else P)
                        ops.append((w, banks, sop))
    return ops


@pytest.mark.parametrize("grid", [1, 2, 3])
@pytest.mark.parametrize("k,s,p", [(3, 1, 1), (3, 2, 1), (1, 1, 0), (5, 1, 2), (5, 2, 2), (0, 0, 0)])
def test_scatter_walks_the_bank_rule_without_bubbles(k, s, p, grid):
    """Random block events through the scatter: every operation (weight word,
    each bank's valid, word and weight bank, SOP lanes) equals a Python walk of
    the bank rule, one operation per cycle; (0, 0, 0) is a linear edge."""
    P = 4
    cfg = HwConfig(lanes=P, grid=grid)
    K = grid
    dut = SpikeScatter(cfg)
    rng = np.random.default_rng(k * 10 + s + 100 * grid)
    linear = k == 0
    hin, gin, groups = 7, 2, 3
    if linear:
        edge = dict(linear=1, k=1, s=1, pad=0, cin_pad=gin * hin * hin * P, src_w=hin)
        ho = wo = 1
        groups = 5
    else:
        edge = dict(linear=0, k=k, s=s, pad=p, cin_pad=gin * P, src_w=0)
        ho = wo = (hin + 2 * p - k) // s + 1
    S = 1 if linear else _slots(k, s, K)
    hb, wb = -(-ho // K), -(-wo // K)
    bgroups = -(-groups // (K * K))
    lanes_last = 3
    blk = -(-hin // K)
    events = []
    for _ in range(8):
        g, by, bx = int(rng.integers(0, gin)), int(rng.integers(0, blk)), int(rng.integers(0, blk))
        mask = 0
        for i in range(K * K * P):
            a, b = divmod(i // P, K)
            if K * by + a < hin and K * bx + b < hin and rng.random() < 0.3:
                mask |= 1 << i
        if mask:
            events.append((mask, g, by, bx, g * hin * hin + K * (by * hin + bx)))
    want = _expected_ops(events, edge, ho, wo, groups, lanes_last, P, K)
    got = []
    cycles = []

    async def bench(ctx):
        cin = edge["cin_pad"]
        for name, value in dict(linear=edge["linear"], k=edge["k"], shift=edge["s"].bit_length() - 1,
                                pad=edge["pad"], wbase=0, cin_pad=cin,
                                s_go=cin if linear else S * S * cin, s_col=edge["s"] * cin,
                                s_row=edge["s"] * S * cin, slots=S, src_w=edge["src_w"]).items():
            ctx.set(dut.edge[name], value)
        for name, value in dict(groups=groups, bgroups=bgroups, height=ho, width=wo, bwidth=wb,
                                plane=hb * wb, mbase=0, lanes_last=lanes_last).items():
            ctx.set(dut.layer[name], value)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        queue = list(events)
        for cycle in range(len(want) + 40):
            ctx.set(dut.events.valid, bool(queue))
            if queue:
                mask, g, by, bx, wpos = queue[0]
                ctx.set(dut.events.payload, {"mask": mask, "group": g, "y": by, "x": bx,
                                             "wpos": wpos, "value": 1})
            if ctx.get(dut.op_valid):
                banks = {n: (ctx.get(dut.op.banks[n].m), ctx.get(dut.op.banks[n].wsel))
                         for n in range(K * K) if ctx.get(dut.op.banks[n].valid)}
                got.append((ctx.get(dut.op.w), banks, sum(ctx.get(dut.op_lanes))))
                cycles.append(cycle)
            if queue and ctx.get(dut.events.ready):
                queue.pop(0)
            await ctx.tick()
        assert ctx.get(dut.idle)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"operation {i}"
    assert cycles[-1] - cycles[0] + 1 == len(want)      # one operation every cycle


def test_compiler_refuses_what_does_not_fit():
    rng = np.random.default_rng(0)
    image = linear_events_net(rng)
    with pytest.raises(AtsnnError, match="weight words exceed the hardware's 2 by"):
        compile_model(image, HwConfig(lanes=4, weight_depth=2))
    with pytest.raises(AtsnnError, match="hardware layers exceed 1 by 1"):
        compile_model(image, HwConfig(lanes=4, max_layers=1))
    with pytest.raises(AtsnnError, match="T_max 3 exceeds the hardware's 2 by 1"):
        compile_model(image, HwConfig(lanes=4, t_max=2))
    with pytest.raises(AtsnnError, match="needs .* membrane bits"):
        compile_model(image, HwConfig(lanes=4, membrane_bits=4, acc_bits=32))


def _run_streams(steps):
    dut = Accelerator(SMALL)
    seen = []

    async def bench(ctx):
        for kind, words in steps:
            if kind == "load":
                await stream_put(ctx, dut.load, words)
                for _ in range(3):
                    await ctx.tick()
                seen.append(("load", ctx.get(dut.loaded), ctx.get(dut.errors).as_value().value))
            elif kind == "image":
                await stream_put(ctx, dut.image, words)
                for _ in range(3):
                    await ctx.tick()
                seen.append(("image", ctx.get(dut.busy), ctx.get(dut.errors).as_value().value))
            else:
                seen.append(("result", await stream_get_packet(ctx, dut.result)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_malformed_streams_set_error_flags_and_recover():
    rng = np.random.default_rng(5)
    image = linear_events_net(rng)
    p = plan(image, SMALL)
    good = compile_model(image, SMALL)
    x = event_inputs(rng, image, 1)[0]
    img = encode_input(p, x)
    bad_magic = good.copy()
    bad_magic[0] ^= 1
    bad_section = good.copy()
    bad_section[2] = (9 << 24) | 1
    long_load = np.concatenate([good, [0]])
    bad_image = img.copy()
    bad_image[0] ^= 1 << 31
    seen = _run_streams([
        ("load", good[:-3]), ("load", long_load), ("load", bad_magic), ("load", bad_section),
        ("load", good), ("image", bad_image), ("image", img[:-2]), ("image", img),
        ("result", None),
    ])
    LEN, DESC, IMG = 1, 2, 4
    assert seen[0] == ("load", 0, LEN)
    assert seen[1] == ("load", 0, LEN)
    assert seen[2] == ("load", 0, DESC)
    assert seen[3] == ("load", 0, DESC)
    assert seen[4] == ("load", 1, 0)
    assert seen[5] == ("image", 0, IMG)
    assert seen[6] == ("image", 0, IMG)
    assert seen[8][0] == "result" and seen[8][1][0] >> 24 == 0xB5


def test_block_ram_columns_and_plan():
    """rtl/bram.py: Yosys's block-RAM count, the one-deep column width, and the
    plan that splits memories in order while the device has the block RAMs."""
    assert blocks(32, 13312) == 26 and column_blocks(32, 13312) == 32
    assert blocks(96, 1536) == 9 and column_blocks(96, 1536) == 11
    assert blocks(96, 1024) == column_blocks(96, 1024) == 6
    assert blocks(96, 16) == 0                                  # LUT RAM
    assert (column_width(13312), column_width(1536), column_width(512)) == (1, 9, 36)
    assert column_width(16385) is None
    mems = {"wgt": (32, 13312, 4), "mem": (96, 1536, 4), "big": (8, 20000, 1)}
    whole = 4 * 26 + 4 * 9 + blocks(8, 20000)
    assert column_plan(mems, fixed=4) == {"wgt": 1, "mem": 9, "big": None}
    assert column_plan(mems, fixed=4, budget=4 + whole + 24) == {"wgt": 1, "mem": None, "big": None}
    # the first memory left whole ends the plan
    assert column_plan(mems, fixed=4, budget=4 + whole + 8) == {"wgt": None, "mem": None,
                                                                  "big": None}
    deep_first = {"big": (8, 20000, 1), "mem": (96, 1536, 4)}
    assert column_plan(deep_first, fixed=0) == {"big": None, "mem": None}


@pytest.mark.parametrize("columns,share", [(None, None), (9, None), (36, None), (9, 4),
                                           (None, 8)])
def test_column_memory_reads_what_was_written(columns, share):
    """Every column holds its slice of the word; with ``addr_share`` the data
    comes a cycle later (the address copies are registers)."""
    layout = data.ArrayLayout(signed(24), 4)
    dut = ColumnMemory(shape=layout, depth=40, columns=columns, addr_share=share)
    rng = np.random.default_rng(columns or 0)
    words = {int(a): [int(v) for v in rng.integers(-2**23, 2**23, size=4)]
             for a in rng.choice(40, size=12, replace=False)}

    async def bench(ctx):
        for a, word in words.items():
            ctx.set(dut.write.addr, a)
            ctx.set(dut.write.data, word)
            ctx.set(dut.write.en, 1)
            await ctx.tick()
        ctx.set(dut.write.en, 0)
        if share:
            await ctx.tick()        # the last write lands a cycle later
        for a, word in words.items():
            ctx.set(dut.read.addr, a)
            await ctx.tick()
            ctx.set(dut.read.addr, (a + 1) % 40)    # the next address must not matter
            if share:
                await ctx.tick()
            assert [ctx.get(dut.read.data[i]) for i in range(4)] == word, a

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
