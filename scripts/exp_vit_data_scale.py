"""ViT's hunger for data: ViT and ResNet-20 on 10%, 30% and 100% of CIFAR-10, the same wall-clock budget each.

    python scripts/exp_vit_data_scale.py [--minutes 3] [--fractions 0.1 0.3 1.0] [--output-dir runs]

1,000 training images are held out as a validation split (per-epoch evaluation stays cheap); the fractions are of
the remaining 49,000, fixed subsets shared by both models. Each run gets `--minutes` of training (epochs from a
measured rate). Final accuracy is on the full 10,000-image test set. Writes <output-dir>/vit_data_scale/:
table.md, results.json and vit_data_scale.png (test accuracy against training-set size).
"""

from __future__ import annotations

import argparse

from milestones import load_config
from milestones.experiments import (epochs_for_budget, experiment_dir, markdown_table, run, with_overrides,
                                    write_outputs)
from milestones.plots import plot_lines

CONFIGS = {"vit_tiny": "configs/vit_tiny_cifar10_cpu.yaml", "resnet20": "configs/resnet20_cifar10_cpu.yaml"}
VAL = 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--fractions", type=float, nargs="+", default=[0.1, 0.3, 1.0])
    p.add_argument("--output-dir", default="runs")
    args = p.parse_args()

    out = experiment_dir(args.output_dir, "vit_data_scale")
    results = []
    for model, path in CONFIGS.items():
        base = load_config(path)
        for frac in args.fractions:
            size = round(frac * (50000 - VAL))
            probe = with_overrides(base, data={"val_size": VAL, "train_size": size})
            epochs, rate = epochs_for_budget(probe, args.minutes, size)
            cfg = with_overrides(probe, name=f"{model}_{int(100 * frac)}pct", output_dir=str(out),
                                 trainer={"epochs": epochs, "progress": False},
                                 schedule={"warmup_epochs": min(base.schedule.warmup_epochs, 0.1 * epochs)})
            r = run(cfg)
            results.append({**r, "fraction": frac, "train_images": size, "probe_samples_per_s": rate})

    by = {(r["model"], r["fraction"]): r for r in results}
    rows, gaps = [], []
    for frac in args.fractions:
        v, c = by[("vit_tiny", frac)], by[("resnet20", frac)]
        gap = 100 * (c["test_acc"] - v["test_acc"])
        gaps.append(gap)
        rows.append([f"{int(100 * frac)}% ({v['train_images']:,})", f"{100 * v['test_acc']:.2f}% ({v['epochs']} ep)",
                     f"{100 * c['test_acc']:.2f}% ({c['epochs']} ep)", f"{gap:+.2f}"])
    table = markdown_table(["training images", "ViT-tiny test acc", "ResNet-20 test acc", "ResNet - ViT (points)"],
                           rows)
    narrows = all(b < a for a, b in zip(gaps, gaps[1:]))
    verdict = (f"gap ResNet-20 minus ViT by data fraction: {', '.join(f'{g:+.2f}' for g in gaps)} points; "
               f"{'it narrows as data grows' if narrows else 'it does not narrow steadily as data grows'} "
               f"at this budget.")
    intro = (f"ViT data-scale experiment, {args.minutes:g} training minutes per run, {results[0]['hardware']}, "
             f"seed {results[0]['seed']}.\n\n{verdict}")
    write_outputs(out, table, {"runs": results, "verdict": verdict}, intro)

    plot_lines({model: sorted((r["train_images"], 100 * r["test_acc"]) for r in results if r["model"] == model)
                for model in CONFIGS},
               out / "vit_data_scale.png", xlabel="CIFAR-10 training images", ylabel="test accuracy (%)",
               title=f"Data hunger, {args.minutes:g} minutes per run", xlog=True)
    print(f"-> {out}")


if __name__ == "__main__":
    main()
