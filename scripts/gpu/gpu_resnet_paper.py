"""He et al.'s paper-faithful CIFAR-10 schedule for ResNet-20 and ResNet-56 on a CUDA GPU, within a time budget.

    python scripts/gpu/gpu_resnet_paper.py [--minutes 4] [--models resnet20 resnet56] [--output-dir runs/gpu] [--set k=v]

Runs configs/<model>_cifar10_gpu.yaml (SGD 0.1, momentum 0.9, wd 1e-4, batch 128, 45k/5k split, lr /10 at 32k and
48k iterations, 64k iterations = 182 epochs) on the GPU. When the whole schedule does not fit `--minutes`, it
runs the longest first part that does (trainer.stop_epoch; the schedule itself is unchanged, so
`milestones train CONFIG --resume` can finish it later) and says so. The epochs that fit are counted from a
50-step timing at the start (evaluation time not included), so a GPU shared with other jobs can overrun.
Prints test accuracy and seconds per epoch. Never needed by the tests. `--device cpu --set data.train_size=512`
is a quick dry run of the script itself.
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from milestones import fit, load_config
from milestones.checkpoint import read_history
from milestones.configfile import with_overrides
from milestones.leaderboard import markdown_table
from milestones.timing import epochs_for_budget


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=4.0, help="training budget per model")
    p.add_argument("--models", nargs="+", default=["resnet20", "resnet56"])
    p.add_argument("--output-dir", default="runs/gpu")
    p.add_argument("--device", default="cuda", help="cuda (the point of this script) or cpu for a dry run")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable")
    args = p.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_resnet_paper.py: no CUDA GPU here (this script is for GPU machines; the tests never need it)")

    rows = []
    for name in args.models:
        overrides = [f"trainer.device={args.device}", "trainer.progress=false", f"output_dir={args.output_dir}",
                     *args.overrides]
        cfg = load_config(f"configs/{name}_cifar10_gpu.yaml", overrides)
        fit_epochs, rate = epochs_for_budget(cfg, args.minutes, steps=50)
        stop = min(cfg.trainer.epochs, fit_epochs)
        print(f"{name}: {rate:,.0f} img/s in a 50-step timing; running epochs 1-{stop} of {cfg.trainer.epochs}",
              flush=True)
        cfg = with_overrides(cfg, trainer={"stop_epoch": stop})
        r = fit(cfg, overwrite=True, command=shlex.join(["python", *sys.argv]))
        seconds = [h["seconds"] for h in read_history(cfg.run_dir)]
        rows.append([name, f"{r['epochs']}/{cfg.trainer.epochs}", f"{sum(seconds) / len(seconds):.2f}",
                     f"{100 * r['test_acc']:.2f}%", f"{100 * (1 - r['test_acc']):.2f}%", r["hardware"]])
    print(markdown_table(["model", "epochs run / schedule", "s per epoch", "test acc", "test error", "GPU"], rows))
    print("paper (He et al. 2015, Table 6, full schedule): ResNet-20 8.75% error, ResNet-56 6.97% error")


if __name__ == "__main__":
    main()
