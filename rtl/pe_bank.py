"""One PE bank: a lane group's memories and its copy of the accumulate pipeline."""

from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import (LoadWriteLayout, OpLayout, WriteSelectLayout, VALUE_BITS, WEIGHT_BITS)
from .sequencer import Target
from .replica import replica, registered_write
from .bram import ColumnMemory

__all__ = ["PeBank", "bank_layouts"]

#: The memories with a registered read (``ColumnMemory``), which the pipeline's
#: stage timing assumes; ``columns`` only says how each is built.
DEEP_MEMORIES = ("wgt", "mem")

#: Weight block-RAM columns per copy of their addresses (rtl/bram.py).
WEIGHT_ADDR_SHARE = 8


def bank_layouts(config, lanes):
    """Entry layouts of a bank's memories (``lanes`` lanes each)."""
    mem = data.ArrayLayout(signed(config.membrane_bits), lanes)
    acc = data.ArrayLayout(signed(config.acc_bits), lanes)
    return {"par": data.StructLayout({"theta": mem, "bias": acc}),
            "wgt": data.ArrayLayout(signed(WEIGHT_BITS), lanes), "mem": mem, "acc": acc}


class PeBank(wiring.Component):
    """Lanes ``index * lanes`` to ``(index + 1) * lanes - 1`` of position bank
    ``bank``: their membrane and accumulator memories, the same lanes of weight
    bank ``bank``, and the accumulate pipeline that applies the scatter's
    operations to them.

    Each bank has its own copy of the pipeline's control registers, so that its
    block RAMs and lanes can sit together on the die. In stage (cycle) q0 the
    op is in the bank's registers and its weight read is issued; q1: weight out
    of the block RAM (``wgt_rdata``; the array hands back, in ``weights``, the lanes
    of the weight bank the op selected, then registered), target read issued;
    q2: target out, selected into ``base``, product into ``prod``; q3: the add;
    q4: the bank's write registers; q5: the write. Every block-RAM output is
    registered before logic uses it, and every memory port is driven from the
    bank's own registers. An op reads its target word before the four ops ahead
    of it have written theirs, so their sums are forwarded.

    Members
    -------
    op_valid, op : In
        The scatter's operation (its weight address goes straight to the weight
        memory, which registers its own copies); this bank applies it where
        ``op.banks[bank].valid``, at word ``op.banks[bank].m``.
    wgt_rdata : Out
        This bank's weight lanes of the word read (q1).
    weights : In
        The weight lanes the op takes (q1): ``wgt_rdata`` of the weight bank it selected.
    par : In
        The parameter word of the group walked (theta, bias of these lanes).
    target : In(Target)
    wsel : In(WriteSelectLayout)
        Which writer drives each write port, from the phase.
    fire_go, scatter_go : In(1)
        The fire unit owns the read ports from its start to the next scatter's.
    fire_mem_addr : In
        The fire unit's read address.
    exit_phase, exit_addr, result_phase, result_addr : In
        The accumulator read address outside the scatter.
    fire_wr_en, fire_wr_addr, fire_wr_data, exit_wr_en, exit_wr_addr, exit_wr_data : In
        Membrane and accumulator write-backs of the fire and exit units.
    init_valid, init_addr, init_mem_addr : In
        The init walker's word.
    load : In(LoadWriteLayout)
        The model loader's entries (the weight section).
    mem_rdata : Out
        Read data, registered.
    acc_rdata : Out
        Read data.
    busy : Out(1)
        Operations in the pipeline.
    """

    def __init__(self, config, index, lanes, columns=None, bank=0):
        self.config = config
        self.index = index
        self.lanes = lanes
        self.bank = bank
        self.columns = columns or {}
        ma = config.membrane_addr_bits
        lay = bank_layouts(config, lanes)
        super().__init__({
            "op_valid": In(1), "op": In(OpLayout(config)),
            "wgt_rdata": Out(lay["wgt"]), "weights": In(lay["wgt"]), "par": In(lay["par"]),
            "target": In(Target), "wsel": In(WriteSelectLayout),
            "fire_go": In(1), "scatter_go": In(1),
            "fire_mem_addr": In(ma),
            "exit_phase": In(1), "exit_addr": In(ma), "result_phase": In(1), "result_addr": In(ma),
            "fire_wr_en": In(1), "fire_wr_addr": In(ma), "fire_wr_data": In(lay["mem"]),
            "exit_wr_en": In(1), "exit_wr_addr": In(ma), "exit_wr_data": In(lay["acc"]),
            "init_valid": In(1), "init_addr": In(ma), "init_mem_addr": In(ma),
            "load": In(LoadWriteLayout(config)),
            "mem_rdata": Out(lay["mem"]),
            "acc_rdata": Out(lay["acc"]),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        b = self.index
        G = self.lanes
        P = cfg.lanes
        ma = cfg.membrane_addr_bits
        lay = bank_layouts(cfg, G)
        BankMem, BankAcc = lay["mem"], lay["acc"]
        w, r = {}, {}
        for name, depth in (("wgt", cfg.weight_depth), ("mem", cfg.membrane_depth),
                            ("acc", cfg.out_depth)):
            if name in DEEP_MEMORIES:
                # the deep memories are built from block-RAM columns where the plan
                # says so (no multiplexer after them); the weight address comes
                # straight from the scatter
                m.submodules[name] = mem = ColumnMemory(
                    shape=lay[name], depth=depth, columns=self.columns.get(name),
                    addr_share=WEIGHT_ADDR_SHARE if name == "wgt" else None)
                w[name], r[name] = mem.write, mem.read
            else:
                m.submodules[name] = mem = Memory(shape=lay[name], depth=depth, init=[])
                w[name], r[name] = mem.write_port(), mem.read_port()

        entry = self.load.entry
        lane0 = self.bank * P + b * G
        registered_write(m, w["wgt"], self.load.strobe.weight, self.load.index,
                          entry[lane0 * WEIGHT_BITS:(lane0 + G) * WEIGHT_BITS], "wgt")

        # valid bits are reset; the operation's data is not (the reset net stays small)
        Op = data.StructLayout({"m": ma, "value": signed(VALUE_BITS)})
        mine = self.op.banks[self.bank]
        qv = ([replica(m, self.op_valid & mine.valid, "q0v")]
              + [Signal(name=f"q{i}v") for i in range(1, 7)])
        q0 = Signal(Op, name="q0", reset_less=True, attrs={"keep": 1})
        m.d.sync += [q0.m.eq(mine.m), q0.value.eq(self.op.value)]
        q = [q0] + [Signal(Op, name=f"q{i}", reset_less=True) for i in range(1, 7)]
        m.d.sync += [q[i].eq(q[i - 1]) for i in range(1, 7)]
        m.d.sync += [qv[i].eq(qv[i - 1]) for i in range(1, 7)]
        m.d.comb += self.busy.eq(Cat(*qv[:6]).any())
        target = replica(m, self.target, "target", reset_less=True)
        wsel = replica(m, self.wsel, "wsel", reset_less=True)
        fire_rd = Signal(attrs={"keep": 1})
        with m.If(self.fire_go):
            m.d.sync += fire_rd.eq(1)
        with m.Elif(self.scatter_go):
            m.d.sync += fire_rd.eq(0)
        mem_ra = Signal(ma)
        m.d.sync += mem_ra.eq(Mux(fire_rd, self.fire_mem_addr, q0.m))
        m.d.comb += [r["wgt"].addr.eq(self.op.w), r["mem"].addr.eq(mem_ra)]
        with m.If(self.exit_phase):
            m.d.comb += r["acc"].addr.eq(self.exit_addr)
        with m.Elif(self.result_phase):
            m.d.comb += r["acc"].addr.eq(self.result_addr)
        with m.Else():
            m.d.comb += r["acc"].addr.eq(q[1].m)
        mem_q = Signal(BankMem, reset_less=True)
        m.d.sync += mem_q.eq(r["mem"].data)
        m.d.comb += self.mem_rdata.eq(mem_q)
        m.d.comb += self.acc_rdata.eq(r["acc"].data)

        m.d.comb += self.wgt_rdata.eq(r["wgt"].data)
        wq = Signal.like(r["wgt"].data, reset_less=True)
        m.d.sync += wq.eq(self.weights)
        prod = Signal(data.ArrayLayout(signed(WEIGHT_BITS + VALUE_BITS), G), reset_less=True)
        base = Signal(BankAcc, reset_less=True)
        for j in range(G):
            m.d.sync += prod[j].eq(wq[j] * q[2].value)
        with m.If(target == Target.MEM):
            m.d.sync += [base[j].eq(r["mem"].data[j]) for j in range(G)]
        with m.Else():
            m.d.sync += base.eq(r["acc"].data)
        # The forwarding select, one-hot and registered a stage early: the most
        # recent sum to the same word wins, else the word read. The operand is
        # then an AND-OR of five words, not a chain of four multiplexers.
        hits = [qv[k] & (q[2].m == q[k].m) for k in range(3, 7)]
        fwd = Signal(4)
        none = Signal()
        m.d.sync += [fwd.eq(Cat(*(hits[k] & ~Cat(*hits[:k]).any() if k else hits[0]
                                  for k in range(4)))),
                     none.eq(~Cat(*hits).any())]
        sums = [Signal(BankAcc, name=f"sum{k}", reset_less=True) for k in range(4)]
        m.d.sync += [sums[k].eq(sums[k - 1]) for k in range(1, 4)]
        pe_rdata = Signal(BankAcc)
        width = len(base.as_value())
        operand = base.as_value() & none.replicate(width)
        for k in range(4):
            operand = operand | (sums[k].as_value() & fwd[k].replicate(width))
        m.d.comb += pe_rdata.eq(operand)
        m.d.sync += [sums[0][j].eq(pe_rdata[j] + prod[j]) for j in range(G)]

        # the write registers: membranes, accumulators
        mw = Signal(data.StructLayout({"addr": ma, "data": BankMem}), reset_less=True)
        aw = Signal(data.StructLayout({"addr": ma, "data": BankAcc}), reset_less=True)
        mw_en, aw_en = Signal(), Signal()
        init_v = self.init_valid
        m.d.sync += [
            mw_en.eq((wsel.mem_pe & qv[4]) | (wsel.mem_fire & self.fire_wr_en)
                     | (wsel.mem_init & init_v)),
            aw_en.eq((wsel.acc_pe & qv[4]) | (wsel.acc_exit & self.exit_wr_en)
                     | (wsel.acc_init & init_v)),
        ]
        bias = Signal(BankMem)      # the precharge: the bias at membrane width
        m.d.comb += [bias[j].eq(self.par.bias[j]) for j in range(G)]
        with m.If(wsel.mem_pe):
            m.d.sync += [mw.addr.eq(q[4].m), *(mw.data[j].eq(sums[0][j]) for j in range(G))]
        with m.Elif(wsel.mem_fire):
            m.d.sync += [mw.addr.eq(self.fire_wr_addr), mw.data.eq(self.fire_wr_data)]
        with m.Else():
            m.d.sync += [mw.addr.eq(self.init_mem_addr), mw.data.eq(bias)]
        with m.If(wsel.acc_pe):
            m.d.sync += [aw.addr.eq(q[4].m), aw.data.eq(sums[0])]
        with m.Elif(wsel.acc_exit):
            m.d.sync += [aw.addr.eq(self.exit_wr_addr), aw.data.eq(self.exit_wr_data)]
        with m.Else():
            m.d.sync += [aw.addr.eq(self.init_addr), aw.data.eq(0)]
        for port, en, reg in ((w["mem"], mw_en, mw), (w["acc"], aw_en, aw)):
            m.d.comb += [port.en.eq(en), port.addr.eq(reg.addr), port.data.eq(reg.data)]
        return m
