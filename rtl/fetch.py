"""Event fetch: a phase's events (or input entries) read in order into the scatter's stream."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data, fifo
from amaranth.lib.wiring import In, Out

from .config import EventLayout, InputLayout, ScatterEventLayout
from .const_div import div_const

__all__ = ["EventFetch"]

#: Events in flight between the memories and the scatter: the FIFO's depth.
FETCH_DEPTH = 4


class EventFetch(wiring.Component):
    """Read a source layer's events, or a timestep's input entries, from their
    memory and queue them for the scatter unit.

    The candidate bases and counts are registered every cycle: ``t`` and the
    edge settle three cycles before ``start``. The input's pair is selected by a
    copy of ``t`` of its own (``t`` fans out across the die).

    Members
    -------
    start : In(1)
        Pulse: fetch the events of edge source ``src`` (or the input).
    src, ebase : In
        The edge's source layer and that layer's first event address.
    static, t, entries, step_first, step_len : In
        The input: static, the timestep, and the image receiver's counts.
    counts : In(ArrayLayout(16, max_layers))
        Events each layer fired in its last fire phase.
    addr : Out
        Read address of both the event and the input memory.
    event_data, input_data : In
        Their read data, a cycle after ``addr``.
    events : Out(stream.Signature(ScatterEventLayout))
    empty : Out(1)
        Nothing left to read, in flight or queued.
    """

    def __init__(self, config):
        self.config = config
        steps = data.ArrayLayout(16, config.t_max + 1)
        super().__init__({
            "start": In(1), "src": In(config.layer_bits),
            "ebase": In(config.event_addr_bits),
            "static": In(1), "t": In(8), "entries": In(16),
            "step_first": In(steps), "step_len": In(steps),
            "counts": In(data.ArrayLayout(16, config.max_layers)),
            "addr": Out(max(config.event_addr_bits, 17) + 1),
            "event_data": In(EventLayout(config)), "input_data": In(InputLayout(config)),
            "events": Out(stream.Signature(ScatterEventLayout(config))),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        m.submodules.queue = queue = fifo.SyncFIFO(width=ScatterEventLayout(cfg).size,
                                                   depth=FETCH_DEPTH)
        counts = Array(self.counts[i] for i in range(cfg.max_layers))
        step_first = Array(self.step_first[i] for i in range(cfg.t_max + 1))
        step_len = Array(self.step_len[i] for i in range(cfg.t_max + 1))
        from_input = Signal()
        base = Signal(cfg.event_addr_bits)
        count = Signal(17)
        ptr = Signal(17)
        inflight = Signal(2)        # reads issued 1 and 2 cycles ago (data registered)
        is_input = Signal()
        more = Signal()             # ptr != count, registered
        src_count = Signal(16)
        t_q = Signal.like(self.t, reset_less=True)
        in_count = Signal(17)
        in_base = Signal.like(base)
        m.d.sync += [from_input.eq(self.src == cfg.src_input),
                     src_count.eq(counts[self.src]), t_q.eq(self.t),
                     in_count.eq(Mux(self.static, self.entries, step_len[t_q])),
                     in_base.eq(Mux(self.static, 0, step_first[t_q]))]
        new_count = Signal(17)
        new_base = Signal.like(base)
        m.d.comb += [new_count.eq(Mux(from_input, in_count, src_count)),
                     new_base.eq(Mux(from_input, in_base, self.ebase))]
        with m.If(self.start):
            m.d.sync += [ptr.eq(0), inflight.eq(0), is_input.eq(from_input),
                         base.eq(new_base), count.eq(new_count), more.eq(new_count != 0)]
        issue = Signal()
        m.d.comb += [
            issue.eq(~self.start & more
                     & (queue.level + inflight[0] + inflight[1] < FETCH_DEPTH)),
            self.addr.eq(base + ptr),
        ]
        with m.If(issue):
            m.d.sync += [ptr.eq(ptr + 1), more.eq(ptr + 1 != count)]
        m.d.sync += inflight.eq(Cat(issue, inflight[0]))
        event = Signal(ScatterEventLayout(cfg))
        ev_rd = Signal(EventLayout(cfg), reset_less=True)
        in_rd = Signal(InputLayout(cfg), reset_less=True)
        m.d.sync += [ev_rd.eq(self.event_data), in_rd.eq(self.input_data)]
        # an input entry at (y, x) is a spike of block (y div K, x div K), bank
        # (y mod K, x mod K) (docs/architecture.md)
        K = cfg.grid
        by, a = div_const(in_rd.y, K, len(in_rd.y))
        bx, b = div_const(in_rd.x, K, len(in_rd.x))
        bank = Signal(range(max(cfg.banks, 2)))
        m.d.comb += bank.eq(a * K + b)
        with m.If(is_input):
            m.d.comb += [event.mask.eq(in_rd.mask << (bank * cfg.lanes)),
                         event.group.eq(in_rd.group),
                         event.y.eq(by), event.x.eq(bx), event.wpos.eq(in_rd.group),
                         event.value.eq(in_rd.value)]
        with m.Else():
            m.d.comb += [event.mask.eq(ev_rd.mask), event.group.eq(ev_rd.group),
                         event.y.eq(ev_rd.y), event.x.eq(ev_rd.x), event.wpos.eq(ev_rd.wpos),
                         event.value.eq(1)]
        m.d.comb += [
            queue.w_en.eq(inflight[1] & ~self.start), queue.w_data.eq(event),
            self.events.valid.eq(queue.r_rdy), self.events.payload.eq(queue.r_data),
            queue.r_en.eq(self.events.ready),
            self.empty.eq(~more & (inflight == 0) & ~queue.r_rdy),
        ]
        return m
