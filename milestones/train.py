"""The shared trainer: plain loops in the style of torchvision's references.

    fit(cfg)                      one run: set up the process, hold its folder, then train_runs([cfg])
    pack.fit_packed(cfgs)         N CIFAR nets as one packed net (issue #18): train_runs(cfgs, packed=True)
    train_runs(...)               the runs' data, models and optimizers (build_run), then for each epoch:
      train_one_epoch(...)        one pass over the training batches, the lr schedule stepped per iteration
      evaluate(...)               each run's loss and accuracy on the validation split (else the test split)
      save_training_state(...)    its model, optimizer, scheduler, RNG states, epoch, history and config, atomically
    and at the end each run's test (test_run) and results.json.

What differs between tasks (classification, regression, seq2seq) is a `Task` from milestones/tasks/, chosen by
`cfg.task`: its data builder, its step, its model/data check and its extra final numbers (BLEU). What differs
between one run and a pack is only what steps the batches (steppers.py): one model, or N as one PackedResNet
whose state goes back to the runs after every epoch; evaluation, diagnostics, keep_best, checkpoints, logs,
TensorBoard, resume and the test are the same code for both. Evaluation is evaluation.py's; the run folder and
checkpoint format checkpoint.py's; optimizer and schedule optim.py's; process set-up and autocast runtime.py's.

Resume granularity is the epoch: `fit(cfg, resume=True)` restarts after the last completed epoch, whenever the
process died (SIGKILL mid-epoch included: the partial epoch is run again from its start). Each epoch's data order
and augmentation are seeded by (seed, epoch) and the RNG states of torch, numpy and Python, the optimizer, the
scheduler and the history are restored, so a resumed run ends bitwise equal to the uninterrupted one on CPU
(tests/test_reliability.py; scripts/maintenance/fault_injection.py kills runs at random moments and checks this). A NaN or
inf loss stops the run (DivergenceError) before any save; in a pack, only that net, the others go on.
"""

from __future__ import annotations

import dataclasses
import math
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import torch
from torch import nn
from tqdm import tqdm

from . import distributed
from .checkpoint import (PREVIOUS_DIR, check_resumable, config_digest, log_epoch, open_run_folder,
                         read_resume_checkpoint, restore_training_state, retire_run, save_training_state, start_logs,
                         write_results)
from .config import Config
from .errors import CheckpointError, ConfigError, DivergenceError
from .evaluation import check_keep_best, diagnose, evaluate, evaluated, kept_best, run_results
from .models import freeze_backbone, keep_frozen_norms
from .optim import build_optimizer, build_scheduler
from .runtime import AutoThreads, auto_threads, autocast, seed_everything, set_up
from .steppers import lone_stepper, packed_stepper, split_training_state
from .tasks import TASKS, Loaders, StepFn, Task, build_model

