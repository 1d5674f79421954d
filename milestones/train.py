"""The shared trainer: plain loops in the style of torchvision's references.

    fit(cfg)                      builds everything from a Config, then for each epoch:
      train_one_epoch(...)        one pass over the training batches, the lr schedule stepped per iteration
      evaluate(...)               loss and accuracy on the validation split (else the test split)
      save_checkpoint(...)        model, optimizer, scheduler, RNG states, epoch, history and config, atomically

What differs between tasks is a small `Task` in `TASKS`, chosen by `cfg.task`: a data builder, a step function
and a model/data check, plus for translation the model arguments only the data knows (vocabulary sizes) and
extra final numbers (BLEU). The tasks: classification (images), regression (the adding problem: MSE, correct =
absolute error below 0.04), seq2seq (translation: token-level cross-entropy, correct = target tokens right).

Run folder `<output_dir>/<name>/`: config.yaml (resolved), metrics.jsonl (one JSON line per epoch),
checkpoint.pt (after every epoch; the one before it as checkpoint.prev.pt), results.json (final test metrics, time, hardware).

Resume granularity is the epoch: `fit(cfg, resume=True)` restarts after the last completed epoch, whenever the
process died (SIGKILL mid-epoch included: the partial epoch is run again from its start). Each epoch's data order
and augmentation are seeded by (seed, epoch) and the RNG states of torch, numpy and Python, the optimizer, the
scheduler and the history are restored, so a resumed run ends bitwise equal to the uninterrupted one on CPU
(tests/test_reliability.py; scripts/fault_injection.py kills runs at random moments and checks this).

Checkpoints are crash-safe: written to a temporary file, fsynced, renamed; the one replaced is kept as
checkpoint.prev.pt, and a digest inside each is checked on loading, so a damaged checkpoint.pt is reported and
--resume falls back to the previous one. A NaN or inf loss stops the run (DivergenceError) before any save.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import math
import os
import platform
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from . import __version__, distributed
from .config import Config, ScheduleConfig, config_from_dict, save_config
from .data import BatchLoader, load_image_data, translate
from .data.synthetic import ADDING_CRITERION, ADDING_TEST_SIZE, ADDING_TRAIN_SIZE, AddingLoader
from .data.text import PAD, TranslationLoader, load_translation_data
from .errors import CheckpointError, ConfigError, DivergenceError
from .models import check_model_args, count_parameters, create_model

CHECKPOINT = "checkpoint.pt"
LOG_EVERY = 25  # steps between progress-bar refreshes (each one is a device sync)


# --- set-up helpers ------------------------------------------------------------------------------------------------

def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device is 'cuda' but no CUDA GPU is available (use 'auto' or 'cpu')")
    return torch.device(name)


def hardware(device: torch.device) -> str:
    """A short description of what ran: GPU name, or CPU model and thread count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for the next step instead of giving it back to the OS (Linux only).

    By default glibc serves large blocks (over a threshold between 128 KiB and 32 MiB that it adapts) with mmap
    and returns them with munmap, and trims the heap top above 128 KiB. A CPU training step frees and re-allocates
    the same few-MiB activations every time (one 32x32 ResNet-20 activation at batch 128 is 4 MiB in bf16), so
    each step page-faults them in afresh. Fixing the mmap threshold at its 32 MiB maximum and raising the trim
    threshold and top pad keeps those pages. Measured on 2 cores (RESULTS.md): whole ResNet-20 CPU runs spent
    about 0.17 s of system time an epoch instead of 2.2 s (4% of a 54 s epoch); a 100-step A/B gains under 1%
    (scripts/bench_malloc.py). PyTorch's CPU performance guide gets the same from jemalloc or tcmalloc via
    LD_PRELOAD; this needs nothing installed. Memory freed by training stays with the process until it exits.
    Returns False where it does not apply (not glibc).
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # <malloc.h>
    return all(libc.mallopt(option, value) == 1 for option, value in
               ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30), (M_TOP_PAD, 256 << 20)))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                               weight_decay=o.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)


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
    # A closure (not a lambda object with state) so the scheduler's state_dict is just its step counter.
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(cfg.schedule, step, total, steps_per_epoch))


