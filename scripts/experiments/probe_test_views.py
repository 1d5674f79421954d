"""Test accuracy of saved CIFAR-10 checkpoints under many sets of test-time views, in one pass per checkpoint.

    python scripts/experiments/probe_test_views.py RUN_DIR [RUN_DIR ...]      (CPU, bf16, channels_last; ~150 s a checkpoint)

Computes the logits of every view once (the image, shifts by 1 or 2 pixels in 10 directions with black or with
reflected borders, each also mirrored) and prints the accuracy of several averages of them: the flip alone,
1-pixel diagonal shifts weighted equally (what `trainer.test_shift: 1` does, with black borders) or as airbench
weights them (Jordan 2024, arXiv:2404.00498: half on the unshifted pair), four diagonals, the four axis shifts,
all eight, and 2-pixel diagonals. It chose the views of configs/resnet20_cifar10_cpu.yaml (RESULTS.md); the
trainer's own views are scored with `milestones eval CONFIG --checkpoint RUN_DIR/checkpoint.pt`.
"""
import sys
import time

import torch
import torch.nn.functional as F

from milestones import create_model, load_config
from milestones.checkpoint import CHECKPOINT, load_state, read_checkpoint
from milestones.data import shift
from milestones.runtime import autocast
from milestones.tasks import TASKS

SHIFTS = [(1, 1), (-1, -1), (1, -1), (-1, 1), (1, 0), (-1, 0), (0, 1), (0, -1), (2, 2), (-2, -2)]  # (dy, dx)


def reflect_shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Like data.shift(), but the uncovered border mirrors the image (airbench's padding) instead of being black."""
    p = max(abs(dy), abs(dx))
    H, W = x.shape[2:]
    return F.pad(x, (p, p, p, p), mode="reflect")[:, :, p - dy:p - dy + H, p - dx:p - dx + W]  # (B, C, H, W)


def probe(run: str) -> None:
    cfg = load_config(f"{run}/config.yaml")
    device = torch.device("cpu")
    loaders = TASKS[cfg.task].build_data(cfg, device)
    loader = loaders.test or loaders.eval
    black = -torch.tensor(loaders.meta["mean"]) / torch.tensor(loaders.meta["std"])  # (C,)
    model = create_model(cfg.model.name)
    load_state(model, read_checkpoint(f"{run}/{CHECKPOINT}"), run)
    model = model.to(memory_format=torch.channels_last).eval()
    t = time.time()
    logits: dict = {}  # (view, mirrored) -> list of (B, classes)
    ys = []
    with torch.no_grad(), autocast(device, "bf16"):
        for x, y in loader:
            ys.append(y)
            views = {"id": x}
            for s in SHIFTS:
                views[("black", s)] = shift(x, *s, black)
                views[("reflect", s)] = reflect_shift(x, *s)
            for k, v in views.items():
                for mirrored in (False, True):
                    logits.setdefault((k, mirrored), []).append(model(v.flip(3) if mirrored else v).float())
    y = torch.cat(ys)
    L = {k: torch.cat(v) for k, v in logits.items()}

    def acc(z: torch.Tensor) -> float:
        return 100 * (z.argmax(1) == y).float().mean().item()

    def pair(k) -> torch.Tensor:  # a view and its mirror
        return (L[(k, False)] + L[(k, True)]) / 2

    res = {"single": acc(L[("id", False)]), "flip": acc(pair("id"))}
    for mode in ("black", "reflect"):
        d2 = [pair((mode, s)) for s in SHIFTS[:2]]
        d4 = [pair((mode, s)) for s in SHIFTS[:4]]
        ax = [pair((mode, s)) for s in SHIFTS[4:8]]
        s2 = [pair((mode, s)) for s in SHIFTS[8:10]]
        res[f"{mode} diag1 eq(6)"] = acc((pair("id") + sum(d2)) / 3)
        res[f"{mode} diag1 airbench"] = acc(0.5 * pair("id") + 0.25 * sum(d2))
        res[f"{mode} diag4 eq(10)"] = acc((pair("id") + sum(d4)) / 5)
        res[f"{mode} axis4 eq(10)"] = acc((pair("id") + sum(ax)) / 5)
        res[f"{mode} all8 eq(18)"] = acc((pair("id") + sum(d4) + sum(ax)) / 9)
        res[f"{mode} diag2 eq(6)"] = acc((pair("id") + sum(s2)) / 3)
    print(run, f"{time.time() - t:.0f}s", "  ".join(f"{k}={v:.2f}" for k, v in res.items()), flush=True)


if __name__ == "__main__":
    for run_dir in sys.argv[1:]:
        probe(run_dir)
