"""An entry as others see it: its model card (`milestones zoo show NAME`), and a self-describing folder that a user
can upload to a model hub themselves (`milestones zoo export NAME DIR`). `from_folder` loads that folder back.
Nothing here talks to a network.

    export_entry("resnet20_cifar10", "hub/resnet20_cifar10")   # config.json, model.safetensors, README.md
    model = from_folder("hub/resnet20_cifar10")                # eval mode; the outputs of load_weights(NAME)
    transform = ImageTransform.from_meta(model.meta)           # an image model's preprocessing, as predict's

The folder:
- config.json: the model's name and every constructor argument, defaults included (so a later version whose
  defaults changed still builds the same model), and the data meta it needs: classes and its transform's image
  shape, mean and std, or a translator's vocabularies and tokenisation. It also holds the entry's name, data set,
  metric and number, and the SHA-256 of the weights file (`from_folder` checks it).
- model.safetensors: the weights in float32, the dtype the model computes in once loaded. A float16 or int8 entry
  is upcast exactly as `load_weights` upcasts it, so the folder gives the same outputs, and any safetensors reader
  gets plain tensors without the zoo's int8 format. Tied weights are stored once; the header's `aliases` names
  the other keys. The header also repeats model, model_args and data_meta, as the zoo's own files do.
- README.md: the model card, and how to load the folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from torch import nn

from .data.datasets import DATASETS
from .errors import WeightsError, mismatch_detail
from .models import builder_defaults, create_model, model_info
from .predict import weights_transforms
from .pretrained import WeightsEntry, get_weights, read_weights, sha256, weights_of
from .version import __version__
from .zoo import entry_task, safetensors_bytes

CONFIG_FILE, WEIGHTS_FILE, README_FILE = "config.json", "model.safetensors", "README.md"
FOLDER_DTYPE = torch.float32


# --- model cards ---------------------------------------------------------------------------------------------------

def _uses_and_limits(entry: WeightsEntry) -> tuple[str, list[str]]:
    """(intended use, limits) of an entry, in words, from what its registry entry and its task say."""
    task, x = entry_task(entry).name, entry.extra.get("input") or {}
    era = model_info(entry.model)
    teach = f"teaching and research: the {era.era if era else entry.model} milestone of deep learning's history"
    if task == "classification":
        classes, shape = x.get("classes") or [], x.get("image_shape") or []
        shown = ", ".join(map(str, classes[:5])) + (", ..." if len(classes) > 5 else "")
        use = (f"{teach}, classifying {'x'.join(map(str, shape[1:]))} images into {entry.data}'s {len(classes)} "
               f"classes; a starting point for fine-tuning on your own classes (`create_model(\"{entry.model}\", "
               f"weights=\"{entry.tag}\", num_classes=N)`, or `model.weights: {entry.name}` in a config)")
        limits = [f"knows {len(classes)} classes ({shown}): any other image is still put into one of them",
                  f"expects images like {entry.data}'s, {'grey' if shape[:1] == [1] else 'colour'}, resized to "
                  f"{'x'.join(map(str, shape[1:]))} and normalised by mean {x.get('mean')} and std {x.get('std')}; "
                  f"photos far from them (other sizes, subjects, lighting) score lower than the number above"]
    elif task == "seq2seq":
        use = (f"{teach}, translating short {x.get('languages', '')} sentences; a starting point for fine-tuning on "
               f"your own pairs (`data.name: pairs` with `model.weights: {entry.name}`; its vocabulary is kept)")
        limits = [f"one direction only ({x.get('languages', '?')}), lower-cased output",
                  f"a fixed vocabulary ({x.get('src_vocab')} source / {x.get('tgt_vocab')} target tokens): a word or "
                  f"character it never saw is read as <unk>",
                  "trained on short, simple sentences; a sentence over twice the longest it saw is refused"]
    else:
        use = f"{teach}, solving the {x.get('sequences', entry.data)}"
        limits = ["a synthetic task: nothing outside it"]
    limits.append(f"measured on {entry.data}'s test set only (provenance above); not for decisions about people")
    return use, limits


def model_card(name: str) -> str:
    """`milestones zoo show NAME`: the entry as a model card (markdown): model and paper, data and provenance,
    metric, input, recipe, hardware, file, license, intended use and limits, citation."""
    e = get_weights(name)
    r, x, info = e.recipe, e.extra, model_info(e.model)
    task = entry_task(e)
    unit = task.headline.unit if task.headline.unit == "%" else " " + task.headline.unit
    how = {"classification": "one view of each image, ", "seq2seq": "greedy decoding, "}.get(task.name, "")
    beside = x.get("views_value") if x.get("views_value") is not None else x.get("beam_value")
    value = f"{e.value:.2f}{unit} ({e.metric}; {how}measured from this file on the full test set)"
    if beside is not None:
        value += f"; {beside:.2f}{unit} with {'test-time views' if 'views_value' in x else 'beam search'}"
    made = (f"{r.get('epochs')} epochs, {r.get('train_minutes')} min on {r.get('hardware')}, precision "
            f"{r.get('precision', 'fp32')}, torch {r.get('torch')}, seed {r.get('seed', 0)}" if "epochs" in r else
            f"elsewhere: {r.get('trained_there', r.get('source', '-'))} (published: {r.get('published_value')})")
    file = (f"`{e.file}`, {e.bytes / 1e6:.2f} MB {e.dtype}, SHA-256 {e.sha256}" + ("" if e.shipped else
            " (not shipped: the recipe trains it)")) if e.file else "not shipped (the recipe trains it)"
    use, limits = _uses_and_limits(e)
    image = (x.get("input") or {}).get("image_shape")
    preprocess = f"its preprocessing: `weights_transforms(\"{e.name}\")`; " if image else ""
    lines = [f"# {e.name}", "",
             f"- **Model**: `{e.model}` ({info.era if info else '?'}), {x.get('params', '?'):,} parameters, "
             f"arguments {json.dumps(e.model_args)}",
             f"- **Data**: {e.data}: {x.get('provenance', DATASETS[e.data].source if e.data in DATASETS else '-')}",
             f"- **Metric**: {value}",
             "- **Input**: " + "; ".join(f"{k} {v}" for k, v in x.get("input", {}).items()),
             f"- **Recipe**: `{e.command}`",
             f"- **Trained**: {made}",
             f"- **File**: {file}",
             f"- **License**: {x.get('license') or 'MIT, as milestones (trained here)'}; the data's own terms apply "
             f"to what it was trained on",
             f"- **Why it ships**: {x.get('why', '-')}",
             "", f"**Intended use**: {use}.", "", "**Limits**:", *[f"- {line}" for line in limits], "",
             f"**Citation** (the model's paper): {info.paper if info else '-'}", "",
             f"Load: `create_model(\"{e.model}\", weights=\"{e.tag}\")` or `load_weights(\"{e.name}\")`; "
             + preprocess + f"re-measure: `milestones eval --weights {e.name}`"]
    return "\n".join(lines)


# --- an entry as a folder ------------------------------------------------------------------------------------------

def export_entry(name: str, folder: str | Path, *, overwrite: bool = False) -> Path:
    """`milestones zoo export NAME DIR`: entry `name` as the folder the module describes. The folder must be new or
    empty, unless `overwrite` (its three files are replaced, other files stay). Its parent must exist. Returns the
    folder."""
    entry, folder = get_weights(name), Path(folder)
    _check_target(folder, overwrite)  # before anything is read or written
    state, meta = read_weights(entry)  # checked against the registry; float32
    if (entry.extra.get("input") or {}).get("image_shape"):
        meta = {**meta, **weights_transforms(entry).meta}  # image_shape (which MNIST files lack), mean, std
    args = {**builder_defaults(entry.model), **entry.model_args}
    weights = safetensors_bytes(state, {"model": entry.model, "model_args": args, "data_meta": meta,
                                        "entry": entry.name, "milestones": __version__}, FOLDER_DTYPE)
    config = {"model": entry.model, "model_args": args, "data_meta": meta, "name": entry.name, "data": entry.data,
              "metric": entry.metric, "value": entry.value, "weights": WEIGHTS_FILE, "dtype": "float32",
              "zoo_dtype": entry.dtype, "sha256": sha256(weights), "milestones": __version__}
    try:
        folder.mkdir(exist_ok=True)
    except OSError as e:
        raise WeightsError(f"{folder}: cannot create it ({e.strerror}); export into a folder you can write") from None
    _write(folder / WEIGHTS_FILE, weights)
    _write(folder / CONFIG_FILE, (json.dumps(config, indent=2, ensure_ascii=False) + "\n").encode())
    _write(folder / README_FILE, (model_card(name) + "\n\n" + _folder_note(entry, folder, meta) + "\n").encode())
    return folder


def _check_target(folder: Path, overwrite: bool) -> None:
    if folder.exists() and not folder.is_dir():
        raise WeightsError(f"{folder}: a file, not a folder; export into a new or empty folder")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise WeightsError(f"{folder}: not empty; export into a new or empty folder, or add --overwrite to replace "
                           f"its {CONFIG_FILE}, {WEIGHTS_FILE} and {README_FILE}")
    if not folder.parent.is_dir():
        raise WeightsError(f"{folder.parent}: no such folder; create it first, or export elsewhere")


def _write(path: Path, data: bytes) -> None:
    """`data` as `path`, whole or not at all (a temporary file beside it, then renamed)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise WeightsError(f"{path}: cannot write ({e.strerror}); export into a folder you can write") from None


