"""Which runs fit a device-time budget, and packed how: said before any of them starts (issue #18).

    packs = group_packs(cfgs, max_pack)   runs that can train as one packed net (pack.py), in chunks of max_pack
    plan = make_plan(packs, budget_s)     each pack's estimated seconds, and whether it fits the budget
    print(plan_table(plan, budget_s))

A pack's estimate times a few packed training steps as training runs them (train_one_epoch over the packed net
and the runs' real first batches, steppers.packed_stepper), on the device the runs will use (after two warm-up
steps), and multiplies by the schedule's steps: epochs x ceil(training images / batch).
A run that does not pack (any other model or task) is timed on its own first training batches, read from its real
data as in training (timing.timed_batches), times its schedule's batches. Both add the run's start-up as
timed_batches met it (data loaded, model and optimizer built; once for a pack, whose nets share one loader; left
out, a CPU dry run of the GPU window found too little time for its last planned run at its turn) and what a run
spends besides training, timed on the run's real evaluation batches: every evaluation of the schedule
(trainer.eval_every's epochs, then the test split if the run validates on another), once per net in a pack
(pack.py evaluates each net alone), and the task's final report as it estimates it from a few test examples (a
translator's greedy and beam decoding of the test set, to max_len: an upper bound). These are planning numbers,
printed before anything trains; the suite also checks each run's estimate against the time left when its turn
comes (compare.run_suite).
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Callable, Optional

import torch

from .config import Config
from .data.datasets import DATASETS
from .errors import ConfigError
from .leaderboard import markdown_table
from .pack import PACKABLE, check_packable, shared_config
from .runtime import resolve_device, set_up
from .steppers import packed_stepper
from .timing import FirstBatches, timed_batches
from .train import build_run, train_one_epoch

WARMUP_STEPS, TIMED_STEPS = 2, 5


@dataclasses.dataclass
class Planned:
    cfgs: list[Config]
    packed: bool  # trained by pack.fit_packed (else train.fit, alone)
    seconds: Optional[float]  # estimated; None: not estimated (no plan was asked for)
    fits: bool  # inside the budget (always, without one)

    @property
    def label(self) -> str:
        return ", ".join(c.name for c in self.cfgs)


def group_packs(cfgs: list[Config], max_pack: int) -> list[tuple[list[Config], bool]]:
    """Runs that can train as one packed net, in chunks of at most `max_pack`, in the order of their first run;
    every other run alone. Returns (configs, packed?) pairs."""
    if max_pack < 1:
        raise ConfigError(f"--pack must be >= 1, got {max_pack}")
    groups: dict[str, list[Config]] = {}
    alone: list[tuple[list[Config], bool]] = []
    for cfg in cfgs:
        try:
            check_packable([cfg])
        except ConfigError:
            alone.append(([cfg], False))
            continue
        key = f"{PACKABLE[cfg.model.name]}|{sorted(shared_config(cfg).items())}"
        groups.setdefault(key, []).append(cfg)
    packs = [(group[i:i + max_pack], True) for group in groups.values() for i in range(0, len(group), max_pack)]
    return packs + alone


def step_seconds(cfgs: list[Config], device: torch.device) -> float:
    """Seconds of one packed training step of `cfgs` (same depth and data) as training runs it: the runs built as
    train.train_runs builds them, stepped by train.train_one_epoch through steppers.packed_stepper (the packed net,
    its optimizer and the runs' loaders side by side), on the first batches of their real training data, after
    WARMUP_STEPS untimed ones; the process set up as the run will set it up (the warm-up steps pay cuDNN's search)."""
    t = cfgs[0].trainer
    device, ddp, precision = set_up(device.type, threads=t.threads, cudnn_benchmark=t.cudnn_benchmark,
                                    precision=t.precision, announce=False)
    runs = [build_run(cfg, None, device, ddp) for cfg in cfgs]
    for run in runs:
        run.loaders.train.set_epoch(1)
    steps = packed_stepper(runs, device, join=False)
    timed = []
    for n in (WARMUP_STEPS, TIMED_STEPS):
        batches = FirstBatches(steps.loader, n)
        tr = train_one_epoch(steps.runner, batches, steps.optimizer, steps.scheduler, step_fn=steps.step,
                             device=device, precision=precision, label_smoothing=t.label_smoothing, progress=False)
        timed.append(tr["seconds"] / len(batches))
    return timed[-1]


def seconds_per_call(step: Callable[[], None], device: torch.device, *, warmup: int = WARMUP_STEPS,
                     timed: int = TIMED_STEPS) -> float:
    """Mean seconds of `step()` over `timed` calls after `warmup` untimed ones, the device synchronised."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    start = time.perf_counter()
    for _ in range(timed):
        step()
    sync()
    return (time.perf_counter() - start) / timed


def schedule_steps(cfg: Config) -> int:
    """Training steps of the whole schedule of an image run."""
    d, t = cfg.data, cfg.trainer
    train = DATASETS[d.name].training_examples(d.val_size, d.train_size)
    return (t.stop_epoch or t.epochs) * math.ceil(train / t.batch_size)


def lone_seconds(cfg: Config) -> float:
    """Estimated seconds of `cfg` trained alone: its start-up, its first training batches timed times the
    schedule's batches, its evaluations and the task's final report (a translator's decoding), timed on a few real
    batches."""
    timed = timed_batches(cfg, TIMED_STEPS, report=True)
    per_step = timed.metrics["seconds"] / min(TIMED_STEPS, timed.batches)
    epochs = cfg.trainer.stop_epoch or cfg.trainer.epochs
    return timed.setup_seconds + per_step * timed.batches * epochs + timed.eval_seconds + timed.report_seconds


def pack_seconds(cfgs: list[Config], device: torch.device) -> float:
    """Estimated seconds of `cfgs` trained as one packed net: the start-up (one lone run's), packed steps timed
    times the schedule's steps, and each net's evaluations (one lone net's, timed on the real evaluation batches,
    for each of them)."""
    lone = timed_batches(cfgs[0], 1, report=True)  # the data loads once for the pack (its start-up)
    return (lone.setup_seconds + step_seconds(cfgs, device) * schedule_steps(cfgs[0])
            + len(cfgs) * (lone.eval_seconds + lone.report_seconds))


def make_plan(packs: list[tuple[list[Config], bool]], budget_s: Optional[float], *,
              started: Optional[float] = None) -> list[Planned]:
    """Each pack's or lone run's estimate and whether it fits what is left of `budget_s` (None: no budget), in
    order; a pack that does not fit is skipped and a later, smaller one may still fit. `started`: the
    time.monotonic() at which the budget began, so that what the estimates themselves took (minutes on a CPU,
    where a translator's decoding is timed) is not promised to the runs."""
    estimates = [(cfgs, packed, pack_seconds(cfgs, resolve_device(cfgs[0].trainer.device)) if packed
                  else lone_seconds(cfgs[0])) for cfgs, packed in packs]
    left = budget_s if budget_s is None or started is None else budget_s - (time.monotonic() - started)
    plan = []
    for cfgs, packed, seconds in estimates:
        fits = left is None or seconds <= left
        if fits and left is not None:
            left -= seconds
        plan.append(Planned(cfgs, packed, seconds, fits))
    return plan


def plan_table(plan: list[Planned], budget_s: Optional[float]) -> str:
    rows = [[str(i), p.label, str(len(p.cfgs)), "packed" if p.packed else "alone",
             "-" if p.seconds is None else f"{p.seconds / 60:.1f}", "yes" if p.fits else "no"]
            for i, p in enumerate(plan, 1)]
    total = sum(p.seconds or 0.0 for p in plan if p.fits)
    budget = "no budget" if budget_s is None else f"budget {budget_s / 60:.1f} min"
    return (markdown_table(["#", "runs", "nets", "how", "estimated min", "fits"], rows)
            + f"\n\nplanned: {total / 60:.1f} min of {budget}; "
            f"{sum(len(p.cfgs) for p in plan if not p.fits)} run(s) left out\n")
