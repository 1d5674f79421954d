"""The preprocessing a model's weights expect, as one callable: an image file or a PIL image in, the model's input
out. It plays the part of torchvision's `weights.transforms()` and timm's `create_transform(**resolve_data_config())`.

    from milestones import load_weights, weights_transforms
    transform = weights_transforms("resnet20_cifar10")   # ImageTransform(image_shape=(3, 32, 32), mean=..., ...)
    x = transform("cat.jpg")                              # (3, 32, 32) float32, normalised
    load_weights("resnet20_cifar10")(x[None]).softmax(-1)

Its steps, in order:
1. decode: the file, or a PIL image of any mode, as 8-bit grey or RGB with its full range kept (data/decode.py);
2. size: without `resize` (MNIST, CIFAR-10: data sets whose images all have the model's size already), the whole
   image resized to H x W (Pillow's bilinear, antialiased when it shrinks); with `resize` (class folders, ImageNet),
   the shorter side resized to `resize` and the centre H x W cropped (`centre_view`: the single-crop evaluation view
   that data/folders.py also takes);
3. normalise: pixels / 255, minus the mean, divided by the std, per channel (`normalise`, also used by the folder
   loader on its batches).

This module is the one place those steps are written. `milestones predict` applies the transform of a zoo entry or
of a checkpoint's data meta (`ImageTransform.from_meta`). The classification loaders write their data meta from it,
and that meta is what a checkpoint carries. `milestones eval --weights` evaluates an entry with its transform's
normalisation. Fine-tuning on a folder evaluates through `centre_view` and `normalise`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch

from .decode import eight_bit, read_image


def centre_view(x: torch.Tensor, size: Sequence[int], resize: int) -> torch.Tensor:
    """uint8 (C, H, W) -> (C, *size): the shorter side resized to `resize`, then the centre cropped. This is the
    single-crop evaluation view: for ImageNet, 224 of 256 (the sizes of Krizhevsky et al. 2012, Sec. 2 and 4.1; one
    centre crop, as torchvision's references evaluate)."""
    from torchvision.transforms.v2 import functional as TF  # lazy: see LAZY in tests/test_architecture.py

    return TF.center_crop(TF.resize(x, [resize], antialias=True), list(size))


def normalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 pixels (..., C, H, W) -> float32: / 255, minus `mean`, divided by `std` ((C, 1, 1), on x's device).
    The input is never modified (the result is a new tensor, normalised in place)."""
    return x.to(torch.float32, copy=True).div_(255).sub_(mean).div_(std)


@dataclass(frozen=True)
class ImageTransform:
    """An image file path or a PIL image -> the model's input (C, H, W), float32 (the module's steps).

    `image_shape` is (C, H, W): 1 channel reads images as grey, 3 as RGB. `mean` and `std` are per channel, in [0, 1]
    units. `resize` is None to resize the whole image to H x W; otherwise the shorter side is resized to it and the
    centre H x W is cropped."""

    image_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: Optional[int] = None

    def __post_init__(self) -> None:
        shape = tuple(int(v) for v in self.image_shape)
        mean, std = tuple(float(v) for v in self.mean), tuple(float(v) for v in self.std)
        if len(shape) != 3 or shape[0] not in (1, 3) or min(shape) < 1:
            raise ValueError(f"image_shape must be (C, H, W) with 1 or 3 channels, got {list(self.image_shape)}")
        if len(mean) != shape[0] or len(std) != shape[0] or min(std) <= 0:
            raise ValueError(f"mean and std need {shape[0]} values each (std > 0), got {list(mean)} and {list(std)}")
        object.__setattr__(self, "image_shape", shape)  # lists from JSON or YAML -> the tuples the fields say
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "std", std)

    @classmethod
    def from_meta(cls, meta: dict) -> ImageTransform:
        """The transform a data meta describes: its image_shape, mean, std and (class folders) resize. This is the
        meta of a checkpoint, of a zoo entry's recorded input, or of an exported folder's config.json."""
        return cls(meta["image_shape"], meta["mean"], meta["std"], meta.get("resize"))

    @property
    def meta(self) -> dict[str, Any]:
        """The transform as data meta (JSON-ready); `from_meta` reads it back."""
        return {"image_shape": list(self.image_shape), "mean": list(self.mean), "std": list(self.std),
                **({"resize": self.resize} if self.resize is not None else {})}

    def pixels(self, image: Any) -> torch.Tensor:
        """Steps 1 and 2: a path or PIL image -> uint8 (C, H, W). Errors are raised as data/decode.py raises them
        (FileNotFoundError, DataError, Pillow's OSError or ValueError), for the caller to word."""
        from PIL import Image  # lazy: see LAZY in tests/test_architecture.py

        c, h, w = self.image_shape
        if isinstance(image, (str, os.PathLike)):
            im = read_image(image, c)
        else:  # a PIL image, as torchvision's datasets pass to a `transform`
            im = eight_bit(image, c, getattr(image, "filename", "") or "the image")
        if self.resize is None:
            im = im.resize((w, h), Image.Resampling.BILINEAR)
        x = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(im.height, im.width, c)  # (H, W, C)
        x = x.permute(2, 0, 1)  # (C, H, W)
        return x if self.resize is None else centre_view(x, (h, w), self.resize)

    def __call__(self, image: Any) -> torch.Tensor:
        """A path or PIL image -> the model's input (C, H, W), float32. Add a batch dimension with `x[None]`."""
        mean, std = torch.tensor(self.mean).view(-1, 1, 1), torch.tensor(self.std).view(-1, 1, 1)  # (C, 1, 1)
        return normalise(self.pixels(image), mean, std)
