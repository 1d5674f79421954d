"""The weights zoo's tools: publish a run as an entry, import published weights, re-measure, retrain.

The registry and the verified reading of weight files live in pretrained.py; this module writes entries and does
what needs the trainer and the data:

- `publish(run_dir, name)`: a finished run's checkpoint -> `weights/<name>.safetensors` + a registry entry. The run
  is re-measured from the file on the full test set (the paper's single view as the headline; the config's
  test-time views and beam beside it), in float32 and in float16; the file is float16 when that changes no number
  by more than `SAME_IN_FP16` (0.05 points), else float32.
- `import_akamaster(path, depth)`: akamaster/pytorch_resnet_cifar10's published CIFAR ResNets (BSD-2) as entries.
- `measure(entry)`: `milestones eval --weights NAME`: the entry's number re-measured on the user's data.
- `build(name)`: `milestones zoo build NAME`: retrain from the recorded config, compare with the registry.
(Using an entry's image model, its transforms, `predict` and ONNX export, is milestones/predict.py; an entry's model
card and its export as a folder for a model hub, milestones/card.py.)
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

import torch
import yaml
from safetensors.torch import save

from .checkpoint import (CHECKPOINT, METRICS_FILE, RESULTS_FILE, data_meta, final_weights, model_name,
                         read_checkpoint, read_history, read_results)
from .config import Config, config_from_dict
from .configfile import apply_override
from .data.datasets import DATASETS
from .errors import WeightsError
from .models import count_parameters, create_model
from .predict import weights_transforms
from .pretrained import (INT8_SCALE, REGISTRY_FILE, WeightsEntry, forget_registry, get_weights, quantize,
                         read_weights, sha256, weights_dir, weights_of)
from .tasks import TASKS, Task, model_arguments
from .evaluation import evaluate_model
from .train import fit
from .version import __version__

SAME_IN_FP16 = 0.05  # points: a float16 file must give every recorded number within this of float32's
REGISTRY_HEADER = """\
# The weights zoo: one entry per trained model (milestones/pretrained.py reads it; milestones/zoo.py writes it).
# Written by `milestones zoo publish` / `milestones zoo import`; `value` is the metric that `milestones eval
# --weights NAME` measured from the shipped file on the full test set (accuracy in %, BLEU in points), single view
# and greedy decoding (the papers' protocol); test-time views and beam search are beside it. Files are float16
# where that changes no number by more than 0.05 points. Budget: 40 MB of files in all (the repository travels).
"""


# --- measuring -----------------------------------------------------------------------------------------------------

def entry_config(entry: WeightsEntry, overrides: list[str] | tuple[str, ...] = (), data_root: Optional[str] = None,
                 *, training: bool = False) -> Config:
    """The config an entry is evaluated with (`training`: trained with, as recorded), with a data root and `--set`
    overrides. An image entry is evaluated with its transforms' normalisation (and a class-folder entry's view)
    as `predict` applies them to a photo: the values its recorded config gives, taken from their one home."""
    raw = copy.deepcopy(entry.recipe.get("config"))
    if not isinstance(raw, dict):
        raise WeightsError(f"weights '{entry.name}': the registry holds no config to evaluate them with")
    if not training and (entry.extra.get("input") or {}).get("image_shape") and isinstance(raw.get("data"), dict):
        transform = weights_transforms(entry)
        raw["data"].update(mean=list(transform.mean), std=list(transform.std))
        if transform.resize is not None:
            raw["data"].update(image_size=transform.image_shape[1], resize=transform.resize)
    where = f"weights '{entry.name}'"
    if data_root is not None:
        apply_override(raw, f"data.root={data_root}", where)
    for item in overrides:
        apply_override(raw, item)
    raw.setdefault("trainer", {})["progress"] = False
    return config_from_dict(raw, where=where, name=entry.name)


def headline(cfg: Config, results: dict) -> float:
    """An evaluation's headline number in its display unit (accuracy in %, BLEU in points)."""
    h = TASKS[cfg.task].headline
    return round(h.scale * results[h.key], 2)


def entry_task(entry: WeightsEntry) -> Task:
    """The task of an entry's data set: its metric, protocol and tolerances."""
    return TASKS[DATASETS[entry.data].task]


