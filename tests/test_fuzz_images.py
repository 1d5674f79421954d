"""Image decoding fuzzed over Pillow's modes, sizes and file formats (issue #32, class 7: "a 16-bit greyscale PNG
predicts as if all white, a float TIFF as if all black").

hypothesis draws a mode that milestones/data/decode.py says it reads (1, L, LA, La, P and PA, P / L / RGB with a
transparent colour, RGB, RGBA, RGBa, RGBX, CMYK, YCbCr, LAB, HSV, I;16 in each byte order, I, F), a size (1 x 1,
extreme aspect ratios, small squares), pixels (uniform, random, the extremes of the mode's range, and now and then
values outside it), and a way in: a file in each format that can store the mode (PNG, TIFF, BMP, WebP lossless,
JPEG), or the PIL image itself (modes no format stores, as torchvision's data sets hand them over). Then:

- `test_any_image_is_the_models_input_or_one_line`: through `milestones predict`'s reader (predict.image_tensor,
  a file) or the model's transform (a PIL image), for a greyscale and a colour model of their own sizes, without
  and with the shorter-side resize of class folders: a float32 tensor of the model's (C, H, W), finite, inside the
  range that [0, 1] pixels normalise to; or one line, an InputError (DataError for a PIL image), for pixels the
  module refuses (32-bit integers beyond 16 bits, float pixels outside [0, 1] or not finite) and for nothing else;
- `test_a_uniform_image_reads_as_its_value_over_the_full_scale`: an image of one value v reads as v / full scale
  of its bit depth (1, 255, 65535, 1.0), within half an 8-bit step (2 steps through JPEG, 1 more through a
  colour-space conversion), for one channel and three; a transparent one reads as white.

270 images in ~7 s of CPU; more: MILESTONES_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_images.py.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from milestones.data.datasets import DATASETS
from milestones.data.transforms import ImageTransform
from milestones.errors import DataError, InputError
from milestones.predict import image_tensor

PIL = pytest.importorskip("PIL")
from PIL import Image, features  # noqa: E402

SCALE = int(os.environ.get("MILESTONES_FUZZ_EXAMPLES", "0")) or None
FUZZ = dict(deadline=None, derandomize=SCALE is None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OUT = Path(tempfile.mkdtemp(prefix="milestones-fuzz-images-"))
atexit.register(shutil.rmtree, OUT, ignore_errors=True)

# The models' inputs: MNIST's and CIFAR-10's own sizes and statistics (the whole image resized to H x W), and a class
# folder's (the shorter side resized, the centre cropped).
MNIST, CIFAR = DATASETS["mnist"], DATASETS["cifar10"]
TRANSFORMS = [ImageTransform(MNIST.input_shape, MNIST.mean, MNIST.std),
              ImageTransform(CIFAR.input_shape, CIFAR.mean, CIFAR.std),
              ImageTransform((3, 16, 16), DATASETS["folder"].mean, DATASETS["folder"].std, resize=20),
              ImageTransform((1, 8, 12), (0.5,), (0.25,), resize=9)]

# mode -> (bytes per channel value, channels, full scale); "P" and "PA" carry a palette index
MODES = {"1": (1, 1, 1), "L": (1, 1, 255), "LA": (1, 2, 255), "La": (1, 2, 255), "P": (1, 1, 255),
         "PA": (1, 2, 255), "RGB": (1, 3, 255), "RGBA": (1, 4, 255), "RGBa": (1, 4, 255), "RGBX": (1, 4, 255),
         "CMYK": (1, 4, 255), "YCbCr": (1, 3, 255), "LAB": (1, 3, 255), "HSV": (1, 3, 255),
         "I;16": (2, 1, 65535), "I;16B": (2, 1, 65535), "I;16L": (2, 1, 65535), "I": (4, 1, 65535),
         "F": (4, 1, 1.0)}
# the formats that store each mode, as Pillow writes them (JPEG lossy; WebP lossless, any mode as RGB or RGBA)
FORMATS = {"PNG": {"1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I;16B"},
           "TIFF": {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "I", "I;16", "I;16B",
                    "I;16L", "F"},
           "BMP": {"1", "L", "P", "RGB", "RGBA"},
           "JPEG": {"1", "L", "RGB", "RGBX", "CMYK", "YCbCr"}}
if features.check("webp"):
    FORMATS["WEBP"] = {"1", "L", "LA", "P", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr"}
TRANSPARENT_COLOUR = {"L", "P", "RGB", "I;16"}  # a transparent colour (PNG's tRNS), not an alpha channel


@dataclass
class Drawn:
    image: "Image.Image"
    fmt: Optional[str]  # None: handed over as a PIL image
    refused: bool  # pixels the module refuses (not a bug when it does)


def _raw(mode: str, a: np.ndarray) -> "Image.Image":
    """An image of `mode` from values `a` (H, W, channels) in the mode's own units."""
    h, w = a.shape[:2]
    if mode == "1":
        return Image.fromarray(a[..., 0] > 0).convert("1")
    if mode in ("I;16", "I;16L", "I;16B"):
        dtype = ">u2" if mode == "I;16B" else "<u2"
        return Image.frombytes(mode, (w, h), a[..., 0].astype(dtype).tobytes())
    if mode == "I":
        return Image.frombytes("I", (w, h), a[..., 0].astype("=i4").tobytes())
    if mode == "F":
        return Image.frombytes("F", (w, h), a[..., 0].astype("=f4").tobytes())
    im = Image.frombytes(mode, (w, h), a.astype(np.uint8).tobytes())
    if mode in ("P", "PA"):
        im.putpalette(np.random.default_rng(int(a.sum()) % 2**32).integers(0, 256, 768, dtype=np.uint8).tobytes())
    return im


