"""The run folder: every file name in it, and the files beside the checkpoint (config, metrics, results).

Run folder `<output_dir>/<name>/`:
    config.yaml        the resolved config (loads back with load_config)
    metrics.jsonl      one JSON line per epoch
    checkpoint.pt      after every epoch; the one it replaced as checkpoint.prev.pt (its format: checkpoint.py)
    results.json       final test metrics, time, hardware, the command; the run's id and the SHA-256 of the
                       config.yaml it finished under, so that a reader can tell it belongs to the config beside it
    .lock              locked by the process that is writing the run, so that no second one does
    .previous/         the files of the run this one replaced (--overwrite), moved aside as the new one starts
                       (through .retiring/, renamed .previous/ once the move is whole)

A run folder holds one run: a new run (not a resumed one) first moves the files of the one before it into
.previous/ (retire_run), results.json first, so that a new run killed or diverged before it finishes never
leaves its config.yaml beside another run's results.json. config.yaml, metrics.jsonl (rewritten as a run starts
or resumes) and results.json are written whole or not at all (write_whole), checkpoints likewise (checkpoint.py):
a process killed at any moment leaves each file as it was or as it was to be. tests/test_fuzz_runs.py kills runs
at every file operation between training, overwriting, resuming and comparing, and checks all of this.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl  # POSIX file locks (not on Windows)
except ImportError:
    fcntl = None

from .config import Config
from .configfile import config_yaml
from .errors import BusyError, CheckpointError, ConfigError

CHECKPOINT = "checkpoint.pt"
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
LOCK_FILE = ".lock"  # held by the process writing the run (open_run_folder)
PREVIOUS_DIR = ".previous"  # the replaced run's files (retire_run); one generation is kept
RETIRING_DIR = ".retiring"  # the replaced run's files on their way to .previous/ (retire_run)


def previous_checkpoint(path: str | Path) -> Path:
    """Where save_checkpoint keeps the checkpoint it replaced: checkpoint.pt -> checkpoint.prev.pt."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def has_checkpoint(run_dir: Path) -> bool:
    """Whether `run_dir` holds a checkpoint to resume from: checkpoint.pt, or checkpoint.prev.pt alone (what a
    process killed between save_checkpoint's two renames leaves; read_resume_checkpoint falls back to it)."""
    path = run_dir / CHECKPOINT
    return path.is_file() or previous_checkpoint(path).is_file()


@contextmanager
def open_run_folder(run_dir: Path, *, resume: bool, overwrite: bool, main: bool = True) -> Iterator[Path]:
    """Check that a run may start (or continue) in `run_dir`, create it, hold it, and give its checkpoint's path.

    A folder holding a run needs --resume or --overwrite; --resume needs a checkpoint. The main process (rank 0
    under torchrun) then checks the folder is writable and holds an exclusive lock on <run>/.lock for the block:
    a second process that would write into the same folder stops with a one-line error naming the holder's PID,
    before it touches anything. The operating system drops the lock when its holder exits, however it exits, so
    a killed run leaves no stale lock. Only then are temporary files of a process killed while saving removed.
    """
    ckpt_path = run_dir / CHECKPOINT
    has_run = has_checkpoint(run_dir)
    if resume and not has_run:
        raise CheckpointError(f"{ckpt_path}: nothing to resume (no checkpoint in the run folder)")
    if not resume and not overwrite and has_run:
        raise ConfigError(f"{run_dir} already holds a run; pass --resume to continue it, --overwrite to start it "
                          f"again, or --set name=<new name>")
    if not main:
        yield ckpt_path
        return
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write_test{os.getpid()}"
        probe.write_text("")
        probe.unlink()
        lock = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"output folder {run_dir} is not writable ({e.strerror})") from None
    try:
        if fcntl is not None:  # POSIX; elsewhere runs are not locked
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(lock, 32, 0).decode(errors="replace").strip() or "unknown"
                raise BusyError(f"{run_dir} is being written by another run (PID {holder}); wait for it to end, "
                                f"or train into another folder with --set name=<new name>") from None
            os.ftruncate(lock, 0)
            os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
        for name in (CHECKPOINT, CONFIG_FILE, METRICS_FILE, RESULTS_FILE):  # left by a process killed while writing
            for stale in run_dir.glob(f".{name}.tmp*"):
                stale.unlink(missing_ok=True)
        yield ckpt_path
    finally:
        os.close(lock)  # and with it the lock


