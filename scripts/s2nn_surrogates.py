"""S2NN surrogate comparison: single-step networks (``--s2nn``, T_max = 1) trained
with each surrogate gradient over several seeds; test accuracy of the quantized
network, spikes and synaptic operations per image (golden model on the exported
image). Prints a Markdown table (mean +- standard deviation over the seeds).

    python scripts/s2nn_surrogates.py --preset mnist-tiny --limit-train 10000 --epochs 1 --out runs/s2nn-surrogates

Every run is an ``atsnn train`` run in OUT/SURROGATE-sSEED; a run already there
(metrics.json) is read, not repeated, so an interrupted grid continues; one
trained with other options than the ones asked for is refused (SystemExit naming
the differences), never silently reused.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from atsnn.model import surrogate, train

SURROGATES = ("s2nn", "sigmoid", "atan", "triangular", "ste")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="mnist-tiny")
    p.add_argument("--dataset", default=None)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=float, default=1)
    p.add_argument("--qat-epochs", type=float, default=0.1)
    p.add_argument("--limit-train", type=int, default=None)
    p.add_argument("--limit-test", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=train.DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=train.DEFAULTS["lr"])
    p.add_argument("--weight-decay", type=float, default=train.DEFAULTS["weight_decay"])
    p.add_argument("--width", type=float, default=train.DEFAULTS["width"])
    p.add_argument("--augment", default=None, choices=["crop-flip"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--surrogates", nargs="+", default=list(SURROGATES),
                   choices=sorted(surrogate.SURROGATES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    out = Path(a.out)
    rows = []
    for sg in a.surrogates:
        runs = []
        for seed in a.seeds:
            run = out / f"{sg}-s{seed}"
            cfg = train.config_with(preset=a.preset, dataset=a.dataset, data_dir=a.data_dir,
                                    epochs=a.epochs, qat_epochs=a.qat_epochs, s2nn=True,
                                    surrogate=sg, seed=seed, limit_train=a.limit_train,
                                    limit_test=a.limit_test, batch_size=a.batch_size, lr=a.lr,
                                    weight_decay=a.weight_decay, width=a.width,
                                    augment=a.augment, threads=a.threads, progress=False,
                                    out=str(run))
            if (run / "metrics.json").exists():
                m = json.loads((run / "metrics.json").read_text())
                diff = _differences(m["config"], cfg)
                if diff:
                    raise SystemExit(f"{run}: trained with other options than asked "
                                     f"({'; '.join(diff)}); use another --out")
            else:
                m = train.run(cfg)
            runs.append(dict(seed=seed, accuracy=m["accuracy_fixed"],
                             spikes=m.get("golden_spikes_mean"), sops=m.get("golden_sops_mean"),
                             time_s=m["time_total_s"]))
            print(json.dumps(dict(surrogate=sg, **runs[-1])), flush=True)
        rows.append(dict(surrogate=sg, runs=runs))
    out.mkdir(parents=True, exist_ok=True)
    (out / "s2nn_surrogates.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))
    return rows


# options that do not change the trained network
_IGNORED = ("threads", "progress", "out", "data_dir", "save_every", "resume")


def _differences(stored, cfg):
    """``key: stored -> asked`` for every training option that differs."""
    return [f"{k}: {stored.get(k)!r} -> {v!r}" for k, v in cfg.items()
            if k not in _IGNORED and stored.get(k) != v]


def _ms(values, scale=1.0, digits=2):
    v = np.asarray([x for x in values if x is not None], float) * scale
    if not len(v):
        return "n/a"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0:.{digits}f}"


def table(rows):
    lines = ["| surrogate | test accuracy % (mean ± std) | per seed | spikes / image | "
             "synaptic ops / image | s / run |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        runs = r["runs"]
        acc = [x["accuracy"] for x in runs]
        lines.append(f"| `{r['surrogate']}` | {_ms(acc, 100)} | "
                     f"{', '.join(f'{100 * x:.2f}' for x in acc)} | "
                     f"{_ms([x['spikes'] for x in runs], digits=0)} | "
                     f"{_ms([x['sops'] for x in runs], digits=0)} | "
                     f"{np.mean([x['time_s'] for x in runs]):.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
