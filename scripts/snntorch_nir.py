"""Train a small snnTorch network on MNIST for about a minute, export it with
snnTorch's export_to_nir, import it with `atsnn import-nir`'s code and run it on
the golden model: the accuracies side by side (docs/nir.md).

    python scripts/snntorch_nir.py --arch mlp --seconds 60 --out runs/snntorch-mlp

Needs snntorch and nirtorch (pip install snntorch nirtorch; neither replaces torch).
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from atsnn.data import load_dataset
from atsnn.golden.engine import run
from atsnn.interop import nir_import, nir_sim
from atsnn.model_image import save

BETA = 0.5                  # 1 - 2^-1: the contract's leak_shift 1, exactly
OUT_BETA = 1 - 2.0 ** -10   # snnTorch cannot export beta = 1 (tau = dt / 0)


def leaky(shape, beta=BETA, **kw):
    """A Leaky with per-neuron beta and threshold: export_to_nir needs both to have
    the layer's shape, or nir's type check fails."""
    import snntorch as snn
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape),
                     init_hidden=True, reset_delay=False, **kw)


def network(arch, n_in=784):
    nn = torch.nn
    out = leaky((10,), OUT_BETA, output=True, reset_mechanism="none")
    if arch == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(n_in, 128), leaky((128,)),
                             nn.Linear(128, 10), out)
    return nn.Sequential(nn.Conv2d(1, 8, 5, stride=2, padding=2), leaky((8, 14, 14)),
                         nn.Conv2d(8, 16, 3, padding=1), leaky((16, 14, 14)),
                         nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10), out)


def forward(net, x, t_max):
    """Membrane of the output layer after t_max steps (snnTorch's membrane readout);
    x is pixels [B, C, H, W] given at every step, or event frames [B, T, C, H, W]."""
    from snntorch import utils
    utils.reset(net)
    for t in range(t_max):
        _, mem = net(x[:, t] if x.ndim == 5 else x)
    return mem


def train(net, x, y, t_max, seconds, batch=128, lr=2e-3, max_steps=None):
    """Adam on the cross-entropy of the output membrane, for `seconds` (or
    `max_steps` batches)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    t0, steps, epoch = time.time(), 0, 0
    done = lambda: time.time() - t0 >= seconds or steps == max_steps
    while not done():
        order = torch.randperm(len(x))
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = loss_fn(forward(net, x[idx], t_max), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if done():
                break
        epoch += 1
    return {"train_seconds": time.time() - t0, "steps": steps, "epochs_started": epoch}


def accuracy(net, x, y, t_max):
    with torch.no_grad():
        pred = torch.cat([forward(net, x[i:i + 500], t_max).argmax(1)
                          for i in range(0, len(x), 500)])
    return float((pred == y).float().mean())


def main():
    from snntorch.export_nir import export_to_nir
    import nir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=("mlp", "conv"), default="mlp")
    ap.add_argument("--dataset", choices=("mnist", "nmnist"), default="mnist",
                    help="nmnist: event frames (the 1,000/100-recording subset), mlp only")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--t-max", type=int, default=4)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--limit-test", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.manual_seed(0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    events = args.dataset == "nmnist"
    if events and args.arch != "mlp":
        ap.error("--dataset nmnist trains the mlp only")
    kw = {"time_steps": args.t_max} if events else {}
    xtr, ytr = load_dataset(args.dataset, "train", **kw)
    xte, yte = load_dataset(args.dataset, "test", limit=args.limit_test, **kw)
    to_float = lambda a: torch.as_tensor(a, dtype=torch.float32) / (1 if events else 255)
    in_shape = tuple(xtr.shape[2:] if events else xtr.shape[1:])
    net = network(args.arch, int(np.prod(in_shape)))
    info = train(net, to_float(xtr), torch.as_tensor(ytr), args.t_max, args.seconds,
                 args.batch, args.lr)
    net.eval()
    res = {"arch": args.arch, "dataset": args.dataset, "t_max": args.t_max,
           "batch": args.batch, "lr": args.lr, **info,
           "snntorch_accuracy": accuracy(net, to_float(xte), torch.as_tensor(yte), args.t_max)}
    graph = export_to_nir(net, torch.zeros((1,) + in_shape), ignore_dims=[0])
    nir.write(str(out / "graph.nir"), graph)
    graph = nir.read(str(out / "graph.nir"))
    kind = "events" if events else "static"
    for reset in ("subtract", "nir"):
        image, notes = nir_import.import_graph(graph, t_max=args.t_max, reset=reset,
                                               input_kind=kind, name=f"snntorch-{args.arch}")
        save(image, out / f"image-{reset}")
        res[f"reset_{reset}"] = {
            "golden_accuracy": float(np.mean(run(image, xte, early_exit=False).pred == yte)),
            "nir_sim_accuracy": float(np.mean(nir_sim.predict(
                graph, xte, args.t_max, reset=reset, input_kind=kind) == yte)),
            "exact": all(n.exact for n in notes),
            "notes": [f"{n.layer}: {n.text}" for n in notes if not n.exact]}
    res["test_images"] = int(len(yte))
    (out / "result.json").write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
