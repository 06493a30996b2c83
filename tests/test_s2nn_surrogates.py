"""scripts/s2nn_surrogates.py: the S2NN surrogate grid runs, reads finished runs
back instead of repeating them, and prints one table row per surrogate."""

import json

from script_module import load_script


def test_grid_runs_every_surrogate_and_seed_and_continues(tmp_path, capsys):
    grid = load_script("s2nn_surrogates")
    argv = ["--preset", "digits-tiny", "--epochs", "1", "--qat-epochs", "0", "--seeds", "0", "1",
            "--surrogates", "s2nn", "ste", "--out", str(tmp_path)]
    rows = grid.main(argv)
    assert [r["surrogate"] for r in rows] == ["s2nn", "ste"]
    for r in rows:
        assert [x["seed"] for x in r["runs"]] == [0, 1]
        for x in r["runs"]:
            assert 0.3 < x["accuracy"] <= 1 and x["spikes"] > 0 and x["sops"] > 0
        m = json.loads((tmp_path / f"{r['surrogate']}-s0" / "metrics.json").read_text())
        assert m["config"]["time_steps"] == 1 and m["config"]["surrogate"] == r["surrogate"]
    # seeds differ, surrogates differ
    assert rows[0]["runs"][0]["accuracy"] != rows[0]["runs"][1]["accuracy"] or \
        rows[0]["runs"][0]["spikes"] != rows[0]["runs"][1]["spikes"]
    out = capsys.readouterr().out
    assert "| `s2nn` |" in out and "| `ste` |" in out
    # a second call reads the finished runs (their files untouched)
    stamp = (tmp_path / "ste-s1" / "metrics.json").stat().st_mtime_ns
    again = grid.main(argv)
    assert again == rows
    assert (tmp_path / "ste-s1" / "metrics.json").stat().st_mtime_ns == stamp


def test_grid_refuses_a_finished_run_trained_with_other_options(tmp_path):
    """A run directory from another grid (here: other epochs) must not be read as
    if it were this grid's run."""
    import pytest

    grid = load_script("s2nn_surrogates")
    base = ["--preset", "digits-tiny", "--qat-epochs", "0", "--seeds", "0",
            "--surrogates", "ste", "--out", str(tmp_path)]
    grid.main(base + ["--epochs", "1"])
    with pytest.raises(SystemExit, match="epochs"):
        grid.main(base + ["--epochs", "2"])


def test_grid_passes_the_training_recipe_through(tmp_path):
    grid = load_script("s2nn_surrogates")
    grid.main(["--preset", "digits-tiny", "--epochs", "1", "--qat-epochs", "0", "--seeds", "0",
               "--surrogates", "triangular", "--batch-size", "32", "--lr", "2e-3",
               "--weight-decay", "0.01", "--augment", "crop-flip", "--out", str(tmp_path)])
    cfg = json.loads((tmp_path / "triangular-s0" / "metrics.json").read_text())["config"]
    assert (cfg["batch_size"], cfg["lr"], cfg["weight_decay"], cfg["augment"]) == \
        (32, 2e-3, 0.01, "crop-flip")
    assert cfg["time_steps"] == 1 and cfg["surrogate"] == "triangular"
