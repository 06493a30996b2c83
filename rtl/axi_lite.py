"""AXI4-Lite slave that turns bus transactions into one-cycle register strobes.

The bus side follows the AXI4-Lite rules: the write address and write data
channels are accepted independently and in either order, a response is held
until the master takes it (back-pressure on B and R), and an address the
register file does not decode answers SLVERR instead of hanging. The register
side is a plain strobe interface that :class:`atsnn.rtl.top.AtsnnTop` decodes.
"""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AxiLiteSignature", "RegisterSignature", "AxiLiteSlave", "OKAY", "SLVERR"]

OKAY = 0b00
SLVERR = 0b10


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite bus, seen from the master (flip it for a slave).

    Member names are the AXI signal names in lower case (``awaddr``, ``wdata``,
    ``bresp``, ...); data is 32 bits wide.
    """

    def __init__(self, addr_width):
        if not isinstance(addr_width, int) or addr_width < 2:
            raise TypeError(f"Address width must be an integer of at least 2, not {addr_width!r}")
        self.addr_width = addr_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(32), "wstrb": Out(4), "wvalid": Out(1), "wready": In(1),
            "bresp": In(2), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(32), "rresp": In(2), "rvalid": In(1), "rready": Out(1),
        })


class RegisterSignature(wiring.Signature):
    """Register strobes, seen from the bridge.

    A write is ``w_stb`` for one cycle with ``w_addr``, ``w_data`` and the byte
    mask ``w_strb``; the register file answers ``w_err`` combinationally in
    that cycle. A read is ``r_stb`` for one cycle with ``r_addr``; the register
    file answers ``r_data`` and ``r_err`` combinationally in that cycle.
    """

    def __init__(self, addr_width):
        super().__init__({
            "w_stb": Out(1), "w_addr": Out(addr_width), "w_data": Out(32), "w_strb": Out(4),
            "w_err": In(1),
            "r_stb": Out(1), "r_addr": Out(addr_width),
            "r_data": In(32), "r_err": In(1),
        })


class AxiLiteSlave(wiring.Component):
    """Bridge an AXI4-Lite slave port to register strobes.

    Addresses are byte addresses; the low two bits are ignored (32-bit words).
    One write and one read may be in flight at the same time.

    Parameters
    ----------
    addr_width : int
        Width of ``awaddr`` and ``araddr``.

    Members
    -------
    axi : ``In(AxiLiteSignature(addr_width))``
        The bus.
    regs : ``Out(RegisterSignature(addr_width))``
        The register strobes.
    """

    def __init__(self, addr_width=12):
        super().__init__({
            "axi": In(AxiLiteSignature(addr_width)),
            "regs": Out(RegisterSignature(addr_width)),
        })

    def elaborate(self, platform):
        m = Module()
        axi, regs = self.axi, self.regs

        aw_full = Signal()
        aw_addr = Signal.like(axi.awaddr)
        w_full = Signal()
        w_data = Signal(32)
        w_strb = Signal(4)

        m.d.comb += [
            axi.awready.eq(~aw_full),
            axi.wready.eq(~w_full),
        ]
        aw_take = axi.awvalid & axi.awready
        w_take = axi.wvalid & axi.wready
        with m.If(aw_take):
            m.d.sync += aw_addr.eq(axi.awaddr)
        with m.If(w_take):
            m.d.sync += [w_data.eq(axi.wdata), w_strb.eq(axi.wstrb)]

        m.d.comb += [
            regs.w_stb.eq(aw_full & w_full & ~axi.bvalid),
            regs.w_addr.eq(aw_addr),
            regs.w_data.eq(w_data),
            regs.w_strb.eq(w_strb),
        ]
        # The flags' next values are plain logic, not an ``If`` that clears
        # them: Yosys would make ``w_stb``, which reads them, their flip-flops'
        # synchronous reset, a loop through the reset pin that ABC9 reports
        # as an SCC (and, on some netlists, fails on).
        m.d.sync += [
            aw_full.eq((aw_full & ~regs.w_stb) | aw_take),
            w_full.eq((w_full & ~regs.w_stb) | w_take),
            axi.bvalid.eq(regs.w_stb | (axi.bvalid & ~axi.bready)),
        ]
        with m.If(regs.w_stb):
            m.d.sync += axi.bresp.eq(Mux(regs.w_err, SLVERR, OKAY))

        m.d.comb += [
            axi.arready.eq(~axi.rvalid),
            regs.r_stb.eq(axi.arvalid & axi.arready),
            regs.r_addr.eq(axi.araddr),
        ]
        m.d.sync += axi.rvalid.eq(regs.r_stb | (axi.rvalid & ~axi.rready))
        with m.If(regs.r_stb):
            m.d.sync += [
                axi.rdata.eq(Mux(regs.r_err, 0, regs.r_data)),
                axi.rresp.eq(Mux(regs.r_err, SLVERR, OKAY)),
            ]

        return m
