"""Image folders too big for memory: ImageNet and any class-folder tree, decoded and augmented as they stream.

Layouts (`data.name`):
- `imagenet`: `<data root>/imagenet/` (or `data.path`) with `train/<wnid>/*.JPEG` and `val/<wnid>/*.JPEG`, i.e.
  torchvision's layout after the usual re-sorting of the 50,000 validation images into class folders. The 1,000
  classes are the wnid folders in sorted order; `LOC_synset_mapping.txt` beside them (Kaggle's copy), if present,
  gives their names. ILSVRC's validation set is the test split here (its test labels were never published).
- `folder`: `data.path` with `train/<class>/*` and `val/<class>/*`, or one tree `<class>/*` of which a fixed random
  `data.val_fraction` becomes the evaluation split. Any image size, any number of classes; class names are the
  folder names (sorted) and travel in every checkpoint (`milestones predict` prints them).

Streaming: a sample is read and decoded when its batch is due (Pillow: JPEG, PNG, BMP, GIF, WebP; torchvision.io's
decoders are deprecated from torchvision 0.29 on), in `data.workers` processes of a torch DataLoader. Training views are the Inception-style random
resized crop (Szegedy et al. 2015, Sec. 6: 8-100% of the area, aspect 3/4-4/3) at `data.image_size`, then a random
horizontal flip: the recipe of torchvision's classification references. (Krizhevsky et al. took 224 crops of
256-pixel images, He et al. resized the shorter side to [256, 480]; the random resized crop covers both and is
what both lines of work use today.) Evaluation views: shorter side resized to `data.resize`, centre crop of
`data.image_size` (the single-crop protocol). Normalisation and channels_last happen on the training device. The
evaluation view and the normalisation are data/transforms.py's, the same steps `predict` takes of a photo.

Bad files: a file that is not an image (by its suffix), an empty class folder, or a val/ tree whose classes differ
from train/'s stop the run before training with one line. A file that fails to decode in the middle of an epoch (a
truncated JPEG) also stops it with one line naming the file, rather than being skipped: a silently smaller epoch
would make a run irreproducible; the last completed epoch's checkpoint is kept, so fix or remove it and `--resume`.

Determinism: the epoch's order is a permutation from (seed, epoch); a sample's crop and flip come from a generator
seeded by (seed, epoch, index), not from the worker that happens to load it. So a run gives the same batches with
any number of workers, and `--resume` continues exactly at epoch granularity. Under DDP each rank reads only its
share: the interleaved part `[rank::world_size]` of every global batch, as the in-memory loader (data/batches.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
import torch

from ..errors import DataError
from .datasets import DATASETS
from .decode import read_image
from .transforms import centre_view, normalise

FOLDER_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}
RRC_SCALE, RRC_RATIO = (0.08, 1.0), (3 / 4, 4 / 3)  # Szegedy et al. 2015, Sec. 6


@dataclass
class FileList:
    files: list[Path]
    labels: list[int]

    def pick(self, idx: list[int]) -> "FileList":
        return FileList([self.files[i] for i in idx], [self.labels[i] for i in idx])

    def split(self, held: int, seed: int = 0) -> tuple["FileList", "FileList"]:
        """(kept, held out): a fixed random `held` files of the list, both parts in their original order."""
        perm = torch.randperm(len(self.files), generator=torch.Generator().manual_seed(seed)).tolist()
        return self.pick(sorted(perm[held:])), self.pick(sorted(perm[:held]))


@dataclass
class FolderData:
    name: str
    classes: list[str]
    train: FileList
    test: FileList  # ImageNet's validation set / the folder's val/ or its held-out fraction


def _scan(split_dir: Path, classes: Optional[list[str]] = None) -> tuple[FileList, list[str]]:
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: not found (expected class folders <class>/*.jpg)")
    if classes is None:
        classes = sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{split_dir}: no class folders (expected {split_dir}/<class>/*.jpg)")
    files, labels = [], []
    for label, cls in enumerate(classes):
        folder = split_dir / cls
        if not folder.is_dir():
            raise DataError(f"{folder}: missing (the training classes must all have a folder here)")
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        other = [p for p in entries if p.suffix.lower() not in FOLDER_SUFFIXES]
        if other:
            raise DataError(f"{other[0]}: not an image file ({', '.join(sorted(FOLDER_SUFFIXES))}); move it out of the "
                            f"class folders ({len(other)} such file{'s' if len(other) > 1 else ''} in {folder.name}/)")
        found = [p for p in entries if p.is_file()]
        if not found:
            raise DataError(f"{folder}: empty class folder (expected image files)")
        files += found
        labels += [label] * len(found)
    return FileList(files, labels), classes


def _class_names(folder: Path, wnids: list[str]) -> list[str]:
    """ImageNet: 'n01440764' -> 'tench, Tinca tinca' where LOC_synset_mapping.txt says so."""
    mapping = folder / "LOC_synset_mapping.txt"
    if not mapping.is_file():
        return wnids
    words = dict(line.split(" ", 1) for line in mapping.read_text(encoding="utf-8").splitlines() if " " in line)
    return [words.get(w, w).strip() for w in wnids]


def load_folder_data(name: str, *, root: Path, path: Optional[str], val_fraction: float,
                     split_seed: int = 0) -> FolderData:
    """The file lists and class names of an `imagenet` or `folder` data set (nothing is decoded here)."""
    base = Path(path).expanduser().resolve() if path else (root / DATASETS[name].folder if name == "imagenet" else None)
    if base is None:
        raise DataError("data.name 'folder' needs data.path: a folder of class folders (or of train/ and val/)")
    if not base.is_dir():
        raise DataError(f"{base}: not found ({'data.path' if path else 'the data root'} must hold "
                        f"{'train/ and val/ class folders' if name == 'imagenet' else 'class folders'})")
    if (base / "train").is_dir():
        train, classes = _scan(base / "train")
        if not (base / "val").is_dir():
            raise DataError(f"{base}: has train/ but no val/ (put the validation images in val/<class>/)")
        extra = sorted(p.name for p in (base / "val").iterdir() if p.is_dir() and p.name not in classes)
        if extra:
            raise DataError(f"{base / 'val'}: class folders that train/ lacks ({', '.join(extra[:3])}"
                            f"{', ...' if len(extra) > 3 else ''}): train and val must name the same classes")
        test, _ = _scan(base / "val", classes)
    elif name == "imagenet":
        raise DataError(f"{base}: expected train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (torchvision's layout)")
    else:
        every, classes = _scan(base)
        if not 0 < val_fraction < 1:
            raise DataError(f"{base}: one tree without train/ and val/ needs data.val_fraction in (0, 1) to hold "
                            f"out an evaluation split, got {val_fraction}")
        train, test = every.split(max(1, int(round(val_fraction * len(every.files)))), split_seed)
    if len(classes) < 2:  # softmax over one class: a loss of 0 and 100% accuracy from the first step
        raise DataError(f"{base}: one class folder ({classes[0]}); a classifier needs at least two, one folder of "
                        f"images each")
    if name == "imagenet":
        classes = _class_names(base, classes)
    return FolderData(name, classes, train, test)


# --- one sample ----------------------------------------------------------------------------------------------------

def random_resized_crop_box(h: int, w: int, g: torch.Generator) -> tuple[int, int, int, int]:
    """(top, left, height, width) of an Inception-style crop: area 8-100%, aspect 3/4-4/3, 10 tries, else the
    centre crop of the largest allowed aspect (Szegedy et al. 2015, Sec. 6)."""
    area = h * w
    for _ in range(10):
        u = torch.rand(3, generator=g).tolist()
        target = area * (RRC_SCALE[0] + u[0] * (RRC_SCALE[1] - RRC_SCALE[0]))
        aspect = math.exp(math.log(RRC_RATIO[0]) + u[1] * (math.log(RRC_RATIO[1]) - math.log(RRC_RATIO[0])))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(u[2] * (h - ch + 1))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=g))
            return top, left, ch, cw
    ratio = w / h
    if ratio < RRC_RATIO[0]:
        cw, ch = w, int(round(w / RRC_RATIO[0]))
    elif ratio > RRC_RATIO[1]:
        ch, cw = h, int(round(h * RRC_RATIO[1]))
    else:
        ch, cw = h, w
    return (h - ch) // 2, (w - cw) // 2, ch, cw


class FolderImages(torch.utils.data.Dataset):
    """Sample i of a file list as (uint8 image (3, S, S), label): decoded, then cropped and flipped (training) or
    resized and centre-cropped (evaluation)."""

    def __init__(self, files: FileList, *, train: bool, image_size: int, resize: int, seed: int) -> None:
        self.files, self.train = files, train
        self.size, self.resize, self.seed, self.epoch = image_size, resize, seed, 0

    def __len__(self) -> int:
        return len(self.files.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from torchvision.transforms.v2 import functional as TF  # lazy: see LAZY in tests/test_architecture.py

        path = self.files.files[i]
        try:  # every Pillow mode at its full range (data/decode.py)
            x = torch.from_numpy(np.asarray(read_image(path, 3)).copy()).permute(2, 0, 1)  # (3, H, W) uint8
        except (OSError, ValueError) as e:  # PIL's UnidentifiedImageError is an OSError
            raise DataError(f"{path}: cannot decode image ({str(e).splitlines()[0][:100]})") from None
        if self.train:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + self.epoch) * 10_000_019 + i)
            top, left, h, w = random_resized_crop_box(x.shape[1], x.shape[2], g)
            x = TF.resized_crop(x, top, left, h, w, [self.size, self.size], antialias=True)  # (3, S, S)
            if torch.rand(1, generator=g).item() < 0.5:
                x = TF.horizontal_flip(x)
        else:  # the evaluation view, as `predict` takes it of a photo (data/transforms.py)
            x = centre_view(x, (self.size, self.size), self.resize)  # (3, S, S)
        return x, self.files.labels[i]


class FolderLoader:
    """Global batches of a streamed image folder, as this rank's normalised float share on `device`; the same
    interface as data.batches.BatchLoader (set_epoch, len = optimizer steps per epoch, iteration)."""

    def __init__(self, files: FileList, *, batch_size: int, train: bool, image_size: int, resize: int,
                 mean: tuple[float, ...], std: tuple[float, ...], seed: int, workers: int,
                 device: torch.device, channels_last: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise DataError(f"the global batch {batch_size} does not split evenly over {world_size} processes")
        self.dataset = FolderImages(files, train=train, image_size=image_size, resize=resize, seed=seed)
        self.batch_size, self.train, self.seed, self.epoch = batch_size, train, seed, 0
        self.workers, self.device, self.channels_last = workers, device, channels_last
        self.rank, self.world_size = rank, world_size
        self.mean = torch.tensor(mean, device=device).view(-1, 1, 1)  # (C, 1, 1)
        self.std = torch.tensor(std, device=device).view(-1, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.train else math.ceil(n / self.batch_size)

    def indices(self) -> list[int]:
        """This rank's samples for the epoch, in order: its share of every global batch."""
        n = len(self.dataset)
        if self.train:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch))
            order = order[:len(self) * self.batch_size].view(len(self), self.batch_size)  # (steps, B) global
        else:
            order = torch.arange(n)
            order = torch.cat([order, order.new_full((len(self) * self.batch_size - n,), -1)]).view(len(self), -1)
        mine = order[:, self.rank::self.world_size].reshape(-1)  # (steps * B / world,)
        return mine[mine >= 0].tolist()  # evaluation's last batch is partial: no padding samples

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.dataset.epoch = self.epoch  # workers receive the dataset, with its epoch, when iteration starts
        mine = self.indices()
        per_rank = self.batch_size // self.world_size
        loader = torch.utils.data.DataLoader(
            torch.utils.data.Subset(self.dataset, mine), batch_size=per_rank, shuffle=False,
            num_workers=self.workers, pin_memory=self.device.type == "cuda",
            multiprocessing_context="spawn" if self.workers and torch.cuda.is_initialized() else None)
        batches = iter(loader)
        while True:
            try:
                x, y = next(batches)  # x: (b, 3, S, S) uint8
            except StopIteration:
                return
            except DataError as e:  # re-raised from a worker with its traceback appended: keep the first line
                raise DataError(str(e).split("Original Traceback")[-1].strip().splitlines()[-1]
                                .removeprefix("milestones.errors.DataError: ")) from None
            x = normalise(x.to(self.device, non_blocking=True), self.mean, self.std)  # (b, 3, S, S) float32
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True)
