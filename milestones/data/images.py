"""Image data: MNIST, Fashion-MNIST and CIFAR-10 as uint8 tensors on the training device.

Readers
- MNIST and Fashion-MNIST: the IDX files in torchvision's layout, `<root>/MNIST/raw/*-ubyte.gz` and
  `<root>/FashionMNIST/raw/*-ubyte.gz`, read directly (gzipped or not).
- CIFAR-10: the official pickled batches `<root>/cifar-10-batches-py/` (what torchvision's download makes), else a
  class-folder tree `<root>/<cifar10_jpeg|cifar10|CIFAR10>/{train,test}/<class>/*.{jpg,png}`. Folders are decoded
  once and the uint8 result is cached under the cache folder (never under the data root, which may be read-only).

The whole split stays a uint8 tensor (N, C, H, W) on the device; batches.py gathers, augments and normalises
its batches.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import DataError
from .datasets import DATASETS, dataset
from .decode import read_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
CIFAR10_FOLDERS = ("cifar10_jpeg", "cifar10", "CIFAR10")


def data_root(root: Optional[str] = None) -> Path:
    """The data root: the config's value, else $MILESTONES_DATA, else ./data; resolved, so messages name it in full."""
    return Path(root or os.environ.get("MILESTONES_DATA") or "data").expanduser().resolve()


def cache_root(cache_dir: Optional[str] = None) -> Path:
    """Writable folder for decoded data sets: the config's value, else $MILESTONES_CACHE, else ~/.cache/milestones."""
    return Path(cache_dir or os.environ.get("MILESTONES_CACHE") or "~/.cache/milestones").expanduser().resolve()


# --- IDX (MNIST, Fashion-MNIST) ------------------------------------------------------------------------------------

def read_idx(path: str | Path) -> torch.Tensor:
    """Read an IDX file (LeCun's MNIST format, gzipped or not) into a uint8 tensor of its stated shape."""
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip raises BadGzipFile (an OSError) or EOFError when truncated
        raise DataError(f"{path}: cannot read IDX file ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an IDX file of unsigned bytes (magic {raw[:4].hex() or 'missing'}, "
                        f"expected 0000080N)")
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    expected = int(np.prod(shape))
    body = raw[4 + 4 * ndim:]
    if len(body) != expected:
        raise DataError(f"{path}: IDX header promises {expected} bytes for shape {shape}, file holds {len(body)}")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def _find(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_mnist(root: Path, name: str = "mnist", download: bool = True) -> tuple:
    """Return (train_x, train_y, test_x, test_y): images (N, 1, 28, 28) uint8, labels (N,) int64."""
    folder = DATASETS[name].folder
    raw = root / folder / "raw"
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    paths = [_find(raw, s) for s in stems]
    if None in paths and download:
        _download(root, name)
        paths = [_find(raw, s) for s in stems]
    if None in paths:
        raise DataError(f"{name}: missing {', '.join(s + '.gz' for s, p in zip(stems, paths) if p is None)} in {raw} "
                        f"(set data.root or $MILESTONES_DATA to a folder holding {folder}/raw/)")
    tx, ty, vx, vy = (read_idx(p) for p in paths)
    for x, y, px in ((tx, ty, paths[0]), (vx, vy, paths[2])):
        if x.dim() != 3 or y.dim() != 1 or len(x) != len(y):
            raise DataError(f"{px}: {tuple(x.shape)} images do not match {tuple(y.shape)} labels")
    return tx.unsqueeze(1), ty.long(), vx.unsqueeze(1), vy.long()


# --- CIFAR-10 ------------------------------------------------------------------------------------------------------

def _load_cifar_batches(folder: Path) -> tuple:
    def load(names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ys = [], []
        for n in names:
            try:
                with open(folder / n, "rb") as f:
                    d = pickle.load(f, encoding="latin1")  # the official format is a pickle; this is trusted data
                xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))  # (N, 3072) -> (N, C, H, W)
                ys.append(np.asarray(d["labels"], dtype=np.int64))
            except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError) as e:
                raise DataError(f"{folder / n}: cannot read CIFAR-10 batch ({e})") from None
        return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

    return (*load([f"data_batch_{i}" for i in range(1, 6)]), *load(["test_batch"]))


