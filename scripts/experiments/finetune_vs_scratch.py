"""Fine-tuning measured (issue #31): a shipped model's weights as the start on a task that is not its own, against
the same model from scratch, same data, same epochs.

    python scripts/experiments/finetune_vs_scratch.py --data ../shared/data

LeNet-5 on Fashion-MNIST (Xiao et al. 2017: clothes, not digits; same 28x28 greyscale, so the shipped MNIST weights
fit without resizing) with `--train-size` training images (1,000 by default: small data, where a start matters):
(a) from scratch; (b) from `lenet5_mnist`, every layer trained; (c) from `lenet5_mnist` with trainer.freeze=backbone
(the head alone). Same config, seed, epochs and learning rate for all three; the full 10,000-image test set.
Fashion-MNIST's 10 classes replace the digits': a fresh head (the classes differ in meaning, though not in number,
so the shipped head is kept as a start and retrained: the runs differ only in model.weights / trainer.freeze). Writes
<output-dir>/finetune/table.md and results.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from milestones.configfile import load_config
from milestones.leaderboard import markdown_table, write_outputs
from milestones.train import fit

RUNS = {"from scratch": [], "from lenet5_mnist": ["model.weights=lenet5_mnist"],
        "from lenet5_mnist, head alone": ["model.weights=lenet5_mnist", "trainer.freeze=backbone"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, metavar="DIR", help="a data root holding Fashion-MNIST")
    p.add_argument("--train-size", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--output-dir", default="runs")
    args = p.parse_args()
    out = Path(args.output_dir) / "finetune"
    rows, results = [], {}
    for label, extra in RUNS.items():
        name = "finetune_" + label.replace(" ", "_").replace(",", "")
        cfg = load_config("lenet5_mnist", ["data.name=fashion_mnist", f"data.train_size={args.train_size}",
                                           "data.val_size=0", f"trainer.epochs={args.epochs}",
                                           "trainer.progress=false", f"name={name}", f"output_dir={out}", *extra])
        cfg.data.root = args.data
        r = fit(cfg, overwrite=True, command="scripts/experiments/finetune_vs_scratch.py")
        results[label] = {"test_acc": 100 * r["test_acc"], "train_seconds": r["train_seconds"], "overrides": extra}
        rows.append([label, f"{100 * r['test_acc']:.2f}", f"{r['train_seconds']:.1f}"])
    intro = (f"LeNet-5 on Fashion-MNIST, {args.train_size:,} training images, {args.epochs} epochs, seed 0, "
             f"full test set; {r['hardware']}. `python scripts/experiments/finetune_vs_scratch.py --data DIR`")
    write_outputs(out, markdown_table(["start", "test accuracy %", "train seconds"], rows), results, intro)


if __name__ == "__main__":
    main()
