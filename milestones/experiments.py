"""Helpers for experiments that put several runs side by side: equal wall-clock budgets, tables, plots.

The experiment scripts in scripts/ (exp_*.py) are thin: they pick configs, call `run` for each, and write a
markdown table, a JSON file and a PNG into one experiment folder. Plots need matplotlib (`pip install
milestones[plot]`); without it the tables are still written and the plot step says what to install.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from . import distributed
from .config import Config
from .errors import MilestonesError
from .train import (TASKS, build_optimizer, create_model, fit, model_arguments, resolve_device, seed_everything,
                    train_one_epoch)


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


def _timed_batches(cfg: Config, steps: int) -> tuple[dict[str, float], int]:
    """Train the first `steps` batches of `cfg`'s real training data twice (the first pass warms up allocations
    and kernel choice) and return the second pass's metrics and the number of batches in a full epoch. The batches
    come from the loader each time, as in training: a probe of pre-built batches left out the input pipeline and
    overestimated AlexNet's speed by 15% (1,946 against ~1,700 img/s in its run)."""
    device = resolve_device(cfg.trainer.device)
    if cfg.trainer.threads and device.type == "cpu":
        torch.set_num_threads(cfg.trainer.threads)
    seed_everything(cfg.seed)
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, distributed.Dist())
    loaders.train.set_epoch(1)
    batches = _FirstBatches(loaders.train, steps)
    model = create_model(cfg.model.name, **model_arguments(cfg, task, loaders.meta)).to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    kwargs = dict(step_fn=task.step, device=device, precision=cfg.trainer.precision, progress=False)
    train_one_epoch(model, batches, opt, sched, **kwargs)
    return train_one_epoch(model, batches, opt, sched, **kwargs), len(loaders.train)


def measure_rate(cfg: Config, steps: int = 10) -> float:
    """Training samples/s of `cfg` on its device (images, sequences, or target tokens for translation)."""
    return _timed_batches(cfg, steps)[0]["samples_per_s"]


def epochs_for_budget(cfg: Config, minutes: float, train_images: Optional[int] = None, steps: int = 10
                      ) -> tuple[int, float]:
    """Whole epochs of `cfg` that fit `minutes` of training at the measured speed (at least 1), and that speed
    in samples/s. `train_images` overrides the epoch's size in samples (e.g. a subset still to be drawn)."""
    metrics, batches = _timed_batches(cfg, steps)
    rate = metrics["samples_per_s"]
    if train_images is not None:
        epoch_seconds = train_images / rate
    else:
        epoch_seconds = metrics["seconds"] / min(steps, batches) * batches
    return max(1, math.floor(minutes * 60 / epoch_seconds)), rate


def run(cfg: Config) -> dict[str, Any]:
    """Train `cfg` (overwriting an earlier run of the same name); return results.json plus the epoch history."""
    results = fit(cfg, overwrite=True)
    history = [json.loads(l) for l in (cfg.run_dir / "metrics.jsonl").read_text().splitlines()]
    return {**results, "history": history}


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def pyplot():
    """matplotlib.pyplot on a file-only backend, or a one-line error saying how to get it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MilestonesError("plots need matplotlib: pip install 'milestones[plot]' (tables were still written)") \
            from None
    return plt


def plot_error_curves(panels: dict[str, dict[str, list[dict]]], path: Path, *, title: str,
                      eval_key: str = "test_acc") -> None:
    """Fig. 6 style: one panel per group, training error dashed and test error solid, per epoch."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (panel, runs) in zip(axes[0], panels.items()):
        for (label, history), color in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            epochs = [h["epoch"] for h in history]
            ax.plot(epochs, [100 * (1 - h["train_acc"]) for h in history], "--", color=color, label=f"{label} train")
            evaluated = [h for h in history if eval_key in h]  # trainer.eval_every can skip epochs
            ax.plot([h["epoch"] for h in evaluated], [100 * (1 - h[eval_key]) for h in evaluated], "-", color=color,
                    lw=2, label=f"{label} test")
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("error (%)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_lines(series: dict[str, list[tuple[float, float]]], path: Path, *, xlabel: str, ylabel: str, title: str,
               xlog: bool = False) -> None:
    """One line with markers per named series of (x, y) points."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in series.items():
        ax.plot(*zip(*points), "o-", label=label)
    if xlog:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def experiment_dir(output_dir: str, name: str) -> Path:
    d = Path(output_dir) / name
    d.mkdir(parents=True, exist_ok=True)
    return d


def write_outputs(out: Path, table: str, data: Any, intro: Optional[str] = None) -> None:
    (out / "table.md").write_text((intro + "\n\n" if intro else "") + table)
    (out / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    print((intro + "\n\n" if intro else "") + table)
