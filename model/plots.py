"""Plots of a training run (matplotlib, Agg backend: no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def write_all(out_dir, m):
    """accuracy_per_t.png, exit_histogram.png, accuracy_vs_timesteps.png."""
    per_t = m.get("accuracy_per_t") or m.get("accuracy_float_per_t")
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ts = range(1, len(per_t) + 1)
    ax.plot(ts, [100 * a for a in per_t], "o-", label="quantized" if "accuracy_per_t" in m else "float")
    if "accuracy_per_t" in m and "accuracy_float_per_t" in m:
        ax.plot(ts, [100 * a for a in m["accuracy_float_per_t"]], "s--", label="float")
    ax.set(xlabel="timestep t", ylabel="test accuracy of U[t] (%)", xticks=list(ts))
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_per_t.png", dpi=120)
    plt.close(fig)
    rules = m.get("rules")
    if not rules:
        return
    hist = rules["margin"]["exit_histogram"]
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    ax.bar(range(1, len(hist) + 1), hist)
    ax.set(xlabel="exit timestep", ylabel="test samples",
           title=f"margin rule: avg {rules['margin']['avg_timesteps']:.2f} steps")
    fig.tight_layout()
    fig.savefig(out_dir / "exit_histogram.png", dpi=120)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, r in rules.items():
        pts = sorted(r["curve_test"])
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], ".-", label=name)
        ax.plot([r["avg_timesteps"]], [100 * r["accuracy"]], "k*")
    ax.axhline(100 * m["accuracy_fixed"], color="gray", ls=":", label="fixed T_max")
    ax.set(xlabel="average timesteps", ylabel="test accuracy (%)")
    lo = min(100 * m["accuracy_fixed"] - 3, 100 * min(m.get("accuracy_per_t", [1])))
    ax.set_ylim(max(lo, 0), None)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_dir / "accuracy_vs_timesteps.png", dpi=120)
    plt.close(fig)