def read_class_folders(split_dir: str | Path, classes: Optional[list[str]] = None) -> tuple:
    """Decode `split_dir/<class>/*.{jpg,png}` into (images (N, 3, H, W) uint8, labels (N,) int64, class names).

    Classes are the sub-folder names in sorted order (torchvision's ImageFolder rule), files in sorted order.
    """
    from PIL import UnidentifiedImageError  # lazy: see LAZY in tests/test_architecture.py

    split_dir = Path(split_dir)
    if classes is None:
        classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{split_dir}: no class folders")
    images, labels = [], []
    for label, cls in enumerate(classes):
        files = sorted(p for p in (split_dir / cls).iterdir() if not p.name.startswith(".")) \
            if (split_dir / cls).is_dir() else []
        if not files:
            raise DataError(f"{split_dir / cls}: empty class folder (expected image files)")
        for f in files:
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                raise DataError(f"{f}: not an image file (expected {', '.join(sorted(IMAGE_SUFFIXES))})")
            try:  # every Pillow mode at its full range (data/decode.py)
                images.append(np.asarray(read_image(f, 3)))  # (H, W, C)
            except (UnidentifiedImageError, OSError, ValueError) as e:
                raise DataError(f"{f}: cannot decode image ({e})") from None
            labels.append(label)
    shapes = {a.shape for a in images}
    if len(shapes) != 1:
        raise DataError(f"{split_dir}: images differ in size {sorted(shapes)[:3]}")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # (N, H, W, C) -> (N, C, H, W)
    return x, torch.tensor(labels, dtype=torch.long), classes


def _tree_key(folder: Path) -> str:
    """Fingerprint of a class-folder tree, naming its decoded cache file: each file's relative path, size, mtime_ns,
    ctime_ns and inode, so that a file rewritten in any way (even with the same byte count, or with its mtime set
    back: every write moves ctime, which nothing can set) or replaced by another gets a new key and the tree is
    decoded again. (Changing a file's owner or permissions does too, once: a needless decode, never a stale one.)
    Cost: the one stat per file the size alone took, no read; os.scandir, as pathlib's rglob took 2 s of every
    CIFAR-10 load (60k JPEGs), 0.2 s this way. A hash of every file's bytes would catch tampering that restores
    all of these, at the cost of reading every byte of the tree on every load."""
    files = []  # (path parts relative to `folder`, size, mtime_ns, ctime_ns, inode), sorted as pathlib sorts paths
    for directory, _, _ in os.walk(folder):
        rel = os.path.relpath(directory, folder)
        parts = () if rel == "." else tuple(rel.split(os.sep))
        with os.scandir(directory) as entries:
            for e in entries:
                if e.is_file():
                    st = e.stat()
                    files.append((parts + (e.name,), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino))
    h = hashlib.sha256(str(folder.resolve()).encode())
    for parts, *stamp in sorted(files):
        h.update(f"{'/'.join(parts)}:{':'.join(map(str, stamp))}\n".encode())
    return h.hexdigest()[:16]


