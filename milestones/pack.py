"""Several CIFAR ResNet runs trained at once as one packed net (models/packed.py), to fill a GPU (issue #18).

    fit_packed(cfgs)    N configs that differ only in seed, run name and plain/residual -> N ordinary run folders

A ResNet-20 step at batch 128 leaves a large GPU idle (kernel launches and Python bound it, not arithmetic), and
He et al.'s Table 6 is a sweep of small nets: plain and residual, several depths, several seeds. Packing N nets of
one depth into one net of grouped convolutions runs N steps for the launches of one.

Each model trains exactly as `fit` would train it alone, up to floating-point summation order:
- its own initialisation and data: `seed_everything(seed_i)` before building its loaders and its model, as `fit`
  does; every epoch's order and augmentation come from its loader's generators, seeded by (seed_i, epoch);
- its own gradient: the loss is the sum of the N models' own mean losses, and the models share no parameter;
- its own update: SGD (momentum, weight decay) and AdamW act elementwise, and every model has the same lr schedule.
tests/test_pack.py trains nets packed and alone and compares the weights.

After every epoch the packed weights, BN statistics and optimizer state are split back into N lone models and
optimizers (PackedResNet.split), which are evaluated and saved with the trainer's own functions: each run folder
holds the checkpoint, metrics.jsonl and results.json a lone run would (plus `packed_with` in results.json), so
`milestones compare` ranks them with every other run and `milestones train CONFIG --resume` continues any of them
alone. A net whose loss becomes NaN or infinite stops as a lone run would (its last good checkpoint kept, no
results.json) while the others go on, re-packed without it from the next epoch; fit_packed then raises
DivergenceError naming it, after the others have finished. (Until the epoch ends it stays in the pack: grouped
convolutions, per-channel batch norm and per-model classifiers keep its NaNs out of the other nets.)
Not packable (one line, ConfigError): other models or depths, any other config difference,
trainer.grad_clip (a global gradient norm would couple the models), accumulate, fp16's loss scaler, mixed
batches (mixup / CutMix), torchrun.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .checkpoint import (check_resumable, flat_keys, log_epoch, open_run_folder, previous_checkpoint,
                         read_resume_checkpoint, restore_training_state, save_training_state, start_logs,
                         write_results)
from .config import Config, ModelConfig
from .errors import CheckpointError, ConfigError, DivergenceError
from .models.packed import PackedResNet
from .optim import build_optimizer, build_scheduler
from .runtime import (autocast, compile_model, keep_freed_memory, loss_precision, resolve_device, run_precision,
                      seed_everything, set_cudnn_benchmark, set_threads)
from .tasks import TASKS, build_model
from .train import LOG_EVERY, check_keep_best, evaluate, evaluated, kept_best, run_results

# the CIFAR nets of He et al. Sec. 4.2 and Fig. 6, and the arguments they may share (e.g. for 1-channel MNIST)
PACKABLE = {f"{kind}{depth}": depth for kind in ("resnet", "plain") for depth in (20, 32, 44, 56, 110)}
SHARED_ARGS = {"in_channels", "num_classes"}


@dataclasses.dataclass
class Lone:
    """One packed run as the trainer knows a lone run: its config, data, model, optimizer and schedule."""

    cfg: Config
    loaders: Any
    model: nn.Module
    args: dict
    optimizer: torch.optim.Optimizer
    scheduler: Any
    history: list[dict] = dataclasses.field(default_factory=list)
    best: Optional[dict] = None
    diverged: Optional[str] = None  # why it stopped, once its loss became NaN or infinite


def check_packable(cfgs: list[Config]) -> None:
    """Raise ConfigError, in one line, unless `cfgs` can train as one pack."""
    if not cfgs:
        raise ConfigError("nothing to pack: give at least one config")
    depths = set()
    for cfg in cfgs:
        if cfg.task != "classification" or cfg.model.name not in PACKABLE or set(cfg.model.args) - SHARED_ARGS:
            raise ConfigError(f"{cfg.name}: only the CIFAR ResNets and plain nets pack (resnet20 .. plain110; model "
                              f"arguments {', '.join(sorted(SHARED_ARGS))} only), got model '{cfg.model.name}' "
                              f"with {sorted(cfg.model.args)}")
        depths.add(PACKABLE[cfg.model.name])
    if len(depths) > 1:
        raise ConfigError(f"packed nets share one depth, got {sorted(depths)}: pack each depth on its own")
    dirs = [cfg.run_dir for cfg in cfgs]
    if len(set(dirs)) < len(dirs):
        raise ConfigError(f"two packed runs would write into one folder ({next(d for d in dirs if dirs.count(d) > 1)});"
                          f" give each its own name or seed")
    first = shared_config(cfgs[0])
    for cfg in cfgs[1:]:
        other = shared_config(cfg)
        for key in sorted(set(first) | set(other)):
            if first.get(key) != other.get(key):
                raise ConfigError(f"{cfg.name}: {key} is {other.get(key)!r}, {cfgs[0].name}'s is {first.get(key)!r}: "
                                  f"packed runs differ only in seed, name, output_dir and plain/residual model")
    t = cfgs[0].trainer
    if t.grad_clip is not None:
        raise ConfigError("trainer.grad_clip clips the global gradient norm, which would couple packed models: "
                          "unset it, or train alone")
    if t.accumulate != 1 or t.precision == "fp16" or t.sync_bn or cfgs[0].data.mixup or cfgs[0].data.cutmix:
        raise ConfigError("trainer.accumulate, fp16, sync_bn and data.mixup / cutmix do not pack: train alone")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("packed runs train in one process: start `milestones pack` without torchrun")


def shared_config(cfg: Config) -> dict:
    """What every run of a pack must share: the config but for seed, name, output folder and model name."""
    model = ModelConfig(args=cfg.model.args)
    return flat_keys(dataclasses.replace(cfg, seed=0, name="", output_dir="", model=model).to_dict())


def fit_packed(cfgs: list[Config], *, resume: bool = False, overwrite: bool = False,
               command: Optional[str] = None) -> list[dict[str, Any]]:
    """Train `cfgs` as one packed net; return each run's results (as `fit` returns one run's)."""
    check_packable(cfgs)
    t = cfgs[0].trainer
    device = resolve_device(t.device)
    set_threads(device, t.threads)
    set_cudnn_benchmark(device, t.cudnn_benchmark)
    if device.type == "cpu":
        keep_freed_memory()
    precision = run_precision(device, t.precision)
    with ExitStack() as stack:
        paths = [stack.enter_context(open_run_folder(cfg.run_dir, resume=resume, overwrite=overwrite))
                 for cfg in cfgs]
        return _train_and_test(cfgs, device, precision, paths, resume=resume, overwrite=overwrite, command=command)


def _train_and_test(cfgs: list[Config], device: torch.device, precision: str, paths: list[Path], *, resume: bool,
                    overwrite: bool, command: Optional[str]) -> list[dict[str, Any]]:
    task, t = TASKS["classification"], cfgs[0].trainer
    runs = []
    for cfg in cfgs:  # in the order `fit` builds them, from the run's own seed
        seed_everything(cfg.seed)
        loaders = task.build_data(cfg, device)
        model, args = build_model(cfg, loaders.meta, device)
        optimizer = build_optimizer(model, cfg)
        runs.append(Lone(cfg, loaders, model, args, optimizer, build_scheduler(optimizer, cfg, len(loaders.train))))
    task.check_model(runs[0].model, runs[0].loaders, cfgs[0])
    check_keep_best(cfgs[0], runs[0].loaders.test)
    start_epoch = 1
    if resume:
        done = set()
        for run, path in zip(runs, paths):
            ckpt = read_resume_checkpoint(path, map_location=device)
            check_resumable(ckpt, run.cfg, path)
            epoch, run.history = restore_training_state(ckpt, path, model=run.model, optimizer=run.optimizer,
                                                        scheduler=run.scheduler, scaler=None)
            run.best = ckpt.get("best")
            done.add(epoch)
        if len(done) > 1:
            raise CheckpointError(f"the packed runs stopped after different epochs ({sorted(done)}): resume each "
                                  f"alone (`milestones train CONFIG --resume`)")
        start_epoch = done.pop() + 1
    packed, optimizer, scheduler, runner = _pack(runs, device, join=resume)
    for run in runs:
        start_logs(run.cfg.run_dir, run.cfg, run.history)
    everyone, path_of = list(runs), {id(run): path for run, path in zip(runs, paths)}

    eval_fn = task.eval_step_for(cfgs[0], runs[0].loaders.meta)
    eval_name = "val" if runs[0].loaders.test is not None else "test"
    last_epoch = t.stop_epoch or t.epochs
    replace_old_runs = overwrite and not resume
    evs: list[dict] = []
    for epoch in range(start_epoch, last_epoch + 1):
        for run in runs:
            run.loaders.train.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        trs = train_packed_epoch(runner, [run.loaders.train for run in runs], optimizer, scheduler, device=device,
                                 precision=precision, label_smoothing=t.label_smoothing,
                                 desc=f"epoch {epoch}/{t.epochs} x{len(runs)}", progress=t.progress)
        _split_training_state(packed, optimizer, scheduler, runs)
        evs = []
        for run, tr in zip(runs, trs):
            path = path_of[id(run)]
            if not math.isfinite(tr["loss"]):
                _stop(run, f"its training loss became {tr['loss']} in epoch {epoch}", len(runs))
                continue
            row = {"epoch": epoch, "train_loss": tr["loss"], "train_acc": tr["acc"]}
            if evaluated(epoch, t.eval_every, last_epoch):  # as fit: skipped epochs have no eval keys in their row
                ev = evaluate(run.model, run.loaders.eval, step_fn=eval_fn, device=device, precision=precision)
                if not math.isfinite(ev["loss"]):
                    _stop(run, f"its {eval_name} loss became {ev['loss']} after epoch {epoch}", len(runs))
                    continue
                evs.append(ev)
                run.best = kept_best(t.keep_best, run.best, ev, epoch, run.model)
                row.update({f"{eval_name}_loss": ev["loss"], f"{eval_name}_acc": ev["acc"]})
            row.update({"lr": lr, "samples_per_s": tr["samples_per_s"], "seconds": tr["seconds"]})
            run.history.append(row)
            if t.checkpoint:
                save_training_state(path, model=run.model, model_args=run.args, optimizer=run.optimizer,
                                    scheduler=run.scheduler, scaler=None, epoch=epoch, history=run.history,
                                    cfg=run.cfg, data_meta=run.loaders.meta, keep_previous=not replace_old_runs,
                                    best=run.best)
                if replace_old_runs:  # as fit: the old run's files stay until the new run has a checkpoint
                    previous_checkpoint(path).unlink(missing_ok=True)
            log_epoch(run.cfg.run_dir, row)
        replace_old_runs = False
        accs = "  ".join(f"{100 * ev['acc']:.2f}%" for ev in evs)
        shown = f"{eval_name} acc {accs}  " if evs else ""
        tqdm.write(f"epoch {epoch:3d}/{t.epochs}  {len(runs)} packed nets, {shown}lr {lr:.3g}  "
                   f"{len(runs) * trs[0]['samples_per_s']:.0f}/s in all  {trs[0]['seconds']:.1f}s")
        if any(run.diverged for run in runs):
            runs = [run for run in runs if not run.diverged]
            if not runs:
                break
            packed, optimizer, scheduler, runner = _pack(runs, device, join=True)  # the rest, from their states

    results = []
    for i, run in enumerate(runs):
        if run.best is not None:
            run.model.load_state_dict(run.best["model"])
        if run.loaders.test is None and len(evs) == len(runs):
            final = evs[i]  # the last epoch was just evaluated on the test split
        else:
            final = evaluate(run.model, run.loaders.test or run.loaders.eval, step_fn=eval_fn, device=device,
                             precision=precision)
        r = run_results(run.cfg, run.model, run.history, final, {}, run.best, device=device, precision=precision,
                        processes=1, command=command)
        r["packed_with"] = [other.cfg.name for other in runs if other is not run]
        write_results(run.cfg.run_dir, r)
        results.append(r)
    if results:
        accs = "  ".join(f"{100 * r['test_acc']:.2f}%" for r in results)
        folders = ", ".join(str(run.cfg.run_dir) for run in runs)
        tqdm.write(f"test acc {accs}  ({results[0]['train_seconds']:.0f} s of training, {len(runs)} nets packed) -> "
                   f"{folders}")
    stopped = [run.diverged for run in everyone if run.diverged]
    if stopped:
        raise DivergenceError(f"{len(stopped)} of {len(everyone)} packed nets diverged ({'; '.join(stopped)}); "
                              f"their last good checkpoints are kept; lower optim.lr")
    return results


def _pack(runs: list[Lone], device: torch.device, *, join: bool) -> tuple[PackedResNet, Any, Any, nn.Module]:
    """The lone runs as one packed net with its optimizer and schedule (with `join`, their optimizer states and
    schedule position too), and the module that runs it (compiled under trainer.compile)."""
    cfg = runs[0].cfg
    packed = PackedResNet.pack([run.model for run in runs]).to(device)
    optimizer = build_optimizer(packed, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(runs[0].loaders.train))
    if join:
        _join_training_state(packed, optimizer, scheduler, runs)
    runner = compile_model(packed, cfg.trainer.compile_mode) if cfg.trainer.compile else packed  # `packed` is split
    return packed, optimizer, scheduler, runner


def _stop(run: Lone, why: str, packed: int) -> None:
    """A diverged net stops as a lone run would: no more checkpoints or logs; the last good checkpoint stays."""
    run.diverged = f"{run.cfg.name}: {why}"
    others = f"the other {packed - 1} go on" if packed > 1 else "none is left"
    tqdm.write(f"milestones: warning: {run.diverged}; it stops here (its last good checkpoint is kept), {others}")


def train_packed_epoch(packed: nn.Module, loaders: list, optimizer: torch.optim.Optimizer, scheduler: Any, *,
                       device: torch.device, precision: str = "fp32", label_smoothing: float = 0.0,
                       desc: str = "train", progress: bool = True) -> list[dict[str, float]]:
    """One pass over N loaders at once, batch k of each model stacked into one packed batch; the lr schedule steps
    per step. Returns each model's mean training loss and accuracy, its images/s and the epoch's seconds. A model
    whose loss becomes NaN or infinite trains on to the epoch's end (its own weights only) and reports that loss."""
    packed.train()
    n = len(loaders)
    loss_sum = torch.zeros(n, device=device, dtype=torch.float64)
    correct = torch.zeros(n, device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    bar = tqdm(zip(*loaders), desc=desc, disable=not progress, leave=False, dynamic_ncols=True, total=len(loaders[0]))
    for i, batches in enumerate(bar):
        x = torch.stack([b[0] for b in batches], 1)  # (B, N, C, H, W): model i's own batch in x[:, i]
        y = torch.stack([b[1] for b in batches], 1)  # (B, N)
        with autocast(device, precision):
            logits = packed(x)  # (B, N, classes)
        losses = F.cross_entropy(loss_precision(logits).permute(0, 2, 1), y, reduction="none",
                                 label_smoothing=label_smoothing).mean(0)  # (N,): each model's own mean loss
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # model i's weights get the gradient of losses[i] alone
        optimizer.step()
        scheduler.step()
        loss_sum += losses.detach().double() * len(y)
        correct += (logits.argmax(-1) == y).sum(0)
        seen += len(y)
        if progress and ((i + 1) % LOG_EVERY == 0 or i + 1 == len(loaders[0])):
            mean = loss_sum / seen  # the device sync happens here, not every step
            bar.set_postfix(loss=f"{mean.nanmean().item():.4f}",
                            rate=f"{n * seen / (time.perf_counter() - start):.0f}/s", refresh=False)
    seconds = time.perf_counter() - start
    return [{"loss": loss_sum[i].item() / seen, "acc": correct[i].item() / seen, "samples_per_s": seen / seconds,
             "seconds": seconds} for i in range(n)]


# --- moving the training state between the packed net and the lone runs -------------------------------------------

def _state_by_name(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, dict[str, torch.Tensor]]:
    """The optimizer's per-parameter state as {state key: {parameter name: tensor}} (e.g. momentum_buffer)."""
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, p in model.named_parameters():
        for key, value in optimizer.state.get(p, {}).items():
            out.setdefault(key, {})[name] = value
    return out


def _split_training_state(packed: PackedResNet, optimizer: torch.optim.Optimizer, scheduler: Any,
                          runs: list[Lone]) -> None:
    """Each lone run takes its share of the packed weights, BN statistics and optimizer state, and the schedule's
    position: what its own checkpoint must hold to evaluate, save and resume as a lone run."""
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
                         runs: list[Lone]) -> None:
    """The reverse, when packed runs resume: the lone optimizers' state and the schedule into the packed ones
    (the weights went in with PackedResNet.pack)."""
    per_run = [_state_by_name(run.model, run.optimizer) for run in runs]
    named = dict(packed.named_parameters())
    for key in per_run[0]:
        for name, value in packed.join([state[key] for state in per_run]).items():
            optimizer.state[named[name]][key] = value
    for group, lone_group in zip(optimizer.param_groups, runs[0].optimizer.param_groups):
        group["lr"] = lone_group["lr"]
    scheduler.load_state_dict(runs[0].scheduler.state_dict())
