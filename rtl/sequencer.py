"""Phase sequencer: an image's run, layer by layer and timestep by timestep, to the exit."""

from amaranth.hdl import *
from amaranth.lib import enum, wiring, data
from amaranth.lib.wiring import In, Out

from .config import (DescriptorLayout, GlobalLayout, TauLayout, WriteSelectLayout,
                     PhaseFlagsLayout, UnitStartLayout)

__all__ = ["Phase", "Target", "Sequencer", "PHASE_FILL", "PHASE_PAD"]

#: Cycles a scatter phase waits before it may end: the latency from its start
#: to its first operation, so an empty phase costs what a busy one adds.
PHASE_FILL = 16

#: Extra cycles after a unit is done, per phase kind, so that every phase costs
#: ``work + C_PHASE`` (see golden/cycles.py).
PHASE_PAD = {"init": 15, "fire": 8}


class Phase(enum.Enum, shape=3):
    """What the core is doing: one layer walk per phase, IDLE between images."""
    INIT = 0        # membranes set from the parameters
    SCATTER = 1     # input values or spikes scattered into membranes
    FIRE = 2
    EXIT = 3
    IDLE = 4        # receiving an image or sending a result
    SWAP_IN = 5     # an off-chip layer's membranes read into the buffer
    SWAP_OUT = 6    # and written back


class Target(enum.Enum, shape=1):
    """Which memory a PE bank's accumulate reads and writes."""
    MEM = 0         # membranes
    ACC = 1         # output accumulators


