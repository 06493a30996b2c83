"""`atsnn report`: its figures agree with the golden model, and the page loads in a
real headless browser with every plot drawn and nothing fetched from the network."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from atsnn.cli import main
from atsnn.data import load_dataset
from atsnn.golden.engine import run
from atsnn.model_image import load_model
from atsnn.report import figures, html

PLOTS = ("accuracy_per_timestep", "exit_histogram", "accuracy_vs_timesteps",
         "spikes_per_layer", "cycles_per_layer", "energy")


@pytest.fixture(scope="module")
def tiny():
    image = load_model("mnist-tiny")
    x, y = load_dataset("mnist", "test")
    return image, x[:200], y[:200], figures.figures(image, x[:200], y[:200])


def test_figures_agree_with_the_golden_model(tiny):
    image, x, y, fig = tiny
    res = run(image, x)
    assert fig["adaptive"]["accuracy"] == float(np.mean(res.pred == y))
    rule = next(r for r in fig["exit_rules"] if r["rule"] == "image tau")
    assert (rule["accuracy"], rule["avg_timesteps"]) == (fig["adaptive"]["accuracy"],
                                                         fig["adaptive"]["avg_timesteps"])
    assert fig["accuracy_per_timestep"][-1] == fig["fixed_t"]["accuracy"]
    assert sum(fig["exit_histogram"]) == len(y)
    per_layer = sum(r["scatter_cycles"] + r["phase_cycles"] for r in fig["layer_costs"])
    assert per_layer == pytest.approx(fig["adaptive"]["cycles_per_image"], rel=1e-12)


def test_exit_rule_replays_the_engine(tiny):
    """The exit sweep's rule, on per-timestep outputs, is the engine's own rule."""
    image, x, y, _ = tiny
    per_t = [figures.margins_and_preds(run(figures._truncated(image, t), x,
                                           early_exit=False).u) for t in (1, 2, 3, 4)]
    tau = [300, None, 1000]
    pred, exit_t = figures.exit_rule(per_t, tau)
    import dataclasses
    res = run(dataclasses.replace(image, tau=tau), x)
    np.testing.assert_array_equal(pred, res.pred)
    np.testing.assert_array_equal(exit_t, res.exit_t)


def test_linear_layer_sops_add_up_to_the_engine_total():
    image = load_model("mnist-mlp")
    x = load_dataset("mnist", "test")[0][:100]
    res = run(image, x)
    rows = figures.layer_costs(image, res, 16)
    assert rows[1]["sops"] == pytest.approx(res.sops.mean())            # fc1 -> out
    assert rows[0]["sops"] == pytest.approx(res.first_layer_macs.mean())
    assert 0 < rows[1]["pe_utilization"] <= 1


def test_cli_writes_page_and_json(tmp_path, capsys):
    assert main(["report", "mnist-mlp", "--out", str(tmp_path), "--limit", "100"]) == 0
    fig = json.loads((tmp_path / "report.json").read_text())
    page = (tmp_path / "report.html").read_text()
    assert fig["images"] == 100 and fig["model"] == "mnist-mlp"
    for name in PLOTS:
        assert f'data-plot="{name}"' in page
    assert "estimate" in page
    assert main(["report", "mnist-mlp", "--limit", "-1", "--out", str(tmp_path)]) == 2


def _chromium_requests(path, tmp_path, screenshot=None):
    """(DOM text, URLs the page itself asked for) from a headless chromium run; the
    browser's own background requests have initiator 'not an origin'."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    netlog = tmp_path / f"{path.stem}.netlog.json"
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--log-net-log={netlog}", "--window-size=1100,2300"]
    if screenshot:
        subprocess.run(args + [f"--screenshot={screenshot}", path.as_uri()], check=True,
                       capture_output=True, timeout=120)
    dom = subprocess.run(args + ["--dump-dom", path.as_uri()], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    log = json.loads(netlog.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = {e["params"]["url"] for e in log["events"] if e["type"] == start
            and "url" in e.get("params", {}) and e["params"].get("initiator") != "not an origin"}
    return dom, {u for u in urls if not u.startswith("file:")}


@pytest.mark.skipif(not (shutil.which("chromium") or shutil.which("chromium-browser")),
                    reason="needs Debian's chromium (apt-get install chromium)")
def test_page_loads_in_a_headless_browser_offline(tiny, tmp_path):
    image, x, y, fig = tiny
    page = tmp_path / "report.html"
    page.write_text(html.page(fig))
    dom, fetched = _chromium_requests(page, tmp_path, screenshot=tmp_path / "shot.png")
    assert fetched == set()
    assert (tmp_path / "shot.png").stat().st_size > 10_000
    for name in PLOTS:
        svg = re.search(rf'<svg class="plot" data-plot="{name}".*?</svg>', dom, re.S)
        assert svg and re.search(r"<(rect|polyline|circle) ", svg.group(0)), name
    # the check sees a page that does fetch something
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    assert _chromium_requests(bad, tmp_path)[1] == {"http://127.0.0.1:9/x.png"}


def test_synth_results_for_the_same_p_give_images_per_s(tmp_path):
    """`atsnn synth` result.json files under --synth-dir: the one built for this P
    is reported with its Fmax and the images/s for this model's cycles; another P and
    a run without Fmax are left out."""
    synth = tmp_path / "synth"
    runs = {"ecp5-p16/seed-1": {"lanes": 16, "fmax_mhz": 100.0},
            "ecp5-p8": {"lanes": 8, "fmax_mhz": 120.0},
            "ecp5-p16-nofit": {"lanes": 16, "fmax_mhz": None}}
    for name, r in runs.items():
        (synth / name).mkdir(parents=True)
        (synth / name / "result.json").write_text(json.dumps(
            {"config": {"lanes": r["lanes"]}, "fmax_mhz": r["fmax_mhz"], "luts": 22355,
             "ffs": 22575, "brams": 176, "dsps": 20, "device": "LFE5U-85F-CABGA381 speed 8",
             "fmax_kind": "routed"}))
    out = tmp_path / "rep"
    assert main(["report", "mnist-mlp", "--out", str(out), "--limit", "50",
                 "--synth-dir", str(synth)]) == 0
    fig = json.loads((out / "report.json").read_text())
    assert [s["run"] for s in fig["synth"]] == [str(synth / "ecp5-p16/seed-1")]
    s = fig["synth"][0]
    assert s["images_per_s"] == pytest.approx(100e6 / fig["adaptive"]["cycles_per_image"])
    page = (out / "report.html").read_text()
    assert "22,355" in page and f"{s['images_per_s']:,.0f}" in page
