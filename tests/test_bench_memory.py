"""scripts/bench_memory.py --image: a given image is priced with its own exits
(measured by the golden model), not the assumed mean; bad --image values exit 2."""

import json

import pytest

from atsnn import model_image as gi
from atsnn.data import load_dataset
from atsnn.golden import run
from script_module import load_script


def test_image_is_priced_with_its_own_exits(tmp_path, capsys):
    path = gi.MODELS_DIR / "vgg16-cifar10-w8"
    image = gi.load(path)
    image.tau[0] = 0        # every image whose top-1 leads exits after timestep 1
    x = load_dataset("cifar10-subset", "test")[0][:2]
    want = float(run(image, x, lanes=16).exit_t.mean())
    assert want < image.t_max
    script = load_script("bench_memory")
    gi.save(image, tmp_path / "img")
    assert script.main(["--model", "vgg16", "--image", f"vgg16={tmp_path / 'img'}",
                        "--cifar-images", "2", "--port", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    priced = [r for r in rows if "refused" not in r]
    assert priced and all(r["mean_exit_t"] == pytest.approx(want) for r in priced)
    assert all(r["cycles"] >= r["on_chip_cycles"] > 0 for r in priced)


@pytest.mark.parametrize("value", ["alexnet=x", "vgg16=", "vgg16=/no/such/image"])
def test_bad_image_argument_exits_2(value, capsys):
    assert load_script("bench_memory").main(["--image", value]) == 2
    assert "--image" in capsys.readouterr().err


def test_membrane_depth_swaps_the_first_layers_and_costs_cycles(capsys):
    """``--membrane-depth``: the width-scaled vgg16's first layers are swapped
    through DRAM; the traffic and the cycles grow against all membranes on chip."""
    script = load_script("bench_memory")
    image = gi.MODELS_DIR / "vgg16-cifar10-w8"
    common = ["--model", "vgg16", "--image", f"vgg16={image}", "--cifar-images", "1", "--port",
              "--json"]
    assert script.main(common) == 0
    free = {(r["lanes"], r["grid"]): r for r in json.loads(capsys.readouterr().out)
            if "refused" not in r}
    assert script.main([*common, "--membrane-depth", "256"]) == 0
    swapped = [r for r in json.loads(capsys.readouterr().out) if "refused" not in r]
    assert swapped and all(r["swapped_layers"] >= 1 for r in swapped)
    for r in swapped:
        base = free[r["lanes"], r["grid"]]
        assert base["swapped_layers"] == 0 and base["swap_cycles"] == 0
        assert r["cycles"] > base["cycles"] and r["mb_per_image"] > base["mb_per_image"]


def test_membrane_depth_without_port_exits_2(capsys):
    assert load_script("bench_memory").main(["--membrane-depth", "256"]) == 2
    assert "--membrane-depth" in capsys.readouterr().err