def single_view(cfg: Config, beam: int = 1) -> Config:
    """The same config evaluated as the papers do (the task's protocol: one view of each test image), with greedy
    decoding or `beam`."""
    protocol = TASKS[cfg.task].headline.protocol
    return dataclasses.replace(cfg, trainer=dataclasses.replace(cfg.trainer, **protocol, beam=beam))


def _numbers(cfg: Config, state: dict, meta: dict, where: str, beside: bool = True) -> dict[str, float]:
    """The numbers an entry records: the single-view / greedy headline and, with `beside`, the config's test-time
    views or beam search next to it. Greedy and beam BLEU come from one evaluation (its report scores both)."""
    t = cfg.trainer
    base = single_view(cfg, t.beam if beside else 1)
    results = evaluate_model(base, state, meta, where)
    out = {"value": headline(base, results)}
    if beside and (t.test_flip or t.test_shift):
        out["views_value"] = headline(cfg, evaluate_model(cfg, state, meta, where))
    if beside and t.beam > 1:
        out["beam_value"] = round(results["test_bleu_beam"], 2)
    return out


def measure(entry: WeightsEntry, *, data_root: Optional[str] = None, overrides: tuple[str, ...] = (),
            views: bool = False) -> dict[str, Any]:
    """`milestones eval --weights NAME`: the entry's headline re-measured from its file (and with `views`, the
    test-time views / beam the registry records beside it). Returns the numbers and the registry's."""
    state, meta = read_weights(entry)
    got = _numbers(entry_config(entry, overrides, data_root), state, meta, str(entry.path), beside=views)
    return {"name": entry.name, "metric": entry.metric, "measured": got, "registry": entry.value,
            "registry_views": entry.extra.get("views_value"), "registry_beam": entry.extra.get("beam_value")}


# --- writing entries -----------------------------------------------------------------------------------------------

def as_stored(tensors: dict[str, torch.Tensor], dtype: torch.dtype | str) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the tensors as a file of `dtype` stores them, the keys stored as int8). Floating tensors are cast to `dtype`.
    With "int8", matrices become weight-only int8 per output channel (pretrained.quantize, their float32 scales
    beside them) and vectors become float16."""
    keys: list[str] = []
    if dtype == "int8":
        tensors, keys = quantize(tensors)
    scales = {INT8_SCALE + k for k in keys}
    low = torch.float16 if dtype == "int8" else dtype
    return {k: v.to(low) if v.is_floating_point() and k not in scales else v for k, v in tensors.items()}, keys


def safetensors_bytes(state: dict[str, torch.Tensor], meta: dict[str, Any], dtype: torch.dtype | str) -> bytes:
    """A weights file's bytes: `state` stored in `dtype` (`as_stored`), `meta` in its header (JSON values). Tensors
    that share memory are stored once, and the header's `aliases` names the other keys. These are tied weights:
    the Transformer's target embedding is its output projection (Vaswani et al. Sec. 3.4). pretrained.weights_of
    reads the file back."""
    tensors, aliases, seen = {}, {}, {}
    for k, v in state.items():
        where = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if where in seen:
            aliases[k] = seen[where]
            continue
        seen[where] = k
        tensors[k] = v.detach().contiguous().cpu()
    tensors, keys = as_stored(tensors, dtype)
    meta = {**meta, **({"aliases": aliases} if aliases else {}), **({"int8": keys} if dtype == "int8" else {})}
    return save(tensors, metadata={k: json.dumps(v, ensure_ascii=False) for k, v in meta.items()})


def _write_registry(folder: Path, entries: dict[str, dict]) -> None:
    text = REGISTRY_HEADER + yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=118,
                                            default_flow_style=None)
    tmp = folder / f".{REGISTRY_FILE}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(folder / REGISTRY_FILE)
    forget_registry()


def _raw_registry(folder: Path) -> dict[str, dict]:
    path = folder / REGISTRY_FILE
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.is_file() else {}


def add_entry(name: str, state: dict[str, torch.Tensor], *, model: str, model_args: dict, meta: dict, cfg: Config,
              recipe: dict, extra: dict, default: bool = False, dtype: str = "auto",
              folder: Optional[Path] = None, ship: bool = True) -> dict:
    """Measure `state` on `cfg`'s test set in float32 and float16, write the file and the registry entry (without
    `ship`, the entry alone: it names the command that makes the file, outside the repository's budget)."""
    folder = folder or weights_dir()
    folder.mkdir(parents=True, exist_ok=True)
    header = {"model": model, "model_args": model_args, "data_meta": meta, "entry": name,
              "milestones": __version__}

    def stored(low: torch.dtype | str) -> tuple[bytes, dict[str, float]]:  # a file in `low`, measured as it loads
        data = safetensors_bytes(state, header, low)
        return data, _numbers(cfg, weights_of(data, name, model, f"entry '{name}'")[0], meta, name)

    fp32 = _numbers(cfg, state, meta, name)
    chosen, numbers, data = torch.float32, fp32, None
    if dtype == "int8":  # for files float16 would make too big for the zoo's budget: the number is the int8 file's
        data, numbers = stored("int8")
        chosen, extra = "int8", {**extra, "int8_check": {"float32": fp32, "int8": numbers}}
    elif dtype in ("auto", "float16"):
        half, fp16 = stored(torch.float16)
        if dtype == "float16" or all(abs(fp16[k] - fp32[k]) <= SAME_IN_FP16 for k in fp32):
            chosen, numbers, data = torch.float16, fp16, half
        extra = {**extra, "fp16_check": {"float32": fp32, "float16": fp16, "limit": SAME_IN_FP16}}
    data = data or safetensors_bytes(state, header, torch.float32)
    if ship:
        (folder / f"{name}.safetensors").write_bytes(data)
    task = TASKS[cfg.task]
    entry = {
        "model": model, "model_args": model_args, "default": default, "data": cfg.data.name,
        "metric": task.headline.key, "value": numbers["value"],
        **{k: v for k, v in numbers.items() if k != "value"},
        **({"file": f"{name}.safetensors", "sha256": sha256(data), "bytes": len(data)} if ship else
           {"file": None, "sha256": None, "bytes": None}),
        "dtype": str(chosen).replace("torch.", ""), "params": count_parameters(create_model(model, **model_args)),
        "tolerance": task.headline.build_tolerance,
        **extra, "recipe": recipe,
    }
    entries = _raw_registry(folder)
    entries[name] = entry
    _write_registry(folder, entries)
    return entry


