"""Try variants of a training recipe over several seeds at once, then score every run under several evaluations.

    python scripts/experiments/recipe_sweep.py CONFIG --variant NAME[:KEY=VALUE,...] ... [--seeds 0 1] [--jobs 4]
        [--eval NAME[:KEY=VALUE,...] ...] [--set KEY=VALUE ...] [--output-dir runs/sweep] [--deadline-minutes M]

Made for the CPU recipes whose 27-epoch runs take half an hour on 2 cores: on one GPU a dozen of them run side by
side in minutes (`--set trainer.device=cuda --jobs 12`), so a change can be tried on several seeds before a CPU
run confirms it. Each (variant, seed) is one `milestones train CONFIG --set seed=S --set name=NAME_sS ...` in its
own process, at most `--jobs` at a time: every variant's first seed, then every variant's second, and so on (at the
deadline the unstarted runs are skipped and the running ones stopped). Every finished run's checkpoint is then evaluated on the
test split once per `--eval` (e.g. `--eval flip:trainer.test_flip=true`), and the table of means and per-seed
accuracies is printed and written to OUTPUT_DIR/sweep.md and sweep.json. A variant's keys use commas between
KEY=VALUE pairs (`b64:trainer.batch_size=64,optim.lr=0.05`); `base` with nothing after it is the config as is.
Numbers from a GPU are a guide for the CPU recipe, not its result (other kernels round differently).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from milestones import load_config
from milestones.errors import MilestonesError
from milestones.leaderboard import markdown_table
from milestones.evaluation import evaluate_checkpoint


def parse_named(spec: str) -> tuple[str, list[str]]:
    """'b64:trainer.batch_size=64,optim.lr=0.05' -> ('b64', ['trainer.batch_size=64', 'optim.lr=0.05'])."""
    name, _, rest = spec.partition(":")
    sets = [kv for kv in rest.split(",") if kv]
    if not name or any("=" not in kv for kv in sets):
        raise SystemExit(f"recipe_sweep.py: '{spec}' is not NAME or NAME:KEY=VALUE[,KEY=VALUE...]")
    return name, sets


def run_all(jobs: list[dict], max_jobs: int, deadline: float) -> None:
    """Run the training commands, at most `max_jobs` at once, stopping everything at `deadline` (time.time())."""
    waiting, running = list(jobs), []
    while waiting or running:
        for job in list(running):
            if job["proc"].poll() is not None:
                running.remove(job)
                job["log"].close()
                minutes = (time.time() - job["start"]) / 60
                state = "done" if job["proc"].returncode == 0 else f"FAILED (exit {job['proc'].returncode})"
                print(f"{time.strftime('%H:%M:%S')} {job['name']}: {state} in {minutes:.1f} min", flush=True)
        if time.time() > deadline:
            for job in running:  # killed unfinished: main() scores only runs that exited with 0
                job["proc"].kill()
                job["proc"].wait()
                job["log"].close()
                print(f"{job['name']}: stopped at the deadline", flush=True)
            for job in waiting:
                print(f"{job['name']}: not started (deadline)", flush=True)
            return
        while waiting and len(running) < max_jobs:
            job = waiting.pop(0)
            job["log"] = open(job["log_path"], "w")
            job["start"] = time.time()
            job["proc"] = subprocess.Popen(job["cmd"], stdout=job["log"], stderr=subprocess.STDOUT)
            running.append(job)
        time.sleep(2)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config")
    p.add_argument("--variant", action="append", required=True, help="NAME[:KEY=VALUE,...], repeatable")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--eval", dest="evals", action="append", default=[],
                   help="NAME[:KEY=VALUE,...] evaluation settings, repeatable (default: the run's own config)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override for every run, repeatable (e.g. trainer.device=cuda)")
    p.add_argument("--jobs", type=int, default=1, help="training processes at once")
    p.add_argument("--output-dir", default="runs/sweep")
    p.add_argument("--deadline-minutes", type=float, default=float("inf"),
                   help="stop training this long after the start; only finished runs are scored")
    args = p.parse_args()
    variants = [parse_named(v) for v in args.variant]
    evals = [parse_named(e) for e in args.evals] or [("own", [])]
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:  # a bad key fails here, once, not in every process
        load_config(args.config, [*args.overrides, *(kv for _, sets in variants for kv in sets)])
    except MilestonesError as e:
        sys.exit(f"recipe_sweep.py: {e}")

    jobs = []
    for seed in args.seeds:  # every variant's first seed first: a deadline leaves one run of each, not all of a few
        for name, sets in variants:
            run_name = f"{name}_s{seed}"
            cmd = [sys.executable, "-m", "milestones", "train", args.config, "--overwrite",
                   "--set", f"seed={seed}", "--set", f"name={run_name}", "--set", f"output_dir={out}",
                   "--set", "trainer.progress=false", *(a for kv in [*args.overrides, *sets] for a in ("--set", kv))]
            jobs.append({"name": run_name, "variant": name, "seed": seed, "cmd": cmd,
                         "log_path": out / f"{run_name}.log", "run_dir": out / run_name})
    print(f"{len(jobs)} runs, {args.jobs} at a time, into {out}", flush=True)
    run_all(jobs, args.jobs, time.time() + 60 * args.deadline_minutes)

    scores: dict[str, dict[str, dict[int, float]]] = {}  # variant -> eval -> seed -> accuracy
    minutes: dict[str, list[float]] = {}
    for job in jobs:
        results = job["run_dir"] / "results.json"
        if job.get("proc") is None or job["proc"].returncode != 0 or not results.is_file():
            continue
        minutes.setdefault(job["variant"], []).append(json.loads(results.read_text())["train_seconds"] / 60)
        for ename, esets in evals:
            cfg = load_config(job["run_dir"] / "config.yaml", esets)
            acc = evaluate_checkpoint(cfg, job["run_dir"] / "checkpoint.pt")["test_acc"]
            scores.setdefault(job["variant"], {}).setdefault(ename, {})[job["seed"]] = 100 * acc
    rows = []
    for name, sets in variants:
        if name not in scores:
            rows.append([name, ",".join(sets) or "(config)", "0", *["-"] * len(evals), "-"])
            continue
        cells = []
        for ename, _ in evals:
            accs = scores[name][ename]
            spread = f" ± {statistics.stdev(accs.values()):.2f}" if len(accs) > 1 else ""
            cells.append(f"{statistics.mean(accs.values()):.2f}{spread} ({' / '.join(f'{a:.2f}' for a in accs.values())})")
        rows.append([name, ",".join(sets) or "(config)", str(len(minutes[name])), *cells,
                     f"{statistics.mean(minutes[name]):.1f}"])
    table = markdown_table(["variant", "overrides", "seeds", *(f"test acc %, eval {e}" for e, _ in evals),
                            "train min"], rows)
    shown_evals = ", ".join(f"{e} = {','.join(s) or '(config)'}" for e, s in evals)
    header = (f"`{' '.join(sys.argv)}`\n\nconfig {args.config}, seeds {args.seeds}, overrides {args.overrides}; "
              f"evaluations: {shown_evals}\n\n")
    (out / "sweep.md").write_text(header + table + "\n")
    (out / "sweep.json").write_text(json.dumps({"argv": sys.argv, "scores": scores, "train_minutes": minutes},
                                               indent=2) + "\n")
    print(header + table)


if __name__ == "__main__":
    main()
