"""The FPGA-facing top level: the accelerator core behind AXI4-Lite registers and
AXI4-Stream ports.

Port names are flat AXI names (``s_axil_awaddr``, ``s_axis_image_tdata``,
``m_axis_result_tlast``, ...) so vendor tools and bus models recognise them;
``clk`` and ``rst`` (synchronous, active high) come from the sync domain. The
register map is documented in ``docs/rtl.md`` and mirrored by :data:`REGS`.
"""

from amaranth import *
from amaranth.hdl import ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi_lite import AxiLiteSignature, AxiLiteSlave
from .config import WEIGHT_BITS, HwConfig

__all__ = ["AtsnnTop", "REGS", "ADDR_WIDTH", "ID_VALUE", "VERSION_VALUE",
           "CTRL_SOFT_RESET", "CTRL_CLEAR_COUNTERS", "STATUS_LOADED", "STATUS_BUSY",
           "ERROR_BITS", "TAU_VALUE_BASE", "TAU_ENABLE_BASE"]

ADDR_WIDTH = 12
ID_VALUE = 0x4154534E           # "ATSN"
VERSION_VALUE = (1 << 16) | 2   # contract version 1, register map revision 2 (no CFG_I0_DEPTH)

#: Byte addresses of the single registers.
REGS = {
    "ID": 0x000,
    "VERSION": 0x004,
    "CFG_LANES": 0x008,
    "CFG_BITS": 0x00C,
    "CFG_T_MAX": 0x010,
    "CFG_WEIGHT_DEPTH": 0x014,
    "CFG_MEMBRANE_DEPTH": 0x018,
    "CFG_EVENT_DEPTH": 0x01C,
    "CFG_INPUT_DEPTH": 0x020,
    "CFG_PARAM_DEPTH": 0x028,
    "CFG_OUT_DEPTH": 0x02C,
    "CTRL": 0x040,
    "STATUS": 0x044,
    "ERRORS": 0x048,
    "CYCLES_LAST": 0x050,
    "IMAGES_DONE": 0x054,
    "SOPS_LO": 0x058,
    "SOPS_HI": 0x05C,
    "SPIKES_LO": 0x060,
    "SPIKES_HI": 0x064,
    "CFG_PORT": 0x068,      # bit 0: weight port; bit 1: membrane swap; bits 8..15: bytes per beat
    "DRAM_BASE": 0x06C,     # weight port: DRAM byte address of the tiles (read/write)
}
TAU_VALUE_BASE = 0x400    # + 4 * i: tau[i], signed
TAU_ENABLE_BASE = 0x800   # + 4 * i: bit 0 enables tau[i]

CTRL_SOFT_RESET = 1 << 0
CTRL_CLEAR_COUNTERS = 1 << 1
STATUS_LOADED = 1 << 0
STATUS_BUSY = 1 << 1
#: Error flag bits, in STATUS (live, cleared by the next load) and ERRORS (sticky, W1C).
ERROR_BITS = {"bad_load_length": 1 << 8, "bad_descriptor": 1 << 9, "bad_image": 1 << 10,
              "bad_memory": 1 << 11}

_STREAMS = (("s_axis_load", In), ("s_axis_image", In), ("m_axis_result", Out))


#: The weight port's AXI4 master at the top (``m_axi_*``): the core's channels
#: (AR and R; with ``membrane_swap`` also AW, W and B), and IDs (always 0) for
#: the interconnect.


def _axi_ports(config):
    ports = {}
    for name, member in AxiLiteSignature(ADDR_WIDTH).flip().members.items():
        ports[f"s_axil_{name}"] = member
    for prefix, direction in _STREAMS:
        back = Out if direction is In else In
        ports[f"{prefix}_tdata"] = direction(32)
        ports[f"{prefix}_tlast"] = direction(1)
        ports[f"{prefix}_tvalid"] = direction(1)
        ports[f"{prefix}_tready"] = back(1)
    if config.weight_port:
        from .axi4 import axi4_signature
        for name, member in axi4_signature(config).members.items():
            ports[f"m_axi_{name}"] = member
        ports["m_axi_arid"] = Out(1)
        ports["m_axi_rid"] = In(1)
        if config.membrane_swap:
            ports["m_axi_awid"] = Out(1)
            ports["m_axi_bid"] = In(1)
    return ports