def publish(run_dir: str | Path, name: str, *, why: str, provenance: str = "", default: bool = False,
            dtype: str = "auto", data_root: Optional[str] = None, folder: Optional[Path] = None) -> dict:
    """A finished run -> a zoo entry (file + registry), re-measured from the file."""
    run_dir = Path(run_dir)
    if not (run_dir / RESULTS_FILE).is_file():
        raise WeightsError(f"{run_dir}: no {RESULTS_FILE}, so the run has not finished: finish it ('milestones train "
                           f"CONFIG --resume'), then publish it")
    try:
        results = read_results(run_dir)
    except (OSError, ValueError) as e:
        raise WeightsError(f"{run_dir / RESULTS_FILE}: cannot be read ({str(e)[:80]}); publish finished runs "
                           f"only") from None
    if not isinstance(results, dict) or not results:
        raise WeightsError(f"{run_dir}: {RESULTS_FILE} holds no results: publish finished runs only")
    ckpt = read_checkpoint(run_dir / CHECKPOINT)
    cfg = config_from_dict(ckpt["config"], where=str(run_dir))
    if ckpt.get("epoch", cfg.trainer.epochs) < cfg.trainer.epochs:
        raise WeightsError(f"{run_dir / CHECKPOINT}: after epoch {ckpt['epoch']} of {cfg.trainer.epochs}, the run has "
                           f"not finished: finish it ('milestones train CONFIG --resume'), then publish it")
    if results.get("run_id") is not None and ckpt.get("run_id") is not None and results["run_id"] != ckpt["run_id"]:
        raise WeightsError(f"{run_dir}: {RESULTS_FILE} and {CHECKPOINT} come from two different runs; train the run "
                           f"again (--overwrite) before publishing it")
    if data_root is not None:
        cfg.data.root = data_root
    cfg.trainer.progress = False
    meta = data_meta(ckpt)
    recipe = {
        "command": results.get("command") or f"milestones train {cfg.name}",  # as the run was started
        "config": {k: v for k, v in ckpt["config"].items() if k not in ("run_dir",)},
        "config_hash": cfg.hash(), "seed": cfg.seed, "epochs": results.get("epochs"),
        "train_minutes": round(results.get("train_seconds", 0.0) / 60, 1), "hardware": results.get("hardware"),
        "precision": results.get("precision"), "torch": results.get("torch"),
        "trained_value": headline(cfg, results),
    }
    extra = {"why": why, "provenance": provenance or _provenance(cfg), "input": TASKS[cfg.task].describe_input(cfg, meta),
             "curves": curves(read_history(run_dir)) if (run_dir / METRICS_FILE).is_file() else {}}
    model_args = {**model_arguments(cfg, meta), **(ckpt.get("model_args") or {})}  # as checkpoint.model_from_checkpoint
    return add_entry(name, final_weights(ckpt), model=model_name(ckpt), model_args=model_args,
                     meta=meta, cfg=cfg, recipe=recipe, extra=extra, default=default, dtype=dtype, folder=folder)


