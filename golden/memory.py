"""External memory: the traffic, stall and throughput model of the batched,
weight-streaming accelerator (docs/architecture.md, "External memory"), in one
place.

The scheme it models (issue 14): every weight lives in DRAM and streams through
double-buffered on-chip tiles; the membranes of the layers that do not fit the
on-chip membrane SRAM live in DRAM too, read and written back per timestep. A
batch of ``slots`` images runs in rounds: in a round every occupied slot
advances its image by one timestep, layer by layer, and each layer's weights
are fetched once per round for all the slots (a layer's weights are the same at
every timestep, so slots at different timesteps share them). An image that
exits at the end of a round frees its slot, and the next image takes it in the
next round: early exits still save compute, traffic and time. A layer of a
round costs ``max(compute, bytes / bytes_per_cycle) + latency``: fetching
overlaps compute except the first burst's latency. Per image results are those
of running it alone (each slot's state is its own).

The batch figures are a model (the RTL runs one slot): they say which bound,
the array or the memory, holds a configuration. ``port_cycles`` is the one-slot
timeline the RTL's cycle counter equals.
"""

from dataclasses import dataclass

import numpy as np

from atsnn.golden import cycles as cyc

CLOCK_HZ = 100e6

#: The weight port's largest AXI4 burst, and every tile's DRAM alignment (so
#: that no burst crosses a 4 KB page); rtl/config.py reads both from here.
BURST_BYTES = 256
#: Bursts the weight port keeps in flight (3 cover 40 cycles of latency at 16
#: beats a burst).
MAX_BURSTS = 4
#: The weight streamer's cycles from seeing a free tile buffer to its first AR
#: (the table read), and the sequencer's from a scatter phase's start to the
#: cycle it checks its tile (rtl/weight_stream.py, rtl/sequencer.py).
C_TABLE = 2
C_CHECK = 1
#: The membrane swap (rtl/membrane_swap.py, rtl/sequencer.py): a row read out
#: every ``max(row_beats, C_ROW)`` cycles; the cycles from a swap-out's go to
#: its first row loaded; from its last W beat to the next phase (after the last
#: B, ``latency`` cycles after that beat); from a swap's go to its first AR; from
#: a swap-in's last R beat to the next phase.
C_ROW = 4
C_OUT_FIRST = 5
C_OUT_END = 3
C_SWAP_AR = 2
C_IN_END = 2
#: A swapped layer in the init pass: its setup cycles, no walk (its init walk
#: runs at timestep 1 in place of the read in).
C_INIT_SKIP = 2

#: pJ per byte of DRAM traffic: 20 pJ/bit, the low end of Horowitz, "Computing's
#: energy problem", ISSCC 2014 (a 64-bit DRAM access, 1.3 to 2.6 nJ). An ESTIMATE.
DRAM_PJ_PER_BYTE = 160.0


@dataclass(frozen=True)
class MemoryModel:
    """One AXI4 port to DRAM, as the model sees it.

    bytes_per_cycle: sustained bytes per core cycle, reads and writes together.
    latency: cycles from a layer's first burst request to its first beat.
    burst_bytes: bytes per AXI4 INCR burst (counted, not timed).
    membrane_bytes: on-chip membrane SRAM for all the slots together.
    """
    bytes_per_cycle: float = 12.8
    latency: int = 40
    burst_bytes: int = 256
    membrane_bytes: int = 256 * 1024


#: A 16-bit DDR3-800 (ECP5 boards: 400 MHz DDR I/O, 1.6 GB/s peak) at 80 %
#: sustained efficiency, seen from a 100 MHz core: 12.8 bytes per cycle.
DDR3_16BIT = MemoryModel()


