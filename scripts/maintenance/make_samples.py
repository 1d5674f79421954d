"""Write the small real data samples that ship inside the package (milestones/data/samples/), used by
`milestones tour` when there is no data folder.

    python scripts/maintenance/make_samples.py --data ../shared/data

- MNIST: the first 5,000 training and the first 1,000 test images with their labels, as IDX files in MNIST's own
  layout (MNIST/raw/*-ubyte.gz), so the ordinary MNIST reader loads them.
- small_parallel_enja: the first 5,000 training pairs, the first 200 dev pairs and all 500 test pairs, unchanged.
- cifar10_images: the first test image of each CIFAR-10 class (test/<class>/0000.jpg of the JPEG copy), byte for
  byte, as <class>.jpg: what the notebooks (notebooks/) classify with the shipped weights (`milestones predict`).
The output is deterministic (gzip without a timestamp): running it again gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import struct
from pathlib import Path

from milestones.data.images import read_idx

OUT = Path(__file__).resolve().parents[2] / "milestones" / "data" / "samples"
MNIST = {"train-images-idx3-ubyte": 5000, "train-labels-idx1-ubyte": 5000,
         "t10k-images-idx3-ubyte": 1000, "t10k-labels-idx1-ubyte": 1000}
ENJA = {"train": 5000, "dev": 200, "test": 500}


def write_idx(path: Path, array) -> None:
    header = bytes([0, 0, 0x08, array.dim()]) + struct.pack(f">{array.dim()}I", *array.shape)
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
        f.write(header + array.numpy().tobytes())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data")
    args = p.parse_args()
    data = Path(args.data)

    (OUT / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
    for stem, n in MNIST.items():
        write_idx(OUT / "MNIST" / "raw" / f"{stem}.gz", read_idx(data / "MNIST" / "raw" / f"{stem}.gz")[:n])
    (OUT / "small_parallel_enja").mkdir(parents=True, exist_ok=True)
    for split, n in ENJA.items():
        for lang in ("ja", "en"):
            lines = (data / "small_parallel_enja" / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
            (OUT / "small_parallel_enja" / f"{split}.{lang}").write_text("\n".join(lines[:n]) + "\n", encoding="utf-8")
    (OUT / "cifar10_images").mkdir(parents=True, exist_ok=True)
    for folder in sorted((data / "cifar10_jpeg" / "test").iterdir()):
        (OUT / "cifar10_images" / f"{folder.name}.jpg").write_bytes((folder / "0000.jpg").read_bytes())
    for f in sorted(OUT.rglob("*")):
        if f.is_file() and f.name != "SOURCE.md":
            print(f"| `{f.relative_to(OUT)}` | {f.stat().st_size} | `{hashlib.sha256(f.read_bytes()).hexdigest()}` |")


if __name__ == "__main__":
    main()
