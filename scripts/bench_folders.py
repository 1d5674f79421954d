"""Streaming input pipeline: decode + augment throughput on ImageNet-like JPEGs, ours beside torchvision's.

    python scripts/bench_folders.py --images 400 --output docs/results/folders

Writes N JPEGs like ImageNet's (500x375 natural-image-like noise, JPEG quality 90, ~110 KB each; real photos
decode at a similar rate for a given file size) into a temporary folder tree, then measures in one process
(`data.workers: 0`, one thread: images per second per core), best of `--repeats`:
- ours, training views: milestones.data.folders.FolderImages (Pillow decode, random resized crop to 224 with
  antialiasing, flip), uint8 out;
- torchvision's reference: datasets.ImageFolder + transforms.RandomResizedCrop(224) + RandomHorizontalFlip +
  PILToTensor (torchvision's classification references, uint8 out: the same work);
- evaluation views of both (resize 256 + centre crop 224).
A GPU step then needs images/s / per-core rate cores to keep up: the table says how many for given step speeds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from milestones.data.folders import FolderImages, load_folder_data
from milestones.experiments import markdown_table, write_outputs


def make_tree(root: Path, n: int, classes: int = 10) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / "train" / f"c{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        # smooth noise: compresses like a photo (a few hundred KB of raw pixels -> ~100 KB of JPEG)
        small = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((500, 375), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 12, (375, 500, 3))
        img = Image.fromarray(np.clip(np.asarray(img) + noise, 0, 255).astype(np.uint8))
        img.save(folder / f"{i:05d}.JPEG", quality=90)
    for c in range(classes):
        (root / "val" / f"c{c:02d}").mkdir(parents=True, exist_ok=True)
        (root / "val" / f"c{c:02d}" / "a.JPEG").write_bytes((root / "train" / f"c{c:02d}" / f"{c:05d}.JPEG")
                                                             .read_bytes())


def rate(get, n: int, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(n):
            get(i)
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--output", default="runs/bench_folders")
    args = p.parse_args()
    torch.set_num_threads(1)
    from torchvision import datasets, transforms

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tree(root, args.images)
        sizes = [f.stat().st_size for f in (root / "train").rglob("*.JPEG")]
        data = load_folder_data("imagenet", root=root, path=str(root), val_fraction=0.1)
        ours_train = FolderImages(data.train, train=True, image_size=224, resize=256, seed=0)
        ours_eval = FolderImages(data.train, train=False, image_size=224, resize=256, seed=0)
        tv_train = datasets.ImageFolder(str(root / "train"), transforms.Compose([
            transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.PILToTensor()]))
        tv_eval = datasets.ImageFolder(str(root / "train"), transforms.Compose([
            transforms.Resize(256), transforms.CenterCrop(224), transforms.PILToTensor()]))
        rows = {
            "ours, training views": rate(lambda i: ours_train[i], args.images, args.repeats),
            "torchvision ImageFolder + PIL transforms, training views": rate(lambda i: tv_train[i], args.images,
                                                                            args.repeats),
            "ours, evaluation views": rate(lambda i: ours_eval[i], args.images, args.repeats),
            "torchvision ImageFolder + PIL transforms, evaluation views": rate(lambda i: tv_eval[i], args.images,
                                                                              args.repeats),
        }
    per_core = rows["ours, training views"]
    table = markdown_table(["pipeline (1 process, 1 thread)", "images/s per core"],
                           [[k, f"{v:.0f}"] for k, v in rows.items()])
    # cores to feed a given step speed (images/s of one GPU), and 90 ImageNet epochs at that speed
    needs = [[f"{speed:,}", f"{speed / per_core:.0f}", f"{90 * 1_281_167 / (speed * g) / 3600:.1f} h on {g} GPUs"]
             for speed in (1_000, 3_000) for g in (8, 64)]
    table += "\n\n" + markdown_table(["GPU step speed (images/s per GPU)", "decoding cores per GPU",
                                      "90 epochs of ImageNet (1.28M images)"], needs)
    intro = (f"{args.images} JPEGs of 500x375, mean {np.mean(sizes) / 1e3:.0f} KB; best of {args.repeats}; "
             f"torch {torch.__version__}")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, table, {"images_per_s": rows, "mean_kb": float(np.mean(sizes) / 1e3),
                               "images": args.images, "torch": str(torch.__version__)}, intro)


if __name__ == "__main__":
    main()
