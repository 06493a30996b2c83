"""Early-exit controller: U update and a pipelined top-1 / top-2 search."""

from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, ParamLayout

__all__ = ["ExitUnit"]


class ExitUnit(wiring.Component):
    """Read the output accumulators, add the bias (``U[t] = acc + b``), write U
    back, and find top-1 (lowest index on ties) and top-2 of U.

    The lane tree has two register levels per halving (compare, then select) and
    takes a word every other cycle whatever the lane count; ``done`` rises a
    fixed number of cycles after the last word.

    Members
    -------
    start : In(1)
    done : Out(1)
        High once the search is complete, until the next start.
    top1, top2 : Out(signed(acc_bits + 1))
    index : Out(16)
        Index of top-1.
    margin : Out(signed(acc_bits + 2))
        ``top1 - top2``, registered, valid with ``done``.
    acc_addr : Out
    next_group : Out(1)
        Pulse: the next cycle reads the next group; the core steps its
        parameter address register (``pbase + g``) on it.
    acc_rdata, par_rdata : In
        Read data, a cycle after the address.
    wr_en, wr_addr, wr_data : Out
    """

    def __init__(self, config):
        self.config = config
        P = config.lanes
        A = config.acc_bits
        ma = config.membrane_addr_bits
        super().__init__({
            "start": In(1), "done": Out(1),
            "groups": In(DIM_BITS), "lanes_last": In(config.lane_bits + 1),
            "acc_addr": Out(ma), "next_group": Out(1),
            "acc_rdata": In(data.ArrayLayout(signed(A), P)),
            "par_rdata": In(ParamLayout(config)),
            "wr_en": Out(1), "wr_addr": Out(ma), "wr_data": Out(data.ArrayLayout(signed(A), P)),
            "top1": Out(signed(A + 1)), "top2": Out(signed(A + 1)), "index": Out(16),
            "margin": Out(signed(A + 2)),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        P = config.lanes
        A = config.acc_bits
        LB = config.lane_bits
        NEG = -(1 << A)         # below every A-bit value: an empty slot

        # Words are read every other cycle: the running merge across words then
        # has two cycles, a registered compare and a select.
        run = Signal()
        half = Signal()
        g = Signal(DIM_BITS)
        last_g = Signal()
        m.d.comb += [last_g.eq(g == self.groups - 1), self.acc_addr.eq(g)]
        with m.If(self.start):
            m.d.sync += [run.eq(1), half.eq(0), g.eq(0)]
        with m.Elif(run):
            m.d.sync += half.eq(~half)
            with m.If(half):
                m.d.comb += self.next_group.eq(1)
                m.d.sync += g.eq(g + 1)
                with m.If(last_g):
                    m.d.sync += run.eq(0)

        v0 = Signal()
        g0 = Signal(DIM_BITS)
        lanes0 = Signal(P)
        last0 = Signal()
        m.d.sync += [v0.eq(run & ~half), g0.eq(g), last0.eq(last_g & run),
                     lanes0.eq(Mux(last_g, (C(1, P + 1) << self.lanes_last) - 1, (1 << P) - 1))]
        m.d.comb += [self.wr_en.eq(v0), self.wr_addr.eq(g0)]
        u = Signal(data.ArrayLayout(signed(A), P))
        for i in range(P):
            m.d.comb += [u[i].eq(self.acc_rdata[i] + self.par_rdata.bias[i]),
                         self.wr_data[i].eq(u[i])]

        Node = data.StructLayout({"t1": signed(A + 1), "i1": 16, "t2": signed(A + 1)})

        def compare(x, y):
            """The three comparisons of a merge, registered (x covers lower indices)."""
            c = Signal(3, reset_less=True)
            m.d.sync += c.eq(Cat(x.t1 >= y.t1, x.t2 >= y.t1, x.t1 >= y.t2))
            return c

        def select(c, x, y):
            """x wins ties."""
            out = Signal(Node, reset_less=True)
            with m.If(c[0]):
                m.d.comb += [out.t1.eq(x.t1), out.i1.eq(x.i1),
                             out.t2.eq(Mux(c[1], x.t2, y.t1))]
            with m.Else():
                m.d.comb += [out.t1.eq(y.t1), out.i1.eq(y.i1),
                             out.t2.eq(Mux(c[2], x.t1, y.t2))]
            return out

        def delay(sig):
            reg = Signal.like(sig)
            m.d.sync += reg.eq(sig)
            return reg

        level = []
        for i in range(P):
            leaf = Signal(Node, reset_less=True)
            m.d.sync += [leaf.t1.eq(Mux(lanes0[i], u[i], NEG)),
                         leaf.i1.eq(Cat(C(i, LB), g0) if LB else g0), leaf.t2.eq(NEG)]
            level.append(leaf)
        valid = delay(v0)
        last = delay(last0)
        while len(level) > 1:
            nxt = []
            for j in range(0, len(level), 2):
                c = compare(level[j], level[j + 1])
                nxt.append(delay(select(c, delay(level[j]), delay(level[j + 1]))))
            valid, last, level = delay(delay(valid)), delay(delay(last)), nxt

        for _ in range(2 * (5 - config.lane_bits)):   # same latency for every lane count
            valid, last, level = delay(valid), delay(last), [delay(level[0])]

        best = Signal(Node)
        first = Signal()
        finished = Signal()
        c = compare(best, level[0])
        word = delay(level[0])
        r_valid = delay(valid)
        r_last = delay(last)
        r_first = Signal()
        merged = select(c, best, word)
        with m.If(self.start):
            m.d.sync += [first.eq(1), finished.eq(0)]
        with m.Else():
            with m.If(valid):
                m.d.sync += [first.eq(0), r_first.eq(first)]
            with m.If(r_valid):
                m.d.sync += [best.eq(Mux(r_first, word, merged)), finished.eq(r_last)]
        # done a cycle after the search finishes, with the margin registered
        finished_q = Signal()
        m.d.sync += [finished_q.eq(finished & ~self.start), self.margin.eq(best.t1 - best.t2)]
        m.d.comb += [self.done.eq(finished_q & ~self.start), self.top1.eq(best.t1),
                     self.top2.eq(best.t2), self.index.eq(best.i1)]
        return m
