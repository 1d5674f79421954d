"""Two trainings on the same cores: how much slower each gets, under each OpenMP setting (issue: ~18x, not ~2x).

    python scripts/bench/bench_threads.py                         # every variant, alone and two at once
    python scripts/bench/bench_threads.py --variants default spin --runs 2

For each variant, one `milestones train` runs alone, then two start together (each into its own folder); the
table gives the wall seconds of each and the slowdown of the pair against alone. The job is the LSTM on the adding
problem (T=50, fp32, small ops: the case where idle OpenMP threads spinning at barriers hurt most). Variants set
environment variables before the process starts (libgomp reads them when torch loads it):
  default      what a process gets with nothing set (this milestones version's own default included)
  spin-300k    GOMP_SPINCOUNT=300000: libgomp's spin before sleeping when nothing else is set
  passive      OMP_WAIT_POLICY=PASSIVE: threads sleep at once at every barrier
  spin-N       GOMP_SPINCOUNT=N: spin N iterations, then sleep
  threads-1    trainer.threads=1 (one intra-op thread: no barriers at all)
Run it alone on the machine. Results go to stdout as a markdown table.
"""

from __future__ import annotations

import argparse
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
}


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--runs", type=int, default=1, help="repeats of each measurement (the median is shown)")
    ap.add_argument("--config", default=str(REPO / "configs" / "lstm_adding_t50.yaml"))
    ap.add_argument("--alone-only", action="store_true", help="time each variant alone only")
    args = ap.parse_args()
    print(f"{Path(args.config).stem}, {args.epochs} epochs of 20,000 samples; {os.cpu_count()} cores; wall seconds "
          f"per run (startup included); median of {args.runs}\n")
    print("| variant | alone (s) | two at once (s, each) | slowdown |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for name in args.variants:
            env, sets = VARIANTS[name]
            alone, pair = [], []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                alone.append(wait(start(out, "alone", env, sets, args.epochs, args.config), t0))
                if args.alone_only:
                    continue
                t0 = time.perf_counter()
                ps = [start(out, f"pair{i}", env, sets, args.epochs, args.config) for i in range(2)]
                pair += [wait(p, t0) for p in ps]
            a, b = statistics.median(alone), statistics.median(pair or [float("nan")])
            print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