@dataclass
class Loaders:
    """What a task's data builder returns."""

    train: Any  # iterable of batches with set_epoch(epoch) and len() = optimizer steps per epoch
    eval: Any  # evaluated after every epoch: the validation split, else the test split
    test: Optional[Any]  # evaluated once at the end; None when `eval` is already the test split
    meta: dict  # what a checkpoint must carry to use the model on its own (class names, vocabularies, ...)


def build_classification_data(cfg: Config, device: torch.device, ddp: distributed.Dist = distributed.Dist()) -> Loaders:
    """Image classification loaders for `cfg.data`.

    Under DDP each loader yields this rank's share of every global batch; the training loader drops a final
    partial batch so that the shares are equal and DDP's gradient average is the global batch's mean.
    """
    d, t = cfg.data, cfg.trainer
    data = load_image_data(d.name, root=d.root, cache_dir=d.cache_dir, download=d.download, val_size=d.val_size,
                           train_size=d.train_size, test_size=d.test_size, device=device)
    common = dict(mean=data.mean, std=data.std, channels_last=t.channels_last, rank=ddp.rank,
                  world_size=ddp.world_size)
    train = BatchLoader(data.train_x, data.train_y, batch_size=t.batch_size, shuffle=True, seed=cfg.seed,
                        crop_padding=d.crop_padding, flip=d.flip, alternate_flip=d.alternate_flip,
                        drop_last=ddp.enabled, **common)
    test = BatchLoader(data.test_x, data.test_y, batch_size=t.eval_batch_size, **common)
    meta = {"classes": data.classes, "mean": list(data.mean), "std": list(data.std)}
    if data.val_x is None:
        return Loaders(train, test, None, meta)
    val = BatchLoader(data.val_x, data.val_y, batch_size=t.eval_batch_size, **common)
    return Loaders(train, val, test, meta)


# --- the task's step: what one batch contributes -------------------------------------------------------------------

@dataclass
class StepOut:
    loss: torch.Tensor  # mean loss of the batch (the one to back-propagate)
    correct: torch.Tensor  # number of correct predictions (0-dim tensor; left on the device)
    count: int  # samples in the batch


def classification_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], label_smoothing: float = 0.0) -> StepOut:
    x, y = batch
    logits = model(x)  # (B, num_classes)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    correct = (logits.argmax(-1) == y).sum()
    return StepOut(loss, correct, len(y))


def tta_classification_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                             label_smoothing: float = 0.0, *, flip: bool = False, shift: int = 0,
                             fill: Optional[torch.Tensor] = None) -> StepOut:
    """Evaluation with test-time augmentation: the mean logits over views of each image. `flip`
    (`trainer.test_flip`): the image and its mirror (airbench's evaluation, Jordan 2024, arXiv:2404.00498).
    `shift` (`trainer.test_shift`): also those views moved diagonally by +shift and -shift pixels, borders filled
    with `fill` (C,), the normalised black that the training crops pad with; airbench moves by 1 pixel with
    reflected borders, and we measured black borders better here (RESULTS.md)."""
    def views(x: torch.Tensor) -> torch.Tensor:
        xs = [x] if not shift else [x, translate(x, shift, shift, fill), translate(x, -shift, -shift, fill)]
        if flip:
            xs += [v.flip(3) for v in xs]
        return torch.stack([model(v) for v in xs]).mean(0)  # (views, B, num_classes) -> (B, num_classes)

    return classification_step(views, batch, label_smoothing)


def check_classifier(model: nn.Module, loaders: Loaders, cfg: Config) -> None:
    """One forward pass on a real batch before training, so a model/data mismatch is a one-line config error."""
    x, _ = next(iter(loaders.eval))
    num_classes = len(loaders.meta["classes"])
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2])
    except (RuntimeError, ValueError) as e:
        raise ConfigError(f"model '{cfg.model.name}' cannot take {cfg.data.name} images of shape "
                          f"{tuple(x.shape[1:])}: {str(e).splitlines()[0]}") from None
    finally:
        model.train(was_training)
    if out.shape[-1] != num_classes:
        raise ConfigError(f"model '{cfg.model.name}' has {out.shape[-1]} outputs but {cfg.data.name} has "
                          f"{num_classes} classes (set model.num_classes)")


# --- regression: the adding problem (Hochreiter & Schmidhuber 1997, Sec. 5.4; milestones/data/synthetic.py) -------