LOG_EVERY = 25  # steps between progress-bar refreshes (each one is a device sync)


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    step_fn: StepFn,
    device: torch.device,
    precision: str = "fp32",
    scaler: Optional[torch.amp.GradScaler] = None,
    label_smoothing: float = 0.0,
    grad_clip: Optional[float] = None,
    first_step: int = 0,
    desc: str = "train",
    progress: bool = True,
    accumulate: int = 1,
    writers: Sequence[Any] = (),
    threads: Optional[AutoThreads] = None,
) -> dict[str, Any]:
    """One pass over `loader`; the lr schedule steps per optimizer step. Metrics are summed over all DDP ranks.

    `accumulate` > 1: the loader yields micro-batches; the gradients of `accumulate` of them (each loss divided by
    `accumulate`, so their sum is the mean over the global batch) make one optimizer step; micro-batches left over
    at the end of the epoch are skipped. A packed step (steppers.packed_step) trains N models at once: its loss is
    (N,), each model's own mean loss, and their sum is back-propagated (model i's weights get model i's gradient);
    "loss" and "acc" are then lists of N, and a model whose loss becomes NaN or infinite trains on to the epoch's
    end (its own weights only), for train_runs to stop. `writers`: a TensorBoard SummaryWriter per model, for the
    running loss, lr and rate. `threads`: trainer.threads auto's poller, polled every step; the seconds at each
    count are returned as "threads"."""
    model.train()
    keep_frozen_norms(model)  # trainer.freeze: the backbone's batch norms keep their statistics
    loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    micro = len(loader) // accumulate * accumulate  # micro-batches that fill whole optimizer steps
    bar = tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True, total=micro)
    for i, batch in enumerate(bar):
        if i == micro:
            break
        if threads is not None:
            threads.poll()
        with autocast(device, precision):
            out = step_fn(model, batch, label_smoothing=label_smoothing)
        if i == 0 and out.loss.dim():  # a packed step: a loss and a count of hits per model
            loss_sum, correct = loss_sum.repeat(out.loss.shape), correct.repeat(out.loss.shape)
        if i % accumulate == 0:
            optimizer.zero_grad(set_to_none=True)
        loss = out.loss.sum() / accumulate if accumulate > 1 else out.loss.sum()  # alone: sum() of one is itself
        last = (i + 1) % accumulate == 0  # this micro-batch completes an optimizer step
        if scaler is not None:  # fp16: scale the loss so small gradients survive, unscale before clipping
            scaler.scale(loss).backward()
            if last:
                if grad_clip is not None:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                scaler.step(optimizer)
                scaler.update()
        else:
            loss.backward()
            if last:
                if grad_clip is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
                optimizer.step()
        if last:
            scheduler.step()
        loss_sum += out.loss.detach() * out.count
        correct += out.correct
        seen += out.count
        if (i + 1) % LOG_EVERY == 0 or i + 1 == micro:
            losses = loss_sum.double() / seen  # the device sync happens here, not every step
            if not losses.isfinite().any():  # every model's
                step = first_step + (i + 1) // accumulate
                raise DivergenceError(f"loss became {losses.tolist()} by step {step} (checked every {LOG_EVERY} "
                                      f"steps); the last good checkpoint is kept; lower optim.lr or set "
                                      f"trainer.grad_clip")
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{losses.nanmean().item():.4f}", rate=f"{rate:.0f}/s", refresh=False,
                            acc=f"{100 * correct.sum().item() / (seen * correct.numel()):.2f}%")
            for writer, model_loss in zip(writers, losses.reshape(-1).tolist()):
                step = first_step + (i + 1) // accumulate
                writer.add_scalar("train/running_loss", model_loss, step)
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
                writer.add_scalar("train/samples_per_s", rate, step)
    seconds = time.perf_counter() - start
    totals = torch.stack([loss_sum.double(), correct.double(), torch.full_like(loss_sum, seen, dtype=torch.float64)])
    distributed.all_reduce_sum(totals)
    loss_total, correct_total, seen_total = totals.cpu()  # alone each a number, packed one per model
    return {"loss": (loss_total / seen_total).tolist(), "acc": (correct_total / seen_total).tolist(),
            "samples_per_s": seen_total.reshape(-1)[0].item() / seconds, "seconds": seconds,
            **({"threads": threads.take()} if threads is not None else {})}


def tensorboard_writer(run_dir: Path) -> Any:
    """A SummaryWriter into <run>/tensorboard/ (`tensorboard --logdir runs/` shows every run)."""
    from torch.utils.tensorboard import SummaryWriter  # lazy: see LAZY in tests/test_architecture.py

    return SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))


# --- fit: the runs being trained, one alone or N packed ---------------------------------------------------------

@dataclasses.dataclass
class Run:
    """One model being trained: its config, checkpoint path, data, model, optimizer and schedule, and its record."""

    cfg: Config
    path: Optional[Path]  # its checkpoint (None: timed by the planner, never saved)
    loaders: Loaders
    model: nn.Module  # the plain module whose state_dict the checkpoints hold
    model_args: dict
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Optional[torch.amp.GradScaler]  # fp16's loss scaler
    runner: nn.Module  # what evaluates it: `model`, or alone the DDP / torch.compile wrapper that trains it
    history: list[dict] = dataclasses.field(default_factory=list)
    best: Optional[dict] = None  # {"epoch", "value", "model"} under trainer.keep_best
    last_eval: Optional[tuple[dict, dict]] = None  # the last evaluation and its diagnostics
    writer: Any = None  # TensorBoard, under trainer.tensorboard
    diverged: Optional[str] = None  # why a packed net stopped, once its loss became NaN or infinite
    run_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex[:12])  # a resumed run keeps its own


