"""Energy ESTIMATE per image from the golden model's counters.

Per-operation energies default to M. Horowitz, "Computing's energy problem (and
what we can do about it)", ISSCC 2014, 45 nm, 0.9 V. Every figure this module
returns is an estimate: it prices counted operations and memory words with that
table, and nothing else (no clock tree, control, leakage or DRAM).

Pricing:
- SNN synaptic op (SOP): one accumulator add (`add_int32`).
- static first-layer MAC: `mult_int8 + add_int32`.
- neuron update (fire pass, per real neuron per timestep, and the output
  integrator per class per timestep): compare + reset/leak, `2 * add_int32`.
- memory: every word read or written costs `ceil(word bits / 64) * sram_64b`
  (weight word P x weight_bits, membrane word P x membrane_bits, event word 32
  bits); writes are priced like reads (an assumption; the table gives reads).
- ANN: the same layers with dense 8-bit activations on the same P-lane array:
  every valid (input, kernel offset, output channel) is a MAC (`mult_int8 +
  add_int32`), every P MACs read one weight word and read and write one
  accumulator word. `ann_fp32` prices the same MACs as fp32 (compute only).
"""

import numpy as np

from atsnn.golden import cycles as cyc

# pJ per operation, Horowitz ISSCC 2014 (45 nm)
ENERGY_PJ = {
    "add_int8": 0.03,
    "add_int32": 0.1,
    "mult_int8": 0.2,
    "mult_int32": 3.1,
    "add_fp32": 0.9,
    "mult_fp32": 3.7,
    "sram_64b": 10.0,   # 64-bit read from an 8 KB SRAM
}
EVENT_WORD_BITS = 32


def _words64(bits):
    return -(-int(bits) // 64)


def snn_energy(image, result, membrane_bits=24, table=ENERGY_PJ):
    """Per-sample energy estimate (pJ) of a golden Result: dict of arrays
    `compute_pj`, `memory_pj`, `total_pj`."""
    p = result.lanes
    e = table
    neurons = sum(int(np.prod(l.shape)) for l in image.layers if l.spiking) + image.output.shape[0]
    compute = (result.sops * e["add_int32"]
               + result.first_layer_macs * result.exit_t * (e["mult_int8"] + e["add_int32"])
               + result.exit_t * neurons * 2 * e["add_int32"])
    weight_bits = max(l.weight_bits for l in image.layers if l.kind != "maxpool")
    memory = e["sram_64b"] * (
        result.weight_reads * _words64(p * weight_bits)
        + (result.membrane_reads + result.membrane_writes) * _words64(p * membrane_bits)
        + (result.event_reads + result.event_writes) * _words64(EVENT_WORD_BITS))
    return {"compute_pj": compute, "memory_pj": memory, "total_pj": compute + memory}


def dense_counts(image, lanes):
    """(MACs, PE-array cycles) of one dense pass of every conv/linear/output layer."""
    macs = rows = 0
    for layer in image.layers:
        if layer.kind == "maxpool":
            continue
        g = cyc.groups(layer.shape[0], lanes)
        for edge in layer.inputs:
            src = image.source_shape(edge.source)
            if edge.op == "conv":
                reach = int(cyc.conv_passes(src[1:], edge.kernel, edge.stride, edge.padding,
                                            layer.shape[1:]).sum()) * src[0]
            else:
                reach = int(np.prod(src))
            macs += reach * layer.shape[0]
            rows += reach * g
    return macs, rows


def ann_energy(image, lanes=16, membrane_bits=24, table=ENERGY_PJ):
    """Energy estimate (pJ) of the same network as a dense int8 ANN (one pass)."""
    e = table
    macs, rows = dense_counts(image, lanes)
    weight_bits = max(l.weight_bits for l in image.layers if l.kind != "maxpool")
    compute = macs * (e["mult_int8"] + e["add_int32"])
    memory = e["sram_64b"] * rows * (_words64(lanes * weight_bits) + 2 * _words64(lanes * membrane_bits))
    return {"macs": macs, "compute_pj": compute, "memory_pj": memory, "total_pj": compute + memory,
            "fp32_compute_pj": macs * (e["mult_fp32"] + e["add_fp32"])}


def summary(image, result, fixed_result, membrane_bits=24, table=ENERGY_PJ):
    """Mean energy per image in microjoules (ESTIMATES): adaptive SNN, the same SNN
    at fixed T_max, and the dense ANN."""
    def mean_uj(d):
        return {k.replace("_pj", "_uj"): float(np.mean(v)) * 1e-6 for k, v in d.items()}
    ann = ann_energy(image, result.lanes, membrane_bits, table)
    return {
        "note": "estimate: Horowitz ISSCC 2014 45 nm per-op energies x golden-model counts",
        "snn": mean_uj(snn_energy(image, result, membrane_bits, table)),
        "snn_fixed_t": mean_uj(snn_energy(image, fixed_result, membrane_bits, table)),
        "ann_int8": {k.replace("_pj", "_uj"): v * 1e-6 for k, v in ann.items() if k.endswith("_pj")}
                    | {"macs": ann["macs"]},
    }
