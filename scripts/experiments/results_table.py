"""Print a markdown table of finished runs from their results.json files (the numbers in RESULTS.md come from here).

    python scripts/experiments/results_table.py runs/mlp_mnist runs/mlp_fashion_mnist runs/mlp_cifar10
    python scripts/experiments/results_table.py runs/*            # every run folder
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(paths: list[str]) -> None:
    print("| run | model | data | epochs | seed | test acc | train time | hardware | command |")
    print("|---|---|---|---|---|---|---|---|---|")
    for p in paths:
        f = Path(p) / "results.json"
        if not f.is_file():
            print(f"skipping {p}: no results.json", file=sys.stderr)
            continue
        r = json.loads(f.read_text())
        minutes = r["train_seconds"] / 60
        cmd = r.get("command") or f"milestones train configs/{r['name']}.yaml"
        print(f"| {r['name']} | {r['model']} ({r['params'] / 1e6:.2f}M) | {r['data']} | {r['epochs']} | {r['seed']} "
              f"| {100 * r['test_acc']:.2f}% | {minutes:.1f} min | {r['hardware']} | `{cmd}` |")


if __name__ == "__main__":
    main(sys.argv[1:])
