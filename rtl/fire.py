"""LIF fire unit: one membrane word of every position bank per cycle, spikes,
reset, precharge, fused max-pool."""

from amaranth.hdl import *
from amaranth.lib import wiring, data, stream
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, DescriptorLayout, EventLayout, ParamLayout
from .replica import replica

__all__ = ["FireUnit"]


def _popcount(value):
    """The number of set bits of ``value``, as a balanced adder tree."""
    terms = [value[i] for i in range(len(value))]
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]
    return terms[0]


class FireUnit(wiring.Component):
    """Walk a layer's membrane words and fire them, all ``grid x grid`` position
    banks at once (docs/architecture.md, "Building it: the layout and the units").

    For every word: ``V_pre = V`` (the precharge plus the step's scattered
    current), spike where ``V_pre >= theta`` and the lane is a neuron, reset,
    write back ``L(V) + b`` (the precharge of the next timestep).

    A conv layer (``linear = 0``) walks its ``G * Hb * Wb`` words (word ``mbase +
    g * plane + by * Wb + bx`` of every bank); lane ``i`` of bank ``(a, b)`` is
    position ``(K by + a, K bx + b)``, a neuron only inside the map (and below
    ``lanes_last`` in the last group). Without a pool one block event leaves per
    word with a spike (``y = by``, ``x = bx``). With a pool kernel ``k > 1`` the
    words are walked in ``k x k`` block groups (``pbheight x pbwidth`` of them per
    channel group; the last group row and column hold the blocks that exist);
    conv bank row ``a`` of the group's block row ``dy`` feeds pooled bank row
    ``(dy K + a) >> log2(k)`` (columns likewise), and one event with the OR of the
    group's masks leaves per block group (``y = pby``, ``x = pbx``). An event's
    ``wpos`` is ``g * pplane + K (y * pwidth + x)``. Only non-empty masks make
    events.

    A flat layer (``linear = 1``; at K = 1 it walks like a conv layer of 1 x 1
    maps) walks its groups one per cycle: group ``g`` is word ``mbase + g div
    K^2`` of bank ``g mod K^2``, taken into every bank's lanes (only bank 0's
    lanes spike), written back to that bank alone; its event has the mask in
    bank 0's bits, ``y = x = 0``, ``wpos = g``. The layer's pool must be 1.

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
        The membrane read address (all banks) for the next cycle, not registered.
    next_group : Out(1)
        Registered pulse: the read addresses move to the next group (parameter
        word) next cycle.
    mem_rdata : In(ArrayLayout(ArrayLayout(signed(B), P), K^2))
        Each bank's word read at ``mem_addr``.
    par_rdata : In(ParamLayout)
        The group's theta and bias, shared by all banks.
    wr_en : Out(K^2)
        Registered: the banks written (all of them on a conv layer, bank ``g mod
        K^2`` on a flat one).
    wr_addr, wr_data : Out
        Membrane write-back, registered: one address, each bank's lanes.
    events : Out(stream.Signature(EventLayout, always_ready=True))
        The pass's block events, registered (the core keeps the event memory's address).
    spikes, pooled : Out(range(K^2 P + 1))
        Spikes fired and pooled spikes emitted, registered: the counts of the
        previous cycle's stage 2.
    event_count : Out(16)
        Events emitted so far in this pass.
    """

    def __init__(self, config):
        self.config = config
        P = config.lanes
        B = config.membrane_bits
        K2 = config.banks
        ma = config.membrane_addr_bits
        word = data.ArrayLayout(data.ArrayLayout(signed(B), P), K2)
        super().__init__({
            "start": In(1), "done": Out(1),
            "layer": In(DescriptorLayout(config)),
            "mem_addr": Out(ma), "next_group": Out(1),
            "mem_rdata": In(word),
            "par_rdata": In(ParamLayout(config)),
            "wr_en": Out(K2), "wr_addr": Out(ma), "wr_data": Out(word),
            "events": Out(stream.Signature(EventLayout(config), always_ready=True)),
            "spikes": Out(range(K2 * P + 1)), "pooled": Out(range(K2 * P + 1)),
            "event_count": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        P = config.lanes
        B = config.membrane_bits
        K = config.grid
        K2 = config.banks
        ma = config.membrane_addr_bits
        d = self.layer

        # --- address walker: g, py, px (block group), dy, dx (block in the group) ---
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

        if K > 1:
            flat = d.linear
            # Positions left in the block row / column walked (K * by < height),
            # and at the block group's first row / column: a block row is the
            # group's last where the map ends in it.
            rows = Signal(DIM_BITS)
            cols = Signal(DIM_BITS)
            rows_w = Signal(DIM_BITS)
            cols_w = Signal(DIM_BITS)
            # the next block group's first wpos: in the row, in the channel group
            wpos_row = Signal(16)
            wpos_g = Signal(16)
            # dy * K, dx * K: the group's row and column offset (pooled bank map)
            dyk = Signal(range(16 * K))
            dxk = Signal(range(16 * K))
            # flat layers: the bank of the group walked, one-hot
            nb = Signal(K2, init=1)
            # registered products of the layer's fields (held from start; first
            # used a cycle after it)
            pk = Signal(range(16 * K))
            kpw = Signal(16)
            shift = Signal(2)
            m.d.sync += [pk.eq(d.pool * K), kpw.eq(d.pwidth * K),
                         shift.eq(Mux(d.pool[3], 3, Mux(d.pool[2], 2, Mux(d.pool[1], 1, 0))))]
            one_pool = (d.pool == 1) | flat
            one_px = (d.pbwidth == 1) | flat
            one_py = (d.pbheight == 1) | flat

            def first_x(left):      # the block group's first column is its last
                return one_pool | (left <= K)
        else:
            flat = C(0)
            one_pool = d.pool == 1
            one_px = d.pbwidth == 1
            one_py = d.pbheight == 1

        with m.If(self.start):
            m.d.sync += [
                run.eq(1), g.eq(0), py.eq(0), px.eq(0), dy.eq(0), dx.eq(0), wpos.eq(0),
                a_g.eq(d.mbase), a_row.eq(d.mbase), a_win.eq(d.mbase),
                a_dy.eq(d.mbase), a.eq(d.mbase),
                last_dx.eq(one_pool), last_dy.eq(one_pool), last_px.eq(one_px),
                last_py.eq(one_py), last_g.eq(d.groups == 1),
            ]
            if K > 1:
                m.d.sync += [
                    rows.eq(d.height), rows_w.eq(d.height), cols.eq(d.width),
                    cols_w.eq(d.width), wpos_row.eq(0), wpos_g.eq(0), dyk.eq(0),
                    dxk.eq(0), nb.eq(1),
                    last_dx.eq(first_x(d.width)), last_dy.eq(first_x(d.height)),
                ]
        with m.Elif(run):
            with m.If(~last_dx):
                m.d.sync += [dx.eq(dx + 1), last_dx.eq(dx + 2 == d.pool), a.eq(a + 1)]
                if K > 1:
                    m.d.sync += [last_dx.eq((dx + 2 == d.pool) | (cols <= 2 * K)),
                                 cols.eq(cols - K), dxk.eq(dxk + K)]
            with m.Elif(~last_dy):
                m.d.sync += [dx.eq(0), last_dx.eq(one_pool),
                             dy.eq(dy + 1), last_dy.eq(dy + 2 == d.pool),
                             a_dy.eq(a_dy + d.bwidth), a.eq(a_dy + d.bwidth)]
                if K > 1:
                    m.d.sync += [last_dx.eq(first_x(cols_w)), cols.eq(cols_w), dxk.eq(0),
                                 last_dy.eq((dy + 2 == d.pool) | (rows <= 2 * K)),
                                 rows.eq(rows - K), dyk.eq(dyk + K)]
            with m.Else():
                m.d.sync += [dx.eq(0), dy.eq(0), last_dx.eq(one_pool), last_dy.eq(one_pool),
                             wpos.eq(wpos + 1)]
                if K > 1:
                    m.d.sync += [dxk.eq(0), dyk.eq(0)]
                with m.If(~last_px):
                    m.d.sync += [px.eq(px + 1), last_px.eq(px + 2 == d.pbwidth),
                                 a_win.eq(a_win + d.pool),
                                 a_dy.eq(a_win + d.pool), a.eq(a_win + d.pool)]
                    if K > 1:
                        nxt = cols_w - pk
                        m.d.sync += [wpos.eq(wpos + K), cols_w.eq(nxt), cols.eq(nxt),
                                     last_dx.eq(first_x(nxt)), rows.eq(rows_w),
                                     last_dy.eq(first_x(rows_w))]
                with m.Elif(~last_py):
                    m.d.sync += [px.eq(0), last_px.eq(one_px),
                                 py.eq(py + 1), last_py.eq(py + 2 == d.pbheight)]
                    nxt = a_row + d.prow
                    m.d.sync += [a_row.eq(nxt), a_win.eq(nxt), a_dy.eq(nxt), a.eq(nxt)]
                    if K > 1:
                        wnxt = wpos_row + kpw
                        rnxt = rows_w - pk
                        m.d.sync += [wpos.eq(wnxt), wpos_row.eq(wnxt),
                                     cols_w.eq(d.width), cols.eq(d.width),
                                     last_dx.eq(first_x(d.width)),
                                     rows_w.eq(rnxt), rows.eq(rnxt), last_dy.eq(first_x(rnxt))]
                with m.Elif(~last_g):
                    m.d.comb += next_group.eq(1)
                    m.d.sync += [px.eq(0), py.eq(0), last_px.eq(one_px), last_py.eq(one_py),
                                 g.eq(g + 1), last_g.eq(g + 2 == d.groups)]
                    nxt = a_g + d.plane
                    m.d.sync += [a_g.eq(nxt), a_row.eq(nxt), a_win.eq(nxt), a_dy.eq(nxt),
                                 a.eq(nxt)]
                    if K > 1:
                        with m.If(flat):
                            # group g + 1 in the next bank; the next word after the last bank
                            fnxt = a_g + nb[K2 - 1]
                            m.d.sync += [a_g.eq(fnxt), a_row.eq(fnxt), a_win.eq(fnxt),
                                         a_dy.eq(fnxt), a.eq(fnxt),
                                         nb.eq(nb.rotate_left(1))]
                        with m.Else():
                            wnxt = wpos_g + d.pplane
                            m.d.sync += [wpos.eq(wnxt), wpos_row.eq(wnxt), wpos_g.eq(wnxt),
                                         cols_w.eq(d.width), cols.eq(d.width),
                                         rows_w.eq(d.height), rows.eq(d.height),
                                         last_dx.eq(first_x(d.width)),
                                         last_dy.eq(first_x(d.height))]
                with m.Else():
                    m.d.sync += run.eq(0)

        # --- pipeline: 1 read data, 2 spike and reset, 3 leak shift and precharge add,
        # 4 leak subtract, then the write ---
        fields = {"valid": 1, "addr": ma, "lanes": P, "win_last": 1, "banks": K2,
                  "group": DIM_BITS, "py": DIM_BITS, "px": DIM_BITS, "wpos": 16}
        if K > 1:
            # flat layer; the block's rows and columns inside the map; pooled bank
            # row pa takes conv bank row a where pool_y[pa * K + a] (columns likewise)
            fields.update({"flat": 1, "row_ok": K, "col_ok": K,
                           "pool_y": K * K, "pool_x": K * K})
        Tag = data.StructLayout(fields)
        tag0 = Signal(Tag)
        lanes = Signal(P)
        m.d.comb += lanes.eq(Mux(last_g, (C(1, P + 1) << d.lanes_last) - 1, (1 << P) - 1))
        m.d.sync += [
            tag0.valid.eq(run), tag0.addr.eq(a), tag0.lanes.eq(lanes),
            tag0.win_last.eq(last_dx & last_dy), tag0.group.eq(g), tag0.py.eq(py),
            tag0.px.eq(px), tag0.wpos.eq(wpos),
        ]
        if K > 1:
            m.d.sync += [tag0.banks.eq(Mux(run, Mux(flat, nb, (1 << K2) - 1), 0)),
                         tag0.flat.eq(flat)]
            for i in range(K):
                m.d.sync += [tag0.row_ok[i].eq(flat | (rows > i)),
                             tag0.col_ok[i].eq(flat | (cols > i))]
                for pa in range(K):
                    m.d.sync += [tag0.pool_y[pa * K + i].eq(((dyk + i) >> shift) == pa),
                                 tag0.pool_x[pa * K + i].eq(((dxk + i) >> shift) == pa)]
        else:
            m.d.sync += tag0.banks.eq(run)
        # the address is registered (tagq), then the membrane data arrives
        # registered a cycle after the parameters (tagr)
        tagq = Signal(Tag)
        tagr = Signal(Tag)
        par = Signal.like(self.par_rdata, reset_less=True)
        m.d.sync += [tagq.eq(tag0), tagr.eq(tagq), par.eq(self.par_rdata)]

        W = B + 2
        # the layer's fields, a registered copy per lane of each bank (they settle in SETUP)
        Fields = data.StructLayout({"reset_zero": 1, "leak": 5, "no_leak": 1})
        fields = Signal(Fields)
        m.d.comb += [fields.reset_zero.eq(d.reset_zero),
                     fields.leak.eq(d.leak), fields.no_leak.eq(d.leak == 0)]
        lf = [[replica(m, fields, f"fields{i}" if K2 == 1 else f"fields{n}_{i}", reset_less=True)
               for i in range(P)] for n in range(K2)]
        tag1 = Signal(Tag)
        lanes_w = data.ArrayLayout(data.ArrayLayout(signed(W), P), K2)
        vpre = Signal(lanes_w, reset_less=True)
        theta1 = Signal(data.ArrayLayout(signed(B), P), reset_less=True)
        bias1 = Signal(data.ArrayLayout(signed(config.acc_bits), P), reset_less=True)
        m.d.sync += [tag1.eq(tagr), theta1.eq(par.theta), bias1.eq(par.bias)]
        if K > 1:
            # a flat layer's group: its bank's word into every bank's lanes
            picked = Signal(data.ArrayLayout(signed(B), P))
            sel = 0
            for n in range(K2):
                sel = sel | Mux(tagr.banks[n], self.mem_rdata[n].as_value(), 0)
            m.d.comb += picked.eq(sel)
            for n in range(K2):
                for i in range(P):
                    m.d.sync += vpre[n][i].eq(Mux(tagr.flat, picked[i], self.mem_rdata[n][i]))
        else:
            for i in range(P):
                m.d.sync += vpre[0][i].eq(self.mem_rdata[0][i])

        tag2 = Signal(Tag)
        vnew = Signal(lanes_w, reset_less=True)
        bias2 = Signal.like(bias1)
        mask = Signal(K2 * P)
        fired = Signal(K2 * P)
        for n in range(K2):
            ok = tag1.row_ok[n // K] & tag1.col_ok[n % K] if K > 1 else C(1)
            for i in range(P):
                f = fired[n * P + i]
                m.d.comb += f.eq((vpre[n][i] >= theta1[i]) & tag1.lanes[i] & ok)
                with m.If(~f):
                    m.d.sync += vnew[n][i].eq(vpre[n][i])
                with m.Elif(lf[n][i].reset_zero):
                    m.d.sync += vnew[n][i].eq(0)
                with m.Else():
                    m.d.sync += vnew[n][i].eq(vpre[n][i] - theta1[i])
        m.d.sync += [tag2.eq(tag1), bias2.eq(bias1)]
        if K > 1:
            # a flat layer's spikes are bank 0's (every bank computed the same lanes)
            spiking = Cat(fired[:P], fired[P:] & (~tag1.flat).replicate((K2 - 1) * P))
            m.d.sync += mask.eq(spiking)
            # the spikes by pooled bank
            pmask = Signal(K2 * P)
            for pa in range(K):
                for pb in range(K):
                    terms = 0
                    for ca in range(K):
                        for cb in range(K):
                            n = ca * K + cb
                            hit = tag1.pool_y[pa * K + ca] & tag1.pool_x[pb * K + cb]
                            terms = terms | (spiking[n * P:(n + 1) * P] & hit.replicate(P))
                    pn = pa * K + pb
                    m.d.sync += pmask[pn * P:(pn + 1) * P].eq(terms)
        else:
            m.d.sync += mask.eq(fired)
            pmask = mask

        # The leak in two stages: the shift (a barrel shifter) beside the
        # precharge add, then the subtract into a registered write word.
        tag3 = Signal(Tag)
        decay = Signal.like(vnew)
        vb = Signal(data.ArrayLayout(data.ArrayLayout(signed(B), P), K2), reset_less=True)
        for n in range(K2):
            for i in range(P):
                m.d.sync += [decay[n][i].eq(Mux(lf[n][i].no_leak, 0, vnew[n][i] >> lf[n][i].leak)),
                             vb[n][i].eq(vnew[n][i] + bias2[i])]
        m.d.sync += tag3.eq(tag2)

        tag4 = Signal(Tag)
        wdata = Signal(data.ArrayLayout(data.ArrayLayout(signed(B), P), K2), reset_less=True)
        for n in range(K2):
            for i in range(P):
                m.d.sync += wdata[n][i].eq(vb[n][i] - decay[n][i])
        m.d.sync += tag4.eq(tag3)

        m.d.comb += [self.wr_en.eq(tag4.banks), self.wr_addr.eq(tag4.addr),
                     self.wr_data.eq(wdata)]

        # --- events (from stage 2, leaving registered: the event memory is far) ---
        acc = Signal(K2 * P)
        merged = Signal(K2 * P)
        ev_en = Signal()
        count = Signal(16)
        m.d.comb += [
            merged.eq(acc | pmask),
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
