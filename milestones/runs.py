"""Finished runs, found on disk and grouped: the runs of one config that differ only by seed are one `Entry`.

    runs, unreadable = find_runs("runs/")      every folder below with results.json, config.yaml, metrics.jsonl
    entries = group(runs)                      one Entry per experiment, the paper's number beside it

The paper's numbers come from milestones/papers.yaml (every number with its source); which one an entry gets is
decided by model, data set and the task's metric name (its `Headline.paper_metric`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .checkpoint import (CONFIG_FILE, METRICS_FILE, PREVIOUS_DIR, RESULTS_FILE, config_digest, read_history,
                         read_results)
from .config import Config, config_from_dict
from .configfile import read_yaml
from .data.datasets import DATASETS
from .errors import ConfigError, MilestonesError
from .models import MODELS, ModelInfo
from .runfolder import RETIRING_DIR
from .tasks import TASKS, Task
from .typecheck import shown

PAPERS = Path(__file__).with_name("papers.yaml")


@dataclass
class Run:
    path: Path
    config: Config
    results: dict[str, Any]
    history: list[dict[str, Any]]


@dataclass
class Entry:
    """One leaderboard row: the runs of one config that differ only by their seed."""

    runs: list[Run]
    paper: Optional[dict[str, Any]] = None
    values: list[float] = field(default_factory=list)

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def task(self) -> Task:
        return TASKS[self.first.config.task]

    @property
    def model(self) -> str:
        return self.first.config.model.name

    @property
    def data(self) -> str:
        d = self.first.config.data
        if d.name == "adding":
            return f"adding T={d.seq_len}"
        return d.name if d.train_size is None else f"{d.name} ({d.train_size:,} train)"  # a subset: says so

    @property
    def train_examples(self) -> float:
        """Training examples: data.train_size, else the data set's training split less validation (inf where the
        size is not known without reading the data: a folder)."""
        d = self.first.config.data
        n = DATASETS[d.name].training_examples(d.val_size, d.train_size) if d.name in DATASETS else None
        return math.inf if n is None else n

    @property
    def info(self) -> Optional[ModelInfo]:
        """The model family's facts (milestones/models/__init__.py); None for a model the table does not know."""
        return MODELS.get(self.model)

    @property
    def depth(self) -> Optional[int]:
        return self.info.depth_with(self.first.config.model.args) if self.info else None

    @property
    def residual(self) -> Optional[bool]:
        return self.info.residual_with(self.first.config.model.args) if self.info else None

    @property
    def era(self) -> str:
        return MODELS[self.model].era if self.model in MODELS else "?"

    @property
    def year(self) -> int:
        return MODELS[self.model].year if self.model in MODELS else 0

    def mean_std(self) -> tuple[float, float]:
        return statistics.fmean(self.values), (statistics.stdev(self.values) if len(self.values) > 1 else 0.0)

    def rate(self) -> float:
        """Mean training throughput over every epoch of every seed (unit: the task's `headline.rate_unit`)."""
        rates = [h["samples_per_s"] for r in self.runs for h in r.history if "samples_per_s" in h]
        return statistics.fmean(rates) if rates else float("nan")


RESULT_INTS = ("epochs", "params")  # results.json numbers the leaderboard reads, beside the task's headline
HISTORY_NUMBERS = ("epoch", "train_acc", "val_acc", "test_acc", "samples_per_s")  # metrics.jsonl: read by plots


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_run(folder: Path) -> Run:
    """A finished run folder (results.json, config.yaml, metrics.jsonl), or a MilestonesError saying what is wrong:
    every file readable, of the right shape, and the numbers the leaderboard and plots read numbers."""
    def fail(name: str, why: str) -> MilestonesError:
        return MilestonesError(f"{folder / name}: {why}")

    try:
        results = read_results(folder)
        if not isinstance(results, dict):
            raise fail(RESULTS_FILE, "not a results file (no JSON object inside)")
    except OSError as e:
        raise fail(RESULTS_FILE, f"cannot read ({e.strerror})") from None
    except ValueError as e:  # not UTF-8 too
        raise fail(RESULTS_FILE, f"not valid JSON, truncated? ({str(e)[:80]})") from None
    try:
        raw = read_yaml(folder / CONFIG_FILE)
    except ConfigError as e:  # names the file
        raise MilestonesError(str(e)) from None
    if not isinstance(raw, dict):
        raise fail(CONFIG_FILE, f"not a config (a YAML {type(raw).__name__}, not a mapping of sections)")
    try:
        config = config_from_dict(raw, where=str(folder))
    except ConfigError as e:
        raise fail(CONFIG_FILE, f"no longer a valid config ({e})") from None
    written = results.get("config_sha256")  # (results.json before run ids did not record it)
    if written is not None and written != config_digest(folder):
        raise fail(RESULTS_FILE, "written under another config.yaml than the one beside it (a run started over in "
                                 "this folder and not finished): finish it (--resume) or train it again (--overwrite)")
    try:
        history = read_history(folder)
    except OSError as e:
        raise fail(METRICS_FILE, f"cannot read ({e.strerror})") from None
    except ValueError as e:  # not UTF-8 too
        raise fail(METRICS_FILE, f"a line is not valid JSON, truncated? ({str(e)[:80]})") from None
    for i, h in enumerate(history, 1):
        if not isinstance(h, dict):
            raise fail(METRICS_FILE, f"entry {i} is not a JSON object (got {type(h).__name__})")
        bad = next((k for k in HISTORY_NUMBERS if k in h and not _number(h[k])), None)
        if bad:
            raise fail(METRICS_FILE, f"entry {i}: {bad} is not a number (got {shown(h[bad])})")
    key = TASKS[config.task].headline.key
    value = results.get(key)
    if value is not None and not (_number(value) and math.isfinite(value)):
        raise fail(RESULTS_FILE, f"{key} is {shown(value)}, not a finite number (a damaged or diverged run)")
    bad = next((k for k in RESULT_INTS if results.get(k) is not None and not isinstance(results[k], int)), None)
    if bad or not _number(results.get("train_seconds", 0.0)):
        bad = bad or "train_seconds"
        raise fail(RESULTS_FILE, f"{bad} is {shown(results[bad])}, not a number")
    return Run(folder, config, results, history)


