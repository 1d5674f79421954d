"""Experiment configs: a dict shaped like the YAML file in, a typed and checked Config out (`config_from_dict`).

The dataclasses themselves, one per section of the file (model, data, optim, schedule, trainer), are
configschema.py's; they are imported here too. Reading the files, overrides and the shipped configs: configfile.py.

Anything wrong (a missing file, malformed YAML, an unknown key, a wrong type, an impossible value) raises
`ConfigError` with one line that names the file and the key; the CLI prints it and exits with status 2.
Limits that keep a hostile file harmless: configs are at most 1 MiB, YAML aliases (`*name`) are refused (a few
hundred bytes of nested aliases expand to gigabytes), an error repeats at most 80 characters of a value, every
float must be finite and within float32's range, every int at most 1e9 (the seed: numpy's 2**32 - 1), and the run
name must be one folder name, so that a run never writes outside `output_dir`.
Files and `--set key.sub=value` overrides are read by YAML 1.2's number rules (`1e-3` is a float; plain PyYAML
follows YAML 1.1 and would read it as a string), and the forms the two versions read differently (`012`, `1:30`,
`0x10`, `1_000`) are refused, as are duplicate keys.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from typing import Any

from .configschema import (NO_RESULT, RESUMABLE, Config, DataConfig, ModelConfig, OptimConfig,  # noqa: F401
                           ScheduleConfig, TrainerConfig, leaves, marked_keys)
from .data.datasets import DATASETS
from .errors import ConfigError, WeightsError
from .models import check_model_args, model_info
from .pretrained import weights_for
from .tasks import TASKS, task_of_data
from .typecheck import check_type, did_you_mean, shown



# --- limits ---------------------------------------------------------------------------------------------------------

MAX_INT = 10 ** 9  # sizes, epochs, lengths: far beyond any real run, far inside what torch and numpy accept
MAX_SEED = 2 ** 32 - 1  # numpy.random.seed's limit
MAX_FLOAT = 3.4028234663852886e38  # torch.finfo(torch.float32).max: an lr of 1e39 is inf in a float32 tensor
RUN_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def _unknown(key: str, prefix: str, known: list[str], where: str) -> ConfigError:
    close = did_you_mean(key, known)
    hint = f" ({close.strip()})" if close else f" (known: {', '.join(known)})"
    return ConfigError(f"{where}: unknown key '{prefix}{shown(key)[1:-1]}'{hint}")


def _build(cls: type, raw: Any, prefix: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a mapping, got {shown(raw)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in raw.items():
        if key not in names:
            raise _unknown(str(key), prefix, names, where)
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = _build(tp, {} if value is None else value, f"{prefix}{key}.", where)
        else:
            try:
                kwargs[key] = check_type(value, tp)
            except TypeError as e:
                raise ConfigError(f"{where}: {prefix}{key}: {e}") from None
    return cls(**kwargs)


# --- value checks (types are right; are the values possible?) ----------------------------------------------------

def _numbers(cfg: Config) -> list[tuple[str, int | float]]:
    """Every number of the config with its dotted key, list items included ("optim.betas[1]")."""
    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    out = []
    for key, _, value in leaves(cfg):
        if number(value):
            out.append((key, value))
        elif isinstance(value, (list, tuple)):
            out.extend((f"{key}[{i}]", v) for i, v in enumerate(value) if number(v))
    return out


def _validate(cfg: Config, where: str) -> None:
    def need(ok: bool, key: str, what: str, value: Any) -> None:
        if not ok:
            raise ConfigError(f"{where}: {key} must be {what}, got {shown(value)}")

    t, o, s, d = cfg.trainer, cfg.optim, cfg.schedule, cfg.data
    if d.name not in DATASETS:  # a plain str in the dataclass, so that adding a data set is one entry in DATASETS
        raise ConfigError(f"{where}: data.name: expected one of {', '.join(map(repr, DATASETS))}, got str "
                          f"{shown(d.name)}" + (f" ({did_you_mean(d.name, DATASETS).strip()})"
                                                  if did_you_mean(d.name, DATASETS) else ""))
    if cfg.task is None:
        cfg.task = task_of_data(d.name)
    if cfg.task not in TASKS:  # a plain str too: adding a task is one entry in TASKS
        raise ConfigError(f"{where}: task: expected one of {', '.join(map(repr, TASKS))}, got str {shown(cfg.task)}")
    need(bool(cfg.model.name), "model.name", "set (see `milestones list`)", cfg.model.name)
    need(bool(RUN_NAME.fullmatch(cfg.name)) and cfg.name not in (".", ".."), "name",
         "one folder name of letters, digits and . _ - (the run goes to <output_dir>/<name>)", cfg.name)
    need(0 <= cfg.seed <= MAX_SEED, "seed", f"in [0, {MAX_SEED}]", cfg.seed)
    for key, value in _numbers(cfg):
        if isinstance(value, float):
            need(math.isfinite(value), key, "a finite number", value)
            need(abs(value) <= MAX_FLOAT, key, f"at most {MAX_FLOAT:.4g} in size (float32's largest)", value)
        elif key != "seed":
            need(abs(value) <= MAX_INT, key, f"at most {MAX_INT:,} in size", value)
    need(t.epochs >= 1, "trainer.epochs", ">= 1", t.epochs)
    need(t.stop_epoch is None or 1 <= t.stop_epoch <= t.epochs, "trainer.stop_epoch", "in [1, epochs] or null",
         t.stop_epoch)
    need(t.batch_size >= 1, "trainer.batch_size", ">= 1", t.batch_size)
    need(t.eval_batch_size >= 1, "trainer.eval_batch_size", ">= 1", t.eval_batch_size)
    need(t.eval_every >= 1, "trainer.eval_every", ">= 1", t.eval_every)
    if t.keep_best and cfg.task == "classification" and not cfg.data.val_size:
        raise ConfigError(f"{where}: trainer.keep_best chooses an epoch on a validation split, and data.val_size is 0 "
                          f"(choosing on the test set would overstate the result); set data.val_size, e.g. 5000")
    need(t.beam >= 1, "trainer.beam", ">= 1", t.beam)
    need(0.0 <= t.label_smoothing < 1.0, "trainer.label_smoothing", "in [0, 1)", t.label_smoothing)
    need(t.grad_clip is None or t.grad_clip > 0, "trainer.grad_clip", "> 0 or null", t.grad_clip)
    need(t.threads in (None, "auto") or t.threads >= 1, "trainer.threads", ">= 1, 'auto' or null", t.threads)
    need(o.lr > 0, "optim.lr", "> 0", o.lr)
    need(o.weight_decay >= 0, "optim.weight_decay", ">= 0", o.weight_decay)
    need(0 <= o.momentum < 1, "optim.momentum", "in [0, 1)", o.momentum)
    need(len(o.betas) == 2 and all(0 <= b < 1 for b in o.betas), "optim.betas", "two numbers in [0, 1)", o.betas)
    need(s.warmup_epochs >= 0, "schedule.warmup_epochs", ">= 0", s.warmup_epochs)
    need(0 < s.pct_start < 1, "schedule.pct_start", "in (0, 1)", s.pct_start)
    need(s.gamma > 0, "schedule.gamma", "> 0", s.gamma)
    need(list(s.milestones) == sorted(s.milestones), "schedule.milestones", "increasing", s.milestones)
    need(d.val_size >= 0, "data.val_size", ">= 0", d.val_size)
    need(d.train_size is None or d.train_size >= 1, "data.train_size", ">= 1 or null", d.train_size)
    need(d.test_size is None or d.test_size >= 1, "data.test_size", ">= 1 or null", d.test_size)
    need(d.crop_padding >= 0, "data.crop_padding", ">= 0", d.crop_padding)
    need(not d.alternate_flip or d.flip, "data.alternate_flip", "false unless data.flip is true", d.alternate_flip)
    for key in ("mixup", "cutmix"):
        need(getattr(d, key) >= 0, f"data.{key}", ">= 0 (0: off)", getattr(d, key))
        need(not getattr(d, key) or DATASETS[d.name].in_memory, f"data.{key}",
             "0 unless the images are held in memory (mnist, fashion_mnist, cifar10)", getattr(d, key))
    need(d.seq_len >= 10, "data.seq_len", ">= 10 (the first marker is one of the first ten pairs)", d.seq_len)
    need(d.min_freq >= 1, "data.min_freq", ">= 1", d.min_freq)
    need(d.max_len >= 1, "data.max_len", ">= 1", d.max_len)
    need(d.subwords == 0 or d.subwords >= 8, "data.subwords", "0 (off) or >= 8 pieces", d.subwords)
    need(d.image_size >= 8, "data.image_size", ">= 8", d.image_size)
    need(d.resize >= d.image_size, "data.resize", f">= data.image_size ({d.image_size})", d.resize)
    need(0 < d.val_fraction < 1, "data.val_fraction", "in (0, 1)", d.val_fraction)
    need(d.workers >= 0, "data.workers", ">= 0", d.workers)
    need(cfg.task == task_of_data(d.name), "task", f"'{task_of_data(d.name)}' for data.name '{d.name}'", cfg.task)
    defaults = TrainerConfig()
    for task in TASKS.values():  # a trainer option only one task reads stays at its default in the others
        for key in task.options:
            value, default = getattr(t, key), getattr(defaults, key)
            need(value == default or cfg.task == task.name, f"trainer.{key}",
                 f"{json.dumps(default)} unless task is {task.name}", value)
    need(t.test_shift >= 0, "trainer.test_shift", ">= 0", t.test_shift)
    need(0 <= t.length_stress <= 8, "trainer.length_stress", "in [0, 8] (pairs joined)", t.length_stress)
    need(t.accumulate >= 1, "trainer.accumulate", ">= 1", t.accumulate)
    need(t.compile or t.compile_mode == "default", "trainer.compile_mode", "'default' unless trainer.compile is true",
         t.compile_mode)
    need(t.batch_size % t.accumulate == 0, "trainer.batch_size", f"a multiple of trainer.accumulate ({t.accumulate})",
         t.batch_size)
    need(o.lr_batch is None or o.lr_batch >= 1, "optim.lr_batch", ">= 1 or null", o.lr_batch)
    need(not (o.nesterov and o.momentum == 0), "optim.momentum", "> 0 with nesterov", o.momentum)


# --- public API ---------------------------------------------------------------------------------------------------

def config_from_dict(raw: dict, where: str = "<dict>", name: str = "") -> Config:
    """Build and check a Config from a dict shaped like the YAML file."""
    raw = dict(raw)
    model = raw.get("model")
    if model is not None:
        if not isinstance(model, dict):
            raise ConfigError(f"{where}: 'model' must be a mapping with a 'name', got {shown(model)}")
        model = dict(model)
        model_name = model.pop("name", "")
        if not isinstance(model_name, str):
            raise ConfigError(f"{where}: model.name: expected str, got {shown(model_name)}")
        weights = {"weights": model.pop("weights")} if "weights" in model else {}
        raw["model"] = {"name": model_name, **weights, "args": model}
    cfg = _build(Config, raw, "", where)
    if not cfg.name:
        cfg.name = name or cfg.model.name or "run"
    _validate(cfg, where)
    try:
        cfg.model.args = check_model_args(cfg.model.name, cfg.model.args)
    except (KeyError, TypeError) as e:
        raise ConfigError(f"{where}: {e.args[0]}") from None
    classes = cfg.model.args.get("num_classes")
    if classes is not None and classes < 1:
        raise ConfigError(f"{where}: model.num_classes must be >= 1, got {classes} (leave it out: the data says "
                          f"how many classes it has)")
    _start_from(cfg, raw.get("data") if isinstance(raw.get("data"), dict) else {}, where)
    _check_pairs(cfg, where)
    return cfg


def _check_pairs(cfg: Config, where: str) -> None:
    """Your own sentence pairs' keys belong to data.name 'pairs' (which files, and the languages when no weights
    say them, are checked when the data is read: tasks/seq2seq.py's load_pairs)."""
    d = cfg.data
    if d.name != "pairs" and (d.source_file is not None or d.target_file is not None or d.languages is not None):
        raise ConfigError(f"{where}: data.source_file, data.target_file and data.languages are for data.name "
                          f"'pairs', not '{d.name}'")
    if d.languages is not None and (len(d.languages) != 2 or not all(d.languages)):
        raise ConfigError(f"{where}: data.languages must be two language codes [source, target], got {d.languages}")


