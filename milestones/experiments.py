"""Helpers for experiments that put several runs side by side: equal wall-clock budgets, tables, plots.

The experiment scripts in scripts/ (exp_*.py) are thin: they pick configs, call `run` for each, and write a
markdown table, a JSON file and a PNG (milestones/plots.py) into one experiment folder. Plots need matplotlib
(`pip install milestones[plot]`); without it the tables are still written and the plot step says what to install.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from . import distributed
from .checkpoint import read_history
from .config import Config
from .optim import build_optimizer
from .runtime import resolve_device, run_precision, seed_everything, set_cudnn_benchmark, set_threads
from .tasks import TASKS, build_model
from .train import evaluate, evaluated, fit, train_one_epoch


def with_overrides(cfg: Config, **sections: dict[str, Any]) -> Config:
    """A copy of `cfg` with fields replaced, e.g. with_overrides(cfg, trainer={"epochs": 3}, data={...})."""
    cfg = dataclasses.replace(cfg)
    for section, values in sections.items():
        if section in ("name", "output_dir", "seed"):
            cfg = dataclasses.replace(cfg, **{section: values})
        else:
            setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **values))
    return cfg


class _FirstBatches:
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
    """What a few timed batches of a run say about the whole run (experiments.timed_batches)."""

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
    device = resolve_device(cfg.trainer.device)
    set_threads(device, cfg.trainer.threads)
    set_cudnn_benchmark(device, cfg.trainer.cudnn_benchmark)
    seed_everything(cfg.seed)
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, distributed.Dist())
    loaders.train.set_epoch(1)
    batches = _FirstBatches(loaders.train, steps)
    model, _ = build_model(cfg, loaders.meta, device)
    opt = build_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    setup_seconds = time.perf_counter() - started
    precision = run_precision(device, cfg.trainer.precision)
    kwargs = dict(step_fn=task.step, device=device, precision=precision, progress=False)
    train_one_epoch(model, batches, opt, sched, **kwargs)
    timed = Timed(train_one_epoch(model, batches, opt, sched, **kwargs), len(loaders.train),
                  setup_seconds=setup_seconds)
    if report:
        t = cfg.trainer
        last = t.stop_epoch or t.epochs
        evaluations = sum(evaluated(epoch, t.eval_every, last) for epoch in range(1, last + 1))
        timed.eval_batches = evaluations * len(loaders.eval) + (len(loaders.test) if loaders.test is not None else 0)
        first = _FirstBatches(loaders.eval, EVAL_TIMED_BATCHES)
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


def run(cfg: Config) -> dict[str, Any]:
    """Train `cfg` (overwriting an earlier run of the same name); return results.json plus the epoch history."""
    results = fit(cfg, overwrite=True)
    return {**results, "history": read_history(cfg.run_dir)}


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def experiment_dir(output_dir: str, name: str) -> Path:
    d = Path(output_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_outputs(out: Path, table: str, data: Any, intro: Optional[str] = None, *, show: bool = True) -> None:
    (out / "table.md").write_text((intro + "\n\n" if intro else "") + table)
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    if show:
        print((intro + "\n\n" if intro else "") + table)
