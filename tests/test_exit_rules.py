"""scripts/exit_rules.py: recomputes a run's exact outputs from its checkpoint,
reproduces the calibration of ``atsnn train`` for its own target, and calibrates
every rule to the same validation target."""

from atsnn.model import exits, train
from script_module import load_script


def test_exit_rules_reproduce_train_calibration_and_match_targets(tmp_path, capsys):
    run = tmp_path / "run"
    m = train.run(train.config_with(preset="digits-tiny", epochs=1, qat_epochs=0, seed=0,
                                    threads=1, golden=False, progress=False, out=str(run)))
    script = load_script("exit_rules")
    drops = [m["config"]["max_drop"], 0.05]
    [r] = script.main([str(run), "--drops", *map(str, drops), "--out", str(tmp_path / "er")])
    assert abs(r["fixed_test"] - m["accuracy_fixed"]) < 1e-12
    for rule in exits.RULES:
        # native calibration at the run's own max_drop is what atsnn train chose
        got = r["results"][f"native/{rule}/{drops[0]}"]
        want = m["rules"][rule]
        assert got["thresholds"] == want["thresholds"]
        assert abs(got["accuracy"] - want["accuracy"]) < 1e-12
        assert abs(got["avg_t"] - want["avg_timesteps"]) < 1e-12
        for family in ("native", "per-step"):
            for d in drops:
                x = r["results"][f"{family}/{rule}/{d}"]
                # calibrated to the same validation target, never more timesteps than T
                assert x["val_accuracy"] >= r["fixed_val"] - d - 1e-12
                assert 1 <= x["avg_t"] <= 4 and 1 <= x["oracle_avg_t"] <= 4
                assert sum(x["exit_histogram"]) == m["n_test"]
        # a looser target never needs more validation timesteps
        for family in ("native", "per-step"):
            a, b = (r["results"][f"{family}/{rule}/{d}"]["val_avg_t"] for d in drops)
            assert b <= a
    out = capsys.readouterr().out
    assert "| margin |" in out and "| softmax |" in out and "| entropy |" in out
    assert (tmp_path / "er" / "exit_rules.json").exists()
