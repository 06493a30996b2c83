"""Init walker: the membrane words of a layer, one per cycle, before the first step."""

from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["InitWalker"]


class InitWalker(wiring.Component):
    """Walk a layer's ``words`` membrane words, stepping the parameter group
    every ``plane`` words; the PE banks write each word from the group's
    parameters (the precharge ``b``; 0 for the output accumulators).

    Members
    -------
    start : In(1)
    words, plane, mbase : In
        Layer fields, stable from ``start`` to the end of the walk.
    run : Out(1)
        Walking.
    next_group : Out(1)
        Pulse: the parameter address steps to the next group next cycle.
    valid, addr, mem_addr : Out
        A word to write, a cycle after its step: its index in the layer and
        its membrane address (``mbase + addr``).
    """

    def __init__(self, config):
        ma = config.membrane_addr_bits
        super().__init__({
            "start": In(1), "words": In(ma), "plane": In(16), "mbase": In(ma),
            "run": Out(1), "next_group": Out(1),
            "valid": Out(1), "addr": Out(ma), "mem_addr": Out(ma),
        })

    def elaborate(self, platform):
        m = Module()
        pos = Signal(16)
        word = Signal.like(self.addr)
        with m.If(self.start):
            m.d.sync += [self.run.eq(1), pos.eq(0), word.eq(0)]
        with m.Elif(self.run):
            m.d.sync += [word.eq(word + 1), pos.eq(pos + 1)]
            with m.If(pos == self.plane - 1):
                m.d.comb += self.next_group.eq(1)
                m.d.sync += pos.eq(0)
            with m.If(word == self.words - 1):
                m.d.sync += self.run.eq(0)
        m.d.sync += [self.valid.eq(self.run), self.addr.eq(word),
                     self.mem_addr.eq(self.mbase + word)]
        return m
