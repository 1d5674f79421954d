"""Image classification (MNIST, Fashion-MNIST, CIFAR-10): softmax cross-entropy, accuracy, test-time views.

Data: milestones/data/images.py (whole splits as uint8 tensors on the device, augmented in batches).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import BatchLoader, shift
from ..data.datasets import DATASETS
from ..data.folders import FolderLoader, load_folder_data
from ..data.images import data_root, load_image_data
from ..data.transforms import ImageTransform
from ..distributed import Dist, barrier
from ..errors import CheckpointError, ConfigError
from ..runtime import evaluating, loss_precision, usable_cores
from .base import Headline, Loaders, StepFn, StepOut, Task, probe_error

if TYPE_CHECKING:  # annotations only (see base.py)
    from ..config import Config


TOP5_FROM_CLASSES = 10  # top-5 accuracy beside top-1 for data with more classes than this (ILSVRC: 1000)


def build_data(cfg: Config, device: torch.device, ddp: Dist = Dist()) -> Loaders:
    """Image classification loaders for `cfg.data`.

    Under DDP each loader yields this rank's share of every global batch; the training loader drops a final
    partial batch so that the shares are equal and DDP's gradient average is the global batch's mean.
    """
    d, t = cfg.data, cfg.trainer
    if not DATASETS[d.name].in_memory:  # imagenet, folder: too big for memory (data/folders.py)
        return build_folder_data(cfg, device, ddp)
    if ddp.enabled and not ddp.is_main:
        barrier()  # rank 0 downloads and decodes into the cache first; the others then read what it wrote
    data = load_image_data(d.name, root=d.root, cache_dir=d.cache_dir, download=d.download, val_size=d.val_size,
                           train_size=d.train_size, test_size=d.test_size, device=device)
    if ddp.enabled and ddp.is_main:
        barrier()
    mean, std = tuple(d.mean or data.mean), tuple(d.std or data.std)
    if len(mean) != data.shape[0] or len(std) != data.shape[0] or min(std) <= 0:
        raise ConfigError(f"data.mean and data.std need {data.shape[0]} values for {d.name} (std > 0), got "
                          f"{list(mean)} and {list(std)}")
    common = dict(mean=mean, std=std, channels_last=t.channels_last, rank=ddp.rank,
                  world_size=ddp.world_size)
    train = BatchLoader(data.train_x, data.train_y, batch_size=t.batch_size // t.accumulate, shuffle=True,
                        seed=cfg.seed, crop_padding=d.crop_padding, flip=d.flip, alternate_flip=d.alternate_flip,
                        drop_last=ddp.enabled or t.accumulate > 1, mixup=d.mixup, cutmix=d.cutmix,
                        num_classes=len(data.classes), **common)
    test = BatchLoader(data.test_x, data.test_y, batch_size=t.eval_batch_size, **common)
    meta = {"classes": data.classes, **ImageTransform(data.shape, mean, std).meta}  # what `predict` will apply
    if data.val_x is None:
        return Loaders(train, test, None, meta)
    val = BatchLoader(data.val_x, data.val_y, batch_size=t.eval_batch_size, **common)
    return Loaders(train, val, test, meta)


def build_folder_data(cfg: Config, device: torch.device, ddp: Dist = Dist()) -> Loaders:
    """Streamed loaders for `imagenet` and `folder` data (data/folders.py): decoded by `data.workers` processes as
    the batches are due; `data.val_size` images of the training files held out for validation."""
    d, t = cfg.data, cfg.trainer
    data = load_folder_data(d.name, root=data_root(d.root), path=d.path, val_fraction=d.val_fraction)
    mean, std = tuple(d.mean or DATASETS[d.name].mean), tuple(d.std or DATASETS[d.name].std)
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ConfigError(f"data.mean and data.std need 3 values (RGB; std > 0), got {list(mean)} and {list(std)}")
    train_files, val_files = data.train, None
    if d.val_size:
        if d.val_size >= len(train_files.files):
            raise ConfigError(f"data.val_size {d.val_size} leaves no training images of {len(train_files.files)}")
        train_files, val_files = train_files.split(d.val_size)
    test_files = data.test
    if d.train_size is not None and d.train_size < len(train_files.files):  # a fixed random subset (quick checks)
        train_files = train_files.split(d.train_size)[1]
    if d.test_size is not None and d.test_size < len(test_files.files):
        test_files = test_files.split(d.test_size)[1]
    # no more decoding processes than cores (torch warns past them, and they would only take turns): the batches
    # are the same with any number (data/folders.py)
    workers = min(d.workers, usable_cores())
    common = dict(image_size=d.image_size, resize=d.resize, mean=mean, std=std, seed=cfg.seed, workers=workers,
                  device=device, channels_last=t.channels_last, rank=ddp.rank, world_size=ddp.world_size)
    train = FolderLoader(train_files, batch_size=t.batch_size // t.accumulate, train=True, **common)
    test = FolderLoader(test_files, batch_size=t.eval_batch_size, train=False, **common)
    # the evaluation view as a transform: what `predict` applies to a photo (the checkpoint carries this meta)
    meta = {"classes": data.classes, **ImageTransform((3, d.image_size, d.image_size), mean, std, d.resize).meta}
    if val_files is None:
        return Loaders(train, test, None, meta)
    return Loaders(train, FolderLoader(val_files, batch_size=t.eval_batch_size, train=False, **common), test, meta)


def classification_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                        label_smoothing: float = 0.0) -> StepOut:
    x, y = batch
    logits = model(x)  # (B, num_classes)
    scores = loss_precision(logits)
    if y.dim() == 2:  # mixup / CutMix targets (B, num_classes): cross-entropy against the blend; accuracy, its top
        loss = F.cross_entropy(scores, y.to(scores.dtype), label_smoothing=label_smoothing)
        y = y.argmax(-1)
    else:
        loss = F.cross_entropy(scores, y, label_smoothing=label_smoothing)
    correct = (logits.argmax(-1) == y).sum()
    if logits.shape[-1] <= TOP5_FROM_CLASSES:
        return StepOut(loss, correct, len(y))
    top5 = logits.topk(5, dim=-1).indices  # (B, 5): ILSVRC's top-5 error counts a hit anywhere in them
    return StepOut(loss, correct, len(y), (top5 == y[:, None]).any(-1).sum())


def tta_classification_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                            label_smoothing: float = 0.0, *, flip: bool = False, shift_by: int = 0,
                            fill: Optional[torch.Tensor] = None) -> StepOut:
    """Evaluation with test-time augmentation: the mean logits over views of each image. `flip`
    (`trainer.test_flip`): the image and its mirror (airbench's evaluation, Jordan 2024, arXiv:2404.00498).
    `shift_by` (`trainer.test_shift`): also those views moved diagonally by +shift_by and -shift_by pixels,
    borders filled with `fill` (C,), the normalised black that the training crops pad with; airbench moves by 1
    pixel with reflected borders, and we measured black borders better here (RESULTS.md)."""
    def views(x: torch.Tensor) -> torch.Tensor:
        xs = [x] if not shift_by else [x, shift(x, shift_by, shift_by, fill), shift(x, -shift_by, -shift_by, fill)]
        if flip:
            xs += [v.flip(3) for v in xs]
        return torch.stack([model(v) for v in xs]).mean(0)  # (views, B, num_classes) -> (B, num_classes)

    return classification_step(views, batch, label_smoothing)


def make_eval_step(cfg: Config, meta: dict) -> StepFn:
    """The plain step, or with `trainer.test_flip` / `test_shift` its test-time-augmented version."""
    t = cfg.trainer
    if not (t.test_flip or t.test_shift):
        return classification_step
    black = -torch.tensor(meta["mean"]) / torch.tensor(meta["std"])  # (C,) what 0/255 becomes after normalising
    return functools.partial(tta_classification_step, flip=t.test_flip, shift_by=t.test_shift, fill=black)


def image_model_args(meta: dict) -> dict:
    """What the images say about the model: its classes, input channels, square size and (an MLP's) pixel count."""
    c, h, w = meta["image_shape"]
    return {"num_classes": len(meta["classes"]), "in_channels": c, "in_features": c * h * w,
            **({"image_size": h} if h == w else {})}


def describe_images(cfg: Config, meta: dict) -> dict:
    """A zoo entry's `input`: its transform's meta (milestones.weights_transforms reads it back), and its classes."""
    shape = meta.get("image_shape") or list(DATASETS[cfg.data.name].input_shape)
    return {"image_shape": shape, "mean": meta["mean"], "std": meta["std"],
            **({"resize": meta["resize"]} if meta.get("resize") is not None else {}), "classes": meta["classes"],
            "pixels": "RGB or grey in [0, 1], normalised by mean and std"}


def check_classifier(model: nn.Module, loaders: Loaders, cfg: Config) -> None:
    """One forward pass on a real batch before training, so a model/data mismatch is a one-line config error."""
    x, _ = next(iter(loaders.eval))
    num_classes = len(loaders.meta["classes"])
    try:
        with evaluating(model):
            out = model(x[:2])
    except (RuntimeError, ValueError) as e:
        raise ConfigError(probe_error(cfg.model.name, f"take {cfg.data.name} images of shape {tuple(x.shape[1:])}",
                                      e)) from None
    if out.shape[-1] != num_classes:
        raise ConfigError(f"model '{cfg.model.name}' has {out.shape[-1]} outputs but {cfg.data.name} has "
                          f"{num_classes} classes (set model.num_classes)")


def check_classes(saved: dict, built: dict, path: str) -> None:
    """A classifier's outputs are its training data's classes: the data a config builds must have the same ones
    (MNIST's digits are not Fashion-MNIST's garments, though both are ten)."""
    if saved.get("classes") and list(saved["classes"]) != list(built.get("classes") or []):
        theirs, ours = (", ".join(map(str, c[:3])) for c in (list(saved["classes"]), list(built.get("classes") or [])))
        raise CheckpointError(f"{path}: trained on other classes ({theirs}, ...) than this config's data has "
                              f"({ours}, ...); evaluate it with the data it was trained on")


CLASSIFICATION = Task(
    name="classification", build_data=build_data, step=classification_step,
    check_model=check_classifier, describe_input=describe_images, model_args=image_model_args,
    make_eval_step=make_eval_step, check_meta=check_classes, options=("test_flip", "test_shift", "accumulate"),
    headline=Headline(key="test_acc", label="test accuracy (%)", scale=100.0, unit="%", paper_metric="test_acc",
                      rate_unit="images/s", summary=lambda r: f"test accuracy {100 * r['test_acc']:.2f}%",
                      protocol={"test_flip": False, "test_shift": 0}, check_tolerance=0.05,
                      # ResNet-20's CPU config spans 86.6-86.9% single view over 7 seeds (std ~0.15)
                      build_tolerance=0.6),
)
