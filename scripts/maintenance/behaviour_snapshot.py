"""Record what the package does, then check that a later version does exactly the same (refactoring guard).

    python scripts/maintenance/behaviour_snapshot.py record SNAPSHOT_DIR       # before a change: runs, checkpoints, outputs
    python scripts/maintenance/behaviour_snapshot.py check SNAPSHOT_DIR        # after it: the same runs again, compared

What is compared, bit for bit (floats as JSON prints them), each through the command line as a user runs it:
  (a) the offline tour's printed numbers: each stop's result line, the final table and the translated example
      (timings and speeds left out); each stop in fp32 and for TOUR_EPOCHS epochs instead of its own (default 1:
      on a CPU without native bf16 the tour's bf16 stops are ~20x slower or fail; TOUR_EPOCHS=0 keeps the tour's)
  (b) metrics.jsonl and results.json of short fixed runs of every task (times, speeds, hardware, command and the
      run folder left out): MNIST MLP 2 epochs; ResNet-20 on 1,000 CIFAR-10 images with six test-time views;
      the adding problem T=50 with the LSTM; a tiny ja->en Transformer (1 epoch, beam 2) and RNNsearch (1 epoch)
  (c) `milestones eval` and `milestones translate` of the checkpoints the record step made, read by the new code
The runs use the data in $MILESTONES_DATA (else ../shared/data). Run it alone on the machine: the results are
bitwise reproducible for a fixed thread count (2 here), not across thread counts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = os.environ.get("MILESTONES_DATA") or str(REPO.parent / "shared" / "data")
TIMING = {"samples_per_s", "seconds", "train_seconds", "hardware", "command"}

RUNS = {  # name: (config, overrides)
    "mlp_mnist": ("mlp_mnist.yaml", ["trainer.epochs=2"]),
    "resnet20_views": ("resnet20_cifar10_cpu.yaml", ["trainer.epochs=1", "data.train_size=1000",
                                                     "data.test_size=500", "data.val_size=0", "trainer.eval_every=1",
                                                     "schedule.warmup_epochs=0.5"]),
    "lstm_adding": ("lstm_adding_t50.yaml", ["trainer.epochs=2", "data.train_size=5000"]),
    "transformer_enja": ("transformer_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=3000",
                                                       "data.test_size=100", "model.d_model=64", "model.d_ff=128",
                                                       "model.encoder_layers=1", "model.decoder_layers=1",
                                                       "trainer.beam=2", "schedule.warmup_epochs=0.5"]),
    "rnnsearch_enja": ("rnnsearch_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=2000", "data.test_size=100",
                                                   "trainer.precision=fp32",
                                                   "model.embed_dim=32", "model.hidden_size=32",
                                                   "model.align_dim=32", "model.maxout_dim=32",
                                                   "schedule.warmup_epochs=0.5"]),
}
SENTENCES = ["彼は背が高い。", "私は学生です。"]


# The tour as `milestones tour --no-progress` runs it, with every stop shortened to at most N epochs and in fp32
# (bf16 autocast on a CPU without native bf16 is ~20x slower, and oneDNN's bf16 LSTM refuses to run there).
TOUR = """
import dataclasses, sys
from milestones import tour
n = int(sys.argv[2])
def fp32(stop):
    if hasattr(stop, "overrides"):  # a stop's recipe in configs/tour/*.yaml
        return dataclasses.replace(stop, overrides=(*stop.overrides, "trainer.precision=fp32"))
    config = stop.config  # an older checkout (`record` before the change): the recipe as an inline dict
    return dataclasses.replace(stop, config={**config, "trainer": {**config["trainer"], "precision": "fp32"}})
tour.STOPS = [dataclasses.replace(fp32(s), epochs=min(s.epochs, n) if n else s.epochs) for s in tour.STOPS]
tour.tour(output_dir=sys.argv[1], progress=False)
"""
TOUR_EPOCHS = int(os.environ.get("TOUR_EPOCHS", "1"))


def cli(*args: str, cwd: Path, python: tuple[str, ...] = ("-m", "milestones")) -> str:
    env = {**os.environ, "MILESTONES_DATA": DATA, "PYTHONHASHSEED": "0"}
    p = subprocess.run([sys.executable, *python, *args], capture_output=True, text=True, cwd=cwd, env=env)
    if p.returncode != 0:
        raise SystemExit(f"`{' '.join(python + args)}` failed ({p.returncode}):\n{p.stderr[-2000:]}")
    return p.stdout


def strip(obj):
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k not in TIMING}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    return obj


def tour_numbers(stdout: str) -> list[str]:
    """The tour's result lines without their timing, and its final table and translated example."""
    out = []
    for line in stdout.splitlines():
        if line.strip().startswith("->"):
            out.append(line.split("  (")[0].strip())  # "-> test accuracy 97.12%" without "(15 epochs, 9 s, ...)"
        elif re.match(r"^\d{4} ", line) or line.startswith("彼は"):
            out.append(line.rstrip())
    return out


def snapshot(work: Path, old_checkpoints: Path | None) -> dict:
    """Everything compared, made by the code installed now (runs are written under `work`)."""
    work.mkdir(parents=True, exist_ok=True)
    tour_out = cli(str(work / "tour"), str(TOUR_EPOCHS), cwd=work, python=("-c", TOUR))
    snap: dict = {"tour_epochs": TOUR_EPOCHS, "tour": tour_numbers(tour_out)}
    for name, (config, overrides) in RUNS.items():
        cli("train", str(REPO / "configs" / config), "--set", *overrides, f"name={name}", f"output_dir={work}",
            "trainer.progress=false", "--overwrite", cwd=work)
        run = work / name
        snap[name] = {"metrics": strip([json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]),
                      "results": strip(json.loads((run / "results.json").read_text()))}
    checkpoints = old_checkpoints or work
    for name, (config, overrides) in RUNS.items():
        ckpt = checkpoints / name / "checkpoint.pt"
        ev = json.loads(cli("eval", str(REPO / "configs" / config), "--checkpoint", str(ckpt), "--set", *overrides,
                            "trainer.progress=false", cwd=work))
        ev.pop("checkpoint")
        snap[name]["eval_of_recorded_checkpoint"] = ev
        if name.endswith("_enja"):
            snap[name]["translate_recorded_checkpoint"] = cli("translate", "--checkpoint", str(ckpt), *SENTENCES,
                                                              "--beam", "2", cwd=work).splitlines()
    return snap


def diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k), b.get(k), f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} before, {b!r} now"]


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("record", "check"):
        print(__doc__)
        return 2
    mode, folder = sys.argv[1], Path(sys.argv[2]).resolve()
    if mode == "record":
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        snap = snapshot(folder / "runs", None)
        (folder / "snapshot.json").write_text(json.dumps(snap, indent=1, ensure_ascii=False) + "\n")
        print(f"recorded {folder / 'snapshot.json'}")
        return 0
    before = json.loads((folder / "snapshot.json").read_text())
    work = folder / "check"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    now = snapshot(work, folder / "runs")
    (folder / "check.json").write_text(json.dumps(now, indent=1, ensure_ascii=False) + "\n")
    problems = diff(before, now)
    for p in problems:
        print(p)
    print(f"{len(problems)} differences in {sum(1 for _ in json.dumps(before))} characters of recorded behaviour "
          f"(tour lines: {len(before['tour'])}; runs: {', '.join(RUNS)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