class Sequencer(wiring.Component):
    """Step through an image's phases and count its cycles (the cycle model of
    golden/cycles.py): INIT of every layer; then per timestep, per layer, a
    scatter per edge (the static first layer's edge scatters the input entries
    again every timestep) and a fire (an exit for the output layer); after each
    exit, stop or go on.

    Every phase starts with a SETUP of three cycles: the descriptor reads
    settle (layer, then its edge's source), the next phase is decided at
    counter 1 and its unit started from a register (``go``) at counter 2.

    Members
    -------
    start : In(1)
        Pulse: an image is received.
    idle : Out(1)
        No run and no result in progress.
    glob, desc : In
        The network and the current layer (``layer``).
    layer, edge, t : Out
        The layer, its input edge and the timestep walked.
    phase, flags : Out
        The phase, and a one-hot copy of it for the memory port steering.
    go : Out(UnitStartLayout)
        The units' start pulses, registered.
    target, wsel : Out
        The PE banks' accumulate target and write selects for the phase.
    init_busy, drained, fire_done, exit_done : In(1)
        The init walker walking; the fetch, scatter and PE pipeline empty; the
        fire and exit units done.
    margin, index : In
        The exit unit's top-1 minus top-2 and top-1 index.
    tau_addr, tau : Out, In
        The exit table read: entry ``t - 1``.
    clear, fire_end : Out(1)
        Pulses for the counters: the run starts; the fire unit's first done cycle.
    send : Out(1)
        Pulse: the run is over, the result is to be sent.
    sent : In(1)
        Pulse: the result is sent.
    cycles, winner : Out
        The run's cycle count and class, held until the next run.
    tile_ready : In(1)
        With the weight port: the tile buffer scattered next holds its tile.
    tile_done : Out(1)
        Pulse: a tile's scatter phase ends, its buffer is released.
    tile_last, moff : Out
        The tile scattered is its edge's last; the membrane words from the
        layer's base to the tile's first output group.
    port_idle, swap_busy : In(1)
        With ``membrane_swap``: the weight streamer has no tile in flight; the
        membrane swap runs. An off-chip layer (``desc.swap``) is skipped by
        the init pass and initialised in its buffer before its first scatter
        of timestep 1 (the init walk in place of a read in), read in before its
        first scatter of every later timestep, and written back after every
        fire. Each of these phases waits in SETUP, counter 1, for the port
        idle and raises ``hold`` while it runs (no new tile starts); ``passed``
        counts those that ended this image, so that the streamer starts each
        tile after the ones before it in program order (a fixed order of the
        port's operations: the timeline only grows with the memory's delays).
    """

    def __init__(self, config):
        self.config = config
        super().__init__({
            "start": In(1), "idle": Out(1),
            "glob": In(GlobalLayout(config)), "desc": In(DescriptorLayout(config)),
            "layer": Out(config.layer_bits), "edge": Out(2), "t": Out(8),
            "phase": Out(Phase), "flags": Out(PhaseFlagsLayout), "go": Out(UnitStartLayout),
            "target": Out(Target), "wsel": Out(WriteSelectLayout),
            "init_busy": In(1), "drained": In(1), "fire_done": In(1), "exit_done": In(1),
            "margin": In(signed(config.acc_bits + 2)), "index": In(16),
            "tau_addr": Out(8), "tau": In(TauLayout(config)),
            "clear": Out(1), "fire_end": Out(1), "send": Out(1), "sent": In(1),
            "cycles": Out(32), "winner": Out(16),
            "tile_ready": In(1), "tile_done": Out(1), "tile_last": Out(1), "moff": Out(16),
            "port_idle": In(1), "swap_busy": In(1), "hold": Out(1), "passed": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        glob = self.glob
        d = self.desc
        go = self.go
        layer, edge_i, t, cycles = self.layer, self.edge, self.t, self.cycles
        phase = Signal(Phase)
        ph = Signal(PhaseFlagsLayout, init={"init": 1})
        m.d.comb += [self.phase.eq(phase), self.flags.eq(ph)]
        # With the weight port, a streamed edge scatters once per tile and each
        # tile's phase waits in SETUP, counter 1, until its tile is in.
        tile = Signal(8)
        port = self.config.weight_port
        tiles = d.edges[edge_i].tiles if port else C(0, 8)
        mstep = d.edges[edge_i].tile_mstep if port else C(0, 16)
        swapped = d.swap if self.config.membrane_swap else C(0)
        loaded = Signal()       # the off-chip layer scattered now is read in
        # the phases that hold the port (a swap, or timestep 1's init walk of an
        # off-chip layer): each waits for it idle and keeps new tiles back; one
        # ending counts in ``passed``, which the streamer's table entries wait on
        hold = Signal()
        passed = Signal.like(self.passed)
        m.d.comb += [self.hold.eq(hold), self.passed.eq(passed)]
        need_in = Signal()      # the layer's membranes are to be read in first
        wait = Signal()
        m.d.comb += [self.tile_last.eq(tile + 1 == tiles),
                     need_in.eq(swapped & ~loaded & (edge_i == 0) & (tile == 0)),
                     wait.eq(((phase == Phase.SCATTER) & (edge_i < d.n_edges) & (tiles != 0)
                              & ~self.tile_ready & ~need_in)
                             | (hold & ~self.port_idle))]

        def set_phase(n, holds=None):
            if holds is None:
                holds = (n == Phase.SWAP_IN) | (n == Phase.SWAP_OUT)
            return [phase.eq(n), hold.eq(holds), passed.eq(passed + (hold & ~holds)),
                    ph.init.eq(n == Phase.INIT),
                    ph.scatter.eq(n == Phase.SCATTER), ph.fire.eq(n == Phase.FIRE),
                    ph.exit.eq(n == Phase.EXIT), ph.result.eq(n == Phase.IDLE),
                    ph.swap_in.eq(n == Phase.SWAP_IN), ph.swap_out.eq(n == Phase.SWAP_OUT)]

        def next_after_init():
            """The init walk goes on to the next layer, or the first timestep begins."""
            with m.If(layer == glob.n_layers - 1):
                m.d.sync += [layer.eq(0), *set_phase(Phase.SCATTER), edge_i.eq(0), t.eq(1)]
            with m.Else():
                m.d.sync += [layer.eq(layer + 1), *set_phase(Phase.INIT)]

        def next_after_fire():
            m.d.sync += [layer.eq(layer + 1), edge_i.eq(0), *set_phase(Phase.SCATTER)]

        counter = Signal(range(max(PHASE_FILL, *PHASE_PAD.values()) + 1))
        # both settle in SETUP
        m.d.sync += self.target.eq(Mux(d.output, Target.ACC, Target.MEM))
        # registered by each bank (every phase's first write comes later than that)
        m.d.comb += [
            self.wsel.mem_pe.eq(ph.scatter & (self.target == Target.MEM)),
            self.wsel.mem_fire.eq(ph.fire | ph.swap_in), self.wsel.mem_init.eq(ph.init & ~d.output),
            self.wsel.acc_pe.eq(ph.scatter & (self.target == Target.ACC)),
            self.wsel.acc_exit.eq(ph.exit), self.wsel.acc_init.eq(ph.init & d.output),
        ]
        m.d.comb += self.fire_end.eq(ph.fire & self.fire_done & (counter == 0))
        # The exit decision, registered in the EXIT state's last cycle (the
        # margin top-1 - top-2 is final once ``exit_done`` rises; the exit phase
        # lasts more than two cycles, so ``tau``, read at t - 1, is settled)
        # so DECIDE only branches.
        margin_ok = Signal()
        last_t = Signal()
        m.d.comb += self.tau_addr.eq(t - 1)
        m.d.sync += go.eq(0)

        with m.FSM(name="sequencer"):
            with m.State("IDLE"):
                m.d.comb += self.idle.eq(1)
                m.d.sync += set_phase(Phase.IDLE)
                with m.If(self.start):
                    m.next = "START"
            # --- the cycle counter counts every state from START to DECIDE ---
            with m.State("START"):
                m.d.sync += [cycles.eq(1), layer.eq(0), edge_i.eq(0), t.eq(0), tile.eq(0),
                             self.moff.eq(0),
                             *set_phase(Phase.INIT), counter.eq(0), passed.eq(0)]
                m.d.comb += self.clear.eq(1)
                m.next = "SETUP"
            with m.State("SETUP"):
                m.d.sync += [cycles.eq(cycles + 1), counter.eq(counter + 1)]
                with m.If((counter == 1) & wait):
                    m.d.sync += counter.eq(counter)
                with m.Elif(counter == 1):
                    with m.Switch(phase):
                        with m.Case(Phase.INIT):
                            # an off-chip layer is initialised in its buffer in
                            # place of its first read in (timestep 1), not here
                            with m.If(swapped & (t == 0)):
                                m.d.sync += counter.eq(0)
                                next_after_init()
                            with m.Else():
                                m.d.sync += go.init.eq(1)
                        with m.Case(Phase.SWAP_IN):
                            m.d.sync += go.swap_in.eq(1)
                        with m.Case(Phase.SWAP_OUT):
                            m.d.sync += go.swap_out.eq(1)
                        with m.Case(Phase.SCATTER):
                            with m.If(need_in):
                                m.d.sync += [*set_phase(Mux(t == 1, Phase.INIT, Phase.SWAP_IN),
                                                        holds=1),
                                             counter.eq(counter)]
                            with m.Elif(edge_i >= d.n_edges):
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
                        m.d.sync += loaded.eq(0)
                        m.next = "SCATTER"
                    with m.If(go.swap_in | go.swap_out):
                        m.next = "SWAP"
            with m.State("INIT"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(~self.init_busy):
                    m.d.sync += counter.eq(counter + 1)
                    with m.If(counter == PHASE_PAD["init"]):
                        m.d.sync += counter.eq(0)
                        with m.If(swapped):     # timestep 1: the buffer is the layer's
                            m.d.sync += [loaded.eq(1), *set_phase(Phase.SCATTER)]
                        with m.Else():
                            next_after_init()
                        m.next = "SETUP"
            with m.State("SCATTER"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(counter != PHASE_FILL):
                    m.d.sync += counter.eq(counter + 1)
                with m.If((counter == PHASE_FILL) & self.drained):
                    m.d.sync += counter.eq(0)
                    m.d.comb += self.tile_done.eq(tiles != 0)
                    with m.If((tiles != 0) & ~self.tile_last):
                        m.d.sync += [tile.eq(tile + 1),
                                     self.moff.eq(self.moff + mstep)]
                    with m.Else():
                        m.d.sync += [tile.eq(0), self.moff.eq(0), edge_i.eq(edge_i + 1)]
                    m.next = "SETUP"
            with m.State("FIRE"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(self.fire_done):
                    m.d.sync += counter.eq(counter + 1)
                    with m.If(counter == PHASE_PAD["fire"]):
                        m.d.sync += counter.eq(0)
                        with m.If(swapped):
                            m.d.sync += set_phase(Phase.SWAP_OUT)
                        with m.Else():
                            next_after_fire()
                        m.next = "SETUP"
            with m.State("SWAP"):
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(~self.swap_busy):
                    with m.If(phase == Phase.SWAP_IN):
                        m.d.sync += [loaded.eq(1), *set_phase(Phase.SCATTER)]
                    with m.Else():
                        next_after_fire()
                    m.next = "SETUP"
            with m.State("EXIT"):
                m.d.sync += [cycles.eq(cycles + 1),
                             margin_ok.eq(self.margin >= self.tau.value),
                             last_t.eq(t == glob.t_max)]
                with m.If(self.exit_done):
                    m.next = "DECIDE"
            with m.State("DECIDE"):
                m.d.sync += [cycles.eq(cycles + 1), self.winner.eq(self.index)]
                with m.If(last_t | (self.tau.enable & margin_ok)):
                    m.d.comb += self.send.eq(1)
                    m.next = "SEND"
                with m.Else():
                    m.d.sync += [t.eq(t + 1), layer.eq(0), edge_i.eq(0), *set_phase(Phase.SCATTER),
                                 counter.eq(0)]
                    m.next = "SETUP"
            with m.State("SEND"):
                m.d.sync += set_phase(Phase.IDLE)
                with m.If(self.sent):
                    m.next = "IDLE"
        return m
