"""DDP on CPU: the same short run in 1 process and in N processes (torchrun, gloo), samples/s from metrics.jsonl.

    python scripts/bench/bench_ddp_cpu.py --data ../shared/data [--config configs/mlp_mnist.yaml] [--procs 1 2]

Each run trains `--epochs` epochs on `--train-size` images with the config's global batch; with P processes
each gets cores/P threads, so on a 2-core machine this asks whether 2 x 1 thread beats 1 x 2 threads.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from milestones.checkpoint import read_history, read_results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="configs/mlp_mnist.yaml")
    p.add_argument("--data", default=None)
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-size", type=int, default=20480)
    args = p.parse_args()

    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for n in args.procs:
            threads = max(1, cores // n)
            sets = [f"output_dir={out}", f"name=p{n}", f"trainer.epochs={args.epochs}", "trainer.progress=false",
                    f"data.train_size={args.train_size}", f"trainer.threads={threads}"]
            if args.data:
                sets.append(f"data.root={args.data}")
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
                   "-m", "milestones", "train", args.config] + [a for s in sets for a in ("--set", s)]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode:
                sys.exit(f"run with {n} processes failed:\n{r.stderr[-2000:]}")
            metrics, res = read_history(Path(out) / f"p{n}"), read_results(Path(out) / f"p{n}")
            rows.append((n, threads, metrics[-1]["samples_per_s"], res["test_acc"]))
    print(f"{args.config}, {args.train_size} images x {args.epochs} epochs, {cores} CPU cores, gloo; "
          f"samples/s of the last epoch")
    print("| processes | threads each | samples/s | vs 1 process | test acc |")
    print("|---|---|---|---|---|")
    for n, t, sps, acc in rows:
        print(f"| {n} | {t} | {sps:,.0f} | {sps / rows[0][2]:.2f}x | {100 * acc:.2f}% |")


if __name__ == "__main__":
    main()