def fit(cfg: Config, *, resume: bool = False, overwrite: bool = False, command: Optional[str] = None) -> dict[str, Any]:
    """Train `cfg` from scratch (or from its run folder's checkpoint with `resume=True`); return the final results.

    Started by torchrun, it trains with DistributedDataParallel (see milestones/distributed.py). `command` (the
    CLI line that started the run) is recorded in results.json beside the numbers. The process is set up by
    runtime.set_up. The run folder is locked for the whole run: a second process that would write into it stops
    with a one-line error.
    """
    t = cfg.trainer
    device, ddp, precision = set_up(t.device, threads=t.threads, cudnn_benchmark=t.cudnn_benchmark,
                                    precision=t.precision, tensorboard=t.tensorboard)
    if t.batch_size % ddp.world_size:
        raise ConfigError(f"trainer.batch_size {t.batch_size} (the global batch) must divide evenly among "
                          f"{ddp.world_size} processes")
    with open_run_folder(cfg.run_dir, resume=resume, overwrite=overwrite, main=ddp.is_main) as ckpt_path:
        return train_runs([cfg], [ckpt_path], device, precision, ddp, packed=False, resume=resume,
                          command=command)[0]


def build_run(cfg: Config, path: Optional[Path], device: torch.device, ddp: distributed.Dist) -> Run:
    """`cfg`'s data, model, optimizer and schedule, from its seed (the same seed on every rank: same initial
    weights, same data order), checked against each other."""
    t = cfg.trainer
    seed_everything(cfg.seed)
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, ddp)
    check_keep_best(cfg, loaders.test)
    model, model_args = build_model(cfg, loaders.meta, device, from_weights=True)  # model.weights: fine-tuning
    if t.freeze == "backbone":
        tqdm.write(freeze_backbone(model, cfg.model.name))
    task.check_model(model, loaders, cfg)
    if t.sync_bn and ddp.enabled:  # batch-norm statistics over the global batch (same parameters and buffers)
        model = distributed.sync_batchnorm(model, device.type)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(loaders.train) // t.accumulate)  # optimizer steps an epoch
    scaler = torch.amp.GradScaler(device.type) if t.precision == "fp16" else None
    return Run(cfg, path, loaders, model, model_args, optimizer, scheduler, scaler, runner=model)


