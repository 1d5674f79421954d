"""The shared trainer: plain loops in the style of torchvision's references.

    fit(cfg)                      builds everything from a Config, then for each epoch:
      train_one_epoch(...)        one pass over the training batches, the lr schedule stepped per iteration
      evaluate(...)               loss and accuracy on the validation split (else the test split)
      save_training_state(...)    model, optimizer, scheduler, RNG states, epoch, history and config, atomically

What differs between tasks (classification, regression, seq2seq) is a `Task` from milestones/tasks/, chosen by
`cfg.task`: its data builder, its step, its model/data check and its extra final numbers (BLEU). The run folder
and the checkpoint format are milestones/checkpoint.py's; the optimizer and schedule milestones/optim.py's; the
device, seeding and autocast milestones/runtime.py's.

Resume granularity is the epoch: `fit(cfg, resume=True)` restarts after the last completed epoch, whenever the
process died (SIGKILL mid-epoch included: the partial epoch is run again from its start). Each epoch's data order
and augmentation are seeded by (seed, epoch) and the RNG states of torch, numpy and Python, the optimizer, the
scheduler and the history are restored, so a resumed run ends bitwise equal to the uninterrupted one on CPU
(tests/test_reliability.py; scripts/fault_injection.py kills runs at random moments and checks this). A NaN or
inf loss stops the run (DivergenceError) before any save.
"""

from __future__ import annotations

import importlib.util
import math
import time
from pathlib import Path
from typing import Any, Iterable, Optional

import torch
from torch import nn
from tqdm import tqdm

from . import distributed
from .checkpoint import (check_arrangement, check_resumable, data_meta, final_weights, load_state, log_epoch,
                         model_name, open_run_folder, previous_checkpoint, read_checkpoint, read_resume_checkpoint,
                         restore_training_state, save_training_state, start_logs, write_results)
from .config import Config
from .errors import CheckpointError, ConfigError, DivergenceError
from .models import count_parameters
from .optim import build_optimizer, build_scheduler
from .runtime import (autocast, compile_model, hardware, keep_freed_memory, resolve_device, run_precision,
                      seed_everything, set_cudnn_benchmark, set_threads)
from .tasks import TASKS, StepFn, Task, build_model

LOG_EVERY = 25  # steps between progress-bar refreshes (each one is a device sync)


