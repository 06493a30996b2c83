"""`atsnn train --resume`: a run killed mid-epoch (float training or QAT) and
resumed ends with the same weights and metrics as a run never interrupted.

The kill is ``ATSNN_INTERRUPT_AFTER=k``: the training process ends with
``os._exit`` after its k-th batch, as a kill would. digits-tiny on scikit-learn's
bundled digits (1,293 training images: 11 batches of 128 per epoch), one thread:
deterministic on the CPU, a few seconds per run."""

import json
import os
import subprocess
import sys

import pytest
import torch

from atsnn.cli import main

# 2 float epochs (22 batches) and 1 QAT epoch (11 batches); position saved every
# 3 batches and at each epoch's end; crop-flip draws from the shuffling RNG
ARGS = ["train", "--preset", "digits-tiny", "--epochs", "2", "--qat-epochs", "1",
        "--augment", "crop-flip", "--threads", "1", "--quiet", "--no-golden", "--save-every", "3"]


def _train(out, *extra):
    assert main(ARGS + ["--out", str(out), *extra]) == 0


def _killed(out, after):
    env = dict(os.environ, ATSNN_INTERRUPT_AFTER=str(after))
    p = subprocess.run([sys.executable, "-m", "atsnn.cli", *ARGS, "--out", str(out)], env=env,
                       capture_output=True, text=True)
    assert p.returncode == 75, p.stderr
    assert f"interrupted after {after} batches" in p.stderr
    assert sorted(x.name for x in out.iterdir()) == ["resume.pt"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "run"
    _train(out)
    return out


def _same_run(a, b):
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for key in ("accuracy_float_per_t", "accuracy_per_t", "accuracy_val_per_t", "tau",
                "accuracy_adaptive", "avg_timesteps"):
        assert ma[key] == mb[key], key
    sa, sb = (torch.load(d / "checkpoint.pt")["state_dict"] for d in (a, b))
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    return mb


# 16: float epoch 2, batch 5 (saved at 3: two batches redone);
# 28: QAT batch 6 (saved there, then killed); 32: QAT batch 10 (saved at 9)
@pytest.mark.parametrize("after, phase, epoch, batch", [(16, "float", 1, 3), (28, "qat", 0, 6),
                                                        (32, "qat", 0, 9)])
def test_killed_and_resumed_equals_uninterrupted(tmp_path, reference, after, phase, epoch, batch):
    out = tmp_path / "run"
    _killed(out, after)
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    m = _same_run(reference, out)
    assert m["resumed_from"] == dict(phase=phase, epoch=epoch, batch=batch)
    assert not (out / "resume.pt").exists()


def test_resume_with_the_same_command_line(tmp_path, reference):
    out = tmp_path / "run"
    _killed(out, 5)
    _train(out, "--resume", str(out))
    _same_run(reference, out)


def test_resume_refuses_other_options(tmp_path, capsys):
    out = tmp_path / "run"
    _killed(out, 5)
    capsys.readouterr()
    more_epochs = [("3" if a == "2" else a) for a in ARGS]
    for argv, says in ((more_epochs + ["--resume", str(out)], "): epochs 3.0 (was 2.0)"),
                       (["train", "--resume", str(out), "--out", "elsewhere"],
                        "name different runs")):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
    # a fresh run into the interrupted one's directory is refused too
    assert main(ARGS + ["--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_refuses_what_cannot_resume(tmp_path, reference, capsys):
    for run, says in ((tmp_path / "none", "no such run directory"),
                      (tmp_path, "no interrupted run to resume"),
                      (reference, "that run has finished")):
        assert main(["train", "--resume", str(run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
    assert main(["train", "--preset", "digits-tiny"]) == 2
    assert "--out RUN is required" in capsys.readouterr().err
