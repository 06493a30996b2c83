"""Norse and NIR, both ways (docs/nir.md).

Run a model image in Norse (export-nir --convention norse, then norse's from_nir)
beside the golden model:

    python scripts/norse_nir.py --model mnist-mlp --limit 10000

Train a small Norse MLP on MNIST for about a minute, export it with Norse's own
to_nir, import it (--dt 1e-6 --input-shape 1,28,28: see NORSE_IMPORT) and run it on
the golden model, the accuracies side by side:

    python scripts/norse_nir.py --train-seconds 60 --out runs/norse-mlp

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
from atsnn.interop import nir_export, nir_import, nir_sim
from atsnn.model_image import load_model, save

DT = 1e-3   # norse's default, and export-nir's for --convention norse
HIDDEN_INV = 500.0   # LIFBox 1/tau: dt/tau = 0.5, beta = 1 - 2^-1 (leak_shift 1)
OUT_INV = 1.0        # LIBox readout 1/tau: dt/tau = 1e-3, nearly an integrator
#: import-nir options for a graph from Norse 1.1.0's to_nir. It writes
#: tau = dt / tau_mem_inv (dt * tau, not tau), so the importer's dt/tau is Norse's
#: dt * tau_mem_inv only at --dt = dt^2; its MLP has no Flatten and a flat Input.
NORSE_IMPORT = {"dt": DT * DT, "input_shape": (1, 28, 28), "reset": "nir"}


def network(hidden=128):
    """Linear - LIFBox - Linear - LIBox, every parameter per neuron (Norse's to_nir
    passes scalars through and nir's shape check then fails)."""
    import norse.torch as nt
    from norse.torch.module.leaky_integrator_box import LIBoxCell, LIBoxParameters
    from norse.torch.module.lif_box import LIFBoxCell, LIFBoxParameters
    lif = LIFBoxParameters(tau_mem_inv=torch.full((hidden,), HIDDEN_INV),
                           v_th=torch.ones(hidden), v_leak=torch.zeros(hidden),
                           v_reset=torch.zeros(hidden))
    li = LIBoxParameters(tau_mem_inv=torch.full((10,), OUT_INV), v_leak=torch.zeros(10))
    return nt.SequentialState(torch.nn.Linear(784, hidden), LIFBoxCell(lif, dt=DT),
                              torch.nn.Linear(hidden, 10), LIBoxCell(li, dt=DT))


def forward(net, x, t_max):
    """The readout's membrane after t_max steps for pixels in [0, 1], [B, 784]."""
    state = None
    for _ in range(t_max):
        out, state = net(x, state)
    return out


def train(net, x, y, t_max, seconds, batch=128, lr=2e-3, max_steps=None):
    """Adam on the cross-entropy of the readout (times 1/(dt OUT_INV), its gain)."""
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(0)
    t0, steps = time.time(), 0
    while time.time() - t0 < seconds and (max_steps is None or steps < max_steps):
        idx = torch.randint(len(x), (batch,), generator=gen)
        loss = torch.nn.functional.cross_entropy(
            forward(net, x[idx], t_max) / (DT * OUT_INV), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        steps += 1
    return steps


def export(net, path):
    """Norse's own exporter, written and read back."""
    import nir
    import norse.torch as nt
    nir.write(str(path), nt.to_nir(net, torch.zeros(784), dt=DT))
    return nir.read(str(path))


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


def train_export_import(seconds, t_max, out, limit=None, batch=128, lr=2e-3):
    """Train, export with Norse's to_nir, import, and measure on the MNIST test set."""
    torch.manual_seed(0)
    xtr, ytr = load_dataset("mnist", "train")
    x, y = load_dataset("mnist", "test", limit=limit)
    net = network()
    t0 = time.time()
    steps = train(net, torch.as_tensor(xtr.reshape(len(xtr), -1), dtype=torch.float32) / 255,
                  torch.as_tensor(ytr), t_max, seconds, batch, lr)
    with torch.no_grad():
        ours = forward(net, torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32) / 255,
                       t_max).numpy()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    graph = export(net, out / "norse.nir")
    image, notes = nir_import.import_graph(graph, t_max=t_max, name="norse-mlp", **NORSE_IMPORT)
    save(image, out / "image")
    ref = nir_sim.predict(graph, x, t_max, dt=NORSE_IMPORT["dt"])
    golden = run(image, x, early_exit=False).pred
    res = {"images": int(len(y)), "t_max": t_max, "train_steps": steps,
           "train_seconds": round(time.time() - t0, 1),
           "norse_accuracy": float(np.mean(ours.argmax(1) == y)),
           "nir_sim_accuracy": float(np.mean(ref == y)),
           "golden_accuracy": float(np.mean(golden == y)),
           "golden_vs_norse": float(np.mean(golden == ours.argmax(1))),
           "notes": [f"{'exact ' if n.exact else 'approx'} {n.layer}: {n.text}" for n in notes]}
    (out / "result.json").write_text(json.dumps(res, indent=1) + "\n")
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="mnist-mlp")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--train-seconds", type=float, default=None,
                    help="train a Norse MLP this long and import Norse's own export")
    ap.add_argument("--t-max", type=int, default=4)
    ap.add_argument("--out", default="runs/norse-mlp")
    args = ap.parse_args()
    if args.train_seconds is not None:
        print(json.dumps(train_export_import(args.train_seconds, args.t_max, args.out,
                                             args.limit or None), indent=1))
        return
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
