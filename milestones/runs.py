"""Finished runs, found on disk and grouped: the runs of one config that differ only by seed are one `Entry`.

    runs, unreadable = find_runs("runs/")      every folder below with results.json, config.yaml, metrics.jsonl
    entries = group(runs)                      one Entry per experiment, the paper's number beside it

The paper's numbers come from milestones/papers.yaml (every number with its source); which one an entry gets is
decided by model, data set and the task's metric name (its `Headline.paper_metric`).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .checkpoint import CONFIG_FILE, METRICS_FILE, RESULTS_FILE, read_history, read_results
from .config import Config, config_from_dict
from .data.datasets import DATASETS
from .errors import ConfigError, MilestonesError
from .models import MODELS, ModelInfo
from .tasks import TASKS, Task

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


def read_run(folder: Path) -> Run:
    """A finished run folder (results.json, config.yaml, metrics.jsonl), or a MilestonesError saying what is wrong."""
    def fail(name: str, why: str) -> MilestonesError:
        return MilestonesError(f"{folder / name}: {why}")

    try:
        results = read_results(folder)
        if not isinstance(results, dict):
            raise fail(RESULTS_FILE, "not a results file (no JSON object inside)")
    except OSError as e:
        raise fail(RESULTS_FILE, f"cannot read ({e.strerror})") from None
    except ValueError as e:
        raise fail(RESULTS_FILE, f"not valid JSON, truncated? ({e})") from None
    try:
        config = config_from_dict(yaml.safe_load((folder / CONFIG_FILE).read_text()) or {}, where=str(folder))
    except OSError as e:
        raise fail(CONFIG_FILE, f"cannot read ({e.strerror})") from None
    except yaml.YAMLError:
        raise fail(CONFIG_FILE, "not valid YAML") from None
    except ConfigError as e:
        raise fail(CONFIG_FILE, f"no longer a valid config ({e})") from None
    try:
        history = read_history(folder)
    except OSError as e:
        raise fail(METRICS_FILE, f"cannot read ({e.strerror})") from None
    except ValueError as e:
        raise fail(METRICS_FILE, f"a line is not valid JSON, truncated? ({e})") from None
    return Run(folder, config, results, history)


def load_run(folder: Path) -> Optional[Run]:
    """A finished run folder, or None if it is not one (see read_run for why)."""
    try:
        return read_run(folder)
    except MilestonesError:
        return None


def find_runs(root: str | Path) -> tuple[list[Run], list[str]]:
    """Every finished run below `root` (any depth), and a one-line reason for each run folder (a folder with a
    results.json) that cannot be read."""
    root = Path(root)
    if not root.is_dir():
        raise MilestonesError(f"{root}: no such folder of runs")
    runs, unreadable = [], []
    for p in sorted(root.rglob(RESULTS_FILE)):
        try:
            runs.append(read_run(p.parent))
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
