"""rtl/kernel_axis.py against the bank rule, walked by brute force: every (output
position, kernel offset) a spike reaches is applied exactly once, in the bank,
word, weight bank and slot the rule gives, in as many passes as the cycle model
counts."""

import itertools

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from atsnn.golden.cycles import axis_passes
from atsnn.rtl.kernel_axis import KernelAxis, div_const

CASES = [(n, k, s, p) for n, k, s, p in itertools.product((7, 12), (1, 2, 3, 5), (1, 2), (0, 1, 2))
         if (n + 2 * p - k) // s + 1 >= 1 and p < k]


def reached(y, n_out, k, s, p):
    """{(oy, ky)}: the output rows a spike at y reaches, with their offsets."""
    return {((y + p - ky) // s, ky) for ky in range(k)
            if (y + p - ky) % s == 0 and 0 <= (y + p - ky) // s < n_out}


@pytest.mark.parametrize("grid", [1, 2, 3])
def test_kernel_axis_applies_every_offset_once_in_its_bank(grid):
    dut = KernelAxis(grid)
    jobs = [(n, k, s, p, y) for n, k, s, p in CASES for y in range(n)]
    got = []

    async def bench(ctx):
        for n, k, s, p, y in jobs:
            n_out = (n + 2 * p - k) // s + 1
            ctx.set(dut.start, 1)
            ctx.set(dut.pos, y)
            ctx.set(dut.pad, p)
            ctx.set(dut.shift, s.bit_length() - 1)
            ctx.set(dut.kernel, k)
            ctx.set(dut.size, n_out)
            await ctx.tick()
            ctx.set(dut.start, 0)
            passes = []
            while True:
                banks = [(ctx.get(dut.banks[b].valid), ctx.get(dut.banks[b].word))
                         for b in range(grid)]
                passes.append((ctx.get(dut.valid), ctx.get(dut.slot), ctx.get(dut.rotation), banks))
                last = ctx.get(dut.last)
                ctx.set(dut.next, 1)
                await ctx.tick()
                ctx.set(dut.next, 0)
                if last:
                    break
            got.append(passes)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()

    for (n, k, s, p, y), passes in zip(jobs, got):
        n_out = (n + 2 * p - k) // s + 1
        where = f"grid {grid}, n {n}, k {k}, s {s}, p {p}, y {y}"
        want = axis_passes(n, n_out, k, s, p, grid)[y]
        if want == 0:       # reaches nothing: one empty pass (the compiler refuses such edges)
            assert len(passes) == 1 and not passes[0][0], where
            continue
        assert len(passes) == want, where
        r = (y + p) % s
        applied = []
        for jb, (valid, slot, rotation, banks) in enumerate(passes):
            assert valid, where
            jb_abs = jb + (max(0, (y + p) // s - (n_out - 1)) // grid)
            assert slot == jb_abs * s + r, where
            for b, (bank_valid, word) in enumerate(banks):
                if not bank_valid:
                    continue
                oy = word * grid + b
                j = (rotation - b) % grid + jb_abs * grid    # the weight bank's offset index
                applied.append((oy, r + s * j))
        assert sorted(applied) == sorted(reached(y, n_out, k, s, p)), where


@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 5, 7])
def test_div_const_is_exact(divisor):
    value = Signal(9)
    q, r = div_const(value, divisor, 9)
    out = []

    async def bench(ctx):
        for v in range(512):
            ctx.set(value, v)
            out.append((ctx.get(q), ctx.get(r)))
    sim = Simulator(Module())
    sim.add_testbench(bench)
    sim.run()
    assert out == [divmod(v, divisor) for v in range(512)]
