"""The report's one self-contained HTML page: inline SVG, inline CSS, no script and
no external reference, so it opens offline and nothing is fetched from anywhere."""

import html
import json

W, H, PAD = 470, 230, 52
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf")


def _esc(v):
    return html.escape(str(v))


def _fmt(v, digits=4):
    if v is None:
        return "&mdash;"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"
    return _esc(f"{v:,}" if isinstance(v, int) else v)


def _tick(v):
    return f"{v / 1000:.3g}k" if abs(v) >= 1000 else f"{v:.3g}"


def _frame(name, title, body, y0, y1, xlabel, ylabel):
    ticks = "".join(
        f'<text x="{PAD - 4}" y="{H - PAD - (H - 2 * PAD) * f:.1f}" text-anchor="end" '
        f'font-size="10">{_tick(y0 + (y1 - y0) * f)}</text>' for f in (0, 0.5, 1))
    return (f'<figure><figcaption>{_esc(title)}</figcaption>'
            f'<svg class="plot" data-plot="{_esc(name)}" width="{W}" height="{H}" '
            f'viewBox="0 0 {W} {H}" xmlns="http://www.w3.org/2000/svg">'
            f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" stroke="#333"/>'
            f'<line x1="{PAD}" y1="{PAD / 2}" x2="{PAD}" y2="{H - PAD}" stroke="#333"/>{ticks}'
            f'<text x="{W / 2}" y="{H - 6}" text-anchor="middle" font-size="11">{_esc(xlabel)}</text>'
            f'<text x="10" y="{H / 2}" text-anchor="middle" font-size="11" '
            f'transform="rotate(-90 10 {H / 2})">{_esc(ylabel)}</text>{body}</svg></figure>')


def bars(name, title, labels, series, xlabel="", ylabel=""):
    """Grouped bars: `series` is {legend: [value per label]}."""
    ymax = max([v for vals in series.values() for v in vals if v is not None] + [1e-12])
    n, m = len(labels), max(len(series), 1)
    slot = (W - PAD - 20) / max(n, 1)
    bw = slot * 0.8 / m
    body = []
    for j, (legend, vals) in enumerate(series.items()):
        for i, v in enumerate(vals):
            h = (H - 2 * PAD) * (v or 0) / ymax
            x = PAD + 5 + i * slot + j * bw
            body.append(f'<rect x="{x:.1f}" y="{H - PAD - h:.1f}" width="{bw:.1f}" '
                        f'height="{h:.1f}" fill="{COLORS[j % len(COLORS)]}">'
                        f'<title>{_esc(legend)} {_esc(labels[i])}: {_fmt(v)}</title></rect>')
    for i, lab in enumerate(labels):
        body.append(f'<text x="{PAD + 5 + i * slot + slot * 0.4:.1f}" y="{H - PAD + 13}" '
                    f'text-anchor="middle" font-size="10">{_esc(lab)}</text>')
    body.append(_legend(list(series)))
    return _frame(name, title, "".join(body), 0, ymax, xlabel, ylabel)


def lines(name, title, points, xlabel="", ylabel="", ymin=None):
    """One polyline with markers through (x, y) points, y axis from ymin."""
    if not points:
        return ""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0 = min(ys) if ymin is None else ymin
    y1 = max(ys) if max(ys) > y0 else y0 + 1e-9
    sx = lambda v: PAD + 10 + (W - PAD - 30) * (v - x0) / (x1 - x0)
    sy = lambda v: H - PAD - (H - 2 * PAD) * (v - y0) / (y1 - y0)
    pts = " ".join(f"{sx(a):.1f},{sy(b):.1f}" for a, b in sorted(points))
    body = [f'<polyline points="{pts}" fill="none" stroke="{COLORS[0]}" stroke-width="2"/>']
    body += [f'<circle cx="{sx(a):.1f}" cy="{sy(b):.1f}" r="3" fill="{COLORS[1]}">'
             f'<title>{_fmt(a)}, {_fmt(b)}</title></circle>' for a, b in points]
    body += [f'<text x="{sx(v):.1f}" y="{H - PAD + 13}" text-anchor="middle" font-size="10">'
             f'{_fmt(v, 3)}</text>' for v in (x0, x1)]
    return _frame(name, title, "".join(body), y0, y1, xlabel, ylabel)


def _legend(names):
    if len(names) < 2:
        return ""
    return "".join(f'<rect x="{W - 130}" y="{8 + 14 * i}" width="10" height="10" '
                   f'fill="{COLORS[i % len(COLORS)]}"/><text x="{W - 115}" y="{17 + 14 * i}" '
                   f'font-size="10">{_esc(n)}</text>' for i, n in enumerate(names))


