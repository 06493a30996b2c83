"""Model loader: the load stream's sections checked and written, entry by entry."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .config import (WordLayout, ErrorLayout, GlobalLayout, LoadWriteLayout, SECTION, LOAD_MAGIC,
                     section_bits)

__all__ = ["ModelLoader", "reject"]


def reject(m, flag, last, drain, stay=None, domain="sync"):
    """A malformed word sets an error flag (or pulses it, ``domain="comb"``);
    the rest of its packet is drained unless it was last."""
    m.d[domain] += flag
    if stay is not None:
        m.next = stay
    with m.If(~last):
        m.next = drain


class ModelLoader(wiring.Component):
    """Parse a load packet (magic, length, sections) into memory entries.

    The loader owns the sticky error flags: a load clears them all, including
    the image receiver's ``bad_image``, which it sets through ``image_error``.

    Members
    -------
    load : In(stream.Signature(WordLayout))
    enable : In(1)
        The core is idle: load words may be taken.
    idle : Out(1)
        Waiting for a load and none offered: an image may be taken.
    loaded : Out(1)
        The last load passed every check.
    errors : Out(ErrorLayout)
    image_error, memory_error : In(1)
        Pulses: set ``errors.bad_image``, ``errors.bad_memory``.
    write : Out(LoadWriteLayout)
        An entry, the cycle after its last word: the strobe of its section, its
        index and its bits. Every memory registers its own copy of the write.
    glob : Out(GlobalLayout)
        The global section, held until the next load.
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "load": In(stream.Signature(WordLayout)),
            "enable": In(1), "idle": Out(1), "loaded": Out(1),
            "errors": Out(ErrorLayout), "image_error": In(1), "memory_error": In(1),
            "write": Out(LoadWriteLayout(config)),
            "glob": Out(GlobalLayout(config)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        sizes = section_bits(cfg)
        depths = {"global": 1, "descriptor": cfg.max_layers, "param": cfg.param_depth,
                  "weight": cfg.weight_depth, "tau": cfg.t_max, "tile": cfg.tile_depth}
        max_chunks = max(-(-s // 32) for s in sizes.values())
        buf = Signal(32 * max_chunks, reset_less=True)
        chunk = Signal(range(max_chunks + 1))
        nchunks = Signal(range(max_chunks + 1))
        remaining = Signal(32)
        section = Signal(8)
        entries = Signal(24)
        index = Signal(24)
        load_bad = Signal()
        glob = Signal(GlobalLayout(cfg))
        wr = Signal(LoadWriteLayout(cfg)["strobe"].shape)
        wr_index = Signal(24)
        ld = self.load
        errors = self.errors
        m.d.comb += [self.write.strobe.eq(wr), self.write.index.eq(wr_index),
                     self.write.entry.eq(buf), self.glob.eq(glob)]

        # An accepted word is parsed the cycle after: the checks and error
        # flags hang off these registers, not off ``enable``, which the rest
        # of the core decodes from its state machines.
        accept = Signal()
        m.d.comb += [ld.ready.eq(self.enable), accept.eq(ld.valid & ld.ready)]
        took = Signal()
        word = Signal(WordLayout, reset_less=True)
        m.d.sync += took.eq(accept)
        with m.If(accept):
            m.d.sync += word.eq(ld.payload)

        # The word at ``chunk`` is captured every cycle, taken or not (a word
        # not taken is overwritten by the one taken later), so no wide
        # enable hangs off the handshake.
        for i in range(max_chunks):
            with m.If(chunk == i):
                m.d.sync += buf[32 * i:32 * i + 32].eq(word.data)
        m.d.sync += wr.eq(0)
        with m.If(wr["global"]):
            m.d.sync += glob.eq(buf[:len(glob.as_value())])
        with m.If(self.image_error):
            m.d.sync += errors.bad_image.eq(1)
        with m.If(self.memory_error):
            m.d.sync += errors.bad_memory.eq(1)

        def bad(flag, stay=None):
            reject(m, [getattr(errors, flag).eq(1), load_bad.eq(1)], word.last, "DRAIN", stay)

        with m.FSM(name="loader"):
            with m.State("MAGIC"):
                m.d.comb += self.idle.eq(~ld.valid & ~took)
                with m.If(took):
                    m.d.sync += [self.loaded.eq(0), errors.eq(0), load_bad.eq(0)]
                    with m.If(word.data != LOAD_MAGIC):
                        bad("bad_descriptor")
                    with m.Elif(word.last):
                        bad("bad_load_length")
                    with m.Else():
                        m.next = "LENGTH"
            with m.State("LENGTH"):
                with m.If(took):
                    m.d.sync += remaining.eq(word.data)
                    with m.If(word.last | (word.data == 0)):
                        bad("bad_load_length")
                    with m.Else():
                        m.next = "SECTION"
            with m.State("SECTION"):
                with m.If(took):
                    code = word.data[24:]
                    count = word.data[:24]
                    m.d.sync += [remaining.eq(remaining - 1), section.eq(code),
                                 entries.eq(count), index.eq(0), chunk.eq(0)]
                    known = Signal()
                    for name in sizes:
                        with m.If(code == SECTION[name]):
                            m.d.comb += known.eq(count <= depths[name])
                            m.d.sync += nchunks.eq(-(-sizes[name] // 32))
                    with m.If(~known):
                        bad("bad_descriptor", stay="MAGIC")
                    with m.Elif(word.last | (remaining == 1)):
                        with m.If(~word.last | (remaining != 1) | (count != 0)):
                            bad("bad_load_length", stay="MAGIC")
                        with m.Else():
                            m.next = "CHECK"
                    with m.Elif(count != 0):
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(took):
                    m.d.sync += [remaining.eq(remaining - 1), chunk.eq(chunk + 1)]
                    with m.If(chunk == nchunks - 1):
                        m.d.sync += [chunk.eq(0), index.eq(index + 1), wr_index.eq(index)]
                        m.d.sync += [wr[name].eq(section == SECTION[name]) for name in sizes]
                    section_done = (chunk == nchunks - 1) & (index == entries - 1)
                    with m.If(word.last | (remaining == 1)):
                        with m.If(~word.last | (remaining != 1) | ~section_done):
                            bad("bad_load_length", stay="MAGIC")
                        with m.Else():
                            m.next = "SETTLE"
                    with m.Elif(section_done):
                        m.next = "SECTION"
            with m.State("SETTLE"):     # the last entry is written from buf
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((glob.n_layers == 0) | (glob.n_layers > cfg.max_layers)
                          | (glob.t_max == 0) | (glob.t_max > cfg.t_max) | (glob.classes < 2)
                          | (glob.classes > cfg.out_depth * cfg.lanes) | load_bad
                          | ((glob.n_tiles > cfg.tile_depth) if cfg.weight_port else 0)):
                    m.d.sync += errors.bad_descriptor.eq(1)
                with m.Else():
                    m.d.sync += self.loaded.eq(1)
                m.next = "MAGIC"
            with m.State("DRAIN"):
                with m.If(took & word.last):
                    m.next = "MAGIC"
        return m
