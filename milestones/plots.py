"""Every figure the project draws: the leaderboard's plots, the experiments' curves, attention heat maps.

matplotlib is a dependency, imported on first use by `pyplot()` (half a second), so that
commands that draw nothing do not pay for it. Leaderboard plots (written by `write_plots` when their runs exist):
  accuracy_by_era.png       test accuracy per image model, ordered by year (MLP -> CNN -> ResNet -> ViT)
  throughput_by_era.png     training throughput per model (images/s, sequences/s, target tokens/s)
  adding_curves.png         adding problem: fraction solved per epoch, RNN against LSTM, per length T
  degradation.png           plain and residual nets: training/test error per epoch (He et al. Fig. 6)
  bleu_by_length.png        translators: test BLEU by source-sentence length (Bahdanau et al. Fig. 2)
  bleu_length_stress.png    translators on test pairs joined 1..N at a time: BLEU by source length, past the
                            corpus's own lengths (trainer.length_stress;
                            scripts/experiments/exp_translation.py --stress)
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Optional

import torch

from .data.datasets import DATASETS
from .errors import MilestonesError
from .runs import Entry, cifar_nets
from .tasks import TASKS

NO_MATPLOTLIB = "plots need matplotlib, a dependency of milestones: pip install matplotlib (tables were still written)"


def pyplot(missing: str = NO_MATPLOTLIB) -> Any:
    """matplotlib.pyplot on a file-only backend, or a one-line error (`missing`) saying how to get it."""
    try:
        import matplotlib  # here, not at the top: an optional extra

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MilestonesError(missing) from None
    return plt


# --- curves of the experiments -------------------------------------------------------------------------------------

def plot_error_curves(panels: dict[str, dict[str, list[dict]]], path: Path, *, title: str) -> None:
    """Fig. 6 style: one panel per group that has runs, training error dashed and held-out error solid, per
    epoch: the validation split's where the runs hold one out (as He et al.'s 45k/5k split), else the test set's."""
    panels = {name: runs for name, runs in panels.items() if runs}
    held_out = any("val_acc" in h for runs in panels.values() for history in runs.values() for h in history)
    eval_key = "val_acc" if held_out else "test_acc"
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(max(5.5 * len(panels), 9), 4), sharey=True,
                             squeeze=False)  # at least 9 inches: a one-panel figure clipped its two-line title
    for ax, (panel, runs) in zip(axes[0], panels.items()):
        for (label, history), color in zip(runs.items(), plt.rcParams["axes.prop_cycle"].by_key()["color"]):
            epochs = [h["epoch"] for h in history]
            ax.plot(epochs, [100 * (1 - h["train_acc"]) for h in history], "--", color=color, label=f"{label} train")
            evaluated = [h for h in history if eval_key in h]  # trainer.eval_every can skip epochs
            ax.plot([h["epoch"] for h in evaluated], [100 * (1 - h[eval_key]) for h in evaluated], "-", color=color,
                    lw=2, label=f"{label} {eval_key.removesuffix('_acc')}")
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("error (%)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_lines(series: dict[str, list[tuple[float, float]]], path: Path, *, xlabel: str, ylabel: str, title: str,
               xlog: bool = False) -> None:
    """One line with markers per named series of (x, y) points."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in series.items():
        ax.plot(*zip(*points), "o-", label=label)
    if xlog:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


CJK_HINTS = ("cjk", "ipag", "ipam", "ipaex", "ipap", "takao", "vlgothic", "notosansjp", "hiragino", "msgothic",
             "yugoth", "sourcehan", "droidsansjapanese")


def cjk_fonts(font_manager: Any) -> list[str]:
    """Names of installed fonts that draw Japanese (checked: the font has a glyph for 彼), as matplotlib's font
    manager knows them. A font installed after matplotlib built its font cache (e.g. `apt install fonts-noto-cjk`
    a minute ago) is found among the system's font files and added, so the user need not delete the cache."""
    from matplotlib.ft2font import FT2Font

    def hinted(text: str) -> bool:
        text = text.lower().replace(" ", "").replace("_", "").replace("-", "")
        return any(h in text for h in CJK_HINTS)

    def draws_japanese(path: str) -> bool:
        try:
            return FT2Font(path).get_char_index(ord("彼")) != 0
        except (OSError, RuntimeError, ValueError):  # a font file FreeType cannot read
            return False

    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known and hinted(Path(path).name):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return list(dict.fromkeys(f.name for f in font_manager.fontManager.ttflist
                              if (hinted(f.name) or hinted(Path(f.fname).name)) and draws_japanese(f.fname)))


