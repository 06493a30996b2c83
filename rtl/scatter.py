"""Spike scatter unit: turns spike events into one weight/membrane operation per cycle."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, VALUE_BITS

__all__ = ["ScatterEventLayout", "SpikeScatter"]


def ScatterEventLayout(config):
    return data.StructLayout({
        "mask": config.lanes,
        "group": DIM_BITS,
        "y": DIM_BITS,
        "x": DIM_BITS,
        "wpos": 16,
        "value": signed(VALUE_BITS),
    })


class SpikeScatter(wiring.Component):
    """Enumerate, for every set bit of every event, the valid kernel offsets and
    output channel groups, one operation per cycle with no bubble between spikes.

    A spike that reaches no output position still takes one (empty) cycle. The
    edge and layer fields must be held stable while the unit runs; ``start``
    clears it.

    Members
    -------
    events : In(stream.Signature(ScatterEventLayout))
    start : In(1)
    linear, k, shift, pad, wbase, cin_pad, s_go, s_col, s_row : In
        Edge fields (see ``EdgeLayout``).
    groups, height, width, mbase, lanes_last : In
        Output layer fields.
    op_valid, op_w, op_m, op_value, op_lanes : Out
        One operation: weight word, membrane word, input value, lanes counted as SOPs.
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
            "linear": In(1), "k": In(4), "shift": In(2), "pad": In(4),
            "wbase": In(wa), "cin_pad": In(wa), "s_go": In(wa), "s_col": In(wa),
            "s_row": In(wa),
            "groups": In(DIM_BITS), "height": In(DIM_BITS), "width": In(DIM_BITS),
            "plane": In(16), "mbase": In(ma), "lanes_last": In(config.lane_bits + 1),
            "op_valid": Out(1), "op_w": Out(wa), "op_m": Out(ma),
            "op_value": Out(signed(VALUE_BITS)), "op_lanes": Out(config.lane_bits + 1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        P = config.lanes
        LB = config.lane_bits
        wa = config.weight_addr_bits
        ma = config.membrane_addr_bits

        # --- current event: pick its lowest set bit each cycle ---
        cur_valid = Signal()
        cur = Signal(ScatterEventLayout(config))
        bit = Signal(range(P))
        for i in reversed(range(P)):
            with m.If(cur.mask[i]):
                m.d.comb += bit.eq(i)
        rest = Signal(P)
        m.d.comb += rest.eq(cur.mask & (cur.mask - 1))

        # --- stage A: kernel ranges of the picked spike ---
        def axis(pos, out_size):
            Y = Signal(signed(DIM_BITS + 6))
            q = Signal(signed(DIM_BITS + 6))
            r = Signal(signed(DIM_BITS + 6))
            kr = Signal(signed(DIM_BITS + 6))
            hi = Signal(signed(DIM_BITS + 6))
            lo = Signal(signed(DIM_BITS + 6))
            cnt = Signal(signed(DIM_BITS + 6))
            first_k = Signal(signed(DIM_BITS + 6))
            first_o = Signal(signed(DIM_BITS + 6))
            m.d.comb += [
                Y.eq(Mux(self.linear, 0, pos + self.pad)),
                q.eq(Y >> self.shift),
                r.eq(Y & ((C(1, 5) << self.shift) - 1)),
                kr.eq((self.k - 1) - r),
                hi.eq(Mux(q < (kr >> self.shift), q, kr >> self.shift)),
                lo.eq(Mux(q - (out_size - 1) > 0, q - (out_size - 1), 0)),
                cnt.eq(Mux((kr >= 0) & (hi >= lo), hi - lo + 1, 0)),
                first_k.eq(r + (lo << self.shift)),
                first_o.eq(q - lo),
            ]
            return cnt, first_k, first_o

        cnt_y, ky0, oy0 = axis(cur.y, self.height)
        cnt_x, kx0, ox0 = axis(cur.x, self.width)
        a_valid = Signal()
        a = Signal(data.StructLayout({
            "c": wa, "koff": 8, "oy": DIM_BITS, "ox": DIM_BITS, "cnt_y": 5, "cnt_x": 5,
            "ops": 1, "value": signed(VALUE_BITS)}))

        # --- stage B: start addresses ---
        b_valid = Signal()
        b = Signal(data.StructLayout({
            "w": wa, "m": ma, "cnt_y": 5, "cnt_x": 5, "ops": 1,
            "value": signed(VALUE_BITS)}))

        # --- stage C: the operation iterator ---
        active = Signal()
        iy = Signal(5)
        ix = Signal(5)
        go = Signal(DIM_BITS)
        spike = Signal.like(b)
        w_row = Signal(wa)
        w_col = Signal(wa)
        w = Signal(wa)
        m_row = Signal(ma)
        m_col = Signal(ma)
        mm = Signal(ma)
        last_go = Signal()
        last_step = Signal()
        m.d.comb += [
            last_go.eq(go == self.groups - 1),
            last_step.eq(~spike.ops | (last_go & (ix == spike.cnt_x - 1)
                                       & (iy == spike.cnt_y - 1))),
        ]

        wants = Signal()
        take_b = Signal()
        b_ready = Signal()
        move_a = Signal()
        a_ready = Signal()
        pick = Signal()
        m.d.comb += [
            wants.eq(~active | last_step),
            take_b.eq(b_valid & wants),
            b_ready.eq(~b_valid | take_b),
            move_a.eq(a_valid & b_ready),
            a_ready.eq(~a_valid | move_a),
            pick.eq(cur_valid & a_ready),
            self.events.ready.eq(~cur_valid | (pick & (rest == 0))),
            self.idle.eq(~cur_valid & ~a_valid & ~b_valid & ~active),
            self.op_valid.eq(active & spike.ops),
            self.op_w.eq(w),
            self.op_m.eq(mm),
            self.op_value.eq(spike.value),
            self.op_lanes.eq(Mux(last_go, self.lanes_last, P)),
        ]

        with m.If(self.events.valid & self.events.ready):
            m.d.sync += [cur_valid.eq(1), cur.eq(self.events.payload)]
        with m.Elif(pick):
            m.d.sync += cur.mask.eq(rest)
            with m.If(rest == 0):
                m.d.sync += cur_valid.eq(0)

        c_sel = Signal(wa)
        m.d.comb += c_sel.eq(Mux(self.linear, Cat(bit, cur.wpos), Cat(bit, cur.group)))
        with m.If(pick):
            m.d.sync += [
                a_valid.eq(1),
                a.c.eq(c_sel),
                a.koff.eq(ky0 * self.k + kx0),
                a.oy.eq(oy0), a.ox.eq(ox0),
                a.cnt_y.eq(cnt_y), a.cnt_x.eq(cnt_x),
                a.ops.eq((cnt_y != 0) & (cnt_x != 0)),
                a.value.eq(cur.value),
            ]
        with m.Elif(move_a):
            m.d.sync += a_valid.eq(0)

        with m.If(move_a):
            m.d.sync += [
                b_valid.eq(1),
                b.w.eq(self.wbase + a.koff * self.cin_pad + a.c),
                b.m.eq(self.mbase + a.oy * self.width + a.ox),
                b.cnt_y.eq(a.cnt_y), b.cnt_x.eq(a.cnt_x),
                b.ops.eq(a.ops), b.value.eq(a.value),
            ]
        with m.Elif(take_b):
            m.d.sync += b_valid.eq(0)

        with m.If(wants):
            m.d.sync += [
                active.eq(take_b),
                spike.eq(b),
                iy.eq(0), ix.eq(0), go.eq(0),
                w_row.eq(b.w), w_col.eq(b.w), w.eq(b.w),
                m_row.eq(b.m), m_col.eq(b.m), mm.eq(b.m),
            ]
        with m.Elif(~last_go):
            m.d.sync += [go.eq(go + 1), w.eq(w + self.s_go), mm.eq(mm + self.plane)]
        with m.Elif(ix != spike.cnt_x - 1):
            m.d.sync += [
                go.eq(0), ix.eq(ix + 1),
                w_col.eq(w_col + self.s_col), w.eq(w_col + self.s_col),
                m_col.eq(m_col - 1), mm.eq(m_col - 1),
            ]
        with m.Else():
            m.d.sync += [
                go.eq(0), ix.eq(0), iy.eq(iy + 1),
                w_row.eq(w_row + self.s_row), w_col.eq(w_row + self.s_row),
                w.eq(w_row + self.s_row),
                m_row.eq(m_row - self.width), m_col.eq(m_row - self.width),
                mm.eq(m_row - self.width),
            ]

        with m.If(self.start):
            m.d.sync += [cur_valid.eq(0), a_valid.eq(0), b_valid.eq(0), active.eq(0)]
        return m
