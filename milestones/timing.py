"""How fast a run trains, measured on its own first batches: what the planner, the tour and the benchmarks
estimate from.

    timed_batches(cfg, 10)                    the second of two passes over the first 10 real batches, timed
    measure_rate(cfg)                         training samples/s (images, sequences, or target tokens)
    epochs_for_budget(cfg, minutes=5)         whole epochs that fit 5 minutes at the measured speed
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from typing import Any, Iterator, Optional

import torch

from . import distributed
from .config import Config
from .optim import build_optimizer
from .runtime import seed_everything, set_up
from .tasks import TASKS, build_model
from .evaluation import evaluate, evaluated
from .train import train_one_epoch


class FirstBatches:
    """The first `n` batches of a loader, drawn afresh on every pass: loading and augmentation are timed too."""

    def __init__(self, loader: Any, n: int) -> None:
        self.loader, self.n = loader, min(n, len(loader))

    def __iter__(self) -> Iterator:
        return itertools.islice(iter(self.loader), self.n)

    def __len__(self) -> int:
        return self.n


EVAL_TIMED_BATCHES = 1


@dataclasses.dataclass
class Timed:
    """What a few timed batches of a run say about the whole run (timed_batches)."""

    metrics: dict[str, float]  # train_one_epoch's numbers for the timed batches (seconds, samples_per_s, ...)
    batches: int  # training batches in a full epoch
    # what the run spends besides training (0 if not asked): its evaluations, and the task's final report (a
    # translator's decoding), estimated
    eval_batches: int = 0  # evaluation batches of the whole schedule: every evaluated epoch's, and the final test
    eval_batch_seconds: float = 0.0  # one of them, timed (the task's evaluation step: test-time views included)
    report_seconds: float = 0.0
    setup_seconds: float = 0.0  # the run's start-up: its data loaded and its model and optimizer built

    @property
    def eval_seconds(self) -> float:
        return self.eval_batches * self.eval_batch_seconds


def timed_batches(cfg: Config, steps: int, *, report: bool = False) -> Timed:
    """Train the first `steps` batches of `cfg`'s real training data twice (the first pass warms up allocations
    and kernel choice) and return the second pass's metrics and the number of batches in a full epoch; with
    `report`, also what the run spends besides training, on the model just trained: its evaluation batches
    (trainer.eval_every's epochs on the evaluation split, then the test split if that is another), one of them
    timed on the first EVAL_TIMED_BATCHES (after an untimed pass on a GPU), and the task's estimate of its final
    report's seconds (Task.report_seconds). The batches come from the loader each time, as in training: a probe of
    pre-built batches left out the input pipeline and overestimated AlexNet's speed by 15% (1,946 against ~1,700
    img/s in its run)."""
    started = time.perf_counter()
    t = cfg.trainer
    device, _, precision = set_up(t.device, threads=t.threads, cudnn_benchmark=t.cudnn_benchmark,
                                  precision=t.precision, announce=False)
    seed_everything(cfg.seed)
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, distributed.Dist())
    loaders.train.set_epoch(1)
    batches = FirstBatches(loaders.train, steps)
    model, _ = build_model(cfg, loaders.meta, device)
    opt = build_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    setup_seconds = time.perf_counter() - started
    kwargs = dict(step_fn=task.step, device=device, precision=precision, progress=False)
    train_one_epoch(model, batches, opt, sched, **kwargs)
    timed = Timed(train_one_epoch(model, batches, opt, sched, **kwargs), len(loaders.train),
                  setup_seconds=setup_seconds)
    if report:
        last = t.stop_epoch or t.epochs
        evaluations = sum(evaluated(epoch, t.eval_every, last) for epoch in range(1, last + 1))
        timed.eval_batches = evaluations * len(loaders.eval) + (len(loaders.test) if loaders.test is not None else 0)
        first = FirstBatches(loaders.eval, EVAL_TIMED_BATCHES)
        eval_kwargs = dict(step_fn=task.eval_step_for(cfg, loaders.meta), device=device, precision=precision)
        if device.type == "cuda":  # warm-up: cuDNN's search for the evaluation batch's shape (the CPU has
            evaluate(model, first, **eval_kwargs)  # just run the same layers in the training batches)
        start = time.perf_counter()
        evaluate(model, first, **eval_kwargs)  # ends by reading its totals: the device is synchronised
        timed.eval_batch_seconds = (time.perf_counter() - start) / len(first)
        if task.report_seconds is not None:
            timed.report_seconds = task.report_seconds(model, loaders, cfg)
    return timed


def measure_rate(cfg: Config, steps: int = 10) -> float:
    """Training samples/s of `cfg` on its device (images, sequences, or target tokens for translation)."""
    return timed_batches(cfg, steps).metrics["samples_per_s"]


def epochs_for_budget(cfg: Config, minutes: float, train_images: Optional[int] = None, steps: int = 10
                      ) -> tuple[int, float]:
    """Whole epochs of `cfg` that fit `minutes` of training at the measured speed (at least 1), and that speed
    in samples/s. `train_images` overrides the epoch's size in samples (e.g. a subset still to be drawn)."""
    timed = timed_batches(cfg, steps)
    metrics, batches = timed.metrics, timed.batches
    rate = metrics["samples_per_s"]
    if train_images is not None:
        epoch_seconds = train_images / rate
    else:
        epoch_seconds = metrics["seconds"] / min(steps, batches) * batches
    return max(1, math.floor(minutes * 60 / epoch_seconds)), rate