def attention_heatmap(weights: torch.Tensor, cols: list[str], rows: list[str], path: str | Path, *, title: str = "",
                      missing: str = NO_MATPLOTLIB) -> bool:
    """Heat map of attention weights (rows x cols): source tokens across, output tokens down.

    Returns False when the labels hold non-Latin characters (Japanese) but no CJK font is installed, so that
    matplotlib draws them as boxes (a font such as fonts-noto-cjk fixes it); True otherwise."""
    plt = pyplot(missing)
    from matplotlib import font_manager  # pyplot() has just imported matplotlib

    cjk = cjk_fonts(font_manager)
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(cols) + 2), max(3, 0.35 * len(rows) + 1.5)))
    ax.imshow(weights[:len(rows), :len(cols)].float().numpy(), cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontfamily=cjk[:1] or None)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    if title:
        ax.set_title(title if len(title) <= 60 else title[:57] + "...")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Glyph ... missing from font" for CJK labels without a CJK font
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return bool(cjk) or all(ord(c) < 0x2E80 for c in "".join(cols))


# --- the leaderboard's plots ---------------------------------------------------------------------------------------

def _label(e: Entry) -> str:
    return f"{e.model}\n{e.year}"


Bar = tuple[str, float, float, Optional[float]]  # (label, value, std, the paper's value or None)


