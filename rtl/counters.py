"""Activity counters: spikes per layer, events per layer, synaptic operations, totals."""

from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

__all__ = ["SpikeCounters"]


def _select_hot(hot, values):
    """The value whose bit is set in the one-hot ``hot``: an AND-OR, no decode."""
    out = 0
    for i, value in enumerate(values):
        out = out | Mux(hot[i], value, 0)
    return out


class SpikeCounters(wiring.Component):
    """Count one image's spikes and pooled spikes per layer (the result words),
    the events each layer emitted (the next phase's fetch counts) and the
    synaptic operations, and keep totals since reset.

    Spikes are counted per fire phase and added to the layer's counters once,
    the cycle after the fire unit is done (``fire_end``), from registers only:
    the layer's one-hot decode and its selected counters.

    Members
    -------
    clear : In(1)
        Pulse: an image's run starts.
    layer : In(4)
    fire_start, fire, fire_end : In(1)
        The fire unit's start pulse; the fire phase; its first cycle with the
        fire unit done.
    fired, pooled_fired, events : In
        The fire unit's counts.
    op_valid, op_lanes : In
        The scatter's operations and the lanes each counts as SOPs, per
        position bank. They are registered, summed and registered again before
        they are added (``sops`` lags the operations by 3 cycles; an image's
        last operation is far more cycles than that before its result).
    sent : In(1)
        Pulse: the image's result is sent; it is added to the totals.
    spikes, pooled : Out(ArrayLayout(32, max_layers))
    counts : Out(ArrayLayout(16, max_layers))
    sops : Out(32)
        This image's synaptic operations.
    images_done, sops_total, spikes_total : Out
    """

    def __init__(self, config):
        self.config = config
        NL = config.max_layers
        L = config.array_lanes
        super().__init__({
            "clear": In(1), "layer": In(config.layer_bits),
            "fire_start": In(1), "fire": In(1), "fire_end": In(1),
            "fired": In(range(L + 1)), "pooled_fired": In(range(L + 1)), "events": In(16),
            "op_valid": In(1),
            "op_lanes": In(data.ArrayLayout(range(config.lanes + 1), config.banks)), "sent": In(1),
            "spikes": Out(data.ArrayLayout(32, NL)), "pooled": Out(data.ArrayLayout(32, NL)),
            "counts": Out(data.ArrayLayout(16, NL)), "sops": Out(32),
            "images_done": Out(32), "sops_total": Out(64), "spikes_total": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        NL = config.max_layers
        L = config.array_lanes
        # cleared before use (fire_start, clear): no reset
        spk = Array(Signal(32, name=f"spk{i}", reset_less=True) for i in range(NL))
        pspk = Array(Signal(32, name=f"pspk{i}", reset_less=True) for i in range(NL))
        ev_count = Array(Signal(16, name=f"ev_count{i}", reset_less=True) for i in range(NL))
        for i in range(NL):
            m.d.comb += [self.spikes[i].eq(spk[i]), self.pooled[i].eq(pspk[i]),
                         self.counts[i].eq(ev_count[i])]
        sop = Signal(32)
        images_done = Signal(32)
        sops_total = Signal(64)
        spikes_total = Signal(64)
        m.d.comb += [self.sops.eq(sop), self.images_done.eq(images_done),
                     self.sops_total.eq(sops_total), self.spikes_total.eq(spikes_total)]
        fire_spk = Signal(32, reset_less=True)
        fire_pspk = Signal(32, reset_less=True)
        sel_spk = Signal(32, reset_less=True)
        sel_pspk = Signal(32, reset_less=True)
        img_spk = Signal(32, reset_less=True)
        layer_hot = Signal(NL)
        add = Signal()
        m.d.sync += [layer_hot.eq(1 << self.layer),
                     sel_spk.eq(_select_hot(layer_hot, spk)),
                     sel_pspk.eq(_select_hot(layer_hot, pspk)),
                     add.eq(self.fire_end)]
        # the fire unit's counts, registered once more here (they cross the die);
        # the last arrives well before ``add``
        fired_q = Signal.like(self.fired)
        pooled_q = Signal.like(self.pooled_fired)
        m.d.sync += [fired_q.eq(self.fired), pooled_q.eq(self.pooled_fired)]
        with m.If(self.fire_start):
            m.d.sync += [fire_spk.eq(0), fire_pspk.eq(0)]
        with m.Elif(self.fire):
            m.d.sync += [fire_spk.eq(fire_spk + fired_q), fire_pspk.eq(fire_pspk + pooled_q)]
        # cleared the cycle after ``clear``, from a register (no state decode)
        clear_q = Signal()
        m.d.sync += clear_q.eq(self.clear)
        with m.If(clear_q):
            m.d.sync += img_spk.eq(0)
            for i in range(NL):
                m.d.sync += [spk[i].eq(0), pspk[i].eq(0)]
        with m.If(add):
            m.d.sync += img_spk.eq(img_spk + fire_spk)
        for i in range(NL):
            with m.If(add & layer_hot[i]):
                m.d.sync += [ev_count[i].eq(self.events), spk[i].eq(sel_spk + fire_spk),
                             pspk[i].eq(sel_pspk + fire_pspk)]
        lanes_q = [Signal(range(config.lanes + 1), name=f"op_lanes_q{n}")
                   for n in range(config.banks)]
        m.d.sync += [q.eq(Mux(self.op_valid, self.op_lanes[n], 0)) for n, q in enumerate(lanes_q)]
        ops_q = Signal(range(L + 1))
        m.d.sync += ops_q.eq(sum(lanes_q))
        with m.If(self.clear):
            m.d.sync += sop.eq(0)
        with m.Else():
            m.d.sync += sop.eq(sop + ops_q)
        with m.If(self.sent):
            m.d.sync += [images_done.eq(images_done + 1), sops_total.eq(sops_total + sop),
                         spikes_total.eq(spikes_total + img_spk)]
        return m
