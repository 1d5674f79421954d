"""The degradation problem (He et al. 2015, arXiv:1512.03385, Fig. 6): deeper plain nets train WORSE, deeper
residual nets do not.

    python scripts/exp_degradation.py [--epochs 5] [--train-size 20000] [--output-dir runs] [--config C --set K=V]
    python scripts/exp_degradation.py --report-only --output-dir runs     the table and plot again, from results.json

Trains plain-20, plain-56, ResNet-20 and ResNet-56 with one recipe (configs/degradation_cifar10_cpu.yaml; only the
model changes) for the same number of epochs, i.e. the same iterations, as Fig. 6's x-axis. Writes into
<output-dir>/degradation/: table.md, results.json (per-epoch training and test error of each net, also in each
run's metrics.jsonl) and degradation.png (Fig. 6 style: training error dashed, held-out error solid: the
validation split's where the recipe holds one out, as configs/resnet20_cifar10_gpu.yaml does, else the test set's).
The claim to check: plain-56 ends with a higher TRAINING error than plain-20, while ResNet-56 does not end above
ResNet-20.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from milestones import load_config
from milestones.experiments import experiment_dir, markdown_table, run, with_overrides, write_outputs
from milestones.plots import plot_error_curves

NETS = ["plain20", "plain56", "resnet20", "resnet56"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/degradation_cifar10_cpu.yaml")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--train-size", type=int, default=20000, help="training images (0: all 50k)")
    p.add_argument("--output-dir", default="runs")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--nets", nargs="+", choices=NETS, default=NETS,
                   help="train only these (e.g. the residual pair at a longer schedule); default: all four")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: table.md and degradation.png again from <output-dir>/degradation/results.json")
    args = p.parse_args()

    out = experiment_dir(args.output_dir, "degradation")
    if args.report_only:
        saved = json.loads((out / "results.json").read_text())
        report(saved["runs"], saved["setup"], out)
        return
    base = load_config(args.config, args.overrides)
    runs = {}
    for net in args.nets:
        cfg = with_overrides(base, name=f"degradation_{net}", output_dir=str(out),
                             trainer={"epochs": args.epochs}, data={"train_size": args.train_size or None})
        cfg.model = type(cfg.model)(name=net, args={})
        runs[net] = run(cfg)
    schedule = base.schedule.name + (f" (x{base.schedule.gamma:g} after epochs {base.schedule.milestones})"
                                     if base.schedule.name == "multistep" else "")
    setup = {"epochs": args.epochs, "images": args.train_size or 50_000 - base.data.val_size, "schedule": schedule,
             "config": args.config, "overrides": args.overrides, "seed": base.seed}
    report(runs, setup, out)


def report(runs: dict[str, dict], setup: dict, out: Path) -> None:
    """table.md, results.json and degradation.png of finished runs; the curves' solid line is the evaluation
    split's error (validation where the recipe holds one out, as the paper's 45k/5k split does, else test)."""
    rows = [[net, f"{r['params']:,}", r["epochs"], f"{100 * (1 - r['history'][-1]['train_acc']):.2f}",
             f"{100 * (1 - r['test_acc']):.2f}", f"{r['train_seconds'] / 60:.1f}"] for net, r in runs.items()]
    table = markdown_table(["net", "params", "epochs", "final train error %", "test error %", "train minutes"], rows)
    tr = {net: 1 - r["history"][-1]["train_acc"] for net, r in runs.items()}
    te = {net: 1 - r["test_acc"] for net, r in runs.items()}
    verdicts = []
    if {"plain20", "plain56"} <= set(runs):
        verdicts.append(f"plain-56 train error {'>' if tr['plain56'] > tr['plain20'] else '<='} plain-20 "
                        f"({100 * tr['plain56']:.2f}% vs {100 * tr['plain20']:.2f}%): degradation "
                        f"{'reproduced' if tr['plain56'] > tr['plain20'] else 'NOT reproduced'} at this budget")
    if {"resnet20", "resnet56"} <= set(runs):
        verdicts.append(f"ResNet-56 train error {100 * tr['resnet56']:.2f}% vs ResNet-20 {100 * tr['resnet20']:.2f}%, "
                        f"test error {100 * te['resnet56']:.2f}% vs {100 * te['resnet20']:.2f}%: the deeper residual "
                        f"net {'ends lower' if te['resnet56'] < te['resnet20'] else 'does NOT end lower'} on the "
                        "test set at this budget")
    verdict = "; ".join(verdicts) + "."
    what = f"{setup['epochs']} epochs on {setup['images']} CIFAR-10 training images, {setup['schedule']} lr"
    intro = (f"Degradation experiment: {what}, {next(iter(runs.values()))['hardware']}, seed {setup['seed']}, "
             f"recipe {setup['config']} {' '.join('--set ' + o for o in setup['overrides'])}.\n\n{verdict}")
    write_outputs(out, table, {"runs": runs, "setup": setup, "verdict": verdict}, intro)
    plot_error_curves({"plain": {n: runs[n]["history"] for n in ("plain20", "plain56") if n in runs},
                       "residual": {n: runs[n]["history"] for n in ("resnet20", "resnet56") if n in runs}},
                      out / "degradation.png",
                      title=f"He et al. Fig. 6 on CIFAR-10: training error dashed, held-out error solid\n{what}")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