@st.composite
def images(draw) -> Drawn:
    mode = draw(st.sampled_from(sorted(MODES)))
    nbytes, channels, full = MODES[mode]
    w, h = draw(st.one_of(st.sampled_from([(1, 1), (1, 300), (300, 1), (2, 1), (1, 2), (700, 3)]),
                          st.tuples(st.integers(1, 40), st.integers(1, 40))))
    kind = draw(st.sampled_from(["uniform", "random", "extremes", "out of range"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (h, w, channels)
    if mode == "F":
        lo, hi = (-2.0, 3.0) if kind == "out of range" else (0.0, 1.0)
        a = rng.uniform(lo, hi, shape)
        if kind == "out of range" and draw(st.booleans()):
            a.flat[rng.integers(a.size)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif mode == "I" and kind == "out of range":
        a = rng.integers(-2**31, 2**31 - 1, shape, dtype=np.int64)
    else:
        a = rng.integers(0, int(full) + 1, shape, dtype=np.int64)
    if kind == "uniform":
        a[:] = a.flat[0]
    elif kind == "extremes":
        a = np.where(rng.random(shape) < 0.5, 0, full)
    refused = (mode == "F" and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1)) or \
              (mode == "I" and (a.min() < 0 or a.max() > 65535))
    im = _raw(mode, a)
    if mode in TRANSPARENT_COLOUR and draw(st.booleans()):  # a transparent colour; a palette's: one alpha per entry
        im.info["transparency"] = tuple(int(v) for v in a[0, 0]) if mode == "RGB" else \
            rng.integers(0, 256, 256, dtype=np.uint8).tobytes() if mode == "P" and draw(st.booleans()) else \
            int(a[0, 0, 0])
    fmt = draw(st.sampled_from([None] + sorted(f for f, modes in FORMATS.items() if mode in modes)))
    return Drawn(im, fmt, refused)


def save(im: "Image.Image", fmt: str, name: str) -> Path:
    path = OUT / f"{name}.{fmt.lower()}"
    options = {"lossless": True} if fmt == "WEBP" else {"quality": 90} if fmt == "JPEG" else {}
    if fmt == "PNG" and "transparency" in im.info:
        options["transparency"] = im.info["transparency"]
    im.save(path, format=fmt, **options)
    return path


def read(transform: ImageTransform, im: "Image.Image", fmt: Optional[str], name: str) -> torch.Tensor:
    """The model's input for `im`, through a file in `fmt` (milestones predict's reader) or as a PIL image."""
    if fmt is None:
        return transform(im)
    return image_tensor(save(im, fmt, name), transform)


@settings(max_examples=SCALE or 120, **FUZZ)
@given(drawn=images(), which=st.sampled_from(range(len(TRANSFORMS))))
def test_any_image_is_the_models_input_or_one_line(drawn, which):
    transform = TRANSFORMS[which]
    try:
        x = read(transform, drawn.image, drawn.fmt, "any")
    except (InputError, DataError) as e:
        assert isinstance(e, InputError if drawn.fmt else DataError), type(e)
        message = str(e)
        assert message and "\n" not in message and len(message) < 500, repr(message)
        assert drawn.refused, f"{drawn.image.mode} {drawn.image.size} via {drawn.fmt}: refused: {message}"
        return
    assert not drawn.refused, f"{drawn.image.mode} via {drawn.fmt}: pixels out of range were read as an image"
    assert x.dtype == torch.float32 and tuple(x.shape) == transform.image_shape, (x.dtype, tuple(x.shape))
    assert torch.isfinite(x).all()
    mean, std = torch.tensor(transform.mean).view(-1, 1, 1), torch.tensor(transform.std).view(-1, 1, 1)
    pixels = x * std + mean  # back to [0, 1] units
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5, (pixels.min().item(), pixels.max().item())


# --- uniform images: the value over the bit depth's full scale ------------------------------------------------------

GREY = {"1": lambda v: 255 * v, "L": lambda v: v, "P": lambda v: v, "LA": lambda v: (v, 255),
        "La": lambda v: (v, 255), "PA": lambda v: (v, 255), "RGB": lambda v: (v, v, v),
        "RGBA": lambda v: (v, v, v, 255), "RGBa": lambda v: (v, v, v, 255), "RGBX": lambda v: (v, v, v, 0),
        "CMYK": lambda v: (0, 0, 0, 255 - v), "YCbCr": lambda v: (v, 128, 128), "HSV": lambda v: (0, 0, v),
        "I;16": lambda v: v, "I;16B": lambda v: v, "I;16L": lambda v: v, "I": lambda v: v, "F": lambda v: v}
CONVERTED = {"YCbCr", "CMYK", "HSV"}  # through a colour-space conversion: one 8-bit step more


def uniform(mode: str, v) -> "Image.Image":
    """A 5 x 3 image of mode `mode` whose every pixel is the grey `v` (in the mode's own units; a palette maps
    index i to grey i)."""
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return _raw(mode, np.full((3, 5, 1), v))
    if mode == "1":
        return Image.new("1", (5, 3), v)
    im = Image.new(mode, (5, 3), GREY[mode](v))
    if mode in ("P", "PA"):
        im.putpalette(bytes(i for i in range(256) for _ in range(3)))
    return im


@st.composite
def uniforms(draw):
    mode = draw(st.sampled_from(sorted(GREY)))
    full = MODES[mode][2]
    if mode == "F":
        v = draw(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1 / 255]), st.floats(0.0, 1.0, width=32)))
    else:
        v = draw(st.one_of(st.sampled_from([0, full, full // 2 + 1, 1]), st.integers(0, int(full))))
    fmt = draw(st.sampled_from([None] + sorted(f for f, modes in FORMATS.items() if mode in modes)))
    return mode, v, full, fmt


@settings(max_examples=SCALE or 150, **FUZZ)
@given(case=uniforms(), channels=st.sampled_from([1, 3]), transparent=st.booleans())
def test_a_uniform_image_reads_as_its_value_over_the_full_scale(case, channels, transparent):
    mode, v, full, fmt = case
    im = uniform(mode, v)
    expected = v / full
    if transparent and mode in TRANSPARENT_COLOUR and fmt in (None, "PNG"):  # the one grey is the transparent one
        im.info["transparency"] = GREY[mode](v) if mode == "RGB" else v
        expected = 1.0  # composited on white
    elif transparent and mode in ("LA", "La", "PA", "RGBA", "RGBa") and fmt in (None, "PNG", "TIFF", "WEBP"):
        im = im.copy()
        im.putalpha(0)  # every pixel transparent: white
        expected = 1.0
    transform = ImageTransform((channels, 3, 5), (0.0,) * channels, (1.0,) * channels)
    x = read(transform, im, fmt, "uniform")  # mean 0, std 1: the pixels in [0, 1]
    slack = 0.5 / 255 + (2 / 255 if fmt == "JPEG" else 0) + (1 / 255 if mode in CONVERTED else 0) + 1e-6
    got = (x.min().item(), x.max().item())
    assert abs(got[0] - expected) <= slack and abs(got[1] - expected) <= slack, \
        f"a uniform {mode} image of {v} (full scale {full}) via {fmt}: read as {got}, not {expected:.4f}"
