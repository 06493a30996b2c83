"""Check a finished ``atsnn train`` run's exported image against the golden model,
image by image, again: the exact quantized torch outputs are recomputed from
``RUN/checkpoint.pt`` on the run's own test split (its config and seed), the
golden model runs ``RUN/image``, and class, exit timestep and output potentials
must agree on every image. What ``atsnn train`` does at the end of a run (its
``golden_matches_torch``), for a run trained with ``--no-golden`` (a large
network on a GPU machine, say) or on a subset of the test images.

    python scripts/check_golden.py runs/vgg16-gpu --images 256 --data-dir ../shared/data

Prints one JSON line: images, agreement, golden accuracy and mean timesteps;
exit status 1 when any image disagrees, 2 on bad input.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from atsnn import AtsnnError
from atsnn import model_image as gi
from atsnn.model import train


def check(run, images=None, data_dir=None, threads=None, lanes=16):
    run = Path(run)
    for need in ("checkpoint.pt", "image"):
        if not (run / need).exists():
            raise AtsnnError(f"{run}: no {need} (not a finished atsnn train run)")
    net, cfg, tau = train.load_checkpoint(run / "checkpoint.pt")
    cfg = dict(cfg, progress=False, golden=False, device="cpu")
    if data_dir is not None:
        cfg["data_dir"] = data_dir
    torch.set_num_threads(threads or cfg.get("threads") or 1)
    _, _, _, _, xt, yt = train.load_data(cfg)
    if images is not None:
        xt, yt = xt[:images], yt[:images]
    t0 = time.time()
    ut, _, _ = train.exact_outputs(net, xt, cfg)
    res, agree = train.golden_agreement(gi.load(run / "image"), xt, ut, tau, lanes)
    return {"run": str(run), "images": int(len(xt)), "agreement": float(agree.mean()),
            "golden_matches_torch": bool(agree.all()),
            "disagreeing": np.flatnonzero(~agree)[:10].tolist(),
            "accuracy_golden": float((res.pred == yt).mean()),
            "golden_avg_timesteps": float(res.exit_t.mean()),
            "golden_cycles_mean": float(res.cycles.mean()),
            "seconds": round(time.time() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", help="an atsnn train run directory (checkpoint.pt, image/)")
    ap.add_argument("--images", type=int, help="only the first N test images")
    ap.add_argument("--data-dir", help="where the dataset is (default: the run's)")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--lanes", type=int, default=16)
    args = ap.parse_args(argv)
    if args.images is not None and args.images < 1:
        print(f"check_golden: --images must be at least 1, not {args.images}", file=sys.stderr)
        return 2
    try:
        out = check(args.run, args.images, args.data_dir, args.threads, args.lanes)
    except (AtsnnError, FileNotFoundError) as e:
        print(f"check_golden: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0 if out["golden_matches_torch"] else 1


if __name__ == "__main__":
    sys.exit(main())
