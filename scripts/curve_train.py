"""`atsnn train` with a per-epoch curve: the same command line (argv passed through
to atsnn.cli.main), plus hooks that record, at every saved training position
(every epoch's end, and every --save-every batches), the mean training loss and
training accuracy (accumulated output at T_max, augmented batches) since the last
save, the wall time, and the float test accuracy per timestep (eval mode, BN
running statistics, before the final BN recalibration; on the first $CURVE_TEST_LIMIT test images
if set, none if 0). The curve goes to
RUN/curve.json and into metrics.json as "train_curve". The training itself is
unchanged (the hooks consume no RNG; the eval runs after the state is saved)."""
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from atsnn.model import exits, loss, train

T0 = time.time()
ctx = {"net": None, "xt": None, "yt": None, "sum": 0.0, "n": 0, "correct": 0, "seen": 0,
       "curve": []}

_orig_loss = loss.time_dependent


def time_dependent(out, y, *a, **k):
    l = _orig_loss(out, y, *a, **k)
    with torch.no_grad():
        pred = out.sum(0).argmax(1)
        ctx["correct"] += int((pred == y).sum())
        ctx["seen"] += int(len(y))
    ctx["sum"] += float(l.detach()) * len(y)
    ctx["n"] += len(y)
    return l


loss.time_dependent = time_dependent

_orig_load = train.load_data


def load_data(cfg):
    d = _orig_load(cfg)
    ctx["xt"], ctx["yt"], ctx["cfg"] = d[4], d[5], cfg
    return d


train.load_data = load_data

_orig_fit = train.fit


def fit(net, x, y, cfg, epochs, lr, desc="train", **kw):
    ctx["net"], ctx["phase"] = net, desc
    ctx["per_epoch"] = int(np.ceil(len(y) / cfg["batch_size"]))
    return _orig_fit(net, x, y, cfg, epochs, lr, desc=desc, **kw)


train.fit = fit

_orig_save = train.save_state


def save_state(out_dir, state):
    _orig_save(out_dir, state)
    pos = state["fit"]
    net, cfg = ctx["net"], ctx["cfg"]
    point = dict(phase=state["phase"], epoch=round(pos["epoch"] + pos["batch"] / ctx["per_epoch"], 4),
                 train_loss=ctx["sum"] / max(ctx["n"], 1),
                 train_acc=ctx["correct"] / max(ctx["seen"], 1), images=ctx["n"],
                 wall_s=round(time.time() - T0, 1))
    ctx.update(sum=0.0, n=0, correct=0, seen=0)
    n_eval = int(os.environ.get("CURVE_TEST_LIMIT", len(ctx["yt"])))
    if state["phase"] == "float" and n_eval > 0:
        was = net.training
        dev = next(net.parameters()).device
        xt, yt = ctx["xt"][:n_eval], ctx["yt"][:n_eval]
        out, _, _ = train.infer(net, xt, dict(cfg, progress=False), desc="curve test")
        net.to(dev, torch.float32).train(was)
        point["test_acc_float_per_t"] = exits.accuracy_per_t(np.cumsum(out, 0), yt).tolist()
        point["test_images"] = int(len(yt))
        point["eval_s"] = round(time.time() - T0 - point["wall_s"], 1)
    ctx["curve"].append(point)
    # a resumed run appends to the curve saved so far
    path = Path(out_dir) / "curve.json"
    old = json.loads(path.read_text()) if path.exists() else []
    path.write_text(json.dumps(old + [point], indent=1))
    state["metrics"]["train_curve"] = old + [point]
    print("curve " + json.dumps(point), flush=True)


train.save_state = save_state

if __name__ == "__main__":
    from atsnn.cli import main
    sys.exit(main(["train"] + sys.argv[1:]))
