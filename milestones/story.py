"""The story, judged on the shipped models: `milestones story` (issue #30).

Every claim of the README's story table, the rule it is judged by, the numbers of the zoo entries that bear it out
and a verdict. Offline and in seconds. What the package can measure without a data root is measured live: the
adding problem on freshly generated test sequences, and the translators' greedy BLEU, overall and by sentence
length, on the 500 ja->en test pairs shipped in milestones/data/samples (all of small_parallel_enja's test split,
so the same set the registry's number was measured on). Every other number is the registry's, measured from the
shipped file on the full test set when it was published and re-measured by CI (tests/test_zoo.py); with
`data_root` the image entries are re-measured too. A claim whose entries are not shipped names them, never
guesses; one that this hardware cannot judge says what it needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from .claims import MIN_BLEU
from .data.datasets import DATASETS
from .data.text import tokenize
from .errors import WeightsError
from .leaderboard import markdown_table
from .models import model_info
from .plots import plot_bars, plot_error_curves, plot_lines
from .pretrained import WeightsEntry, read_weights, registry
from .runs import load_papers
from .tasks.seq2seq import corpus_bleu
from .translate import load_translator_weights, translate
from .zoo import history_of, measure

SAMPLE_PAIRS = Path(__file__).parent / "data" / "samples" / "small_parallel_enja"


@dataclass(frozen=True)
class Claim:
    era: str
    claim: str
    rule: str
    needs: tuple[str, ...]  # the zoo entries whose numbers the rule reads
    holds: Callable[[dict[str, float]], bool]  # over {entry: headline, "entry:short"/"entry:long": BLEU by length}
    note: str = ""  # why it is not judged here, for a claim no entry can show on this hardware
    caveat: str = ""  # printed beside a "no": why the shipped data may be unable to show the claim


def _drop(n: dict[str, float], name: str) -> float:
    """The share of its BLEU a translator loses from the shortest to the longest quarter of the test sentences."""
    return 1 - n[f"{name}:long"] / n[f"{name}:short"] if n[f"{name}:short"] > 0 else math.nan


CLAIMS = [
    Claim("MLP", "pixels in, fully connected: fine on simple images (MNIST ~98%), weak on photos",
          "MLP >= 97% on MNIST and >= 20 points lower on CIFAR-10", ("mlp_mnist", "mlp_cifar10"),
          lambda n: n["mlp_mnist"] >= 97 and n["mlp_cifar10"] <= n["mlp_mnist"] - 20),
    Claim("CNN 2012", "local filters: a jump over the MLP on real photos",
          "AlexNet's CIFAR-10 accuracy >= the MLP's + 10 points", ("alexnet_cifar10", "mlp_cifar10"),
          lambda n: n["alexnet_cifar10"] >= n["mlp_cifar10"] + 10),
    Claim("ResNet 2015", "plain nets get worse with depth (Fig. 6)", "plain-56's test accuracy < plain-20's",
          ("plain20_cifar10", "plain56_cifar10"), lambda n: n["plain56_cifar10"] < n["plain20_cifar10"]),
    Claim("ResNet 2015", "residual nets keep improving with depth (Table 6)",
          "ResNet-56's test accuracy > ResNet-20's (same schedule)", ("resnet20_fig6", "resnet56_cifar10"),
          lambda n: n["resnet56_cifar10"] > n["resnet20_fig6"]),
    Claim("RNN 1997", "gates carry information over long lags (adding problem, T=100)",
          "the LSTM solves >= 20 points more test sequences than the tanh RNN", ("lstm_adding100", "rnn_adding100"),
          lambda n: n["lstm_adding100"] - n["rnn_adding100"] >= 20),
    Claim("RNN 1997", "one vector can carry a sentence (seq2seq, ja->en)",
          f"the seq2seq's greedy BLEU >= {MIN_BLEU:.0f} (a decoder that does not read its source stays near 0)",
          ("seq2seq_enja",), lambda n: n["seq2seq_enja"] >= MIN_BLEU),
    Claim("RNN+attention 2015", "attention keeps long sentences from collapsing (ja->en)",
          "RNNsearch loses a smaller share of its BLEU from the shortest to the longest quarter of the test "
          "sentences than the seq2seq", ("rnnsearch_enja", "seq2seq_enja"),
          lambda n: _drop(n, "rnnsearch_enja") < _drop(n, "seq2seq_enja"),
          caveat="the longest quarter of this corpus's test sentences averages ~11 English words; Bahdanau et al.'s "
                 "Fig. 2 parts the two ways past ~20-30 words. Here RNNsearch is ahead at every length (see "
                 "bleu_by_length.png), but both lose about half their BLEU by the longest quarter"),
    Claim("Transformer 2017", "attention alone gives better BLEU (ja->en)", "the Transformer's greedy BLEU > "
          "RNNsearch's", ("transformer_enja", "rnnsearch_enja"),
          lambda n: n["transformer_enja"] > n["rnnsearch_enja"]),
    Claim("Transformer 2017", "faster per token where hardware is parallel", "-", (), lambda n: False,
          note="not judged on a CPU: the claim is about parallel hardware (Vaswani et al. Table 2, GPU hours); "
               "our GPU measurements: RESULTS.md, 'On a GPU'"),
    Claim("ViT 2020", "competitive with a ResNet (CIFAR-10, from scratch, on a CPU)",
          "ViT's accuracy >= ResNet-20's - 10 points", ("vit_cifar10", "resnet20_cifar10"),
          lambda n: n["vit_cifar10"] >= n["resnet20_cifar10"] - 10),
    Claim("ViT 2020", "but hungrier for data than a ResNet",
          "the ResNet-minus-ViT gap on 10% of the training images > the gap on all of them",
          ("vit_cifar10_n5000", "resnet20_cifar10_n5000", "vit_cifar10", "resnet20_cifar10"),
          lambda n: (n["resnet20_cifar10_n5000"] - n["vit_cifar10_n5000"]) > (n["resnet20_cifar10"] - n["vit_cifar10"])),
]


@dataclass
class Judged:
    claim: Claim
    numbers: dict[str, float]
    how: dict[str, str]  # entry -> "live" or "recorded"
    missing: tuple[str, ...]

    @property
    def verdict(self) -> str:
        if self.claim.note:
            return self.claim.note
        if self.missing:
            return "not shipped yet: " + ", ".join(f"`{m}`" for m in self.missing)
        if self.claim.holds(self.numbers):
            return "yes"
        return f"**no**: {self.claim.caveat}" if self.claim.caveat else "**no**"

    @property
    def evidence(self) -> str:
        return ", ".join(f"{name} {value:.2f} ({self.how[name]})" for name, value in self.numbers.items()
                         if ":" not in name) or "-"


def translator_numbers(name: str) -> dict[str, float]:
    """Greedy BLEU of a shipped ja->en translator on the shipped test pairs: overall, and on each quarter of the
    sentences by reference length ("name:q1".."name:q4", with "name:q1_len".. their mean length in words; the
    shortest quarter is also "name:short", the longest "name:long")."""
    model, meta = load_translator_weights(name)  # refuses, in one line, an entry that is not a translator
    src = (SAMPLE_PAIRS / "test.ja").read_text(encoding="utf-8").splitlines()
    refs = [tokenize(line, "en") for line in (SAMPLE_PAIRS / "test.en").read_text(encoding="utf-8").splitlines()]
    hyps = [t.tokens for t in translate(model, meta, src)]
    order = sorted(range(len(refs)), key=lambda i: len(refs[i]))
    quarter = len(order) // 4
    out = {name: corpus_bleu(hyps, refs)[0]}
    for q in range(4):
        part = order[q * quarter:(q + 1) * quarter if q < 3 else len(order)]
        out[f"{name}:q{q + 1}"] = corpus_bleu([hyps[i] for i in part], [refs[i] for i in part])[0]
        out[f"{name}:q{q + 1}_len"] = sum(len(refs[i]) for i in part) / len(part)
    return {**out, f"{name}:short": out[f"{name}:q1"], f"{name}:long": out[f"{name}:q4"]}


def entry_numbers(entry: WeightsEntry, data_root: Optional[str]) -> tuple[dict[str, float], str]:
    """An entry's numbers for the claims and how they were had: live where no data root is needed, else the
    registry's (or live with `data_root`)."""
    if entry.data == "adding" or data_root is not None and entry.data != "small_parallel_enja":
        return {entry.name: measure(entry, data_root=data_root)["measured"]["value"]}, "live"
    if entry.data == "small_parallel_enja":
        return translator_numbers(entry.name), "live, shipped test pairs"
    read_weights(entry)  # its size, SHA-256 and header: a damaged file is refused, not vouched for
    return {entry.name: entry.value}, "recorded"


