"""The accelerator's cycle model (docs/architecture.md), in one place.

The RTL's cycle counter must equal `image_cycles` exactly; when the RTL changes
its pipeline, the constants (and, if needed, the terms) change here and in
docs/architecture.md together. The values below are provisional until the RTL
fixes them.
"""

import numpy as np

C_START = 4   # per image: start-up and pipeline fill before init
C_PHASE = 3   # per phase change (scatter -> fire, fire -> next scatter, input scatter end)
C_EXIT = 2    # per timestep: top-1/top-2 compare and exit decision


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

    input_scatter: int [N] static-input scatter cycles (sum over non-zero inputs of
    nvalid * G_out0); scatter: int [N, T_max, n_layers] scatter cycles per layer
    per timestep (zero after exit); exit_t: int [N].
    """
    input_scatter = np.asarray(input_scatter, dtype=np.int64)
    exit_t = np.asarray(exit_t, dtype=np.int64)
    init = sum(layer_words(l, lanes) for l in image.layers) + i0_words(image, lanes)
    per_t = sum(2 * C_PHASE + layer_words(l, lanes) for l in image.layers if l.spiking)
    per_t += C_PHASE + groups(image.output.shape[0], lanes) + C_EXIT
    total = C_START + init + exit_t * per_t + np.asarray(scatter, dtype=np.int64).sum(axis=(1, 2))
    if image.input.kind == "static":
        total = total + input_scatter + C_PHASE
    return total


def utilization(ops, scatter_cycles, lanes):
    """PE utilization: operations / (P x scatter cycles); 0 when nothing was scattered."""
    ops, scatter_cycles = int(np.sum(ops)), int(np.sum(scatter_cycles))
    return ops / (lanes * scatter_cycles) if scatter_cycles else 0.0
