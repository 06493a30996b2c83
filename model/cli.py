"""``atsnn train`` and ``atsnn export``."""

from pathlib import Path

from atsnn import AtsnnError
from atsnn.model import loss, networks, surrogate, train

TRAIN_HELP = """Train an ATSNN (or, with --s2nn, an S2NN) network, quantize it, calibrate
its exit thresholds on a validation split of the training data, export the model
image and check it against the golden model. Writes RUN/checkpoint.pt,
RUN/image/, RUN/metrics.json and plots."""


def add_commands(subparsers):
    d = train.DEFAULTS
    p = subparsers.add_parser("train", help="train, quantize, calibrate exits, export",
                              description=TRAIN_HELP)
    p.add_argument("--preset", default=d["preset"], choices=sorted(networks.PRESETS))
    p.add_argument("--dataset", default=None, help="default: the preset's dataset")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--epochs", type=float, default=d["epochs"],
                   help="float training epochs (may be fractional)")
    p.add_argument("--qat-epochs", type=float, default=d["qat_epochs"],
                   help="quantization-aware fine-tuning epochs after folding BN")
    p.add_argument("--time-steps", type=int, default=d["time_steps"], help="T_max")
    p.add_argument("--batch-size", type=int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument("--weight-decay", type=float, default=d["weight_decay"],
                   help="decoupled weight decay (AdamW); 0: plain Adam")
    p.add_argument("--schedule", default=d["schedule"], choices=loss.SCHEDULES,
                   help="time-dependent loss weights")
    p.add_argument("--gamma", type=float, default=d["gamma"],
                   help="decay schedule: weight of timestep t ~ gamma**(t - 1)")
    p.add_argument("--per-step-loss", action="store_true",
                   help="ablation: loss on the per-step output instead of the accumulated one")
    p.add_argument("--spiking-output", action="store_true",
                   help="ablation: spiking output layer (not exportable)")
    p.add_argument("--leak-shift", type=int, default=d["leak_shift"])
    p.add_argument("--reset", default=d["reset"], choices=("subtract", "zero"))
    p.add_argument("--surrogate", default=None, choices=sorted(surrogate.SURROGATES))
    p.add_argument("--s2nn", action="store_true", help="single-step network: T = 1, S2NN surrogate")
    p.add_argument("--weight-bits", type=int, default=d["weight_bits"])
    p.add_argument("--width", type=float, default=d["width"], help="channel multiplier")
    p.add_argument("--augment", default=None, choices=("crop-flip",))
    p.add_argument("--val-fraction", type=float, default=d["val_fraction"])
    p.add_argument("--max-drop", type=float, default=d["max_drop"],
                   help="allowed validation accuracy drop of adaptive exits (fraction)")
    p.add_argument("--limit-train", type=int, default=None, help="use only N training images")
    p.add_argument("--limit-test", type=int, default=None, help="use only N test images")
    p.add_argument("--membrane-bits", type=int, default=d["membrane_bits"])
    p.add_argument("--acc-bits", type=int, default=d["acc_bits"])
    p.add_argument("--lanes", type=int, default=d["lanes"])
    p.add_argument("--no-golden", action="store_true", help="skip the golden-model check")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=d["threads"])
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--save-every", type=int, default=d["save_every"],
                   help="save the training position (RUN/resume.pt) every N batches and at "
                        "every epoch's end")
    p.add_argument("--resume", metavar="RUN", default=None,
                   help="continue the interrupted run in RUN from its last saved position "
                        "(its options; --threads and --quiet may change)")
    p.add_argument("--out", default=None, help="run directory")
    p.set_defaults(func=train_command, train_parser=p)

    e = subparsers.add_parser("export", help="write the model image of a trained checkpoint")
    e.add_argument("checkpoint", help="RUN/checkpoint.pt written by atsnn train")
    e.add_argument("--out", required=True, help="image directory or .npz file")
    e.add_argument("--no-exits", action="store_true", help="disable every exit (tau all null)")
    e.add_argument("--membrane-bits", type=int, default=d["membrane_bits"])
    e.add_argument("--acc-bits", type=int, default=d["acc_bits"])
    e.set_defaults(func=export_command)


