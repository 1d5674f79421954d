"""The optimizer and the learning-rate schedule a config asks for (`optim:` and `schedule:`).

The schedule is a multiplier of the peak lr (`optim.lr`) at each iteration, `lr_factor`, stepped once per
optimizer step by a LambdaLR; its state_dict is just the step counter, so a resumed run continues it exactly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import Config, ScheduleConfig


def peak_lr(cfg: Config) -> float:
    """optim.lr, scaled linearly to the global batch when optim.lr_batch names the batch it was meant for (Goyal et
    al. 2017, arXiv:1706.02677, Sec. 2.1: "when the minibatch size is multiplied by k, multiply the lr by k")."""
    o = cfg.optim
    return o.lr if o.lr_batch is None else o.lr * cfg.trainer.batch_size / o.lr_batch


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """SGD or AdamW over the model's parameters. On a GPU the fused implementation (one kernel for the whole update
    instead of a few per parameter tensor: the same arithmetic); on a CPU torch's default, as before."""
    o, lr = cfg.optim, peak_lr(cfg)
    fused = {"fused": True} if all(p.is_cuda for p in model.parameters()) else {}
    if o.name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=o.momentum, nesterov=o.nesterov,
                               weight_decay=o.weight_decay, **fused)
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=tuple(o.betas), weight_decay=o.weight_decay, **fused)


def lr_factor(s: ScheduleConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of the peak lr at iteration `step` (0-based) of `total_steps`."""
    if s.name == "onecycle":
        # Smith & Topin 2017 (arXiv:1708.07120), as torch's OneCycleLR with linear annealing: peak/div_factor rises
        # linearly to the peak over pct_start of training, then falls linearly to peak/(div_factor*final_div_factor).
        up = max(1, round(s.pct_start * total_steps))
        start, end = 1.0 / s.div_factor, 1.0 / (s.div_factor * s.final_div_factor)
        if step < up:
            return start + (1.0 - start) * step / up
        return 1.0 + (end - 1.0) * min(1.0, (step - up) / max(1, total_steps - up))
    warmup = round(s.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup  # linear warm-up (Goyal et al. 2017, arXiv:1706.02677)
    if s.name == "multistep":
        return s.gamma ** sum(step >= round(m * steps_per_epoch) for m in s.milestones)
    if s.name == "cosine":
        # Loshchilov & Hutter 2016 (arXiv:1608.03983) without restarts
        t = (step - warmup) / max(1, total_steps - warmup)
        return s.min_lr_ratio + (1 - s.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    if s.name == "inverse_sqrt":
        # Vaswani et al. 2017 (arXiv:1706.03762) Eq. 3: lr = d^-0.5 min(n^-0.5, n warmup^-1.5) at step n = step+1.
        # Divided by its peak d^-0.5 warmup^-0.5 (reached at n = warmup), so that optim.lr is the peak: the linear
        # warm-up above, then sqrt(warmup / n). (Eq. 3 with d_model 512, warmup 4000 peaks at 7.0e-4.)
        return math.sqrt(max(1, warmup) / (step + 1))
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: Config, steps_per_epoch: int):
    total = cfg.trainer.epochs * steps_per_epoch
    # The lambda holds no state of its own (the config and two numbers), so the scheduler's state_dict is just its
    # step counter and a resumed run rebuilds the same function from the same config.
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(cfg.schedule, step, total, steps_per_epoch))