def load_cifar10(root: Path, cache_dir: Path, download: bool = True) -> tuple:
    """Return (train_x, train_y, test_x, test_y) for CIFAR-10 from whichever layout the root holds."""
    def find_layout() -> Optional[Path]:
        if (root / "cifar-10-batches-py" / "test_batch").is_file():
            return root / "cifar-10-batches-py"
        for name in CIFAR10_FOLDERS:
            if (root / name / "train").is_dir() and (root / name / "test").is_dir():
                return root / name
        return None

    folder = find_layout()
    if folder is None and download:
        _download(root, "cifar10")
        folder = find_layout()
    if folder is None:
        raise DataError(f"cifar10: not found under {root} (put the official cifar-10-batches-py/ there, or class "
                        f"folders {CIFAR10_FOLDERS[0]}/train/<class>/*.jpg and .../test/<class>/*.jpg)")
    if folder.name == "cifar-10-batches-py":
        return _load_cifar_batches(folder)

    cache = cache_dir / f"cifar10_{_tree_key(folder)}.pt"
    if cache.is_file():
        try:
            d = torch.load(cache, weights_only=True)
            return d["train_x"], d["train_y"], d["test_x"], d["test_y"]
        except Exception:  # a stale or broken cache is rebuilt, never trusted
            pass
    tx, ty, classes = read_class_folders(folder / "train")
    vx, vy, _ = read_class_folders(folder / "test", classes)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}")
        torch.save({"train_x": tx, "train_y": ty, "test_x": vx, "test_y": vy, "classes": classes}, tmp)
        os.replace(tmp, cache)
    except OSError:
        pass  # no writable cache: decode again next time
    return tx, ty, vx, vy


def _download(root: Path, name: str) -> None:
    """torchvision's usual download into the data root, only where that root can be written; quiet on failure."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK):
            return
        import torchvision.datasets as tvd

        cls = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception:  # no network, a proxy, a full disk: the caller reports which files to put where
        pass


# --- the splits on the device --------------------------------------------------------------------------------------

@dataclass
class ImageData:
    name: str
    classes: list[str]
    train_x: torch.Tensor  # (N, C, H, W) uint8
    train_y: torch.Tensor  # (N,) int64
    val_x: Optional[torch.Tensor]
    val_y: Optional[torch.Tensor]
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])  # (C, H, W)


def load_image_data(
    name: str,
    *,
    root: Optional[str] = None,
    cache_dir: Optional[str] = None,
    download: bool = True,
    val_size: int = 0,
    train_size: Optional[int] = None,
    test_size: Optional[int] = None,
    device: torch.device | str = "cpu",
    split_seed: int = 0,
) -> ImageData:
    """Load a data set, carve the held-out validation split and the training subset, move it to `device`.

    The validation split and the training and test subsets are random but come from a fixed `split_seed`, not the
    training seed, so that runs with different seeds (and different models) see the same images.
    """
    r, info = data_root(root), dataset(name)
    if info.reader == "idx":
        tx, ty, vx, vy = load_mnist(r, name, download)
    elif info.reader == "cifar":
        tx, ty, vx, vy = load_cifar10(r, cache_root(cache_dir), download)
    else:
        raise DataError(f"'{name}' is not held in memory (these are: "
                        f"{', '.join(n for n, d in DATASETS.items() if d.in_memory)})")
    if val_size + (train_size or 1) > len(tx):
        raise DataError(f"{name}: val_size {val_size} + train_size {train_size} exceed the {len(tx)} training images")
    perm = torch.randperm(len(tx), generator=torch.Generator().manual_seed(split_seed))
    val_idx, train_idx = perm[:val_size], perm[val_size:]
    if train_size is not None:
        train_idx = train_idx[:train_size]
    train_idx, val_idx = train_idx.sort().values, val_idx.sort().values
    if test_size is not None:  # a fixed random subset: class-folder trees are sorted by class
        keep = torch.randperm(len(vx), generator=torch.Generator().manual_seed(split_seed))[:test_size].sort().values
        vx, vy = vx[keep], vy[keep]
    mean, std, classes = info.mean, info.std, list(info.classes)
    dev = torch.device(device)
    return ImageData(
        name=name, classes=classes,
        train_x=tx[train_idx].to(dev), train_y=ty[train_idx].to(dev),
        val_x=tx[val_idx].to(dev) if val_size else None, val_y=ty[val_idx].to(dev) if val_size else None,
        test_x=vx.to(dev), test_y=vy.to(dev), mean=mean, std=std,
    )
