"""The AXI wrapper's registers and streams in Amaranth's simulator, around the
stand-in core (whose behaviour is known exactly)."""

from amaranth.sim import Simulator

from atsnn.rtl.axi_lite import OKAY, SLVERR
from atsnn.rtl.config import HwConfig
from atsnn.rtl.top import (CTRL_CLEAR_COUNTERS, CTRL_SOFT_RESET, ERROR_BITS, ID_VALUE, REGS,
                           STATUS_BUSY, STATUS_LOADED, TAU_ENABLE_BASE, TAU_VALUE_BASE,
                           VERSION_VALUE, AtsnnTop, config_words)
from atsnn.tb.amaranth_axi import (axil_ports, axil_read, axil_write, axis_ports,
                                   stream_get_packet, stream_put)
from atsnn.tb.standin import StandInCore, standin_result

CONFIG = HwConfig(lanes=4, membrane_bits=12, acc_bits=20, t_max=4, weight_depth=100)


def simulate(bench):
    top = AtsnnTop(CONFIG, core=StandInCore(CONFIG))
    axi = axil_ports(top)
    sim = Simulator(top)
    sim.add_clock(1e-8)

    async def testbench(ctx):
        await bench(ctx, top, axi)
    sim.add_testbench(testbench)
    sim.run()


async def reg(ctx, axi, name):
    data, resp = await axil_read(ctx, axi, REGS[name])
    assert resp == OKAY, name
    return data


async def run_image(ctx, top, words):
    await stream_put(ctx, axis_ports(top, "s_axis_image"), words)
    return await stream_get_packet(ctx, axis_ports(top, "m_axis_result"))


def test_identity_and_config_readback():
    async def bench(ctx, top, axi):
        assert await reg(ctx, axi, "ID") == ID_VALUE
        assert await reg(ctx, axi, "VERSION") == VERSION_VALUE
        assert await reg(ctx, axi, "CFG_LANES") == 4
        assert await reg(ctx, axi, "CFG_BITS") == 12 | 20 << 8 | 8 << 16
        assert await reg(ctx, axi, "CFG_T_MAX") == 4 | CONFIG.max_layers << 8
        assert await reg(ctx, axi, "CFG_WEIGHT_DEPTH") == 100
        for name, value in config_words(CONFIG).items():
            assert await reg(ctx, axi, name) == value
    simulate(bench)


def test_read_only_and_unmapped_registers_answer_slverr():
    async def bench(ctx, top, axi):
        assert await axil_write(ctx, axi, REGS["ID"], 5) == SLVERR
        assert await axil_write(ctx, axi, REGS["CYCLES_LAST"], 5) == SLVERR
        assert await axil_write(ctx, axi, 0x0F0, 5) == SLVERR
        assert await axil_read(ctx, axi, 0x0F0) == (0, SLVERR)
        # tau table only as deep as t_max
        assert await axil_read(ctx, axi, TAU_VALUE_BASE + 4 * CONFIG.t_max) == (0, SLVERR)
        assert await axil_write(ctx, axi, TAU_ENABLE_BASE + 4 * CONFIG.t_max, 1) == SLVERR
        assert await reg(ctx, axi, "ID") == ID_VALUE
    simulate(bench)


def test_load_run_counters_and_clear():
    async def bench(ctx, top, axi):
        assert await reg(ctx, axi, "STATUS") == 0
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [3, 7, 8, 9])
        assert await reg(ctx, axi, "STATUS") == STATUS_LOADED
        images = [[1, 2, 3], [0x10, 0x0F], [5]]
        for words in images:
            expect, busy = standin_result(words)
            assert await run_image(ctx, top, words) == expect
            assert await reg(ctx, axi, "CYCLES_LAST") == busy
        assert await reg(ctx, axi, "IMAGES_DONE") == 3
        assert await reg(ctx, axi, "SOPS_LO") == 6 + 0x1F + 5
        assert await reg(ctx, axi, "SOPS_HI") == 0
        assert await reg(ctx, axi, "SPIKES_LO") == 6
        assert await axil_write(ctx, axi, REGS["CTRL"], CTRL_CLEAR_COUNTERS) == OKAY
        assert await reg(ctx, axi, "IMAGES_DONE") == 0
        assert await reg(ctx, axi, "SOPS_LO") == 0
        assert await reg(ctx, axi, "SPIKES_LO") == 0
        assert await reg(ctx, axi, "STATUS") == STATUS_LOADED, "clearing counters keeps the model"
        assert await run_image(ctx, top, [4, 4]) == [8, 2]
        assert await reg(ctx, axi, "IMAGES_DONE") == 1
        assert await reg(ctx, axi, "SOPS_LO") == 8
    simulate(bench)