def build_adding_data(cfg: Config, device: torch.device, ddp: distributed.Dist = distributed.Dist()) -> Loaders:
    """Fresh training sequences every epoch, seeded by (seed, epoch); a fixed test set from its own seed."""
    d, t = cfg.data, cfg.trainer
    common = dict(seq_len=d.seq_len, device=device, rank=ddp.rank, world_size=ddp.world_size)
    train = AddingLoader(num_sequences=d.train_size or ADDING_TRAIN_SIZE, batch_size=t.batch_size, seed=cfg.seed,
                         drop_last=ddp.enabled, **common)
    test = AddingLoader(num_sequences=d.test_size or ADDING_TEST_SIZE, batch_size=t.eval_batch_size,
                        seed=999_983, fixed=True, **common)  # the same test sequences whatever the run's seed
    return Loaders(train, test, None, {"task": "regression", "data": "adding", "seq_len": d.seq_len,
                                       "criterion": ADDING_CRITERION})


def regression_step(model: nn.Module, batch: tuple, label_smoothing: float = 0.0) -> StepOut:
    x, lengths, y = batch
    pred = model(x, lengths)  # (B,)
    loss = F.mse_loss(pred.float(), y)
    correct = ((pred.float() - y).abs() < ADDING_CRITERION).sum()  # the paper's "processed correctly"
    return StepOut(loss, correct, len(y))


def check_regressor(model: nn.Module, loaders: Loaders, cfg: Config) -> None:
    x, lengths, _ = next(iter(loaders.eval))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2], lengths[:2])
    except (RuntimeError, ValueError, TypeError) as e:
        raise ConfigError(f"model '{cfg.model.name}' cannot read {cfg.data.name} sequences of shape "
                          f"{tuple(x.shape[1:])}: {str(e).splitlines()[0]}") from None
    finally:
        model.train(was_training)
    if out.shape != (2,):
        raise ConfigError(f"model '{cfg.model.name}' gives outputs of shape {tuple(out.shape)} for 2 sequences; "
                          f"the adding problem needs one number per sequence")


# --- seq2seq: translation (milestones/data/text.py, milestones/translate.py) -------------------------------------

def build_translation_data(cfg: Config, device: torch.device, ddp: distributed.Dist = distributed.Dist()) -> Loaders:
    """Length-bucketed translation batches; meta holds the vocabularies (and so every checkpoint does)."""
    d, t = cfg.data, cfg.trainer
    data = load_translation_data(d.name, root=d.root, min_freq=d.min_freq, max_len=d.max_len,
                                 train_size=d.train_size, test_size=d.test_size)
    common = dict(device=device, rank=ddp.rank, world_size=ddp.world_size)
    train = TranslationLoader(data.train, batch_size=t.batch_size, shuffle=True, seed=cfg.seed,
                              drop_last=ddp.enabled, **common)
    val = TranslationLoader(data.val, batch_size=t.eval_batch_size, **common)
    test = TranslationLoader(data.test, batch_size=t.eval_batch_size, **common)
    return Loaders(train, val, test, data.meta)


def translation_model_args(meta: dict) -> dict:
    """What a translator needs from the data: the sizes of the vocabularies built from the training text."""
    return {"src_vocab_size": len(meta["src_vocab"]), "tgt_vocab_size": len(meta["tgt_vocab"])}


def seq2seq_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], label_smoothing: float = 0.0) -> StepOut:
    """Teacher forcing: predict tgt[1:] from tgt[:-1]; loss and accuracy over real target tokens only.

    Under DDP each rank's loss is its own tokens' mean and DDP averages the ranks: the global batch's token mean
    up to how evenly the (length-bucketed) shares split the tokens.
    """
    src, tgt = batch
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # (B, T): <bos> y_1 .. y_n, and y_1 .. y_n <eos>
    logits, _ = model(src, tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten(), ignore_index=PAD,
                           label_smoothing=label_smoothing)
    real = tgt_out != PAD  # (B, T)
    correct = ((logits.argmax(-1) == tgt_out) & real).sum()
    return StepOut(loss, correct, int(real.sum()))