# --- the loops -----------------------------------------------------------------------------------------------------

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
    writer: Any = None,
) -> dict[str, float]:
    """One pass over `loader`; the lr schedule steps per optimizer step. Metrics are summed over all DDP ranks.

    `accumulate` > 1: the loader yields micro-batches; the gradients of `accumulate` of them (each loss divided by
    `accumulate`, so their sum is the mean over the global batch) make one optimizer step; micro-batches left over
    at the end of the epoch are skipped. `writer`: a TensorBoard SummaryWriter for the running loss, lr and rate."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    micro = len(loader) // accumulate * accumulate  # micro-batches that fill whole optimizer steps
    bar = tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True, total=micro)
    for i, batch in enumerate(bar):
        if i == micro:
            break
        with autocast(device, precision):
            out = step_fn(model, batch, label_smoothing=label_smoothing)
        if i % accumulate == 0:
            optimizer.zero_grad(set_to_none=True)
        loss = out.loss / accumulate if accumulate > 1 else out.loss
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
            mean_loss = loss_sum.item() / seen  # the device sync happens here, not every step
            if not math.isfinite(mean_loss):
                step = first_step + (i + 1) // accumulate
                raise DivergenceError(f"loss became {mean_loss} by step {step} (checked every {LOG_EVERY} steps); "
                                      f"the last good checkpoint is kept; lower optim.lr or set trainer.grad_clip")
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{100 * correct.item() / seen:.2f}%", rate=f"{rate:.0f}/s",
                            refresh=False)
            if writer is not None:
                step = first_step + (i + 1) // accumulate
                writer.add_scalar("train/running_loss", mean_loss, step)
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
                writer.add_scalar("train/samples_per_s", rate, step)
    seconds = time.perf_counter() - start
    totals = torch.tensor([loss_sum.item(), correct.item(), seen], dtype=torch.float64, device=device)
    distributed.all_reduce_sum(totals)
    loss_total, correct_total, seen_total = totals.tolist()
    return {"loss": loss_total / seen_total, "acc": correct_total / seen_total,
            "samples_per_s": seen_total / seconds, "seconds": seconds}


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, *, step_fn: StepFn, device: torch.device,
             precision: str = "fp32") -> dict[str, float]:
    """Mean loss and accuracy over `loader` (summed over all DDP ranks' shards)."""
    model.eval()
    totals = torch.zeros(4, device=device, dtype=torch.float64)  # loss sum, correct, seen, correct in the top 5
    top5 = False
    for batch in loader:
        with autocast(device, precision):
            out = step_fn(model, batch)
        top5 = out.correct5 is not None
        hits5 = out.correct5.double() if top5 else torch.zeros((), device=device, dtype=torch.float64)
        totals += torch.stack([out.loss.double() * out.count, out.correct.double(),
                               torch.tensor(out.count, device=device, dtype=torch.float64), hits5])
    distributed.all_reduce_sum(totals)
    loss_sum, correct, seen, correct5 = totals.tolist()
    return {"loss": loss_sum / seen, "acc": correct / seen, **({"acc5": correct5 / seen} if top5 else {})}


def diagnose(task: Task, model: nn.Module, loader: Iterable, *, device: torch.device,
             precision: str) -> dict[str, float]:
    """The task's diagnostic losses on `loader` (Task.diagnostics, e.g. a translator's with others' sources)."""
    return {name: evaluate(model, loader, step_fn=step, device=device, precision=precision)["loss"]
            for name, step in task.diagnostics.items()}


# --- fit -----------------------------------------------------------------------------------------------------------

NO_TENSORBOARD = ("trainer.tensorboard needs the optional 'tensorboard' extra: pip install 'milestones[tensorboard]' "
                  "(metrics.jsonl is written either way)")


def tensorboard_writer(run_dir: Path) -> Any:
    """A SummaryWriter into <run>/tensorboard/ (`tensorboard --logdir runs/` shows every run)."""
    from torch.utils.tensorboard import SummaryWriter  # lazy: see LAZY in tests/test_architecture.py

    return SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"))


def fit(cfg: Config, *, resume: bool = False, overwrite: bool = False, command: Optional[str] = None) -> dict[str, Any]:
    """Train `cfg` from scratch (or from its run folder's checkpoint with `resume=True`); return the final results.

    Started by torchrun, it trains with DistributedDataParallel (see milestones/distributed.py). `command` (the
    CLI line that started the run) is recorded in results.json beside the numbers. On CPU it first sets glibc's
    malloc to keep freed memory (`runtime.keep_freed_memory`), for the rest of the process. The run folder is
    locked for the whole run: a second process that would write into it stops with a one-line error.
    """
    t = cfg.trainer
    device = resolve_device(t.device)
    if t.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(NO_TENSORBOARD)
    if t.precision == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision 'fp16' needs a CUDA GPU (its grad scaler is CUDA-only); use bf16 on CPU")
    ddp = distributed.setup(device.type)
    if device.type == "cuda" and ddp.enabled:
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    if t.batch_size % ddp.world_size:
        raise ConfigError(f"trainer.batch_size {t.batch_size} (the global batch) must divide evenly among "
                          f"{ddp.world_size} processes")
    set_threads(device, t.threads)
    set_cudnn_benchmark(device, t.cudnn_benchmark)
    if device.type == "cpu":
        keep_freed_memory()
    precision = run_precision(device, t.precision)
    if precision != t.precision and ddp.is_main:
        tqdm.write(f"milestones: trainer.precision {t.precision} runs as {precision}: this CPU has no native bf16 "
                   f"(emulated bf16 is ~20x slower here, and has no LSTM)")
    with open_run_folder(cfg.run_dir, resume=resume, overwrite=overwrite, main=ddp.is_main) as ckpt_path:
        return _train_and_test(cfg, device, precision, ddp, ckpt_path, resume=resume, overwrite=overwrite,
                               command=command)


def _train_and_test(cfg: Config, device: torch.device, precision: str, ddp: distributed.Dist, ckpt_path: Path, *,
                    resume: bool, overwrite: bool, command: Optional[str]) -> dict[str, Any]:
    """fit's epochs and final test, inside the run folder it holds."""
    t, run_dir = cfg.trainer, cfg.run_dir
    seed_everything(cfg.seed)  # the same seed on every rank: same initial weights, same data order
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, ddp)
    train_loader, eval_loader, test_loader = loaders.train, loaders.eval, loaders.test
    check_keep_best(cfg, test_loader)
    model, model_args = build_model(cfg, loaders.meta, device)
    task.check_model(model, loaders, cfg)
    if t.sync_bn and ddp.enabled:  # batch-norm statistics over the global batch (same parameters and buffers)
        model = distributed.sync_batchnorm(model, device.type)
    optimizer = build_optimizer(model, cfg)
    steps_per_epoch = len(train_loader) // t.accumulate  # optimizer steps
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    scaler = torch.amp.GradScaler(device.type) if t.precision == "fp16" else None

    start_epoch, history, best = 1, [], None  # best: {"epoch", "value", "model"} under trainer.keep_best
    if resume:
        ckpt = read_resume_checkpoint(ckpt_path, map_location=device, tidy=ddp.is_main)
        check_resumable(ckpt, cfg, ckpt_path)
        done, history = restore_training_state(ckpt, ckpt_path, model=model, optimizer=optimizer,
                                               scheduler=scheduler, scaler=scaler)
        start_epoch, best = done + 1, ckpt.get("best")
        if ddp.is_main:
            tqdm.write(f"resuming {run_dir} after epoch {done}")
    if ddp.is_main:
        start_logs(run_dir, cfg, history)
    writer = tensorboard_writer(run_dir) if t.tensorboard and ddp.is_main else None

    # What runs the batches: DDP wraps the model (averaging gradients), torch.compile wraps that.
    # `model` itself stays the plain module whose state_dict the checkpoints hold.
    runner: nn.Module = model
    if ddp.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        runner = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if t.compile:
        runner = compile_model(runner, t.compile_mode)

    eval_name = "val" if test_loader is not None else "test"
    replace_old_run = overwrite and not resume  # --overwrite: its first save must not keep the old run as .prev
    eval_fn = task.eval_step_for(cfg, loaders.meta)
    last_epoch = t.stop_epoch or t.epochs
    for epoch in range(start_epoch, last_epoch + 1):
        train_loader.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        tr = train_one_epoch(runner, train_loader, optimizer, scheduler, step_fn=task.step, device=device,
                             precision=precision, scaler=scaler, label_smoothing=t.label_smoothing,
                             grad_clip=t.grad_clip, first_step=(epoch - 1) * steps_per_epoch,
                             desc=f"epoch {epoch}/{t.epochs}", progress=t.progress and ddp.is_main,
                             accumulate=t.accumulate, writer=writer)
        row = {"epoch": epoch, "train_loss": tr["loss"], "train_acc": tr["acc"]}
        ev, ev_diagnostics = None, {}
        if evaluated(epoch, t.eval_every, last_epoch):  # skipped epochs have no eval keys in their row
            ev = evaluate(runner, eval_loader, step_fn=eval_fn, device=device, precision=precision)
            if not math.isfinite(ev["loss"]):  # the last update of the epoch broke the weights: do not save them
                raise DivergenceError(f"{eval_name} loss became {ev['loss']} after epoch {epoch} (step "
                                      f"{epoch * len(train_loader)}); the last good checkpoint is kept; lower "
                                      f"optim.lr or set trainer.grad_clip")
            ev_diagnostics = diagnose(task, runner, eval_loader, device=device, precision=precision)
            row.update({f"{eval_name}_loss": ev["loss"], f"{eval_name}_acc": ev["acc"]})
            if "acc5" in ev:
                row[f"{eval_name}_acc5"] = ev["acc5"]
            row.update({f"{eval_name}_loss_{name}": loss for name, loss in ev_diagnostics.items()})
            best = kept_best(t.keep_best, best, ev, epoch, model)
        row.update({"lr": lr, "samples_per_s": tr["samples_per_s"], "seconds": tr["seconds"]})
        history.append(row)
        if ddp.is_main:
            if t.checkpoint:
                save_training_state(ckpt_path, model=model, model_args=model_args, optimizer=optimizer,
                                    scheduler=scheduler, scaler=scaler, epoch=epoch, history=history, cfg=cfg,
                                    data_meta=loaders.meta, keep_previous=not replace_old_run, best=best)
                if replace_old_run:  # the old run's files stay until the new run has a checkpoint of its own
                    previous_checkpoint(ckpt_path).unlink(missing_ok=True)
                    replace_old_run = False
            log_epoch(run_dir, row)
            if writer is not None:
                for key, value in row.items():
                    if key != "epoch" and isinstance(value, (int, float)):
                        writer.add_scalar(f"epoch/{key}", value, epoch)
                writer.flush()
            shown_ev = f"{eval_name} loss {ev['loss']:.4f} acc {100 * ev['acc']:.2f}%  " if ev else ""
            tqdm.write(f"epoch {epoch:3d}/{t.epochs}  train loss {tr['loss']:.4f} acc {100 * tr['acc']:.2f}%  "
                       f"{shown_ev}lr {lr:.3g}  {tr['samples_per_s']:.0f}/s  {tr['seconds']:.1f}s")
        distributed.barrier()  # no rank runs ahead of the checkpoint

    if best is not None:  # test the kept epoch's weights (the last epoch's stay in the checkpoint, for resume)
        model.load_state_dict(best["model"])
        if ddp.is_main:
            tqdm.write(f"testing the weights of epoch {best['epoch']}: the best {t.keep_best} "
                       f"({best['value']:.4f})")
    if test_loader is None and start_epoch <= last_epoch:
        final, diagnostics = ev, ev_diagnostics  # the last epoch was just evaluated on the test split: not twice
    else:
        final = evaluate(runner, test_loader or eval_loader, step_fn=eval_fn, device=device, precision=precision)
        diagnostics = diagnose(task, runner, test_loader or eval_loader, device=device, precision=precision)
    results = run_results(cfg, model, history, final, diagnostics, best, device=device, precision=precision,
                          processes=ddp.world_size, command=command)
    extra = task.report(model, loaders, final, cfg) if ddp.is_main and task.report is not None else {}
    results.update(extra)
    if ddp.is_main:
        write_results(run_dir, results)
        shown = "".join(f"  {k} {v:.2f}" for k, v in extra.items() if isinstance(v, float))  # e.g. test_bleu
        tqdm.write(f"test acc {100 * final['acc']:.2f}%{shown}  ({results['train_seconds']:.0f} s of training)  "
                   f"-> {run_dir}")
    return results


