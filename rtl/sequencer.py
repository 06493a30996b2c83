"""Encodings the phase sequencer steps through and steers the PE banks with."""

from amaranth.lib import enum

__all__ = ["Phase", "Target"]


class Phase(enum.Enum, shape=3):
    """What the core is doing: one layer walk per phase, IDLE between images."""
    INIT = 0        # membranes and I0 set from the parameters
    INPUT = 1       # static input scattered into I0
    SCATTER = 2     # spikes of the previous step scattered into membranes
    FIRE = 3
    EXIT = 4
    IDLE = 5        # receiving an image or sending a result


class Target(enum.Enum, shape=2):
    """Which memory a PE bank's accumulate reads and writes."""
    MEM = 0         # membranes
    I0 = 1          # static input currents
    ACC = 2         # output accumulators
