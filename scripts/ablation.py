"""ATSNN Table-5-style ablation: output layer, loss schedule, accumulated output.

Each variant is one ``atsnn train`` run (same data, seed and epochs) that changes
one thing from the uniform-loss baseline (integrator output, uniform time-dependent
loss on the accumulated output); the decaying schedule is the default of ``atsnn
train`` (docs/training.md). Prints a Markdown table: accuracy at t = 1..T_max, and
for exportable variants the adaptive (margin rule) accuracy and average timesteps.

    python scripts/ablation.py --preset mnist-tiny --limit-train 10000 --epochs 1 --qat-epochs 0.1 --out runs/ablation-mnist
"""

import argparse
import json
from pathlib import Path

from atsnn.model import train

VARIANTS = {
    "integrator, uniform TD loss, accumulated": dict(schedule="uniform"),
    "integrator, decaying TD loss (gamma 0.8; atsnn train default)": dict(schedule="decay"),
    "integrator, final-only loss (fixed-T baseline)": dict(schedule="final"),
    "integrator, per-step output loss": dict(schedule="uniform", accumulate=False),
    "spiking output layer (rate), uniform TD loss": dict(schedule="uniform", spiking_output=True),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist-tiny")
    p.add_argument("--dataset", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--qat-epochs", type=float, default=1)
    p.add_argument("--time-steps", type=int, default=4)
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--augment", default=None)
    p.add_argument("--only", default=None, help="comma-separated variant indices")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    names = list(VARIANTS)
    chosen = range(len(names)) if a.only is None else [int(i) for i in a.only.split(",")]
    for i in chosen:
        name = names[i]
        cfg = train.config_with(preset=a.preset, dataset=a.dataset, data_dir=a.data_dir,
                                epochs=a.epochs, qat_epochs=a.qat_epochs,
                                time_steps=a.time_steps, limit_train=a.limit_train,
                                augment=a.augment, golden=False, progress=False,
                                out=str(out / f"v{i}"), **VARIANTS[name])
        m = train.run(cfg)
        per_t = m.get("accuracy_per_t", m["accuracy_float_per_t"])
        row = dict(variant=name, per_t=per_t, quantized="accuracy_per_t" in m,
                   adaptive=m.get("accuracy_adaptive"), avg_t=m.get("avg_timesteps"),
                   time_s=m["time_total_s"])
        rows.append(row)
        print(json.dumps(row), flush=True)
    (out / "ablation.json").write_text(json.dumps(rows, indent=1))
    T = a.time_steps
    head = "| variant | " + " | ".join(f"t={t}" for t in range(1, T + 1)) + \
        " | adaptive acc | avg steps |"
    lines = [head, "|" + "---|" * (T + 3)]
    for r in rows:
        acc = " | ".join(f"{100 * x:.2f}" for x in r["per_t"])
        ad = "n/a" if r["adaptive"] is None else f"{100 * r['adaptive']:.2f}"
        st = "n/a" if r["avg_t"] is None else f"{r['avg_t']:.2f}"
        q = "" if r["quantized"] else " (float)"
        lines.append(f"| {r['variant']}{q} | {acc} | {ad} | {st} |")
    table = "\n".join(lines)
    (out / "ablation.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