def check_keep_best(cfg: Config, test_loader: Any) -> None:
    """`trainer.keep_best` chooses an epoch on the validation split: refuse it where there is none."""
    if cfg.trainer.keep_best and test_loader is None:
        raise ConfigError(f"trainer.keep_best: {cfg.data.name} has no validation split here to choose an epoch on "
                          f"(choosing on the test set would overstate the result)")


def evaluated(epoch: int, eval_every: int, last_epoch: int) -> bool:
    """Whether epoch `epoch` ends with an evaluation (`trainer.eval_every`; the last epoch always does)."""
    return epoch % eval_every == 0 or epoch == last_epoch


def kept_best(keep_best: Optional[str], best: Optional[dict], ev: dict, epoch: int,
              model: nn.Module) -> Optional[dict]:
    """`trainer.keep_best`: {"epoch", "value", "model"} of the best evaluation so far, this epoch's if it is better
    (lower val_loss, higher val_acc); None without keep_best."""
    if not keep_best:
        return best
    value = ev["loss"] if keep_best == "val_loss" else ev["acc"]
    if best is None or (value < best["value"] if keep_best == "val_loss" else value > best["value"]):
        return {"epoch": epoch, "value": value, "model": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    return best


def run_results(cfg: Config, model: nn.Module, history: list[dict], final: dict, diagnostics: dict,
                best: Optional[dict], *, device: torch.device, precision: str, processes: int,
                command: Optional[str]) -> dict[str, Any]:
    """A finished run's results.json before the task's report: what was run, where, and its test numbers."""
    return {
        "name": cfg.name, "model": cfg.model.name, "data": cfg.data.name, "epochs": len(history),
        "schedule_epochs": cfg.trainer.epochs, "seed": cfg.seed,
        "test_loss": final["loss"], "test_acc": final["acc"], "params": count_parameters(model),
        **({"test_acc5": final["acc5"]} if "acc5" in final else {}),
        "train_seconds": sum(h["seconds"] for h in history), "hardware": hardware(device),
        "processes": processes, "precision": precision, "torch": str(torch.__version__),
        "config_hash": cfg.hash(), "command": command,
        **({"kept_epoch": best["epoch"], "kept_by": cfg.trainer.keep_best} if best is not None else {}),
        **{f"test_loss_{name}": loss for name, loss in diagnostics.items()},
    }


def evaluate_checkpoint(cfg: Config, path: str | Path) -> dict[str, Any]:
    """Test loss and accuracy of a checkpoint on the test split of `cfg`'s data set (translation: BLEU too)."""
    device = resolve_device(cfg.trainer.device)
    ckpt = read_checkpoint(path, map_location=device)
    if model_name(ckpt) != cfg.model.name:
        raise CheckpointError(f"{path}: holds a '{model_name(ckpt)}' model, the config asks for "
                              f"'{cfg.model.name}'")
    check_arrangement(ckpt, path)
    return evaluate_model(cfg, final_weights(ckpt), data_meta(ckpt), str(path))


def evaluate_model(cfg: Config, state: dict[str, torch.Tensor], meta: dict, where: str) -> dict[str, Any]:
    """Test numbers of the weights `state` (trained on data described by `meta`) on `cfg`'s data's test split:
    the headline, the diagnostics and the task's report (BLEU). `where` names the weights in error messages."""
    device = resolve_device(cfg.trainer.device)
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, distributed.Dist())
    if task.check_meta is not None:
        task.check_meta(meta, loaders.meta, where)
    model, _ = build_model(cfg, loaders.meta, device)
    load_state(model, {"model": state}, where)
    eval_fn, precision = task.eval_step_for(cfg, loaders.meta), run_precision(device, cfg.trainer.precision)
    final = evaluate(model, loaders.test or loaders.eval, step_fn=eval_fn, device=device, precision=precision)
    diagnostics = diagnose(task, model, loaders.test or loaders.eval, device=device, precision=precision)
    return {**final, **{f"test_loss_{name}": loss for name, loss in diagnostics.items()},
            **(task.report(model, loaders, final, cfg) if task.report else {})}