def check_train_args(args):
    """Refuse what cannot train, before loading data or building a network."""
    import math

    def bad(flag, value, want):
        raise AtsnnError(f"--{flag} must be {want}, not {value!r}")

    if args.out is None:
        raise AtsnnError("--out RUN is required (or --resume RUN)")
    for flag in ("time_steps", "batch_size", "threads", "save_every"):
        v = getattr(args, flag)
        if v < 1:
            bad(flag.replace("_", "-"), v, "at least 1")
    for flag in ("limit_train", "limit_test"):
        v = getattr(args, flag)
        if v is not None and v < 1:
            bad(flag.replace("_", "-"), v, "at least 1")
    for flag in ("lr", "epochs", "width", "gamma"):
        v = getattr(args, flag)
        if not math.isfinite(v) or v <= 0:
            bad(flag.replace("_", "-"), v, "a finite number above 0")
    if not math.isfinite(args.weight_decay) or args.weight_decay < 0:
        bad("weight-decay", args.weight_decay, "a finite number, 0 or more")
    if not math.isfinite(args.qat_epochs) or args.qat_epochs < 0:
        bad("qat-epochs", args.qat_epochs, "a finite number, 0 or more")
    if not (0 < args.val_fraction < 1):
        bad("val-fraction", args.val_fraction, "above 0 and below 1 (the exits are calibrated "
                                               "on that part of the training data)")
    if not (0 <= args.max_drop <= 1):
        bad("max-drop", args.max_drop, "from 0 to 1")
    check_widths(args)
    from atsnn.rtl.config import HwConfig
    try:
        HwConfig(lanes=args.lanes)
    except TypeError as exc:
        raise AtsnnError(f"--lanes: {exc}") from None
    check_preset_dataset(args.preset, args.dataset)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise AtsnnError(f"--out {args.out}: exists and is not a directory")
    done = [n for n in ("checkpoint.pt", "metrics.json", "image") if (out / n).exists()]
    if done:
        raise AtsnnError(f"--out {args.out}: already holds a run ({', '.join(done)}); "
                         "remove it or name another directory")
    if (out / train.STATE).exists():
        raise AtsnnError(f"--out {args.out}: holds an interrupted run ({train.STATE}); continue "
                         f"it with --resume {args.out}, or remove it")


def check_widths(args):
    from atsnn.model_image import MAX_ACC_BITS, MIN_MEMBRANE_BITS
    if not MIN_MEMBRANE_BITS <= args.membrane_bits <= args.acc_bits <= MAX_ACC_BITS:
        raise AtsnnError(f"need {MIN_MEMBRANE_BITS} <= --membrane-bits <= --acc-bits <= "
                         f"{MAX_ACC_BITS}, not {args.membrane_bits} and {args.acc_bits}")


def check_preset_dataset(preset, dataset):
    """A dataset whose samples the preset cannot read is refused before loading it
    (an event network given images, or images of another shape)."""
    from atsnn import data

    if dataset is None:
        return
    if dataset not in data.DATASETS:
        raise AtsnnError(f"unknown dataset {dataset!r}: expected one of {', '.join(data.DATASETS)}")
    p = networks.PRESETS[preset]
    want = (p.get("input_kind", "static"), tuple(p["input_shape"]))
    got = (data.DATASETS[dataset][1], data.INPUT_SHAPES[dataset])
    if got != want:
        def say(kind, shape):
            return f"{'event frames' if kind == 'events' else 'static images'} {list(shape)}"
        raise AtsnnError(f"--preset {preset} reads {say(*want)}, but --dataset {dataset} gives "
                         f"{say(*got)} (the preset's own dataset is {p['dataset']})")


def train_command(args):
    cfg = resume_config(args) if args.resume else new_config(args)
    if cfg["device"] == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise AtsnnError("--device cuda: no CUDA device is available")
    from atsnn.model import distributed
    try:
        m = train.run(cfg)
    finally:
        distributed.finish()
    if m is not None:   # rank 0 (or the only process)
        print(summary(m))
    return 0


