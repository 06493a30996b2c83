"""Image receiver: one input packet checked and written to the input memory."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .config import WordLayout, GlobalLayout, InputLayout, IMAGE_MAGIC, STEP_MAGIC, VALUE_BITS
from .loader import reject

__all__ = ["ImageReceiver"]


class ImageReceiver(wiring.Component):
    """Take an image packet: a header, then (event input) one step header per
    timestep, then two words per input entry; check every field.

    Members
    -------
    image : In(stream.Signature(WordLayout))
    enable : In(1)
        A header may be taken (no load, no run in progress).
    loaded : In(1)
    glob : In(GlobalLayout)
    idle : Out(1)
        Waiting for a header.
    done : Out(1)
        Pulse: the image is complete, a run may start.
    error : Out(1)
        Pulse: the packet is malformed (the rest of it is drained).
    write : In(WritePort.Signature)
        The input memory's write port.
    entries : Out(16)
        Input entries written; held through the run.
    step_first, step_len : Out(ArrayLayout(16, t_max + 1))
        Where timestep ``t``'s entries start, and how many (``t >= 1``).
    """

    def __init__(self, config):
        self.config = config
        steps = data.ArrayLayout(16, config.t_max + 1)
        super().__init__({
            "image": In(stream.Signature(WordLayout)),
            "enable": In(1), "loaded": In(1), "glob": In(GlobalLayout(config)),
            "idle": Out(1), "done": Out(1), "error": Out(1),
            "write": In(WritePort.Signature(addr_width=ceil_log2(config.input_depth),
                                            shape=InputLayout(config))),
            "entries": Out(16), "step_first": Out(steps), "step_len": Out(steps),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        P = cfg.lanes
        glob = self.glob
        img = self.image
        step_first = Array(Signal(16, name=f"step_first{i}") for i in range(cfg.t_max + 1))
        step_len = Array(Signal(16, name=f"step_len{i}") for i in range(cfg.t_max + 1))
        for i in range(cfg.t_max + 1):
            m.d.comb += [self.step_first[i].eq(step_first[i]), self.step_len[i].eq(step_len[i])]
        step = Signal(8)
        step_run = Signal(16)       # entries of the timesteps received so far
        n_left = Signal(17)
        n_met = Signal()            # the steps so far carry all the header's entries, registered
        steps_left = Signal(9)
        words_left = Signal(16)     # input entries left in this timestep (or image)
        last_word = Signal()        # words_left == 1, registered
        w_idx = Signal(16)
        in_entry = Signal(InputLayout(cfg))
        word0 = Signal(32)
        m.d.comb += [self.write.addr.eq(w_idx), self.write.data.eq(in_entry),
                     self.entries.eq(w_idx)]
        m.d.comb += [in_entry.group.eq(word0[16:24]), in_entry.y.eq(word0[8:16]),
                     in_entry.x.eq(word0[:8])]
        with m.If(glob.static):
            m.d.comb += [in_entry.mask.eq(C(1, P) << word0[24:29]),
                         in_entry.value.eq(img.payload.data)]
        with m.Else():
            m.d.comb += [in_entry.mask.eq(img.payload.data), in_entry.value.eq(1)]
        # checked as word 0 is taken, so the compares stay off the done -> sequencer path
        bad_field = Signal()
        w0 = img.payload.data
        w0_bad = ((w0[16:24] >= glob.in_groups) | (w0[8:16] >= glob.in_height)
                  | (w0[:8] >= glob.in_width) | (glob.static & (w0[24:29] >= P)))
        value_hi = img.payload.data[VALUE_BITS - 1:]
        bad_value = Signal()
        m.d.comb += bad_value.eq(Mux(glob.static,
                                     (value_hi != 0) & (value_hi != (1 << (33 - VALUE_BITS)) - 1),
                                     img.payload.data[P:] != 0))
        error = self.error.eq(1)

        def bad(stay=None):
            reject(m, error, img.payload.last, "DRAIN", stay, domain="comb")

        with m.FSM(name="receiver"):
            with m.State("IDLE"):
                m.d.comb += [self.idle.eq(1), img.ready.eq(self.enable)]
                with m.If(img.valid & self.enable):
                    head = img.payload.data
                    m.d.sync += [n_left.eq(head[:16]), words_left.eq(head[:16]),
                                 last_word.eq(head[:16] == 1), steps_left.eq(head[16:24]),
                                 w_idx.eq(0), step_run.eq(0), n_met.eq(1)]
                    hdr_ok = ((head[24:] == IMAGE_MAGIC) & self.loaded
                              & (head[:16] <= cfg.input_depth)
                              & Mux(glob.static, head[16:24] == 0, head[16:24] == glob.t_max))
                    with m.If(~hdr_ok):
                        bad()
                    with m.Elif(glob.static):
                        with m.If(head[:16] == 0):
                            with m.If(img.payload.last):
                                m.d.comb += self.done.eq(1)
                            with m.Else():
                                m.d.comb += error
                                m.next = "DRAIN"
                        with m.Elif(img.payload.last):
                            m.d.comb += error
                        with m.Else():
                            m.next = "WORD0"
                    with m.Else():
                        with m.If(img.payload.last):
                            m.d.comb += error
                        with m.Else():
                            m.d.sync += step.eq(0)
                            m.next = "STEP"
            with m.State("STEP"):
                m.d.comb += img.ready.eq(1)
                with m.If(img.valid):
                    cnt = img.payload.data[:16]
                    m.d.sync += [steps_left.eq(steps_left - 1), step.eq(step + 1),
                                 words_left.eq(cnt), last_word.eq(cnt == 1),
                                 step_first[step + 1].eq(step_run), step_len[step + 1].eq(cnt),
                                 step_run.eq(step_run + cnt), n_left.eq(n_left - cnt),
                                 n_met.eq(cnt == n_left)]
                    ok = (img.payload.data[24:] == STEP_MAGIC) & (cnt <= n_left)
                    final = (steps_left == 1) & (cnt == 0)
                    with m.If(~ok | (final & ((n_left != 0) | ~img.payload.last))
                              | (~final & img.payload.last)):
                        bad(stay="IDLE")
                    with m.Elif(final):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Elif(cnt != 0):
                        m.next = "WORD0"
            with m.State("WORD0"):
                m.d.comb += img.ready.eq(1)
                with m.If(img.valid):
                    m.d.sync += [word0.eq(img.payload.data), bad_field.eq(w0_bad)]
                    with m.If(img.payload.last):
                        m.d.comb += error
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "WORD1"
            with m.State("WORD1"):
                m.d.comb += img.ready.eq(1)
                with m.If(img.valid):
                    m.d.comb += self.write.en.eq(1)
                    m.d.sync += [w_idx.eq(w_idx + 1), words_left.eq(words_left - 1),
                                 last_word.eq(words_left == 2)]
                    end_of_step = last_word
                    end_of_image = end_of_step & (glob.static | (steps_left == 0))
                    with m.If(bad_field | bad_value | (end_of_image != img.payload.last)
                              | (end_of_image & ~n_met)):
                        bad(stay="IDLE")
                    with m.Elif(end_of_image):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Elif(end_of_step):
                        m.next = "STEP"
                    with m.Else():
                        m.next = "WORD0"
            with m.State("DRAIN"):
                m.d.comb += img.ready.eq(1)
                with m.If(img.valid & img.payload.last):
                    m.next = "IDLE"
        return m
