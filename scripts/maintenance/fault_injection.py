"""Fault injection: kill training runs with SIGKILL at random moments, resume them, and check that every resumed run
ends bitwise equal to one that was never interrupted.

    python scripts/maintenance/fault_injection.py [--trials 10] [--epochs 8] [--train-size 20000] [--seed 0] [--output-dir runs]

A small MNIST MLP (dropout on, so the RNG states matter; shuffled batches, AdamW, cosine schedule) is trained once
without interruption: the reference. Each trial starts the same run in a subprocess, sends it SIGKILL at a moment
drawn uniformly from 20-75% of the reference's wall time (startup, mid-epoch and mid-checkpoint-write all possible), then
runs `milestones train --resume` (or starts again where no checkpoint was written yet) to the end, and compares:

- every tensor of the final checkpoint (weights, optimizer moments, scheduler, RNG states) with `torch.equal`;
- the per-epoch metrics (losses and accuracies; timings excluded) and the final test accuracy.

Writes <output-dir>/fault_injection/results.json and prints one line per trial. Exit status 1 if any trial differs.
Resume granularity is the epoch (see milestones/train.py): a kill mid-epoch re-runs that epoch from its start.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from milestones.checkpoint import CHECKPOINT, read_checkpoint, read_results

TIMING_KEYS = {"seconds", "samples_per_s"}


def tiny_run_config(epochs: int, train_size: int, data_root: str | None) -> dict:
    return {
        "seed": 0,
        "model": {"name": "mlp", "hidden": [256, 256], "dropout": 0.2, "input_dropout": 0.1},
        "data": {"name": "mnist", "train_size": train_size, "test_size": 1000, "val_size": 0,
                 **({"root": data_root} if data_root else {})},
        "optim": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01},
        "schedule": {"name": "cosine", "warmup_epochs": 1},
        "trainer": {"epochs": epochs, "batch_size": 64, "progress": False, "threads": 1},
    }


def train(cfg_path: Path, out: Path, name: str, *extra: str, kill_after: float | None = None) -> tuple[int, float]:
    """Run `milestones train`; with `kill_after`, SIGKILL it after that many seconds. Returns (exit code, seconds)."""
    cmd = [sys.executable, "-m", "milestones", "train", str(cfg_path), "--set", f"name={name}",
           "--set", f"output_dir={out}", *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return -signal.SIGKILL, time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"fault_injection: {' '.join(cmd)} failed:\n{err}")
    return 0, time.perf_counter() - start


def tensors(obj, prefix: str = ""):
    """Every tensor inside a checkpoint, by path, e.g. optimizer.state.0.exp_avg."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from tensors(v, f"{prefix}.{i}")


def compare(reference: Path, run: Path) -> list[str]:
    """What differs between two finished run folders (empty: bitwise equal)."""
    a, b = read_checkpoint(reference / CHECKPOINT), read_checkpoint(run / CHECKPOINT)
    ta, tb = dict(tensors({k: a[k] for k in ("model", "optimizer", "scheduler", "rng")})), \
        dict(tensors({k: b[k] for k in ("model", "optimizer", "scheduler", "rng")}))
    diffs = [k for k in ta if k not in tb or not torch.equal(ta[k], tb[k])] + [k for k in tb if k not in ta]
    strip = lambda h: [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in h]  # noqa: E731
    if strip(a["history"]) != strip(b["history"]):
        diffs.append("history")
    ra, rb = read_results(reference), read_results(run)
    if ra["test_acc"] != rb["test_acc"]:
        diffs.append("test_acc")
    return diffs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--train-size", type=int, default=20000, help="MNIST training images per epoch")
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--output-dir", default="runs")
    p.add_argument("--data-root", default=None, help="default: data.root / $MILESTONES_DATA / ./data")
    args = p.parse_args()

    out = Path(args.output_dir) / "fault_injection"
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(tiny_run_config(args.epochs, args.train_size, args.data_root)))
    _, ref_seconds = train(cfg_path, out, "reference", "--overwrite")
    print(f"reference: {args.epochs} epochs in {ref_seconds:.1f} s (wall, with startup)")

    draw = random.Random(args.seed)
    trials = []
    for i in range(1, args.trials + 1):
        name = f"trial{i:02d}"
        # The first fifth is mostly start-up. Not past 75%: the reference is the first, cold run (torch imported from
        # disk), and a warm trial can finish ~20% sooner, so a kill drawn late would often find it done (CI saw
        # both trials of the test finish before their kills at 80% and 87%).
        kill_after = draw.uniform(0.2, 0.75) * ref_seconds
        code, _ = train(cfg_path, out, name, "--overwrite", kill_after=kill_after)
        ckpt = out / name / CHECKPOINT
        epoch = read_checkpoint(ckpt)["epoch"] if ckpt.is_file() else 0
        if code == 0:
            how = "finished before the kill"
        elif ckpt.is_file() or (out / name / f"{ckpt.stem}.prev.pt").is_file():
            train(cfg_path, out, name, "--resume")
            how = f"killed after {kill_after:.2f} s (checkpoint at epoch {epoch}), resumed"
        else:
            train(cfg_path, out, name)
            how = f"killed after {kill_after:.2f} s (before the first checkpoint), started again"
        diffs = compare(out / "reference", out / name)
        trials.append({"trial": i, "kill_after_s": round(kill_after, 3), "epoch_at_kill": epoch,
                       "killed": code != 0, "equal": not diffs, "differences": diffs[:10]})
        print(f"trial {i:2d}: {how}: {'bitwise equal' if not diffs else 'DIFFERS in ' + ', '.join(diffs[:5])}")
        if not os.environ.get("FAULT_INJECTION_KEEP"):
            for f in (out / name).glob("*.pt"):
                f.unlink()

    killed = [t for t in trials if t["killed"]]
    equal = sum(t["equal"] for t in trials)
    summary = {"command": shlex.join(["python", *sys.argv]), "trials": len(trials), "killed": len(killed), "equal": equal,
               "epochs_at_kill": sorted({t["epoch_at_kill"] for t in killed}), "reference_seconds": ref_seconds,
               "torch": str(torch.__version__), "trials_detail": trials}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"{equal}/{len(trials)} runs equal to the uninterrupted run bitwise ({len(killed)} killed; checkpoint "
          f"epochs at the kill: {summary['epochs_at_kill']}) -> {out / 'results.json'}")
    sys.exit(0 if equal == len(trials) else 1)


if __name__ == "__main__":
    main()
