"""The accelerator's cycle model (docs/architecture.md), in one place.

The RTL's cycle counter must equal `image_cycles` exactly; when the RTL changes
its pipeline, the constants (and, if needed, the terms) change here and in
docs/architecture.md together; tests/test_rtl_core.py and the Verilator
system tests check every image's count against this model.
"""

import numpy as np

C_START = 1   # per image: the start state
C_PHASE = 20  # per phase: descriptor read (3), pipeline fill and drain (17)
C_EXIT = 18  # per timestep: descriptor read, top-1/top-2 tree (5 levels of compare and select), running merge, margin, decision


def groups(channels, lanes):
    """ceil(channels / lanes): channel groups (words across the channel axis)."""
    return -(-int(channels) // int(lanes))


def layer_words(layer, lanes):
    """Membrane (or accumulator) words of a layer; 0 for maxpool (fused, no state)."""
    if layer.kind == "maxpool":
        return 0
    g = groups(layer.shape[0], lanes)
    return g * int(np.prod(layer.shape[1:], dtype=np.int64)) if len(layer.shape) == 3 else g


def i0_words(image, lanes):
    """Words of the static first layer's I0 buffer (0 for events input)."""
    return layer_words(image.layers[0], lanes) if image.input.kind == "static" else 0


def image_cycles(image, lanes, input_scatter, scatter, exit_t):
    """Cycles per sample.

    Phases: init of every layer (the static first layer's I0 with it), the static
    input scatter, then per timestep one scatter phase per input edge of every layer
    (none for the static first layer: its current is I0), a fire phase per spiking
    layer and the exit phase. Each costs its work plus C_PHASE (C_EXIT for exit).

    input_scatter: int [N] static-input scatter cycles (sum over non-zero inputs of
    nvalid * G_out0); scatter: int [N, T_max, n_layers] scatter cycles per layer
    per timestep (zero after exit); exit_t: int [N].
    """
    input_scatter = np.asarray(input_scatter, dtype=np.int64)
    exit_t = np.asarray(exit_t, dtype=np.int64)
    static = image.input.kind == "static"
    init = sum(layer_words(l, lanes) + C_PHASE for l in image.layers if l.kind != "maxpool")
    per_t = 0
    for i, l in enumerate(image.layers):
        if l.kind == "maxpool":
            continue
        edges = 0 if static and i == 0 else len(l.inputs)   # one scatter phase per edge
        per_t += edges * C_PHASE
        per_t += layer_words(l, lanes) + C_PHASE if l.spiking else 0
    per_t += 2 * groups(image.output.shape[0], lanes) + C_EXIT
    total = C_START + init + exit_t * per_t + np.asarray(scatter, dtype=np.int64).sum(axis=(1, 2))
    if image.input.kind == "static":
        total = total + input_scatter + C_PHASE
    return total


def utilization(ops, scatter_cycles, lanes):
    """PE utilization: operations / (P x scatter cycles); 0 when nothing was scattered."""
    ops, scatter_cycles = int(np.sum(ops)), int(np.sum(scatter_cycles))
    return ops / (lanes * scatter_cycles) if scatter_cycles else 0.0