def check_translator(model: nn.Module, loaders: Loaders, cfg: Config) -> None:
    name = cfg.model.name
    for side, words in (("src", "source"), ("tgt", "target")):
        have, need = getattr(model, f"{side}_vocab_size", None), len(loaders.meta[f"{side}_vocab"])
        if have is None:
            raise ConfigError(f"model '{name}' is not a translation model (task seq2seq needs seq2seq, rnnsearch "
                              f"or transformer)")
        if have != need:
            raise ConfigError(f"model.{side}_vocab_size is {have} but the {words} vocabulary of {cfg.data.name} "
                              f"has {need} tokens (leave it out of the config: the trainer takes it from the data)")
    src, tgt = next(iter(loaders.eval))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(src[:2], tgt[:2, :-1])
    except (RuntimeError, ValueError, IndexError) as e:
        raise ConfigError(f"model '{name}' cannot translate {cfg.data.name}: {str(e).splitlines()[0]}") from None
    finally:
        model.train(was_training)


def translation_report(model: nn.Module, loaders: Loaders, final: dict, cfg: Config) -> dict:
    from .translate import translation_report as report  # late import: sacrebleu is only needed here

    return report(model, loaders, final, beam=cfg.trainer.beam)


StepFn = Callable[..., StepOut]


def no_model_args(meta: dict) -> dict:
    return {}


@dataclass(frozen=True)
class Task:
    """The pieces of training that differ between kinds of problem; everything else is shared."""

    build_data: Callable[[Config, torch.device, distributed.Dist], Loaders]
    step: StepFn  # (model, batch, label_smoothing=0.0) -> StepOut
    check_model: Callable[[nn.Module, Loaders, Config], None]  # raise ConfigError if model and data do not fit
    model_args: Callable[[dict], dict] = no_model_args  # loaders.meta -> model arguments only the data knows
    report: Optional[Callable[[nn.Module, Loaders, dict, Config], dict]] = None  # extra final test numbers (BLEU)


TASKS: dict[str, Task] = {
    "classification": Task(build_classification_data, classification_step, check_classifier),
    "regression": Task(build_adding_data, regression_step, check_regressor),
    "seq2seq": Task(build_translation_data, seq2seq_step, check_translator, translation_model_args,
                    translation_report),
}


def model_arguments(cfg: Config, task: Task, meta: dict) -> dict:
    """The model's keyword arguments: the config's, completed by what only the data knows.

    A translator's vocabulary sizes are known once the vocabularies are built from the training text, so no
    config states them: `task.model_args(meta)` gives them (meta is loaders.meta in training, the checkpoint's
    data_meta when a checkpoint is loaded, so both build the same model). A value the config does give wins,
    and the task's check_model reports it if it does not fit the data. A model that takes no such argument (a
    wrong model for the task) is built as configured, and check_model says what is wrong.
    """
    try:
        from_data = check_model_args(cfg.model.name, task.model_args(meta))
    except (KeyError, TypeError):
        from_data = {}
    return {**from_data, **cfg.model.args}


def eval_step(cfg: Config, task: Task, meta: dict) -> StepFn:
    """The step that evaluation runs: the task's own, or with `trainer.test_flip` / `test_shift` its
    test-time-augmented version."""
    t = cfg.trainer
    if not (t.test_flip or t.test_shift):
        return task.step
    black = -torch.tensor(meta["mean"]) / torch.tensor(meta["std"])  # (C,) what 0/255 becomes after normalising
    return functools.partial(tta_classification_step, flip=t.test_flip, shift=t.test_shift, fill=black)


# --- the loops -----------------------------------------------------------------------------------------------------

