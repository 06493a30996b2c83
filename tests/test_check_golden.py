"""scripts/check_golden.py: a run trained with --no-golden is checked against the
golden model afterwards, image by image; a changed image is caught."""

import json

import numpy as np

from atsnn import model_image as gi
from atsnn.model import train
from script_module import load_script


def test_check_golden_agrees_then_catches_a_changed_image(tmp_path, capsys):
    run = tmp_path / "run"
    m = train.run(train.config_with(preset="digits-tiny", epochs=1, qat_epochs=0, seed=0,
                                    threads=1, golden=False, progress=False, out=str(run)))
    assert m["accuracy_golden"] is None
    script = load_script("check_golden")
    assert script.main([str(run), "--images", "40"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["images"] == 40 and got["golden_matches_torch"] and got["agreement"] == 1.0

    img = gi.load(run / "image")
    out = img.layers[-1]
    out.bias[:] = out.bias + np.arange(len(out.bias)) * 1000    # the exported image no longer equals the net
    gi.save(img, run / "image")
    assert script.main([str(run), "--images", "40"]) == 1
    got = json.loads(capsys.readouterr().out)
    assert not got["golden_matches_torch"] and got["disagreeing"]


def test_check_golden_names_a_directory_that_is_not_a_run(tmp_path, capsys):
    script = load_script("check_golden")
    assert script.main([str(tmp_path)]) == 2
    assert "no checkpoint.pt" in capsys.readouterr().err
    assert script.main([str(tmp_path), "--images", "0"]) == 2
