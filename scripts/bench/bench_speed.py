"""Training speed per era: samples/s of a forward+backward+SGD step in fp32, bf16, channels_last and compile.

    python scripts/bench/bench_speed.py [--models mlp resnet20 ...] [--batch-size 128] [--steps 10] [--no-compile]

Synthetic inputs of each model's data shape (no data set needed); every row times the same model and batch.
Columns: fp32; bf16 autocast; channels_last (fp32); channels_last + bf16; torch.compile (fp32, includes no
compile time: it is warmed up first). On CUDA, fp16 autocast (with a grad scaler) is timed too.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from milestones import count_parameters, create_model
from milestones.data.datasets import DATASETS
from milestones.models import MODELS
from milestones.runtime import compile_model

VARIANTS = ["fp32", "bf16", "channels_last", "channels_last+bf16", "compile"]


def time_steps(model, x, y, *, precision: str, steps: int, device: torch.device) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    dtype = torch.float16 if precision == "fp16" else torch.bfloat16

    def step():
        with torch.autocast(device.type, dtype=dtype, enabled=precision != "fp32"):
            loss = F.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        if scaler:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    for _ in range(3):  # warm-up (and compilation, for compiled models)
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * len(x) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=[m for m in ("mlp", "lenet5", "alexnet", "resnet20", "resnet56",
                                                               "vit_tiny") if m in MODELS])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-compile", dest="compile", action="store_false")
    args = p.parse_args()

    device = torch.device(args.device)
    variants = VARIANTS + (["fp16"] if device.type == "cuda" else [])
    if not args.compile:
        variants.remove("compile")
    print(f"batch {args.batch_size}, {args.steps} timed steps after 3 warm-up, {device} "
          f"({torch.cuda.get_device_name() if device.type == 'cuda' else f'{torch.get_num_threads()} threads'}), "
          f"torch {torch.__version__}; samples/s")
    print("| model | params | " + " | ".join(variants) + " |")
    print("|---|---|" + "---|" * len(variants))
    for name in args.models:
        # the input shape (C, H, W) of the model's usual data set (milestones/data/datasets.py)
        shape, kwargs = DATASETS[MODELS[name].data].input_shape or (3, 224, 224), {}
        x = torch.randn(args.batch_size, *shape, device=device)
        y = torch.randint(0, 10, (args.batch_size,), device=device)
        cells = []
        for v in variants:
            torch.manual_seed(0)
            model = create_model(name, **kwargs).to(device)
            xv = x
            if v.startswith("channels_last"):
                model = model.to(memory_format=torch.channels_last)
                xv = x.contiguous(memory_format=torch.channels_last)
            if v == "compile":
                model = compile_model(model)
            precision = "bf16" if v.endswith("bf16") else "fp16" if v == "fp16" else "fp32"
            cells.append(f"{time_steps(model, xv, y, precision=precision, steps=args.steps, device=device):,.0f}")
        print(f"| {name} | {count_parameters(create_model(name, **kwargs)) / 1e6:.2f}M | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
