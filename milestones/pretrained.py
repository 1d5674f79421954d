"""Trained weights that ship with the package: the registry and the verified reading of its files.

The registry is one YAML table, `milestones/weights/zoo.yaml`: one entry per trained model, e.g.
`resnet20_cifar10`, with the model's name and constructor arguments, the file and its SHA-256 and size, the metric
`milestones eval --weights NAME` measured on the full test set, how the weights were made (command, config and its
hash, epochs, minutes, hardware, torch) and what the input expects. The tensors are in safetensors files beside it
(https://github.com/huggingface/safetensors): reading one never unpickles, so a weights file cannot run code. Each
file's header also names its model and holds the data meta (class names, normalisation; a translator's
vocabularies and tokenisation), so a file can be checked against its entry and used without the training data.

A file is read only after its size and SHA-256 match the registry: a flipped byte, a truncated or replaced file is
one line (`WeightsError`), never a half-loaded model. `MILESTONES_WEIGHTS=DIR` points the zoo at another folder
(a copy of `weights/` with its own zoo.yaml), for one's own entries or for tests.

This module only reads; `milestones/zoo.py` writes entries, re-measures them and retrains them.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import yaml
from safetensors.torch import load

from .errors import WeightsError
from .typecheck import did_you_mean

REGISTRY_FILE = "zoo.yaml"
REQUIRED = ("model", "model_args", "data", "metric", "value", "recipe")


def weights_dir() -> Path:
    """The zoo's folder: $MILESTONES_WEIGHTS, else the `weights/` folder inside the installed package."""
    return Path(os.environ.get("MILESTONES_WEIGHTS") or Path(__file__).parent / "weights").expanduser().resolve()


@dataclass(frozen=True)
class WeightsEntry:
    """One registry entry. `value` is in the metric's display unit (accuracy in %, BLEU in points, MSE as is)."""

    name: str
    model: str
    model_args: dict
    data: str
    metric: str
    value: float
    recipe: dict  # command, config, config_hash, epochs, train_minutes, hardware, torch (or source, for imports)
    file: Optional[str] = None  # None: not shipped (recipe["command"] trains it)
    sha256: Optional[str] = None
    bytes: Optional[int] = None
    dtype: str = "float32"
    default: bool = False  # the entry `create_model(model, weights="DEFAULT")` picks
    tolerance: Optional[float] = None  # `milestones zoo build`: how far a retrained model may land from `value`
    extra: dict = field(default_factory=dict)  # views, single_view, fp32_value, input, provenance, why, license...

    @property
    def tag(self) -> str:
        """What follows the model's name: `resnet20_cifar10` -> `cifar10`."""
        return self.name[len(self.model) + 1:] if self.name.startswith(self.model + "_") else self.name

    @property
    def path(self) -> Optional[Path]:
        return weights_dir() / self.file if self.file else None

    @property
    def shipped(self) -> bool:
        return self.path is not None and self.path.is_file()

    @property
    def command(self) -> str:
        return str(self.recipe.get("command") or "see the registry entry")


def _entry(name: str, raw: Any, where: str) -> WeightsEntry:
    if not isinstance(raw, dict):
        raise WeightsError(f"{where}: entry '{name}' must be a mapping, got {type(raw).__name__}")
    missing = [k for k in REQUIRED if k not in raw]
    if missing:
        raise WeightsError(f"{where}: entry '{name}' lacks '{missing[0]}'")
    known = set(WeightsEntry.__dataclass_fields__) - {"name", "extra"}
    fields = {k: v for k, v in raw.items() if k in known}
    try:
        return WeightsEntry(name=name, **fields, extra={k: v for k, v in raw.items() if k not in known})
    except TypeError as e:
        raise WeightsError(f"{where}: entry '{name}': {e}") from None


