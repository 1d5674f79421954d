"""Issue #18's "must show" tables from a GPU window's bundles (scripts/gpu/gpu_paper_suite.sh), as markdown.

    mkdir W && for f in OUT/gpu_paper_*.tar.gz; do tar xzf $f -C W; done
    python scripts/gpu/gpu_paper_report.py W --output docs/results/gpu_paper/report.md

1. Throughput: every row of the window's benches (bench_pack, bench_graphs): training images/s of all nets, the
   ratio to the trainer's own loop for one net measured in the same window ("today"), for ResNet-20 also to the
   12,300 img/s it trained at inside a run on an H200 before packing (RESULTS.md, the issue's baseline), achieved
   TFLOP/s and its share of the peak the bench was given.
2. He et al.'s Table 6 / Fig. 6: per depth, plain and residual nets' single-view test error (100 - test accuracy;
   the suite's configs evaluate one view, the paper's protocol) beside the paper's, with the epochs each ran of
   its schedule; the training-error curves are the suite's degradation.png.
3. The suite: its wall time and exit (from the console log), the plan, and what did not fit, was left out for time
   or failed.
Reads only files; numbers it cannot find are left out, with a line saying so.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from milestones.leaderboard import markdown_table
from milestones.runs import find_runs, load_papers

TODAY_RESNET20 = 12_300  # img/s: ResNet-20 inside a run on one H200, before packing (RESULTS.md, issue #18)
DEPTHS = (20, 32, 44, 56, 110)


def throughput(work: Path) -> str:
    rows = []
    for bench in ("bench_pack", "bench_graphs"):
        path = work / bench / "results.json"
        if not path.is_file():
            rows.append([bench, "not run", "-", "-", "-", "-", "-"])
            continue
        data = json.loads(path.read_text())
        peak = data["args"]["peak_tflops"]
        lone = {r["model"]: r["images_per_s"] for r in data["runs"] if r["pack"] == 0}
        for r in data["runs"]:
            rate, base = r["images_per_s"], lone.get(r["model"])
            how = "trainer, 1 net" if r["pack"] == 0 else f"packed x{r['pack']}, {r.get('variant', 'eager')}"
            vs_today = f"{rate / TODAY_RESNET20:.1f}x" if r["model"] == "resnet20" else "-"
            tflops = r.get("tflops")
            rows.append([r["model"], how, f"{rate:,.0f}", f"{rate / base:.1f}x" if base else "-", vs_today,
                         "-" if tflops is None else f"{tflops:.1f}",
                         "-" if tflops is None else f"{100 * tflops / peak:.2f}%"])
    return markdown_table(["model", "how", "images/s (all nets)", "x the trainer's loop", "x 12,300 (ResNet-20)",
                           "TFLOP/s", "% of peak"], rows)


def table6(runs: list) -> str:
    papers = {p["model"]: p.get("value") for p in load_papers() if p.get("data") == "cifar10"}
    by_model: dict[str, list] = {}
    for run in runs:
        by_model.setdefault(run.config.model.name, []).append(run)
    for name, found in by_model.items():  # each model's largest training set: Table 6's runs, not the ViT study's
        size = max(float("inf") if r.config.data.train_size is None else r.config.data.train_size for r in found)
        by_model[name] = [r for r in found if (r.config.data.train_size or float("inf")) == size]
    rows = []
    for depth in DEPTHS:
        cells = [str(depth)]
        for kind in ("plain", "resnet"):
            found = by_model.get(f"{kind}{depth}", [])
            errors = [100 * (1 - r.results["test_acc"]) for r in found]
            epochs = sorted({f"{r.results['epochs']}/{r.results['schedule_epochs']}" for r in found})
            cells.append(" / ".join(f"{e:.2f}" for e in errors) + f" ({', '.join(epochs)})" if found else "-")
        paper = papers.get(f"resnet{depth}")
        cells.append("-" if paper is None else f"{100 - paper:.2f}")
        rows.append(cells)
    return markdown_table(["depth", "plain: test error % (epochs)", "ResNet: test error % (epochs)",
                           "ResNet, paper (Table 6)"], rows)


def suite(work: Path) -> str:
    logs = sorted(work.glob("console_*.log"))
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    if "== compare --suite" not in text:
        return "The suite did not run (no console log with it)."
    lines = [line for line in text.splitlines()
             if re.match(r"(== |planned:|planning took|left out for time|milestones: (warning|error)|\| \d+ \|)", line)
             or ": not started," in line]
    return "```\n" + "\n".join(lines) + "\n```"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", help="the folder the bundles were unpacked into (it holds runs/)")
    p.add_argument("--suite", default="paper")
    p.add_argument("--output", help="write the report here too")
    args = p.parse_args()
    root = Path(args.root)
    work = root / "runs" / "gpu_paper"
    runs, _ = find_runs(root / "runs" / f"suite_{args.suite}")
    where = (f"Hardware: {runs[0].results.get('hardware')}, torch {runs[0].results.get('torch')}; seed 0."
             if runs else "No finished suite run.")
    report = "\n\n".join([
        "# Issue #18 on one GPU: the window's numbers (scripts/gpu/gpu_paper_report.py)", where,
        "## Throughput, alone and packed\n\n" + throughput(work),
        "## He et al. 2015, Table 6: single-view test error\n\n" + table6(runs),
        "## The suite: wall time, plan, what did not fit\n\n" + suite(work)]) + "\n"
    print(report)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