def config_words(config):
    """Register values of the configuration readback block, by register name."""
    return {
        "CFG_LANES": config.lanes,
        "CFG_BITS": config.membrane_bits | config.acc_bits << 8 | WEIGHT_BITS << 16,
        "CFG_T_MAX": config.t_max | config.max_layers << 8,
        "CFG_WEIGHT_DEPTH": config.weight_depth,
        "CFG_MEMBRANE_DEPTH": config.membrane_depth,
        "CFG_EVENT_DEPTH": config.event_depth,
        "CFG_INPUT_DEPTH": config.input_depth,
        "CFG_PARAM_DEPTH": config.param_depth,
        "CFG_OUT_DEPTH": config.out_depth,
        "CFG_PORT": (int(config.weight_port) | int(config.membrane_swap) << 1
                     | (config.axi_bytes if config.weight_port else 0) << 8),
    }


class AtsnnTop(wiring.Component):
    """Wrap the accelerator core for a host: AXI4-Lite control, AXI4-Stream data.

    Parameters
    ----------
    config : HwConfig
        Elaboration parameters of the core.
    core : wiring.Component, optional
        A core with :class:`atsnn.rtl.core.Accelerator`'s members (tests pass a
        stand-in); by default ``Accelerator(config)``.

    Members
    -------
    s_axil_* : AXI4-Lite slave (12-bit byte addresses, 32-bit data)
        The registers of ``docs/rtl.md``.
    s_axis_load_* : AXI4-Stream slave (``tdata`` 32, ``tlast``)
        Model load words; ``tlast`` on the last word.
    s_axis_image_* : AXI4-Stream slave
        Image words; ``tlast`` on the last word of each image.
    m_axis_result_* : AXI4-Stream master
        Result words; ``tlast`` on the last word of each result.
    m_axi_ar*, m_axi_r* : AXI4 read master (with ``config.weight_port``)
        The weight tiles (docs/integration.md); ``DRAM_BASE`` says where they are.
    """

    def __init__(self, config=None, *, core=None):
        if config is None:
            config = HwConfig()
        if not isinstance(config, HwConfig):
            raise TypeError(f"Config must be a HwConfig, not {config!r}")
        if core is None:
            from .core import Accelerator
            core = Accelerator(config)
        self.config = config
        self.core = core
        super().__init__(_axi_ports(config))

    def elaborate(self, platform):
        m = Module()
        config, core = self.config, self.core

        soft_reset = Signal()
        want_reset = Signal()       # CTRL.SOFT_RESET written
        m.d.sync += soft_reset.eq(0)
        m.submodules.core = ResetInserter(soft_reset)(core)
        m.submodules.bridge = bridge = AxiLiteSlave(ADDR_WIDTH)

        for name in bridge.axi.signature.members:
            port = getattr(self, f"s_axil_{name}")
            inner = getattr(bridge.axi, name)
            if bridge.axi.signature.members[name].flow == In:
                m.d.comb += inner.eq(port)
            else:
                m.d.comb += port.eq(inner)

        # While the core is in reset no handshake may complete outside; inside,
        # the reset discards whatever the handshake signals would have done, so
        # they go in ungated (soft_reset stays off the core's input logic).
        for prefix, stream_ in (("s_axis_load", core.load), ("s_axis_image", core.image)):
            m.d.comb += [
                stream_.payload.data.eq(getattr(self, f"{prefix}_tdata")),
                stream_.payload.last.eq(getattr(self, f"{prefix}_tlast")),
                stream_.valid.eq(getattr(self, f"{prefix}_tvalid")),
                getattr(self, f"{prefix}_tready").eq(stream_.ready & ~soft_reset),
            ]
        m.d.comb += [
            self.m_axis_result_tdata.eq(core.result.payload.data),
            self.m_axis_result_tlast.eq(core.result.payload.last),
            self.m_axis_result_tvalid.eq(core.result.valid & ~soft_reset),
            core.result.ready.eq(self.m_axis_result_tready),
        ]

        dram_base = Signal(32)
        if config.weight_port:
            self._weight_port(m, core, soft_reset, dram_base)
        if config.membrane_swap:
            self._deferred_reset(m, core, soft_reset, want_reset)
        else:
            with m.If(want_reset):
                m.d.sync += soft_reset.eq(1)

        errors = Signal(len(ERROR_BITS))
        m.d.comb += errors.eq(Cat(*(getattr(core.errors, name) for name in ERROR_BITS)))
        sticky = Signal(len(ERROR_BITS))
        m.d.sync += sticky.eq(sticky | errors)

        # Counters since the last CLEAR_COUNTERS: the core counts since reset.
        images_base = Signal(32)
        sops_base = Signal(64)
        spikes_base = Signal(64)
        images = Signal(32)
        sops = Signal(64)
        spikes = Signal(64)
        m.d.comb += [
            images.eq(core.images_done - images_base),
            sops.eq(core.sops - sops_base),
            spikes.eq(core.spikes - spikes_base),
        ]
        with m.If(soft_reset):
            m.d.sync += [images_base.eq(0), sops_base.eq(0), spikes_base.eq(0)]
        hi_shadow = Signal(32)

        regs = bridge.regs
        mask = Signal(32)
        m.d.comb += mask.eq(Cat(regs.w_strb[i].replicate(8) for i in range(4)))
        w_data = Signal(32)
        m.d.comb += w_data.eq(regs.w_data & mask)

        tau_count = config.t_max
        tau_value_w = (regs.w_addr >= TAU_VALUE_BASE) & (regs.w_addr < TAU_VALUE_BASE + 4 * tau_count)
        tau_enable_w = (regs.w_addr >= TAU_ENABLE_BASE) & (regs.w_addr < TAU_ENABLE_BASE + 4 * tau_count)
        tau_value_r = (regs.r_addr >= TAU_VALUE_BASE) & (regs.r_addr < TAU_VALUE_BASE + 4 * tau_count)
        tau_enable_r = (regs.r_addr >= TAU_ENABLE_BASE) & (regs.r_addr < TAU_ENABLE_BASE + 4 * tau_count)
        tau_index_w = regs.w_addr[2:10]
        tau_index_r = regs.r_addr[2:10]

        with m.If(regs.w_stb):
            m.d.comb += core.tau_addr.eq(tau_index_w)
        with m.Else():
            m.d.comb += core.tau_addr.eq(tau_index_r)

        # Writes.
        m.d.comb += regs.w_err.eq(1)
        with m.Switch(regs.w_addr[2:]):
            with m.Case(REGS["CTRL"] >> 2):
                m.d.comb += regs.w_err.eq(0)
                with m.If(regs.w_stb & (w_data & CTRL_SOFT_RESET).any()):
                    m.d.comb += want_reset.eq(1)
                with m.If(regs.w_stb & (w_data & CTRL_CLEAR_COUNTERS).any()):
                    m.d.sync += [
                        images_base.eq(core.images_done),
                        sops_base.eq(core.sops),
                        spikes_base.eq(core.spikes),
                    ]
            if config.weight_port:
                with m.Case(REGS["DRAM_BASE"] >> 2):
                    m.d.comb += regs.w_err.eq(0)
                    with m.If(regs.w_stb):
                        m.d.sync += dram_base.eq((dram_base & ~mask) | w_data)
            with m.Case(REGS["ERRORS"] >> 2):
                m.d.comb += regs.w_err.eq(0)
                with m.If(regs.w_stb):
                    m.d.sync += sticky.eq((sticky & ~(w_data >> 8)[:len(ERROR_BITS)]) | errors)
            with m.Default():
                with m.If(tau_value_w | tau_enable_w):
                    m.d.comb += regs.w_err.eq(0)
        with m.If(regs.w_stb & tau_value_w):
            m.d.comb += [
                core.tau_we.eq(1),
                core.tau_data.eq((core.tau_rdata & ~mask) | w_data),
                core.tau_enable.eq(core.tau_renable),
            ]
        with m.If(regs.w_stb & tau_enable_w):
            m.d.comb += [
                core.tau_we.eq(1),
                core.tau_data.eq(core.tau_rdata),
                core.tau_enable.eq(Mux(regs.w_strb[0], regs.w_data[0], core.tau_renable)),
            ]

        # Reads.
        status = Cat(core.loaded, core.busy, C(0, 6), errors)
        read_values = {
            "ID": ID_VALUE,
            "VERSION": VERSION_VALUE,
            **config_words(config),
            "CTRL": 0,
            "STATUS": status,
            "ERRORS": Cat(C(0, 8), sticky),
            "CYCLES_LAST": core.cycles,
            "IMAGES_DONE": images,
            "SOPS_LO": sops[:32],
            "SOPS_HI": hi_shadow,
            "SPIKES_LO": spikes[:32],
            "SPIKES_HI": hi_shadow,
            **({"DRAM_BASE": dram_base} if config.weight_port else {}),
        }
        with m.Switch(regs.r_addr[2:]):
            for name, value in read_values.items():
                with m.Case(REGS[name] >> 2):
                    m.d.comb += regs.r_data.eq(value)
            with m.Default():
                with m.If(tau_value_r):
                    m.d.comb += regs.r_data.eq(core.tau_rdata)
                with m.Elif(tau_enable_r):
                    m.d.comb += regs.r_data.eq(core.tau_renable)
                with m.Else():
                    m.d.comb += regs.r_err.eq(1)
        # Reading a low half latches the high half, so a 64-bit counter reads whole.
        with m.If(regs.r_stb & (regs.r_addr[2:] == REGS["SOPS_LO"] >> 2)):
            m.d.sync += hi_shadow.eq(sops[32:])
        with m.If(regs.r_stb & (regs.r_addr[2:] == REGS["SPIKES_LO"] >> 2)):
            m.d.sync += hi_shadow.eq(spikes[32:])

        return m

    def _weight_port(self, m, core, soft_reset, dram_base):
        """Connect the core's AXI4 read master. A soft reset can come with bursts
        in flight, which the reset core no longer expects: they are counted
        here (outside the reset) and their beats swallowed, with new ARs held,
        until the last of them has ended."""
        from .config import MAX_BURSTS
        mem = core.mem
        for name in mem.signature.members:
            top, inner = getattr(self, f"m_axi_{name}"), getattr(mem, name)
            if mem.signature.members[name].flow == Out:
                m.d.comb += top.eq(inner)
            else:
                m.d.comb += inner.eq(top)
        owned = Signal(range(MAX_BURSTS + 1))         # the core's bursts in flight
        drain = Signal(range(2 * MAX_BURSTS + 1))     # bursts left to swallow
        swallow = drain != 0
        ar = self.m_axi_arvalid & self.m_axi_arready
        end = self.m_axi_rvalid & self.m_axi_rready & self.m_axi_rlast
        m.d.comb += core.dram_base.eq(dram_base)
        with m.If(swallow):
            m.d.comb += [self.m_axi_arvalid.eq(0), mem.arready.eq(0),
                         self.m_axi_rready.eq(1), mem.rvalid.eq(0)]
        left = owned + ar - (end & ~swallow)
        with m.If(soft_reset):
            m.d.sync += [owned.eq(0), drain.eq(drain + left - (end & swallow))]
        with m.Else():
            m.d.sync += [owned.eq(left), drain.eq(drain - (end & swallow))]

    def _deferred_reset(self, m, core, soft_reset, want_reset):
        """With off-chip membranes, a soft reset waits until no membrane write is
        outstanding (every burst announced has its beats and its B): a swap out
        always ends, and AXI has no way to take back a burst announced."""
        beats = Signal(24)      # announced on AW, not yet sent on W
        answers = Signal(16)    # announced, not yet answered on B
        pending = Signal()
        aw = self.m_axi_awvalid & self.m_axi_awready
        w = self.m_axi_wvalid & self.m_axi_wready
        b = self.m_axi_bvalid & self.m_axi_bready
        m.d.sync += [beats.eq(beats + Mux(aw, self.m_axi_awlen + 1, 0) - w),
                     answers.eq(answers + aw - b)]
        quiet = (beats == 0) & (answers == 0) & ~self.m_axi_awvalid
        with m.If(want_reset | pending):
            with m.If(quiet):
                m.d.sync += [soft_reset.eq(1), pending.eq(0)]
            with m.Else():
                m.d.sync += pending.eq(1)
