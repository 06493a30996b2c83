"""Training pipeline: float training, BN folding, quantization-aware fine-tuning,
exact quantized evaluation, exit calibration, export and golden agreement.

``run(config)`` does everything ``atsnn train`` does and returns the metrics
dict; ``config`` is a plain dict (see :data:`DEFAULTS`)."""

import copy
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from atsnn import AtsnnError
from atsnn import data as datasets
from atsnn.model import distributed, exits, loss, networks, quant

DEFAULTS = dict(
    preset="mnist-tiny", dataset=None, data_dir=None, epochs=1, qat_epochs=0.1, time_steps=4,
    batch_size=128, lr=4e-3, qat_lr=2e-4, schedule="decay", gamma=0.8, accumulate=True,
    spiking_output=False, leak_shift=1, reset="subtract", surrogate=None, s2nn=False,
    weight_bits=8, width=1.0, val_fraction=0.1, max_drop=0.001, limit_train=None,
    limit_test=None, membrane_bits=24, acc_bits=32, seed=0, threads=2, device="cpu",
    golden=True, export=True, lanes=16, out=None, progress=True, augment=None, save_every=50,
    resume=False, weight_decay=0.0,
)


def config_with(**kw):
    unknown = set(kw) - set(DEFAULTS)
    if unknown:
        raise AtsnnError(f"unknown training options: {', '.join(sorted(unknown))}")
    cfg = dict(DEFAULTS)
    cfg.update(kw)
    if cfg["s2nn"]:
        cfg["time_steps"] = 1
        cfg["surrogate"] = cfg["surrogate"] or "s2nn"
    cfg["surrogate"] = cfg["surrogate"] or "sigmoid"
    if cfg["dataset"] is None:
        cfg["dataset"] = networks.PRESETS.get(cfg["preset"], {}).get("dataset", "mnist")
    return cfg


def build_net(cfg, classes=None):
    return networks.preset(cfg["preset"], classes=classes, t_max=cfg["time_steps"],
                           leak_shift=cfg["leak_shift"], reset=cfg["reset"],
                           surrogate=cfg["surrogate"], weight_bits=cfg["weight_bits"],
                           width=cfg["width"], spiking_output=cfg["spiking_output"])