CURVES = ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "val_bleu")


def curves(history: list[dict]) -> dict[str, list]:
    """The run's per-epoch curves kept in its entry, so that a figure (He et al. Fig. 6: training and held-out
    error by epoch) can be drawn from the zoo alone: {"epoch": [1, 2, ..], key: [value or None, ..]} for the keys
    the run logged (None on the epochs a held-out key was not evaluated)."""
    def number(h: dict, k: str) -> Optional[float]:
        return round(float(h[k]), 5) if isinstance(h.get(k), (int, float)) else None

    keys = [k for k in CURVES if any(k in h for h in history)]
    return {"epoch": [h["epoch"] for h in history], **{k: [number(h, k) for h in history] for k in keys}} if keys else {}


def history_of(entry: WeightsEntry) -> list[dict]:
    """An entry's curves back as metrics.jsonl rows ({"epoch": 1, "train_acc": ..., "val_acc": ...}, ...)."""
    c = entry.extra.get("curves") or {}
    return [{"epoch": epoch, **{k: c[k][i] for k in c if k != "epoch" and c[k][i] is not None}}
            for i, epoch in enumerate(c.get("epoch", []))]


def convert(name: str, dtype: str, *, data_root: Optional[str] = None, folder: Optional[Path] = None) -> dict:
    """A shipped entry's file stored again in `dtype` (float16 -> int8 where the zoo's budget needs the bytes) and
    re-measured from the new file; its recipe, reasons and curves are kept, `converted_from` records the old file's
    dtype and number (the float32 number beside int8 is then the old file's weights, upcast)."""
    entry = get_weights(name)
    state, meta = read_weights(entry)
    keep = {k: v for k, v in entry.extra.items() if k not in ("views_value", "beam_value", "fp16_check", "int8_check")}
    keep["converted_from"] = {"dtype": entry.dtype, "value": entry.value, "bytes": entry.bytes}
    return add_entry(name, state, model=entry.model, model_args=entry.model_args, meta=meta,
                     cfg=entry_config(entry, data_root=data_root), recipe=entry.recipe, extra=keep,
                     default=entry.default, dtype=dtype, folder=folder)


def _provenance(cfg: Config) -> str:
    return DATASETS[cfg.data.name].source or cfg.data.name


# --- akamaster's published CIFAR ResNets ---------------------------------------------------------------------------

AKAMASTER = {
    # depth: (published test error %, that repository's README; the paper's, He et al. 2015 Table 6)
    20: (8.27, 8.75), 32: (7.37, 7.51), 44: (6.90, 7.17), 56: (6.61, 6.97),
}
AKAMASTER_MEAN, AKAMASTER_STD = list(DATASETS["imagenet"].mean), list(DATASETS["imagenet"].std)  # their trainer's


def akamaster_state(raw: dict, depth: int) -> dict[str, torch.Tensor]:
    """Their key names -> ours: `module.` dropped (nn.DataParallel), `layer{s}.{i}` -> `blocks.{(s-1)n+i}`,
    `linear` -> `fc`, and the `num_batches_tracked` buffers their older PyTorch did not save (0: unused in eval)."""
    n = (depth - 2) // 6
    state = {}
    for key, value in raw.items():
        parts = key.removeprefix("module.").split(".")
        if parts[0].startswith("layer"):
            parts = ["blocks", str((int(parts[0][5:]) - 1) * n + int(parts[1]))] + parts[2:]
        elif parts[0] == "linear":
            parts[0] = "fc"
        state[".".join(parts)] = value
    for key in [k for k in state if k.endswith(".running_mean")]:
        state[key.replace("running_mean", "num_batches_tracked")] = torch.tensor(0)
    return state


