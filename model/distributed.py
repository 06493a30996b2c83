"""Data-parallel training over several processes (``torchrun``), one per GPU or
per CPU node.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with
``WORLD_SIZE > 1`` :func:`setup` joins the process group (``gloo`` on the CPU,
``nccl`` on CUDA). Every rank draws the same shuffled global batches (same seed),
augments the whole global batch (so the random stream stays the same on every
rank) and trains on its slice of it (:func:`shard`); DistributedDataParallel
averages the gradients, and the loss is weighted by the slice's share so that
uneven slices give the gradient of the global batch mean. Batch norm in training
mode uses the statistics of the global batch (:func:`batch_norm`): the same
model as one process training on the same global batches, up to floating-point
reduction order.
"""

import os

import torch
import torch.distributed as dist

from atsnn import AtsnnError


def world():
    """``(rank, world_size, local_rank)`` from torchrun's environment; ``(0, 1, 0)``
    without it."""
    try:
        return (int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError as e:
        raise AtsnnError(f"RANK / WORLD_SIZE / LOCAL_RANK must be integers: {e}") from None


def setup(cfg):
    """Join the process group when started by torchrun with several processes;
    return ``cfg`` with this rank's device (``cuda:LOCAL_RANK`` on CUDA)."""
    rank, size, local = world()
    if size == 1:
        return cfg
    cuda = cfg["device"].startswith("cuda")
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
    return dict(cfg, device=f"cuda:{local}" if cuda else "cpu")


def active():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size():
    return dist.get_world_size() if active() else 1


def is_main():
    """Rank 0, or a single process: the one that prints, evaluates and writes."""
    return not active() or dist.get_rank() == 0


def shard(n):
    """This rank's ``slice`` of a global batch of ``n`` samples (everything in a
    single process)."""
    if not active():
        return slice(0, n)
    return split(n, dist.get_rank(), dist.get_world_size())


def split(n, rank, size):
    """Slice ``rank`` of ``n`` samples over ``size`` ranks: contiguous, sizes differ
    by at most one; a batch with fewer samples than ranks is an AtsnnError."""
    if n < size:
        raise AtsnnError(f"a batch of {n} samples cannot be split over {size} processes "
                         "(choose a --batch-size or --limit-train whose last batch has at "
                         "least one sample per process)")
    q, rem = divmod(n, size)
    start = rank * q + min(rank, rem)
    return slice(start, start + q + (rank < rem))


def wrap(net):
    """DistributedDataParallel around ``net`` when several processes train."""
    if not active():
        return net
    dev = next(net.parameters()).device
    ids = [dev.index] if dev.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)


def batch_norm(bn, x):
    """``bn(x)``; in training mode under several processes, normalized by the
    statistics of the global batch (all-reduced sums, differentiable), with the
    running statistics updated as torch's batch norm does. ``torch.nn.SyncBatchNorm``
    does the same but refuses CPU tensors (torch 2.13), so this one serves both."""
    if not (bn.training and active()):
        return bn(x)
    c = x.shape[1]
    dims = [0] + list(range(2, x.dim()))
    shape = (1, c) + (1,) * (x.dim() - 2)
    n = torch.tensor([x.numel() // c], dtype=x.dtype, device=x.device)
    dist.all_reduce(n)
    mean = _AllReduce.apply(x.sum(dims)) / n
    xc = x - mean.reshape(shape)
    var = _AllReduce.apply((xc * xc).sum(dims)) / n
    with torch.no_grad():
        bn.num_batches_tracked.add_(1)
        f = 1.0 / bn.num_batches_tracked.item() if bn.momentum is None else bn.momentum
        bn.running_mean.mul_(1 - f).add_(f * mean)
        bn.running_var.mul_(1 - f).add_(f * var * n / (n - 1))
    y = xc / torch.sqrt(var + bn.eps).reshape(shape)
    return y * bn.weight.reshape(shape) + bn.bias.reshape(shape)


class _AllReduce(torch.autograd.Function):
    """Sum over ranks; backward: the gradient summed over ranks (every rank's loss
    depends on the sum)."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def finish():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
