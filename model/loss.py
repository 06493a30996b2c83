"""The ATSNN time-dependent loss.

    loss = sum_t w[t] * CE(U[t] / t, y),   U[t] = sum_{s <= t} out[s]

``U[t] / t`` is the accumulated output normalized by the timestep (the same
argmax and the same top-1/top-2 ordering as ``U[t]``; dividing only keeps the
logit scale comparable across t). Schedules (``w`` sums to 1):

- ``uniform``: ``w[t] = 1 / T``;
- ``decay``: ``w[t] ~ gamma**(t - 1)`` (early timesteps weigh more, gamma = 0.8);
- ``final``: ``w[T] = 1`` (the fixed-T baseline, loss on the final output only).

``accumulate=False`` is the ablation that uses the per-step output ``out[t]``
instead of the accumulated one.
"""

import torch
import torch.nn.functional as F

from atsnn import AtsnnError

SCHEDULES = ("uniform", "decay", "final")


def weights(T, schedule="uniform", gamma=0.8):
    """Per-timestep weights ``[T]`` summing to 1."""
    if schedule == "uniform":
        w = torch.ones(T)
    elif schedule == "decay":
        w = gamma ** torch.arange(T, dtype=torch.float32)
    elif schedule == "final":
        w = torch.zeros(T)
        w[-1] = 1
    else:
        raise AtsnnError(f"unknown loss schedule {schedule!r}: expected one of "
                         f"{', '.join(SCHEDULES)}")
    return w / w.sum()


def time_dependent(out, y, schedule="uniform", gamma=0.8, accumulate=True):
    """Loss of the per-step output ``out [T, B, K]`` against labels ``y [B]``."""
    T = out.shape[0]
    if accumulate:
        steps = torch.arange(1, T + 1, dtype=out.dtype, device=out.device)
        logits = out.cumsum(0) / steps.reshape(T, 1, 1)
    else:
        logits = out
    w = weights(T, schedule, gamma).to(out.device)
    ce = torch.stack([F.cross_entropy(logits[t], y) for t in range(T)])
    return (w * ce).sum()
