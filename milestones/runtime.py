"""Where and how the tensors run: device, hardware name, threads and malloc, seeding, autocast, torch.compile.

Nothing here knows about tasks, configs or checkpoints. A run sets up its process in one call, `set_up` (device,
process group, threads, cuDNN's search, malloc, precision): `train.fit`, `pack.fit_packed`, the planner and the
timed batches of timing.py all go through it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import platform
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import distributed
from .errors import ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device is 'cuda' but no CUDA GPU is available (use 'auto' or 'cpu')")
    return torch.device(name)


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity: a container's or taskset's share, not the machine's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(device: torch.device, threads: Optional[int]) -> None:
    """`trainer.threads`: torch's intra-op thread count on CPU (None: torch's default)."""
    if threads and device.type == "cpu":
        torch.set_num_threads(threads)


def set_cudnn_benchmark(device: torch.device, on: bool) -> None:
    """`trainer.cudnn_benchmark`: on a GPU, cuDNN's algorithm search per input shape (a fixed batch shape pays it
    once); off, its heuristic's choice. No effect on a CPU."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = on


NO_TENSORBOARD = ("trainer.tensorboard needs the optional 'tensorboard' extra: pip install 'milestones[tensorboard]' "
                  "(metrics.jsonl is written either way)")


def set_up(device_name: str, *, threads: Optional[int], cudnn_benchmark: bool, precision: str,
           tensorboard: bool = False, announce: bool = True) -> tuple[torch.device, distributed.Dist, str]:
    """Set up this process for a run of `trainer.*` settings; return (device, DDP place, precision it runs in).

    The device (under torchrun, this rank's GPU, after joining the process group), torch's CPU threads, cuDNN's
    algorithm search, and on a CPU glibc's malloc kept from returning freed memory (`keep_freed_memory`, for the
    rest of the process). bf16 on a CPU without native bf16 runs in fp32 (`run_precision`), said once with
    `announce`. Refused in one line: fp16 off a GPU, trainer.tensorboard without its extra."""
    if tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(NO_TENSORBOARD)
    device = resolve_device(device_name)
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision 'fp16' needs a CUDA GPU (its grad scaler is CUDA-only); use bf16 on CPU")
    ddp = distributed.setup(device.type)
    if device.type == "cuda" and ddp.enabled:
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    set_threads(device, threads)
    set_cudnn_benchmark(device, cudnn_benchmark)
    if device.type == "cpu":
        keep_freed_memory()
    runs_as = run_precision(device, precision)
    if runs_as != precision and ddp.is_main and announce:
        tqdm.write(f"milestones: trainer.precision {precision} runs as {runs_as}: this CPU has no native bf16 "
                   f"(emulated bf16 is ~20x slower here, and has no LSTM)")
    return device, ddp, runs_as


def hardware(device: torch.device) -> str:
    """A short description of what ran: GPU name, or CPU model and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for the next step instead of giving it back to the OS (Linux only).

    By default glibc serves large blocks (over a threshold between 128 KiB and 32 MiB that it adapts) with mmap
    and returns them with munmap, and trims the heap top above 128 KiB. A CPU training step frees and re-allocates
    the same few-MiB activations every time (one 32x32 ResNet-20 activation at batch 128 is 4 MiB in bf16), so
    each step page-faults them in afresh. Fixing the mmap threshold at its 32 MiB maximum and raising the trim
    threshold and top pad keeps those pages. Measured on 2 cores (RESULTS.md): whole ResNet-20 CPU runs spent
    about 0.17 s of system time an epoch instead of 2.2 s (4% of a 54 s epoch); a 100-step A/B gains under 1%
    (scripts/bench/bench_malloc.py). PyTorch's CPU performance guide gets the same from jemalloc or tcmalloc via
    LD_PRELOAD; this needs nothing installed. Memory freed by training stays with the process until it exits.
    Returns False where it does not apply (not glibc).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # <malloc.h>
    return all(libc.mallopt(option, value) == 1 for option, value in
               ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 256 << 20)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 runs natively on `device`. On a CPU, oneDNN's own check (AVX512-BF16 or AMX): a CPU without it
    emulates bf16 far slower than fp32 (measured: ResNet-20 at 40 img/s in bf16 on an AVX2-only AMD EPYC, ~20x
    below fp32) and has no bf16 LSTM or GRU at all (oneDNN: "could not create a primitive descriptor")."""
    if device.type != "cpu":
        return True
    check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return bool(check()) if check is not None else True


def run_precision(device: torch.device, precision: str) -> str:
    """The precision a run uses: `trainer.precision`, except bf16 on a CPU without native bf16, which runs in fp32
    (faster there, and the only way its recurrent layers run at all)."""
    return "fp32" if precision == "bf16" and not native_bf16(device) else precision


def autocast(device: torch.device, precision: str):
    """bf16 or fp16 autocast (Micikevicius et al. 2017, arXiv:1710.03740); a no-op context for fp32."""
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32")


def loss_precision(logits: torch.Tensor) -> torch.Tensor:
    """Logits for the loss: bf16/fp16 ones (autocast) upcast to float32; float32 and float64 kept as they are."""
    return logits if logits.dtype == torch.float64 else logits.float()


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Run `model` in eval mode without gradients for the block, then put its training mode back as it was."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def compile_model(model: nn.Module, mode: str = "default") -> nn.Module:
    """torch.compile in `mode` (trainer.compile_mode) with a clean fallback: where compiling is impossible the model
    runs eagerly, with a message. "reduce-overhead" records CUDA graphs on a GPU; on a CPU it compiles as default."""
    import torch._dynamo  # here, not at the top: importing it costs every command ~1 s, and few runs compile

    torch._dynamo.config.suppress_errors = True  # a graph that fails to compile runs eagerly instead of crashing
    try:
        return torch.compile(model, mode=mode)
    except Exception as e:  # e.g. a Python version or platform torch.compile does not support
        tqdm.write(f"milestones: torch.compile unavailable ({str(e).splitlines()[0][:120]}); running eagerly")
        return model
