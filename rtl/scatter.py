"""Spike scatter unit: turns spike events into one weight/membrane operation per cycle."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, VALUE_BITS, DescriptorLayout, EdgeLayout, OpLayout, ScatterEventLayout

__all__ = ["SpikeScatter"]


class SpikeScatter(wiring.Component):
    """Enumerate, for every set bit of every event, the valid kernel offsets and
    output channel groups, one operation per cycle with no bubble between spikes.

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
        One operation: weight word, membrane word, input value.
    op_lanes : Out
        The operation's lanes, counted as synaptic operations.
    idle : Out(1)
        Nothing held and nothing being issued.
    """

    def __init__(self, config):
        self.config = config
        wa = config.weight_addr_bits
        ma = config.membrane_addr_bits
        super().__init__({
            "events": In(stream.Signature(ScatterEventLayout(config))),
            "start": In(1),
            "edge": In(EdgeLayout(config)), "layer": In(DescriptorLayout(config)),
            "op_valid": Out(1), "op": Out(OpLayout(config)),
            "op_lanes": Out(config.lane_bits + 1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        P = config.lanes
        LB = config.lane_bits
        wa = config.weight_addr_bits
        ma = config.membrane_addr_bits

        # Edge and layer fields are stable for a phase: latch them at start so
        # the descriptor memory and the edge mux stay out of the pipeline's paths.
        f = {}
        for src, names in ((self.edge, ("linear", "k", "shift", "pad", "wbase", "cin_pad", "s_go",
                                         "s_col", "s_row")),
                           (self.layer, ("groups", "height", "width", "plane", "mbase",
                                         "lanes_last"))):
            for name in names:
                f[name] = Signal.like(src[name], name=f"f_{name}", reset_less=True)
                with m.If(self.start):
                    m.d.sync += f[name].eq(src[name])
        k_cin = Signal(wa, reset_less=True)
        m.d.sync += k_cin.eq(f["k"] * f["cin_pad"])

        # --- current event: pick its lowest set bit each cycle ---
        cur_valid = Signal()
        cur = Signal(ScatterEventLayout(config), reset_less=True)
        bit = Signal(range(P))
        for i in reversed(range(P)):
            with m.If(cur.mask[i]):
                m.d.comb += bit.eq(i)
        rest = Signal(P)
        cur_one = Signal()      # rest == 0: one set bit left, registered
        m.d.comb += rest.eq(cur.mask & (cur.mask - 1))

        # Kernel ranges of the picked spike along one axis, in three registered
        # steps: A1 the padded position split by the stride, A2 the range's
        # ends, A3 its length and first offsets.
        S = signed(DIM_BITS + 6)
        Axis1 = data.StructLayout({"q": S, "r": S, "kr": S})
        Axis2 = data.StructLayout({"q": S, "r": S, "ok": 1, "hi": S, "lo": S})

        def axis1(pos):
            Y = Mux(f["linear"], 0, pos + f["pad"])
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
            cnt = Signal(S)
            first_k = Signal(S)
            first_o = Signal(S)
            m.d.comb += [
                cnt.eq(Mux(b.ok & (b.hi >= b.lo), b.hi - b.lo + 1, 0)),
                first_k.eq(b.r + (b.lo << f["shift"])),
                first_o.eq(b.q - b.lo),
            ]
            return cnt, first_k, first_o

        # --- stage A1: the picked spike split by the stride ---
        a1_valid = Signal()
        a1 = Signal(data.StructLayout({"c": wa, "y": Axis1, "x": Axis1,
                                       "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage A2: the ends of the kernel ranges ---
        a2_valid = Signal()
        a2 = Signal(data.StructLayout({"c": wa, "y": Axis2, "x": Axis2,
                                       "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage A3: kernel ranges and first offsets ---
        a3_valid = Signal()
        a3 = Signal(data.StructLayout({
            "c": wa, "ky": 4, "kx": 4, "oy": DIM_BITS, "ox": DIM_BITS, "cnt_y": 5, "cnt_x": 5,
            "ops": 1, "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage B1: address products ---
        b1_valid = Signal()
        b1 = Signal(data.StructLayout({
            "c": wa, "wy": wa, "wx": wa, "my": ma, "ox": DIM_BITS, "cnt_y": 5, "cnt_x": 5,
            "ops": 1, "value": signed(VALUE_BITS)}), reset_less=True)
        # --- stage B: start addresses ---
        b_valid = Signal()
        b = Signal(data.StructLayout({
            "w": wa, "m": ma, "cnt_y": 5, "cnt_x": 5, "one_y": 1, "one_x": 1, "ops": 1,
            "value": signed(VALUE_BITS)}), reset_less=True)

        # --- stage C: the operation iterator ---
        active = Signal()
        iy = Signal(5)
        ix = Signal(5)
        go = Signal(DIM_BITS)
        spike = Signal.like(b)
        w_row = Signal(wa, reset_less=True)
        w_col = Signal(wa, reset_less=True)
        w = Signal(wa, reset_less=True)
        m_row = Signal(ma, reset_less=True)
        m_col = Signal(ma, reset_less=True)
        mm = Signal(ma, reset_less=True)
        # "This is the last group / column / row / step of the spike" are
        # registered flags, set one step ahead, so the pipeline's ready logic
        # starts from flip-flops.
        last_go = Signal()
        last_x = Signal()
        last_y = Signal()
        last_step = Signal()
        one_group = Signal()
        groups_m2 = Signal(DIM_BITS)
        m.d.sync += [one_group.eq(f["groups"] == 1), groups_m2.eq(f["groups"] - 2)]

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
            self.op.w.eq(w),
            self.op.m.eq(mm),
            self.op.value.eq(spike.value),
            self.op_lanes.eq(Mux(last_go, f["lanes_last"], P)),
        ]

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

        ay, ax = axis1(cur.y), axis1(cur.x)
        with m.If(pick):
            m.d.sync += [
                a1_valid.eq(1),
                a1.c.eq(Mux(f["linear"], Cat(bit, cur.wpos), Cat(bit, cur.group))),
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

        cnt_y, ky0, oy0 = axis3(a2.y)
        cnt_x, kx0, ox0 = axis3(a2.x)
        with m.If(move_a2):
            m.d.sync += [
                a3_valid.eq(1),
                a3.c.eq(a2.c), a3.ky.eq(ky0), a3.kx.eq(kx0), a3.oy.eq(oy0), a3.ox.eq(ox0),
                a3.cnt_y.eq(cnt_y), a3.cnt_x.eq(cnt_x),
                a3.ops.eq((cnt_y != 0) & (cnt_x != 0)),
                a3.value.eq(a2.value),
            ]
        with m.Elif(move_a3):
            m.d.sync += a3_valid.eq(0)

        with m.If(move_a3):
            m.d.sync += [
                b1_valid.eq(1),
                b1.c.eq(a3.c), b1.wy.eq(a3.ky * k_cin), b1.wx.eq(a3.kx * f["cin_pad"]),
                b1.my.eq(a3.oy * f["width"]), b1.ox.eq(a3.ox),
                b1.cnt_y.eq(a3.cnt_y), b1.cnt_x.eq(a3.cnt_x),
                b1.ops.eq(a3.ops), b1.value.eq(a3.value),
            ]
        with m.Elif(move_b1):
            m.d.sync += b1_valid.eq(0)

        with m.If(move_b1):
            m.d.sync += [
                b_valid.eq(1),
                b.w.eq(f["wbase"] + b1.wy + b1.wx + b1.c),
                b.m.eq(f["mbase"] + b1.my + b1.ox),
                b.cnt_y.eq(b1.cnt_y), b.cnt_x.eq(b1.cnt_x),
                b.one_y.eq(b1.cnt_y == 1), b.one_x.eq(b1.cnt_x == 1),
                b.ops.eq(b1.ops), b.value.eq(b1.value),
            ]
        with m.Elif(take_b):
            m.d.sync += b_valid.eq(0)

        with m.If(wants):
            m.d.sync += [
                active.eq(take_b),
                spike.eq(b),
                iy.eq(0), ix.eq(0), go.eq(0),
                last_go.eq(one_group), last_x.eq(b.one_x), last_y.eq(b.one_y),
                last_step.eq(~b.ops | (one_group & b.one_x & b.one_y)),
                w_row.eq(b.w), w_col.eq(b.w), w.eq(b.w),
                m_row.eq(b.m), m_col.eq(b.m), mm.eq(b.m),
            ]
        with m.Elif(~last_go):
            m.d.sync += [go.eq(go + 1), last_go.eq(go == groups_m2),
                         last_step.eq((go == groups_m2) & last_x & last_y),
                         w.eq(w + f["s_go"]), mm.eq(mm + f["plane"])]
        with m.Elif(~last_x):
            m.d.sync += [
                go.eq(0), last_go.eq(one_group),
                ix.eq(ix + 1), last_x.eq(ix + 2 == spike.cnt_x),
                last_step.eq(one_group & (ix + 2 == spike.cnt_x) & last_y),
                w_col.eq(w_col + f["s_col"]), w.eq(w_col + f["s_col"]),
                m_col.eq(m_col - 1), mm.eq(m_col - 1),
            ]
        with m.Else():
            m.d.sync += [
                go.eq(0), last_go.eq(one_group),
                ix.eq(0), last_x.eq(spike.one_x),
                iy.eq(iy + 1), last_y.eq(iy + 2 == spike.cnt_y),
                last_step.eq(one_group & spike.one_x & (iy + 2 == spike.cnt_y)),
                w_row.eq(w_row + f["s_row"]), w_col.eq(w_row + f["s_row"]),
                w.eq(w_row + f["s_row"]),
                m_row.eq(m_row - f["width"]), m_col.eq(m_row - f["width"]),
                mm.eq(m_row - f["width"]),
            ]

        with m.If(self.start):
            m.d.sync += [cur_valid.eq(0), a1_valid.eq(0), a2_valid.eq(0), a3_valid.eq(0), b1_valid.eq(0),
                         b_valid.eq(0), active.eq(0)]
        return m
