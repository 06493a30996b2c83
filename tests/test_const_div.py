"""rtl/const_div: division by a constant is exact over the whole input range."""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from atsnn.rtl.const_div import div_const


@pytest.mark.parametrize("divisor", [1, 2, 3, 4, 5, 7, 9, 16])
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
