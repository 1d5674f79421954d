"""Using an image classifier: the preprocessing its weights expect (`weights_transforms`), top-k classes of image
files (`milestones predict`) and ONNX export (`milestones export`), for zoo entries and for a user's own
classification checkpoints."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import data_meta, model_from_checkpoint, model_name, read_checkpoint
from .data.datasets import DATASETS
from .data.transforms import ImageTransform
from .errors import DataError, InputError, WeightsError
from .models import create_model
from .pretrained import WeightsEntry, get_weights


@dataclass
class Prediction:
    path: str
    top: list[tuple[str, float]]  # (class, probability), most likely first


def weights_transforms(weights: str | WeightsEntry) -> ImageTransform:
    """The preprocessing an image entry's weights expect, as a callable (a path or PIL image -> (C, H, W)), like
    torchvision's `weights.transforms()`. `weights` is an entry's name, or the entry itself (`model.weights` of a
    model built with weights). It is read from the registry, so no model needs to be built to make a data pipeline.
    `predict`, `milestones eval --weights` and a folder exported by `milestones zoo export` all use this transform."""
    entry = get_weights(weights) if isinstance(weights, str) else weights
    expects = entry.extra.get("input") or {}
    if expects.get("image_shape") is None:
        raise WeightsError(f"weights '{entry.name}' are a {entry.model} for {entry.data}, not an image classifier")
    return ImageTransform.from_meta(expects)


def image_tensor(path: str | Path, transform: ImageTransform) -> torch.Tensor:
    """`transform(path)`: an image file as the model's input (C, H, W), any failure to read it one line
    (InputError)."""
    from PIL import UnidentifiedImageError  # lazy: see LAZY in tests/test_architecture.py

    try:
        return transform(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except DataError as e:  # not a regular file, too many pixels, a range it cannot tell
        raise InputError(str(e)) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        why = str(e).splitlines()[0].replace(str(path), Path(path).name)[:100]  # the path is named once, in front
        raise InputError(f"{path}: not an image this can read (PNG, JPEG, BMP, ...): {why}") from None


def image_model(entry: WeightsEntry) -> tuple[nn.Module, dict]:
    """The entry's image classifier and its data meta: classes, and its transform's image_shape, mean and std."""
    transform = weights_transforms(entry)  # refuses an entry that is no image classifier, before loading it
    model = create_model(entry.model, weights=entry.name)
    return model, {**model.meta, **transform.meta}


def checkpoint_image_model(path: str | Path) -> tuple[nn.Module, dict]:
    """A classification run's model and data meta; the image shape from the meta (or, in checkpoints made before
    it was stored, from the data set's name)."""
    ckpt = read_checkpoint(path)
    meta = dict(data_meta(ckpt))
    if "classes" not in meta:
        raise WeightsError(f"{path}: holds a '{model_name(ckpt)}' model that does not classify images")
    data = ckpt["config"].get("data", {}).get("name") if isinstance(ckpt["config"], dict) else None
    meta.setdefault("image_shape", list(DATASETS[data].input_shape if data in DATASETS and DATASETS[data].input_shape
                                        else (3, 224, 224)))
    return model_from_checkpoint(ckpt, path), meta


def predict(model: nn.Module, meta: dict, paths: list[str], k: int = 5) -> tuple[list[Prediction], list[str]]:
    """Top-k classes of each image file; (predictions, one-line errors of the files that could not be read)."""
    transform, classes = ImageTransform.from_meta(meta), meta["classes"]
    preds, errors = [], []
    for p in paths:
        try:
            x = image_tensor(p, transform)
        except InputError as e:
            errors.append(str(e))
            continue
        with torch.no_grad():
            prob = model(x[None]).softmax(-1)[0]  # (num_classes,)
        top = prob.topk(min(k, len(classes)))
        preds.append(Prediction(str(p), [(classes[i], float(v)) for v, i in zip(top.values, top.indices)]))
    return preds, errors


NO_ONNX = "export needs the optional 'export' extra (onnx, onnxscript): pip install 'milestones[export]'"


def export_onnx(entry: WeightsEntry, path: str | Path) -> Path:
    """The entry's image model as ONNX: `onnx_file` of the model its weights build."""
    model, inp = image_model(entry)
    return onnx_file(model, inp["image_shape"], path)


def onnx_file(model: nn.Module, image_shape: list[int] | tuple[int, ...], path: str | Path) -> Path:
    """An image classifier as ONNX through torch.export (opset 18, any batch size): input `images` (B, C, H, W)
    normalised as its meta says, output `logits` (B, classes); for shipped weights and fine-tuned checkpoints alike.
    One file, the weights inside it (torch's default would put them in a second `.onnx.data` file beside it, without
    which the `.onnx` does not load)."""
    if importlib.util.find_spec("onnxscript") is None:
        raise WeightsError(NO_ONNX)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(2, *image_shape)  # (B, C, H, W)
    torch.onnx.export(model.eval(), (dummy,), str(path), input_names=["images"], output_names=["logits"],
                      dynamic_shapes=({0: torch.export.Dim("batch")},), opset_version=18, dynamo=True,
                      external_data=False, verbose=False)  # the weights inside: one self-contained file
    return path


