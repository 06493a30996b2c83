"""Spike scatter unit: turns spike events into one weight/membrane operation per cycle."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, VALUE_BITS, DescriptorLayout, EdgeLayout, OpLayout, ScatterEventLayout
from .const_div import div_const

__all__ = ["SpikeScatter"]


class SpikeScatter(wiring.Component):
    """Enumerate, for every set bit of every event, the passes of its kernel over
    the position banks and the output channel groups, one operation per cycle
    with no bubble between spikes (docs/architecture.md: a pass applies the
    offsets ``j`` of one aligned block ``j div K`` along each axis, each bank at
    most once).

    A spike that reaches no output position still takes one (empty) cycle.
    ``start`` clears the unit and samples the edge and layer fields, which hold
    for the whole phase.

    Members
    -------
    events : In(stream.Signature(ScatterEventLayout))
    start : In(1)
    edge : In(EdgeLayout)
        The edge scattered.
    layer : In(DescriptorLayout)
        The layer it feeds (its shape and membrane base are used).
    op_valid, op : Out(OpLayout)
        One operation: weight word, input value, and each position bank's valid,
        word and weight bank.
    op_lanes : Out(ArrayLayout(range(P + 1), banks))
        Each position bank's lanes of the operation (0 where the bank has no
        operation), counted as synaptic operations; summed in the counters,
        registered first, since the sum is deep and crosses the die.
    idle : Out(1)
        Nothing held and nothing being issued.
    step : Out(1)
        The pass iterator issues a step this cycle, an operation or a spike
        that reaches no output (a 1 x 1 stride-2 shortcut's odd rows and
        columns: one step, no operation).
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "events": In(stream.Signature(ScatterEventLayout(config))),
            "start": In(1),
            "edge": In(EdgeLayout(config)), "layer": In(DescriptorLayout(config)),
            "op_valid": Out(1), "op": Out(OpLayout(config)),
            "op_lanes": Out(data.ArrayLayout(range(config.lanes + 1), config.banks)),
            "idle": Out(1), "step": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        P = config.lanes
        K = config.grid
        K2 = config.banks
        LB = config.lane_bits
        wa = config.weight_addr_bits
        ma = config.membrane_addr_bits
        S = signed(DIM_BITS + 6)
        KR = range(max(K, 2))

        # Edge and layer fields are stable for a phase: latch them at start so
        # the descriptor memory and the edge mux stay out of the pipeline's paths.
        f = {}
        for src, names in ((self.edge, ("linear", "k", "shift", "pad", "wbase", "cin_pad", "s_go",
                                         "s_col", "s_row", "slots", "src_w")),
                           (self.layer, ("groups", "bgroups", "height", "width", "bwidth",
                                         "plane", "mbase", "lanes_last"))):
            for name in names:
                f[name] = Signal.like(src[name], name=f"f_{name}", reset_less=True)
                with m.If(self.start):
                    m.d.sync += f[name].eq(src[name])
        k_cin = Signal(wa, reset_less=True)
        gcount = Signal(DIM_BITS, reset_less=True)
        m.d.sync += [k_cin.eq(f["slots"] * f["cin_pad"]),
                     gcount.eq(Mux(f["linear"], f["bgroups"], f["groups"]))]

        # --- current event: pick its lowest set bit each cycle ---
        cur_valid = Signal()
        cur = Signal(ScatterEventLayout(config), reset_less=True)
        bit = Signal(range(config.array_lanes))
        for i in reversed(range(config.array_lanes)):
            with m.If(cur.mask[i]):
                m.d.comb += bit.eq(i)
        rest = Signal(config.array_lanes)
        cur_one = Signal()      # rest == 0: one set bit left, registered
        m.d.comb += rest.eq(cur.mask & (cur.mask - 1))
        bank = bit[LB:] if K2 > 1 else C(0, 1)
        row = Array(C(n // K, KR) for n in range(K2))[bank]
        col = Array(C(n % K, KR) for n in range(K2))[bank]

        # Kernel ranges of the picked spike along one axis, in three registered
        # steps: A1 the padded position split by the stride, A2 the range's
        # ends, A3 its aligned blocks of K offsets (the passes) and, per bank
        # along the axis, the offset it takes in a pass and its first word.
        Axis1 = data.StructLayout({"q": S, "r": S, "kr": S})
        Axis2 = data.StructLayout({"q": S, "r": S, "ok": 1, "hi": S, "lo": S})
        Bank3 = data.StructLayout({"t": KR, "word": S})
        Axis3 = data.StructLayout({"cnt": 5, "slot": S, "lo": S, "hi": S, "jk": S,
                                   "banks": data.ArrayLayout(Bank3, K)})

        def axis1(block, offset):
            Y = Mux(f["linear"], 0, block * K + offset + f["pad"])
            r = Signal(S)
            a = Signal(Axis1)
            m.d.comb += [r.eq(Y & ((C(1, 5) << f["shift"]) - 1)),
                         a.q.eq(Y >> f["shift"]), a.r.eq(r), a.kr.eq((f["k"] - 1) - r)]
            return a

        def axis2(a, out_size):
            top = Signal(S)
            b = Signal(Axis2)
            m.d.comb += [
                top.eq(a.kr >> f["shift"]),
                b.q.eq(a.q), b.r.eq(a.r), b.ok.eq(a.kr >= 0),
                b.hi.eq(Mux(a.q < top, a.q, top)),
                b.lo.eq(Mux(a.q - (out_size - 1) > 0, a.q - (out_size - 1), 0)),
            ]
            return b

        def axis3(b):
            out = Signal(Axis3)
            n = DIM_BITS + 1
            lo_b, _ = div_const(b.lo.as_unsigned()[:n], K, n)
            hi_b, _ = div_const(b.hi.as_unsigned()[:n], K, n)
            qd, qm = div_const(b.q.as_unsigned()[:n], K, n)
            m.d.comb += [
                out.cnt.eq(Mux(b.ok & (b.hi >= b.lo), hi_b - lo_b + 1, 0)),
                out.slot.eq((lo_b << f["shift"]) + b.r),
                out.lo.eq(b.lo), out.hi.eq(b.hi), out.jk.eq(lo_b * K),
            ]
            m.d.comb += [out.banks[0].t.eq(qm),
                         out.banks[0].word.eq(Mux(f["linear"], 0, qd - lo_b))]
            for i in range(1, K):
                m.d.comb += [
                    out.banks[i].t.eq(Mux(qm >= i, qm - i, qm + K - i)),
                    out.banks[i].word.eq(Mux(f["linear"], 0, qd - lo_b - (qm < i))),
                ]
            return out

        # --- stage A1: the picked spike split by the stride ---
        a1_valid = Signal()
        a1 = Signal(data.StructLayout({"c": wa, "y": Axis1, "x": Axis1,
                                       "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage A2: the ends of the kernel ranges ---
        a2_valid = Signal()
        a2 = Signal(data.StructLayout({"c": wa, "y": Axis2, "x": Axis2,
                                       "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage A3: passes, first slots, each bank's offset and first word ---
        a3_valid = Signal()
        a3 = Signal(data.StructLayout({"c": wa, "y": Axis3, "x": Axis3, "ops": 1,
                                       "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage B1: address products ---
        Run = data.StructLayout({"cnt": 5, "lo": S, "hi": S, "jk": S, "t": data.ArrayLayout(KR, K)})
        b1_valid = Signal()
        b1 = Signal(data.StructLayout({
            "c": wa, "wy": wa, "wx": wa, "my": data.ArrayLayout(ma, K), "mx": data.ArrayLayout(ma, K),
            "y": Run, "x": Run, "ops": 1, "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage B: start addresses ---
        b_valid = Signal()
        b = Signal(data.StructLayout({
            "w": wa, "m": data.ArrayLayout(ma, K2), "wsel": data.ArrayLayout(config.bank_bits, K2),
            "y": Run, "x": Run, "one_y": 1, "one_x": 1, "ops": 1,
            "value": signed(VALUE_BITS)}), reset_less=True)

        # --- stage C: the pass iterator ---
        active = Signal()
        iy = Signal(5)
        ix = Signal(5)
        go = Signal(DIM_BITS)
        spike = Signal.like(b)
        w_row = Signal(wa, reset_less=True)
        w_col = Signal(wa, reset_less=True)
        w = Signal(wa, reset_less=True)
        m_row = Signal(data.ArrayLayout(ma, K2), reset_less=True)
        m_col = Signal(data.ArrayLayout(ma, K2), reset_less=True)
        mm = Signal(data.ArrayLayout(ma, K2), reset_less=True)
        jky = Signal(S, reset_less=True)       # the pass's first offset index j along y, x
        jkx = Signal(S, reset_less=True)
        pk = Signal(DIM_BITS + 5, reset_less=True)   # a linear pass's first group: go * K^2
        # "This is the last group / column / row / step of the spike" are
        # registered flags, set one step ahead, so the pipeline's ready logic
        # starts from flip-flops.
        last_go = Signal()
        last_x = Signal()
        last_y = Signal()
        last_step = Signal()
        one_group = Signal()
        groups_m2 = Signal(DIM_BITS)
        m.d.sync += [one_group.eq(gcount == 1), groups_m2.eq(gcount - 2)]

        wants = Signal()
        take_b = Signal()
        b_ready = Signal()
        move_b1 = Signal()
        b1_ready = Signal()
        move_a3 = Signal()
        a3_ready = Signal()
        move_a2 = Signal()
        a2_ready = Signal()
        move_a1 = Signal()
        a1_ready = Signal()
        pick = Signal()
        # Each stage may take when it or any stage after it is empty, or the
        # iterator takes a spike: the elastic chain, flattened to two levels.
        full_b = b_valid
        full_b1 = b1_valid & full_b
        full_a3 = a3_valid & full_b1
        full_a2 = a2_valid & full_a3
        full_a1 = a1_valid & full_a2
        m.d.comb += [
            wants.eq(~active | last_step),
            take_b.eq(b_valid & wants),
            b_ready.eq(~full_b | wants),
            move_b1.eq(b1_valid & b_ready),
            b1_ready.eq(~full_b1 | wants),
            move_a3.eq(a3_valid & b1_ready),
            a3_ready.eq(~full_a3 | wants),
            move_a2.eq(a2_valid & a3_ready),
            a2_ready.eq(~full_a2 | wants),
            move_a1.eq(a1_valid & a2_ready),
            a1_ready.eq(~full_a1 | wants),
            pick.eq(cur_valid & a1_ready),
            self.events.ready.eq(~cur_valid | (pick & cur_one)),
            self.idle.eq(~cur_valid & ~a1_valid & ~a2_valid & ~a3_valid & ~b1_valid & ~b_valid & ~active),
            self.op_valid.eq(active & spike.ops),
            self.step.eq(active),
            self.op.w.eq(w),
            self.op.value.eq(spike.value),
        ]

        def in_run(run, jk, i):
            j = jk + run.t[i]
            return (j >= run.lo) & (j <= run.hi)

        for n in range(K2):
            a, c = divmod(n, K)
            op = self.op.banks[n]
            m.d.comb += [op.m.eq(mm[n]), op.wsel.eq(spike.wsel[n])]
            if K == 1:
                # one bank: every pass applies one valid offset to one output group
                m.d.comb += op.valid.eq(1)
                m.d.comb += self.op_lanes[n].eq(Mux(last_go, f["lanes_last"], P))
                continue
            group_ok = Signal(name=f"group_ok{n}")
            last = Signal(name=f"last{n}")
            m.d.comb += [
                group_ok.eq(pk + n < f["groups"]),
                last.eq(Mux(f["linear"], pk + n == f["groups"] - 1, last_go)),
                op.valid.eq(Mux(f["linear"], group_ok,
                                in_run(spike.y, jky, a) & in_run(spike.x, jkx, c))),
            ]
            m.d.comb += self.op_lanes[n].eq(Mux(op.valid, Mux(last, f["lanes_last"], P), 0))

        # Whenever ready, the head of the stream is taken, valid or not, so
        # the wide register's enable does not wait for ``valid``.
        new_mask = self.events.payload.mask
        with m.If(self.events.ready):
            m.d.sync += [cur_valid.eq(self.events.valid), cur.eq(self.events.payload),
                         cur_one.eq((new_mask & (new_mask - 1)) == 0)]
        with m.Elif(pick):
            m.d.sync += [cur.mask.eq(rest), cur_one.eq((rest & (rest - 1)) == 0)]
            with m.If(cur_one):
                m.d.sync += cur_valid.eq(0)

        ay, ax = axis1(cur.y, row), axis1(cur.x, col)
        index = Signal(wa)
        m.d.comb += index.eq(cur.wpos + row * f["src_w"] + col)
        with m.If(pick):
            m.d.sync += [
                a1_valid.eq(1),
                a1.c.eq(Mux(f["linear"], Cat(bit[:LB], index), Cat(bit[:LB], cur.group))),
                a1.y.eq(ay), a1.x.eq(ax),
                a1.value.eq(cur.value),
            ]
        with m.Elif(move_a1):
            m.d.sync += a1_valid.eq(0)

        by, bx = axis2(a1.y, f["height"]), axis2(a1.x, f["width"])
        with m.If(move_a1):
            m.d.sync += [
                a2_valid.eq(1),
                a2.c.eq(a1.c), a2.y.eq(by), a2.x.eq(bx),
                a2.value.eq(a1.value),
            ]
        with m.Elif(move_a2):
            m.d.sync += a2_valid.eq(0)

        cy, cx = axis3(a2.y), axis3(a2.x)
        with m.If(move_a2):
            m.d.sync += [
                a3_valid.eq(1),
                a3.c.eq(a2.c), a3.y.eq(cy), a3.x.eq(cx),
                a3.ops.eq((cy.cnt != 0) & (cx.cnt != 0)),
                a3.value.eq(a2.value),
            ]
        with m.Elif(move_a3):
            m.d.sync += a3_valid.eq(0)

        def run(ax3):
            return {"cnt": ax3.cnt, "lo": ax3.lo, "hi": ax3.hi, "jk": ax3.jk,
                    "t": [ax3.banks[i].t for i in range(K)]}

        with m.If(move_a3):
            m.d.sync += [
                b1_valid.eq(1),
                b1.c.eq(a3.c), b1.wy.eq(a3.y.slot * k_cin), b1.wx.eq(a3.x.slot * f["cin_pad"]),
                *(b1.my[i].eq(a3.y.banks[i].word * f["bwidth"]) for i in range(K)),
                *(b1.mx[i].eq(a3.x.banks[i].word) for i in range(K)),
                *(getattr(b1.y, k).eq(getattr(a3.y, k)) for k in ("cnt", "lo", "hi", "jk")),
                *(getattr(b1.x, k).eq(getattr(a3.x, k)) for k in ("cnt", "lo", "hi", "jk")),
                *(b1.y.t[i].eq(a3.y.banks[i].t) for i in range(K)),
                *(b1.x.t[i].eq(a3.x.banks[i].t) for i in range(K)),
                b1.ops.eq(a3.ops), b1.value.eq(a3.value),
            ]
        with m.Elif(move_b1):
            m.d.sync += b1_valid.eq(0)

        with m.If(move_b1):
            m.d.sync += [
                b_valid.eq(1),
                b.w.eq(f["wbase"] + b1.wy + b1.wx + b1.c),
                b.y.eq(b1.y), b.x.eq(b1.x),
                b.one_y.eq(b1.y.cnt == 1), b.one_x.eq(b1.x.cnt == 1),
                b.ops.eq(b1.ops), b.value.eq(b1.value),
            ]
            for n in range(K2):
                a, c = divmod(n, K)
                m.d.sync += [
                    b.m[n].eq(f["mbase"] + b1.my[a] + b1.mx[c]),
                    b.wsel[n].eq(Mux(f["linear"], n, b1.y.t[a] * K + b1.x.t[c])),
                ]
        with m.Elif(take_b):
            m.d.sync += b_valid.eq(0)

        step_go = Mux(f["linear"], 1, f["plane"])
        with m.If(wants):
            m.d.sync += [
                active.eq(take_b),
                spike.eq(b),
                iy.eq(0), ix.eq(0), go.eq(0), pk.eq(0), jky.eq(b.y.jk), jkx.eq(b.x.jk),
                last_go.eq(one_group), last_x.eq(b.one_x), last_y.eq(b.one_y),
                last_step.eq(~b.ops | (one_group & b.one_x & b.one_y)),
                w_row.eq(b.w), w_col.eq(b.w), w.eq(b.w),
                m_row.eq(b.m), m_col.eq(b.m), mm.eq(b.m),
            ]
        with m.Elif(~last_go):
            m.d.sync += [go.eq(go + 1), last_go.eq(go == groups_m2), pk.eq(pk + K2),
                         last_step.eq((go == groups_m2) & last_x & last_y),
                         w.eq(w + f["s_go"]),
                         *(mm[n].eq(mm[n] + step_go) for n in range(K2))]
        with m.Elif(~last_x):
            m.d.sync += [
                go.eq(0), last_go.eq(one_group), pk.eq(0),
                ix.eq(ix + 1), last_x.eq(ix + 2 == spike.x.cnt), jkx.eq(jkx + K),
                last_step.eq(one_group & (ix + 2 == spike.x.cnt) & last_y),
                w_col.eq(w_col + f["s_col"]), w.eq(w_col + f["s_col"]),
                *(m_col[n].eq(m_col[n] - 1) for n in range(K2)),
                *(mm[n].eq(m_col[n] - 1) for n in range(K2)),
            ]
        with m.Else():
            m.d.sync += [
                go.eq(0), last_go.eq(one_group), pk.eq(0),
                ix.eq(0), last_x.eq(spike.one_x), jkx.eq(spike.x.jk),
                iy.eq(iy + 1), last_y.eq(iy + 2 == spike.y.cnt), jky.eq(jky + K),
                last_step.eq(one_group & spike.one_x & (iy + 2 == spike.y.cnt)),
                w_row.eq(w_row + f["s_row"]), w_col.eq(w_row + f["s_row"]),
                w.eq(w_row + f["s_row"]),
                *(m_row[n].eq(m_row[n] - f["bwidth"]) for n in range(K2)),
                *(m_col[n].eq(m_row[n] - f["bwidth"]) for n in range(K2)),
                *(mm[n].eq(m_row[n] - f["bwidth"]) for n in range(K2)),
            ]

        with m.If(self.start):
            m.d.sync += [cur_valid.eq(0), a1_valid.eq(0), a2_valid.eq(0), a3_valid.eq(0), b1_valid.eq(0),
                         b_valid.eq(0), active.eq(0)]
        return m