def weight_bytes(layer):
    """Bytes of a layer's weights in DRAM (``weight_bits`` each, packed)."""
    if layer.kind == "maxpool":
        return 0
    n = sum(int(np.asarray(e.weight).size) for e in layer.inputs)
    return -(-n * int(layer.weight_bits) // 8)


def membrane_bytes(layer, membrane_bits):
    """Bytes of one image's membranes of a spiking layer (0 otherwise: the output
    layer's accumulators stay on chip)."""
    if not layer.spiking:
        return 0
    return -(-int(np.prod(layer.shape)) * int(membrane_bits) // 8)


def placement(image, slots, model, membrane_bits=24):
    """bool [n_layers]: the layers whose membranes live in DRAM. Layers keep their
    membranes on chip in network order while all the slots' copies fit
    ``model.membrane_bytes``."""
    left = model.membrane_bytes
    off = []
    for layer in image.layers:
        need = slots * membrane_bytes(layer, membrane_bits)
        fits = need <= left
        left -= need if fits else 0
        off.append(not fits)
    return np.array(off, dtype=bool)


def stream(image, scatter, exit_t, lanes, grid, slots, model=DDR3_16BIT, membrane_bits=24,
           images=None):
    """Run a stream of images through the batched scheme.

    scatter: int [N, T_max, n_layers], a golden Result's ``scatter_cycles`` (with
    exits disabled, so every timestep's work is known); exit_t: int [N], each
    image's exit timestep. The stream is ``images`` images (default N), image k
    being sample ``k mod N``. Returns a dict: ``cycles`` (whole stream),
    ``images_per_s`` at :data:`CLOCK_HZ`, per image ``read_bytes``,
    ``written_bytes``, ``bursts``, ``stall_cycles`` (cycles a layer waited on
    the memory), ``compute_cycles``, and ``memory_bound_share`` (the share of
    layer-rounds the memory held).
    """
    scatter = np.asarray(scatter, dtype=np.int64)
    exit_t = np.asarray(exit_t, dtype=np.int64)
    n = len(exit_t)
    total = n if images is None else int(images)
    layers = image.layers
    step = cyc.step_cycles(image, lanes, grid)
    init = cyc.init_cycles(image, lanes, grid)
    exit_cost = cyc.exit_cycles(image, lanes)
    wbytes = np.array([weight_bytes(l) for l in layers], dtype=np.int64)
    mbytes = np.array([membrane_bytes(l, membrane_bits) for l in layers], dtype=np.int64)
    off = placement(image, slots, model, membrane_bits)

    queue = iter(range(total))
    occupant = [next(queue, None) for _ in range(slots)]
    t_of = [0] * slots
    cycles = compute_total = cyc.C_START * sum(k is not None for k in occupant)
    stall = bursts = 0
    read = written = 0
    rounds_mem = rounds = 0
    while any(k is not None for k in occupant):
        active = [(s, k % n) for s, k in enumerate(occupant) if k is not None]
        for li in range(len(layers)):
            if layers[li].kind == "maxpool":
                continue
            compute = 0
            r = int(wbytes[li])
            w = 0
            for s, i in active:
                t = t_of[s]
                compute += int(scatter[i, t, li]) + int(step[li]) + (int(init[li]) if t == 0 else 0)
                if off[li]:
                    r += int(mbytes[li]) if t > 0 else 0    # a fresh membrane is not read
                    w += int(mbytes[li])
            moved = r + w
            mem = int(np.ceil(moved / model.bytes_per_cycle)) + (model.latency if moved else 0)
            cycles += max(compute, mem)
            stall += max(0, mem - compute)
            compute_total += compute
            rounds += 1
            rounds_mem += mem > compute
            read += r
            written += w
            bursts += -(-r // model.burst_bytes) + -(-w // model.burst_bytes)
        cycles += exit_cost * len(active)
        compute_total += exit_cost * len(active)
        for s, i in active:
            t_of[s] += 1
            if t_of[s] >= exit_t[i]:
                occupant[s], t_of[s] = next(queue, None), 0
                if occupant[s] is not None:
                    cycles += cyc.C_START
                    compute_total += cyc.C_START
    return {"slots": slots, "images": total, "cycles": cycles,
            "cycles_per_image": cycles / total, "images_per_s": CLOCK_HZ * total / cycles,
            "read_bytes": read / total, "written_bytes": written / total,
            "bursts": bursts / total, "stall_cycles": stall / total,
            "compute_cycles": compute_total / total,
            "memory_bound_share": rounds_mem / rounds if rounds else 0.0,
            "offchip_membrane_layers": [l.name for l, o in zip(layers, off) if o],
            "dram_energy_uj": (read + written) / total * DRAM_PJ_PER_BYTE * 1e-6}


def port_cycles(image, result, tiles, latency, burst_beats, details=False, swaps=None,
                row_beats=0):
    """int [N]: the cycles per image with the weight port (one slot, weights
    streamed, docs/architecture.md "The weight port, as built first"), against a
    memory that returns the first beat of a burst ``latency`` cycles after its
    AR at the earliest, then one beat per cycle, bursts in order.

    ``result``: the golden Result (its ``scatter_work`` and ``exit_t``);
    ``tiles``: the compiler's tiles in table order (``layer``: the hardware
    layer, maxpools not counted; ``edge``,
    ``steps``, ``beats``; ``atsnn.rtl.compiler.plan(...).tiles``; empty when the
    weights are on chip); burst_beats:
    beats of a full burst (``BURST_BYTES / axi_bytes``). The RTL's cycle counter
    equals this exactly.

    ``swaps``: with off-chip membranes (``HwConfig.membrane_swap``), the rows
    of every swapped hardware layer, by index (``{i: rows}``), ``row_beats``
    beats each (docs/architecture.md, "Off-chip membranes, as built"): such a
    layer is initialised in its buffer before its first scatter of timestep 1
    (not in the init pass), read in before its first scatter of every later
    timestep and written out after every fire; each tile (``holds``) starts
    after the holding phases before it in program order; a swap waits for the tile in
    flight and holds new tiles back while it runs. Writes are answered with B
    ``latency`` cycles after a burst's last beat.

    ``details``: return a dict of int [N] arrays instead: ``cycles``,
    ``stall_cycles`` (cycles scatter phases waited for their tile), ``beats``
    and ``bursts`` of the tiles the image scattered (the streamer may have
    fetched up to two more, for the timestep after the exit), and
    ``swap_read_beats``, ``swap_write_beats``, ``swap_cycles`` of its swaps.
    """
    lanes, grid = result.lanes, result.grid
    init = int(cyc.init_cycles(image, lanes, grid).sum())
    of_edge = {}
    for k, t in enumerate(tiles):
        of_edge.setdefault((t.layer, t.edge), []).append(k)
    n_tiles = len(tiles)
    #: per tile of the table: the holding phases a timestep has up to it
    credit = np.cumsum([t.holds for t in tiles]) if tiles else []
    per_t = int(credit[-1]) if n_tiles else 0

    def fetch(start, beats):
        """Cycle of a tile's last beat, its first AR at ``start``."""
        ends = []
        ar = start - 1
        for j in range(-(-beats // burst_beats)):
            n = min(burst_beats, beats - j * burst_beats)
            ar = max(ar + 1, ends[j - MAX_BURSTS] + 1 if j >= MAX_BURSTS else 0)
            first = max(ar + latency, ends[-1] + 1 if ends else 0)
            ends.append(first + n - 1)
        return ends[-1]

    swaps = swaps or {}
    n = len(result.exit_t)
    out = np.zeros(n, dtype=np.int64)
    stalls, beats, bursts, s_read, s_written, s_cycles = (np.zeros(n, dtype=np.int64)
                                                          for _ in range(6))
    for i, exit_t in enumerate(result.exit_t):
        done, release = [], []      # per tile fetched: its last beat; its release
        holds = []                  # cycles [first, last] a swap held new tiles back

        def free(n):
            """The first cycle the streamer may start tile ``n`` (counted over
            the image): its buffer free, the tile before it in, no swap holding."""
            wait = 1 if n == 0 else done[n - 1] + 1
            if n >= 2:
                if len(release) < n - 1:
                    return np.inf       # both buffers full until a later release
                wait = max(wait, release[n - 2] + 1)
            for first, last in holds:
                if first <= wait <= last:
                    wait = last + 1
            k = (n // n_tiles) * per_t + int(credit[n % n_tiles])
            if k:       # it starts after the k-th holding phase ends (it waits in READ)
                if len(holds) < k:
                    return np.inf
                wait = max(wait, holds[k - 1][1])
            return wait

        def ready(k):
            """Cycle from which tile ``k`` (counted over the image) is seen in."""
            while len(done) <= k:
                n = len(done)
                done.append(fetch(free(n) + C_TABLE, tiles[n % n_tiles].beats))
            return done[k] + 1

        def port(check, hold):
            """The cycle a swap checking the port from ``check``, holding tiles
            back from ``hold``, starts: after the tile in flight, and after every
            one the streamer starts before the hold."""
            go = check
            if done:
                go = max(go, done[-1] + 1)
            while n_tiles and free(len(done)) < hold:
                go = max(go, ready(len(done)))
            return go

        def swap_out(c, rows):
            """The next phase's start after a swap out whose phase starts at ``c``."""
            go = port(c + 1, c)
            last_beat = go + C_OUT_FIRST + (rows - 1) * max(row_beats, C_ROW) + row_beats
            end = last_beat + latency + C_OUT_END
            holds.append((c, end - 1))
            s_written[i] += rows * row_beats
            s_cycles[i] += end - c
            return end

        def init_in_place(c, words):
            """A swapped layer's init walk at timestep 1: like a swap in, it
            waits for the port and holds it; the walk is an init phase's."""
            go = port(c + 2, c + 2)
            end = go + words + cyc.C_PHASE - 1
            holds.append((c + 2, end - 1))
            return end

        def swap_in(c, rows):
            go = port(c + 2, c + 2)
            end = fetch(go + C_SWAP_AR, rows * row_beats) + C_IN_END
            holds.append((c + 2, end - 1))
            s_read[i] += rows * row_beats
            s_cycles[i] += end - c
            return end

        c = cyc.C_START
        hw = -1
        for layer in image.layers:
            if layer.kind == "maxpool":
                continue
            hw += 1
            c += C_INIT_SKIP if hw in swaps else cyc.layer_words(layer, lanes, grid) + cyc.C_PHASE
        k = 0
        for t in range(int(exit_t)):
            hw = -1     # the hardware layer: maxpools are fused into their conv
            for li, layer in enumerate(image.layers):
                if layer.kind == "maxpool":
                    continue
                hw += 1
                if hw in swaps and t == 0:
                    c = init_in_place(c, cyc.layer_words(layer, lanes, grid))
                elif hw in swaps:
                    c = swap_in(c, swaps[hw])
                if not n_tiles:     # weights on chip: the scatter phases as without a port
                    c += len(layer.inputs) * cyc.C_PHASE + int(result.scatter_cycles[i, t, li])
                for j in range(len(layer.inputs) if n_tiles else 0):
                    a, z = (int(v) for v in result.scatter_work[i, t, li, j])
                    for kk in of_edge[(hw, j)]:
                        stall = max(0, ready(k) - (c + C_CHECK))
                        stalls[i] += stall
                        beats[i] += tiles[kk].beats
                        bursts[i] += -(-tiles[kk].beats // burst_beats)
                        c += cyc.C_PHASE + a * tiles[kk].steps + z + stall
                        release.append(c - 1)
                        k += 1
                if layer.spiking:
                    c += cyc.layer_words(layer, lanes, grid) + cyc.C_PHASE
                if hw in swaps:
                    c = swap_out(c, swaps[hw])
            c += cyc.exit_cycles(image, lanes)
        out[i] = c
    if details:
        return {"cycles": out, "stall_cycles": stalls, "beats": beats, "bursts": bursts,
                "swap_read_beats": s_read, "swap_write_beats": s_written,
                "swap_cycles": s_cycles}
    return out
