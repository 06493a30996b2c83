"""Run a model image in Norse through NIR (export-nir --convention norse, then
norse's from_nir) beside the golden model (docs/nir.md).

    python scripts/norse_nir.py --model mnist-mlp --limit 10000

Needs norse (pip install --no-deps norse==1.1.0: its own requirements would
replace torch 2.13.0).
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from atsnn.data import load_dataset
from atsnn.golden.engine import run
from atsnn.interop import nir_export
from atsnn.model_image import load_model

DT = 1e-3   # norse's default, and export-nir's for --convention norse


def norse_predict(graph, image, x):
    """argmax of the graph's output summed over T_max steps, one sample at a time:
    norse (through nirtorch) reads NIR's Flatten(start_dim=0) as flattening the
    batch dimension too."""
    from norse.torch.functional.reset import reset_subtract
    from norse.torch.utils.import_nir import from_nir

    resets = {l.reset for l in image.layers if l.spiking}
    net = from_nir(graph, ignore_warnings=True, dt=DT,
                   **({"reset_method": reset_subtract} if resets == {"subtract"} else {}))
    preds = []
    with torch.no_grad():
        for sample in x:
            state, total = None, 0
            for t in range(image.t_max):
                if image.input.kind == "events":
                    xt = torch.as_tensor(sample[t][None], dtype=torch.float32)
                else:
                    xt = torch.as_tensor((sample[None] - image.input.zero_point) * image.input.scale,
                                         dtype=torch.float32)
                out, state = net(xt, state)
                total = total + out
            preds.append(int(total.argmax()))
    return np.array(preds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist-mlp")
    ap.add_argument("--limit", type=int, default=1000)
    args = ap.parse_args()
    import nir

    image = load_model(args.model)
    x, y = load_dataset("mnist", "test", limit=args.limit)
    with tempfile.TemporaryDirectory() as d:
        nir_export.write(image, Path(d) / "g.nir", convention="norse")
        graph = nir.read(str(Path(d) / "g.nir"))
    t0 = time.time()
    pred = norse_predict(graph, image, x)
    golden = run(image, x, early_exit=False).pred
    print(json.dumps({"model": args.model, "images": len(y), "norse_seconds": time.time() - t0,
                      "norse_accuracy": float(np.mean(pred == y)),
                      "golden_fixed_t_accuracy": float(np.mean(golden == y)),
                      "agreement": float(np.mean(pred == golden))}))


if __name__ == "__main__":
    main()