def import_akamaster(path: str | Path, depth: int, *, name: Optional[str] = None, data_root: Optional[str] = None,
                     folder: Optional[Path] = None, ship: bool = True, dtype: str = "auto") -> dict:
    """akamaster/pytorch_resnet_cifar10's `resnet{depth}-*.th` -> zoo entry `resnet{depth}_akamaster`."""
    if depth not in AKAMASTER:
        raise WeightsError(f"akamaster publishes ResNet-{'/'.join(map(str, AKAMASTER))} for CIFAR-10, not {depth}")
    path = Path(path)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: not found") from None
    except Exception as e:  # not a torch file, or a pickle that would run code
        raise WeightsError(f"{path}: not a loadable torch file ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("state_dict"), dict):
        raise WeightsError(f"{path}: not an akamaster checkpoint (no 'state_dict' inside)")
    model = f"resnet{depth}"
    state = akamaster_state(raw["state_dict"], depth)
    try:
        create_model(model).load_state_dict(state)
    except RuntimeError as e:
        raise WeightsError(f"{path}: does not fit {model} ({str(e).splitlines()[0][:120]})") from None
    name = name or f"{model}_akamaster"
    config = {"model": {"name": model}, "data": {"name": "cifar10", "mean": AKAMASTER_MEAN, "std": AKAMASTER_STD},
              "trainer": {"eval_batch_size": 1000}}
    cfg = config_from_dict(config, where=str(path), name=name)
    if data_root is not None:
        cfg.data.root = data_root
    cfg.trainer.progress = False
    meta = {"classes": list(DATASETS["cifar10"].classes), "mean": AKAMASTER_MEAN, "std": AKAMASTER_STD}
    published, paper = AKAMASTER[depth]
    recipe = {
        "command": f"milestones zoo import {path.name} --depth {depth}  (the file: "
                   f"https://github.com/akamaster/pytorch_resnet_cifar10/tree/master/pretrained_models)",
        "config": config, "source": "akamaster/pytorch_resnet_cifar10 @ d5489e8 (2021-07-20), pretrained_models/"
        f"{path.name}, sha256 {sha256(path.read_bytes())}",
        "trained_there": "all 50k exact-pixel training images, 200 epochs, SGD 0.1 /10 at 100 and 150",
        "published_value": round(100 - published, 2), "paper_value": round(100 - paper, 2),
    }
    extra = {"why": "the CIFAR ResNets most used in PyTorch, trained on exact pixels: loading them shows our "
                    "architecture is theirs tensor for tensor (option-A zeros split either side)",
             "license": "BSD 2-Clause, Copyright (c) 2018 Yerlan Idelbayev (weights/LICENSE-akamaster)",
             "provenance": "their training: exact CIFAR-10 pixels; `value` here: the JPEG copy in ../shared/data, "
                           "on which exact-pixel models lose ~10 points",
             "input": TASKS[cfg.task].describe_input(cfg, meta), "tolerance": None}  # nothing to rebuild: trained elsewhere
    return add_entry(name, state, model=model, model_args={}, meta=meta, cfg=cfg, recipe=recipe, extra=extra,
                     folder=folder, dtype=dtype, ship=ship)


# --- retraining ----------------------------------------------------------------------------------------------------

def build(name: str, *, output_dir: Optional[str] = None, data_root: Optional[str] = None,
          overrides: tuple[str, ...] = ()) -> dict[str, Any]:
    """`milestones zoo build NAME`: retrain the entry from its recorded config and compare the new number."""
    entry = get_weights(name)
    if "config_hash" not in entry.recipe:
        raise WeightsError(f"weights '{name}' were not trained here ({entry.command}): nothing to rebuild")
    cfg = entry_config(entry, overrides, data_root, training=True)
    cfg.name = f"zoo_{name}"
    if output_dir is not None:
        cfg.output_dir = output_dir
    results = fit(cfg, overwrite=True, command=f"milestones zoo build {name}")
    ckpt = read_checkpoint(Path(cfg.run_dir) / CHECKPOINT)
    got = _numbers(cfg, final_weights(ckpt), data_meta(ckpt), name, beside=False)["value"]
    tol = entry.tolerance if entry.tolerance is not None else entry_task(entry).headline.build_tolerance
    return {"name": name, "value": got, "registry": entry.value, "tolerance": tol,
            "ok": abs(got - entry.value) <= tol, "run_dir": str(cfg.run_dir), "results": results}
