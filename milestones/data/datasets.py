"""The data sets: one entry each, the only place their facts live.

Each entry says which task trains on it, how it is read (the reader module), what one example is, the official
split sizes, the input shape and classes, and the per-channel normalisation. Everything else asks this table: the
config check (`data.name` must be a key here, and `task` follows from it), the readers (images.py, text.py,
synthetic.py, folders.py), the leaderboard's training-set sizes, the planner, the zoo and `predict`.

Adding a data set: one entry here and, if it is read in a new way, a reader beside the others.

Sources of the numbers
- MNIST: LeCun et al. 1998 (60 000 / 10 000 28x28 grey digits); Fashion-MNIST: Xiao et al. 2017, arXiv:1708.07747
  (same layout); CIFAR-10: Krizhevsky 2009, "Learning Multiple Layers of Features from Tiny Images" (50 000 /
  10 000 32x32 colour photos). Their mean and std: the usual published training-set values.
- ImageNet (ILSVRC 2012): Russakovsky et al. 2015, arXiv:1409.0575 (1.28M training images, 50 000 validation
  images scored as the test set, 1000 classes); the usual ImageNet per-channel mean and std, also the default of
  a user's own `folder` of photos (what ImageNet-trained weights expect).
- The adding problem: Hochreiter & Schmidhuber 1997, Sec. 5.4; Table 7 counts errors out of 2560 test sequences.
  Training sequences are generated afresh: 100 000 an epoch is our choice.
- small_parallel_enja: odashi's split of the Tanaka corpus (50 000 / 500 / 500 pairs); Multi30k task 1: Elliott et
  al. 2016, arXiv:1605.00459 (29 000 / 1 014 / 1 000 pairs, test_2016_flickr).
- `folder` and `pairs` are the user's own: class folders of photos, and sentence pairs (their languages in the
  config, or those of the weights a run starts from).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import DataError


@dataclass(frozen=True)
class DataSet:
    name: str
    task: str  # the key of milestones.tasks.TASKS that trains on it
    # "idx", "cifar" (images.py, held in memory); "folder" (folders.py, streamed); "adding"; "corpus" (text.py);
    # "pairs" (pairs.py)
    reader: str
    counts: str  # what one example is, as the leaderboard counts the training set: "images", "sequences", "pairs"
    train_size: Optional[int] = None  # the official training split (None: whatever a folder holds)
    test_size: Optional[int] = None  # the official test split
    input_shape: Optional[tuple[int, int, int]] = None  # (C, H, W) of the images held in memory
    classes: tuple[str, ...] = ()  # class names in label order (folders: read from the tree)
    mean: Optional[tuple[float, ...]] = None  # per-channel normalisation in [0, 1] units
    std: Optional[tuple[float, ...]] = None
    folder: str = ""  # its folder under the data root, where the reader looks first
    languages: Optional[tuple[str, str]] = None  # translation: (source, target)
    split_files: dict[str, str] = field(default_factory=dict)  # translation: split -> file stem
    generated: bool = False  # examples drawn afresh each epoch (the adding problem), none read from disk
    source: str = ""  # where it comes from, as the zoo's entries cite it

    @property
    def in_memory(self) -> bool:
        """Whole splits held as uint8 tensors on the device (batches.py): the sets mixup / CutMix apply to."""
        return self.reader in ("idx", "cifar")

    def training_examples(self, val_size: int = 0, train_size: Optional[int] = None) -> Optional[int]:
        """Examples a run trains on: data.train_size, else the official split less the validation images
        (None where the size is not known without reading the data: a folder)."""
        if train_size is not None:
            return train_size
        return None if self.train_size is None else self.train_size - val_size


DIGITS = tuple(str(i) for i in range(10))
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

DATASETS: dict[str, DataSet] = {
    d.name: d
    for d in [
        DataSet("mnist", "classification", "idx", "images", 60_000, 10_000, (1, 28, 28), DIGITS,
                (0.1307,), (0.3081,), folder="MNIST", source="MNIST (LeCun et al.), the byte-exact IDX files"),
        DataSet("fashion_mnist", "classification", "idx", "images", 60_000, 10_000, (1, 28, 28), FASHION,
                (0.2860,), (0.3530,), folder="FashionMNIST", source="Fashion-MNIST (Xiao et al. 2017), the IDX files"),
        DataSet("cifar10", "classification", "cifar", "images", 50_000, 10_000, (3, 32, 32), CIFAR10,
                (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),  # its folders: images.CIFAR10_FOLDERS
                source="CIFAR-10 (Krizhevsky 2009), the JPEG-compressed copy of ../shared/data/cifar10_jpeg: trained "
                       "and measured on JPEG pixels, ~1-2 points below exact pixels"),
        DataSet("imagenet", "classification", "folder", "images", 1_281_167, 50_000, mean=IMAGENET_MEAN,
                std=IMAGENET_STD, folder="imagenet",
                source="ImageNet (ILSVRC 2012, Russakovsky et al. 2015)"),
        DataSet("folder", "classification", "folder", "images", mean=IMAGENET_MEAN, std=IMAGENET_STD),
        DataSet("adding", "regression", "adding", "sequences", 100_000, 2560, generated=True,
                source="the adding problem (Hochreiter & Schmidhuber 1997, Sec. 5.4), generated from the seed"),
        DataSet("small_parallel_enja", "seq2seq", "corpus", "pairs", 50_000, 500, folder="small_parallel_enja",
                languages=("ja", "en"), split_files={"train": "train", "val": "dev", "test": "test"},
                source="small_parallel_enja (Tanaka corpus subset, 50k pairs; see its SOURCE.md)"),
        DataSet("multi30k", "seq2seq", "corpus", "pairs", 29_000, 1_000, folder="multi30k",
                languages=("de", "en"), split_files={"train": "train", "val": "val", "test": "test_2016_flickr"},
                source="Multi30k (Elliott et al. 2016), de->en"),
        DataSet("pairs", "seq2seq", "pairs", "pairs",
                source="your own sentence pairs: data.path (a TSV file) or data.source_file and data.target_file"),
    ]
}


def dataset(name: str) -> DataSet:
    """The entry of `name`, or a DataError naming the known ones."""
    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}' (known: {', '.join(DATASETS)})")
    return DATASETS[name]


def datasets_of(task: str, reader: Optional[str] = None) -> tuple[str, ...]:
    """The names of the data sets `task` trains on (those read by `reader` alone, if given)."""
    return tuple(d.name for d in DATASETS.values() if d.task == task and reader in (None, d.reader))
