"""The checkpoint format: every key, written and read here and nowhere else (the run folder around it: runfolder.py).

A checkpoint is a dict saved with torch.save and read with torch.load(weights_only=True): model, optimizer,
scheduler and grad-scaler states, the RNG states of Python, numpy and torch, epoch and history, the config (as
a dict) and its hash, the model's name and constructor arguments, the data meta (class names, vocabularies: what
using the model on its own needs), versions, and a digest of all of it.

Checkpoints are crash-safe: written to a temporary file, fsynced, renamed; the one replaced is kept as
checkpoint.prev.pt, and the digest is checked on loading, so a damaged checkpoint.pt is reported and --resume
falls back to the previous one.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .config import NO_RESULT, RESUMABLE, Config, config_from_dict, marked_keys
from .errors import CheckpointError, ConfigError, mismatch_detail
from .models import MODELS, create_model
# The run folder around the checkpoint (milestones/runfolder.py); its names are imported here too, so that a
# module reading or writing runs finds the folder and the checkpoint in one place.
from .runfolder import (CHECKPOINT, CONFIG_FILE, METRICS_FILE, PREVIOUS_DIR, RESULTS_FILE,  # noqa: F401
                        config_digest, fsync_dir, has_checkpoint, log_epoch, open_run_folder, previous_checkpoint,
                        read_history, read_results, retire_run, start_logs, write_results)
from .tasks import model_arguments
from .version import __version__


# --- writing and reading, crash-safe and checked -------------------------------------------------------------------

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
        fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()



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


# --- the training state: one writer, one reader --------------------------------------------------------------------

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


def save_training_state(path: Path, *, model: nn.Module, model_args: dict, optimizer: torch.optim.Optimizer,
                        scheduler: Any, scaler: Optional[torch.amp.GradScaler], epoch: int, history: list[dict],
                        cfg: Config, data_meta: dict, best: Optional[dict] = None,
                        run_id: Optional[str] = None) -> None:
    """The checkpoint after `epoch`: everything `restore_training_state` and `load_checkpoint` read back; the one
    it replaces is kept as the previous checkpoint (a replaced run's files have moved aside whole before its first
    epoch: runfolder.retire_run). With `trainer.keep_best`, `best` = {"epoch", "value", "model"}: the best
    validation epoch's weights so far; `run_id`: the run's id (kept across resumes, recorded in results.json)."""
    save_checkpoint({
        "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
        "epoch": epoch, "history": history, "rng": _rng_state(),
        "config": cfg.to_dict(), "config_hash": cfg.hash(), "model_name": cfg.model.name, "model_args": model_args,
        "data_meta": data_meta, "milestones_version": __version__, "torch_version": str(torch.__version__),
        **({"best": best} if best is not None else {}), **({"run_id": run_id} if run_id is not None else {}),
    }, path, keep_previous=True)


def flat_keys(d: dict, prefix: str = "") -> dict:
    """A config dict as {"trainer.epochs": 8, ...} (the model's weights, under "model" in a checkpoint, kept whole)."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "model":
            out.update(flat_keys(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resumable(ckpt: dict, cfg: Config, path: Path) -> None:
    """A run continues only under the config it started with, up to the keys marked NO_RESULT or RESUMABLE."""
    check_arrangement(ckpt, path)
    a, b = flat_keys(ckpt["config"]), flat_keys(cfg.to_dict())
    free = marked_keys(NO_RESULT, RESUMABLE)
    diff = [k for k in sorted(set(a) | set(b)) if k not in free and a.get(k) != b.get(k)]
    if diff:
        k = diff[0]
        raise CheckpointError(f"{path}: made with a different config ({k}: {a.get(k)!r} there, {b.get(k)!r} now); "
                              f"resume with the same config or start a new run with --set name=...")


def restore_training_state(ckpt: dict, path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                           scheduler: Any, scaler: Optional[torch.amp.GradScaler]) -> tuple[int, list[dict]]:
    """Put the weights, optimizer, schedule, grad scaler and RNG states back; return (last epoch, history).
    (`ckpt.get("best")`, the kept best epoch, is the caller's to take back.)"""
    load_state(model, ckpt, path)
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if scaler is not None and ckpt.get("scaler"):
        scaler.load_state_dict(ckpt["scaler"])
    _set_rng_state(ckpt["rng"])
    return ckpt["epoch"], list(ckpt["history"])


# --- the model inside ----------------------------------------------------------------------------------------------

def data_meta(ckpt: dict) -> dict:
    """What the data told the model: class names and normalisation, or vocabularies and languages."""
    return ckpt.get("data_meta") or {}


RESNET_ARRANGEMENT = (0, 2, 0)  # from this version on, option-A shortcuts put their zero channels either side


def check_arrangement(ckpt: dict, path: str | Path) -> None:
    """A residual CIFAR ResNet saved before 0.2.0 had its option-A zero channels appended; its weights, loaded into
    today's arrangement, would load without complaint and compute something else: refuse them in one line."""
    name = model_name(ckpt) or ""
    args = ckpt.get("model_args") or (ckpt["config"].get("model", {}) if isinstance(ckpt.get("config"), dict) else {})
    info = MODELS.get(name)
    residual_cifar = info is not None and info.family == "cifar_resnet" and bool(info.residual_with(args))
    version = tuple(int(p) for p in str(ckpt.get("milestones_version", "0.1.0")).split(".")[:3] if p.isdigit())
    if residual_cifar and version < RESNET_ARRANGEMENT:
        raise CheckpointError(f"{path}: a {name} saved by milestones {ckpt.get('milestones_version', '0.1')}, whose "
                              f"option-A shortcuts appended their zero channels; since 0.2.0 they sit either side (as "
                              f"akamaster's), so these weights would compute something else: retrain it")


def final_weights(ckpt: dict) -> dict:
    """The weights a finished run stands for: the kept best validation epoch's (`trainer.keep_best`), else the
    last epoch's. (`ckpt["model"]` is always the last epoch's: resume continues from it.)"""
    return ckpt["best"]["model"] if ckpt.get("best") else ckpt["model"]


def model_name(ckpt: dict) -> Optional[str]:
    return ckpt.get("model_name")


def saved_task(ckpt: dict) -> Optional[str]:
    return ckpt["config"].get("task", "classification") if isinstance(ckpt["config"], dict) else None


def load_state(model: nn.Module, ckpt: dict, path: str | Path) -> None:
    """Load a checkpoint's weights into `model`, or say in one line why they do not fit."""
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit this model ({mismatch_detail(e)[:200]})") from None


def model_from_checkpoint(ckpt: dict, path: str | Path) -> nn.Module:
    """The model a checkpoint was trained as, with its weights, in eval mode.

    Checkpoints store the constructor's arguments, completed here by what the data says (classes, channels, image
    size, vocabularies: tasks.model_arguments), so that older ones, saved before the data gave some of them or
    without `model_args` at all, build as the trainer built them even where a builder's default has changed since.
    """
    check_arrangement(ckpt, path)
    args = ckpt.get("model_args")
    try:
        args = {**model_arguments(config_from_dict(ckpt["config"], where=str(path)), data_meta(ckpt)), **(args or {})}
    except ConfigError as e:
        if args is None:
            raise CheckpointError(f"{path}: its config no longer loads ({e})") from None
    try:
        model = create_model(model_name(ckpt), **args)
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: its model no longer builds ({str(e).splitlines()[0]})") from None
    load_state(model, {"model": final_weights(ckpt)}, path)
    return model.eval()


def load_checkpoint(path: str | Path, map_location: Any = "cpu") -> nn.Module:
    """Rebuild the model a checkpoint was trained as, load its weights, return it in eval mode."""
    return model_from_checkpoint(read_checkpoint(path, map_location), path)
