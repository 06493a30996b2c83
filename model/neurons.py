"""Neurons with the contract's semantics (docs/contract.md), multi-step mode.

Tensors are time-major ``[T, B, ...]``. A spiking layer's neuron:

    V_pre = L(V[t-1]) + I[t],  L(v) = v - (v >> leak_shift)   (leak_shift 0: no leak)
    s[t]  = V_pre >= theta
    V[t]  = V_pre - theta s[t]  (subtract)   or   V_pre (1 - s[t])  (zero)

Training uses the float leak ``v - v / 2**k``. Given the layer's accumulator
``scale`` (a power of two; values are integers times it), the leak is the
integer floor shift, exactly: ``v - floor(v / (scale 2**k)) scale``.
"""

import torch
from torch import nn

from atsnn import AtsnnError
from atsnn.model import surrogate as surrogates

RESETS = ("subtract", "zero")


def leak(v, leak_shift, scale=None):
    """``L(v)``; exact integer floor shift when ``scale`` is given."""
    if leak_shift == 0:
        return v
    if scale is None:
        return v - v / 2**leak_shift
    return v - torch.floor(v / (scale * 2**leak_shift)) * scale


class _MultiStep(torch.autograd.Function):
    """The LIF loop over ``T`` with a hand-written backward (BPTT).

    Same spikes as the step-by-step autograd graph, a few elementwise ops per step
    instead of a graph of ~20 (training on the CPU is bound by them). Backward, with
    ``h[t] = V_pre[t] - theta``, ``g[t]`` the surrogate of ``h[t]`` and leak factor
    ``a = 1 - 2**-k`` (also for the exact floor leak: straight-through):

        dV_pre[t] = dS[t] g[t] + dV[t] dV[t]/dV_pre[t],  dV[t-1] = a dV_pre[t]
        dV/dV_pre = 1 - theta g (subtract),  (1 - s) - V_pre g (zero)

    ``theta`` gets no gradient (it is a buffer)."""

    @staticmethod
    def forward(ctx, current, theta, leak_shift, reset, surrogate, scale):
        train = ctx.needs_input_grad[0]
        a = 1 - 2.0**-leak_shift
        v = torch.zeros_like(current[0])
        spikes = torch.empty_like(current)
        h_all = torch.empty_like(current) if train else None
        for t in range(current.shape[0]):
            if scale is None:
                v_pre = torch.add(current[t], v, alpha=a) if leak_shift else v + current[t]
            else:
                v_pre = leak(v, leak_shift, scale) + current[t]
            h = torch.sub(v_pre, theta, out=h_all[t]) if train else v_pre - theta
            torch.ge(h, 0, out=spikes[t])
            if reset == "subtract":
                v = torch.addcmul(v_pre, spikes[t], theta, value=-1)
            else:
                v = v_pre * (1 - spikes[t])
        if train:
            ctx.save_for_backward(h_all, spikes, theta)
            ctx.leak_shift, ctx.reset, ctx.surrogate = leak_shift, reset, surrogate
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        h_all, spikes, theta = ctx.saved_tensors
        a = 1 - 2.0**-ctx.leak_shift if ctx.leak_shift else 1.0
        grad = torch.empty_like(h_all)
        dv = None
        for t in reversed(range(h_all.shape[0])):
            g = ctx.surrogate.grad(h_all[t])
            d = torch.mul(grad_spikes[t], g, out=grad[t])
            if dv is not None:
                if ctx.reset == "subtract":
                    d.add_(dv - dv * theta * g)
                else:
                    d.add_(dv * ((1 - spikes[t]) - (h_all[t] + theta) * g))
            dv = d * a
        return grad, None, None, None, None, None


class LIF(nn.Module):
    """Leaky integrate-and-fire neurons over ``[T, B, ...]`` input currents.

    ``forward(current, theta, scale=None)``: ``theta`` broadcasts against one
    timestep (a scalar or ``[C, 1, 1]`` / ``[N]``); ``scale`` switches the leak to
    the exact integer shift (quantized evaluation)."""

    def __init__(self, leak_shift=1, reset="subtract", surrogate="sigmoid"):
        super().__init__()
        if not (isinstance(leak_shift, int) and 0 <= leak_shift <= 31):
            raise AtsnnError(f"leak_shift must be an integer 0..31, got {leak_shift!r}")
        if reset not in RESETS:
            raise AtsnnError(f"reset must be one of {', '.join(RESETS)}, got {reset!r}")
        self.leak_shift = leak_shift
        self.reset = reset
        self.surrogate = surrogates.get(surrogate)

    def forward(self, current, theta, scale=None):
        theta = torch.as_tensor(theta, dtype=current.dtype, device=current.device)
        return _MultiStep.apply(current, theta.detach(), self.leak_shift, self.reset,
                                self.surrogate, scale)

    def extra_repr(self):
        return f"leak_shift={self.leak_shift}, reset={self.reset}, surrogate={self.surrogate!r}"


def integrate(current):
    """The output layer: ``U[t] = U[t-1] + I[t]``, ``U[0] = 0``."""
    return current.cumsum(0)
