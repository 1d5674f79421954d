"""Image files as 8-bit greyscale or RGB: the one decoding every reader here shares (class folders, streamed
folders, `milestones predict`), so that every Pillow mode keeps its whole range.

- 1-bit, L, P (palette), CMYK, YCbCr, LAB, HSV, RGB: Pillow's own conversion (1-bit: 0 and 255; LAB through RGB,
  which Pillow alone converts it to).
- 16-bit greyscale (I;16, I;16B, I;16L; and I, as Pillow may open a 16-bit PNG or TIFF): value / 65535 of full
  scale, so 32768 becomes 128. (Pillow's convert("L") clips them at 255: any 16-bit image looked all white.) An I
  image with values outside 0..65535 (real 32-bit integers) is refused: nothing says what its white is.
- 32-bit float (F, a float TIFF): 0.0 to 1.0 of full scale. (Pillow's convert("L") takes them as 0..255: any
  float image looked all black.) Values that are not finite or lie outside [0, 1] beyond rounding are refused.
- Alpha (LA, La, PA, RGBA, RGBa, and P, L, 16-bit or RGB with a transparent colour): composited on white, as a
  viewer shows it on a white page. Dropping the alpha instead would show whatever colour transparent pixels happen
  to store, often black.

Refused in one line (a DataError naming the file) before any pixel is decoded: anything but a regular file (a
named pipe would block the reader for ever, a device is not an image), and an image of more pixels than Pillow's
limit (Image.MAX_IMAGE_PIXELS, 89,478,485 by default): a decompression bomb, or a tiny file whose header claims a
huge size. Errors of decoding itself (not an image, truncated) are raised as Pillow raises them (OSError,
ValueError), for each caller to word.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}
FLOAT_SLACK = 0.5 / 255  # float pixels may overshoot [0, 1] by rounding, up to half an 8-bit step
NOT_REGULAR = [(stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket")]


def check_regular_file(path: str | Path) -> None:
    """Refuse anything but a regular file (symbolic links followed), before it is opened. A missing file raises
    FileNotFoundError."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in NOT_REGULAR if test(mode)), "not a regular file")
        raise DataError(f"{path}: {kind}, not an image file; give the path of an image file")


def read_image(path: str | Path, channels: int = 3) -> Any:
    """`path` decoded as a loaded 8-bit Pillow image, mode "L" (`channels` 1) or "RGB" (3), as the module says."""
    from PIL import Image  # lazy: see LAZY in tests/test_architecture.py

    check_regular_file(path)
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)  # over the limit: refused, not warned
            with Image.open(path) as im:
                im.load()
                return eight_bit(im, channels, path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"{path}: more pixels than the {limit:,} Pillow decodes safely (a decompression bomb, or a "
                        f"damaged header); shrink the image first") from None
    except MemoryError:
        raise DataError(f"{path}: too large to decode in memory (or its header is damaged); shrink the image "
                        f"first") from None


def eight_bit(im: Any, channels: int, path: str | Path) -> Any:
    """A loaded image of any mode as mode "L" or "RGB" (`channels` 1 or 3), its range kept (see the module); `path`
    names it in errors."""
    from PIL import Image  # lazy: see LAZY in tests/test_architecture.py

    if im.mode in SIXTEEN_BIT or im.mode == "I":
        a = np.asarray(im).astype(np.float64)  # (H, W)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DataError(f"{path}: 32-bit integer pixels from {a.min():.0f} to {a.max():.0f}, whose white is not "
                            f"known; save it with 8 or 16 bits per pixel")
        eight = np.rint(a / 257).astype(np.uint8)  # 65535 / 257 = 255
        if "transparency" in im.info:  # a transparent grey (PNG's tRNS): white, as composited on a white page
            eight[a == im.info["transparency"]] = 255
        im = Image.fromarray(eight)
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)  # (H, W)
        if not np.isfinite(a).all():
            raise DataError(f"{path}: float pixels that are not all numbers (NaN or infinite); save it with finite "
                            f"values from 0 (black) to 1 (white)")
        if a.size and (a.min() < -FLOAT_SLACK or a.max() > 1 + FLOAT_SLACK):
            raise DataError(f"{path}: float pixels from {a.min():g} to {a.max():g}; float images are read as 0 "
                            f"(black) to 1 (white): scale it to that range, or save it with 8 or 16 bits")
        im = Image.fromarray(np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8))
    elif im.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info:
        rgba = (im.convert("LA") if im.mode == "La" else im).convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (255, 255, 255, 255)), rgba)
    elif im.mode == "LAB":  # Pillow converts L*a*b* to RGB alone (not to L): through sRGB
        im = im.convert("RGB")
    target = "L" if channels == 1 else "RGB"
    return im.copy() if im.mode == target else im.convert(target)  # (a copy: closing the file voids `im`)