def test_clear_counters_ignores_masked_bytes():
    async def bench(ctx, top, axi):
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [0])
        await run_image(ctx, top, [1])
        assert await axil_write(ctx, axi, REGS["CTRL"], CTRL_CLEAR_COUNTERS, strb=0b0010) == OKAY
        assert await reg(ctx, axi, "IMAGES_DONE") == 1
    simulate(bench)


def test_busy_while_an_image_is_in_flight():
    async def bench(ctx, top, axi):
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [0])
        await stream_put(ctx, axis_ports(top, "s_axis_image"), [15])  # 15 busy cycles, a result
        assert await reg(ctx, axi, "STATUS") == STATUS_LOADED | STATUS_BUSY
        assert await stream_get_packet(ctx, axis_ports(top, "m_axis_result")) == [15, 1]
        assert await reg(ctx, axi, "STATUS") == STATUS_LOADED
    simulate(bench)


def test_errors_live_in_status_and_sticky_until_cleared():
    bit = ERROR_BITS["bad_load_length"]

    async def bench(ctx, top, axi):
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [3, 1])
        assert await reg(ctx, axi, "STATUS") == bit
        assert await reg(ctx, axi, "ERRORS") == bit
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [1, 1])
        assert await reg(ctx, axi, "STATUS") == STATUS_LOADED, "a good load clears live flags"
        assert await reg(ctx, axi, "ERRORS") == bit, "sticky copy survives the load"
        assert await axil_write(ctx, axi, REGS["ERRORS"], ERROR_BITS["bad_image"]) == OKAY
        assert await reg(ctx, axi, "ERRORS") == bit, "W1C clears only the written bits"
        assert await axil_write(ctx, axi, REGS["ERRORS"], bit) == OKAY
        assert await reg(ctx, axi, "ERRORS") == 0
    simulate(bench)


def test_soft_reset_aborts_an_image_and_unloads():
    async def bench(ctx, top, axi):
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [0])
        await run_image(ctx, top, [1])
        assert await axil_write(ctx, axi, REGS["CTRL"], CTRL_CLEAR_COUNTERS) == OKAY
        await stream_put(ctx, axis_ports(top, "s_axis_image"), [14])
        assert await reg(ctx, axi, "STATUS") == STATUS_LOADED | STATUS_BUSY
        assert await axil_write(ctx, axi, REGS["CTRL"], CTRL_SOFT_RESET) == OKAY
        assert await reg(ctx, axi, "STATUS") == 0
        assert await reg(ctx, axi, "IMAGES_DONE") == 0
        for _ in range(20):
            await ctx.tick()
            assert not ctx.get(top.m_axis_result_tvalid), "aborted image produced a result"
        await stream_put(ctx, axis_ports(top, "s_axis_load"), [0])
        assert await run_image(ctx, top, [2, 3]) == [5, 2]
        assert await reg(ctx, axi, "IMAGES_DONE") == 1
    simulate(bench)


def test_tau_override_value_enable_and_byte_strobes():
    async def bench(ctx, top, axi):
        t2 = TAU_VALUE_BASE + 8
        e2 = TAU_ENABLE_BASE + 8
        assert await axil_write(ctx, axi, t2, 0xFFFFFFF6) == OKAY   # -10
        assert await axil_read(ctx, axi, t2) == (0xFFFFFFF6, OKAY)
        assert await axil_read(ctx, axi, e2) == (0, OKAY), "writing a value keeps the enable"
        assert await axil_write(ctx, axi, e2, 1) == OKAY
        assert await axil_read(ctx, axi, e2) == (1, OKAY)
        assert await axil_read(ctx, axi, t2) == (0xFFFFFFF6, OKAY), "enable keeps the value"
        assert await axil_write(ctx, axi, t2, 0x00000700, strb=0b0010) == OKAY
        assert await axil_read(ctx, axi, t2) == (0xFFFF07F6, OKAY)
        assert await axil_write(ctx, axi, TAU_VALUE_BASE, 12) == OKAY
        assert await axil_read(ctx, axi, t2) == (0xFFFF07F6, OKAY), "entries are independent"
        assert await axil_read(ctx, axi, TAU_VALUE_BASE) == (12, OKAY)
        assert await axil_write(ctx, axi, e2, 0) == OKAY
        assert await axil_read(ctx, axi, e2) == (0, OKAY)
    simulate(bench)
