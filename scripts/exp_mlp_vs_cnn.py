"""MLP against the 2012 convnet on photos: CIFAR-10 under the same wall-clock budget.

    python scripts/exp_mlp_vs_cnn.py [--minutes 5] [--output-dir runs]

Each model gets `--minutes` of training: its samples/s is measured on a short probe, and its config's epochs are
set to the whole epochs that fit (schedules then run their full course). Writes <output-dir>/mlp_vs_cnn/:
table.md, results.json and mlp_vs_cnn.png (test accuracy against training minutes).
"""

from __future__ import annotations

import argparse
import itertools

from milestones import load_config
from milestones.experiments import (epochs_for_budget, experiment_dir, markdown_table, run, with_overrides,
                                    write_outputs)
from milestones.plots import plot_lines

CONFIGS = ["configs/mlp_cifar10.yaml", "configs/alexnet_cifar10_cpu.yaml"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--configs", nargs="+", default=CONFIGS)
    p.add_argument("--output-dir", default="runs")
    args = p.parse_args()

    out = experiment_dir(args.output_dir, "mlp_vs_cnn")
    runs = {}
    for path in args.configs:
        cfg = load_config(path)
        epochs, rate = epochs_for_budget(cfg, args.minutes, 50000 - cfg.data.val_size)
        warmup = min(cfg.schedule.warmup_epochs, 0.1 * epochs)
        cfg = with_overrides(cfg, output_dir=str(out), trainer={"epochs": epochs, "progress": False},
                             schedule={"warmup_epochs": warmup})
        runs[cfg.model.name] = {**run(cfg), "probe_samples_per_s": rate}

    rows = [[name, f"{r['params'] / 1e6:.2f}M", r["epochs"], f"{r['train_seconds'] / 60:.1f}",
             f"{100 * r['test_acc']:.2f}%"] for name, r in runs.items()]
    table = markdown_table(["model", "params", "epochs", "train minutes", "test acc"], rows)
    first = next(iter(runs.values()))
    intro = (f"MLP vs CNN on CIFAR-10 (JPEG copy), {args.minutes:g} training minutes each, {first['hardware']}, "
             f"seed {first['seed']}.")
    write_outputs(out, table, runs, intro)

    plot_lines({f"{name} ({r['params'] / 1e6:.1f}M)":
                [(m, 100 * h["test_acc"]) for m, h in
                 zip(itertools.accumulate(h["seconds"] / 60 for h in r["history"]), r["history"]) if "test_acc" in h]
                for name, r in runs.items()},
               out / "mlp_vs_cnn.png", xlabel="training minutes", ylabel="CIFAR-10 test accuracy (%)",
               title=f"Pixels in vs local filters, {args.minutes:g} minutes each")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
