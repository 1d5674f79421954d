"""Multi-process training through PyTorch's own engine: torchrun + DistributedDataParallel.

    torchrun --nproc_per_node=N -m milestones train CONFIG          (gloo on CPU, NCCL on CUDA)

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them everything here is a no-op and training runs in one
process. The rule for batches and learning rate: `trainer.batch_size` is the GLOBAL batch. Each of the N ranks
takes an interleaved 1/N of every global batch, DDP averages the gradients, so N processes follow the same
trajectory as one process with that batch (same lr, no scaling rule needed). Only rank 0 writes logs and
checkpoints. Batch-norm nets follow one process's trajectory only with `trainer.sync_bn`, which normalises over the
global batch (`sync_batchnorm`): without it each rank normalises over its own 1/N.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device_type: str) -> Dist:
    """Join the process group torchrun describes (if any) and return this process's place in it."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
        if attempt == "0":
            dist.init_process_group(backend=backend)
        else:
            # torchrun relaunched the workers (--max-restarts): the rendezvous store still holds the last attempt's
            # keys, and gloo would read a dead rank's address from them ("Connection refused"). This attempt's
            # keys get a prefix of their own.
            store, rank, size = next(dist.rendezvous("env://"))
            dist.init_process_group(backend=backend, store=dist.PrefixStore(f"milestones/attempt_{attempt}", store),
                                    rank=rank, world_size=size)
    return Dist(rank=dist.get_rank(), world_size=dist.get_world_size(),
                local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_sum(*tensors: torch.Tensor) -> None:
    """Sum tensors over all ranks in place (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradient: every rank's loss reaches every rank's input."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class GlobalBatchNorm(_BatchNorm):
    """Batch normalisation over the global batch of every rank, on any device (gloo on CPU included).

    Ioffe & Szegedy 2015 (arXiv:1502.03167), Algorithm 1, with the mini-batch spread over processes: the mean and
    the (biased) variance are sums over all ranks' examples, so N ranks normalise exactly as one process holding the
    whole global batch. The sums go through differentiable all-reduces, whose backward all-reduces the gradient, so
    every rank's loss reaches every rank's inputs as in one process. Running statistics update as in
    nn.BatchNorm (unbiased variance, `momentum`). Outside training, or in a single process, it is nn.BatchNorm.
    Same parameters and buffers as nn.BatchNorm{1,2,3}d, so checkpoints do not change.

    torch's nn.SyncBatchNorm does the same with fused CUDA kernels but refuses CPU tensors; `sync_batchnorm` uses
    it on CUDA and this module elsewhere.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected an input of shape (N, C, ...), got {tuple(x.shape)}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]  # every axis but the channels
        shape = (1, -1) + (1,) * (x.dim() - 2)  # (1, C, 1, ...) to broadcast per channel
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x  # statistics at >= float32, as nn.BatchNorm
        count = xf.new_full((1,), xf.numel() / xf.shape[1])  # examples x positions on this rank
        sums = _SumOverRanks.apply(torch.cat([xf.sum(dims), count]))  # (C + 1,): global sums, global count
        n = sums[-1].detach()
        mean = sums[:-1] / n  # (C,) Alg. 1: mu_B over the global batch
        centred = xf - mean.view(shape)
        var = _SumOverRanks.apply((centred * centred).sum(dims)) / n  # (C,) Alg. 1: sigma^2_B (biased)
        y = centred * torch.rsqrt(var + self.eps).view(shape)  # Alg. 1: x_hat
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)  # Alg. 1: gamma * x_hat + beta
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (n / (n - 1)), alpha=factor)  # unbiased
        return y.to(x.dtype)


def sync_batchnorm(module: nn.Module, device_type: str) -> nn.Module:
    """`module` with every BatchNorm normalising over the global batch: nn.SyncBatchNorm on CUDA, GlobalBatchNorm
    elsewhere. Parameters and buffers are shared with the old layers (same state_dict)."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, _BatchNorm) and not isinstance(module, GlobalBatchNorm):
        synced = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                 module.track_running_stats)
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            setattr(synced, name, tensor)
        synced.train(module.training)
        return synced
    for name, child in module.named_children():
        setattr(module, name, sync_batchnorm(child, device_type))
    return module
