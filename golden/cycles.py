"""The accelerator's cycle model (docs/architecture.md), in one place.

The RTL's cycle counter must equal `image_cycles` exactly; when the RTL changes
its pipeline, the constants (and, if needed, the terms) change here and in
docs/architecture.md together; tests/test_rtl_core.py and the Verilator
system tests check every image's count against this model.
"""

import numpy as np

#: Bank grids of the PE array (``grid`` x ``grid`` position banks, ``HwConfig.grid``;
#: 1: one (spike, kernel offset) per cycle). The RTL's counter equals the model at each.
GRIDS = (1, 2, 3, 4)

C_START = 1   # per image: the start state
C_PHASE = 20  # per phase: descriptor read (3), pipeline fill and drain (17)
C_EXIT = 18  # per timestep: descriptor read, top-1/top-2 tree (5 levels of compare and select), running merge, margin, decision


def groups(channels, lanes):
    """ceil(channels / lanes): channel groups (words across the channel axis)."""
    return -(-int(channels) // int(lanes))


def check_grid(grid):
    """The bank grid side, checked (an AtsnnError names a bad one)."""
    from atsnn import AtsnnError
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)) or int(grid) not in GRIDS:
        raise AtsnnError(f"grid must be one of {', '.join(map(str, GRIDS))}, not {grid!r}")
    return int(grid)


def blocks(size, grid):
    """ceil(size / grid): bank words along one axis of a conv layer."""
    return -(-int(size) // int(grid))


def layer_words(layer, lanes, grid=1):
    """Cycles of a layer's init or fire walk: its words per bank. A conv layer's
    ``[C, H, W]`` is banked over ``grid x grid`` output positions, all banks walked
    together (``G * ceil(H / grid) * ceil(W / grid)``); a linear or output layer
    walks its ``G`` group words one per cycle. 0 for maxpool (fused, no state)."""
    if layer.kind == "maxpool":
        return 0
    g = groups(layer.shape[0], lanes)
    if len(layer.shape) != 3:
        return g
    return g * blocks(layer.shape[1], grid) * blocks(layer.shape[2], grid)


def axis_passes(n_in, n_out, kernel, stride, padding, grid=1):
    """int [n_in]: per input position along one axis of a conv edge, the scatter's
    passes. The offsets ``ky = r + stride * j`` that reach a valid output row
    ``(y + padding - ky) / stride`` are a run ``j = lo..hi``; the array applies the
    ``j`` of one aligned block ``j // grid`` in one pass (``hi // grid - lo // grid
    + 1`` passes). At ``grid = 1`` this is the number of valid kernel offsets."""
    y = np.arange(int(n_in)) + int(padding)
    q, r = y // stride, y % stride
    hi = np.minimum(q, (int(kernel) - 1 - r) // stride)
    lo = np.maximum(0, q - (int(n_out) - 1))
    return np.where(hi >= lo, hi // grid - lo // grid + 1, 0).astype(np.int64)


def conv_passes(in_hw, kernel, stride, padding, out_hw, grid=1):
    """int [H_in, W_in]: passes of a spike at each input position of a conv edge
    (one cycle per pass and output channel group)."""
    return np.outer(axis_passes(in_hw[0], out_hw[0], kernel, stride, padding, grid),
                    axis_passes(in_hw[1], out_hw[1], kernel, stride, padding, grid))


def conv_spike_cycles(in_hw, kernel, stride, padding, out_hw, out_groups, grid=1):
    """int [H_in, W_in]: the scatter's cycles for a spike at each input position of
    a conv edge: a pass per output group, and one step for a spike that reaches
    no output (a 1 x 1 stride-2 shortcut's odd rows and columns), which the
    scatter carries through without an operation."""
    passes = conv_passes(in_hw, kernel, stride, padding, out_hw, grid)
    return np.where(passes > 0, passes * int(out_groups), 1)


def linear_passes(out_groups, grid=1):
    """Cycles of a spike on a linear edge: its output groups spread over the
    ``grid * grid`` banks."""
    return -(-int(out_groups) // (int(grid) ** 2))


def image_cycles(image, lanes, scatter, exit_t, grid=1):
    """Cycles per sample.

    Phases: init of every layer, then per timestep one scatter phase per input
    edge of every layer (the static first layer's input is scattered again at
    every timestep: there is no I0 buffer), a fire phase per spiking layer and
    the exit phase. Each costs its work plus C_PHASE (C_EXIT for exit).

    scatter: int [N, T_max, n_layers] scatter cycles per layer per timestep (zero
    after exit); exit_t: int [N]; grid: the bank grid's side (init and fire walk
    ``layer_words(l, lanes, grid)``).
    """
    exit_t = np.asarray(exit_t, dtype=np.int64)
    init = int(init_cycles(image, lanes, grid).sum())
    per_t = int(step_cycles(image, lanes, grid).sum()) + exit_cycles(image, lanes)
    return C_START + init + exit_t * per_t + np.asarray(scatter, dtype=np.int64).sum(axis=(1, 2))


def init_cycles(image, lanes, grid=1):
    """int [n_layers]: per layer, its init walk and phase (0 for maxpool)."""
    return np.array([0 if l.kind == "maxpool" else layer_words(l, lanes, grid) + C_PHASE
                     for l in image.layers], dtype=np.int64)


def step_cycles(image, lanes, grid=1):
    """int [n_layers]: per layer, the cycles of one timestep besides its scatter
    work: a phase per input edge, and the fire walk and its phase if it spikes."""
    return np.array([0 if l.kind == "maxpool" else
                     len(l.inputs) * C_PHASE
                     + (layer_words(l, lanes, grid) + C_PHASE if l.spiking else 0)
                     for l in image.layers], dtype=np.int64)


def exit_cycles(image, lanes):
    """Cycles of one timestep's exit phase: the output groups' tree and merge."""
    return 2 * groups(image.output.shape[0], lanes) + C_EXIT


def utilization(ops, scatter_cycles, lanes, grid=1):
    """PE utilization: operations / (P x grid^2 x scatter cycles); 0 when nothing
    was scattered."""
    ops, scatter_cycles = int(np.sum(ops)), int(np.sum(scatter_cycles))
    return ops / (lanes * grid * grid * scatter_cycles) if scatter_cycles else 0.0
