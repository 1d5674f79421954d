"""Two trainings on the same cores: how much slower each gets under each thread setting, and what a run alone loses.

Issue #32's goal: two at once each <= 2.5x their time alone, and no more than 5% lost by a run alone.

    python scripts/bench/bench_threads.py --runs 3                # default, threads-1, auto: issue #32's table
    python scripts/bench/bench_threads.py --variants default spin-1k spin-300 --runs 2
    python scripts/bench/bench_threads.py --variants all          # every variant

For each variant, one `milestones train` runs alone, then two start together (each into its own folder); the
table gives the wall seconds of each and the slowdown of the pair against alone. The job is the LSTM on the adding
problem (T=50, fp32, small ops: the case where idle OpenMP threads spinning at barriers hurt most). Variants set
environment variables before the process starts (libgomp reads them when torch loads it) or a trainer setting:
  default      what a process gets with nothing set (this milestones version's own default included)
  spin-300k    GOMP_SPINCOUNT=300000: libgomp's spin before sleeping when nothing else is set
  passive      OMP_WAIT_POLICY=PASSIVE: threads sleep at once at every barrier
  spin-N       GOMP_SPINCOUNT=N: spin N iterations, then sleep
  threads-1    trainer.threads=1 (one intra-op thread: no barriers at all)
  auto         trainer.threads=auto (runtime.AutoThreads: the cores other processes leave free, polled every 2 s)
Run it alone on the machine. Results go to stdout as a markdown table: each variant's median wall seconds alone and
two at once, the pair's slowdown against its own alone time, its alone time against the default's alone time
(what a run alone loses), and for `auto` the seconds it trained at each thread count (results.json's
threads_used, median run's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VARIANTS = {
    "default": ({}, []),
    "spin-300k": ({"GOMP_SPINCOUNT": "300000"}, []),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, []),
    "spin-10k": ({"GOMP_SPINCOUNT": "10000"}, []),
    "spin-1k": ({"GOMP_SPINCOUNT": "1000"}, []),
    "spin-2k": ({"GOMP_SPINCOUNT": "2000"}, []),
    "spin-300": ({"GOMP_SPINCOUNT": "300"}, []),
    "spin-100": ({"GOMP_SPINCOUNT": "100"}, []),
    "threads-1": ({}, ["trainer.threads=1"]),
    "auto": ({}, ["trainer.threads=auto"]),
}
ISSUE_TABLE = ["default", "threads-1", "auto"]  # issue #32's "Shared cores": alone / two at once for each


def start(out: Path, name: str, env: dict, sets: list[str], epochs: int, config: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "milestones", "train", config, "--overwrite",
           "--set", f"output_dir={out}", f"name={name}", f"trainer.epochs={epochs}", "trainer.progress=false",
           "data.train_size=20000", *sets]
    clean = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    return subprocess.Popen(cmd, env={**clean, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait(p: subprocess.Popen, t0: float) -> float:
    _, err = p.communicate()
    if p.returncode:
        sys.exit(f"bench_threads: a run failed: {err.strip().splitlines()[-1]}")
    return time.perf_counter() - t0


def counts(run_dir: Path) -> str:
    """The seconds a run trained at each thread count ("2: 5.1 s, 1: 3.0 s"), from its results.json; "" for a run
    at a fixed count."""
    used = json.loads((run_dir / "results.json").read_text()).get("threads_used", {})
    return ", ".join(f"{n}: {s:.1f} s" for n, s in used.items())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=ISSUE_TABLE, choices=[*VARIANTS, "all"],
                    help=f"default: {' '.join(ISSUE_TABLE)}; 'all': every variant")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1, help="repeats of each measurement (the median is shown)")
    ap.add_argument("--config", default=str(REPO / "configs" / "lstm_adding_t50.yaml"))
    ap.add_argument("--alone-only", action="store_true", help="time each variant alone only")
    args = ap.parse_args()
    variants = list(VARIANTS) if "all" in args.variants else args.variants
    print(f"{Path(args.config).stem}, {args.epochs} epochs of 20,000 samples; {os.cpu_count()} cores; wall seconds "
          f"per run (startup included); median of {args.runs}\n")
    print("| variant | alone (s) | two at once (s, each) | slowdown | alone vs default's alone | thread counts "
          "(alone; two at once) |")
    print("|---|---|---|---|---|---|")
    alone_default = None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in variants:
            env, sets = VARIANTS[name]
            alone, pair = [], []  # (seconds, thread counts)
            for _ in range(args.runs):
                t0 = time.perf_counter()
                seconds = wait(start(out, "alone", env, sets, args.epochs, args.config), t0)
                alone.append((seconds, counts(out / "alone")))
                if args.alone_only:
                    continue
                t0 = time.perf_counter()
                ps = [start(out, f"pair{i}", env, sets, args.epochs, args.config) for i in range(2)]
                pair += [(wait(p, t0), counts(out / f"pair{i}")) for i, p in enumerate(ps)]
            (a, a_counts), (b, b_counts) = median(alone), median(pair or [(float("nan"), "")])
            alone_default = a if name == "default" else alone_default
            versus = f"{100 * (a / alone_default - 1):+.0f}%" if alone_default else "-"
            used = f"{a_counts or '-'}; {b_counts or '-'}" if a_counts or b_counts else "-"
            print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.1f}x | {versus} | {used} |", flush=True)


def median(measured: list[tuple[float, str]]) -> tuple[float, str]:
    """The median of (seconds, thread counts) by seconds, with the counts of the run that took it (the lower
    middle one of an even number)."""
    ordered = sorted(measured)
    return statistics.median(s for s, _ in ordered), ordered[(len(ordered) - 1) // 2][1]


if __name__ == "__main__":
    main()
