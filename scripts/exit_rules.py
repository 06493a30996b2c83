"""Exit rules at matched accuracy: margin (the hardware rule), max-softmax (SEENN)
and normalized entropy (DT-SNN) on trained ``atsnn train`` runs.

For every run the exact quantized outputs ``U`` of the validation and test
splits are recomputed from ``RUN/checkpoint.pt`` (the same split as training:
the run's own config and seed). For each target drop ``d`` every rule is
calibrated on the validation split alone to the same target, validation
accuracy >= validation accuracy at ``T_max`` minus ``d`` (the table with the
fewest average timesteps that reaches it), and reported on the test split:
accuracy and average timesteps. Two calibration families:

- ``native``: what ``atsnn train`` does (``model/exits.py``): the margin rule
  gets per-timestep integer thresholds (precision grid), softmax and entropy one
  threshold shared by all timesteps (validation quantiles);
- ``per-step``: every rule gets per-timestep thresholds from the same precision
  grid (``exits.precision_thresholds``), so only the score differs.

Besides, the test curve itself (the "oracle"): for each rule, the fewest average
timesteps among its candidate tables whose *test* accuracy is at least the test
accuracy at ``T_max`` minus ``d`` (no calibration noise; not a deployable number).

    python scripts/exit_rules.py runs/cifar10-s0 runs/cifar10-s1 runs/cifar10-s2 --out runs/exit-rules

Prints Markdown tables (mean +- sample std over the runs) and writes
OUT/exit_rules.json.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from atsnn.model import exits, train

DROPS = (0.001, 0.005, 0.01, 0.02)
FAMILIES = ("native", "per-step")


def outputs(run):
    """``(uv, yv, ut, yt, s_out, metrics)`` of one run: exact integer ``U`` on the
    validation and test splits, the output scale, the run's metrics.json."""
    run = Path(run)
    net, cfg, _ = train.load_checkpoint(run / "checkpoint.pt")
    cfg = dict(cfg, progress=False, golden=False)
    torch.set_num_threads(cfg.get("threads") or 1)
    _, _, xv, yv, xt, yt = train.load_data(cfg)
    uv, _, _ = train.exact_outputs(net, xv, cfg)
    ut, _, _ = train.exact_outputs(net, xt, cfg)
    metrics = json.loads((run / "metrics.json").read_text())
    got = exits.accuracy_per_t(ut, yt).tolist()
    if not np.allclose(got, metrics["accuracy_per_t"]):
        raise SystemExit(f"{run}: recomputed test accuracy per t {got} differs from "
                         f"metrics.json {metrics['accuracy_per_t']}")
    return uv, yv, ut, yt, float(net.layers[-1].scales()[1]), metrics


def tables(U, y, rule, family):
    """Candidate threshold tables of a rule on ``(U, y)``, validation data."""
    if family == "native":
        return exits.sweep(U, y, rule)[1]
    T = U.shape[0]
    sc = exits.scores(U, rule)
    correct = exits.predictions(U) == y[None]
    grid = [1.0 - 10 ** (-e) for e in np.linspace(4, 0.5, 36)]
    return [[None] * (T - 1)] + [exits.precision_thresholds(sc, correct, p) for p in grid]


def evaluate(uv, yv, ut, yt, s_out, drops=DROPS, families=FAMILIES):
    """Per family, rule and drop: the validation-calibrated result on test and the
    test-curve oracle. Softmax and entropy see the real logits (``U * s_out``),
    the margin rule the integers (as in ``atsnn train``)."""
    fixed_v = exits.accuracy_per_t(uv, yv)[-1]
    fixed_t = exits.accuracy_per_t(ut, yt)[-1]
    res = {}
    for family in families:
        for rule in exits.RULES:
            k = 1.0 if rule == "margin" else s_out
            sv, st = exits.scores(uv * k, rule), exits.scores(ut * k, rule)
            cands = tables(uv * k, yv, rule, family)
            val = [exits.outcome(uv, yv, exits.exit_steps(sv, tb)) for tb in cands]
            test = [exits.outcome(ut, yt, exits.exit_steps(st, tb)) for tb in cands]
            for d in drops:
                ok = [i for i, (a, _) in enumerate(val) if a >= fixed_v - d - 1e-12]
                i = min(ok, key=lambda j: (val[j][1], j))
                e = exits.exit_steps(st, cands[i])
                ok_t = [t for a, t in test if a >= fixed_t - d - 1e-12]
                res[f"{family}/{rule}/{d}"] = dict(
                    thresholds=cands[i], val_accuracy=val[i][0], val_avg_t=val[i][1],
                    accuracy=test[i][0], avg_t=test[i][1],
                    exit_histogram=np.bincount(e, minlength=uv.shape[0] + 1)[1:].tolist(),
                    oracle_avg_t=min(ok_t))
    return dict(fixed_val=float(fixed_v), fixed_test=float(fixed_t), results=res)


def _ms(v, scale=1.0, digits=2):
    v = np.asarray(v, float) * scale
    sd = v.std(ddof=1) if len(v) > 1 else 0.0
    return f"{v.mean():.{digits}f} ± {sd:.{digits}f}"


def table(per_run, drops=DROPS, families=FAMILIES):
    n = len(per_run)
    fixed = _ms([r["fixed_test"] for r in per_run], 100)
    lines = [f"fixed T_max test accuracy: {fixed} % (n = {n})", ""]
    for family in families:
        lines += [f"calibration `{family}`:", "",
                  "| target (val, below fixed) | rule | test accuracy % | Δ vs fixed (points) "
                  "| avg timesteps | oracle avg timesteps (test) |",
                  "|---|---|---|---|---|---|"]
        for d in drops:
            for rule in exits.RULES:
                rs = [r["results"][f"{family}/{rule}/{d}"] for r in per_run]
                acc = [x["accuracy"] for x in rs]
                delta = [x["accuracy"] - r["fixed_test"] for x, r in zip(rs, per_run)]
                lines.append(f"| -{100 * d:g} | {rule} | {_ms(acc, 100)} | {_ms(delta, 100)} | "
                             f"{_ms([x['avg_t'] for x in rs])} | "
                             f"{_ms([x['oracle_avg_t'] for x in rs])} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run directories written by atsnn train")
    p.add_argument("--drops", type=float, nargs="+", default=list(DROPS),
                   help="target drops below the validation accuracy at T_max (fractions)")
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)
    per_run = []
    for run in a.runs:
        uv, yv, ut, yt, s_out, m = outputs(run)
        r = evaluate(uv, yv, ut, yt, s_out, drops=a.drops)
        r["run"] = str(run)
        per_run.append(r)
        print(json.dumps(dict(run=str(run), fixed_val=r["fixed_val"],
                              fixed_test=r["fixed_test"])), flush=True)
    text = table(per_run, drops=a.drops)
    if a.out:
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "exit_rules.json").write_text(json.dumps(per_run, indent=1))
        (out / "exit_rules.md").write_text(text + "\n")
    print(text)
    return per_run


if __name__ == "__main__":
    main()