def judge(data_root: Optional[str] = None) -> list[Judged]:
    """Every claim judged on the shipped entries (those with a file in the registry; a file that is missing or
    damaged stops it with one line); each entry measured once."""
    shipped = {name: e for name, e in registry().items() if e.file}
    numbers: dict[str, float] = {}
    how: dict[str, str] = {}
    out = []
    for claim in CLAIMS:
        for name in claim.needs:
            if name in shipped and name not in numbers:
                try:
                    got, where = entry_numbers(shipped[name], data_root)
                except WeightsError as e:  # a damaged or missing file: the claim cannot stand on it
                    raise WeightsError(f"story: {e}") from None
                numbers.update(got)
                how.update({k: where for k in got})
        missing = tuple(n for n in claim.needs if n not in shipped)
        mine = {k: v for k, v in numbers.items() if k.split(":")[0] in claim.needs}
        out.append(Judged(claim, mine, how, missing))
    return out


def story_markdown(judged: list[Judged]) -> str:
    return markdown_table(["era", "claim", "rule", "ours (shipped weights)", "holds"],
                          [[j.claim.era, j.claim.claim, j.claim.rule, j.evidence, j.verdict] for j in judged])


# --- the story's figures, from the zoo alone -------------------------------------------------------------------------

ERA_IMAGES = {"cifar10": ("mlp_cifar10", "alexnet_cifar10", "resnet20_cifar10", "vit_cifar10"),
              "mnist": ("mlp_mnist", "lenet5_mnist")}  # accuracy_by_era.png, in the order of history
