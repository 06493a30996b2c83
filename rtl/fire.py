"""LIF fire unit: one membrane word per cycle, spikes, reset, precharge, fused max-pool."""

from amaranth.hdl import *
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, DescriptorLayout, EventLayout, ParamLayout
from .replica import replica

__all__ = ["FireUnit"]


def _popcount(value):
    return sum(value[i] for i in range(len(value)))


class FireUnit(wiring.Component):
    """Walk a layer's membrane words window by window and fire them.

    For every word: ``V_pre = V`` (the precharge plus the step's scattered
    current), spike where ``V_pre >= theta``, reset, write back ``L(V) + b`` (the
    precharge of the next timestep). With a pool kernel ``k > 1`` the
    words of each ``k x k`` window are walked together and one event with the OR
    of their masks is emitted per pooled position; else one event per word.
    Only non-empty masks make events.

    The memories belong to the core: this unit gives the membrane address of
    the next cycle's read (the core registers it) and takes its data two
    cycles after that (the core registers block-RAM outputs). The parameter word of group ``g`` is read at
    the core's own address register (``pbase + g``, stepped by ``next_group``)
    and arrives a cycle after it.

    Members
    -------
    start : In(1)
        Pulse: begin walking ``layer``.
    layer : In(DescriptorLayout)
        The layer walked; held from start to done.
    done : Out(1)
        Registered: high from the second cycle after the last write up to and
        including the cycle of the next start.
    mem_addr : Out
        The membrane read address for the next cycle, not registered.
    next_group : Out(1)
        Registered pulse: the read addresses move to the next group (parameter
        word) next cycle.
    mem_rdata, par_rdata : In
    wr_en, wr_addr, wr_data : Out
        Membrane write-back.
    events : Out(stream.Signature(EventLayout, always_ready=True))
        The pass's events, registered (the core keeps the event memory's address).
    spikes, pooled : Out
        Spikes fired and pooled spikes emitted, registered: the counts of the
        previous cycle's stage 2.
    event_count : Out(16)
        Events emitted so far in this pass.
    """

    def __init__(self, config):
        self.config = config
        P = config.lanes
        B = config.membrane_bits
        ma = config.membrane_addr_bits
        super().__init__({
            "start": In(1), "done": Out(1),
            "layer": In(DescriptorLayout(config)),
            "mem_addr": Out(ma), "next_group": Out(1),
            "mem_rdata": In(data.ArrayLayout(signed(B), P)),
            "par_rdata": In(ParamLayout(config)),
            "wr_en": Out(1), "wr_addr": Out(ma), "wr_data": Out(data.ArrayLayout(signed(B), P)),
            "events": Out(stream.Signature(EventLayout(config), always_ready=True)),
            "spikes": Out(range(P + 1)), "pooled": Out(range(P + 1)),
            "event_count": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        P = config.lanes
        B = config.membrane_bits
        ma = config.membrane_addr_bits
        d = self.layer

        # --- address walker: g, py, px, dy, dx ---
        run = Signal()
        g = Signal(DIM_BITS)
        py = Signal(DIM_BITS)
        px = Signal(DIM_BITS)
        dy = Signal(4)
        dx = Signal(4)
        a_g = Signal(ma)
        a_row = Signal(ma)
        a_win = Signal(ma)
        a_dy = Signal(ma)
        a = Signal(ma)
        wpos = Signal(16)
        # "last in its range" flags, registered and set one step ahead
        last_dx = Signal()
        last_dy = Signal()
        last_px = Signal()
        last_py = Signal()
        last_g = Signal()
        # The core registers the read addresses (a copy per memory bank); the
        # group step leaves registered, so the parameter word arrives with the
        # membrane words.
        next_group = Signal()
        m.d.comb += self.mem_addr.eq(a)
        m.d.sync += self.next_group.eq(next_group)
        one_pool = d.pool == 1
        one_px = d.pwidth == 1
        one_py = d.pheight == 1
        with m.If(self.start):
            m.d.sync += [
                run.eq(1), g.eq(0), py.eq(0), px.eq(0), dy.eq(0), dx.eq(0), wpos.eq(0),
                a_g.eq(d.mbase), a_row.eq(d.mbase), a_win.eq(d.mbase),
                a_dy.eq(d.mbase), a.eq(d.mbase),
                last_dx.eq(one_pool), last_dy.eq(one_pool), last_px.eq(one_px),
                last_py.eq(one_py), last_g.eq(d.groups == 1),
            ]
        with m.Elif(run):
            with m.If(~last_dx):
                m.d.sync += [dx.eq(dx + 1), last_dx.eq(dx + 2 == d.pool), a.eq(a + 1)]
            with m.Elif(~last_dy):
                m.d.sync += [dx.eq(0), last_dx.eq(one_pool),
                             dy.eq(dy + 1), last_dy.eq(dy + 2 == d.pool),
                             a_dy.eq(a_dy + d.width), a.eq(a_dy + d.width)]
            with m.Else():
                m.d.sync += [dx.eq(0), dy.eq(0), last_dx.eq(one_pool), last_dy.eq(one_pool),
                             wpos.eq(wpos + 1)]
                with m.If(~last_px):
                    m.d.sync += [px.eq(px + 1), last_px.eq(px + 2 == d.pwidth),
                                 a_win.eq(a_win + d.pool),
                                 a_dy.eq(a_win + d.pool), a.eq(a_win + d.pool)]
                with m.Elif(~last_py):
                    m.d.sync += [px.eq(0), last_px.eq(one_px),
                                 py.eq(py + 1), last_py.eq(py + 2 == d.pheight)]
                    nxt = a_row + d.prow
                    m.d.sync += [a_row.eq(nxt), a_win.eq(nxt), a_dy.eq(nxt), a.eq(nxt)]
                with m.Elif(~last_g):
                    m.d.comb += next_group.eq(1)
                    m.d.sync += [px.eq(0), py.eq(0), last_px.eq(one_px), last_py.eq(one_py),
                                 g.eq(g + 1), last_g.eq(g + 2 == d.groups)]
                    nxt = a_g + d.plane
                    m.d.sync += [a_g.eq(nxt), a_row.eq(nxt), a_win.eq(nxt), a_dy.eq(nxt),
                                 a.eq(nxt)]
                with m.Else():
                    m.d.sync += run.eq(0)

        # --- pipeline: 1 read data, 2 spike and reset, 3 leak shift and precharge add,
        # 4 leak subtract, then the write ---
        Tag = data.StructLayout({
            "valid": 1, "addr": ma, "lanes": P, "win_last": 1,
            "group": DIM_BITS, "py": DIM_BITS, "px": DIM_BITS, "wpos": 16})
        tag0 = Signal(Tag)
        lanes = Signal(P)
        m.d.comb += lanes.eq(Mux(last_g, (C(1, P + 1) << d.lanes_last) - 1, (1 << P) - 1))
        m.d.sync += [
            tag0.valid.eq(run), tag0.addr.eq(a), tag0.lanes.eq(lanes),
            tag0.win_last.eq(last_dx & last_dy), tag0.group.eq(g), tag0.py.eq(py),
            tag0.px.eq(px), tag0.wpos.eq(wpos),
        ]
        # the address is registered (tagq), then the membrane data arrives
        # registered a cycle after the parameters (tagr)
        tagq = Signal(Tag)
        tagr = Signal(Tag)
        par = Signal.like(self.par_rdata, reset_less=True)
        m.d.sync += [tagq.eq(tag0), tagr.eq(tagq), par.eq(self.par_rdata)]

        W = B + 2
        # the layer's fields, a registered copy per lane (they settle in SETUP)
        Fields = data.StructLayout({"reset_zero": 1, "leak": 5, "no_leak": 1})
        fields = Signal(Fields)
        m.d.comb += [fields.reset_zero.eq(d.reset_zero),
                     fields.leak.eq(d.leak), fields.no_leak.eq(d.leak == 0)]
        lf = [replica(m, fields, f"fields{i}", reset_less=True) for i in range(P)]
        tag1 = Signal(Tag)
        vpre = Signal(data.ArrayLayout(signed(W), P), reset_less=True)
        theta1 = Signal(data.ArrayLayout(signed(B), P), reset_less=True)
        bias1 = Signal(data.ArrayLayout(signed(config.acc_bits), P), reset_less=True)
        m.d.sync += [tag1.eq(tagr), theta1.eq(par.theta), bias1.eq(par.bias)]
        for i in range(P):
            m.d.sync += vpre[i].eq(self.mem_rdata[i])

        tag2 = Signal(Tag)
        vnew = Signal(data.ArrayLayout(signed(W), P), reset_less=True)
        bias2 = Signal.like(bias1)
        mask = Signal(P)
        fired = Signal(P)
        for i in range(P):
            m.d.comb += fired[i].eq((vpre[i] >= theta1[i]) & tag1.lanes[i])
            with m.If(~fired[i]):
                m.d.sync += vnew[i].eq(vpre[i])
            with m.Elif(lf[i].reset_zero):
                m.d.sync += vnew[i].eq(0)
            with m.Else():
                m.d.sync += vnew[i].eq(vpre[i] - theta1[i])
        m.d.sync += [tag2.eq(tag1), bias2.eq(bias1), mask.eq(fired)]

        # The leak in two stages: the shift (a barrel shifter) beside the
        # precharge add, then the subtract into a registered write word.
        tag3 = Signal(Tag)
        decay = Signal.like(vnew)
        vb = Signal(data.ArrayLayout(signed(B), P), reset_less=True)
        for i in range(P):
            m.d.sync += [decay[i].eq(Mux(lf[i].no_leak, 0, vnew[i] >> lf[i].leak)),
                         vb[i].eq(vnew[i] + bias2[i])]
        m.d.sync += tag3.eq(tag2)

        tag4 = Signal(Tag)
        wdata = Signal(data.ArrayLayout(signed(B), P), reset_less=True)
        for i in range(P):
            m.d.sync += wdata[i].eq(vb[i] - decay[i])
        m.d.sync += tag4.eq(tag3)

        m.d.comb += [self.wr_en.eq(tag4.valid), self.wr_addr.eq(tag4.addr),
                     self.wr_data.eq(wdata)]

        # --- events (from stage 2, leaving registered: the event memory is far) ---
        acc = Signal(P)
        merged = Signal(P)
        ev_en = Signal()
        count = Signal(16)
        m.d.comb += [
            merged.eq(acc | mask),
            ev_en.eq(tag2.valid & tag2.win_last & (merged != 0)),
            self.event_count.eq(count),
        ]
        ev = self.events
        m.d.sync += [ev.valid.eq(ev_en), ev.payload.mask.eq(merged), ev.payload.group.eq(tag2.group),
                     ev.payload.y.eq(tag2.py), ev.payload.x.eq(tag2.px),
                     ev.payload.wpos.eq(tag2.wpos)]
        m.d.sync += [self.spikes.eq(Mux(tag2.valid, _popcount(mask), 0)),
                     self.pooled.eq(Mux(ev_en, _popcount(merged), 0))]
        with m.If(tag2.valid):
            m.d.sync += acc.eq(Mux(tag2.win_last, 0, merged))
        with m.If(ev_en):
            m.d.sync += count.eq(count + 1)
        with m.If(self.start):
            m.d.sync += [acc.eq(0), count.eq(0)]
        m.d.sync += self.done.eq(~run & ~tag0.valid & ~tagq.valid & ~tagr.valid & ~tag1.valid & ~tag2.valid
                                 & ~tag3.valid & ~tag4.valid & ~self.start)
        return m