def load_data(cfg):
    """(x_train, y_train, x_val, y_val, x_test, y_test), uint8 arrays; the
    validation split comes out of the training split."""
    kw = {}
    if cfg["dataset"] in ("nmnist", "cifar10-dvs"):
        from atsnn.model.export import FRAME_MODE
        kw.update(time_steps=cfg["time_steps"], mode=FRAME_MODE)
    x, y = datasets.load_dataset(cfg["dataset"], "train", cfg["data_dir"], **kw)
    xt, yt = datasets.load_dataset(cfg["dataset"], "test", cfg["data_dir"], **kw)
    tr, va = datasets.train_val_split(len(y), cfg["val_fraction"], seed=cfg["seed"])
    if cfg["limit_train"]:
        tr = tr[:cfg["limit_train"]]
        va = va[:max(1, cfg["limit_train"] // 5)]
    if cfg["limit_test"]:
        xt, yt = xt[:cfg["limit_test"]], yt[:cfg["limit_test"]]
    return x[tr], y[tr], x[va], y[va], xt, yt


def _batches(n, size, shuffle, rng):
    idx = rng.permutation(n) if shuffle else np.arange(n)
    return [idx[i:i + size] for i in range(0, n, size)]


def _augment(xb, kind, rng):
    """Random crop (pad 4) + horizontal flip, for CIFAR-like static inputs."""
    if kind != "crop-flip":
        return xb
    n, c, h, w = xb.shape
    padded = np.pad(xb, ((0, 0), (0, 0), (4, 4), (4, 4)))
    out = np.empty_like(xb)
    dy, dx = rng.integers(0, 9, n), rng.integers(0, 9, n)
    flip = rng.random(n) < 0.5
    for i in range(n):
        img = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = img[..., ::-1] if flip[i] else img
    return out


def fit(net, x, y, cfg, epochs, lr, desc="train", resume=None, save=None):
    """Adam with cosine decay on the time-dependent loss. ``epochs`` may be
    fractional (the last epoch stops early, e.g. a quarter epoch of QAT).

    ``save(position)`` is called after every ``cfg['save_every']`` batches and at
    the end of every epoch with the training position: epoch, batches done in it,
    the shuffling RNG at the epoch's start and now, optimizer, scheduler and torch
    RNG states. ``resume`` (such a position, the model already loaded) continues
    from there exactly as if never interrupted.

    Under several processes (torchrun) every rank draws the same global batches
    and trains on its slice of each (model/distributed.py)."""
    device = cfg["device"]
    net.to(device).train()
    rng = np.random.default_rng(cfg["seed"])
    per_epoch = math.ceil(len(y) / cfg["batch_size"])
    steps = math.ceil(epochs * per_epoch)
    if steps == 0:
        return net
    params = [p for p in net.parameters() if p.requires_grad]
    wd = cfg["weight_decay"]
    opt = torch.optim.AdamW(params, lr, weight_decay=wd) if wd else torch.optim.Adam(params, lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model = distributed.wrap(net)
    first_epoch = 0
    if resume:
        opt.load_state_dict(resume["optimizer"])
        sched.load_state_dict(resume["scheduler"])
        torch.set_rng_state(resume["torch_rng"])
        first_epoch = resume["epoch"]
    n_epochs = math.ceil(steps / per_epoch)
    for epoch in range(first_epoch, n_epochs):
        again = resume is not None and epoch == first_epoch
        if again:
            rng.bit_generator.state = resume["epoch_rng"]
        epoch_rng = rng.bit_generator.state
        batches = _batches(len(y), cfg["batch_size"], True, rng)[:steps - epoch * per_epoch]
        start = 0
        if again:
            rng.bit_generator.state = resume["rng"]
            start = resume["batch"]
        bar = tqdm(range(start, len(batches)), desc=f"{desc} {epoch + 1}/{n_epochs}",
                   disable=not (cfg["progress"] and distributed.is_main()), leave=False)
        total = 0.0
        for i in bar:
            b = batches[i]
            xa = _augment(x[b], cfg["augment"], rng)   # the whole global batch: same RNG stream
            mine = distributed.shard(len(b))
            xb = networks.input_tensor(xa[mine], net.input_kind).to(device)
            yb = torch.as_tensor(y[b][mine]).to(device)
            out = model(xb, cfg["time_steps"])
            l = loss.time_dependent(out, yb, cfg["schedule"], cfg["gamma"], cfg["accumulate"])
            opt.zero_grad()
            # DDP averages over ranks: weight by this slice's share of the global batch
            (l * (len(yb) * distributed.world_size() / len(b))).backward()
            opt.step()
            sched.step()
            total += l.item()
            bar.set_postfix(loss=f"{total / (i + 1 - start):.4f}")
            done = i + 1
            if save and distributed.is_main() and (done % cfg["save_every"] == 0 or done == len(batches)):
                save(dict(epoch=epoch, batch=done, epoch_rng=epoch_rng, rng=rng.bit_generator.state,
                          optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                          torch_rng=torch.get_rng_state()))
            _interruption_for_tests()
    return net


_steps_this_process = 0


def _interruption_for_tests():
    """``ATSNN_INTERRUPT_AFTER=k``: end the process abruptly (``os._exit(75)``, as a
    kill would: nothing flushed, no cleanup) after its k-th training batch, counted
    over float training and QAT. Used by tests/test_train_resume.py."""
    global _steps_this_process
    _steps_this_process += 1
    k = os.environ.get("ATSNN_INTERRUPT_AFTER")
    if k and _steps_this_process == int(k):
        sys.stderr.write(f"atsnn train: interrupted after {k} batches (ATSNN_INTERRUPT_AFTER)\n")
        sys.stderr.flush()
        os._exit(75)


def recalibrate_bn(net, x, cfg, n=4096):
    """Recompute every batch norm's running statistics with the final weights (plain
    average over ``n`` training images). The momentum average still remembers
    earlier weights after a short training, and the statistics get folded into
    the exported bias."""
    bns = [e.bn for layer in net.weighted_layers() for e in layer.edges if e.bn is not None]
    if not bns:
        return net
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    net.to(cfg["device"]).train()
    idx = np.random.default_rng(cfg["seed"]).permutation(len(x))[:n]
    with torch.no_grad():
        for b in _batches(len(idx), cfg["batch_size"], False, None):
            b = b[distributed.shard(len(b))]   # global-batch statistics under several processes
            net(networks.input_tensor(x[idx[b]], net.input_kind).to(cfg["device"]),
                cfg["time_steps"])
    for bn in bns:
        bn.momentum = 0.1
    return net


def infer(net, x, cfg, dtype=torch.float32, batch=500, desc="eval", device=None):
    """Eval-mode outputs: ``(out [T, N, K] float64, ops [T, N], macs [N])``."""
    device = device or cfg["device"]
    net = net.to(device, dtype).eval()
    outs, ops, macs = [], [], []
    with torch.no_grad():
        for b in tqdm(_batches(len(x), batch, False, None), desc=desc, disable=not cfg["progress"],
                      leave=False):
            xb = networks.input_tensor(x[b], net.input_kind, dtype).to(device)
            outs.append(net(xb, cfg["time_steps"], record=True).double().cpu())
            o, m = exits.synaptic_ops(net)
            ops.append(torch.as_tensor(o).double().cpu())
            macs.append(torch.as_tensor(m).double().cpu().expand(len(b)))
            net.recorded = None
    return (torch.cat(outs, 1).numpy(), torch.cat(ops, 1).numpy(),
            torch.cat(macs).numpy())


def quantized_copy(net, weight_bits):
    q = quant.fold_bn(copy.deepcopy(net).cpu())
    return quant.enable(q, weight_bits)


def exact_dtype(qnet):
    """float32 when every layer's membrane bound (in integers) stays below 2**24,
    where float32 holds every integer exactly (several times faster than float64 on
    the CPU: oneDNN convolutions); float64 otherwise. Always run on the CPU (CUDA
    may use TF32)."""
    from atsnn import model_image as gi
    from atsnn.model import export as exporter

    bits = gi.layer_bound_bits(exporter.to_image(qnet, membrane_bits=gi.MAX_ACC_BITS,
                                                    acc_bits=gi.MAX_ACC_BITS))
    return torch.float32 if max(bits.values()) <= 24 else torch.float64


def exact_outputs(qnet, x, cfg, desc="exact"):
    """The quantized model, exactly: ``(U_int [T, N, K] int64, ops, macs)``;
    ``U_int`` = accumulated output / output scale, checked to be integers."""
    dtype = exact_dtype(qnet)
    out, ops, macs = infer(qnet, x, cfg, dtype=dtype, desc=desc, device="cpu")
    s = qnet.layers[-1].scales()[1]
    u = np.cumsum(out, 0) / s
    if not np.array_equal(u, np.round(u)):
        raise AtsnnError("quantized output is not an integer multiple of its scale")
    qnet.float()
    return np.round(u).astype(np.int64), ops, macs


def golden_agreement(img, x_test, u_test, tau, lanes):
    """Run the golden model; compare class, exit timestep and U with torch."""
    from atsnn.golden import run as golden_run

    res = golden_run(img, x_test, lanes=lanes)
    sc = exits.margins(u_test.astype(np.float64))
    exit_t = exits.exit_steps(sc, tau)
    n = np.arange(len(x_test))
    u_exit = u_test[exit_t - 1, n]
    pred = exits.predictions(u_test)[exit_t - 1, n]
    agree = ((res.pred == pred) & (res.exit_t == exit_t) & (res.u == u_exit).all(1))
    return res, agree


STATE = "resume.pt"   # RUN/resume.pt: the last saved training position (removed when done)


def run(cfg):
    """Train, quantize, calibrate, export and check one network; write ``cfg['out']``.

    While training, ``RUN/resume.pt`` holds the last saved position (phase float
    or QAT, model, optimizer, scheduler, RNG states, epoch and batch, the metrics
    so far); ``cfg['resume']`` continues from it, to the same result as an
    uninterrupted run.

    Under torchrun with several processes, every rank trains (float and QAT, data
    parallel); rank 0 alone evaluates, calibrates, exports, writes ``RUN`` and
    returns the metrics, the other ranks return None after QAT."""
    cfg = distributed.setup(cfg)
    main = distributed.is_main()
    torch.manual_seed(cfg["seed"])
    torch.set_num_threads(cfg["threads"])
    out_dir = Path(cfg["out"]) if cfg["out"] else None
    if out_dir and main:
        out_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(out_dir) if cfg["resume"] else None
    t0, c0 = time.time(), time.process_time()
    x, y, xv, yv, xt, yt = load_data(cfg)
    classes = networks.PRESETS[cfg["preset"]]["classes"]
    n_classes = int(max(y.max(), yt.max())) + 1
    if n_classes != len(classes):
        classes = [str(i) for i in range(n_classes)]
    T = cfg["time_steps"]

    def saver(phase, model):
        def save(position):
            if out_dir:
                save_state(out_dir, dict(phase=phase, config=cfg, model=model.state_dict(),
                                         fit=position, metrics=m))
        return save

    if state is None or state["phase"] == "float":
        m = {"config": {k: v for k, v in cfg.items()}, "n_train": int(len(y)),
             "n_val": int(len(yv)), "n_test": int(len(yt))}
        net = build_net(cfg, classes)
        if state:
            net.load_state_dict(state["model"])
            m["resumed_from"] = dict(phase="float", epoch=state["fit"]["epoch"],
                                     batch=state["fit"]["batch"])
        fit(net, x, y, cfg, cfg["epochs"], cfg["lr"], resume=state and state["fit"],
            save=saver("float", net))
        recalibrate_bn(net, x, cfg)
        m["time_float_train_s"] = round(time.time() - t0, 1)
        if main:
            out_f, _, _ = infer(net, xt, cfg, desc="float test")
            m["accuracy_float_per_t"] = exits.accuracy_per_t(np.cumsum(out_f, 0), yt).tolist()
        if cfg["spiking_output"] or not cfg["export"]:
            if not main:
                return None
            m["accuracy_fixed"] = m["accuracy_float_per_t"][-1]
            m["time_total_s"] = round(time.time() - t0, 1)
            m["cpu_total_s"] = round(time.process_time() - c0, 1)
            _write(out_dir, m, net=net, cfg=cfg)
            return m
        qnet = quantized_copy(net, cfg["weight_bits"])
        qat_state = None
    else:
        m = dict(state["metrics"], config=dict(cfg))
        m["resumed_from"] = dict(phase="qat", epoch=state["fit"]["epoch"],
                                 batch=state["fit"]["batch"])
        qnet = quantized_copy(build_net(cfg, classes), cfg["weight_bits"])
        qnet.load_state_dict(state["model"])
        qat_state = state["fit"]
    fit(qnet, x, y, cfg, cfg["qat_epochs"], cfg["qat_lr"], desc="qat", resume=qat_state,
        save=saver("qat", qnet))
    if not main:
        return None
    qnet.cpu()
    uv, _, _ = exact_outputs(qnet, xv, cfg, desc="exact val")
    ut, ops, macs = exact_outputs(qnet, xt, cfg, desc="exact test")
    acc_t = exits.accuracy_per_t(ut, yt)
    m["accuracy_per_t"] = acc_t.tolist()
    m["accuracy_fixed"] = float(acc_t[-1])
    m["accuracy_val_per_t"] = exits.accuracy_per_t(uv, yv).tolist()

    rules = {}
    s_out = qnet.layers[-1].scales()[1]
    for rule in exits.RULES:
        # margin: integer U (the hardware's tau); softmax / entropy: the real logits
        k = 1.0 if rule == "margin" else s_out
        uv_r, ut_r = uv * k, ut * k
        thr, curve_val = exits.calibrate(uv_r, yv, rule, cfg["max_drop"])
        _, tables = exits.sweep(uv_r, yv, rule)
        e = exits.exit_steps(exits.scores(ut_r, rule), thr)
        acc, avg_t = exits.outcome(ut, yt, e)
        rules[rule] = dict(thresholds=thr, accuracy=acc, avg_timesteps=avg_t,
                           complexity_ratio=exits.complexity(ops, macs, e),
                           exit_histogram=np.bincount(e, minlength=T + 1)[1:].tolist(),
                           curve_val=curve_val,
                           curve_test=exits.curve_for(ut_r, yt, rule, tables))
    m["rules"] = rules
    tau = [None if t is None else int(t) for t in rules["margin"]["thresholds"]]
    hw = rules["margin"]
    m.update(tau=tau, accuracy_adaptive=hw["accuracy"], avg_timesteps=hw["avg_timesteps"],
             complexity_ratio=hw["complexity_ratio"])
    m["time_to_export_s"] = round(time.time() - t0, 1)

    from atsnn.model import export as exporter
    img = exporter.to_image(qnet, tau, cfg["membrane_bits"], cfg["acc_bits"])
    from atsnn import model_image as gi
    m["bound_bits"] = gi.layer_bound_bits(img)
    if out_dir:
        gi.save(img, out_dir / "image")
    m["accuracy_golden"] = None
    m["golden_matches_torch"] = False
    if cfg["golden"]:
        try:
            res, agree = golden_agreement(img, xt, ut, tau, cfg["lanes"])
        except ImportError as e:
            m["golden_error"] = f"golden engine not available: {e}"
        else:
            m["accuracy_golden"] = float((res.pred == yt).mean())
            m["golden_agreement"] = float(agree.mean())
            m["golden_matches_torch"] = bool(agree.all())
            m["golden_avg_timesteps"] = float(res.exit_t.mean())
            m["golden_sops_mean"] = float(res.sops.mean())
            m["golden_spikes_mean"] = float(res.spikes.sum(axis=(1, 2)).mean())
            m["golden_cycles_mean"] = float(res.cycles.mean())
    m["time_total_s"] = round(time.time() - t0, 1)
    m["cpu_total_s"] = round(time.process_time() - c0, 1)
    _write(out_dir, m, net=qnet, cfg=cfg, tau=tau)
    return m


def _write(out_dir, m, net, cfg, tau=None):
    if not out_dir:
        return
    quantized = any(layer.quantized for layer in net.weighted_layers())
    torch.save({"config": cfg, "classes": net.classes, "state_dict": net.state_dict(),
                "quantized": quantized, "tau": tau}, out_dir / "checkpoint.pt")
    (out_dir / "metrics.json").write_text(json.dumps(m, indent=1, default=_json))
    from atsnn.model import plots
    plots.write_all(out_dir, m)
    (out_dir / STATE).unlink(missing_ok=True)


def save_state(out_dir, state):
    """Write ``RUN/resume.pt`` atomically (a kill while writing keeps the last one)."""
    tmp = out_dir / (STATE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, out_dir / STATE)


def load_state(out_dir):
    """The saved training position of an interrupted run, or an AtsnnError."""
    path = Path(out_dir) / STATE
    if not path.is_file():
        raise AtsnnError(f"{out_dir}: no interrupted run to resume ({STATE} is missing)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise AtsnnError(f"{path}: unreadable ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(state, dict) or state.get("phase") not in ("float", "qat"):
        raise AtsnnError(f"{path}: not a training position written by atsnn train")
    return state


def _json(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def load_checkpoint(path):
    """Rebuild the network saved by :func:`run` -> ``(net, cfg, tau)``; a file that
    is not such a checkpoint (truncated, garbage, another program's) is an
    AtsnnError naming it, not torch's traceback."""
    def bad(why):
        return AtsnnError(f"{path}: not a checkpoint written by atsnn train ({why})")

    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:   # torch raises RuntimeError, UnpicklingError, EOFError, ...
        raise bad(f"{type(e).__name__}: {_first_line(e)}") from None
    keys = ("config", "classes", "state_dict", "quantized")
    if not isinstance(ck, dict) or any(k not in ck for k in keys):
        raise bad(f"expected a dict with {', '.join(keys)}")
    try:
        cfg = ck["config"]
        net = build_net(cfg, ck["classes"])
        if ck["quantized"]:
            quant.fold_bn(net)
            quant.enable(net, cfg["weight_bits"])
        net.load_state_dict(ck["state_dict"])
    except Exception as e:
        raise bad(f"{type(e).__name__}: {_first_line(e)}") from None
    return net, cfg, ck.get("tau")


def _first_line(e):
    lines = str(e).strip().splitlines()
    return lines[0] if lines else "no message"
