"""The accelerator core: model loader, image receiver, scatter/fire/exit engine."""

from amaranth.hdl import *
from amaranth.lib import wiring, stream, data, fifo
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import (HwConfig, WordLayout, ErrorLayout, DescriptorLayout, GlobalLayout, EdgeLayout,
                     ParamLayout, WeightLayout, TauLayout, EventLayout, InputLayout,
                     ScatterEventLayout,
                     SRC_INPUT, SECTION, LOAD_MAGIC, IMAGE_MAGIC, STEP_MAGIC, RESULT_MAGIC,
                     VALUE_BITS, WEIGHT_BITS)
from .scatter import SpikeScatter
from .sequencer import Phase, Target
from .fire import FireUnit
from .exit import ExitUnit
from .replica import replica
from .bram import ColumnMemory, blocks, column_plan

__all__ = ["Accelerator", "core_signature", "PHASE_FILL", "PHASE_PAD"]

#: Cycles a scatter phase waits before it may end: the latency from its start
#: to its first operation, so an empty phase costs what a busy one adds.
PHASE_FILL = 16

#: Extra cycles after a unit is done, per phase kind, so that every phase costs
#: ``work + C_PHASE`` (see golden/cycles.py).
PHASE_PAD = {"init": 15, "fire": 8}

#: Memory banks: up to ``MAX_BANKS`` of at least ``MIN_BANK_LANES`` lanes (one
#: bank at P <= 4, 4 lanes each at P = 16, 8 at P = 32). Each bank has its own
#: weight, membrane, I0, accumulator and parameter memories and its own copy of
#: the PE pipeline's control registers, so that a bank's block RAMs and lanes
#: can sit together on the die. Narrower banks map less tightly to block RAM:
#: P = 32 in banks of 4 lanes does not fit the LFE5U-85F's 208 DP16KD.
MAX_BANKS = 4
MIN_BANK_LANES = 4

#: Weight block-RAM columns per copy of their addresses (rtl/bram.py).
WEIGHT_ADDR_SHARE = 8


