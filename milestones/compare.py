"""Put the eras side by side: gather finished runs, average their seeds, set the papers' numbers beside ours.

    milestones compare --runs runs/                 gather every finished run under runs/ (any depth)
    milestones compare --suite quick                train the quick suite (2 CPU cores, 3 seeds), then gather it
    milestones compare --suite full --seeds 1       the paper-faithful GPU configs

Writes into --output (default: <runs>/compare/ or runs/compare_<suite>/):
  leaderboard.md / leaderboard.csv   one row per experiment (config without its seed): era, year, model, data,
                                     parameters, metric as mean ± std over seeds, the paper's number and its
                                     source (milestones/papers.yaml), epochs, training time, hardware, torch, hash
  accuracy_by_era.png                test accuracy per image model, ordered by year (MLP -> CNN -> ResNet -> ViT)
  throughput_by_era.png              training throughput per model (images/s, sequences/s, target tokens/s)
  adding_curves.png                  adding problem: fraction solved per epoch, RNN against LSTM, per length T
  degradation.png                    plain and residual nets: training/test error per epoch (He et al. Fig. 6)
  bleu_by_length.png                 translators: test BLEU by source-sentence length (Bahdanau et al. Fig. 2)
A plot is written when its runs are there; plots need matplotlib (`pip install 'milestones[plot]'`).

Runs of one config that differ only by seed are one row; a suite skips a run whose results.json already exists,
so an interrupted suite continues where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from .config import Config, config_from_dict, load_config
from .errors import ConfigError, MilestonesError
from .models import MODELS

PAPERS = Path(__file__).with_name("papers.yaml")
REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# What a suite trains: (config under configs/, overrides). Quick: sized for 2 CPU cores, about 10 minutes a seed
# (measured times are in RESULTS.md); each run is far shorter than its paper's schedule, and the table says so.
SUITES: dict[str, list[tuple[str, list[str]]]] = {
    "quick": [  # warm-ups shortened to fit the short schedules (the configs' own span 1-2 epochs)
        ("mlp_mnist.yaml", ["trainer.epochs=3"]),
        ("lenet5_mnist.yaml", ["trainer.epochs=2"]),
        ("mlp_cifar10.yaml", ["trainer.epochs=3"]),
        ("alexnet_cifar10_cpu.yaml", ["trainer.epochs=3", "schedule.warmup_epochs=0.3"]),
        ("resnet20_cifar10_cpu.yaml", ["trainer.epochs=2", "schedule.warmup_epochs=0.2"]),
        ("vit_tiny_cifar10_cpu.yaml", ["trainer.epochs=1", "schedule.warmup_epochs=0.1"]),
        ("rnn_adding_t50.yaml", []),
        ("lstm_adding_t50.yaml", []),
        ("lstm_seq2seq_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=10000", "schedule.warmup_epochs=0.1"]),
        ("rnnsearch_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=10000", "schedule.warmup_epochs=0.1"]),
        ("transformer_enja_cpu.yaml", ["trainer.epochs=1", "data.train_size=10000", "schedule.warmup_epochs=0.3",
                                       "trainer.beam=1"]),  # greedy only: beam decoding would add ~1 min a seed
    ],
    "full": [  # the papers' schedules: GPU runs
        ("resnet20_cifar10_gpu.yaml", []), ("resnet56_cifar10_gpu.yaml", []), ("resnet110_cifar10_gpu.yaml", []),
        ("plain20_cifar10_gpu.yaml", []), ("plain56_cifar10_gpu.yaml", []),
        ("lstm_adding_t100.yaml", []), ("rnn_adding_t100.yaml", []),
        ("lstm_seq2seq_multi30k_cpu.yaml", []), ("rnnsearch_multi30k_cpu.yaml", []),
        ("transformer_multi30k_cpu.yaml", []),
    ],
}

# The headline metric of each task: (results.json key, column label, scale to the display unit)
METRICS = {"classification": ("test_acc", "test accuracy (%)", 100.0),
           "regression": ("test_acc", "sequences solved (%)", 100.0),
           "seq2seq": ("test_bleu", "test BLEU", 1.0)}
PAPER_METRIC = {"classification": "test_acc", "regression": "solved", "seq2seq": "test_bleu"}
RATE_UNIT = {"classification": "images/s", "regression": "sequences/s", "seq2seq": "target tokens/s"}


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
    def task(self) -> str:
        return self.first.config.task

    @property
    def model(self) -> str:
        return self.first.config.model.name

    @property
    def data(self) -> str:
        d = self.first.config.data
        return f"adding T={d.seq_len}" if d.name == "adding" else d.name

    @property
    def era(self) -> str:
        return MODELS[self.model].era if self.model in MODELS else "?"

    @property
    def year(self) -> int:
        return MODELS[self.model].year if self.model in MODELS else 0

    def mean_std(self) -> tuple[float, float]:
        return statistics.fmean(self.values), (statistics.stdev(self.values) if len(self.values) > 1 else 0.0)

    def rate(self) -> float:
        """Mean training throughput over every epoch of every seed (unit: RATE_UNIT[task])."""
        rates = [h["samples_per_s"] for r in self.runs for h in r.history if "samples_per_s" in h]
        return statistics.fmean(rates) if rates else float("nan")


# --- gathering -----------------------------------------------------------------------------------------------------

def load_run(folder: Path) -> Optional[Run]:
    """A finished run folder (results.json, config.yaml, metrics.jsonl), or None if it is not one."""
    try:
        results = json.loads((folder / "results.json").read_text())
        config = config_from_dict(yaml.safe_load((folder / "config.yaml").read_text()), where=str(folder))
        history = [json.loads(l) for l in (folder / "metrics.jsonl").read_text().splitlines() if l.strip()]
    except (OSError, ValueError, ConfigError, yaml.YAMLError):
        return None
    return Run(folder, config, results, history)


def find_runs(root: str | Path) -> list[Run]:
    root = Path(root)
    if not root.is_dir():
        raise MilestonesError(f"{root}: no such folder of runs")
    runs = [r for p in sorted(root.rglob("results.json")) if (r := load_run(p.parent)) is not None]
    if not runs:
        raise MilestonesError(f"{root}: no finished runs inside (a run folder holds results.json and config.yaml)")
    return runs


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
        key, _, scale = METRICS[e.task]
        e.values = [scale * r.results[key] for r in e.runs if r.results.get(key) is not None]
        d = e.first.config.data
        e.paper = next((p for p in papers if p.get("model") == e.model and p.get("data") == d.name
                        and p.get("metric") == PAPER_METRIC[e.task] and not p.get("context")
                        and p.get("seq_len", d.seq_len) == d.seq_len), None)  # adding problem: same T
    return sorted(entries, key=lambda e: (e.year, e.model, e.data))


# --- tables --------------------------------------------------------------------------------------------------------

COLUMNS = ["era", "year", "model", "data", "params", "metric", "ours (mean ± std)", "seeds", "paper", "epochs",
           "train min", "hardware", "torch", "config"]


def rows(entries: list[Entry]) -> list[list[str]]:
    out = []
    for e in entries:
        if not e.values:
            continue
        mean, std = e.mean_std()
        p = e.paper
        paper = "—" if not p or p.get("value") is None else f"{p['value']:g} ({p['source'].split(',')[0]})"
        epochs = sorted({r.results.get("epochs") for r in e.runs})
        minutes = statistics.fmean(r.results.get("train_seconds", 0.0) for r in e.runs) / 60
        r0 = e.first.results
        out.append([e.era, str(e.year), e.model, e.data, f"{r0.get('params', 0):,}", METRICS[e.task][1],
                    f"{mean:.2f} ± {std:.2f}" if len(e.values) > 1 else f"{mean:.2f}", str(len(e.values)), paper,
                    "/".join(map(str, epochs)),
                    f"{minutes:.1f}", str(r0.get("hardware", "?")), str(r0.get("torch", "?")),
                    experiment_key(e.first.config)])
    return out


def markdown(entries: list[Entry], title: str = "Leaderboard") -> str:
    body = rows(entries)
    lines = [f"# {title}", "",
             "Ours: mean ± sample standard deviation over seeds. Paper: the published number for the same model and "
             "data set (sources in milestones/papers.yaml), usually after a far longer schedule: see the epochs.", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
    sources = [e.paper for e in entries if e.paper and e.paper.get("value") is not None]
    if sources:
        lines += ["", "Sources:", ""] + [f"- {p['model']} / {p['data']}: {p['value']:g} — {p['source']}"
                                         + (f" ({p['setting']})" if p.get("setting") else "") for p in sources]
    return "\n".join(lines) + "\n"


def write_leaderboard(entries: list[Entry], out: Path, title: str = "Leaderboard") -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.md").write_text(markdown(entries, title), encoding="utf-8")
    with open(out / "leaderboard.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        w.writerows(rows(entries))
    return out / "leaderboard.md"


# --- plots ---------------------------------------------------------------------------------------------------------

def _label(e: Entry) -> str:
    return f"{e.model}\n{e.year}"


def plot_accuracy_by_era(entries: list[Entry], path: Path) -> bool:
    from .experiments import pyplot

    image = [e for e in entries if e.task == "classification" and e.values]
    if not image:
        return False
    plt = pyplot()
    datasets = sorted({e.data for e in image}, key=lambda d: (d != "cifar10", d))  # the photos first
    fig, axes = plt.subplots(1, len(datasets), figsize=(1.3 * max(4, max(sum(e.data == d for e in image)
                                                                     for d in datasets)) * len(datasets) + 1, 4.2),
                             squeeze=False)
    for ax, d in zip(axes[0], datasets):
        es = [e for e in image if e.data == d]  # already in the order of history
        means = [e.mean_std()[0] for e in es]
        ax.bar(range(len(es)), means, yerr=[e.mean_std()[1] for e in es], capsize=4, color="#4c72b0", label="ours")
        papers = [(i, e.paper["value"]) for i, e in enumerate(es) if e.paper and e.paper.get("value") is not None]
        if papers:
            ax.plot(*zip(*papers), "r_", markersize=22, mew=2, linestyle="none", label="paper")
        for i, m in enumerate(means):
            ax.text(i, m + 1, f"{m:.1f}", ha="center", fontsize=8)
        ax.set_xticks(range(len(es)), [_label(e) for e in es], fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(d)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Accuracy by era (red: the paper's number)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_throughput(entries: list[Entry], path: Path) -> bool:
    from .experiments import pyplot

    tasks = [t for t in METRICS if any(e.task == t for e in entries)]
    if not tasks:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for ax, t in zip(axes[0], tasks):
        es = [e for e in entries if e.task == t]
        ax.bar(range(len(es)), [e.rate() for e in es], color="#55a868")
        ax.set_xticks(range(len(es)), [f"{_label(e)}\n{e.data}" for e in es], fontsize=7)
        ax.set_ylabel(RATE_UNIT[t])
        ax.set_title(f"training throughput ({t})")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_adding(entries: list[Entry], path: Path) -> bool:
    from .experiments import plot_lines

    es = [e for e in entries if e.task == "regression"]
    if not es:
        return False
    series = {f"{e.model} ({e.data})": [(h["epoch"], 100 * h["test_acc"]) for h in e.first.history
                                           if "test_acc" in h] for e in es}  # trainer.eval_every skips some
    plot_lines(series, path, xlabel="epoch", ylabel="test sequences solved (%)",
               title="Adding problem: LSTM vs plain RNN")
    return True


def plot_degradation(entries: list[Entry], path: Path) -> bool:
    from .experiments import plot_error_curves

    es = [e for e in entries if e.model.startswith(("plain", "resnet")) and e.model[-1].isdigit()]
    panels = {"plain": {e.model: e.first.history for e in es if e.model.startswith("plain")},
              "residual": {e.model: e.first.history for e in es if e.model.startswith("resnet")}}
    if not any(len(p) > 1 for p in panels.values()):
        return False
    eval_key = "val_acc" if any("val_acc" in h for h in es[0].first.history) else "test_acc"
    plot_error_curves({k: v for k, v in panels.items() if v}, path, eval_key=eval_key,
                      title="Plain vs residual nets (He et al. 2015, Fig. 6): training dashed, test solid")
    return True


def plot_bleu_by_length(entries: list[Entry], path: Path) -> bool:
    from .experiments import plot_lines

    es = [e for e in entries if e.task == "seq2seq" and e.first.results.get("bleu_by_length")]
    if not es:
        return False
    series = {}
    for e in es:
        buckets = e.first.results["bleu_by_length"]  # {"4-7": {"max_len": 7, "bleu": ..}, ...}
        series[f"{e.model} ({e.data})"] = [(b["max_len"], b["bleu"]) for b in buckets.values()]
    plot_lines(series, path, xlabel="source sentence length (tokens, bucket's upper end)", ylabel="test BLEU",
               title="BLEU by sentence length (cf. Bahdanau et al. 2015, Fig. 2)")
    return True


PLOTS = {"accuracy_by_era.png": plot_accuracy_by_era, "throughput_by_era.png": plot_throughput,
         "adding_curves.png": plot_adding, "degradation.png": plot_degradation,
         "bleu_by_length.png": plot_bleu_by_length}


def write_plots(entries: list[Entry], out: Path) -> list[Path]:
    """Every plot its runs allow; without matplotlib, a note on stdout and none."""
    try:
        from .experiments import pyplot

        pyplot()
    except MilestonesError as e:
        print(f"milestones: {e}")
        return []
    return [out / name for name, fn in PLOTS.items() if fn(entries, out / name)]


# --- suites --------------------------------------------------------------------------------------------------------

def suite_configs(suite: str, seeds: int, output_dir: Path, overrides: list[str]) -> list[Config]:
    if suite not in SUITES:
        raise ConfigError(f"unknown suite '{suite}' (known: {', '.join(SUITES)})")
    if not REPO_CONFIGS.is_dir():
        raise ConfigError(f"suites read the configs/ folder of a source checkout, not found at {REPO_CONFIGS}; "
                          f"use `milestones compare --runs DIR` on finished runs instead")
    cfgs = []
    for name, extra in SUITES[suite]:
        for seed in range(seeds):
            stem = Path(name).stem
            cfgs.append(load_config(REPO_CONFIGS / name, [*extra, *overrides, f"seed={seed}", f"name={stem}_seed{seed}",
                                                          f"output_dir={output_dir}"]))
    return cfgs


def run_suite(suite: str, seeds: int, output_dir: Path, overrides: list[str]) -> None:
    """Train every (config, seed) of the suite that has not finished yet."""
    from .train import fit

    cfgs = suite_configs(suite, seeds, output_dir, overrides)
    for i, cfg in enumerate(cfgs, 1):
        done = load_run(cfg.run_dir)
        if done is not None and experiment_key(done.config) == experiment_key(cfg) and done.config.seed == cfg.seed:
            print(f"[{i}/{len(cfgs)}] {cfg.name}: finished earlier, kept")
            continue
        print(f"[{i}/{len(cfgs)}] {cfg.name}")
        fit(cfg, overwrite=True, command=f"milestones compare --suite {suite} --seeds {seeds}")


def compare(runs_dir: Path, out: Path, title: str) -> tuple[Path, list[Path]]:
    entries = group(find_runs(runs_dir))
    table = write_leaderboard(entries, out, title)
    return table, write_plots(entries, out)