def train_runs(cfgs: list[Config], paths: list[Path], device: torch.device, precision: str, ddp: distributed.Dist,
               *, packed: bool, resume: bool, command: Optional[str]) -> list[dict[str, Any]]:
    """The epochs and final test of `cfgs` (one alone; with `packed`, N as one packed net), each in its run folder
    (`paths`: their checkpoints, held by the caller); return each run's results."""
    t, task = cfgs[0].trainer, TASKS[cfgs[0].task]
    runs = [build_run(cfg, path, device, ddp) for cfg, path in zip(cfgs, paths)]
    start_epoch = resume_runs(runs, device, ddp) + 1 if resume else 1
    last_epoch = t.stop_epoch or t.epochs
    if start_epoch - 1 > last_epoch:  # else the test of later weights would be recorded under this config's hash
        raise CheckpointError(f"{paths[0]}: holds epoch {start_epoch - 1}, past epoch {last_epoch} where this config "
                              f"ends (trainer.stop_epoch, else trainer.epochs); resume with a later stop, or start "
                              f"again with --overwrite")
    for run in runs:
        if ddp.is_main and not resume:  # a new run: the folder's last run (--overwrite) moves aside, whole
            moved = retire_run(run.cfg.run_dir)
            if moved:
                tqdm.write(f"milestones: the run this one replaces is kept in {run.cfg.run_dir / PREVIOUS_DIR} "
                           f"({', '.join(moved)})")
        if ddp.is_main:
            start_logs(run.cfg.run_dir, run.cfg, run.history)
        run.writer = tensorboard_writer(run.cfg.run_dir) if t.tensorboard and ddp.is_main else None
    steps = packed_stepper(runs, device, join=resume) if packed else lone_stepper(runs[0], device, ddp)
    threads = auto_threads(t.threads, device, announce=ddp.is_main)  # trainer.threads: auto
    everyone = runs  # `runs` loses the nets that diverge, `everyone` keeps them

    eval_name = "val" if runs[0].loaders.test is not None else "test"
    eval_fn = task.eval_step_for(cfgs[0], runs[0].loaders.meta)
    for epoch in range(start_epoch, last_epoch + 1):
        for run in runs:
            run.loaders.train.set_epoch(epoch)
        lr = steps.optimizer.param_groups[0]["lr"]
        tr = train_one_epoch(steps.runner, steps.loader, steps.optimizer, steps.scheduler, step_fn=steps.step,
                             device=device, precision=precision, scaler=steps.scaler,
                             label_smoothing=t.label_smoothing, grad_clip=t.grad_clip,
                             first_step=(epoch - 1) * (len(steps.loader) // t.accumulate),
                             desc=f"epoch {epoch}/{t.epochs}" + (f" x{len(runs)}" if packed else ""),
                             progress=t.progress and ddp.is_main, accumulate=t.accumulate,
                             writers=[run.writer for run in runs if run.writer is not None], threads=threads)
        if steps.packed is not None:
            split_training_state(steps, runs)
        for i, run in enumerate(runs):
            loss, acc = (tr["loss"][i], tr["acc"][i]) if packed else (tr["loss"], tr["acc"])
            if not math.isfinite(loss):  # a packed net (train_one_epoch stops a lone run itself)
                stop(run, f"training loss became {loss} in epoch {epoch}", len(runs), packed)
                continue
            row = {"epoch": epoch, "train_loss": loss, "train_acc": acc}
            if evaluated(epoch, t.eval_every, last_epoch):  # skipped epochs have no eval keys in their row
                ev = evaluate(run.runner, run.loaders.eval, step_fn=eval_fn, device=device, precision=precision)
                if not math.isfinite(ev["loss"]):  # the last update of the epoch broke the weights: do not save them
                    stop(run, f"{eval_name} loss became {ev['loss']} after epoch {epoch} (step "
                              f"{epoch * len(run.loaders.train)})", len(runs), packed)
                    continue
                run.last_eval = ev, diagnose(task, run.runner, run.loaders.eval, device=device, precision=precision)
                row.update({f"{eval_name}_loss": ev["loss"], f"{eval_name}_acc": ev["acc"]})
                if "acc5" in ev:
                    row[f"{eval_name}_acc5"] = ev["acc5"]
                row.update({f"{eval_name}_loss_{name}": value for name, value in run.last_eval[1].items()})
                run.best = kept_best(t.keep_best, run.best, ev, epoch, run.model)
            row.update({"lr": lr, "samples_per_s": tr["samples_per_s"], "seconds": tr["seconds"]})
            if "threads" in tr:  # trainer.threads: auto, the seconds at each count
                row["threads"] = tr["threads"]
            run.history.append(row)
            if ddp.is_main:
                end_epoch(run, row, eval_name, shown=packed)
        distributed.barrier()  # no rank runs ahead of the checkpoint
        if any(run.diverged for run in runs):  # the rest of the pack goes on without them, from their states
            runs = [run for run in runs if not run.diverged]
            if not runs:
                break
            steps = packed_stepper(runs, device, join=True)

    results = [test_run(run, task, eval_fn, runs, device=device, precision=precision, ddp=ddp, packed=packed,
                        command=command, evaluated_last=start_epoch <= last_epoch) for run in runs]
    stopped = [run.diverged for run in everyone if run.diverged]
    if stopped:
        raise DivergenceError(f"{len(stopped)} of {len(everyone)} packed nets diverged ({'; '.join(stopped)}); "
                              f"their last good checkpoints are kept; lower optim.lr")
    return results


def resume_runs(runs: list[Run], device: torch.device, ddp: distributed.Dist) -> int:
    """Put each run's checkpointed state back; return the last epoch they completed (the same for all)."""
    done = set()
    for run in runs:
        ckpt = read_resume_checkpoint(run.path, map_location=device, tidy=ddp.is_main)
        check_resumable(ckpt, run.cfg, run.path)
        epoch, run.history = restore_training_state(ckpt, run.path, model=run.model, optimizer=run.optimizer,
                                                    scheduler=run.scheduler, scaler=run.scaler)
        run.best = ckpt.get("best")
        run.run_id = ckpt.get("run_id", run.run_id)  # (checkpoints before run ids: the resumed run gets one)
        done.add(epoch)
        if ddp.is_main:
            tqdm.write(f"resuming {run.cfg.run_dir} after epoch {epoch}")
    if len(done) > 1:
        raise CheckpointError(f"the packed runs stopped after different epochs ({sorted(done)}): resume each alone "
                              f"(`milestones train CONFIG --resume`)")
    return done.pop()


def stop(run: Run, why: str, left: int, packed: bool) -> None:
    """A diverged run stops before any save (its last good checkpoint kept); a packed net's pack goes on."""
    if not packed:
        raise DivergenceError(f"{why}; the last good checkpoint is kept; lower optim.lr or set trainer.grad_clip")
    run.diverged = f"{run.cfg.name}: its {why}"
    others = f"the other {left - 1} go on" if left > 1 else "none is left"
    tqdm.write(f"milestones: warning: {run.diverged}; it stops here (its last good checkpoint is kept), {others}")


def end_epoch(run: Run, row: dict, eval_name: str, *, shown: bool) -> None:
    """The main process's end of an epoch of `run`: checkpoint, metrics.jsonl, TensorBoard and the console line
    (`shown`: named, for a pack)."""
    t, epoch = run.cfg.trainer, row["epoch"]
    if t.checkpoint:
        save_training_state(run.path, model=run.model, model_args=run.model_args, optimizer=run.optimizer,
                            scheduler=run.scheduler, scaler=run.scaler, epoch=epoch, history=run.history, cfg=run.cfg,
                            data_meta=run.loaders.meta, best=run.best, run_id=run.run_id)
    log_epoch(run.cfg.run_dir, row)
    if run.writer is not None:
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)):
                run.writer.add_scalar(f"epoch/{key}", value, epoch)
        run.writer.flush()
    ev = f"{eval_name} loss {row[eval_name + '_loss']:.4f} acc {100 * row[eval_name + '_acc']:.2f}%  " \
        if eval_name + "_loss" in row else ""
    tqdm.write(f"{run.cfg.name + '  ' if shown else ''}epoch {epoch:3d}/{t.epochs}  train loss {row['train_loss']:.4f} "
               f"acc {100 * row['train_acc']:.2f}%  {ev}lr {row['lr']:.3g}  {row['samples_per_s']:.0f}/s  "
               f"{row['seconds']:.1f}s")


