"""scripts/ablation.py: variants over seeds, one thread by default, finished runs
read back (not repeated), runs with other options refused, mean +- std table."""

import json

import pytest

from script_module import load_script


def test_ablation_over_seeds_continues_and_refuses_stale_runs(tmp_path, capsys):
    abl = load_script("ablation")
    argv = ["--preset", "digits-tiny", "--epochs", "1", "--qat-epochs", "0", "--only", "0,4",
            "--seeds", "0", "1", "--batch-size", "64", "--out", str(tmp_path)]
    rows = abl.main(argv)
    assert [len(r["runs"]) for r in rows] == [2, 2]
    assert rows[0]["runs"][0]["quantized"] and not rows[1]["runs"][0]["quantized"]
    cfg = json.loads((tmp_path / "v0-s1" / "metrics.json").read_text())["config"]
    assert (cfg["seed"], cfg["threads"], cfg["batch_size"], cfg["schedule"]) == \
        (1, 1, 64, "uniform")
    out = capsys.readouterr().out
    assert " ± " in out and "(float)" in out
    stamp = (tmp_path / "v4-s1" / "metrics.json").stat().st_mtime_ns
    assert abl.main(argv) == rows
    assert (tmp_path / "v4-s1" / "metrics.json").stat().st_mtime_ns == stamp
    with pytest.raises(SystemExit, match="epochs"):
        abl.main([x if x != "1" else "2" for x in argv[:4]] + argv[4:])
