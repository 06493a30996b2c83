"""A tiny core with the accelerator core's members, for testing the wrapper and
the cocotb/Verilator flow on their own (fast to build, behaviour known exactly).

Load stream: a count word ``n`` then ``n`` words; a ``tlast`` early or late sets
``bad_load_length``. Image stream: words until ``tlast``; after ``sum & 15``
busy cycles the result is two words ``[sum, count]`` (``tlast`` on the second).
``cycles`` is the busy cycle count of the last image, ``sops`` the sum of image
sums, ``spikes`` the sum of image word counts. An image before a load sets
``bad_image`` and is dropped.
"""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from atsnn.rtl.config import HwConfig
from atsnn.rtl.core import core_signature

__all__ = ["StandInCore", "standin_result"]


def standin_result(words):
    """The stand-in's result words and busy cycles for one image's words."""
    total = sum(words) & 0xFFFFFFFF
    return [total, len(words)], total & 15


class StandInCore(wiring.Component):
    def __init__(self, config=None):
        self.config = config or HwConfig()
        super().__init__(core_signature(self.config))

    def elaborate(self, platform):
        m = Module()

        tau = Array(Signal(signed(32), name=f"tau{i}") for i in range(self.config.t_max))
        tau_en = Array(Signal(name=f"tau_en{i}") for i in range(self.config.t_max))
        m.d.comb += [self.tau_rdata.eq(tau[self.tau_addr]),
                     self.tau_renable.eq(tau_en[self.tau_addr])]
        # like the core: a host write lands the cycle after tau_we
        we = Signal()
        addr = Signal.like(self.tau_addr)
        value = Signal.like(self.tau_data)
        enable = Signal()
        m.d.sync += [we.eq(self.tau_we), addr.eq(self.tau_addr), value.eq(self.tau_data),
                     enable.eq(self.tau_enable)]
        with m.If(we):
            m.d.sync += [tau[addr].eq(value), tau_en[addr].eq(enable)]

        expect = Signal(32)
        got = Signal(32)
        first = Signal(init=1)
        m.d.comb += self.load.ready.eq(1)
        with m.If(self.load.valid):
            m.d.sync += first.eq(self.load.payload.last)
            with m.If(first):
                m.d.sync += [expect.eq(self.load.payload.data), got.eq(0), self.loaded.eq(0),
                             self.errors.eq(0)]
                with m.If(self.load.payload.last):
                    m.d.sync += [self.errors.bad_load_length.eq(self.load.payload.data != 0),
                                 self.loaded.eq(self.load.payload.data == 0)]
            with m.Else():
                m.d.sync += got.eq(got + 1)
                with m.If(self.load.payload.last):
                    ok = got + 1 == expect
                    m.d.sync += [self.loaded.eq(ok), self.errors.bad_load_length.eq(~ok)]

        total = Signal(32)
        count = Signal(32)
        wait = Signal(4)
        with m.FSM():
            with m.State("RECEIVE"):
                m.d.comb += self.image.ready.eq(1)
                with m.If(self.image.valid):
                    m.d.sync += [total.eq(total + self.image.payload.data), count.eq(count + 1)]
                    with m.If(self.image.payload.last):
                        with m.If(self.loaded):
                            m.d.sync += [self.busy.eq(1), self.cycles.eq(0),
                                         wait.eq(total + self.image.payload.data)]
                            m.next = "WORK"
                        with m.Else():
                            m.d.sync += [self.errors.bad_image.eq(1), total.eq(0), count.eq(0)]
            with m.State("WORK"):
                with m.If(wait == 0):
                    m.next = "SUM"
                with m.Else():
                    m.d.sync += [wait.eq(wait - 1), self.cycles.eq(self.cycles + 1)]
            with m.State("SUM"):
                m.d.comb += [self.result.valid.eq(1), self.result.payload.data.eq(total)]
                with m.If(self.result.ready):
                    m.next = "COUNT"
            with m.State("COUNT"):
                m.d.comb += [self.result.valid.eq(1), self.result.payload.data.eq(count),
                             self.result.payload.last.eq(1)]
                with m.If(self.result.ready):
                    m.d.sync += [
                        self.busy.eq(0), total.eq(0), count.eq(0),
                        self.images_done.eq(self.images_done + 1),
                        self.sops.eq(self.sops + total),
                        self.spikes.eq(self.spikes + count),
                    ]
                    m.next = "RECEIVE"
        return m
