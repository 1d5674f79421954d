"""Where and how the tensors run: device, hardware name, threads and malloc, seeding, autocast, torch.compile.

Nothing here knows about tasks, configs or checkpoints. A run sets up its process in one call, `set_up` (device,
process group, threads, cuDNN's search, malloc, precision): `train.fit`, `pack.fit_packed`, the planner and the
timed batches of timing.py all go through it. `trainer.threads: auto` is `AutoThreads`, polled by the training loop.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import platform
import random
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple, Optional, Union

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


# torch's intra-op thread count before any run changes it (OMP_NUM_THREADS's, else torch's own choice): what
# `trainer.threads: null` runs with, and the most that `auto` uses
DEFAULT_THREADS = torch.get_num_threads()


def set_threads(device: torch.device, threads: Union[int, str, None]) -> None:
    """`trainer.threads`: torch's intra-op thread count on CPU (None: torch's default; "auto": torch's default to
    start with, then what `AutoThreads` decides while it trains)."""
    if device.type != "cpu" or not threads:
        return
    torch.set_num_threads(DEFAULT_THREADS if threads == "auto" else threads)


class CpuTimes(NamedTuple):
    """One reading of the clocks AutoThreads compares, in CPU seconds since some fixed moment."""

    busy: float  # the cores this process may use: busy in any process (user, nice, system, irq, softirq, steal)
    own: float  # this process: every thread of it, user and system


def busy_seconds(stat: str, cpus: set[int], ticks_per_second: float) -> Optional[float]:
    """The CPU seconds the cores `cpus` have been busy, from the text of Linux's /proc/stat (its per-core lines
    `cpuN user nice system idle iowait irq softirq steal ...`, in clock ticks); None when a core is missing."""
    ticks, seen = 0, set()
    for line in stat.splitlines():
        name, *fields = line.split() or [""]
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            values = [int(f) for f in fields]
            ticks += sum(values[:3]) + sum(values[5:8])  # idle and iowait are not busy; guest is already in user
            seen.add(int(name[3:]))
    return ticks / ticks_per_second if seen == cpus else None


def cpu_times() -> Optional[CpuTimes]:
    """Now's CpuTimes on Linux (/proc/stat, os.times); None where they cannot be read (other systems)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        busy = busy_seconds(Path("/proc/stat").read_text(), os.sched_getaffinity(0), os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError):
        return None
    own = os.times()
    return None if busy is None else CpuTimes(busy, own.user + own.system)


