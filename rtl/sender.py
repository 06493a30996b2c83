"""Result sender: one result packet per image (class, steps, U, spike counts, cycles, SOPs)."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.wiring import In, Out

from .config import WordLayout, RESULT_MAGIC

__all__ = ["ResultSender"]


class ResultSender(wiring.Component):
    """Send an image's result packet, decoded by :func:`atsnn.rtl.compiler.decode_result`:
    a head word (class, timesteps, magic), U of each class (read from the
    accumulator memories), spikes and pooled spikes of each spiking layer, the
    cycle count and the SOP count (``last``).

    Members
    -------
    start : In(1)
        Pulse: the run is over; every input below holds until ``done``.
    winner, steps, cycles, sops, classes, n_layers : In
    acc_addr : Out
        Accumulator word of the class being sent.
    acc_rdata : In(ArrayLayout(signed(acc_bits), lanes))
        Its data, a cycle later.
    spikes, pooled : In(ArrayLayout(32, max_layers))
    result : Out(stream.Signature(WordLayout))
    done : Out(1)
        Pulse: the last word is taken.
    """

    def __init__(self, config):
        self.config = config
        NL = config.max_layers
        super().__init__({
            "start": In(1), "winner": In(16), "steps": In(8), "cycles": In(32), "sops": In(32),
            "classes": In(16), "n_layers": In(config.layer_bits),
            "acc_addr": Out(config.membrane_addr_bits),
            "acc_rdata": In(data.ArrayLayout(signed(config.acc_bits), config.lanes)),
            "spikes": In(data.ArrayLayout(32, NL)), "pooled": In(data.ArrayLayout(32, NL)),
            "result": Out(stream.Signature(WordLayout)), "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        LB = cfg.lane_bits
        NL = cfg.max_layers
        res = self.result
        spikes = Array(self.spikes[i] for i in range(NL))
        pooled = Array(self.pooled[i] for i in range(NL))
        u_k = Signal(16)            # the class being sent
        u_ready = Signal()          # its word is read
        r_l = Signal(range(2 * NL))  # spiking layer * 2 (+ 1: pooled)
        m.d.comb += self.acc_addr.eq(u_k >> LB)
        with m.FSM(name="sender"):
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [u_k.eq(0), u_ready.eq(0), r_l.eq(0)]
                    m.next = "HEAD"
            with m.State("HEAD"):
                m.d.comb += [res.valid.eq(1),
                             res.payload.data.eq(Cat(self.winner, self.steps, C(RESULT_MAGIC, 8)))]
                with m.If(res.ready):
                    m.next = "U"
            with m.State("U"):
                lane = Signal(signed(cfg.acc_bits))
                m.d.comb += lane.eq(self.acc_rdata[u_k[:LB]])
                m.d.sync += u_ready.eq(1)
                m.d.comb += [res.valid.eq(u_ready), res.payload.data.eq(lane)]
                with m.If(res.valid & res.ready):
                    m.d.sync += [u_k.eq(u_k + 1), u_ready.eq(0)]
                    with m.If(u_k == self.classes - 1):
                        m.next = "SPIKES"
                        with m.If(self.n_layers == 1):
                            m.next = "CYCLES"
            with m.State("SPIKES"):
                m.d.comb += [res.valid.eq(1),
                             res.payload.data.eq(Mux(r_l[0], pooled[r_l[1:]], spikes[r_l[1:]]))]
                with m.If(res.ready):
                    m.d.sync += r_l.eq(r_l + 1)
                    with m.If(r_l == 2 * self.n_layers - 3):
                        m.next = "CYCLES"
            with m.State("CYCLES"):
                m.d.comb += [res.valid.eq(1), res.payload.data.eq(self.cycles)]
                with m.If(res.ready):
                    m.next = "SOPS"
            with m.State("SOPS"):
                m.d.comb += [res.valid.eq(1), res.payload.data.eq(self.sops),
                             res.payload.last.eq(1)]
                with m.If(res.ready):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
