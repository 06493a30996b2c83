"""`atsnn train` under torchrun: 2 CPU processes (gloo), DistributedDataParallel,
the global batch split over the ranks, batch norm on global-batch statistics.

The result equals a single-process run of the same global batch up to
floating-point reduction order (gradients summed over ranks, batch-norm sums
all-reduced): every float tensor within 5e-3 of its norm (measured: at most 9e-4), at most 1 % of
the exported integer weights off by one (none by more), accuracies within 2
test images. Only rank 0 writes: the other rank runs with every file write
(open for writing, torch.save, mkdir) turned into an error, and only rank 0
prints the summary."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from atsnn import model_image as gi
from atsnn.cli import main

# digits-tiny on scikit-learn's bundled digits: 11 global batches of 128 per
# epoch (the last of 13: 7 + 6 per rank), 2 float epochs, 1 QAT epoch
ARGS = ["train", "--preset", "digits-tiny", "--epochs", "2", "--qat-epochs", "1",
        "--threads", "1", "--quiet"]

GUARD = textwrap.dedent("""
    import builtins, os, sys
    from pathlib import Path
    import torch
    rank = int(os.environ["RANK"])
    if rank != 0:
        real_open = builtins.open
        def refuse(what):
            raise RuntimeError(f"rank {rank} wrote {what}")
        def guarded_open(file, mode="r", *a, **k):
            if any(c in mode for c in "wax+"):
                refuse(file)
            return real_open(file, mode, *a, **k)
        builtins.open = guarded_open
        torch.save = lambda obj, f, *a, **k: refuse(f)
        Path.mkdir = lambda self, *a, **k: refuse(self)
        Path.write_text = lambda self, *a, **k: refuse(self)
        os.replace = lambda a, b: refuse(b)
    from atsnn.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp")
    assert main(ARGS + ["--out", str(tmp / "one")]) == 0
    script = tmp / "guarded_atsnn.py"
    script.write_text(GUARD)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                        "--nproc_per_node", "2", str(script), *ARGS, "--out", str(tmp / "two")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return tmp / "one", tmp / "two", p.stdout


def test_two_processes_equal_one_of_the_same_global_batch(runs):
    one, two, _ = runs
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (one, two))
    n = ma["n_test"]
    assert ma["accuracy_fixed"] > 0.5    # it learned: chance is 0.1
    for key in ("accuracy_float_per_t", "accuracy_per_t"):
        assert np.abs(np.subtract(ma[key], mb[key])).max() <= 2 / n + 1e-12, key
    assert abs(ma["accuracy_adaptive"] - mb["accuracy_adaptive"]) <= 2 / n + 1e-12
    sa, sb = (torch.load(d / "checkpoint.pt")["state_dict"] for d in (one, two))
    assert sa.keys() == sb.keys()
    for k in sa:
        assert float((sa[k] - sb[k]).norm()) <= 5e-3 * float(sa[k].norm()), k
    ia, ib = gi.load(one / "image"), gi.load(two / "image")
    for la, lb in zip(ia.layers, ib.layers):
        for ea, eb in zip(la.inputs, lb.inputs):
            d = np.abs(ea.weight.astype(np.int64) - eb.weight.astype(np.int64))
            assert d.max() <= 1 and (d > 0).mean() <= 0.01, la.name
    assert mb["golden_matches_torch"] is True


def test_only_rank_0_writes_and_prints(runs):
    _, two, stdout = runs
    assert stdout.count("test accuracy per t:") == 1
    assert sorted(p.name for p in two.iterdir()) == [
        "accuracy_per_t.png", "accuracy_vs_timesteps.png", "checkpoint.pt",
        "exit_histogram.png", "image", "metrics.json"]


def test_global_batch_split():
    from atsnn import AtsnnError
    from atsnn.model import distributed

    parts = [distributed.split(13, r, 2) for r in range(2)]
    assert parts == [slice(0, 7), slice(7, 13)]
    assert [len(range(10)[distributed.split(10, r, 3)]) for r in range(3)] == [4, 3, 3]
    assert distributed.shard(5) == slice(0, 5)     # a single process takes everything
    with pytest.raises(AtsnnError, match="cannot be split over 4 processes"):
        distributed.split(3, 0, 4)
