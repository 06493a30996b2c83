"""Init walker: the membrane words of a layer, one per cycle, before the first step."""

from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import DescriptorLayout

__all__ = ["InitWalker"]


class InitWalker(wiring.Component):
    """Walk a layer's ``words`` membrane words, one per cycle; the PE banks write
    each word from the group's parameters (the precharge ``b``; 0 for the
    output accumulators).

    A conv layer's word is written in every position bank, the parameter group
    stepping every ``plane`` words. A flat layer (``linear = 1``, ``words = G``)
    walks its groups: group ``g`` is word ``g div K^2`` of bank ``g mod K^2``
    (docs/architecture.md, "Building it: the layout and the units"), the
    parameter group stepping every word. At K = 1 both are one word of bank 0
    per cycle.

    Members
    -------
    start : In(1)
    layer : In(DescriptorLayout)
        The layer walked (``linear``, ``words``, ``plane``, ``mbase``), stable
        from ``start`` to the end of the walk.
    run : Out(1)
        Walking.
    next_group : Out(1)
        Pulse: the parameter address steps to the next group next cycle.
    valid, addr, mem_addr, banks : Out
        A word to write, a cycle after its step: its index in the layer (in
        each bank), its membrane address (``mbase + addr``) and the banks that
        write it (all, or a flat layer's group's bank).
    """

    def __init__(self, config):
        self.config = config
        ma = config.membrane_addr_bits
        super().__init__({
            "start": In(1), "layer": In(DescriptorLayout(config)),
            "run": Out(1), "next_group": Out(1),
            "valid": Out(1), "addr": Out(ma), "mem_addr": Out(ma),
            "banks": Out(config.banks),
        })

    def elaborate(self, platform):
        m = Module()
        K2 = self.config.banks
        d = self.layer
        pos = Signal(16)
        word = Signal.like(self.addr)
        if K2 > 1:
            # a flat layer's bank, one-hot; words walked (word counts bank words)
            nb = Signal(K2, init=1)
            count = Signal.like(self.addr)
            flat = d.linear
            with m.If(self.start):
                m.d.sync += [self.run.eq(1), pos.eq(0), word.eq(0), nb.eq(1), count.eq(0)]
            with m.Elif(self.run):
                m.d.sync += [count.eq(count + 1), pos.eq(pos + 1)]
                with m.If(flat):
                    m.d.comb += self.next_group.eq(1)
                    m.d.sync += [nb.eq(nb.rotate_left(1)), word.eq(word + nb[K2 - 1])]
                with m.Else():
                    m.d.sync += word.eq(word + 1)
                    with m.If(pos == d.plane - 1):
                        m.d.comb += self.next_group.eq(1)
                        m.d.sync += pos.eq(0)
                with m.If(count == d.words - 1):
                    m.d.sync += self.run.eq(0)
            m.d.sync += self.banks.eq(Mux(flat, nb, (1 << K2) - 1))
        else:
            with m.If(self.start):
                m.d.sync += [self.run.eq(1), pos.eq(0), word.eq(0)]
            with m.Elif(self.run):
                m.d.sync += [word.eq(word + 1), pos.eq(pos + 1)]
                with m.If(pos == d.plane - 1):
                    m.d.comb += self.next_group.eq(1)
                    m.d.sync += pos.eq(0)
                with m.If(word == d.words - 1):
                    m.d.sync += self.run.eq(0)
            m.d.comb += self.banks.eq(1)
        m.d.sync += [self.valid.eq(self.run), self.addr.eq(word),
                     self.mem_addr.eq(d.mbase + word)]
        return m