def table(header, rows):
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def page(fig):
    """The HTML text of the report for `fig` (report.figures.figures)."""
    t = list(range(1, fig["t_max"] + 1))
    a, f = fig["adaptive"], fig["fixed_t"]
    en = fig["energy_estimate"]
    parts = [f"<h1>{_esc(fig['model'])}</h1>",
             f"<p>{fig['images']} images, P = {fig['lanes']} lanes, T_max = {fig['t_max']}, "
             f"exit table tau = {_esc(fig['tau'])}. All numbers from the bit-accurate golden "
             "model (its cycle counts equal the RTL's); energy is an estimate.</p>",
             table(["", "accuracy", "avg timesteps", "cycles / image", "PE utilization"],
                   [["adaptive (image tau)", a["accuracy"], a["avg_timesteps"],
                     a["cycles_per_image"], a["pe_utilization"]],
                    [f"fixed T = {fig['t_max']}", f["accuracy"], f["avg_timesteps"],
                     f["cycles_per_image"], f["pe_utilization"]]]),
             "<h2>Exit rules</h2>",
             table(["rule", "tau", "accuracy", "avg timesteps"],
                   [[r["rule"], str(r["tau"]), r["accuracy"], r["avg_timesteps"]]
                    for r in fig["exit_rules"]]
                   + [[f"uniform tau = {c['tau']}", "", c["accuracy"], c["avg_timesteps"]]
                      for c in fig["accuracy_vs_timesteps"]]),
             '<div class="grid">',
             bars("accuracy_per_timestep", "Accuracy at each timestep (no exit)", t,
                  {"accuracy": fig["accuracy_per_timestep"]}, "timestep", "accuracy"),
             bars("exit_histogram", "Exit timestep histogram (image tau)", t,
                  {"images": fig["exit_histogram"]}, "exit timestep", "images"),
             lines("accuracy_vs_timesteps", "Accuracy vs average timesteps (uniform tau sweep)",
                   [(c["avg_timesteps"], c["accuracy"]) for c in fig["accuracy_vs_timesteps"]]
                   or [(f["avg_timesteps"], f["accuracy"])], "average timesteps", "accuracy"),
             bars("spikes_per_layer", "Spikes per image per layer and timestep (fixed T)",
                  fig["layers"], {f"t = {i + 1}": [row[i] for row in fig["spikes_per_layer_per_timestep"]]
                                  for i in range(fig["t_max"])}, "layer", "spikes"),
             bars("cycles_per_layer", "Cycles per image per layer (adaptive)",
                  [r["layer"] for r in fig["layer_costs"]],
                  {"scatter": [r["scatter_cycles"] for r in fig["layer_costs"]],
                   "init, fire, phases": [r["phase_cycles"] for r in fig["layer_costs"]]},
                  "layer", "cycles"),
             bars("energy", "Energy per image by operation (estimate, uJ)",
                  [k.replace("_uj", "") for k in en["snn"] if k != "total_uj"],
                  {name: [en[key].get(k, 0.0) for k in en["snn"] if k != "total_uj"]
                   for name, key in (("adaptive SNN", "snn"), ("fixed-T SNN", "snn_fixed_t"),
                                     ("int8 ANN", "ann_int8"))}, "operation", "uJ"),
             "</div>",
             "<h2>Per layer (adaptive)</h2>",
             table(["layer", "kind", "scatter cycles", "init/fire/phase cycles", "SOPs (MACs)",
                    "PE utilization"],
                   [[r["layer"], r["kind"], r["scatter_cycles"], r["phase_cycles"], r["sops"],
                     r["pe_utilization"]] for r in fig["layer_costs"]]),
             "<p>PE utilization per layer: the operations the array applies to the layer "
             "over P x its scatter cycles.</p>",
             "<h2>Energy per image (estimate)</h2>",
             table(["", "total uJ"], [["adaptive SNN", en["snn"]["total_uj"]],
                                      ["fixed-T SNN", en["snn_fixed_t"]["total_uj"]],
                                      ["int8 ANN, same network", en["ann_int8"]["total_uj"]]]),
             f"<p>{_esc(en['note'])}</p>",
             "<h2>FPGA (atsnn synth)</h2>"]
    if fig["synth"]:
        parts.append(table(["run", "device", "LUTs", "FFs", "BRAMs", "DSPs", "Fmax MHz",
                            "images/s at Fmax"],
                           [[s["run"], s["device"], s["luts"], s["ffs"], s["brams"], s["dsps"],
                             s["fmax_mhz"], s["images_per_s"]] for s in fig["synth"]]))
    else:
        parts.append("<p>No synthesis results for this P (run <code>atsnn synth</code>).</p>")
    data = html.escape(json.dumps(fig))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<title>atsnn report: {_esc(fig['model'])}</title><style>"
            "body{font-family:sans-serif;margin:2em;max-width:1000px}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
            "padding:3px 8px;text-align:right}.grid{display:flex;flex-wrap:wrap;gap:1em}"
            "figure{margin:0}figcaption{font-size:13px;font-weight:bold}"
            f"</style></head><body>{''.join(parts)}"
            f"<pre id='data' hidden>{data}</pre></body></html>")
