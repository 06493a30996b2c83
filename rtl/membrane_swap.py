"""Membrane swap: an off-chip layer's membranes moved between DRAM and the membrane buffer."""

from amaranth.hdl import *
from amaranth.lib import wiring, data
from amaranth.lib.wiring import In, Out

from .config import BURST_BYTES
from .axi4 import axi4_signature, read_bursts, write_bursts

__all__ = ["MembraneSwap", "RowLayout", "ROW_READ_LATENCY"]

#: Cycles from a membrane read address to its row at ``rd_data`` (the bank's
#: address register, the block RAM's registered read, the output register).
ROW_READ_LATENCY = 3


def RowLayout(config):
    """A membrane row: the word at one address of every position bank, bank 0
    first (the fire unit's write-back and the array's ``mem_rdata``)."""
    return data.ArrayLayout(data.ArrayLayout(signed(config.membrane_bits), config.lanes),
                            config.banks)


class MembraneSwap(wiring.Component):
    """Read an off-chip layer's membranes from DRAM into the buffer, or write the
    buffer back (docs/architecture.md, "Off-chip membranes, as built").

    The layer's ``rows`` rows (each bank's words at ``mbase + r``) lie in DRAM
    from ``base``, ``row_beats`` beats each, in INCR bursts of at most
    ``BURST_BYTES``. In, at most ``MAX_BURSTS`` reads in flight; a row is written
    the cycle after its last beat. Out, a row is read every
    ``max(row_beats, ROW_READ_LATENCY + 1)`` cycles into a shift register whose
    low beat is on W; every burst is announced on AW as soon as AW takes it; the
    swap ends with the last burst's B.

    Members
    -------
    mem : Out(axi4_signature)
        The core's port while ``busy`` (the weight streamer is idle then).
    swap_in, swap_out : In(1)
        Pulse, while idle: start.
    base : In(32)
        DRAM byte address of the layer's region.
    rows : In(16)
    mbase : In
        The buffer's first membrane word.
    busy : Out(1)
    rd_addr : Out, rd_data : In(RowLayout)
        The membrane read (out), data ``ROW_READ_LATENCY`` cycles after the address.
    wr_en, wr_addr, wr_data : Out
        A row into every bank (in).
    error : Out(1)
        Pulse: a read or write answered SLVERR or DECERR.
    """

    def __init__(self, config):
        self.config = config
        ma = config.membrane_addr_bits
        super().__init__({
            "mem": Out(axi4_signature(config)),
            "swap_in": In(1), "swap_out": In(1),
            "base": In(32), "rows": In(16), "mbase": In(ma),
            "busy": Out(1),
            "rd_addr": Out(ma), "rd_data": In(RowLayout(config)),
            "wr_en": Out(1), "wr_addr": Out(ma), "wr_data": Out(RowLayout(config)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        axi = self.mem
        B = cfg.axi_bytes
        beats = cfg.row_beats
        burst = BURST_BYTES // B
        row_bits = RowLayout(cfg).size

        a_addr = Signal(32)         # AR or AW: the next burst's address
        a_left = Signal(24)         # its beats not yet requested or announced
        total = Signal(24)
        m.d.comb += total.eq(self.rows * beats)
        can_ar = read_bursts(m, axi, cfg, a_addr, a_left)
        out_a_addr = Signal(32)
        out_a_left = Signal(24)
        write_bursts(m, axi, cfg, out_a_addr, out_a_left)

        row = Signal(16)            # rows written (in) or loaded (out)
        beat = Signal(range(beats + 1))
        word = Signal(8 * B * beats, reset_less=True)
        left = Signal(24)           # in: R beats to come; out: W beats to send
        b_left = Signal(16)         # out: B responses to come
        in_burst = Signal(range(burst + 1))

        r_take = axi.rvalid & axi.rready
        b_take = axi.bvalid & axi.bready
        m.d.sync += [self.wr_en.eq(0),
                     self.error.eq((r_take & axi.rresp[1]) | (b_take & axi.bresp[1]))]
        m.d.comb += [axi.rready.eq(1), axi.bready.eq(1),
                     axi.wdata.eq(word[:8 * B]), axi.wstrb.eq((1 << B) - 1),
                     axi.wlast.eq((in_burst == burst - 1) | (left == 1))]

        have = Signal()             # out: ``word`` holds beats to send
        since = Signal(range(ROW_READ_LATENCY + 1))    # cycles since rd_addr moved
        w_take = axi.wvalid & axi.wready

        with m.FSM(name="membrane_swap"):
            with m.State("IDLE"):
                with m.If(self.swap_in | self.swap_out):
                    m.d.sync += [a_addr.eq(self.base), row.eq(0), beat.eq(0), left.eq(total),
                                 self.rd_addr.eq(self.mbase), since.eq(0), have.eq(0),
                                 in_burst.eq(0), b_left.eq((total + burst - 1) // burst)]
                with m.If(self.swap_in):
                    m.d.sync += a_left.eq(total)
                    m.next = "IN"
                with m.If(self.swap_out):
                    m.d.sync += [out_a_addr.eq(self.base), out_a_left.eq(total)]
                    m.next = "OUT"
            with m.State("IN"):
                m.d.comb += [self.busy.eq(1), axi.arvalid.eq(can_ar)]
                packed = Signal.like(word)
                m.d.comb += packed.eq(Cat(word[8 * B:], axi.rdata) if beats > 1 else axi.rdata)
                with m.If(r_take):
                    m.d.sync += [word.eq(packed), beat.eq(beat + 1), left.eq(left - 1)]
                    with m.If(beat == beats - 1):
                        m.d.sync += [beat.eq(0), row.eq(row + 1), self.wr_en.eq(1),
                                     self.wr_addr.eq(self.mbase + row),
                                     self.wr_data.eq(packed[:row_bits])]
                    with m.If(left == 1):
                        m.next = "IDLE"
            with m.State("OUT"):
                m.d.comb += [self.busy.eq(1), axi.wvalid.eq(have)]
                with m.If(since != ROW_READ_LATENCY):
                    m.d.sync += since.eq(since + 1)
                sent = w_take & (beat == 1)
                with m.If(w_take):
                    m.d.sync += [word.eq(word >> (8 * B)), beat.eq(beat - 1), left.eq(left - 1),
                                 in_burst.eq(Mux(axi.wlast, 0, in_burst + 1))]
                    with m.If(beat == 1):
                        m.d.sync += have.eq(0)
                with m.If((since == ROW_READ_LATENCY) & (~have | sent) & (row != self.rows)):
                    m.d.sync += [word.eq(self.rd_data), have.eq(1), beat.eq(beats),
                                 row.eq(row + 1), self.rd_addr.eq(self.rd_addr + 1), since.eq(0)]
                m.d.sync += b_left.eq(b_left - b_take)
                with m.If((left == 0) & (b_left == 0)):
                    m.next = "IDLE"
        return m