def autocast(device: torch.device, precision: str):
    """bf16 or fp16 autocast (Micikevicius et al. 2017, arXiv:1710.03740); a no-op context for fp32."""
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32")


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
) -> dict[str, float]:
    """One pass over `loader`; the lr schedule steps per iteration. Metrics are summed over all DDP ranks."""
    model.train()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    seen, start = 0, time.perf_counter()
    bar = tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True)
    for i, batch in enumerate(bar):
        with autocast(device, precision):
            out = step_fn(model, batch, label_smoothing=label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:  # fp16: scale the loss so small gradients survive, unscale before clipping
            scaler.scale(out.loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            out.loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        scheduler.step()
        loss_sum += out.loss.detach() * out.count
        correct += out.correct
        seen += out.count
        if (i + 1) % LOG_EVERY == 0 or i + 1 == len(loader):
            mean_loss = loss_sum.item() / seen  # the device sync happens here, not every step
            if not math.isfinite(mean_loss):
                step = first_step + i + 1
                raise DivergenceError(f"loss became {mean_loss} by step {step} (checked every {LOG_EVERY} steps); "
                                      f"the last good checkpoint is kept; lower optim.lr or set trainer.grad_clip")
            bar.set_postfix(loss=f"{mean_loss:.4f}", acc=f"{100 * correct.item() / seen:.2f}%",
                            rate=f"{seen / (time.perf_counter() - start):.0f}/s", refresh=False)
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
    totals = torch.zeros(3, device=device, dtype=torch.float64)  # loss sum, correct, seen
    for batch in loader:
        with autocast(device, precision):
            out = step_fn(model, batch)
        totals += torch.stack([out.loss.double() * out.count, out.correct.double(),
                               torch.tensor(out.count, device=device, dtype=torch.float64)])
    distributed.all_reduce_sum(totals)
    loss_sum, correct, seen = totals.tolist()
    return {"loss": loss_sum / seen, "acc": correct / seen}


# --- checkpoints ---------------------------------------------------------------------------------------------------

def _digest(obj: Any, h: Optional[Any] = None) -> str:
    """SHA-256 over everything a checkpoint holds (tensor bytes, numbers, strings, in order), so that a flipped or
    zeroed byte anywhere is caught on loading: torch.load itself checks no sums and would load such a file."""
    top = h is None
    h = h or hashlib.sha256()
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        h.update(b"{")
        for k, v in obj.items():
            if k != "digest":
                h.update(repr(k).encode())
                _digest(v, h)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[")
        for v in obj:
            _digest(v, h)
        h.update(b"]")
    else:
        h.update(repr(obj).encode())
    return h.hexdigest() if top else ""


def previous_checkpoint(path: str | Path) -> Path:
    """Where save_checkpoint keeps the checkpoint it replaced: checkpoint.pt -> checkpoint.prev.pt."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(state: dict, path: str | Path, *, keep_previous: bool = False) -> None:
    """Crash-safe write: to a temporary file in the same folder, flushed and fsynced, then renamed over `path`.

    A reader sees the old file or the new one, never half of one. With `keep_previous` the file being replaced is
    first renamed to checkpoint.prev.pt (only once the new one is complete on disk), so a checkpoint damaged later
    still leaves one good one behind. A digest of the contents is stored inside (see read_checkpoint).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save({**state, "digest": _digest(state)}, f)
            f.flush()
            os.fsync(f.fileno())
        if keep_previous and path.is_file():
            os.replace(path, previous_checkpoint(path))  # a crash right here leaves .prev and the temporary file
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync_dir(folder: Path) -> None:
    """Make the renames durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict:
    """Load a checkpoint safely and check it is whole.

    `torch.load(weights_only=True)` unpickles tensors and plain containers only: a file crafted to run code when
    unpickled is refused, and nothing in it runs. The stored digest is then recomputed, so a truncated, zeroed or
    bit-flipped file is reported as corrupt instead of training on damaged weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, wrong format, or a pickle asking for code
        text = str(e)
        code = re.search(r"GLOBAL ([\w.]+)", text)
        if code:  # the unpickler was asked to import something: a checkpoint holds tensors and containers only
            raise CheckpointError(f"{path}: refused: unpickling it would import and call {code.group(1)}, which a "
                                  f"checkpoint never needs (nothing was run)") from None
        if "PytorchStreamReader" in text or isinstance(e, EOFError):
            why = "truncated or damaged: its zip archive cannot be read"
        else:
            lines = [l.strip() for l in text.splitlines() if l.strip()] or [type(e).__name__]
            why = next((l for l in lines if l.startswith("WeightsUnpickler error")), lines[0])[:200]
        raise CheckpointError(f"{path}: not a loadable milestones checkpoint ({why})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not a milestones checkpoint (no model weights and config inside)")
    if "digest" in ckpt and ckpt["digest"] != _digest(ckpt):
        raise CheckpointError(f"{path}: corrupt checkpoint (its contents do not match the digest written with it)")
    return ckpt


def read_resume_checkpoint(path: Path, map_location: Any = "cpu", *, tidy: bool = True) -> dict:
    """The run's checkpoint; where it is missing or damaged, the one it replaced (checkpoint.prev.pt), with a message.

    With `tidy` (the main process) a damaged checkpoint.pt is renamed checkpoint.corrupt.pt, kept for inspection
    and out of the way of the next save.
    """
    prev = previous_checkpoint(path)
    try:
        return read_checkpoint(path, map_location)
    except CheckpointError as first:
        if not prev.is_file():
            raise
        try:
            ckpt = read_checkpoint(prev, map_location)
        except CheckpointError:
            raise CheckpointError(f"{first}; the previous one, {prev.name}, is unusable too") from None
        if tidy and path.is_file():
            os.replace(path, path.with_name(f"{path.stem}.corrupt{path.suffix}"))
        tqdm.write(f"milestones: {first}; resuming from the previous checkpoint {prev.name} (epoch {ckpt['epoch']})")
        return ckpt


def load_state(model: nn.Module, state: dict, path: str | Path) -> None:
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        lines = [l.strip() for l in str(e).splitlines() if l.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise CheckpointError(f"{path}: weights do not fit this model ({detail[:200]})") from None


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].copy()), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(s: dict) -> None:
    # A checkpoint read with map_location=cuda holds these tensors on the GPU; the RNG setters take CPU bytes.
    random.setstate((s["python"][0], tuple(s["python"][1]), s["python"][2]))
    np.random.set_state((s["numpy"][0], s["numpy"][1].cpu().numpy(), *s["numpy"][2:]))
    torch.set_rng_state(s["torch"].cpu())
    if s["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in s["cuda"]])


# Keys that may differ between a run and its resumption (where things live, how long, how it is shown).
RESUMABLE_CHANGES = {"name", "output_dir", "trainer.epochs", "trainer.stop_epoch", "trainer.progress",
                     "trainer.checkpoint", "trainer.eval_every", "trainer.beam", "trainer.device", "trainer.threads",
                     "data.root", "data.cache_dir", "data.download"}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "model":
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_resumable(saved: dict, cfg: Config, path: Path) -> None:
    a, b = _flatten(saved), _flatten(cfg.to_dict())
    diff = [k for k in sorted(set(a) | set(b)) if k not in RESUMABLE_CHANGES and a.get(k) != b.get(k)]
    if diff:
        k = diff[0]
        raise CheckpointError(f"{path}: made with a different config ({k}: {a.get(k)!r} there, {b.get(k)!r} now); "
                              f"resume with the same config or start a new run with --set name=...")


# --- fit -----------------------------------------------------------------------------------------------------------

def fit(cfg: Config, *, resume: bool = False, overwrite: bool = False, command: Optional[str] = None) -> dict[str, Any]:
    """Train `cfg` from scratch (or from its run folder's checkpoint with `resume=True`); return the final results.

    Started by torchrun, it trains with DistributedDataParallel (see milestones/distributed.py). `command` (the
    CLI line that started the run) is recorded in results.json beside the numbers. On CPU it first sets glibc's
    malloc to keep freed memory (`keep_freed_memory`), for the rest of the process.
    """
    t = cfg.trainer
    device = resolve_device(t.device)
    if t.precision == "fp16" and device.type != "cuda":
        raise ConfigError("trainer.precision 'fp16' needs a CUDA GPU (its grad scaler is CUDA-only); use bf16 on CPU")
    ddp = distributed.setup(device.type)
    if device.type == "cuda" and ddp.enabled:
        device = torch.device("cuda", ddp.local_rank)
        torch.cuda.set_device(device)
    if t.batch_size % ddp.world_size:
        raise ConfigError(f"trainer.batch_size {t.batch_size} (the global batch) must divide evenly among "
                          f"{ddp.world_size} processes")
    if t.threads and device.type == "cpu":
        torch.set_num_threads(t.threads)
    if device.type == "cpu":
        keep_freed_memory()
    run_dir = cfg.run_dir
    ckpt_path = run_dir / CHECKPOINT
    has_run = ckpt_path.is_file() or previous_checkpoint(ckpt_path).is_file()
    if resume and not has_run:
        raise CheckpointError(f"{ckpt_path}: nothing to resume (no checkpoint in the run folder)")
    if not resume and not overwrite and has_run:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, --overwrite to start it "
                          f"again, or --set name=<new name>")
    if ddp.is_main:
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / f".write_test{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise ConfigError(f"output folder {run_dir} is not writable ({e.strerror})") from None
        for stale in run_dir.glob(f".{CHECKPOINT}.tmp*"):  # left by a process killed while writing
            stale.unlink(missing_ok=True)

    seed_everything(cfg.seed)  # the same seed on every rank: same initial weights, same data order
    task = TASKS[cfg.task]
    step_fn = task.step
    loaders = task.build_data(cfg, device, ddp)
    train_loader, eval_loader, test_loader = loaders.train, loaders.eval, loaders.test
    model = create_model(cfg.model.name, **model_arguments(cfg, task, loaders.meta)).to(device)
    if t.channels_last:
        model = model.to(memory_format=torch.channels_last)
    task.check_model(model, loaders, cfg)
    optimizer = build_optimizer(model, cfg)
    scheduler = build_scheduler(optimizer, cfg, len(train_loader))
    scaler = torch.amp.GradScaler(device.type) if t.precision == "fp16" else None

    start_epoch, history = 1, []
    if resume:
        ckpt = read_resume_checkpoint(ckpt_path, map_location=device, tidy=ddp.is_main)
        _check_resumable(ckpt["config"], cfg, ckpt_path)
        load_state(model, ckpt["model"], ckpt_path)
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        _set_rng_state(ckpt["rng"])
        start_epoch, history = ckpt["epoch"] + 1, list(ckpt["history"])
        if ddp.is_main:
            tqdm.write(f"resuming {run_dir} after epoch {ckpt['epoch']}")
    if ddp.is_main:
        save_config(cfg, run_dir / "config.yaml")
        # metrics.jsonl is rewritten from the checkpoint's history, so it never holds epochs the checkpoint lacks
        with open(run_dir / "metrics.jsonl", "w") as f:
            f.writelines(json.dumps(h) + "\n" for h in history)

    # What runs the batches: DDP wraps the model (averaging gradients), torch.compile wraps that.
    # `model` itself stays the plain module whose state_dict the checkpoints hold.
    runner: nn.Module = model
    if ddp.enabled:
        runner = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if t.compile:
        runner = compile_model(runner)

    eval_name = "val" if test_loader is not None else "test"
    replace_old_run = overwrite and not resume  # --overwrite: its first save must not keep the old run as .prev
    eval_fn = eval_step(cfg, task, loaders.meta)
    last_epoch = t.stop_epoch or t.epochs
    for epoch in range(start_epoch, last_epoch + 1):
        train_loader.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        tr = train_one_epoch(runner, train_loader, optimizer, scheduler, step_fn=step_fn, device=device,
                             precision=t.precision, scaler=scaler, label_smoothing=t.label_smoothing,
                             grad_clip=t.grad_clip, first_step=(epoch - 1) * len(train_loader),
                             desc=f"epoch {epoch}/{t.epochs}", progress=t.progress and ddp.is_main)
        row = {"epoch": epoch, "train_loss": tr["loss"], "train_acc": tr["acc"]}
        ev = None
        if epoch % t.eval_every == 0 or epoch == last_epoch:  # skipped epochs have no eval keys in their row
            ev = evaluate(runner, eval_loader, step_fn=eval_fn, device=device, precision=t.precision)
            if not math.isfinite(ev["loss"]):  # the last update of the epoch broke the weights: do not save them
                raise DivergenceError(f"{eval_name} loss became {ev['loss']} after epoch {epoch} (step "
                                      f"{epoch * len(train_loader)}); the last good checkpoint is kept; lower "
                                      f"optim.lr or set trainer.grad_clip")
            row.update({f"{eval_name}_loss": ev["loss"], f"{eval_name}_acc": ev["acc"]})
        row.update({"lr": lr, "samples_per_s": tr["samples_per_s"], "seconds": tr["seconds"]})
        history.append(row)
        if ddp.is_main:
            if t.checkpoint:
                save_checkpoint({
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                    "epoch": epoch, "history": history, "rng": _rng_state(),
                    "config": cfg.to_dict(), "config_hash": cfg.hash(), "model_name": cfg.model.name,
                    "data_meta": loaders.meta, "milestones_version": __version__, "torch_version": str(torch.__version__),
                }, ckpt_path, keep_previous=not replace_old_run)
                if replace_old_run:  # the old run's files stay until the new run has a checkpoint of its own
                    previous_checkpoint(ckpt_path).unlink(missing_ok=True)
                    replace_old_run = False
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            shown_ev = f"{eval_name} loss {ev['loss']:.4f} acc {100 * ev['acc']:.2f}%  " if ev else ""
            tqdm.write(f"epoch {epoch:3d}/{t.epochs}  train loss {tr['loss']:.4f} acc {100 * tr['acc']:.2f}%  "
                       f"{shown_ev}lr {lr:.3g}  {tr['samples_per_s']:.0f}/s  {tr['seconds']:.1f}s")
        distributed.barrier()  # no rank runs ahead of the checkpoint

    if test_loader is None and start_epoch <= last_epoch:
        final = ev  # the last epoch was just evaluated on the test split: the same numbers, not computed twice
    else:
        final = evaluate(runner, test_loader or eval_loader, step_fn=eval_fn, device=device, precision=t.precision)
    results = {
        "name": cfg.name, "model": cfg.model.name, "data": cfg.data.name, "epochs": len(history),
        "schedule_epochs": t.epochs, "seed": cfg.seed,
        "test_loss": final["loss"], "test_acc": final["acc"], "params": count_parameters(model),
        "train_seconds": sum(h["seconds"] for h in history), "hardware": hardware(device),
        "processes": ddp.world_size, "torch": str(torch.__version__), "config_hash": cfg.hash(), "command": command,
    }
    extra = task.report(model, loaders, final, cfg) if ddp.is_main and task.report is not None else {}
    results.update(extra)
    if ddp.is_main:
        (run_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        shown = "".join(f"  {k} {v:.2f}" for k, v in extra.items() if isinstance(v, float))  # e.g. test_bleu
        tqdm.write(f"test acc {100 * final['acc']:.2f}%{shown}  ({results['train_seconds']:.0f} s of training)  "
                   f"-> {run_dir}")
    return results


def compile_model(model: nn.Module) -> nn.Module:
    """torch.compile with a clean fallback: where compiling is impossible the model runs eagerly, with a message."""
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # a graph that fails to compile runs eagerly instead of crashing
    try:
        return torch.compile(model)
    except Exception as e:  # e.g. a Python version or platform torch.compile does not support
        tqdm.write(f"milestones: torch.compile unavailable ({str(e).splitlines()[0][:120]}); running eagerly")
        return model


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> nn.Module:
    """Rebuild the model a checkpoint was trained as, load its weights, return it in eval mode."""
    ckpt = read_checkpoint(path, map_location)
    try:
        cfg = config_from_dict(ckpt["config"], where=str(path))
    except ConfigError as e:
        raise CheckpointError(f"{path}: its config no longer loads ({e})") from None
    meta = ckpt.get("data_meta") or {}
    model = create_model(cfg.model.name, **model_arguments(cfg, TASKS[cfg.task], meta))
    load_state(model, ckpt["model"], path)
    return model.eval()


def evaluate_checkpoint(cfg: Config, path: str | Path) -> dict[str, Any]:
    """Test loss and accuracy of a checkpoint on the test split of `cfg`'s data set (translation: BLEU too)."""
    device = resolve_device(cfg.trainer.device)
    ckpt = read_checkpoint(path, map_location=device)
    if ckpt.get("model_name") != cfg.model.name:
        raise CheckpointError(f"{path}: holds a '{ckpt.get('model_name')}' model, the config asks for "
                              f"'{cfg.model.name}'")
    task = TASKS[cfg.task]
    loaders = task.build_data(cfg, device, distributed.Dist())
    saved = ckpt.get("data_meta") or {}
    if cfg.task == "seq2seq" and any(saved.get(k) != loaders.meta[k] for k in ("src_vocab", "tgt_vocab")):
        raise CheckpointError(f"{path}: its vocabulary differs from the one this config builds (other data "
                              f"settings?); evaluate it with the config it was trained with")
    model = create_model(cfg.model.name, **model_arguments(cfg, task, loaders.meta)).to(device)
    load_state(model, ckpt["model"], path)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    eval_fn = eval_step(cfg, task, loaders.meta)
    final = evaluate(model, loaders.test or loaders.eval, step_fn=eval_fn, device=device,
                     precision=cfg.trainer.precision)
    return {**final, **(task.report(model, loaders, final, cfg) if task.report else {})}
