"""The packaged reference network on real MNIST test images, and the CLI."""

import json

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn.cli import main
from atsnn.data import load_mnist
from atsnn.golden import energy
from atsnn.golden.engine import run
from atsnn.model_image import layer_bound_bits, load_model


@pytest.fixture(scope="module")
def mnist():
    try:
        x, y = load_mnist(None, "test")
    except AtsnnError as e:
        pytest.skip(f"MNIST not available: {e}")
    return x[:300], y[:300]


def test_reference_network_accuracy_and_exits(mnist):
    x, y = mnist
    img = load_model("reference")
    assert all(b <= 24 for b in layer_bound_bits(img).values())
    res = run(img, x)
    assert np.mean(res.pred == y) >= 0.93
    assert 1 < res.exit_t.mean() < img.t_max
    fixed = run(img, x, early_exit=False)
    assert (fixed.exit_t == img.t_max).all()
    assert res.sops.sum() < fixed.sops.sum() and res.cycles.sum() < fixed.cycles.sum()
    e = energy.summary(img, res, fixed)
    assert 0 < e["snn"]["total_uj"] < e["snn_fixed_t"]["total_uj"]


def test_golden_cli_json(mnist, capsys):
    assert main(["golden", "--model", "reference", "--limit", "50", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    for key in ("images", "accuracy", "avg_timesteps", "sops_per_image", "cycles_per_image",
                "energy_uj_per_image"):
        assert key in s
    assert s["images"] == 50 and s["accuracy"] > 0.8
    ops = s["array_ops_per_image"]
    assert s["grid"] == 1 and s["sops_per_cycle"] == pytest.approx(ops / s["cycles_per_image"])
    assert 0 < s["sops_per_cycle"] <= 16


def test_golden_cli_grid_is_the_arrays_cycle_model(mnist, capsys):
    """--grid 3: the same results, fewer cycles; a grid the model lacks is an error."""
    assert main(["golden", "--model", "mnist-tiny", "--limit", "30", "--json"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert main(["golden", "--model", "mnist-tiny", "--limit", "30", "--grid", "3", "--json"]) == 0
    three = json.loads(capsys.readouterr().out)
    assert three["grid"] == 3 and three["accuracy"] == one["accuracy"]
    assert three["sops_per_image"] == one["sops_per_image"]
    assert three["cycles_per_image"] < one["cycles_per_image"] / 4
    assert three["sops_per_cycle"] > 16        # more than today's array's P lanes
    assert main(["golden", "--model", "mnist-tiny", "--limit", "3", "--grid", "5"]) == 2
    assert "Bank grid must be one of 1, 2, 3, 4, not 5" in capsys.readouterr().err


def test_golden_cli_bad_model_is_one_line_error(capsys):
    assert main(["golden", "--model", "no/such/image"]) == 2
    assert "neither a built-in model" in capsys.readouterr().err


def test_golden_cli_event_model_gets_its_own_frames(capsys):
    """An event image is fed T_max frames in its own encoding, not the loader's default 10."""
    assert main(["golden", "--model", "nmnist-mlp", "--dataset", "nmnist", "--limit", "20",
                 "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["fixed_t"]["t_max"] == 4
    assert 0.5 <= s["accuracy"] <= 1.0