def retire_run(run_dir: Path) -> list[str]:
    """Move the files of the run `run_dir` held into <run>/.previous/ (the generation before it dropped): results.json
    first, then metrics, config, checkpoints and TensorBoard logs. A new run calls this before it writes anything,
    so that a new run killed or diverged before it finishes never leaves its config.yaml beside the old run's
    results.json. Return the names moved (none: the folder held no run to keep).

    Crash-safe: the files are gathered in <run>/.retiring/ and that folder is then renamed .previous/, so that a
    kill at any point leaves the replaced run whole in .previous/, or on its way there (in .retiring/, where the
    next new run finishes the move), and never empties .previous/ for half a run. A run that never finished (no
    results.json) does not push out a finished one: where .previous/ holds a finished run, an unfinished run being
    replaced is deleted instead (--overwrite asked for it to go). A folder without results or checkpoint holds no
    run (a run killed before its first epoch ended): its config.yaml and metrics.jsonl are rewritten, and
    .previous/ keeps what it holds."""
    ckpt = run_dir / CHECKPOINT
    kept = [RESULTS_FILE, CHECKPOINT, previous_checkpoint(ckpt).name, f"{ckpt.stem}.corrupt{ckpt.suffix}"]
    staging, aside = run_dir / RETIRING_DIR, run_dir / PREVIOUS_DIR
    if not any(os.path.lexists(run_dir / n) for n in kept) and not staging.is_dir():
        return []
    order = [*kept[:1], METRICS_FILE, CONFIG_FILE, *kept[1:], "tensorboard"]
    present = [n for n in order if os.path.lexists(run_dir / n)]
    staging.mkdir(exist_ok=True)  # there already: a retirement killed half-way, finished now
    for name in present:
        os.replace(run_dir / name, staging / name)
    fsync_dir(run_dir)
    if not (staging / RESULTS_FILE).is_file() and (aside / RESULTS_FILE).is_file():
        shutil.rmtree(staging)  # an unfinished run replaced: the finished one stays the one kept
        return []
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside)  # the generation before: one is kept (a kill here: .retiring/ holds the run)
    elif os.path.lexists(aside):
        aside.unlink()
    os.replace(staging, aside)
    fsync_dir(run_dir)
    return [n for n in order if os.path.lexists(aside / n)]


def config_digest(run_dir: Path) -> str:
    """SHA-256 of <run>/config.yaml's bytes: results.json records it, and readers check it (runs.read_run)."""
    return hashlib.sha256((run_dir / CONFIG_FILE).read_bytes()).hexdigest()


def write_whole(path: Path, text: str) -> None:
    """`text` into `path` through a temporary file beside it, flushed and renamed over it: a reader, or a kill at
    any moment, finds the old file or the new one, never half of one. (A temporary file a kill leaves behind is
    deleted by the next open_run_folder.)"""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def start_logs(run_dir: Path, cfg: Config, history: list[dict]) -> None:
    """Write config.yaml, and metrics.jsonl afresh from the checkpoint's history, so that it never holds epochs
    the checkpoint lacks; each whole or not at all, so that a resumed finished run killed here still has the
    config and metrics its results.json was written with."""
    write_whole(run_dir / CONFIG_FILE, config_yaml(cfg))
    write_whole(run_dir / METRICS_FILE, "".join(json.dumps(h) + "\n" for h in history))


def log_epoch(run_dir: Path, row: dict) -> None:
    with open(run_dir / METRICS_FILE, "a") as f:
        f.write(json.dumps(row) + "\n")


def write_results(run_dir: Path, results: dict) -> None:
    """results.json, whole or not at all (a resumed finished run killed here keeps the one it had)."""
    write_whole(run_dir / RESULTS_FILE, json.dumps(results, indent=2) + "\n")


def read_history(run_dir: Path) -> list[dict]:
    """metrics.jsonl: one dict per epoch."""
    return [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines() if line.strip()]


def read_results(run_dir: Path) -> dict:
    return json.loads((run_dir / RESULTS_FILE).read_text())


def fsync_dir(folder: Path) -> None:
    """Make the renames durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
