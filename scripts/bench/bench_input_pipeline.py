"""Input pipeline benchmark: milestones' on-device tensor batches against torchvision's DataLoader + PIL transforms.

Both sides produce the same thing from CIFAR-10 training images: batches of 128 float tensors, randomly cropped
after 4-pixel zero padding, randomly flipped, normalised. Nothing is trained; this times only the input pipeline.

    python scripts/bench/bench_input_pipeline.py --data ../shared/data [--images 20000] [--workers 0 2]

Rows:
  milestones BatchLoader          uint8 tensor in memory, whole-batch crop/flip/normalise (this project)
  torchvision, in-memory + PIL    what torchvision.datasets.CIFAR10 does: uint8 arrays in memory,
                                  Image.fromarray + RandomCrop + RandomHorizontalFlip + ToTensor + Normalize
  torchvision ImageFolder (JPEG)  decodes each JPEG file every epoch (only when a class-folder tree exists)
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from milestones.data import BatchLoader, load_image_data
from milestones.data.datasets import DATASETS
from milestones.data.images import CIFAR10_FOLDERS, data_root


def rate(loader, limit: int) -> float:
    seen, start = 0, time.perf_counter()
    for xb, _ in loader:
        seen += len(xb)
        if seen >= limit:
            break
    return seen / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None, help="data root (default: $MILESTONES_DATA or ./data)")
    p.add_argument("--images", type=int, default=20000, help="images per measurement")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to try")
    args = p.parse_args()

    import torchvision.transforms as T
    from PIL import Image
    from torchvision.datasets import ImageFolder

    data = load_image_data("cifar10", root=args.data)
    mean, std = DATASETS["cifar10"].mean, DATASETS["cifar10"].std
    ours = BatchLoader(data.train_x, data.train_y, batch_size=args.batch_size, mean=mean, std=std, shuffle=True,
                       crop_padding=4, flip=True)
    rate(ours, 2 * args.batch_size)  # warm-up
    rows = [("milestones BatchLoader (this project)", "-", rate(ours, args.images))]

    transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToTensor(),
                           T.Normalize(mean, std)])
    hwc = data.train_x.permute(0, 2, 3, 1).contiguous().numpy()  # (N, C, H, W) -> (N, H, W, C) as CIFAR10 keeps it
    labels = data.train_y.tolist()

    class InMemoryPIL(torch.utils.data.Dataset):
        def __len__(self):
            return len(hwc)

        def __getitem__(self, i):
            return transform(Image.fromarray(hwc[i])), labels[i]

    for w in args.workers:
        dl = torch.utils.data.DataLoader(InMemoryPIL(), batch_size=args.batch_size, shuffle=True, num_workers=w)
        rows.append(("torchvision, in-memory + PIL transforms", str(w), rate(dl, args.images)))
    folder = next((data_root(args.data) / n / "train" for n in CIFAR10_FOLDERS
                   if (data_root(args.data) / n / "train").is_dir()), None)
    if folder is not None:
        for w in args.workers:
            dl = torch.utils.data.DataLoader(ImageFolder(str(folder), transform=transform),
                                             batch_size=args.batch_size, shuffle=True, num_workers=w)
            rows.append(("torchvision ImageFolder (JPEG decode)", str(w), rate(dl, args.images)))

    best_tv = max(r[2] for r in rows[1:])
    print(f"CIFAR-10 train, batch {args.batch_size}, crop(pad 4) + flip + normalise, {args.images} images each; "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} threads")
    print("| pipeline | workers | images/s | ours / this |")
    print("|---|---|---|---|")
    for name, w, r in rows:
        print(f"| {name} | {w} | {r:,.0f} | {rows[0][2] / r:.1f}x |")
    print(f"ratio against the fastest torchvision row: {rows[0][2] / best_tv:.1f}x")


if __name__ == "__main__":
    main()
