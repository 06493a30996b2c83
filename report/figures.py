"""The numbers behind `atsnn report`: one JSON-able dict from golden-model runs.

Everything comes from the golden model (bit-accurate, and its cycle counts equal
the RTL's) on the data given; energy is the golden energy model's estimate and is
labelled so. The HTML page (report/html.py) only draws what is here.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np

from atsnn.golden import cycles as cyc
from atsnn.golden import energy
from atsnn.golden.engine import run

SWEEP_POINTS = 12


def margins_and_preds(u):
    """(top1 - top2, argmax) of U [N, K], lowest index on ties (the contract)."""
    top = np.sort(u, axis=1)
    return top[:, -1] - top[:, -2], u.argmax(axis=1)


def exit_rule(per_t, tau):
    """(pred, exit_t) of the contract's exit rule with table `tau` applied to the
    per-timestep outputs `per_t` = [(margin, pred)] for t = 1..T_max."""
    n = len(per_t[0][0])
    exit_t = np.full(n, len(per_t))
    pred = per_t[-1][1].copy()
    open_ = np.ones(n, bool)
    for t, (margin, p) in enumerate(per_t[:-1], start=1):
        if tau[t - 1] is None:
            continue
        stop = open_ & (margin >= tau[t - 1])
        exit_t[stop], pred[stop] = t, p[stop]
        open_ &= ~stop
    return pred, exit_t


def _truncated(image, t):
    return dataclasses.replace(image, t_max=t, tau=[None] * (t - 1))


def layer_costs(image, res, lanes):
    """Per layer: mean cycles per image (scatter and fire/phase work, as the cycle
    model counts them) and PE utilization from the operations the array applies
    to the layer (``res.layer_ops``)."""
    t = res.exit_t.astype(float)
    rows = []
    for i, layer in enumerate(image.layers):
        scatter = res.scatter_cycles[:, :, i].sum(axis=1).astype(float)
        ops = None
        if layer.kind == "maxpool":
            phase = np.zeros_like(t)
        else:
            words = cyc.layer_words(layer, lanes, res.grid)
            phase = words + cyc.C_PHASE + t * len(layer.inputs) * cyc.C_PHASE
            if layer.spiking:
                phase = phase + t * (words + cyc.C_PHASE)
            ops = res.layer_ops[:, i].astype(float)
        util = None if ops is None else cyc.utilization(ops.sum(), scatter.sum(), lanes, res.grid)
        rows.append({"layer": layer.name, "kind": layer.kind,
                     "scatter_cycles": float(scatter.mean()) if len(t) else 0.0,
                     "phase_cycles": float(np.mean(phase)) if len(t) else 0.0,
                     "sops": None if ops is None else float(ops.mean()),
                     "pe_utilization": util})
    exit_phase = cyc.C_START + t * (2 * cyc.groups(image.output.shape[0], lanes) + cyc.C_EXIT)
    rows.append({"layer": "(start, exit test)", "kind": "control", "scatter_cycles": 0.0,
                 "phase_cycles": float(np.mean(exit_phase)) if len(t) else 0.0,
                 "sops": None, "pe_utilization": None})
    return rows


def synth_results(synth_dir, lanes, cycles_per_image):
    """Every `atsnn synth` result.json under synth_dir built for the same P."""
    out = []
    for path in sorted(Path(synth_dir).glob("**/result.json")):
        try:
            r = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if r.get("config", {}).get("lanes") != lanes or not r.get("fmax_mhz"):
            continue
        out.append({"run": str(path.parent), "device": r.get("device"), "luts": r.get("luts"),
                    "ffs": r.get("ffs"), "brams": r.get("brams"), "dsps": r.get("dsps"),
                    "available": r.get("available"), "fmax_mhz": r["fmax_mhz"],
                    "fmax_kind": r.get("fmax_kind"),
                    "images_per_s": r["fmax_mhz"] * 1e6 / cycles_per_image if cycles_per_image else None})
    return out


def figures(image, x, y, lanes=16, membrane_bits=24, synth_dir="build/synth"):
    res = run(image, x, lanes=lanes)
    fixed = run(image, x, lanes=lanes, early_exit=False)
    events = image.input.kind == "events"
    per_t = []
    for t in range(1, image.t_max + 1):
        u = fixed.u if t == image.t_max else run(_truncated(image, t), x[:, :t] if events else x,
                                                 lanes=lanes, early_exit=False).u
        per_t.append(margins_and_preds(u))
    acc = lambda p: float(np.mean(p == y)) if len(y) else 0.0
    rules = [{"rule": f"fixed T = {image.t_max}", "tau": [None] * (image.t_max - 1),
              "accuracy": acc(fixed.pred), "avg_timesteps": float(image.t_max)}]
    if any(v is not None for v in image.tau):
        rules.append({"rule": "image tau", "tau": list(image.tau), "accuracy": acc(res.pred),
                      "avg_timesteps": float(res.exit_t.mean())})
    curve = []
    if image.t_max > 1:
        all_m = np.concatenate([m for m, _ in per_t[:-1]])
        for q in np.unique(np.quantile(all_m, np.linspace(0, 1, SWEEP_POINTS)).round()):
            pred, ex = exit_rule(per_t, [int(q)] * (image.t_max - 1))
            curve.append({"tau": int(q), "accuracy": acc(pred), "avg_timesteps": float(ex.mean())})
    en = energy.summary(image, res, fixed, membrane_bits)
    cycles = float(res.cycles.mean())
    return {
        "model": image.name, "images": int(len(y)), "lanes": lanes, "t_max": image.t_max,
        "tau": list(image.tau), "layers": [l.name for l in image.layers],
        "adaptive": {"accuracy": acc(res.pred), "avg_timesteps": float(res.exit_t.mean()),
                     "cycles_per_image": cycles, "pe_utilization": res.utilization},
        "fixed_t": {"accuracy": acc(fixed.pred), "avg_timesteps": float(image.t_max),
                    "cycles_per_image": float(fixed.cycles.mean()),
                    "pe_utilization": fixed.utilization},
        "exit_rules": rules,
        "accuracy_per_timestep": [acc(p) for _, p in per_t],
        "exit_histogram": np.bincount(res.exit_t, minlength=image.t_max + 1)[1:].tolist(),
        "accuracy_vs_timesteps": curve,
        "spikes_per_layer_per_timestep": fixed.spikes.mean(axis=0).T.tolist(),
        "layer_costs": layer_costs(image, res, lanes),
        "energy_estimate": en,
        "synth": synth_results(synth_dir, lanes, cycles),
    }
