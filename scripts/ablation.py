"""ATSNN Table-5-style ablation: output layer, loss schedule, accumulated output.

Each variant is one ``atsnn train`` run (same data, seed and epochs) that changes
one thing from the uniform-loss baseline (integrator output, uniform time-dependent
loss on the accumulated output); the decaying schedule is the default of ``atsnn
train`` (docs/training.md). Prints a Markdown table: accuracy at t = 1..T_max, and
for exportable variants the adaptive (margin rule) accuracy and average timesteps;
with several ``--seeds``, mean +- sample standard deviation over the seeds.

    python scripts/ablation.py --preset mnist-tiny --limit-train 10000 --epochs 1 --qat-epochs 0.1 --out runs/ablation-mnist

Every run is OUT/vINDEX-sSEED; a run already there (metrics.json, trained with
the same options) is read, not repeated, so an interrupted ablation continues;
one trained with other options is refused.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from atsnn.model import train

VARIANTS = {
    "integrator, uniform TD loss, accumulated": dict(schedule="uniform"),
    "integrator, decaying TD loss (gamma 0.8; atsnn train default)": dict(schedule="decay"),
    "integrator, final-only loss (fixed-T baseline)": dict(schedule="final"),
    "integrator, per-step output loss": dict(schedule="uniform", accumulate=False),
    "spiking output layer (rate), uniform TD loss": dict(schedule="uniform", spiking_output=True),
}

# options that do not change the trained network
_IGNORED = ("threads", "progress", "out", "data_dir", "save_every", "resume")


def _ms(values, scale=100.0, digits=2):
    v = np.asarray([x for x in values if x is not None], float) * scale
    if not len(v):
        return "n/a"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def table(rows, T):
    """Markdown table; ``rows``: one per variant with ``runs`` (one per seed)."""
    head = "| variant | " + " | ".join(f"t={t}" for t in range(1, T + 1)) + \
        " | adaptive acc | avg steps |"
    lines = [head, "|" + "---|" * (T + 3)]
    for r in rows:
        runs = r["runs"]
        acc = " | ".join(_ms([x["per_t"][t] for x in runs]) for t in range(T))
        ad = _ms([x["adaptive"] for x in runs])
        st = _ms([x["avg_t"] for x in runs], scale=1.0)
        q = "" if all(x["quantized"] for x in runs) else " (float)"
        lines.append(f"| {r['variant']}{q} | {acc} | {ad} | {st} |")
    return "\n".join(lines)


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
    p.add_argument("--batch-size", type=int, default=train.DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=train.DEFAULTS["lr"])
    p.add_argument("--weight-decay", type=float, default=train.DEFAULTS["weight_decay"])
    p.add_argument("--width", type=float, default=train.DEFAULTS["width"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--threads", type=int, default=1)
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
        runs = []
        for seed in a.seeds:
            run = out / f"v{i}-s{seed}"
            cfg = train.config_with(preset=a.preset, dataset=a.dataset, data_dir=a.data_dir,
                                    epochs=a.epochs, qat_epochs=a.qat_epochs,
                                    time_steps=a.time_steps, limit_train=a.limit_train,
                                    augment=a.augment, batch_size=a.batch_size, lr=a.lr,
                                    weight_decay=a.weight_decay, width=a.width, seed=seed,
                                    threads=a.threads, golden=False, progress=False,
                                    out=str(run), **VARIANTS[name])
            if (run / "metrics.json").exists():
                m = json.loads((run / "metrics.json").read_text())
                diff = [f"{k}: {m['config'].get(k)!r} -> {v!r}" for k, v in cfg.items()
                        if k not in _IGNORED and m["config"].get(k) != v]
                if diff:
                    raise SystemExit(f"{run}: trained with other options than asked "
                                     f"({'; '.join(diff)}); use another --out")
            else:
                m = train.run(cfg)
            per_t = m.get("accuracy_per_t", m["accuracy_float_per_t"])
            runs.append(dict(seed=seed, per_t=per_t, quantized="accuracy_per_t" in m,
                             adaptive=m.get("accuracy_adaptive"), avg_t=m.get("avg_timesteps"),
                             time_s=m["time_total_s"]))
            print(json.dumps(dict(variant=name, **runs[-1])), flush=True)
        rows.append(dict(variant=name, runs=runs))
    (out / "ablation.json").write_text(json.dumps(rows, indent=1))
    text = table(rows, a.time_steps)
    (out / "ablation.md").write_text(text + "\n")
    print(text)
    return rows


if __name__ == "__main__":
    main()
