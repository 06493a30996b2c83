"""The core's AXI4 master to DRAM: its signature, and the burst logic the
weight streamer and the membrane swap share."""

from amaranth.hdl import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import BURST_BYTES, MAX_BURSTS

__all__ = ["axi4_signature", "read_bursts", "write_bursts"]


def axi4_signature(config):
    """AR and R channels (weights, and membranes read back); with
    ``membrane_swap`` also AW, W and B (membranes written out). INCR bursts of
    ``axi_bytes`` beats; as seen from the master."""
    B = config.axi_bytes
    members = {
        "arvalid": Out(1), "arready": In(1), "araddr": Out(32), "arlen": Out(8),
        "arsize": Out(3), "arburst": Out(2),
        "rvalid": In(1), "rready": Out(1), "rdata": In(8 * B), "rresp": In(2), "rlast": In(1),
    }
    if config.membrane_swap:
        members.update({
            "awvalid": Out(1), "awready": In(1), "awaddr": Out(32), "awlen": Out(8),
            "awsize": Out(3), "awburst": Out(2),
            "wvalid": Out(1), "wready": In(1), "wdata": Out(8 * B), "wstrb": Out(B),
            "wlast": Out(1),
            "bvalid": In(1), "bready": Out(1), "bresp": In(2),
        })
    return wiring.Signature(members)


def _bursts(m, B, addr, left, take):
    """The address and beats left of a run of INCR bursts of at most
    ``BURST_BYTES``, stepped a burst on ``take``; returns the burst's ``len``
    field (beats - 1)."""
    burst = BURST_BYTES // B
    with m.If(take):
        m.d.sync += [addr.eq(addr + BURST_BYTES),
                     left.eq(Mux(left > burst, left - burst, 0))]
    return Mux(left > burst, burst, left) - 1


def read_bursts(m, axi, config, addr, left):
    """Drive AR from ``addr`` and ``left`` (beats not yet requested); at most
    ``MAX_BURSTS`` in flight. Returns ``can``: an AR may be issued now (the
    caller raises ``arvalid`` with it where it owns the channel)."""
    B = config.axi_bytes
    inflight = Signal(range(MAX_BURSTS + 1))
    ar_take = axi.arvalid & axi.arready
    m.d.sync += inflight.eq(inflight + ar_take - (axi.rvalid & axi.rready & axi.rlast))
    m.d.comb += [axi.arsize.eq(B.bit_length() - 1), axi.arburst.eq(0b01), axi.araddr.eq(addr),
                 axi.arlen.eq(_bursts(m, B, addr, left, ar_take))]
    return (left != 0) & (inflight != MAX_BURSTS)


def write_bursts(m, axi, config, addr, left):
    """Drive AW from ``addr`` and ``left`` (beats not yet announced): every burst
    is announced as soon as the channel takes it."""
    B = config.axi_bytes
    m.d.comb += [axi.awsize.eq(B.bit_length() - 1), axi.awburst.eq(0b01), axi.awaddr.eq(addr),
                 axi.awvalid.eq(left != 0),
                 axi.awlen.eq(_bursts(m, B, addr, left, axi.awvalid & axi.awready))]
