"""Streaming input pipeline: decode + augment throughput on ImageNet-like JPEGs, ours beside torchvision's.

    python scripts/bench/bench_folders.py --images 400 --output docs/results/folders

Writes N JPEGs like ImageNet's (500x375 natural-image-like noise, JPEG quality 90, ~110 KB each; real photos
decode at a similar rate for a given file size) into a temporary folder tree, then measures in one process
(`data.workers: 0`, one thread: images per second per core), best of `--repeats`:
- ours, training views: milestones.data.folders.FolderImages (Pillow decode, random resized crop to 224 with
  antialiasing, flip), uint8 out;
- torchvision's reference: datasets.ImageFolder + transforms.RandomResizedCrop(224) + RandomHorizontalFlip +
  PILToTensor (torchvision's classification references, uint8 out: the same work);
- evaluation views of both (resize 256 + centre crop 224).
A GPU step then needs images/s / per-core rate cores to keep up. The second table gives, for AlexNet (the paper's
224 model) and ResNet-50, a GPU step speed, the decoding cores per GPU it needs and the wall time of 90 ImageNet
epochs on 8 and 64 GPUs (linear scaling, the ideal) when `--cores-per-gpu` cores decode for each GPU (the slower
of the two sets the pace). The step speed is measured with `--device cuda` (bf16,
channels_last, batch 256 per GPU, random on-device batches); without a GPU, ResNet-50's is NVIDIA's published
figure (PUBLISHED_RESNET50) and AlexNet's is that figure scaled by the two nets' FLOPs per image (counted here with
torch's flop counter), i.e. the same achieved FLOP/s: an estimate, said so in the table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from milestones.data.folders import FolderImages, load_folder_data
from milestones.leaderboard import markdown_table, write_outputs
from milestones.models import create_model
from milestones.planner import seconds_per_call
from milestones.runtime import autocast

IMAGENET_TRAIN = 1_281_167
# ResNet-50 training on one GPU when none is at hand: NVIDIA DeepLearningExamples,
# PyTorch/Classification/ConvNets/resnet50v1.5/README.md, "Training performance: NVIDIA DGX A100 (8x A100 80GB)",
# 1 GPU, mixed precision: 2,470 img/s (8 GPUs: 16,621 img/s, i.e. 84% of linear scaling).
PUBLISHED_RESNET50 = (2470, "published: 1x A100 80GB, mixed precision (NVIDIA DeepLearningExamples)")
STEP_MODELS = {"AlexNet (224)": "alexnet224", "ResNet-50": "resnet50"}


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


def training_step(name: str, batch: int, device: torch.device):
    """One SGD training step of model `name` on random 224x224 images (bf16 autocast, channels_last on CUDA)."""
    model = create_model(name, num_classes=1000).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    x = torch.randn(batch, 3, 224, 224, device=device)  # (B, 3, 224, 224)
    y = torch.randint(0, 1000, (batch,), device=device)

    def step() -> None:
        with autocast(device, "bf16" if device.type == "cuda" else "fp32"):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def flops_per_image(name: str) -> int:
    """Forward + backward FLOPs of one 224x224 image (torch's flop counter, on the CPU)."""
    counter = FlopCounterMode(display=False)
    step = training_step(name, 1, torch.device("cpu"))
    with counter:
        step()
    return counter.get_total_flops()


def step_speeds(device: torch.device, steps: int) -> dict[str, tuple[float, str, int]]:
    """{model: (images/s per GPU, where the figure comes from, FLOPs per image)}."""
    flops = {label: flops_per_image(name) for label, name in STEP_MODELS.items()}
    if device.type == "cuda":
        return {label: (256 / seconds_per_call(training_step(name, 256, device), device, warmup=5, timed=steps),
                        f"measured: {torch.cuda.get_device_name(device)}, bf16, batch 256", flops[label])
                for label, name in STEP_MODELS.items()}
    speed, source = PUBLISHED_RESNET50
    return {"ResNet-50": (speed, source, flops["ResNet-50"]),
            "AlexNet (224)": (speed * flops["ResNet-50"] / flops["AlexNet (224)"],
                              "estimate: ResNet-50's published speed x its FLOPs / AlexNet's", flops["AlexNet (224)"])}


def wall(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=400)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--output", default="runs/bench_folders")
    p.add_argument("--device", default="cpu", help="cuda: measure the GPU step speeds instead of estimating them")
    p.add_argument("--steps", type=int, default=20, help="timed GPU steps per model (with --device cuda)")
    p.add_argument("--cores-per-gpu", type=int, default=16, help="CPU cores decoding for each GPU (a DGX A100: 16)")
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
    # cores to feed each model's GPU step speed, and 90 ImageNet epochs at that speed on 8 and 64 GPUs
    speeds = step_speeds(torch.device(args.device), args.steps)
    cores = args.cores_per_gpu
    needs = [[label, f"{flops / 1e9:.1f}", f"{speed:,.0f}", source, f"{speed / per_core:.1f}",
              f"{min(speed, cores * per_core):,.0f}",
              *(wall(90 * IMAGENET_TRAIN / (min(speed, cores * per_core) * g)) for g in (8, 64))]
             for label, (speed, source, flops) in speeds.items()]
    table += "\n\n" + markdown_table(["model", "GFLOP per image (fwd + bwd)", "GPU step speed (images/s per GPU)",
                                      "where from", "decoding cores per GPU to keep up (ours)",
                                      f"images/s per GPU fed by {cores} cores", "90 epochs on 8 GPUs",
                                      "on 64 GPUs"], needs)
    intro = (f"{args.images} JPEGs of 500x375, mean {np.mean(sizes) / 1e3:.0f} KB; best of {args.repeats}; "
             f"torch {torch.__version__}")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_outputs(out, table, {"images_per_s": rows, "mean_kb": float(np.mean(sizes) / 1e3),
                               "gpu_step": {k: {"images_per_s": v[0], "source": v[1], "flops_per_image": v[2]}
                                            for k, v in speeds.items()},
                               "images": args.images, "torch": str(torch.__version__)}, intro)


if __name__ == "__main__":
    main()
