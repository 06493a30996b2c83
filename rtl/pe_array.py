"""The PE array: ``grid x grid`` position banks of P lanes, their memories and pipelines."""

from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import (LoadWriteLayout, OpLayout, ParamLayout, WriteSelectLayout, EventLayout,
                     InputLayout)
from .sequencer import Target
from .const_div import div_const
from .pe_bank import PeBank, bank_layouts
from .replica import registered_write, replica
from .bram import blocks, column_plan

__all__ = ["PeArray", "lane_groups", "MAX_LANE_GROUPS", "MIN_GROUP_LANES"]

#: Each position bank's P lanes are split into up to ``MAX_LANE_GROUPS`` groups
#: of at least ``MIN_GROUP_LANES`` lanes (one at P <= 4, 4 lanes each at
#: P = 16, 8 at P = 32), each a :class:`PeBank`, so that its block RAMs and
#: lanes can sit together on the die. Narrower groups map less tightly to
#: block RAM: P = 32 in groups of 4 lanes does not fit the LFE5U-85F's 208 DP16KD.
MAX_LANE_GROUPS = 4
MIN_GROUP_LANES = 4


def lane_groups(lanes, grid=1):
    """Lane groups per position bank at ``lanes`` lanes: one on a grid, whose
    position banks already split the array (and a whole bank's word maps to
    block RAM more tightly: 15 DP16KD for a 128-bit weight word, 16 as four
    32-bit groups)."""
    if grid > 1:
        return 1
    return max(1, min(MAX_LANE_GROUPS, lanes // MIN_GROUP_LANES))


class PeArray(wiring.Component):
    """Position bank ``n = a * grid + b`` holds the output positions ``(oy, ox)``
    with ``oy mod grid = a``, ``ox mod grid = b`` of a conv layer, the groups
    ``g`` with ``g mod grid^2 = n`` of a flat one (docs/architecture.md). Every
    bank applies its part of each scatter operation in the same cycle, with the
    weight lanes of the weight bank its ``wsel`` names; the parameter memory
    (theta and bias per channel group, P lanes) is shared by all banks.

    Members
    -------
    op_valid, op : In
        The scatter's operation.
    target, wsel, fire_go, scatter_go, fire_mem_addr : In
        As :class:`PeBank`'s, for every bank.
    fire_wr_en : In(banks)
    fire_wr_addr, fire_wr_data : In
        The fire unit's write-back: one address, each bank's lanes.
    init_valid, init_banks, init_addr, init_mem_addr : In
        The init walker's word and the banks it writes.
    exit_phase, exit_group, result_phase, result_group : In
        The output group whose accumulators are read (bank ``g mod grid^2``, word
        ``g div grid^2``).
    exit_wr_en, exit_wr_group, exit_wr_data : In
        The exit unit's write-back of an output group.
    par_start, par_step, pbase : In
        The parameter address register: set to ``pbase``, stepped a group.
    load : In(LoadWriteLayout)
    mem_rdata : Out
        Each bank's membrane word read at ``fire_mem_addr``, registered.
    acc_rdata : Out
        The accumulators of the group read, a cycle after its address.
    par : Out(ParamLayout)
        The parameter word of the group walked.
    busy : Out(1)
        Operations in the pipelines.
    """

    def __init__(self, config):
        self.config = config
        K2 = config.banks
        P = config.lanes
        ma = config.membrane_addr_bits
        lanes = lambda shape: data.ArrayLayout(shape, P)
        super().__init__({
            "op_valid": In(1), "op": In(OpLayout(config)),
            "target": In(Target), "wsel": In(WriteSelectLayout),
            "fire_go": In(1), "scatter_go": In(1), "fire_mem_addr": In(ma),
            "fire_wr_en": In(K2), "fire_wr_addr": In(ma),
            "fire_wr_data": In(data.ArrayLayout(lanes(signed(config.membrane_bits)), K2)),
            "init_valid": In(1), "init_banks": In(K2), "init_addr": In(ma),
            "init_mem_addr": In(ma),
            "exit_phase": In(1), "exit_group": In(ma),
            "result_phase": In(1), "result_group": In(ma),
            "exit_wr_en": In(1), "exit_wr_group": In(ma),
            "exit_wr_data": In(lanes(signed(config.acc_bits))),
            "par_start": In(1), "par_step": In(1), "pbase": In(config.param_addr_bits),
            "load": In(LoadWriteLayout(config)),
            "mem_rdata": Out(data.ArrayLayout(lanes(signed(config.membrane_bits)), K2)),
            "acc_rdata": Out(lanes(signed(config.acc_bits))),
            "par": Out(ParamLayout(config)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        K2 = cfg.banks
        P = cfg.lanes
        B = cfg.membrane_bits
        A = cfg.acc_bits
        NG = lane_groups(P, cfg.grid)
        G = P // NG
        lay = bank_layouts(cfg, G)
        # the deep memories are built from block-RAM columns where the device
        # has the block RAMs for it (rtl/bram.py)
        columns = column_plan({"wgt": (lay["wgt"].size, cfg.weight_depth, K2 * NG),
                               "mem": (lay["mem"].size, cfg.membrane_depth, K2 * NG)},
                              fixed=(blocks(EventLayout(cfg).size, cfg.event_depth)
                                     + blocks(InputLayout(cfg).size, cfg.input_depth)
                                     + NG * blocks(lay["par"].size, cfg.param_depth)))

        # the parameter word of the group walked, for init, fire and exit alike:
        # one register drives each (LUT RAM) memory's address, so no phase mux or
        # adder sits in front of its fan-out
        par = []
        for l in range(NG):
            m.submodules[f"par{l}"] = mem = Memory(shape=lay["par"], depth=cfg.param_depth, init=[])
            wp, rp = mem.write_port(), mem.read_port()
            addr = Signal(cfg.param_addr_bits, name=f"par_addr{l}", attrs={"keep": 1})
            with m.If(self.par_start):
                m.d.sync += addr.eq(self.pbase)
            with m.Elif(self.par_step):
                m.d.sync += addr.eq(addr + 1)
            m.d.comb += rp.addr.eq(addr)
            entry = self.load.entry
            theta_bits = entry[l * G * B:(l + 1) * G * B]
            bias_bits = entry[P * B + l * G * A:P * B + (l + 1) * G * A]
            registered_write(m, wp, self.load.strobe.param, self.load.index,
                             Cat(theta_bits, bias_bits), f"par{l}")
            par.append(rp.data)
            m.d.comb += [self.par.theta.as_value()[l * G * B:(l + 1) * G * B].eq(rp.data.theta),
                         self.par.bias.as_value()[l * G * A:(l + 1) * G * A].eq(rp.data.bias)]

        # an output group's bank and word
        def group_word(g):
            word, bank = div_const(g, K2, len(g))
            return word, bank

        exit_word, exit_bank = group_word(self.exit_group)
        result_word, result_bank = group_word(self.result_group)
        wr_word, wr_bank = group_word(self.exit_wr_group)

        # the weight bank each position bank takes: the op's wsel, delayed to q1
        sel = []
        for n in range(K2):
            s0 = Signal(range(max(K2, 2)), name=f"wsel{n}_q0", reset_less=True)
            s1 = Signal(range(max(K2, 2)), name=f"wsel{n}_q1", reset_less=True)
            m.d.sync += [s0.eq(self.op.banks[n].wsel), s1.eq(s0)]
            sel.append(s1)

        pe = {}
        for n in range(K2):
            for l in range(NG):
                m.submodules[f"pe{n * NG + l}"] = pe[n, l] = PeBank(cfg, l, G, columns, bank=n)
        busy = []
        for (n, l), bank in pe.items():
            weights = Array(pe[wn, l].wgt_rdata for wn in range(K2))
            m.d.comb += [
                bank.op_valid.eq(self.op_valid), bank.op.eq(self.op),
                bank.weights.eq(weights[sel[n]] if K2 > 1 else bank.wgt_rdata),
                bank.par.eq(par[l]),
                bank.target.eq(self.target), bank.wsel.eq(self.wsel),
                bank.fire_go.eq(self.fire_go), bank.scatter_go.eq(self.scatter_go),
                bank.fire_mem_addr.eq(self.fire_mem_addr),
                bank.exit_phase.eq(self.exit_phase), bank.exit_addr.eq(exit_word),
                bank.result_phase.eq(self.result_phase), bank.result_addr.eq(result_word),
                bank.fire_wr_en.eq(self.fire_wr_en[n]), bank.fire_wr_addr.eq(self.fire_wr_addr),
                bank.fire_wr_data.eq(self.fire_wr_data[n].as_value()[l * G * B:(l + 1) * G * B]),
                bank.exit_wr_en.eq(self.exit_wr_en & (wr_bank == n)),
                bank.exit_wr_addr.eq(wr_word),
                bank.exit_wr_data.eq(self.exit_wr_data.as_value()[l * G * A:(l + 1) * G * A]),
                bank.init_valid.eq(self.init_valid & self.init_banks[n]),
                bank.init_addr.eq(self.init_addr), bank.init_mem_addr.eq(self.init_mem_addr),
                bank.load.eq(self.load),
                self.mem_rdata[n].as_value()[l * G * B:(l + 1) * G * B].eq(bank.mem_rdata),
            ]
            busy.append(bank.busy)
        # the output word read: each lane selects its bank with its own copy of
        # the bank number (one register driving every lane's mux sat across the die)
        accs = [Cat(*(pe[n, l].acc_rdata for l in range(NG))) for n in range(K2)]
        read_bank = Mux(self.exit_phase, exit_bank, result_bank)
        for i in range(P):
            word = [acc[i * A:(i + 1) * A] for acc in accs]
            if K2 > 1:
                word = Array(word)[replica(m, read_bank, f"read_bank{i}", reset_less=True)]
            else:
                word = word[0]
            m.d.comb += self.acc_rdata[i].eq(word)
        m.d.comb += self.busy.eq(Cat(*busy).any())
        return m
