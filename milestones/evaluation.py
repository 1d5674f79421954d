"""Evaluation: a model's loss and accuracy on a loader, the task's diagnostics, and what a run's evaluations
decide (which epochs are evaluated, the kept best epoch, the test numbers of results.json); and the test numbers
of saved weights (`milestones eval`, the zoo). The training loop that calls these is train.py's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import torch
from torch import nn

from . import distributed
from .checkpoint import check_arrangement, data_meta, final_weights, load_state, model_name, read_checkpoint
from .config import Config
from .errors import CheckpointError, ConfigError
from .models import count_parameters
from .runtime import autocast, hardware, resolve_device, run_precision, threads_used
from .tasks import TASKS, StepFn, Task, build_model


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


def test_numbers(final: dict) -> dict[str, float]:
    """evaluate()'s numbers on the test split, spelled as results.json, the zoo and the CLI spell them (the tasks'
    headline keys: test_acc, ...)."""
    return {"test_loss": final["loss"], "test_acc": final["acc"],
            **({"test_acc5": final["acc5"]} if "acc5" in final else {})}


def run_results(cfg: Config, model: nn.Module, history: list[dict], final: dict, diagnostics: dict,
                best: Optional[dict], *, device: torch.device, precision: str, processes: int,
                command: Optional[str]) -> dict[str, Any]:
    """A finished run's results.json before the task's report: what was run, where, and its test numbers."""
    return {
        "name": cfg.name, "model": cfg.model.name, "data": cfg.data.name, "epochs": len(history),
        "schedule_epochs": cfg.trainer.epochs, "seed": cfg.seed,
        **test_numbers(final), "params": count_parameters(model),
        "train_seconds": sum(h["seconds"] for h in history), "hardware": hardware(device), **threads_used(history),
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
    saved = ckpt.get("config")
    data = saved.get("data") if isinstance(saved, dict) else None
    trained_on = data.get("name") if isinstance(data, dict) else None
    if trained_on is not None and trained_on != cfg.data.name:
        raise CheckpointError(f"{path}: trained on {trained_on}, the config evaluates on {cfg.data.name}; evaluate "
                              f"it with the config it was trained with (its run folder's config.yaml)")
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
    return {**test_numbers(final), **{f"test_loss_{name}": loss for name, loss in diagnostics.items()},
            **(task.report(model, loaders, final, cfg) if task.report else {})}
