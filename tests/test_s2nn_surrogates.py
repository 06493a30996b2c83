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
