"""``atsnn sim``: the JSON summary on real data, and clear refusals of bad input
before anything is built."""

import json

import pytest

from atsnn.cli import main

KEYS = ("images", "mismatches", "accuracy", "avg_timesteps", "cycles_per_image",
        "sops_per_cycle", "utilization", "sim_cycles_per_s")


@pytest.mark.verilator
def test_sim_json_on_real_images(capsys):
    rc = main(["sim", "--model", "mnist-mlp", "--images", "2", "--offset", "5", "--json"])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert rc == 0
    # the stages on stderr, the JSON alone on stdout (issue 15)
    assert "Verilog: " in captured.err and "atsnn_top.v" in captured.err
    assert "verilator: building the simulator" in captured.err
    assert "images:" in captured.err
    for key in KEYS:
        assert key in out, key
    assert out["images"] == 2 and out["mismatches"] == 0
    assert out["avg_timesteps"] >= 1 and out["cycles_per_image"] > 100
    assert 0 < out["utilization"] <= 1 and out["sim_cycles_per_s"] > 0


def _error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    return err


def test_sim_refuses_bad_input(capsys, tmp_path):
    assert "--images must be at least 1" in _error(capsys, ["sim", "--images", "0"])
    err = _error(capsys, ["sim", "--model", str(tmp_path / "nope")])
    assert "nope" in err and "neither a built-in model" in err
    err = _error(capsys, ["sim", "--model", "reference", "--weight-depth", "1024"])
    assert "weight words exceed the hardware's 1024" in err
    err = _error(capsys, ["sim", "--model", "mnist-mlp", "--offset", "9999", "--images", "5"])
    assert "the test set has 10000" in err
    # a test image with more non-zero pixels than the input memory holds
    err = _error(capsys, ["sim", "--model", "mnist-mlp", "--input-depth", "64", "--images", "1"])
    assert "test image 0: input has" in err and "the hardware holds 64" in err


def test_sim_failure_is_one_clear_line(capsys, tmp_path, monkeypatch):
    """A simulator that dies says so in one line naming the build directory, not a
    traceback from the runner."""
    import atsnn.tb.runner as runner

    def dead(*args, **kwargs):
        raise RuntimeError("simulation did not run: ERROR: Simulation terminated abnormally.")

    monkeypatch.setattr(runner, "run_testbench", dead)
    err = _error(capsys, ["sim", "--model", "mnist-mlp", "--images", "1",
                          "--build-dir", str(tmp_path)])
    assert "simulation did not run" in err and str(tmp_path) in err
    assert "Traceback" not in err


@pytest.mark.verilator
@pytest.mark.slow
def test_sim_with_a_relative_build_dir(capsys, tmp_path, monkeypatch):
    """`--build-dir rel`: the simulator runs inside it, so the runner must not hand
    it paths relative to where atsnn was started (it built, then found no job file)."""
    monkeypatch.chdir(tmp_path)
    rc = main(["sim", "--model", "mnist-mlp", "--images", "1", "--build-dir", "rel", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["images"] == 1 and out["mismatches"] == 0
    assert (tmp_path / "rel").is_dir()


def test_sim_summary_reports_sops_per_cycle():
    from atsnn.tb.cli import summarize

    def image(i, sops, cycles):
        return {"kind": "image", "tag": "plain", "index": i, "mismatches": [],
                "rtl": {"class": 0, "exit_t": 1, "cycles": cycles, "sops": sops},
                "golden": {"sops": sops, "scatter_cycles": cycles // 2}}
    records = [image(0, 300, 100), image(1, 900, 200),
               {"kind": "work", "sim_cycles": 300, "wall_s": 0.01, "mismatches": []}]
    s = summarize(records, [0, 0], 16)
    assert s["sops_per_cycle"] == 4.0 and s["cycles_per_image"] == 150.0
    assert summarize([], [], 16)["sops_per_cycle"] == 0.0


def test_progress_bar_counts_image_records_as_they_are_written(tmp_path, capsys):
    """atsnn sim's progress: the bar follows the image records in the results file."""
    import json as _json
    import time
    from atsnn.tb.runner import _ProgressBar
    results = tmp_path / "results.jsonl"
    bar = _ProgressBar(results, 3)
    with open(results, "a") as f:
        for i in range(2):
            f.write(_json.dumps({"kind": "image", "index": i}) + "\n")
        f.write(_json.dumps({"kind": "work"}) + "\n")
    time.sleep(1.2)
    assert bar.bar.n == 2
    bar.stop()
    assert "2/3" in capsys.readouterr().err


def test_sim_inputs_for_a_cifar_model():
    """A static 3x32x32 model runs on the CIFAR-10 subset's test images."""
    from types import SimpleNamespace
    from atsnn.data import load_cifar10_subset
    from atsnn.tb.cli import sim_inputs
    image = SimpleNamespace(input=SimpleNamespace(kind="static", shape=(3, 32, 32)))
    x, y = sim_inputs(image, 3, offset=2)
    want_x, want_y = load_cifar10_subset(None, "test")
    assert x.shape == (3, 3, 32, 32)
    assert (x == want_x[2:5]).all() and (y == want_y[2:5]).all()