def load_run(folder: Path) -> Optional[Run]:
    """A finished run folder, or None if it is not one (see read_run for why)."""
    try:
        return read_run(folder)
    except MilestonesError:
        return None


def _run_folders(root: Path) -> list[Path]:
    """Every folder below `root` holding a results.json, in path order. Symlinked folders are followed (a run kept
    elsewhere and linked in counts); a folder reached twice (two links, or a link and the folder itself) counts once,
    and a link back up the tree is not followed round."""
    found, seen = [], set()
    for here, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        if RESULTS_FILE in files:
            found.append(Path(here))
    return sorted(found)


def find_runs(root: str | Path) -> tuple[list[Run], list[str]]:
    """Every finished run below `root` (any depth), and a one-line reason for each run folder (a folder with a
    results.json) that cannot be read."""
    root = Path(root)
    if not root.is_dir():
        raise MilestonesError(f"{root}: no such folder of runs")
    runs, unreadable = [], []
    for folder in _run_folders(root):
        if {PREVIOUS_DIR, RETIRING_DIR} & set(folder.relative_to(root).parts):  # a replaced run (runfolder.retire_run)
            continue
        try:
            runs.append(read_run(folder))
        except MilestonesError as e:
            unreadable.append(str(e))
    if not runs:
        also = f"; {len(unreadable)} cannot be read, the first: {unreadable[0]}" if unreadable else ""
        raise MilestonesError(f"{root}: no finished runs inside (a run folder holds results.json and config.yaml)"
                              f"{also}")
    return runs, unreadable


def experiment_key(cfg: Config) -> str:
    """The config's hash with the seed left out: runs that differ only by seed share it."""
    return dataclasses.replace(cfg, seed=0).hash()


def load_papers(path: Path = PAPERS) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return yaml.safe_load(path.read_text(encoding="utf-8")) or []


def group(runs: list[Run], papers: Optional[list[dict]] = None) -> list[Entry]:
    """Leaderboard entries, in the order of history (year, then model name, then data set)."""
    papers = load_papers() if papers is None else papers
    by_key: dict[str, Entry] = {}
    for r in runs:
        by_key.setdefault(experiment_key(r.config), Entry([])).runs.append(r)
    entries = list(by_key.values())
    for e in entries:
        h = e.task.headline
        e.values = [h.scale * r.results[h.key] for r in e.runs if r.results.get(h.key) is not None]
        d = e.first.config.data
        e.paper = next((p for p in papers if p.get("model") == e.model and p.get("data") == d.name
                        and p.get("metric") == h.paper_metric and not p.get("context")
                        and p.get("seq_len", d.seq_len) == d.seq_len), None)  # adding problem: same T
    return sorted(entries, key=lambda e: (e.year, e.model, e.first.config.data.name, e.train_examples, e.data))


def cifar_nets(entries: list[Entry], residual: bool) -> dict[int, Entry]:
    """{depth: entry} of He et al.'s CIFAR nets (Sec. 4.2), residual or plain, trained on CIFAR-10; for each depth
    the entry on the largest training set. The one choice behind Fig. 6's claims and its plot."""
    out: dict[int, Entry] = {}
    for e in entries:
        if e.info is None or e.info.family != "cifar_resnet" or e.first.config.data.name != "cifar10":
            continue
        if e.residual == residual and e.depth and (e.depth not in out or e.train_examples > out[e.depth].train_examples):
            out[e.depth] = e
    return out
