"""The ATSNN paper's networks at CIFAR-10 shapes as model images: ``vgg16-cifar10``
and ``resnet19-cifar10`` at the paper's widths, and ``-w8`` variants with every
channel count divided by 8.

Untrained: the weights are the presets' seeded initialisation, the batch norms
calibrated on the first 256 CIFAR-10 subset training images, int8 (issue 17
trains them). They are what the accelerator's scale is measured on, not
classifiers. The full-width images (15 MB and 13 MB of weights) are not shipped:
``make paper-models`` builds them, deterministically, into the model cache,
where ``--model NAME`` finds them; the ``-w8`` ones are shipped in
``golden/models``.
"""

import argparse
import sys
from pathlib import Path

from atsnn.model_image import CACHED_MODELS, model_cache_dir

__all__ = ["PAPER_MODELS", "preset_image", "build", "main"]

#: name -> (preset, channel width factor)
PAPER_MODELS = {"vgg16-cifar10": ("vgg16", 1.0), "resnet19-cifar10": ("resnet19", 1.0),
                "vgg16-cifar10-w8": ("vgg16", 0.125), "resnet19-cifar10-w8": ("resnet19", 0.125)}
CALIBRATION_IMAGES = 256
assert set(CACHED_MODELS) <= set(PAPER_MODELS)


def preset_image(preset, x_calib, seed=0, width=1.0):
    """A paper preset (``vgg16``, ``resnet19``) at CIFAR-10 shapes as a model image:
    seeded random weights, batch norms calibrated on ``x_calib``, int8;
    ``width`` scales its channels."""
    import torch
    from atsnn.model import export, networks, train
    from atsnn.model_image import MAX_ACC_BITS
    torch.manual_seed(seed)
    net = networks.preset(preset, width=width)
    cfg = train.config_with(preset=preset, device="cpu", batch_size=64, seed=seed, width=width)
    train.recalibrate_bn(net, x_calib, cfg, n=len(x_calib))
    qnet = train.quantized_copy(net, 8)
    return export.to_image(qnet, membrane_bits=MAX_ACC_BITS, acc_bits=MAX_ACC_BITS)


def build(name, x_calib=None, seed=0):
    """The model image ``name`` (a key of :data:`PAPER_MODELS`), batch norms
    calibrated on ``x_calib`` (default: the first 256 CIFAR-10 subset training
    images)."""
    preset, width = PAPER_MODELS[name]
    if x_calib is None:
        from atsnn.data import load_dataset
        x_calib = load_dataset("cifar10-subset", "train")[0][:CALIBRATION_IMAGES]
    image = preset_image(preset, x_calib, seed, width)
    image.name = name
    return image


def main(argv=None):
    from atsnn.model_image import save
    p = argparse.ArgumentParser(prog="atsnn paper-models",
                                description="Build the paper's networks at CIFAR-10 shapes "
                                            "(untrained, BN-calibrated, int8) into the model "
                                            "cache, where --model NAME finds them.")
    p.add_argument("names", nargs="*", default=list(CACHED_MODELS),
                   choices=sorted(PAPER_MODELS), metavar="NAME")
    p.add_argument("--out", default=None, help=f"default {model_cache_dir()}")
    a = p.parse_args(argv)
    out = Path(a.out) if a.out else model_cache_dir()
    for name in a.names:
        path = save(build(name), out / name)
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
