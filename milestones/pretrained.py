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

The registry's table (WeightsEntry, registry(), get_weights, weights_for, list_weights) is milestones/registry.py,
which needs no torch; this module reads the files. It only reads; `milestones/zoo.py` writes entries,
re-measures them and retrains them.
"""

from __future__ import annotations

import hashlib
import json
import struct

import torch
from safetensors.torch import load

from .errors import WeightsError
# The registry itself is read without torch (milestones/registry.py, for the listing commands); its names are
# imported here too, so that a module using the zoo finds both halves in one place.
from .registry import (REGISTRY_FILE, WeightsEntry, forget_registry, get_weights, list_weights,  # noqa: F401
                       registry, weights_dir, weights_for)

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
    return weights_of(data, str(path), entry.model, f"entry '{entry.name}'")


def weights_of(data: bytes, where: str, model: str, owner: str) -> tuple[dict[str, torch.Tensor], dict]:
    """(state dict in float32, data meta) of the bytes of a file in the zoo's format (a zoo file, an exported
    folder's model.safetensors) that must hold a `model` model's weights, as `owner` says: int8 tensors
    dequantised, tied weights restored."""
    meta = file_meta(data, where)
    if meta.get("model") != model:
        raise WeightsError(f"{where}: holds weights of a '{meta.get('model')}' model, {owner} is a '{model}'; "
                           f"nothing loaded")
    try:
        tensors = load(data)
    except Exception as e:  # safetensors raises its own SafetensorError for a malformed body
        raise WeightsError(f"{where}: not a readable safetensors file ({str(e).splitlines()[0][:120]})") from None
    state = dequantize({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()},
                       meta.get("int8") or [], where)
    for alias, key in (meta.get("aliases") or {}).items():  # tied weights, stored once
        if key not in state:
            raise WeightsError(f"{where}: its header ties '{alias}' to '{key}', which the file lacks; nothing loaded")
        state[alias] = state[key]
    return state, meta.get("data_meta") or {}
