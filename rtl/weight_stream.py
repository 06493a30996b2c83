"""Weight streamer: the tile table walked, each tile read from DRAM over AXI4 into a tile buffer."""

from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import TileLayout
from .axi4 import axi4_signature, read_bursts

__all__ = ["WeightStreamer"]


class WeightStreamer(wiring.Component):
    """Fetch the tiles of the tile table, in order and cyclically from entry 0 at
    every image start, into the two tile buffers of the weight memory: tile ``k``
    into buffer ``k mod 2``, once the sequencer has released it
    (docs/architecture.md, "The weight port, as built first").

    A tile is read in INCR bursts of at most ``BURST_BYTES`` (it starts on a
    burst boundary), at most ``MAX_BURSTS`` in flight; every ``word_beats`` beats
    make a weight word (beat 0 in the low bytes, the padding past ``K^2 P`` bytes
    dropped), written at the buffer's base plus the word's index.

    Members
    -------
    mem : Out(axi4_signature)
        Its AR and R channels (the core lends them to the membrane swap).
    start : In(1)
        Pulse, while idle: an image starts; the walk restarts at entry 0.
    run : In(1)
        An image runs: new tiles may be fetched (the one in flight always ends).
    hold : In(1)
        No new tile is started (a membrane swap wants the port).
    passed : In(16)
        The port-holding phases (membrane swaps) ended this image: a tile
        starts once those before it have (its entry's ``holds``, summed over
        the tiles so far), so the port's operations keep program order.
    release : In(1)
        Pulse: the sequencer is done with the buffer it scattered from.
    ready : Out(1)
        The buffer the sequencer scatters next (``chalf``) holds its tile.
    chalf : Out(1)
    idle : Out(1)
        No tile in flight (nor one that may start before the phases it waits for).
    base : In(32)
        DRAM byte address of the tile table's offsets.
    n_tiles : In(16)
    table_addr : Out(16)
    table_data : In(TileLayout)
        The tile table's read port (data a cycle after the address).
    write_en, write_addr, write_data : Out
        A weight word into the weight memory.
    error : Out(1)
        Pulse: a beat came with ``rresp`` SLVERR or DECERR (its data is still
        written; the core's ``bad_memory`` flag says the run is not to be trusted).
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "mem": Out(axi4_signature(config)),
            "start": In(1), "run": In(1), "hold": In(1), "passed": In(16), "release": In(1),
            "ready": Out(1), "chalf": Out(1), "idle": Out(1),
            "base": In(32), "n_tiles": In(16),
            "table_addr": Out(16), "table_data": In(TileLayout(config)),
            "write_en": Out(1), "write_addr": Out(config.weight_addr_bits),
            "write_data": Out(8 * config.array_lanes),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        axi = self.mem
        B = cfg.axi_bytes
        per_word = cfg.word_beats
        k = Signal(16)
        fhalf = Signal()
        chalf = Signal()
        full = Signal(2)
        ar_addr = Signal(32)
        ar_left = Signal(24)
        r_left = Signal(24)
        widx = Signal(cfg.weight_addr_bits)
        beat = Signal(range(max(per_word, 2)))
        word = Signal(8 * B * per_word, reset_less=True)

        m.d.comb += [
            self.ready.eq(full.bit_select(chalf, 1)), self.chalf.eq(chalf),
            self.table_addr.eq(k),
            axi.rready.eq(1),
        ]
        can_ar = read_bursts(m, axi, cfg, ar_addr, ar_left)
        r_take = axi.rvalid & axi.rready

        packed = Signal.like(word)
        m.d.comb += packed.eq(Cat(word[8 * B:], axi.rdata) if per_word > 1 else axi.rdata)
        m.d.sync += [self.write_en.eq(0), self.error.eq(r_take & axi.rresp[1])]
        with m.If(r_take):
            m.d.sync += [word.eq(packed), beat.eq(beat + 1), r_left.eq(r_left - 1)]
            with m.If(beat == per_word - 1):
                m.d.sync += [beat.eq(0), widx.eq(widx + 1), self.write_en.eq(1),
                             self.write_addr.eq(Mux(fhalf, cfg.tile_words, 0) + widx),
                             self.write_data.eq(packed[:8 * cfg.array_lanes])]

        with m.If(self.release):
            m.d.sync += [full.bit_select(chalf, 1).eq(0), chalf.eq(~chalf)]

        need = Signal(16)       # the holding phases the tiles started so far waited for
        with m.FSM(name="weight_stream"):
            with m.State("WAIT"):
                m.d.comb += self.idle.eq(1)
                with m.If(self.start):
                    m.d.sync += [k.eq(0), fhalf.eq(0), chalf.eq(0), full.eq(0), need.eq(0)]
                with m.Elif(self.run & ~self.hold & ~full.bit_select(fhalf, 1)
                            & (self.n_tiles != 0)):
                    m.next = "READ"
            with m.State("READ"):
                t = self.table_data
                with m.If(self.start):      # waiting for a phase of an image that ended
                    m.d.comb += self.idle.eq(1)
                    m.d.sync += [k.eq(0), fhalf.eq(0), chalf.eq(0), full.eq(0), need.eq(0)]
                    m.next = "WAIT"
                with m.Elif(self.passed >= need + t.holds):
                    m.d.sync += [ar_addr.eq(self.base + t.addr), ar_left.eq(t.beats),
                                 r_left.eq(t.beats), widx.eq(0), beat.eq(0),
                                 need.eq(need + t.holds)]
                    m.next = "FETCH"
                with m.Else():
                    m.d.comb += self.idle.eq(1)
            with m.State("FETCH"):
                m.d.comb += axi.arvalid.eq(can_ar)
                with m.If(r_take & (r_left == 1)):
                    m.d.sync += [full.bit_select(fhalf, 1).eq(1), fhalf.eq(~fhalf),
                                 k.eq(Mux(k + 1 == self.n_tiles, 0, k + 1))]
                    m.next = "WAIT"
        return m
