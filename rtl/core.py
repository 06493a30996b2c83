"""The accelerator core: model loader, image receiver, scatter/fire/exit engine."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.wiring import In, Out

from .config import HwConfig, WordLayout, ErrorLayout

__all__ = ["Accelerator"]


class Accelerator(wiring.Component):
    """Spike-driven SNN accelerator core.

    Members
    -------
    load : In(stream.Signature(WordLayout))
        Model load words from :func:`atsnn.rtl.compiler.compile_model`.
    image : In(stream.Signature(WordLayout))
        One image from :func:`atsnn.rtl.compiler.encode_input`.
    result : Out(stream.Signature(WordLayout))
        One result per image, decoded by :func:`atsnn.rtl.compiler.decode_result`.
    loaded, busy : Out(1)
    errors : Out(ErrorLayout)
        Sticky, cleared by the next load.
    tau_addr, tau_data, tau_enable, tau_we : In
        Host override of exit table entry ``tau[tau_addr]`` (tested after timestep
        ``tau_addr + 1``).
    tau_rdata, tau_renable : Out
        Combinational read of entry ``tau_addr``.
    cycles : Out(32)
        Cycle count of the last image (equals :mod:`atsnn.golden.cycles`).
    images_done, sops, spikes : Out
        Totals since reset.
    """

    def __init__(self, config=None):
        if config is None:
            config = HwConfig()
        if not isinstance(config, HwConfig):
            raise TypeError(f"Config must be a HwConfig, not {config!r}")
        self.config = config
        super().__init__({
            "load": In(stream.Signature(WordLayout)),
            "image": In(stream.Signature(WordLayout)),
            "result": Out(stream.Signature(WordLayout)),
            "loaded": Out(1),
            "busy": Out(1),
            "errors": Out(ErrorLayout),
            "tau_addr": In(range(config.t_max)),
            "tau_data": In(signed(32)),
            "tau_enable": In(1),
            "tau_we": In(1),
            "tau_rdata": Out(signed(32)),
            "tau_renable": Out(1),
            "cycles": Out(32),
            "images_done": Out(32),
            "sops": Out(64),
            "spikes": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.load.ready.eq(1), self.image.ready.eq(1)]
        with m.If(self.load.valid & self.load.payload.last):
            m.d.sync += self.loaded.eq(1)
        return m
