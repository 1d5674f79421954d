"""What runs the training batches of the runs being trained (train.py's loop): a `Stepper`.

    lone_stepper(run, device, ddp)         one run: its model (wrapped by DDP and torch.compile), its optimizer
    packed_stepper(runs, device, join=..)  N CIFAR nets as one PackedResNet (models/packed.py, issue #18): their
                                           loaders side by side (Zipped), packed_step, an optimizer of its own
    split_training_state(stepper, runs)    after every epoch of a pack, each run takes back its share of the
                                           weights, BN statistics, optimizer state and schedule position

Which configs may pack, and why each refusal, is pack.py's.

Each model trains exactly as alone, up to floating-point summation order: the packed loss is the sum of the N
models' own mean losses and the models share no parameter, so model i's gradient is its own loss's; SGD
(momentum, weight decay) and AdamW act elementwise, and every model has the same lr schedule.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from . import distributed
from .models.packed import PackedResNet
from .optim import build_optimizer, build_scheduler
from .runtime import compile_model, loss_precision
from .tasks import TASKS, StepFn, StepOut

if TYPE_CHECKING:  # annotations only: train.py's loop hands its runs to these functions
    from .train import Run


@dataclasses.dataclass
class Stepper:
    """What train_one_epoch is handed: the module that runs the batches, its loader, optimizer, schedule, fp16's
    grad scaler and the step; for a pack, the PackedResNet whose state goes back to the runs after every epoch."""

    runner: nn.Module
    loader: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Optional[torch.amp.GradScaler]
    step: StepFn
    packed: Optional[PackedResNet] = None


def lone_stepper(run: Run, device: torch.device, ddp: distributed.Dist) -> Stepper:
    """One run's model, wrapped by DDP (averaging gradients) under torchrun, and torch.compile wraps that; the run
    is evaluated through the same wrapper (`run.runner`), its plain module stays what the checkpoints hold."""
    t = run.cfg.trainer
    if ddp.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        run.runner = nn.parallel.DistributedDataParallel(run.model, device_ids=device_ids)
    if t.compile:
        run.runner = compile_model(run.runner, t.compile_mode)
    return Stepper(run.runner, run.loaders.train, run.optimizer, run.scheduler, run.scaler, TASKS[run.cfg.task].step)


def packed_stepper(runs: list[Run], device: torch.device, *, join: bool) -> Stepper:
    """The runs' models as one packed net (compiled under trainer.compile) with its optimizer and schedule; with
    `join`, the runs' optimizer states and schedule position too (a resumed pack, or the rest of a pack after one
    net diverged). Each run is evaluated alone, on its own model."""
    cfg = runs[0].cfg
    packed = PackedResNet.pack([run.model for run in runs]).to(device)
    optimizer = build_optimizer(packed, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(runs[0].loaders.train))
    if join:
        _join_training_state(packed, optimizer, scheduler, runs)
    runner = compile_model(packed, cfg.trainer.compile_mode) if cfg.trainer.compile else packed
    return Stepper(runner, Zipped([run.loaders.train for run in runs]), optimizer, scheduler, None, packed_step,
                   packed)


class Zipped:
    """N loaders read side by side: batch k of each, as one tuple (each loader keeps its own seeded order)."""

    def __init__(self, loaders: list) -> None:
        self.loaders = loaders

    def __iter__(self) -> Iterator[tuple]:
        return zip(*self.loaders)

    def __len__(self) -> int:
        return len(self.loaders[0])


def packed_step(model: nn.Module, batches: tuple, label_smoothing: float = 0.0) -> StepOut:
    """tasks/classification.py's step for N packed models, each on its own batch: `loss` is (N,), each model's own
    mean cross-entropy (the loop back-propagates their sum), `correct` (N,). Mixed batches (mixup / CutMix) do not
    pack (pack.check_packable)."""
    x = torch.stack([b[0] for b in batches], 1)  # (B, N, C, H, W): model i's own batch in x[:, i]
    y = torch.stack([b[1] for b in batches], 1)  # (B, N)
    logits = model(x)  # (B, N, classes)
    losses = F.cross_entropy(loss_precision(logits).permute(0, 2, 1), y, reduction="none",
                             label_smoothing=label_smoothing).mean(0)  # (N,)
    return StepOut(losses, (logits.argmax(-1) == y).sum(0), len(y))


def _state_by_name(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict[str, torch.Tensor]]:
    """The optimizer's per-parameter state as {state key: {parameter name: tensor}} (e.g. momentum_buffer)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, p in model.named_parameters():
        for key, value in optimizer.state.get(p, {}).items():
            out.setdefault(key, {})[name] = value
    return out


def split_training_state(steps: Stepper, runs: list[Run]) -> None:
    """Each run takes its share of the packed weights, BN statistics and optimizer state, and the schedule's
    position: what its own checkpoint must hold to evaluate, save and resume as a lone run."""
    packed, optimizer, scheduler = steps.packed, steps.optimizer, steps.scheduler
    weights = packed.split(packed.state_dict())
    state = {key: packed.split(by_name) for key, by_name in _state_by_name(packed, optimizer).items()}
    for i, run in enumerate(runs):
        run.model.load_state_dict(weights[i])
        for name, p in run.model.named_parameters():
            run.optimizer.state[p] = {key: per_model[i][name] for key, per_model in state.items()}
        for group, packed_group in zip(run.optimizer.param_groups, optimizer.param_groups):
            group["lr"] = packed_group["lr"]
        run.scheduler.load_state_dict(scheduler.state_dict())


def _join_training_state(packed: PackedResNet, optimizer: torch.optim.Optimizer, scheduler: Any,
                         runs: list[Run]) -> None:
    """The reverse: the runs' optimizer states and schedule into the packed ones (the weights went in with
    PackedResNet.pack)."""
    per_run = [_state_by_name(run.model, run.optimizer) for run in runs]
    named = dict(packed.named_parameters())
    for key in per_run[0]:
        for name, value in packed.join([state[key] for state in per_run]).items():
            optimizer.state[named[name]][key] = value
    for group, lone_group in zip(optimizer.param_groups, runs[0].optimizer.param_groups):
        group["lr"] = lone_group["lr"]
    scheduler.load_state_dict(runs[0].scheduler.state_dict())
