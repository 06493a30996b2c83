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
        v = torch.zeros_like(current[0])
        spikes = []
        for i in current:
            v_pre = leak(v, self.leak_shift, scale) + i
            s = self.surrogate(v_pre - theta)
            v = v_pre - theta * s if self.reset == "subtract" else v_pre * (1 - s)
            spikes.append(s)
        return torch.stack(spikes)

    def extra_repr(self):
        return f"leak_shift={self.leak_shift}, reset={self.reset}, surrogate={self.surrogate!r}"


def integrate(current):
    """The output layer: ``U[t] = U[t-1] + I[t]``, ``U[0] = 0``."""
    return current.cumsum(0)
