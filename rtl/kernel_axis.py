"""One axis of the kernel-parallel scatter: a spike's passes over a K-bank grid row.

The bank rule is docs/architecture.md's "Kernel-parallel PE array: design"; the
pass count it gives is ``golden.cycles.axis_passes``. Not wired into the core yet
(issue 13): the array's scatter uses one of these per axis.
"""

from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS

__all__ = ["KernelAxis", "div_const"]

#: Width of the signed position arithmetic (padded positions, kernel ranges).
POS_BITS = DIM_BITS + 6


def div_const(value, divisor, bits):
    """``(value // divisor, value % divisor)`` for an unsigned ``value`` of ``bits``
    bits, by a multiply and shift (exact over the whole range, checked here at
    elaboration; a power of two is a shift)."""
    if divisor & (divisor - 1) == 0:
        shift = divisor.bit_length() - 1
        return value >> shift, value & (divisor - 1)
    for n in range(bits, 2 * bits + 8):
        mult = -(-(1 << n) // divisor)
        if all((v * mult) >> n == v // divisor for v in range(1 << bits)):
            break
    else:
        raise ValueError(f"no exact multiply for division by {divisor} over {bits} bits")
    quotient = (value * mult) >> n
    return quotient, value - quotient * divisor


class KernelAxis(wiring.Component):
    """A spike's kernel offsets along one axis, as aligned passes on ``grid`` banks.

    A spike at ``pos`` reaches the output positions ``q - j`` (``q = (pos + pad)
    >> shift``) through the offsets ``r + stride * j``, ``j = lo..hi``. Each pass
    applies the ``j`` of one block ``j // grid``: bank ``b`` (output position
    ``= b`` mod ``grid``) takes ``j = jb * grid + ((q - b) mod grid)`` when that
    ``j`` is in ``lo..hi``, at bank word ``q // grid - jb - [b > q mod grid]``, and
    its weights come from weight bank ``(q mod grid - b) mod grid`` (``rotation``).

    ``start`` takes a spike (the geometry fields hold while it is walked); its
    first pass is out a cycle later; ``next`` steps to the following pass.

    Members
    -------
    start : In(1)
    pos, pad, shift, kernel, size : In
        The spike's input position and the edge's padding, stride (as a shift),
        kernel and output size along the axis.
    next : In(1)
        Step to the next pass (ignored after the last).
    valid : Out(1)
        A pass is out (the spike reaches at least one output).
    last : Out(1)
        It is the spike's last pass.
    slot : Out
        The pass's weight slot along the axis, ``jb * stride + r``.
    rotation : Out
        ``q mod grid``: bank ``b`` takes weight bank ``(rotation - b) mod grid``.
    banks : Out(ArrayLayout({"valid", "word"}, grid))
        Per bank: whether the pass writes it, and the bank word along the axis.
    """

    def __init__(self, grid):
        self.grid = grid
        bank = data.StructLayout({"valid": 1, "word": DIM_BITS})
        super().__init__({
            "start": In(1), "pos": In(DIM_BITS), "pad": In(4), "shift": In(2),
            "kernel": In(5), "size": In(DIM_BITS + 1), "next": In(1),
            "valid": Out(1), "last": Out(1), "slot": Out(DIM_BITS),
            "rotation": Out(range(max(grid, 2))),
            "banks": Out(data.ArrayLayout(bank, grid)),
        })

    def elaborate(self, platform):
        m = Module()
        K = self.grid
        S = signed(POS_BITS)
        y = Signal(DIM_BITS + 1)
        q = Signal(DIM_BITS + 1)
        r = Signal(S)
        kr = Signal(S)
        hi = Signal(S)
        lo = Signal(S)
        top = Signal(S)
        m.d.comb += [
            y.eq(self.pos + self.pad), q.eq(y >> self.shift),
            r.eq(y & ((C(1, 4) << self.shift) - 1)), kr.eq(self.kernel - 1 - r),
            top.eq(kr >> self.shift),
            hi.eq(Mux(q < top, q, top)),
            lo.eq(Mux(q > self.size - 1, q - (self.size - 1), 0)),
        ]
        ok = Signal()
        m.d.comb += ok.eq((kr >= 0) & (hi >= lo))
        qd, qm = div_const(q, K, len(q))
        lo_b, _ = div_const(lo.as_unsigned()[:DIM_BITS + 1], K, DIM_BITS + 1)
        hi_b, _ = div_const(hi.as_unsigned()[:DIM_BITS + 1], K, DIM_BITS + 1)

        # the spike, registered: the pass walker steps jb from lo // K to hi // K
        Spike = data.StructLayout({"ok": 1, "lo": DIM_BITS + 1, "hi": DIM_BITS + 1,
                                   "jb_hi": DIM_BITS + 1, "qd": DIM_BITS + 1, "qm": range(max(K, 2)),
                                   "r": 4, "step": 4})
        sp = Signal(Spike)
        jb = Signal(DIM_BITS + 1)
        active = Signal()
        with m.If(self.start):
            m.d.sync += [
                sp.ok.eq(ok), sp.lo.eq(lo), sp.hi.eq(hi), sp.jb_hi.eq(Mux(ok, hi_b, lo_b)),
                sp.qd.eq(qd), sp.qm.eq(qm), sp.r.eq(r), sp.step.eq(C(1, 4) << self.shift),
                jb.eq(lo_b), active.eq(1),
            ]
        with m.Elif(self.next & active):
            with m.If(jb == sp.jb_hi):
                m.d.sync += active.eq(0)
            with m.Else():
                m.d.sync += jb.eq(jb + 1)

        m.d.comb += [
            self.valid.eq(active & sp.ok), self.last.eq(jb == sp.jb_hi),
            self.slot.eq(jb * sp.step + sp.r), self.rotation.eq(sp.qm),
        ]
        for b in range(K):
            t = Signal(range(max(K, 2)), name=f"t{b}")
            j = Signal(DIM_BITS + 3, name=f"j{b}")
            m.d.comb += [
                t.eq(Mux(sp.qm >= b, sp.qm - b, sp.qm + K - b)),
                j.eq(jb * K + t),
                self.banks[b].valid.eq(self.valid & (j >= sp.lo) & (j <= sp.hi)),
                self.banks[b].word.eq(sp.qd - jb - (b > sp.qm)),
            ]
        return m