def _folder_note(entry: WeightsEntry, folder: Path, meta: dict) -> str:
    return "\n".join([
        "## This folder", "",
        f"Written by `milestones zoo export {entry.name} {folder.name}` (milestones {__version__}); nothing in it "
        f"needs a network.", "",
        f"- `{CONFIG_FILE}`: the model `{entry.model}` with every constructor argument, and the data meta it needs "
        f"(`data_meta`: {', '.join(meta)})",
        f"- `{WEIGHTS_FILE}`: the weights in float32 (the zoo stores them as {entry.dtype}; upcast as loading does, "
        f"so the outputs are the zoo's); tied weights, if any, are stored once, named by the header's `aliases`",
        f"- Load: `from milestones import from_folder; model = from_folder(\"{folder.name}\")` (eval mode, "
        f"`model.meta` = `data_meta`)" + ("; its preprocessing: `milestones.ImageTransform.from_meta(model.meta)`"
                                          if (entry.extra.get("input") or {}).get("image_shape") else ""),
    ])


def from_folder(path: str | Path) -> nn.Module:
    """The model of a folder `export_entry` wrote, with its weights, in eval mode; `model.meta` is its config.json's
    data meta. Any file that is missing, damaged or not the folder's own raises one line (WeightsError)."""
    folder = Path(path)
    config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
        data = weights_path.read_bytes()
    except FileNotFoundError as e:
        raise WeightsError(f"{e.filename}: missing; a folder `milestones zoo export` wrote holds {CONFIG_FILE}, "
                           f"{WEIGHTS_FILE} and {README_FILE}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WeightsError(f"{folder}: cannot read its files ({str(e).splitlines()[0][:100]})") from None
    if not isinstance(config, dict) or not {"model", "model_args", "data_meta"} <= set(config):
        raise WeightsError(f"{config_path}: not an exported model's config (it needs model, model_args, data_meta)")
    if config.get("sha256") is not None and sha256(data) != config["sha256"]:
        raise WeightsError(f"{weights_path}: SHA-256 {sha256(data)[:12]}... is not {CONFIG_FILE}'s "
                           f"{str(config['sha256'])[:12]}... (damaged or replaced); nothing loaded")
    state, _ = weights_of(data, str(weights_path), config["model"], str(config_path))
    try:
        model = create_model(config["model"], **config["model_args"])
        model.load_state_dict(state)
    except (KeyError, TypeError) as e:
        raise WeightsError(f"{config_path}: its model does not build ({str(e.args[0])[:160]})") from None
    except RuntimeError as e:
        raise WeightsError(f"{weights_path}: does not fit model '{config['model']}' ({mismatch_detail(e)[:160]}); "
                           f"nothing loaded") from None
    model.meta = config["data_meta"]
    return model.eval()