FIG6 = {"plain": {"plain20": "plain20_cifar10", "plain56": "plain56_cifar10"},
        "residual": {"resnet20": "resnet20_fig6", "resnet56": "resnet56_cifar10"}}
DATA_STUDY = ("vit_cifar10", "resnet20_cifar10")  # <name> on all the training images, <name>_n<N> on N of them


def _paper(entry: WeightsEntry, papers: list[dict]) -> Optional[float]:
    return next((p["value"] for p in papers if p.get("model") == entry.model and p.get("data") == entry.data
                 and p.get("metric") == entry.metric and not p.get("context")), None)


def _year(entry: WeightsEntry) -> str:
    info = model_info(entry.model)
    return str(info.year) if info else ""


def _train_images(entry: WeightsEntry) -> int:
    size = (entry.recipe.get("config") or {}).get("data", {}).get("train_size")
    return int(size) if size else DATASETS[entry.data].train_size


def story_figures(judged: list[Judged], out: Path) -> list[Path]:
    """accuracy_by_era.png, degradation.png (Fig. 6), accuracy_by_data_size.png and bleu_by_length.png, drawn from
    the shipped entries (their recorded curves and numbers, and the numbers `judge` measured); a figure whose
    entries are not shipped is left out. Returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    shipped = {name: e for name, e in registry().items() if e.file}
    numbers = {k: v for j in judged for k, v in j.numbers.items()}
    value = {name: numbers.get(name, e.value) for name, e in shipped.items()}
    written = []
    papers = load_papers()
    bars = {data: [(f"{shipped[n].model}\n{_year(shipped[n])}", value[n], 0.0,
                    _paper(shipped[n], papers)) for n in names if n in shipped]
            for data, names in ERA_IMAGES.items()}
    if any(bars.values()):
        plot_bars({d: b for d, b in bars.items() if b}, out / "accuracy_by_era.png",
                  title="Accuracy by era, the shipped models (red: the paper's number, its own schedule)")
        written.append(out / "accuracy_by_era.png")
    panels = {kind: {label: history_of(shipped[n]) for label, n in nets.items() if n in shipped}
              for kind, nets in FIG6.items()}
    if sum(len(p) for p in panels.values()) > 1 and all(h for p in panels.values() for h in p.values()):
        plot_error_curves(panels, out / "degradation.png",
                          title="Plain vs residual nets, the shipped models (He et al. 2015, Fig. 6): "
                                "training dashed, held-out solid")
        written.append(out / "degradation.png")
    sizes = {base: sorted((_train_images(e), value[n]) for n, e in shipped.items()
                          if n == base or n.startswith(base + "_n")) for base in DATA_STUDY}
    if all(len(points) > 1 for points in sizes.values()):
        plot_lines({shipped[base].model: points for base, points in sizes.items()}, out / "accuracy_by_data_size.png",
                   xlabel="training images", ylabel="test accuracy (%)", xlog=True,
                   title="Accuracy against data size, the shipped models\n(ViT's hunger for data)")
        written.append(out / "accuracy_by_data_size.png")
    lengths = {n: [(numbers[f"{n}:q{q}_len"], numbers[f"{n}:q{q}"]) for q in range(1, 5)]
               for n in shipped if f"{n}:q1" in numbers}
    if lengths:
        plot_lines({f"{shipped[n].model} ({n})": points for n, points in lengths.items()}, out / "bleu_by_length.png",
                   xlabel="reference length (words; mean of each quarter of the test sentences)",
                   ylabel="greedy BLEU", title="BLEU by sentence length, the shipped translators\n"
                                               "(cf. Bahdanau et al. 2015, Fig. 2)")
        written.append(out / "bleu_by_length.png")
    return written