def test_run(run: Run, task: Task, eval_fn: StepFn, runs: list[Run], *, device: torch.device, precision: str,
             ddp: distributed.Dist, packed: bool, command: Optional[str], evaluated_last: bool) -> dict[str, Any]:
    """`run`'s final test (of its kept best epoch under trainer.keep_best) and results.json."""
    if run.best is not None:  # test the kept epoch's weights (the last epoch's stay in the checkpoint, for resume)
        run.model.load_state_dict(run.best["model"])
        if ddp.is_main:
            tqdm.write(f"testing the weights of epoch {run.best['epoch']}: the best {run.cfg.trainer.keep_best} "
                       f"({run.best['value']:.4f})")
    if run.loaders.test is None and evaluated_last:
        final, diagnostics = run.last_eval  # the last epoch was just evaluated on the test split: not twice
    else:
        final = evaluate(run.runner, run.loaders.test or run.loaders.eval, step_fn=eval_fn, device=device,
                         precision=precision)
        diagnostics = diagnose(task, run.runner, run.loaders.test or run.loaders.eval, device=device,
                               precision=precision)
    results = run_results(run.cfg, run.model, run.history, final, diagnostics, run.best, device=device,
                          precision=precision, processes=ddp.world_size, command=command)
    extra = task.report(run.model, run.loaders, final, run.cfg) if ddp.is_main and task.report is not None else {}
    results.update(extra)
    if packed:
        results["packed_with"] = [other.cfg.name for other in runs if other is not run]
    if ddp.is_main:  # which run wrote it, under which config.yaml: runs.read_run refuses it beside another one
        results.update(run_id=run.run_id, config_sha256=config_digest(run.cfg.run_dir))
        write_results(run.cfg.run_dir, results)
        shown = "".join(f"  {k} {v:.2f}" for k, v in extra.items() if isinstance(v, float))  # e.g. test_bleu
        tqdm.write(f"test acc {100 * final['acc']:.2f}%{shown}  ({results['train_seconds']:.0f} s of training)  "
                   f"-> {run.cfg.run_dir}")
    return results
