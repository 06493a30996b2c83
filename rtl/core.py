"""The accelerator core: its memories and units, connected."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import (HwConfig, WordLayout, ErrorLayout, DescriptorLayout, TauLayout, EventLayout,
                     InputLayout, TileLayout, LoadWriteLayout)
from .loader import ModelLoader
from .receiver import ImageReceiver
from .sequencer import Sequencer
from .fetch import EventFetch
from .scatter import SpikeScatter
from .init import InitWalker
from .fire import FireUnit
from .exit import ExitUnit
from .pe_array import PeArray
from .counters import SpikeCounters
from .sender import ResultSender
from .replica import registered_write
from .weight_stream import WeightStreamer
from .membrane_swap import MembraneSwap
from .axi4 import axi4_signature

__all__ = ["Accelerator", "core_signature"]

def core_signature(config):
    """The core's ports, shared with the test stand-in (``atsnn.tb.standin``) so the
    AXI wrapper sees one interface."""
    return wiring.Signature({
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
        **({"mem": Out(axi4_signature(config)), "dram_base": In(32)}
           if config.weight_port else {}),
    })


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
        ``tau_addr + 1``); the entry changes the cycle after ``tau_we``.
    tau_rdata, tau_renable : Out
        Combinational read of entry ``tau_addr``.
    cycles : Out(32)
        Cycle count of the last image (equals :mod:`atsnn.golden.cycles`).
    images_done, sops, spikes : Out
        Totals since reset.
    mem : Out(axi4_signature), dram_base : In(32)
        With ``weight_port``: the AXI4 master the weight tiles stream through
        (and, with ``membrane_swap``, the off-chip membranes are read and
        written through), and the DRAM byte address the tile table's and the
        membrane regions' offsets start from.
    """

    def __init__(self, config=None):
        if config is None:
            config = HwConfig()
        if not isinstance(config, HwConfig):
            raise TypeError(f"Config must be a HwConfig, not {config!r}")
        self.config = config
        super().__init__(core_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        Desc = DescriptorLayout(cfg)

        # ------------------------------------------------------------ shared memories
        m.submodules.desc = desc_mem = Memory(shape=Desc, depth=cfg.max_layers, init=[])
        m.submodules.ev = ev_mem = Memory(shape=EventLayout(cfg), depth=cfg.event_depth, init=[])
        m.submodules.inp = inp_mem = Memory(shape=InputLayout(cfg), depth=cfg.input_depth, init=[])
        # The exit table: a small LUT RAM, written by the loader or the host (a
        # cycle after tau_we, from registers), read by the host and by the sequencer.
        m.submodules.tau = tau_mem = Memory(shape=TauLayout(cfg), depth=cfg.t_max, init=[])
        desc_w, desc_r, src_r = desc_mem.write_port(), desc_mem.read_port(), desc_mem.read_port()
        ev_w, ev_r = ev_mem.write_port(), ev_mem.read_port()
        inp_w, inp_r = inp_mem.write_port(), inp_mem.read_port()
        tau_w, tau_r = tau_mem.write_port(), tau_mem.read_port()
        tau_host_r = tau_mem.read_port(domain="comb")

        # ------------------------------------------------------------ units
        m.submodules.loader = loader = ModelLoader(cfg)
        m.submodules.receiver = recv = ImageReceiver(cfg)
        m.submodules.sequencer = seq = Sequencer(cfg)
        m.submodules.fetch = fetch = EventFetch(cfg)
        m.submodules.scatter = sc = SpikeScatter(cfg)
        m.submodules.init = walker = InitWalker(cfg)
        m.submodules.fire = fu = FireUnit(cfg)
        m.submodules.exit = xu = ExitUnit(cfg)
        m.submodules.counters = cnt = SpikeCounters(cfg)
        m.submodules.sender = sender = ResultSender(cfg)
        m.submodules.array = pe = PeArray(cfg)

        glob = loader.glob
        go = seq.go
        stream_idle = C(1)
        swap = None
        if cfg.membrane_swap:
            m.submodules.swap = swap = MembraneSwap(cfg)
        if cfg.weight_port:
            m.submodules.stream = ws = WeightStreamer(cfg)
            m.submodules.tiles = tile_mem = Memory(shape=TileLayout(cfg), depth=cfg.tile_depth,
                                                   init=[])
            tile_r = tile_mem.read_port()
            stream_idle = ws.idle
        main_idle = recv.idle & seq.idle & stream_idle
        m.d.comb += [self.busy.eq(~main_idle), self.loaded.eq(loader.loaded),
                     self.errors.eq(loader.errors), self.cycles.eq(seq.cycles),
                     self.images_done.eq(cnt.images_done), self.sops.eq(cnt.sops_total),
                     self.spikes.eq(cnt.spikes_total)]

        # ------------------------------------------------------------ load and image in
        wiring.connect(m, wiring.flipped(self.load), loader.load)
        wiring.connect(m, wiring.flipped(self.image), recv.image)
        wiring.connect(m, recv.write, inp_w)
        wr = loader.write
        m.d.comb += [loader.enable.eq(main_idle), loader.image_error.eq(recv.error),
                     recv.enable.eq(loader.idle & seq.idle & stream_idle),
                     recv.loaded.eq(loader.loaded),
                     recv.glob.eq(glob)]
        registered_write(m, desc_w, wr.strobe.descriptor, wr.index, wr.entry[:Desc.size], "desc")
        host_we = Signal()
        host_addr = Signal.like(self.tau_addr)
        host_data = Signal.like(self.tau_data)
        host_enable = Signal()
        m.d.sync += [host_we.eq(self.tau_we), host_addr.eq(self.tau_addr),
                     host_data.eq(self.tau_data), host_enable.eq(self.tau_enable)]
        m.d.comb += [tau_host_r.addr.eq(self.tau_addr),
                     self.tau_rdata.eq(tau_host_r.data.value),
                     self.tau_renable.eq(tau_host_r.data.enable)]
        with m.If(wr.strobe.tau):
            m.d.comb += [tau_w.en.eq(1), tau_w.addr.eq(wr.index),
                         tau_w.data.eq(wr.entry[:TauLayout(cfg).size])]
        with m.Elif(host_we):
            m.d.comb += [tau_w.en.eq(1), tau_w.addr.eq(host_addr),
                         tau_w.data.value.eq(host_data), tau_w.data.enable.eq(host_enable)]

        # ------------------------------------------------------------ the layer walked
        d = Signal(Desc)
        e = d.edges[seq.edge]
        src = Signal(Desc)
        m.d.comb += [desc_r.addr.eq(seq.layer), d.eq(desc_r.data),
                     src_r.addr.eq(e.src), src.eq(src_r.data)]

        # ------------------------------------------------------------ sequencer
        # the scatter's steps of the last six cycles, the PE pipeline's depth:
        # a phase drains six cycles after its last step, an operation's or a
        # step without one, so every step costs one cycle (golden/cycles.py)
        stepped = Signal(6)
        m.d.sync += stepped.eq(Cat(sc.step, stepped[:-1]))
        m.d.comb += [
            seq.start.eq(recv.done), seq.glob.eq(glob), seq.desc.eq(d),
            seq.init_busy.eq(walker.run | walker.valid),
            seq.drained.eq(sc.idle & fetch.empty & ~pe.busy & ~stepped.any()),
            seq.fire_done.eq(fu.done), seq.exit_done.eq(xu.done),
            seq.margin.eq(xu.margin), seq.index.eq(xu.index),
            tau_r.addr.eq(seq.tau_addr), seq.tau.eq(tau_r.data), seq.sent.eq(sender.done),
        ]

        # ------------------------------------------------------------ events in
        wiring.connect(m, fetch.events, sc.events)
        m.d.comb += [
            fetch.start.eq(go.scatter),
            fetch.src.eq(e.src), fetch.ebase.eq(src.ebase), fetch.static.eq(glob.static),
            fetch.t.eq(seq.t), fetch.entries.eq(recv.entries),
            fetch.step_first.eq(recv.step_first), fetch.step_len.eq(recv.step_len),
            fetch.counts.eq(cnt.counts),
            ev_r.addr.eq(fetch.addr), inp_r.addr.eq(fetch.addr),
            fetch.event_data.eq(ev_r.data), fetch.input_data.eq(inp_r.data),
            sc.start.eq(go.scatter), sc.edge.eq(e), sc.layer.eq(d),
        ]
        load = wr
        if cfg.weight_port:
            # a streamed edge's tile: the buffer it is in, its output groups (a
            # slice of the layer's) and their membrane words
            last = seq.tile_last
            with m.If(e.tiles != 0):
                m.d.comb += [
                    sc.edge.wbase.eq(Mux(ws.chalf, cfg.tile_words, 0)),
                    sc.layer.groups.eq(Mux(last, e.last_groups, e.tile_groups)),
                    sc.layer.bgroups.eq(Mux(last, e.last_bgroups, e.tile_bgroups)),
                    sc.layer.mbase.eq(d.mbase + seq.moff),
                    sc.layer.lanes_last.eq(Mux(last, d.lanes_last, cfg.lanes)),
                ]
            self._connect_port(m, ws, swap)
            m.d.comb += [
                ws.start.eq(seq.clear), ws.run.eq(~seq.flags.result),
                ws.hold.eq(seq.hold), ws.passed.eq(seq.passed), seq.port_idle.eq(ws.idle),
                ws.release.eq(seq.tile_done), seq.tile_ready.eq(ws.ready),
                ws.base.eq(self.dram_base), ws.n_tiles.eq(glob.n_tiles),
                loader.memory_error.eq(ws.error | (swap.error if swap is not None else 0)),
                tile_r.addr.eq(ws.table_addr), ws.table_data.eq(tile_r.data),
            ]
            registered_write(m, tile_mem.write_port(), wr.strobe.tile, wr.index,
                             wr.entry[:TileLayout(cfg).size], "tile")
            load = Signal(LoadWriteLayout(cfg))
            m.d.comb += load.eq(wr)
            with m.If(ws.write_en):
                m.d.comb += [load.strobe.weight.eq(1), load.index.eq(ws.write_addr),
                             load.entry.eq(ws.write_data)]

        # ------------------------------------------------------------ init, fire, exit
        m.d.comb += [
            walker.start.eq(go.init), walker.layer.eq(d),
            fu.start.eq(go.fire), fu.layer.eq(d),
            fu.mem_rdata.eq(pe.mem_rdata), fu.par_rdata.eq(pe.par),
            xu.start.eq(go.exit), xu.groups.eq(d.groups), xu.lanes_last.eq(d.lanes_last),
            xu.acc_rdata.eq(pe.acc_rdata), xu.par_rdata.eq(pe.par),
        ]
        # the fire unit's events, written from the event memory's own copies (it
        # sits far from the fire unit) at d.ebase + events written so far
        ev_addr = Signal(cfg.event_addr_bits)
        with m.If(go.fire):
            m.d.sync += ev_addr.eq(d.ebase)
        with m.Elif(fu.events.valid):
            m.d.sync += ev_addr.eq(ev_addr + 1)
        registered_write(m, ev_w, fu.events.valid, ev_addr, fu.events.payload, "ev")

        # ------------------------------------------------------------ PE array
        # a swap in writes through the fire unit's write port, a swap out reads
        # through its read port
        fire_wr_en, fire_wr_addr, fire_wr_data = fu.wr_en, fu.wr_addr, fu.wr_data
        fire_go, fire_mem_addr = go.fire, fu.mem_addr
        if swap is not None:
            rows = Signal(16)
            m.d.comb += [
                swap.swap_in.eq(go.swap_in), swap.swap_out.eq(go.swap_out),
                swap.base.eq(self.dram_base + d.soff),
                rows.eq(Mux(d.linear, d.bgroups, d.words)), swap.rows.eq(rows),
                swap.mbase.eq(d.mbase), swap.rd_data.eq(pe.mem_rdata),
                seq.swap_busy.eq(swap.busy),
            ]
            fire_wr_en = Mux(seq.flags.swap_in, swap.wr_en.replicate(cfg.banks), fu.wr_en)
            fire_wr_addr = Mux(seq.flags.swap_in, swap.wr_addr, fu.wr_addr)
            fire_wr_data = Mux(seq.flags.swap_in, swap.wr_data, fu.wr_data)
            fire_go = go.fire | go.swap_out
            fire_mem_addr = Mux(seq.flags.swap_out, swap.rd_addr, fu.mem_addr)
        m.d.comb += [
            pe.op_valid.eq(sc.op_valid), pe.op.eq(sc.op),
            pe.target.eq(seq.target), pe.wsel.eq(seq.wsel),
            pe.fire_go.eq(fire_go), pe.scatter_go.eq(go.scatter),
            pe.fire_mem_addr.eq(fire_mem_addr),
            pe.exit_phase.eq(seq.flags.exit), pe.exit_group.eq(xu.acc_addr),
            pe.result_phase.eq(seq.flags.result), pe.result_group.eq(sender.acc_addr),
            pe.fire_wr_en.eq(fire_wr_en), pe.fire_wr_addr.eq(fire_wr_addr),
            pe.fire_wr_data.eq(fire_wr_data),
            pe.exit_wr_en.eq(xu.wr_en), pe.exit_wr_group.eq(xu.wr_addr),
            pe.exit_wr_data.eq(xu.wr_data),
            pe.init_valid.eq(walker.valid), pe.init_banks.eq(walker.banks),
            pe.init_addr.eq(walker.addr), pe.init_mem_addr.eq(walker.mem_addr),
            pe.par_start.eq(go.init | go.fire | go.exit),
            pe.par_step.eq(walker.next_group | fu.next_group | xu.next_group),
            pe.pbase.eq(d.pbase), pe.load.eq(load),
        ]

        # ------------------------------------------------------------ counters, result out
        wiring.connect(m, sender.result, wiring.flipped(self.result))
        m.d.comb += [
            cnt.clear.eq(seq.clear), cnt.layer.eq(seq.layer), cnt.fire_start.eq(go.fire),
            cnt.fire.eq(seq.flags.fire), cnt.fire_end.eq(seq.fire_end),
            cnt.fired.eq(fu.spikes), cnt.pooled_fired.eq(fu.pooled), cnt.events.eq(fu.event_count),
            cnt.op_valid.eq(sc.op_valid), cnt.op_lanes.eq(sc.op_lanes), cnt.sent.eq(sender.done),
            sender.start.eq(seq.send), sender.winner.eq(seq.winner), sender.steps.eq(seq.t),
            sender.cycles.eq(seq.cycles), sender.sops.eq(cnt.sops),
            sender.classes.eq(glob.classes), sender.n_layers.eq(glob.n_layers),
            sender.acc_rdata.eq(pe.acc_rdata),
            sender.spikes.eq(cnt.spikes), sender.pooled.eq(cnt.pooled),
        ]
        return m

    def _connect_port(self, m, ws, swap):
        """The AXI4 master: the weight streamer's, lent to the membrane swap while
        it runs (the streamer is idle then: the sequencer waits for it)."""
        port = self.mem
        if swap is None:
            wiring.connect(m, ws.mem, wiring.flipped(port))
            return
        for name, member in port.signature.members.items():
            mine = getattr(port, name)
            if name.startswith(("aw", "w", "b")):
                if member.flow == Out:
                    m.d.comb += mine.eq(getattr(swap.mem, name))
                else:
                    m.d.comb += getattr(swap.mem, name).eq(mine)
            elif member.flow == Out:
                m.d.comb += mine.eq(Mux(swap.busy, getattr(swap.mem, name), getattr(ws.mem, name)))
            else:
                m.d.comb += [getattr(ws.mem, name).eq(mine & ~swap.busy if name == "rvalid"
                                                      else mine),
                             getattr(swap.mem, name).eq(mine & swap.busy if name == "rvalid"
                                                        else mine)]
