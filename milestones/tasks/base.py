"""What a task is: the few pieces of training and reporting that differ between kinds of problem.

The trainer (train.py) is the same loop for every task; a `Task` gives it the data builder, the step (what one
batch contributes to the loss and to the count of correct predictions), a check that model and data fit, and
the extra final numbers. The same object tells the config checks which trainer options belong to it, and tells
the leaderboard and the tour what its headline number is called, in which unit, and how to say it in a line (the
data sets it trains on say so in milestones/data/datasets.py). Adding a task is a new module beside
classification.py and one entry in tasks/__init__.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import torch
from torch import nn

from ..distributed import Dist

if TYPE_CHECKING:  # annotations only: config.py imports the tasks to check a config against them
    from ..config import Config


@dataclass
class Loaders:
    """What a task's data builder returns."""

    train: Any  # iterable of batches with set_epoch(epoch) and len() = optimizer steps per epoch
    eval: Any  # evaluated after every epoch: the validation split, else the test split
    test: Optional[Any]  # evaluated once at the end; None when `eval` is already the test split
    meta: dict  # what a checkpoint must carry to use the model on its own (class names, vocabularies, ...)


@dataclass
class StepOut:
    loss: torch.Tensor  # mean loss of the batch (the one to back-propagate)
    correct: torch.Tensor  # number of correct predictions (0-dim tensor; left on the device)
    count: int  # samples in the batch
    correct5: Optional[torch.Tensor] = None  # classification with many classes: the true one among the top 5


StepFn = Callable[..., StepOut]  # (model, batch, label_smoothing=0.0) -> StepOut


def no_model_args(meta: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Headline:
    """A task's metric: how it is spelled, shown, measured as the papers do, and how far a re-measure may stray.

    `key` is the one spelling from evaluation to results.json to the zoo and the CLI (`test_acc`, `test_bleu`)."""

    key: str  # the results.json key of the headline number (evaluate_model returns the same key)
    label: str  # its column title
    scale: float  # results.json value -> shown value (fractions -> %)
    unit: str  # shown after the number
    paper_metric: str  # the metric's name in milestones/papers.yaml
    rate_unit: str  # what samples_per_s counts
    summary: Callable[[dict], str]  # results.json -> one line for the tour
    # the papers' protocol, as trainer settings: e.g. one view of each test image (test-time views reported beside)
    protocol: dict[str, Any] = field(default_factory=dict)
    # shown units a shipped entry's number may move when re-measured from its file on another CPU (same data) ...
    check_tolerance: float = 0.05
    # ... and when `milestones zoo build` retrains it from scratch (seed noise: three of its spreads, RESULTS.md)
    build_tolerance: float = math.inf


@dataclass(frozen=True)
class Task:
    """The pieces of training that differ between kinds of problem; everything else is shared."""

    name: str
    build_data: Callable[[Config, torch.device, Dist], Loaders]
    step: StepFn
    check_model: Callable[[nn.Module, Loaders, Config], None]  # raise ConfigError if model and data do not fit
    headline: Headline
    # (cfg, loaders.meta) -> what the model takes as input, in words and sizes: the zoo's registry shows it
    describe_input: Callable[[Config, dict], dict]
    model_args: Callable[[dict], dict] = no_model_args  # loaders.meta -> model arguments only the data knows
    make_eval_step: Optional[Callable[[Config, dict], StepFn]] = None  # (cfg, meta) -> the evaluation's step
    report: Optional[Callable[[nn.Module, Loaders, dict, Config], dict]] = None  # extra final test numbers (BLEU)
    # what `report` will cost, in seconds, timed on a few test examples (the planner's estimate of a run)
    report_seconds: Optional[Callable[[nn.Module, Loaders, Config], float]] = None
    check_meta: Optional[Callable[[dict, dict, str], None]] = None  # (saved, built, path): same data as trained?
    options: tuple[str, ...] = field(default=())  # trainer.* keys only this task reads (others leave them default)
    # Diagnostics: the evaluation loss under named variants of the step, logged beside the real loss at every
    # evaluation (<split>_loss_<name>) and in results.json (test_loss_<name>); e.g. a translator's loss with each
    # sentence given another sentence's source, which shows whether it reads its source at all.
    diagnostics: dict[str, StepFn] = field(default_factory=dict)

    def eval_step_for(self, cfg: Config, meta: dict) -> StepFn:
        """The step that evaluation runs: the task's own, or e.g. a test-time-augmented version of it."""
        return self.make_eval_step(cfg, meta) if self.make_eval_step else self.step


def probe_error(model_name: str, what: str, e: Exception) -> str:
    """The one line a failed probe forward pass becomes: the first line of the exception, after what was tried."""
    return f"model '{model_name}' cannot {what}: {str(e).splitlines()[0]}"