def _start_from(cfg: Config, data_given: dict, where: str) -> None:
    """trainer.freeze needs a classifier head; model.weights an entry of the model's whose input the data can be:
    its channels, and where the config does not say, its normalisation and (class folders) its image size."""
    m, d = cfg.model, cfg.data
    info = model_info(m.name)
    if cfg.trainer.freeze and (info is None or info.head is None):
        raise ConfigError(f"{where}: trainer.freeze: model '{m.name}' has no classifier head to train alone (models "
                          f"with one: the image classifiers of `milestones list`)")
    if m.weights is None:
        return
    try:
        entry = weights_for(m.name, m.weights)
    except WeightsError as e:
        raise ConfigError(f"{where}: model.weights: {e}") from None
    m.weights = entry.name  # "DEFAULT" today may be another entry tomorrow: the run records which one
    expects = entry.extra.get("input") or {}
    if cfg.task != "classification" or not expects.get("image_shape"):
        return
    channels, size = expects["image_shape"][0], expects["image_shape"][1]
    data_channels = DATASETS[d.name].input_shape[0] if DATASETS[d.name].input_shape else 3  # folders: RGB
    if channels != data_channels:
        raise ConfigError(f"{where}: model.weights: '{entry.name}' takes {channels}-channel images and {d.name} has "
                          f"{data_channels}-channel ones; start from weights trained on {data_channels} channels, "
                          f"or leave model.weights out")
    if d.mean is None and d.std is None:  # the weights' features expect their own normalisation
        d.mean, d.std = list(expects["mean"]), list(expects["std"])
    if DATASETS[d.name].reader == "folder" and "image_size" not in data_given:
        d.image_size = size
        if "resize" not in data_given:  # the same crop ratio as 224 of 256
            d.resize = max(size, round(size * 256 / 224))
