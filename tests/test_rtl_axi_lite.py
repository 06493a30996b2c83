"""AXI4-Lite slave bridge in Amaranth's simulator: handshakes, ordering,
back-pressure and error responses."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.sim import Simulator

from atsnn.rtl.axi_lite import OKAY, SLVERR, AxiLiteSignature, AxiLiteSlave
from atsnn.tb.amaranth_axi import axil_read as read, axil_write as write


class ScratchRegs(Elaboratable):
    """Four read/write registers at 0x0..0xC; everything else is unmapped."""

    def __init__(self):
        self.bridge = AxiLiteSlave(addr_width=8)
        self.regs = [Signal(32, name=f"reg{i}") for i in range(4)]
        self.writes = Signal(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = self.bridge
        r = bridge.regs
        w_idx = r.w_addr[2:]
        r_idx = r.r_addr[2:]
        m.d.comb += [r.w_err.eq(w_idx >= 4), r.r_err.eq(r_idx >= 4)]
        with m.If(r.w_stb):
            m.d.sync += self.writes.eq(self.writes + 1)
        for i, reg in enumerate(self.regs):
            with m.If(r.w_stb & (w_idx == i)):
                m.d.sync += reg.eq(r.w_data)
            with m.If(r_idx == i):
                m.d.comb += r.r_data.eq(reg)
        return m


def simulate(bench):
    dut = ScratchRegs()
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        await bench(ctx, dut)
    sim.add_testbench(testbench)
    sim.run()


def test_write_then_read_back_in_either_channel_order():
    async def bench(ctx, dut):
        axi = dut.bridge.axi
        assert await write(ctx, axi, 0x0, 0x11111111) == OKAY
        assert await write(ctx, axi, 0x4, 0x22222222, w_first=True) == OKAY
        assert await write(ctx, axi, 0x8, 0x33333333, gap=3) == OKAY
        assert await write(ctx, axi, 0xC, 0x44444444, w_first=True, gap=5) == OKAY
        for i, value in enumerate((0x11111111, 0x22222222, 0x33333333, 0x44444444)):
            assert await read(ctx, axi, 4 * i) == (value, OKAY)
        assert ctx.get(dut.writes) == 4
    simulate(bench)


def test_simultaneous_address_and_data():
    async def bench(ctx, dut):
        axi = dut.bridge.axi
        ctx.set(axi.awaddr, 0x8)
        ctx.set(axi.wdata, 0xCAFEF00D)
        ctx.set(axi.wstrb, 0xF)
        ctx.set(axi.awvalid, 1)
        ctx.set(axi.wvalid, 1)
        assert ctx.get(axi.awready) and ctx.get(axi.wready)
        await ctx.tick()
        ctx.set(axi.awvalid, 0)
        ctx.set(axi.wvalid, 0)
        await ctx.tick().until(axi.bvalid)
        ctx.set(axi.bready, 1)
        await ctx.tick()
        ctx.set(axi.bready, 0)
        assert ctx.get(dut.regs[2]) == 0xCAFEF00D
    simulate(bench)


def test_write_response_back_pressure_holds_the_next_write():
    async def bench(ctx, dut):
        axi = dut.bridge.axi
        ctx.set(axi.awaddr, 0x0)
        ctx.set(axi.wdata, 1)
        ctx.set(axi.wstrb, 0xF)
        ctx.set(axi.awvalid, 1)
        ctx.set(axi.wvalid, 1)
        await ctx.tick()
        ctx.set(axi.wdata, 2)
        await ctx.tick().until(axi.bvalid)
        # Second write's channels are accepted, but it must not reach the
        # registers (nor overwrite BRESP) until the first response is taken.
        await ctx.tick().repeat(6)
        ctx.set(axi.awvalid, 0)
        ctx.set(axi.wvalid, 0)
        assert ctx.get(axi.bvalid)
        assert ctx.get(dut.writes) == 1 and ctx.get(dut.regs[0]) == 1
        assert not ctx.get(axi.awready) and not ctx.get(axi.wready)
        ctx.set(axi.bready, 1)
        await ctx.tick()
        ctx.set(axi.bready, 0)
        await ctx.tick().until(axi.bvalid)
        assert ctx.get(dut.writes) == 2 and ctx.get(dut.regs[0]) == 2
        ctx.set(axi.bready, 1)
        await ctx.tick()
        assert not ctx.get(axi.bvalid)
    simulate(bench)


def test_read_data_back_pressure_and_write_read_overlap():
    async def bench(ctx, dut):
        axi = dut.bridge.axi
        assert await write(ctx, axi, 0x4, 0xDEADBEEF, b_wait=4) == OKAY
        assert await read(ctx, axi, 0x4, r_wait=7) == (0xDEADBEEF, OKAY)

        async def writer():
            return await write(ctx, axi, 0x0, 0x5A5A5A5A, gap=2, b_wait=3)
        # A read issued while a write is in flight is answered on its own.
        ctx.set(axi.araddr, 0x4)
        ctx.set(axi.arvalid, 1)
        resp = await writer()
        assert resp == OKAY
        ctx.set(axi.arvalid, 0)
        assert ctx.get(axi.rvalid) and ctx.get(axi.rdata) == 0xDEADBEEF
        ctx.set(axi.rready, 1)
        await ctx.tick()
        ctx.set(axi.rready, 0)
        assert await read(ctx, axi, 0x0) == (0x5A5A5A5A, OKAY)
    simulate(bench)


def test_unmapped_address_answers_slverr():
    async def bench(ctx, dut):
        axi = dut.bridge.axi
        assert await write(ctx, axi, 0x40, 0x1234) == SLVERR
        assert await read(ctx, axi, 0x40) == (0, SLVERR)
        assert await write(ctx, axi, 0x0, 7) == OKAY
        assert await read(ctx, axi, 0x0) == (7, OKAY)
    simulate(bench)


def test_bad_address_width_is_refused():
    import pytest
    with pytest.raises(TypeError, match="Address width"):
        AxiLiteSignature(1)