@functools.lru_cache(maxsize=4)
def _registry(folder: Path) -> dict[str, WeightsEntry]:
    where = folder / REGISTRY_FILE
    try:
        raw = yaml.safe_load(where.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise WeightsError(f"{where}: cannot read the weights registry ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise WeightsError(f"{where}: the weights registry must be a mapping of entry names")
    return {name: _entry(name, value, str(where)) for name, value in raw.items()}


def forget_registry() -> None:
    """Read the registry again at its next use (after `milestones zoo` has written it)."""
    _registry.cache_clear()


def registry() -> dict[str, WeightsEntry]:
    """Every entry of the current zoo folder, by name (read once per folder)."""
    return _registry(weights_dir())


def _unknown(name: str, known: list[str], what: str) -> WeightsError:
    hint = did_you_mean(name, known, cutoff=0.5)
    return WeightsError(f"no {what} '{name}' ({hint}known: {', '.join(sorted(known)) or 'none'})")


def get_weights(name: str) -> WeightsEntry:
    """The registry entry called `name`, or a one-line error listing those that exist."""
    entries = registry()
    if name not in entries:
        raise _unknown(name, list(entries), "weights")
    return entries[name]


def weights_for(model: str, weights: str) -> WeightsEntry:
    """The entry `create_model(model, weights=...)` means: "DEFAULT", a tag ("cifar10") or a full entry name."""
    own = [e for e in registry().values() if e.model == model]
    if weights == "DEFAULT" and own:
        return next((e for e in own if e.default), own[0])
    for e in own:
        if weights in (e.name, e.tag):
            return e
    if not own:
        raise WeightsError(f"model '{model}' has no trained weights (models with weights: "
                           f"{', '.join(sorted({e.model for e in registry().values()}))})")
    tags = [e.tag for e in own]
    hint = did_you_mean(weights, tags, cutoff=0.5)
    raise WeightsError(f"model '{model}' has no weights '{weights}' ({hint}its weights: {', '.join(tags)}, DEFAULT)")


def list_weights(pattern: str = "*", *, shipped_only: bool = False) -> list[WeightsEntry]:
    """Entries whose name matches the shell-style `pattern` (e.g. "resnet*"), in the registry's order."""
    return [e for e in registry().values()
            if fnmatch.fnmatch(e.name, pattern) and (e.shipped or not shipped_only)]


# --- reading a file ------------------------------------------------------------------------------------------------

def header(data: bytes, where: str) -> dict:
    """The JSON header of a safetensors file (8-byte little-endian length, then JSON), checked for sanity."""
    if len(data) < 8:
        raise WeightsError(f"{where}: not a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise WeightsError(f"{where}: not a safetensors file (its header claims {n:,} bytes of {len(data) - 8:,})")
    try:
        head = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise WeightsError(f"{where}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(head, dict):
        raise WeightsError(f"{where}: not a safetensors file (its header is not a JSON object)")
    return head


def file_meta(data: bytes, where: str) -> dict:
    """The `__metadata__` of a safetensors file, its JSON-encoded values decoded (model, model_args, data_meta)."""
    meta = header(data, where).get("__metadata__") or {}
    try:
        return {k: json.loads(v) for k, v in meta.items()}
    except (TypeError, json.JSONDecodeError):
        raise WeightsError(f"{where}: its metadata is not the zoo's (JSON values under model, model_args, "
                           f"data_meta)") from None


# --- weight-only int8 (files over the float16 budget) ---------------------------------------------------------------
# A weight matrix (or convolution kernel, or embedding table) W is stored as int8 q with one float32 scale per output
# channel (its first dimension): s_i = max_j |W_ij| / 127, q_ij = round(W_ij / s_i); loading gives W ~ q * s (no
# int8 arithmetic: the model runs in float32 as always). Vectors (biases, norms) stay float16.
INT8_SCALE = "int8_scale."  # the key prefix of a quantised tensor's scales


def quantize(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the state with every floating tensor of 2+ dimensions as int8 plus its per-channel scales, their keys)."""
    out, keys = {}, []
    for k, v in state.items():
        if not v.is_floating_point() or v.dim() < 2 or v.numel() == 0:
            out[k] = v
            continue
        w = v.detach().float().cpu()
        scale = w.abs().flatten(1).amax(1).clamp_min(1e-12) / 127  # (C_out,)
        out[k] = torch.round(w / scale.view(-1, *[1] * (w.dim() - 1))).clamp(-127, 127).to(torch.int8)
        out[INT8_SCALE + k] = scale
        keys.append(k)
    return out, keys


def dequantize(state: dict[str, torch.Tensor], keys: list[str], where: str) -> dict[str, torch.Tensor]:
    """The float32 state of a file whose header lists `keys` as int8 (`quantize`'s inverse, up to rounding)."""
    out = {k: v for k, v in state.items() if not k.startswith(INT8_SCALE)}
    for k in keys:
        q, scale = state.get(k), state.get(INT8_SCALE + k)
        if q is None or scale is None or q.dtype != torch.int8 or scale.shape != q.shape[:1]:
            raise WeightsError(f"{where}: int8 tensor '{k}' lacks its scales or is not int8; nothing loaded")
        out[k] = q.float() * scale.view(-1, *[1] * (q.dim() - 1))
    return out


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_weights(entry: WeightsEntry) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict in float32, data meta) of an entry, after checking the file against the registry."""
    if entry.file is None:
        raise WeightsError(f"weights '{entry.name}' are not shipped; train them with: {entry.command}")
    path = entry.path
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WeightsError(f"{path}: missing (weights '{entry.name}'); reinstall milestones, or train them with: "
                           f"{entry.command}") from None
    except OSError as e:
        raise WeightsError(f"{path}: cannot read ({e.strerror})") from None
    if entry.bytes is not None and len(data) != entry.bytes:
        raise WeightsError(f"{path}: {len(data):,} bytes, the registry says {entry.bytes:,} (truncated or replaced); "
                           f"nothing loaded")
    if entry.sha256 is not None and sha256(data) != entry.sha256:
        raise WeightsError(f"{path}: SHA-256 {sha256(data)[:12]}... is not the registry's {entry.sha256[:12]}... "
                           f"(damaged or replaced); nothing loaded")
    meta = file_meta(data, str(path))
    if meta.get("model") != entry.model:
        raise WeightsError(f"{path}: holds weights of a '{meta.get('model')}' model, entry '{entry.name}' is a "
                           f"'{entry.model}'; nothing loaded")
    try:
        tensors = load(data)
    except Exception as e:  # safetensors raises its own SafetensorError for a malformed body
        raise WeightsError(f"{path}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
    state = dequantize({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()},
                       meta.get("int8") or [], str(path))
    for alias, key in (meta.get("aliases") or {}).items():  # tied weights, stored once
        if key not in state:
            raise WeightsError(f"{path}: its header ties '{alias}' to '{key}', which the file lacks; nothing loaded")
        state[alias] = state[key]
    return state, meta.get("data_meta") or {}
