"""Surrogate gradients for the spike step ``s = H(x)``, ``x = V - theta``.

The forward pass is always the contract's Heaviside: ``s = 1`` when ``x >= 0``
(``V >= theta``), so every surrogate gives the same spikes as the hardware; only
the backward pass differs.
"""

import math

import torch


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.grad(x), None


class Surrogate:
    """Base class: ``self(x)`` spikes, ``grad(x)`` is d spike / d x in backward."""

    name = "base"

    def __call__(self, x):
        return _Spike.apply(x, self)

    def grad(self, x):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Sigmoid(Surrogate):
    """d/dx sigmoid(alpha x) (SpikingJelly's default, alpha = 4)."""

    name = "sigmoid"

    def __init__(self, alpha=4.0):
        self.alpha = alpha

    def grad(self, x):
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1 - s)


class ATan(Surrogate):
    """d/dx (1/pi) atan(pi alpha x / 2) (alpha = 2)."""

    name = "atan"

    def __init__(self, alpha=2.0):
        self.alpha = alpha

    def grad(self, x):
        return self.alpha / 2 / (1 + (math.pi / 2 * self.alpha * x) ** 2)


class Triangular(Surrogate):
    """max(0, 1 - |x| / gamma) / gamma (a box of width 2 gamma, area 1)."""

    name = "triangular"

    def __init__(self, gamma=1.0):
        self.gamma = gamma

    def grad(self, x):
        return torch.clamp(1 - x.abs() / self.gamma, min=0) / self.gamma


class S2NN(Surrogate):
    """S2NN (arXiv 2201.10879): ``a sig(ax)(1 - sig(ax))`` for x < 0 and
    ``b / (x + 1)`` for x >= 0 (a = 4, b = 1)."""

    name = "s2nn"

    def __init__(self, a=4.0, b=1.0):
        self.a = a
        self.b = b

    def grad(self, x):
        s = torch.sigmoid(self.a * x)
        neg = self.a * s * (1 - s)
        pos = self.b / (x.clamp(min=0) + 1)
        return torch.where(x < 0, neg, pos)


class STE(Surrogate):
    """Straight-through estimator: the step passes the gradient unchanged
    (d spike / dx = 1 everywhere), as in binary networks."""

    name = "ste"

    def grad(self, x):
        return torch.ones_like(x)


SURROGATES = {cls.name: cls for cls in (Sigmoid, ATan, Triangular, S2NN, STE)}


def get(name, **kw):
    """Surrogate by name (``sigmoid``, ``atan``, ``triangular``, ``s2nn``, ``ste``)."""
    from atsnn import AtsnnError

    if isinstance(name, Surrogate):
        return name
    if name not in SURROGATES:
        raise AtsnnError(f"unknown surrogate {name!r}: expected one of {', '.join(SURROGATES)}")
    return SURROGATES[name](**kw)