def new_config(args, check=True):
    if check:
        check_train_args(args)
    return train.config_with(
        preset=args.preset, dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs,
        qat_epochs=args.qat_epochs, time_steps=args.time_steps, batch_size=args.batch_size,
        lr=args.lr, weight_decay=args.weight_decay, schedule=args.schedule,
        gamma=args.gamma, accumulate=not args.per_step_loss,
        spiking_output=args.spiking_output, leak_shift=args.leak_shift, reset=args.reset,
        surrogate=args.surrogate, s2nn=args.s2nn, weight_bits=args.weight_bits,
        width=args.width, augment=args.augment, val_fraction=args.val_fraction,
        max_drop=args.max_drop, limit_train=args.limit_train, limit_test=args.limit_test,
        membrane_bits=args.membrane_bits, acc_bits=args.acc_bits, lanes=args.lanes,
        golden=not args.no_golden, device=args.device, threads=args.threads, seed=args.seed,
        progress=not args.quiet, save_every=args.save_every, out=args.out)


# may differ between an interrupted run and its --resume (the result does not
# depend on them, except --threads: float reduction order)
FREE_ON_RESUME = ("resume", "out", "quiet", "threads", "save_every", "func", "train_parser")


def resume_config(args):
    """The interrupted run's own options. Flags given with --resume (other than
    --threads, --quiet, --save-every) must repeat them: the same command line plus
    --resume continues, a changed option is refused."""
    run = Path(args.resume)
    if args.out is not None and Path(args.out).resolve() != run.resolve():
        raise AtsnnError(f"--out {args.out} and --resume {args.resume} name different runs")
    if not run.is_dir():
        raise AtsnnError(f"--resume {args.resume}: no such run directory")
    if (run / "metrics.json").exists():
        raise AtsnnError(f"--resume {args.resume}: that run has finished (metrics.json)")
    saved = train.load_state(run)["config"]
    defaults = vars(args.train_parser.parse_args([]))
    given = [k for k, v in vars(args).items()
             if k in defaults and k not in FREE_ON_RESUME and v != defaults[k]]
    if given:
        args.out = args.resume
        cmd = new_config(args, check=False)
        keep = set(FREE_ON_RESUME) | {"progress"}
        diff = [f"{k} {cmd[k]!r} (was {saved[k]!r})" for k in saved
                if k not in keep and cmd.get(k) != saved[k]]
        if diff:
            raise AtsnnError(f"--resume {args.resume}: options differ from the interrupted "
                             f"run's (repeat its command line, or give only --resume): "
                             f"{', '.join(diff)}")
    cfg = dict(train.DEFAULTS, **saved)   # options added since keep their defaults
    cfg.update(resume=True, out=str(run), progress=not args.quiet, save_every=args.save_every)
    if args.threads != defaults["threads"]:
        cfg["threads"] = args.threads
    for flag in ("threads", "save_every"):
        if cfg[flag] < 1:
            raise AtsnnError(f"--{flag.replace('_', '-')} must be at least 1, not {cfg[flag]!r}")
    return cfg


def summary(m):
    lines = [f"test accuracy per t: " + " ".join(f"{100 * a:.2f}" for a in
                                                  m.get("accuracy_per_t", m["accuracy_float_per_t"]))]
    if "accuracy_adaptive" in m:
        lines.append(f"fixed T_max {100 * m['accuracy_fixed']:.2f}%  adaptive "
                     f"{100 * m['accuracy_adaptive']:.2f}% at {m['avg_timesteps']:.3f} steps, "
                     f"complexity {m['complexity_ratio']:.3f}, tau {m['tau']}")
        g = m.get("accuracy_golden")
        lines.append(f"golden: accuracy {'n/a' if g is None else f'{100 * g:.2f}%'}, "
                     f"matches torch: {m['golden_matches_torch']}")
    lines.append(f"time {m['time_total_s']} s")
    return "\n".join(lines)


def export_command(args):
    from atsnn.model import export

    check_widths(args)
    out = Path(args.out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise AtsnnError(f"--out {args.out}: already exists (export writes a new image; "
                         "remove it or name another path)")
    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.is_file():
        raise AtsnnError(f"{path}: no such checkpoint")
    net, _, tau = train.load_checkpoint(path)
    if args.no_exits:
        tau = None
    img = export.export(net, args.out, tau, args.membrane_bits, args.acc_bits)
    print(f"wrote {args.out}: {len(img.layers)} layers, T_max {img.t_max}, tau {img.tau}")
    return 0