def banks(lanes):
    """Number of memory banks at ``lanes`` lanes."""
    return max(1, min(MAX_BANKS, lanes // MIN_BANK_LANES))


def _registered_write(m, port, strobe, index, bits, name):
    """Drive a memory's write port from its own copies of a writer's strobe,
    index and entry bits (the write lands a cycle later)."""
    m.d.comb += [port.en.eq(replica(m, strobe, f"{name}_we")),
                 port.addr.eq(replica(m, index, f"{name}_wa", reset_less=True)),
                 port.data.eq(replica(m, bits, f"{name}_wd", reset_less=True))]


def _select_hot(hot, values):
    """The value whose bit is set in the one-hot ``hot``: an AND-OR, no decode."""
    out = 0
    for i, value in enumerate(values):
        out = out | Mux(hot[i], value, 0)
    return out


def _reject(m, flag, last, drain, stay=None):
    """A malformed word sets an error flag; the rest of its packet is drained unless it was last."""
    m.d.sync += flag
    if stay is not None:
        m.next = stay
    with m.If(~last):
        m.next = drain


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
        P = cfg.lanes
        LB = cfg.lane_bits
        B = cfg.membrane_bits
        A = cfg.acc_bits
        NL = cfg.max_layers
        MemWord = data.ArrayLayout(signed(B), P)
        AccWord = data.ArrayLayout(signed(A), P)
        Desc = DescriptorLayout(cfg)
        Glob = GlobalLayout(cfg)

        # ------------------------------------------------------------ memories
        m.submodules.desc = desc_mem = Memory(shape=Desc, depth=NL, init=[])
        # The weight, membrane, I0, accumulator and parameter memories are
        # banked by lane group (``banks``), see "PE array" below.
        NB = banks(P)
        G = P // NB
        BankMem = data.ArrayLayout(signed(B), G)
        BankAcc = data.ArrayLayout(signed(A), G)
        BankPar = data.StructLayout({"theta": BankMem, "bias": BankAcc})
        BankWgt = data.ArrayLayout(signed(WEIGHT_BITS), G)
        wgt_w, wgt_r, mem_w, mem_r, i0_w, i0_r, acc_w, acc_r, par_w, par_r = (
            [] for _ in range(10))
        # The deep memories are built from block-RAM columns where the device
        # has the block RAMs for it (rtl/bram.py): no multiplexer after them.
        columns = column_plan({"wgt": (BankWgt.size, cfg.weight_depth, NB),
                               "mem": (BankMem.size, cfg.membrane_depth, NB),
                               "i0": (BankMem.size, cfg.i0_depth, NB)},
                              fixed=(blocks(EventLayout(cfg).size, cfg.event_depth)
                                     + blocks(InputLayout(cfg).size, cfg.input_depth)
                                     + NB * blocks(BankPar.size, cfg.param_depth)))
        for b in range(NB):
            for name, shape, depth, w, r in (
                    ("par", BankPar, cfg.param_depth, par_w, par_r),
                    ("wgt", BankWgt, cfg.weight_depth, wgt_w, wgt_r),
                    ("mem", BankMem, cfg.membrane_depth, mem_w, mem_r),
                    ("i0", BankMem, cfg.i0_depth, i0_w, i0_r),
                    ("acc", BankAcc, cfg.out_depth, acc_w, acc_r)):
                if name in columns:
                    # the weight address comes straight from the scatter (its
                    # copies are registered in the memory, in place of ``q0.w``)
                    m.submodules[f"{name}{b}"] = bank = ColumnMemory(
                        shape=shape, depth=depth, columns=columns[name],
                        addr_share=WEIGHT_ADDR_SHARE if name == "wgt" else None)
                    w.append(bank.write)
                    r.append(bank.read)
                else:
                    m.submodules[f"{name}{b}"] = bank = Memory(shape=shape, depth=depth, init=[])
                    w.append(bank.write_port())
                    r.append(bank.read_port())
        m.submodules.ev = ev_mem = Memory(shape=EventLayout(cfg), depth=cfg.event_depth, init=[])
        m.submodules.inp = inp_mem = Memory(shape=InputLayout(cfg), depth=cfg.input_depth, init=[])

        desc_w = desc_mem.write_port()
        desc_r = desc_mem.read_port()
        src_r = desc_mem.read_port()
        ev_w = ev_mem.write_port()
        ev_r = ev_mem.read_port()
        inp_w = inp_mem.write_port()
        inp_r = inp_mem.read_port()

        glob = Signal(Glob)
        # The exit table: a small LUT RAM, written by the loader or the host (a
        # cycle after tau_we, from registers), read by the host and by EXIT.
        m.submodules.tau = tau_mem = Memory(shape=TauLayout(cfg), depth=cfg.t_max, init=[])
        tau_w = tau_mem.write_port()
        tau_host_r = tau_mem.read_port(domain="comb")
        tau_r = tau_mem.read_port()
        m.d.comb += [tau_host_r.addr.eq(self.tau_addr),
                     self.tau_rdata.eq(tau_host_r.data.value),
                     self.tau_renable.eq(tau_host_r.data.enable)]
        host_we = Signal()
        host_addr = Signal.like(self.tau_addr)
        host_data = Signal.like(self.tau_data)
        host_enable = Signal()
        m.d.sync += [host_we.eq(self.tau_we), host_addr.eq(self.tau_addr),
                     host_data.eq(self.tau_data), host_enable.eq(self.tau_enable)]

        # ------------------------------------------------------------ loader
        sizes = {"global": Glob.size, "descriptor": Desc.size,
                 "param": ParamLayout(cfg).size, "weight": WeightLayout(cfg).size,
                 "tau": TauLayout(cfg).size}
        depths = {"global": 1, "descriptor": NL, "param": cfg.param_depth,
                  "weight": cfg.weight_depth, "tau": cfg.t_max}
        max_chunks = max(-(-s // 32) for s in sizes.values())
        buf = Signal(32 * max_chunks, reset_less=True)
        chunk = Signal(range(max_chunks + 1))
        nchunks = Signal(range(max_chunks + 1))
        remaining = Signal(32)
        section = Signal(8)
        entries = Signal(24)
        index = Signal(24)
        load_bad = Signal()
        loader_idle = Signal()
        main_idle = Signal()
        ld = self.load

        # The word at ``chunk`` is captured every cycle, accepted or not (an
        # unaccepted word is overwritten by the one accepted later), so no wide
        # enable hangs off the handshake. An entry is written to its memory from
        # ``buf`` the cycle after its last word.
        for i in range(max_chunks):
            with m.If(chunk == i):
                m.d.sync += buf[32 * i:32 * i + 32].eq(ld.payload.data)
        # one write strobe per destination, registered (no decode before the
        # LUT RAM write enables)
        wr = Signal(data.StructLayout({name: 1 for name in sizes}))
        wr_index = Signal(24)
        m.d.sync += wr.eq(0)
        m.d.comb += [
            desc_w.addr.eq(wr_index), desc_w.data.eq(buf[:Desc.size]),
            desc_w.en.eq(wr.descriptor),
        ]
        with m.If(wr.tau):
            m.d.comb += [tau_w.en.eq(1), tau_w.addr.eq(wr_index), tau_w.data.eq(buf[:sizes["tau"]])]
        with m.Elif(host_we):
            m.d.comb += [tau_w.en.eq(1), tau_w.addr.eq(host_addr),
                         tau_w.data.value.eq(host_data), tau_w.data.enable.eq(host_enable)]
        with m.If(wr["global"]):
            m.d.sync += glob.eq(buf[:Glob.size])
        accept = Signal()
        m.d.comb += [ld.ready.eq(main_idle), accept.eq(ld.valid & ld.ready)]

        def bad(flag, stay=None):
            _reject(m, [getattr(self.errors, flag).eq(1), load_bad.eq(1)],
                    ld.payload.last, "DRAIN", stay)

        with m.FSM(name="loader"):
            with m.State("MAGIC"):
                m.d.comb += loader_idle.eq(~ld.valid)
                with m.If(accept):
                    m.d.sync += [self.loaded.eq(0), self.errors.eq(0), load_bad.eq(0)]
                    with m.If(ld.payload.data != LOAD_MAGIC):
                        bad("bad_descriptor")
                    with m.Elif(ld.payload.last):
                        bad("bad_load_length")
                    with m.Else():
                        m.next = "LENGTH"
            with m.State("LENGTH"):
                with m.If(accept):
                    m.d.sync += remaining.eq(ld.payload.data)
                    with m.If(ld.payload.last | (ld.payload.data == 0)):
                        bad("bad_load_length")
                    with m.Else():
                        m.next = "SECTION"
            with m.State("SECTION"):
                with m.If(accept):
                    code = ld.payload.data[24:]
                    count = ld.payload.data[:24]
                    m.d.sync += [remaining.eq(remaining - 1), section.eq(code),
                                 entries.eq(count), index.eq(0), chunk.eq(0)]
                    known = Signal()
                    for name, c in SECTION.items():
                        with m.If(code == c):
                            m.d.comb += known.eq(count <= depths[name])
                            m.d.sync += nchunks.eq(-(-sizes[name] // 32))
                    with m.If(~known):
                        bad("bad_descriptor", stay="MAGIC")
                    with m.Elif(ld.payload.last | (remaining == 1)):
                        with m.If(~ld.payload.last | (remaining != 1) | (count != 0)):
                            bad("bad_load_length", stay="MAGIC")
                        with m.Else():
                            m.next = "CHECK"
                    with m.Elif(count != 0):
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(accept):
                    m.d.sync += [remaining.eq(remaining - 1), chunk.eq(chunk + 1)]
                    with m.If(chunk == nchunks - 1):
                        m.d.sync += [chunk.eq(0), index.eq(index + 1), wr_index.eq(index)]
                        m.d.sync += [wr[name].eq(section == SECTION[name]) for name in sizes]
                    section_done = (chunk == nchunks - 1) & (index == entries - 1)
                    with m.If(ld.payload.last | (remaining == 1)):
                        with m.If(~ld.payload.last | (remaining != 1) | ~section_done):
                            bad("bad_load_length", stay="MAGIC")
                        with m.Else():
                            m.next = "SETTLE"
                    with m.Elif(section_done):
                        m.next = "SECTION"
            with m.State("SETTLE"):     # the last entry is written from buf
                m.next = "CHECK"
            with m.State("CHECK"):
                with m.If((glob.n_layers == 0) | (glob.n_layers > NL) | (glob.t_max == 0)
                          | (glob.t_max > cfg.t_max) | (glob.classes < 2)
                          | (glob.classes > cfg.out_depth * P) | load_bad):
                    m.d.sync += self.errors.bad_descriptor.eq(1)
                with m.Else():
                    m.d.sync += self.loaded.eq(1)
                m.next = "MAGIC"
            with m.State("DRAIN"):
                with m.If(accept & ld.payload.last):
                    m.next = "MAGIC"

        # ------------------------------------------------------------ units
        m.submodules.scatter = sc = SpikeScatter(cfg)
        m.submodules.fire = fu = FireUnit(cfg)
        m.submodules.exit = xu = ExitUnit(cfg)
        m.submodules.evfifo = evq = fifo.SyncFIFO(width=ScatterEventLayout(cfg).size, depth=4)

        layer = Signal(4)
        phase = Signal(Phase)
        # one-hot copy of ``phase`` for the memory port steering; set_phase sets both
        ph = Signal(data.StructLayout({"init": 1, "scatter": 1, "fire": 1, "exit": 1, "result": 1}),
                    init={"init": 1})

        def set_phase(n):
            return [phase.eq(n), ph.init.eq(n == Phase.INIT),
                    ph.scatter.eq(n in (Phase.INPUT, Phase.SCATTER)), ph.fire.eq(n == Phase.FIRE),
                    ph.exit.eq(n == Phase.EXIT), ph.result.eq(n == Phase.IDLE)]
        edge_i = Signal(2)
        t = Signal(8)
        d = Signal(Desc)
        m.d.comb += [desc_r.addr.eq(layer), d.eq(desc_r.data)]
        e = Signal(EdgeLayout(cfg))
        m.d.comb += e.eq(d.edges[edge_i])
        m.d.comb += src_r.addr.eq(e.src)
        src = Signal(Desc)
        m.d.comb += src.eq(src_r.data)

        # ------------------------------------------------------------ event fetch
        ev_count = Array(Signal(16, name=f"ev_count{i}", reset_less=True) for i in range(NL))
        # where timestep t's input entries start and how many there are (t >= 1)
        step_first = Array(Signal(16, name=f"step_first{i}") for i in range(cfg.t_max + 1))
        step_len = Array(Signal(16, name=f"step_len{i}") for i in range(cfg.t_max + 1))
        step_run = Signal(16)       # entries of the timesteps received so far
        fetch_start = Signal()
        from_input = Signal()
        f_base = Signal(cfg.event_addr_bits)
        f_count = Signal(17)
        f_ptr = Signal(17)
        f_inflight = Signal(2)      # reads issued 1 and 2 cycles ago (data registered)
        f_input = Signal()
        n_inputs = Signal(16)
        # The candidate bases and counts are registered every cycle: t, layer
        # and edge_i settle during SETUP, three cycles before fetch_start. The
        # input's pair is selected by a copy of ``t`` of its own (``t`` fans
        # out across the die) and registered once.
        f_more = Signal()       # f_ptr != f_count, registered
        src_count = Signal(16)
        t_q = Signal.like(t, reset_less=True)
        in_count = Signal(17)
        in_base = Signal.like(f_base)
        m.d.sync += [src_count.eq(ev_count[e.src]), t_q.eq(t),
                     in_count.eq(Mux(glob.static, n_inputs, step_len[t_q])),
                     in_base.eq(Mux(glob.static, 0, step_first[t_q]))]
        new_count = Signal(17)
        new_base = Signal.like(f_base)
        m.d.comb += [new_count.eq(Mux(from_input, in_count, src_count)),
                     new_base.eq(Mux(from_input, in_base, src.ebase))]
        with m.If(fetch_start):
            m.d.sync += [f_ptr.eq(0), f_inflight.eq(0), f_input.eq(from_input),
                         f_base.eq(new_base), f_count.eq(new_count),
                         f_more.eq(new_count != 0)]
        issue = Signal()
        m.d.comb += [
            issue.eq(~fetch_start & f_more & (evq.level + f_inflight[0] + f_inflight[1] < 4)),
            ev_r.addr.eq(f_base + f_ptr), inp_r.addr.eq(f_base + f_ptr),
        ]
        with m.If(issue):
            m.d.sync += [f_ptr.eq(f_ptr + 1), f_more.eq(f_ptr + 1 != f_count)]
        m.d.sync += f_inflight.eq(Cat(issue, f_inflight[0]))
        ev_in = Signal(ScatterEventLayout(cfg))
        ev_rd = Signal(EventLayout(cfg), reset_less=True)
        in_rd = Signal(InputLayout(cfg), reset_less=True)
        m.d.sync += [ev_rd.eq(ev_r.data), in_rd.eq(inp_r.data)]
        with m.If(f_input):
            m.d.comb += [ev_in.mask.eq(in_rd.mask), ev_in.group.eq(in_rd.group),
                         ev_in.y.eq(in_rd.y), ev_in.x.eq(in_rd.x), ev_in.wpos.eq(in_rd.group),
                         ev_in.value.eq(in_rd.value)]
        with m.Else():
            m.d.comb += [ev_in.mask.eq(ev_rd.mask), ev_in.group.eq(ev_rd.group),
                         ev_in.y.eq(ev_rd.y), ev_in.x.eq(ev_rd.x), ev_in.wpos.eq(ev_rd.wpos),
                         ev_in.value.eq(1)]
        m.d.comb += [
            evq.w_en.eq(f_inflight[1] & ~fetch_start), evq.w_data.eq(ev_in),
            sc.events.valid.eq(evq.r_rdy), sc.events.payload.eq(evq.r_data),
            evq.r_en.eq(sc.events.ready),
        ]
        fetch_empty = Signal()
        m.d.comb += fetch_empty.eq(~f_more & (f_inflight == 0) & ~evq.r_rdy)

        ed = e
        m.d.comb += [
            sc.linear.eq(ed.linear),
            sc.k.eq(ed.k), sc.shift.eq(ed.shift), sc.pad.eq(ed.pad), sc.wbase.eq(ed.wbase),
            sc.cin_pad.eq(ed.cin_pad), sc.s_go.eq(ed.s_go), sc.s_col.eq(ed.s_col),
            sc.s_row.eq(ed.s_row), sc.groups.eq(d.groups), sc.height.eq(d.height),
            sc.width.eq(d.width), sc.plane.eq(d.plane), sc.mbase.eq(d.mbase),
            sc.lanes_last.eq(d.lanes_last),
        ]

        # ------------------------------------------------------------ PE array
        # (built with the memory banks, after the control it steers, below)
        target_q = Signal(Target)
        # both settle in SETUP
        m.d.sync += [from_input.eq((phase == Phase.INPUT) | (e.src == SRC_INPUT)),
                     target_q.eq(Mux(phase == Phase.INPUT, Target.I0,
                                     Mux(d.output, Target.ACC, Target.MEM)))]
        sop = Signal(32)

        # ------------------------------------------------------------ init walker
        init_run = Signal()
        init_next = Signal()
        init_pos = Signal(16)
        init_w = Signal(cfg.membrane_addr_bits)
        init_v = Signal()
        init_a = Signal(cfg.membrane_addr_bits)
        init_ma = Signal(cfg.membrane_addr_bits)     # d.mbase + init_a
        init_start = Signal()
        with m.If(init_start):
            m.d.sync += [init_run.eq(1), init_pos.eq(0), init_w.eq(0)]
        with m.Elif(init_run):
            m.d.sync += [init_w.eq(init_w + 1), init_pos.eq(init_pos + 1)]
            with m.If(init_pos == d.plane - 1):
                m.d.comb += init_next.eq(1)
                m.d.sync += init_pos.eq(0)
            with m.If(init_w == d.words - 1):
                m.d.sync += init_run.eq(0)
        m.d.sync += [init_v.eq(init_run), init_a.eq(init_w), init_ma.eq(d.mbase + init_w)]
        par = Signal(ParamLayout(cfg))      # the banks' parameter words, all lanes
        init_bias = Signal(MemWord)
        for i in range(P):
            m.d.comb += init_bias[i].eq(par.bias[i])

        # ------------------------------------------------------------ main control
        cycles = Signal(32)
        spk = Array(Signal(32, name=f"spk{i}", reset_less=True) for i in range(NL))
        pspk = Array(Signal(32, name=f"pspk{i}", reset_less=True) for i in range(NL))
        counter = Signal(range(max(PHASE_FILL, *PHASE_PAD.values()) + 1))
        out_class = Signal(16)
        images_done = Signal(32)
        sops_total = Signal(64)
        spikes_total = Signal(64)
        m.d.comb += [self.images_done.eq(images_done), self.sops.eq(sops_total),
                     self.spikes.eq(spikes_total)]

        # The parameter word of the group being walked, for init, fire and exit
        # alike: in each bank one register drives the (LUT RAM) memory's
        # address, so no phase mux or adder sits in front of its fan-out.
        for b in range(NB):
            par_addr = Signal(cfg.param_addr_bits, name=f"par_addr{b}", attrs={"keep": 1})
            with m.If(init_start | fu.start | xu.start):
                m.d.sync += par_addr.eq(d.pbase)
            with m.Elif(init_next | fu.next_group | xu.next_group):
                m.d.sync += par_addr.eq(par_addr + 1)
            m.d.comb += par_r[b].addr.eq(par_addr)
            for j in range(G):
                m.d.comb += [par.theta[b * G + j].eq(par_r[b].data.theta[j]),
                             par.bias[b * G + j].eq(par_r[b].data.bias[j])]
            theta_bits = buf[b * G * B:(b + 1) * G * B]
            bias_bits = buf[P * B + b * G * A:P * B + (b + 1) * G * A]
            _registered_write(m, par_w[b], wr.param, wr_index, Cat(theta_bits, bias_bits),
                              f"par{b}")

        # ``go`` is set at SETUP's counter 1 and cleared the next cycle: it is
        # the units' start pulse, straight from a register.
        go = Signal(data.StructLayout({"init": 1, "scatter": 1, "fire": 1, "exit": 1}))
        ev_addr = Signal(cfg.event_addr_bits)       # d.ebase + events written so far
        with m.If(fu.start):
            m.d.sync += ev_addr.eq(d.ebase)
        with m.Elif(fu.ev_en):
            m.d.sync += ev_addr.eq(ev_addr + 1)
        # the event memory's own copies of the write (it sits far from the fire unit)
        ev_entry = Signal(EventLayout(cfg))
        m.d.comb += [ev_entry.mask.eq(fu.ev_mask), ev_entry.group.eq(fu.ev_group),
                     ev_entry.y.eq(fu.ev_y), ev_entry.x.eq(fu.ev_x), ev_entry.wpos.eq(fu.ev_wpos)]
        _registered_write(m, ev_w, fu.ev_en, ev_addr, ev_entry, "ev")

        # Each bank runs its own copy of the PE pipeline on the scatter's
        # operations; in stage (cycle) q0 the op is in the bank's registers and
        # its weight read is issued; q1: weight out of the block RAM (then
        # registered), target read issued; q2: target out, selected into
        # ``base``, product into ``prod``; q3: the add; q4: the bank's write
        # registers; q5: the write. Every block-RAM output is registered before
        # logic uses it, and every memory port is driven from the bank's own
        # registers. An op reads its target word before the four ops ahead of
        # it have written theirs, so their sums are forwarded.
        # Write-port selects, registered from the one-hot phase flags (every
        # phase's first write comes later than that).
        Wsel = data.StructLayout({"mem_pe": 1, "mem_fire": 1, "mem_init": 1, "init_zero": 1,
                                  "i0_pe": 1, "i0_init": 1, "acc_pe": 1, "acc_exit": 1,
                                  "acc_init": 1})
        wsel_d = Signal(Wsel)
        m.d.comb += [
            wsel_d.mem_pe.eq(ph.scatter & (target_q == Target.MEM)), wsel_d.mem_fire.eq(ph.fire),
            wsel_d.mem_init.eq(ph.init & ~d.output), wsel_d.init_zero.eq(d.static),
            wsel_d.i0_pe.eq(ph.scatter & (target_q == Target.I0)),
            wsel_d.i0_init.eq(ph.init & d.static & ~d.output),
            wsel_d.acc_pe.eq(ph.scatter & (target_q == Target.ACC)), wsel_d.acc_exit.eq(ph.exit),
            wsel_d.acc_init.eq(ph.init & d.output),
        ]
        u_k = Signal(16)            # the output lane being sent (RESULT_U)
        ma = cfg.membrane_addr_bits
        Op = data.StructLayout({"m": ma, "value": signed(VALUE_BITS)})
        mem_q = Signal(MemWord, reset_less=True)
        i0_q = Signal(MemWord, reset_less=True)
        acc_rdata = Signal(AccWord)
        pe_busy = Signal()
        for b in range(NB):
            lanes = range(b * G, (b + 1) * G)
            # valid bits are reset; the operation's data is not (the reset net
            # stays small)
            qv = [replica(m, sc.op_valid, f"q0v_{b}")]
            qv += [Signal(name=f"q{i}v_{b}") for i in range(1, 7)]
            q0 = Signal(Op, name=f"q0_{b}", reset_less=True, attrs={"keep": 1})
            m.d.sync += [q0.m.eq(sc.op_m), q0.value.eq(sc.op_value)]
            q = [q0] + [Signal(Op, name=f"q{i}_{b}", reset_less=True) for i in range(1, 7)]
            m.d.sync += [q[i].eq(q[i - 1]) for i in range(1, 7)]
            m.d.sync += [qv[i].eq(qv[i - 1]) for i in range(1, 7)]
            if b == 0:
                m.d.comb += pe_busy.eq(Cat(*qv[:6]).any())
            target = replica(m, target_q, f"target{b}", reset_less=True)
            wsel = replica(m, wsel_d, f"wsel{b}", reset_less=True)
            # the fire unit owns the read ports from its start to the next scatter's
            fire_rd = Signal(name=f"fire_rd{b}", attrs={"keep": 1})
            with m.If(go.fire):
                m.d.sync += fire_rd.eq(1)
            with m.Elif(go.scatter):
                m.d.sync += fire_rd.eq(0)
            mem_ra = Signal(ma, name=f"mem_ra{b}")
            i0_ra = Signal(ma, name=f"i0_ra{b}")
            m.d.sync += [mem_ra.eq(Mux(fire_rd, fu.mem_addr, q0.m)),
                         i0_ra.eq(Mux(fire_rd, fu.i0_addr, q0.m))]
            m.d.comb += [wgt_r[b].addr.eq(sc.op_w), mem_r[b].addr.eq(mem_ra),
                         i0_r[b].addr.eq(i0_ra)]
            with m.If(ph.exit):
                m.d.comb += acc_r[b].addr.eq(xu.acc_addr)
            with m.Elif(ph.result):
                m.d.comb += acc_r[b].addr.eq(u_k >> LB)
            with m.Else():
                m.d.comb += acc_r[b].addr.eq(q[1].m)
            for j, i in enumerate(lanes):
                m.d.sync += [mem_q[i].eq(mem_r[b].data[j]), i0_q[i].eq(i0_r[b].data[j])]
                m.d.comb += acc_rdata[i].eq(acc_r[b].data[j])

            wq = Signal.like(wgt_r[b].data, name=f"wq{b}", reset_less=True)
            m.d.sync += wq.eq(wgt_r[b].data)
            prod = Signal(data.ArrayLayout(signed(WEIGHT_BITS + VALUE_BITS), G),
                          name=f"prod{b}", reset_less=True)
            base = Signal(BankAcc, name=f"base{b}", reset_less=True)
            for j in range(G):
                m.d.sync += prod[j].eq(wq[j] * q[2].value)
            with m.Switch(target):
                with m.Case(Target.MEM):
                    m.d.sync += [base[j].eq(mem_r[b].data[j]) for j in range(G)]
                with m.Case(Target.I0):
                    m.d.sync += [base[j].eq(i0_r[b].data[j]) for j in range(G)]
                with m.Default():
                    m.d.sync += base.eq(acc_r[b].data)
            fwd = Signal(4, name=f"fwd{b}")
            m.d.sync += fwd.eq(Cat(*(qv[k] & (q[2].m == q[k].m) for k in range(3, 7))))
            sums = [Signal(BankAcc, name=f"sum{k}_{b}", reset_less=True) for k in range(4)]
            m.d.sync += [sums[k].eq(sums[k - 1]) for k in range(1, 4)]
            pe_rdata = Signal(BankAcc, name=f"pe_rdata{b}")
            m.d.comb += pe_rdata.eq(base)
            for k in reversed(range(4)):
                with m.If(fwd[k]):
                    m.d.comb += pe_rdata.eq(sums[k])
            m.d.sync += [sums[0][j].eq(pe_rdata[j] + prod[j]) for j in range(G)]

            # the bank's write registers: membrane, I0, accumulators
            mw = Signal(data.StructLayout({"addr": ma, "data": BankMem}), name=f"mem_wr{b}",
                        reset_less=True)
            iw = Signal(data.StructLayout({"addr": ma, "data": BankMem}), name=f"i0_wr{b}",
                        reset_less=True)
            aw = Signal(data.StructLayout({"addr": ma, "data": BankAcc}), name=f"acc_wr{b}",
                        reset_less=True)
            mw_en, iw_en, aw_en = (Signal(name=f"{n}_wr_en{b}") for n in ("mem", "i0", "acc"))
            m.d.sync += [
                mw_en.eq((wsel.mem_pe & qv[4]) | (wsel.mem_fire & fu.wr_en)
                         | (wsel.mem_init & init_v)),
                iw_en.eq((wsel.i0_pe & qv[4]) | (wsel.i0_init & init_v)),
                aw_en.eq((wsel.acc_pe & qv[4]) | (wsel.acc_exit & xu.wr_en)
                         | (wsel.acc_init & init_v)),
                iw.addr.eq(Mux(wsel.i0_pe, q[4].m, init_a)),
            ]
            bias = [init_bias[i] for i in lanes]
            fire_data = [fu.wr_data[i] for i in lanes]
            exit_data = [xu.wr_data[i] for i in lanes]
            m.d.sync += [iw.data[j].eq(Mux(wsel.i0_pe, sums[0][j], bias[j])) for j in range(G)]
            with m.If(wsel.mem_pe):
                m.d.sync += [mw.addr.eq(q[4].m), *(mw.data[j].eq(sums[0][j]) for j in range(G))]
            with m.Elif(wsel.mem_fire):
                m.d.sync += [mw.addr.eq(fu.wr_addr), mw.data.eq(Cat(*fire_data))]
            with m.Else():
                m.d.sync += [mw.addr.eq(init_ma),
                             mw.data.eq(Mux(wsel.init_zero, 0, Cat(*bias)))]
            with m.If(wsel.acc_pe):
                m.d.sync += [aw.addr.eq(q[4].m), aw.data.eq(sums[0])]
            with m.Elif(wsel.acc_exit):
                m.d.sync += [aw.addr.eq(xu.wr_addr), aw.data.eq(Cat(*exit_data))]
            with m.Else():
                m.d.sync += [aw.addr.eq(init_a), aw.data.eq(0)]
            for port, en, reg in ((mem_w[b], mw_en, mw), (i0_w[b], iw_en, iw), (acc_w[b], aw_en, aw)):
                m.d.comb += [port.en.eq(en), port.addr.eq(reg.addr), port.data.eq(reg.data)]

            _registered_write(m, wgt_w[b], wr.weight, wr_index,
                              buf[b * G * WEIGHT_BITS:(b + 1) * G * WEIGHT_BITS], f"wgt{b}")
        m.d.comb += [
            fu.mbase.eq(d.mbase), fu.groups.eq(d.groups), fu.width.eq(d.width),
            fu.plane.eq(d.plane), fu.pheight.eq(d.pheight), fu.pwidth.eq(d.pwidth),
            fu.pool.eq(d.pool), fu.prow.eq(d.prow), fu.static.eq(d.static), fu.leak.eq(d.leak),
            fu.reset_zero.eq(d.reset_zero), fu.lanes_last.eq(d.lanes_last),
            fu.mem_rdata.eq(mem_q), fu.i0_rdata.eq(i0_q), fu.par_rdata.eq(par),
            xu.groups.eq(d.groups), xu.lanes_last.eq(d.lanes_last),
            xu.acc_rdata.eq(acc_rdata), xu.par_rdata.eq(par),
        ]
        # Spikes are counted per fire phase and added to the layer's counters
        # once, the cycle after the fire unit is done (``spk_add``), from
        # registers only: the layer's one-hot decode and its selected counters.
        # counters cleared before use (fu.start, clear_counts): no reset
        fire_spk = Signal(32, reset_less=True)
        fire_pspk = Signal(32, reset_less=True)
        sel_spk = Signal(32, reset_less=True)
        sel_pspk = Signal(32, reset_less=True)
        img_spk = Signal(32, reset_less=True)
        layer_hot = Signal(NL)
        spk_add = Signal()
        m.d.sync += [layer_hot.eq(1 << layer),
                     sel_spk.eq(_select_hot(layer_hot, spk)),
                     sel_pspk.eq(_select_hot(layer_hot, pspk)),
                     spk_add.eq(ph.fire & fu.done & (counter == 0))]
        # the fire unit's counts, registered once more here (they cross the die);
        # the last arrives well before ``spk_add``
        spikes_q = Signal.like(fu.spikes)
        pooled_q = Signal.like(fu.pooled)
        m.d.sync += [spikes_q.eq(fu.spikes), pooled_q.eq(fu.pooled)]
        with m.If(fu.start):
            m.d.sync += [fire_spk.eq(0), fire_pspk.eq(0)]
        with m.Elif(ph.fire):
            m.d.sync += [fire_spk.eq(fire_spk + spikes_q), fire_pspk.eq(fire_pspk + pooled_q)]
        # cleared the cycle after START, from a register (no state decode)
        clear_counts = Signal()
        m.d.sync += clear_counts.eq(0)
        with m.If(clear_counts):
            m.d.sync += img_spk.eq(0)
            for i in range(NL):
                m.d.sync += [spk[i].eq(0), pspk[i].eq(0)]
        with m.If(spk_add):
            m.d.sync += img_spk.eq(img_spk + fire_spk)
        for i in range(NL):
            with m.If(spk_add & layer_hot[i]):
                m.d.sync += [ev_count[i].eq(fu.events), spk[i].eq(sel_spk + fire_spk),
                             pspk[i].eq(sel_pspk + fire_pspk)]
        with m.If(sc.op_valid):
            m.d.sync += sop.eq(sop + sc.op_lanes)

        # ------------------------------------------------------------ image receiver
        img = self.image
        img_accept = Signal()
        n_total = Signal(16)
        n_left = Signal(17)
        steps_left = Signal(9)
        words_left = Signal(16)     # input entries left in this timestep (or image)
        last_word = Signal()        # words_left == 1, registered
        w_idx = Signal(16)
        in_entry = Signal(InputLayout(cfg))
        word0 = Signal(32)
        m.d.comb += [inp_w.addr.eq(w_idx), inp_w.data.eq(in_entry)]
        m.d.comb += [in_entry.group.eq(word0[16:24]), in_entry.y.eq(word0[8:16]),
                     in_entry.x.eq(word0[:8])]
        with m.If(glob.static):
            m.d.comb += [in_entry.mask.eq(C(1, P) << word0[24:29]),
                         in_entry.value.eq(img.payload.data)]
        with m.Else():
            m.d.comb += [in_entry.mask.eq(img.payload.data), in_entry.value.eq(1)]
        bad_field = Signal()
        m.d.comb += bad_field.eq((word0[16:24] >= glob.in_groups) | (word0[8:16] >= glob.in_height)
                                 | (word0[:8] >= glob.in_width)
                                 | (glob.static & (word0[24:29] >= P)))
        value_hi = img.payload.data[VALUE_BITS - 1:]
        bad_value = Signal()
        m.d.comb += bad_value.eq(Mux(glob.static,
                                     (value_hi != 0) & (value_hi != (1 << (33 - VALUE_BITS)) - 1),
                                     img.payload.data[P:] != 0))

        res = self.result
        u_ready = Signal()
        r_l = Signal(5)
        m.d.comb += self.cycles.eq(cycles)

        def goto_phase(kind):
            m.d.sync += [counter.eq(0)]
            m.next = kind

        def finish_image():
            m.d.sync += [u_k.eq(0), u_ready.eq(0), r_l.eq(0)]
            m.next = "RESULT_HEAD"

        # The exit decision, registered in the EXIT state's last cycle (the
        # margin top-1 - top-2 is final once ``xu.done`` rises; the exit phase
        # lasts more than two cycles, so ``tau_r``, read at t - 1, is settled)
        # so DECIDE only branches.
        margin_ok = Signal()
        last_t = Signal()
        m.d.comb += tau_r.addr.eq(t - 1)
        m.d.sync += go.eq(0)
        m.d.comb += [init_start.eq(go.init), xu.start.eq(go.exit), fu.start.eq(go.fire),
                     fetch_start.eq(go.scatter), sc.start.eq(go.scatter)]
        m.d.comb += [self.busy.eq(~main_idle)]
        with m.FSM(name="main"):
            with m.State("IDLE"):
                m.d.comb += [main_idle.eq(1), img.ready.eq(loader_idle),
                             img_accept.eq(img.valid & loader_idle)]
                m.d.sync += set_phase(Phase.IDLE)
                with m.If(img_accept):
                    m.d.sync += [n_total.eq(img.payload.data[:16]), n_left.eq(img.payload.data[:16]),
                                 words_left.eq(img.payload.data[:16]),
                                 last_word.eq(img.payload.data[:16] == 1),
                                 steps_left.eq(img.payload.data[16:24]), w_idx.eq(0),
                                 step_run.eq(0)]
                    hdr_ok = ((img.payload.data[24:] == IMAGE_MAGIC) & self.loaded
                              & (img.payload.data[:16] <= cfg.input_depth)
                              & Mux(glob.static, img.payload.data[16:24] == 0,
                                    img.payload.data[16:24] == glob.t_max))
                    with m.If(~hdr_ok):
                        _reject(m, self.errors.bad_image.eq(1), img.payload.last, "IMG_DRAIN")
                    with m.Elif(glob.static):
                        with m.If(img.payload.data[:16] == 0):
                            with m.If(img.payload.last):
                                m.next = "START"
                            with m.Else():
                                m.d.sync += self.errors.bad_image.eq(1)
                                m.next = "IMG_DRAIN"
                        with m.Elif(img.payload.last):
                            m.d.sync += self.errors.bad_image.eq(1)
                        with m.Else():
                            m.next = "IMG_W0"
                    with m.Else():
                        with m.If(img.payload.last):
                            m.d.sync += self.errors.bad_image.eq(1)
                        with m.Else():
                            m.d.sync += t.eq(0)
                            m.next = "IMG_STEP"
            with m.State("IMG_STEP"):
                m.d.comb += [img.ready.eq(1), img_accept.eq(img.valid)]
                with m.If(img.valid):
                    cnt = img.payload.data[:16]
                    m.d.sync += [steps_left.eq(steps_left - 1), t.eq(t + 1),
                                 words_left.eq(cnt), last_word.eq(cnt == 1),
                                 step_first[t + 1].eq(step_run), step_len[t + 1].eq(cnt),
                                 step_run.eq(step_run + cnt),
                                 n_left.eq(n_left - cnt)]
                    ok = (img.payload.data[24:] == STEP_MAGIC) & (cnt <= n_left)
                    final = (steps_left == 1) & (cnt == 0)
                    with m.If(~ok | (final & ((n_left != 0) | ~img.payload.last))
                              | (~final & img.payload.last)):
                        _reject(m, self.errors.bad_image.eq(1), img.payload.last, "IMG_DRAIN",
                                stay="IDLE")
                    with m.Elif(final):
                        m.next = "START"
                    with m.Elif(cnt != 0):
                        m.next = "IMG_W0"
            with m.State("IMG_W0"):
                m.d.comb += [img.ready.eq(1), img_accept.eq(img.valid)]
                with m.If(img.valid):
                    m.d.sync += word0.eq(img.payload.data)
                    with m.If(img.payload.last):
                        m.d.sync += self.errors.bad_image.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "IMG_W1"
            with m.State("IMG_W1"):
                m.d.comb += [img.ready.eq(1), img_accept.eq(img.valid)]
                with m.If(img.valid):
                    m.d.comb += inp_w.en.eq(1)
                    m.d.sync += [w_idx.eq(w_idx + 1), words_left.eq(words_left - 1),
                                 last_word.eq(words_left == 2)]
                    end_of_step = last_word
                    end_of_image = end_of_step & (glob.static | (steps_left == 0))
                    with m.If(bad_field | bad_value
                              | (end_of_image != img.payload.last)):
                        _reject(m, self.errors.bad_image.eq(1), img.payload.last, "IMG_DRAIN",
                                stay="IDLE")
                    with m.Elif(end_of_image):
                        m.next = "START"
                    with m.Elif(end_of_step):
                        m.next = "IMG_STEP"
                    with m.Else():
                        m.next = "IMG_W0"
            with m.State("IMG_DRAIN"):
                m.d.comb += [img.ready.eq(1), img_accept.eq(img.valid)]
                with m.If(img.valid & img.payload.last):
                    m.next = "IDLE"

            # --- run: cycle counter counts every state from START to DECIDE ---
            with m.State("START"):
                m.d.sync += [cycles.eq(1), layer.eq(0), edge_i.eq(0), t.eq(0), sop.eq(0),
                             n_inputs.eq(w_idx), *set_phase(Phase.INIT), counter.eq(0)]
                m.d.sync += clear_counts.eq(1)
                m.next = "SETUP"
            with m.State("SETUP"):
                # descriptor reads settle (layer -> d -> edge source -> src); the
                # next phase is decided at counter 1 and started from registers at 2
                m.d.sync += [cycles.eq(cycles + 1), counter.eq(counter + 1)]
                with m.If(counter == 1):
                    with m.Switch(phase):
                        with m.Case(Phase.INIT):
                            m.d.sync += go.init.eq(1)
                        with m.Case(Phase.INPUT, Phase.SCATTER):
                            with m.If((phase == Phase.SCATTER)
                                      & (d.static | (edge_i >= d.n_edges))):
                                with m.If(d.output):
                                    m.d.sync += go.exit.eq(1)
                                with m.Else():
                                    m.d.sync += go.fire.eq(1)
                            with m.Else():
                                m.d.sync += go.scatter.eq(1)
                with m.If(counter == 2):
                    m.d.sync += counter.eq(0)
                    with m.If(go.init):
                        m.next = "INIT"
                    with m.If(go.exit):
                        m.d.sync += set_phase(Phase.EXIT)
                        m.next = "EXIT"
                    with m.If(go.fire):
                        m.d.sync += set_phase(Phase.FIRE)
                        m.next = "FIRE"
                    with m.If(go.scatter):
                        m.next = "SCATTER"
            with m.State("INIT"):
                m.d.sync += [cycles.eq(cycles + 1)]
                with m.If(~init_run & ~init_v):
                    m.d.sync += counter.eq(counter + 1)
                    with m.If(counter == PHASE_PAD["init"]):
                        m.d.sync += counter.eq(0)
                        with m.If(layer == glob.n_layers - 1):
                            m.d.sync += layer.eq(0)
                            with m.If(glob.static):
                                m.d.sync += [*set_phase(Phase.INPUT), edge_i.eq(0)]
                            with m.Else():
                                m.d.sync += [*set_phase(Phase.SCATTER), edge_i.eq(0), t.eq(1)]
                        with m.Else():
                            m.d.sync += layer.eq(layer + 1)
                        m.next = "SETUP"
            with m.State("SCATTER"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(counter != PHASE_FILL):
                    m.d.sync += counter.eq(counter + 1)
                with m.If((counter == PHASE_FILL) & sc.idle & fetch_empty
                          & ~pe_busy):
                    m.d.sync += counter.eq(0)
                    with m.If(phase == Phase.INPUT):
                        m.d.sync += [*set_phase(Phase.SCATTER), t.eq(1), edge_i.eq(0)]
                    with m.Else():
                        m.d.sync += edge_i.eq(edge_i + 1)
                    m.next = "SETUP"
            with m.State("FIRE"):
                m.d.sync += [cycles.eq(cycles + 1)]
                with m.If(fu.done):
                    m.d.sync += counter.eq(counter + 1)
                    with m.If(counter == PHASE_PAD["fire"]):
                        m.d.sync += [layer.eq(layer + 1), edge_i.eq(0), *set_phase(Phase.SCATTER),
                                     counter.eq(0)]
                        m.next = "SETUP"
            with m.State("EXIT"):
                m.d.sync += [cycles.eq(cycles + 1),
                             margin_ok.eq(xu.margin >= tau_r.data.value),
                             last_t.eq(t == glob.t_max)]
                with m.If(xu.done):
                    m.next = "DECIDE"
            with m.State("DECIDE"):
                m.d.sync += [cycles.eq(cycles + 1)]
                stop = last_t | (tau_r.data.enable & margin_ok)
                m.d.sync += out_class.eq(xu.index)
                with m.If(stop):
                    finish_image()
                with m.Else():
                    m.d.sync += [t.eq(t + 1), layer.eq(0), edge_i.eq(0), *set_phase(Phase.SCATTER),
                                 counter.eq(0)]
                    m.next = "SETUP"

            # --- result words (not counted) ---
            with m.State("RESULT_HEAD"):
                m.d.sync += set_phase(Phase.IDLE)
                m.d.comb += [res.valid.eq(1),
                             res.payload.data.eq(Cat(out_class, t, C(RESULT_MAGIC, 8)))]
                with m.If(res.ready):
                    m.next = "RESULT_U"
            with m.State("RESULT_U"):
                lane = Signal(signed(A))
                m.d.comb += lane.eq(acc_rdata[u_k[:LB]])
                m.d.sync += u_ready.eq(1)
                m.d.comb += [res.valid.eq(u_ready), res.payload.data.eq(lane)]
                with m.If(res.valid & res.ready):
                    m.d.sync += [u_k.eq(u_k + 1), u_ready.eq(0)]
                    with m.If(u_k == glob.classes - 1):
                        m.next = "RESULT_SPIKES"
                        with m.If(glob.n_layers == 1):
                            m.next = "RESULT_CYCLES"
            with m.State("RESULT_SPIKES"):
                m.d.comb += [res.valid.eq(1),
                             res.payload.data.eq(Mux(r_l[0], pspk[r_l[1:]], spk[r_l[1:]]))]
                with m.If(res.ready):
                    m.d.sync += r_l.eq(r_l + 1)
                    with m.If(r_l == 2 * glob.n_layers - 3):
                        m.next = "RESULT_CYCLES"
            with m.State("RESULT_CYCLES"):
                m.d.comb += [res.valid.eq(1), res.payload.data.eq(cycles)]
                with m.If(res.ready):
                    m.next = "RESULT_SOPS"
            with m.State("RESULT_SOPS"):
                m.d.comb += [res.valid.eq(1), res.payload.data.eq(sop), res.payload.last.eq(1)]
                with m.If(res.ready):
                    m.d.sync += [images_done.eq(images_done + 1),
                                 sops_total.eq(sops_total + sop),
                                 spikes_total.eq(spikes_total + img_spk)]
                    m.next = "IDLE"
        return m