def plot_bars(panels: dict[str, list[Bar]], path: Path, *, title: str, ylabel: str = "test accuracy (%)") -> None:
    """One panel of bars per group (a data set), in the order given; the papers' numbers as red ticks."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(1.3 * max(4, max(len(b) for b in panels.values()))
                                                      * len(panels) + 1, 4.2), squeeze=False)
    for ax, (panel, bars) in zip(axes[0], panels.items()):
        values = [b[1] for b in bars]
        errors = [b[2] for b in bars]
        ax.bar(range(len(bars)), values, yerr=errors if any(errors) else None, capsize=4, color="#4c72b0",
               label="ours")
        papers = [(i, b[3]) for i, b in enumerate(bars) if b[3] is not None]
        if papers:
            ax.plot(*zip(*papers), "r_", markersize=22, mew=2, linestyle="none", label="paper")
        for i, m in enumerate(values):
            ax.text(i, m + 1, f"{m:.1f}", ha="center", fontsize=8)
        ax.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel(ylabel)
        ax.set_title(panel)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_accuracy_by_era(entries: list[Entry], path: Path) -> bool:
    image = [e for e in entries if e.task.name == "classification" and e.values]
    if not image:
        return False
    datasets = sorted({e.data for e in image}, key=lambda d: (d != "cifar10", d))  # the photos first
    panels = {d: [(_label(e), *e.mean_std(), e.paper.get("value") if e.paper else None)
                  for e in image if e.data == d]  # already in the order of history
              for d in datasets}
    plot_bars(panels, path, title="Accuracy by era (red: the paper's number)")
    return True


def plot_throughput(entries: list[Entry], path: Path) -> bool:
    tasks = [t for t in TASKS.values() if any(e.task is t for e in entries)]
    if not tasks:
        return False
    plt = pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for ax, t in zip(axes[0], tasks):
        es = [e for e in entries if e.task is t]
        ax.bar(range(len(es)), [e.rate() for e in es], color="#55a868")
        ax.set_xticks(range(len(es)), [f"{_label(e)}\n{e.data}" for e in es], fontsize=7)
        ax.set_ylabel(t.headline.rate_unit)
        ax.set_title(f"training throughput ({t.name})")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def plot_adding(entries: list[Entry], path: Path) -> bool:
    es = [e for e in entries if e.task.name == "regression"]
    if not es:
        return False
    series = {f"{e.model} ({e.data})": [(h["epoch"], 100 * h["test_acc"]) for h in e.first.history
                                           if "test_acc" in h] for e in es}  # trainer.eval_every skips some
    plot_lines(series, path, xlabel="epoch", ylabel="test sequences solved (%)",
               title="Adding problem: LSTM vs plain RNN")
    return True


def plot_degradation(entries: list[Entry], path: Path) -> bool:
    panels = {kind: {f"{'resnet' if residual else 'plain'}{d}": e.first.history
                     for d, e in sorted(cifar_nets(entries, residual).items())}
              for kind, residual in (("plain", False), ("residual", True))}
    if not any(len(p) > 1 for p in panels.values()):
        return False
    plot_error_curves(panels, path,
                      title="Plain vs residual nets (He et al. 2015, Fig. 6): training dashed, held-out solid")
    return True


def plot_bleu_by_length(entries: list[Entry], path: Path) -> bool:
    es = [e for e in entries if e.task.name == "seq2seq" and e.first.results.get("bleu_by_length")]
    if not es:
        return False
    series = {}
    for e in es:
        buckets = e.first.results["bleu_by_length"]  # {"4-7": {"max_len": 7, "bleu": ..}, ...}
        series[f"{e.model} ({e.data})"] = [(b["max_len"], b["bleu"]) for b in buckets.values()]
    plot_lines(series, path, xlabel="sentence length (reference words, bucket's upper end)", ylabel="test BLEU",
               title="BLEU by sentence length (cf. Bahdanau et al. 2015, Fig. 2)")
    return True


def length_stress_series(results_by_label: dict[str, dict]) -> dict[str, list[tuple[float, float]]]:
    """{label: [(bucket's mean length in reference words, BLEU), ...]} from each run's results["length_stress"]."""
    return {label: [((b["min_len"] + b["max_len"]) / 2, b["bleu"]) for b in r["length_stress"]["by_length"].values()]
            for label, r in results_by_label.items()}


def plot_length_stress(entries: list[Entry], path: Path) -> bool:
    es = [e for e in entries if e.task.name == "seq2seq" and e.first.results.get("length_stress")]
    if not es:
        return False
    plot_lines(length_stress_series({f"{e.model} ({e.data})": e.first.results for e in es}), path,
               xlabel="sentence length (reference words; test pairs joined 1-N at a time)", ylabel="BLEU",
               title="BLEU by source length, test pairs joined\n(cf. Bahdanau et al. 2015, Fig. 2)")
    return True


def plot_data_size(entries: list[Entry], path: Path) -> bool:
    """Test accuracy against training-set size, one line per model trained on more than one size (the ViT data
    study: Dosovitskiy et al. 2020, Sec. 4.3 / Fig. 3 at CIFAR scale)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for e in entries:
        d = e.first.config.data
        if e.task.name == "classification" and e.values and d.name in DATASETS and DATASETS[d.name].in_memory:
            series.setdefault(f"{e.model} ({d.name})", []).append((e.train_examples, e.mean_std()[0]))
    series = {k: sorted(v) for k, v in series.items() if len({x for x, _ in v}) > 1}
    if not series:
        return False
    plot_lines(series, path, xlabel="training images", ylabel="test accuracy (%)", xlog=True,
               title="Accuracy against data size (ViT's hunger for data)")
    return True


PLOTS = {"accuracy_by_era.png": plot_accuracy_by_era, "throughput_by_era.png": plot_throughput,
         "accuracy_by_data_size.png": plot_data_size,
         "adding_curves.png": plot_adding, "degradation.png": plot_degradation,
         "bleu_by_length.png": plot_bleu_by_length, "bleu_length_stress.png": plot_length_stress}


def write_plots(entries: list[Entry], out: Path) -> list[Path]:
    """Every plot its runs allow; without matplotlib, a note on stdout and none."""
    try:
        pyplot()
    except MilestonesError as e:
        print(f"milestones: {e}")
        return []
    return [out / name for name, fn in PLOTS.items() if fn(entries, out / name)]