class AutoThreads:
    """`trainer.threads: auto`: as many intra-op threads as the cores other processes leave free.

    Why: two trainings on the same 2 cores were each 2.5-2.9x slower than alone with torch's default threads (and
    GOMP_SPINCOUNT=1000; RESULTS.md, "Two runs on the same cores"): 2 + 2 threads on 2 cores wait at every OpenMP
    barrier for a thread the other process has descheduled. `trainer.threads=1` makes two small runs 1.0x, but a
    big model alone ~1.8x slower. So the count follows the load: every `every` seconds of training, `poll` reads
    how busy the usable cores were (/proc/stat's lines for this process's affinity) minus this process's own CPU
    time (os.times: all its threads), which leaves what other processes used, in cores (DataLoader workers are
    other processes: the cores they decode on are not free for compute either). The share of the usable CPUs left
    free, times the count this run would use alone (`most`, DEFAULT_THREADS; so with SMT, where 4 logical CPUs
    carry torch's 2 threads, one busy CPU costs half a thread), rounded, at least 1, is the count wanted. Cost: a
    clock read per step, a ~100 us file read every `every` seconds.

    Hysteresis, so that it does not flap: the count moves only when the free cores are more than 0.5 + MARGIN
    threads away from it (on 2 cores: down from 2 to 1 once others keep > 0.75 of a core busy, back up once < 0.25).
    Down at once (oversubscribed cores cost ~2.5x), up only after CONFIRM readings in a row (one finished process
    or one idle moment of another should not start a round of oversubscription). Where the readings cannot be made
    (not Linux) the count stays at `most`: the fixed default.

    Opt-in, not the default: the thread count changes a result's last bits (a reduction is split among the
    threads: measured, the sum of 1,000,003 normal floats is 476.50504 on 1 thread and 476.50507 on 2, and an MLP
    after 20 AdamW steps differs by up to 3e-8), and with `auto` the count depends on what else the machine runs.
    So two runs of one config, or a resumed run and an uninterrupted one, are no longer bitwise equal
    (tests/test_reliability.py and scripts/maintenance/fault_injection.py promise that for fixed counts). A run
    with `auto` records the seconds it spent at each count (training, and the evaluation before the next epoch),
    per epoch in metrics.jsonl ("threads") and in all in results.json ("threads_used"), so it says which it got.
    """

    EVERY = 2.0  # seconds between readings
    MARGIN = 0.25  # threads of hysteresis beyond the half that rounding already gives
    CONFIRM = 2  # readings in a row that ask for more threads before they are added

    def __init__(self, most: int, cores: int, *, read: Callable[[], Optional[CpuTimes]] = cpu_times,
                 clock: Callable[[], float] = time.monotonic, every: float = EVERY, announce: bool = True):
        self.most, self.cores, self.every, self.announce = most, cores, every, announce
        self.threads = most
        self.used: dict[int, float] = {}  # seconds at each count since the last `take`
        self.others = 0.0  # the cores other processes kept busy over the last reading
        self._read, self._clock = read, clock
        self._last, self._at = read(), clock()
        self._since = self._at
        self._asked_up = 0
        torch.set_num_threads(most)

    def poll(self) -> int:
        """Called every training step: every `every` seconds, read the clocks and set the count; return it."""
        now = self._clock()
        if self._last is None or now - self._at < max(self.every, 1e-3):
            return self.threads
        reading = self._read()
        if reading is None:
            return self.threads
        others = (reading.busy - self._last.busy - (reading.own - self._last.own)) / (now - self._at)
        self._last, self._at = reading, now
        self.others = min(max(others, 0.0), float(self.cores))
        wanted = self.decide(self.others)
        if wanted != self.threads:
            self._count(now)
            if self.announce:
                tqdm.write(f"milestones: trainer.threads auto: {self.threads} -> {wanted} (other processes keep "
                           f"{self.others:.1f} of {self.cores} cores busy)")
            self.threads = wanted
            torch.set_num_threads(wanted)
        return self.threads

    def decide(self, others: float) -> int:
        """The count to run with now, given that other processes keep `others` cores busy (hysteresis included:
        it counts the readings that ask for more)."""
        free = (self.cores - others) * self.most / self.cores  # in threads of this run
        target = min(self.most, max(1, math.floor(free + 0.5)))
        if target < self.threads and free < self.threads - 0.5 - self.MARGIN:
            self._asked_up = 0
            return target
        if target > self.threads and free > self.threads + 0.5 + self.MARGIN:
            self._asked_up += 1
            if self._asked_up >= self.CONFIRM:
                self._asked_up = 0
                return target
            return self.threads
        self._asked_up = 0
        return self.threads

    def _count(self, now: float) -> None:
        self.used[self.threads] = self.used.get(self.threads, 0.0) + now - self._since
        self._since = now

    def take(self) -> dict[str, float]:
        """The seconds spent at each count since the last call, {"2": 31.5, "1": 4.0} (JSON's string keys), reset."""
        self._count(self._clock())
        used, self.used = self.used, {}
        return {str(n): round(s, 3) for n, s in sorted(used.items(), reverse=True) if s > 0}


def auto_threads(threads: Union[int, str, None], device: torch.device, *, announce: bool = True
                 ) -> Optional[AutoThreads]:
    """The poller of `trainer.threads: auto` for a run on `device` (on a CPU; None otherwise, and for fixed
    counts). `announce`: say each change in a line (the main process of a DDP run)."""
    if threads != "auto" or device.type != "cpu":
        return None
    return AutoThreads(DEFAULT_THREADS, usable_cores(), announce=announce)


def threads_used(history: list[dict]) -> dict[str, Any]:
    """results.json's record of an `auto` run's counts: {"threads_used": {"2": seconds, "1": seconds}} summed over
    its epochs' "threads"; {} for a run at a fixed count (its hardware line says which)."""
    total: dict[str, float] = {}
    for row in history:
        for n, seconds in row.get("threads", {}).items():
            total[n] = round(total.get(n, 0.0) + seconds, 3)
    return {"threads_used": dict(sorted(total.items(), key=lambda item: -int(item[0])))} if total else {}


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
