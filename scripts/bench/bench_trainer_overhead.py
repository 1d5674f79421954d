"""Trainer overhead: milestones' `train_one_epoch` against a bare hand-written loop, same model, data and device.

    python scripts/bench/bench_trainer_overhead.py --data ../shared/data [--model mlp] [--steps 200] [--repeats 3]

Both loops draw the same batches from the same BatchLoader and run forward, backward and an SGD step. Ours adds
what the trainer does on every step: the lr schedule, the loss/accuracy accumulators, the divergence check and
the tqdm bar (on stderr; tqdm redraws at most 10 times a second). Target: ours / bare >= 0.98.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from milestones import create_model
from milestones.data import BatchLoader, load_image_data
from milestones.tasks.classification import classification_step
from milestones.train import train_one_epoch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=None)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--model", default="mlp")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="show train_one_epoch's tqdm bar, as a user sees it (default: on)")
    args = p.parse_args()

    device = torch.device(args.device)
    data = load_image_data(args.dataset, root=args.data, device=device, train_size=args.steps * args.batch_size)
    loader = BatchLoader(data.train_x, data.train_y, batch_size=args.batch_size, mean=data.mean, std=data.std,
                         shuffle=True)
    in_features = int(torch.tensor(data.shape).prod())
    model = create_model(args.model, **({"in_features": in_features} if args.model == "mlp" else {})).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare() -> float:
        model.train()
        sync()
        start, seen = time.perf_counter(), 0
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(yb)
        sync()
        return seen / (time.perf_counter() - start)

    def ours() -> float:
        sync()
        start = time.perf_counter()
        train_one_epoch(model, loader, opt, sched, step_fn=classification_step, device=device,
                        progress=args.progress)
        sync()
        return len(loader.x) / (time.perf_counter() - start)

    bare(), ours()  # warm-up
    results = {"bare loop": [], "train_one_epoch": []}
    for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit both
        results["bare loop"].append(bare())
        results["train_one_epoch"].append(ours())
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"{args.model} on {args.dataset}, batch {args.batch_size}, {len(loader)} steps x {args.repeats} repeats, "
          f"{device} ({torch.get_num_threads()} threads), torch {torch.__version__}")
    print("| loop | images/s (median) | runs |")
    print("|---|---|---|")
    for k, v in results.items():
        print(f"| {k} | {med[k]:,.0f} | {', '.join(f'{x:,.0f}' for x in v)} |")
    print(f"ratio train_one_epoch / bare loop: {med['train_one_epoch'] / med['bare loop']:.3f}")


if __name__ == "__main__":
    main()
