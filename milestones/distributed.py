"""Multi-process training through PyTorch's own engine: torchrun + DistributedDataParallel.

    torchrun --nproc_per_node=N -m milestones train CONFIG          (gloo on CPU, NCCL on CUDA)

torchrun sets RANK, LOCAL_RANK and WORLD_SIZE; without them everything here is a no-op and training runs in one
process. The rule for batches and learning rate: `trainer.batch_size` is the GLOBAL batch. Each of the N ranks
takes an interleaved 1/N of every global batch, DDP averages the gradients, so N processes follow the same
trajectory as one process with that batch (same lr, no scaling rule needed). Only rank 0 writes logs and
checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


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
