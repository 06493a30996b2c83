"""Registered copies of a fanned-out signal, one per group of its consumers."""

from amaranth.hdl import Signal

__all__ = ["replica", "registered_write"]


def replica(m, value, name, reset_less=False):
    """A register of ``value``, kept apart from its identical copies.

    Synthesis merges flip-flops with the same input; ``keep`` (which the
    ``atsnn synth`` flow moves onto the flip-flop, rtl/synth.py) stops that, so
    each group of consumers (a memory bank, a lane) gets its own copy, placed
    near it, instead of one register wired across the die. Copies of data
    should be ``reset_less``: a reset folded into the copies' input logic is
    one more net to all of them.
    """
    reg = Signal(value.shape(), name=name, reset_less=reset_less, attrs={"keep": 1})
    m.d.sync += reg.eq(value)
    return reg


def registered_write(m, port, strobe, index, bits, name):
    """Drive a memory's write port from its own copies of a writer's strobe,
    index and entry bits (the write lands a cycle later)."""
    m.d.comb += [port.en.eq(replica(m, strobe, f"{name}_we")),
                 port.addr.eq(replica(m, index, f"{name}_wa", reset_less=True)),
                 port.data.eq(replica(m, bits, f"{name}_wd", reset_less=True))]
