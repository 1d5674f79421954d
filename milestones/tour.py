"""`milestones tour`: every era trained briefly, in the order of history, then the eras side by side.

    milestones tour                          offline, no data folder: the samples shipped in the package
    milestones tour --data ../shared/data --minutes 30     the same tour on the full data sets

With no data folder the tour trains on the samples in milestones/data/samples/ (5,000 MNIST digits, 5,000
Japanese-English sentence pairs; origin and license in its SOURCE.md) for a fixed number of epochs per era, sized
to finish in under 5 minutes on 2 CPU cores. With `--data`, the image eras after the MLP move to CIFAR-10 photos,
the translators to all 50,000 pairs, and each era trains for its share of `--minutes` (epochs from a measured
speed). Each era prints one line of its story, the number it reached here in its seconds, and beside it the number
of the era's shipped weights (`milestones zoo`: trained for minutes, on the full data) - "watch it learn" and "what
it reaches". Each stop's recipe is an ordinary config, milestones/configs/tour/*.yaml. At the end come the
comparison table (leaderboard.md, .csv), the plots (milestones/leaderboard.py, milestones/plots.py) in the output
folder, the running example translated by the shipped Transformer, and the story's claims judged on the shipped
models (`milestones story`, written to story.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from .checkpoint import CHECKPOINT
from .claims import write_claims
from .config import Config
from .configfile import CONFIG_DIR, load_config, with_overrides
from .leaderboard import write_leaderboard
from .models import MODELS
from .plots import write_plots
from .pretrained import WeightsEntry, registry
from .runs import Entry, group, load_run
from .story import judge, story_markdown
from .tasks import TASKS
from .timing import epochs_for_budget
from .train import fit
from .translate import load_translator, load_translator_weights, translate

SAMPLES = Path(__file__).parent / "data" / "samples"
EXAMPLE = "彼は背が高い。"  # the running example: "he is tall ."
SHIPPED_TRANSLATOR = "transformer_enja"


TOUR_CONFIGS = CONFIG_DIR / "tour"  # each stop's recipe, an ordinary config (configs/tour/*.yaml)


@dataclass
class Stop:
    """One stop of the tour: its recipe (a config under configs/tour/) and the sentence that says why it mattered
    (its era and year are the model's own, from milestones.models.MODELS)."""

    story: str
    config: str  # configs/tour/<config>.yaml (the data root, epochs and run folder are filled in)
    epochs: int  # in the offline tour (0: not in it)
    share: float  # of --minutes, with --data (0: not in that tour)
    full_data: Optional[str] = None  # the config with --data, where it differs (photos instead of digits)
    overrides: tuple[str, ...] = ()  # `--set`-style changes to either (tests and the behaviour snapshot use them)


STOPS = [
    Stop("The multilayer perceptron, trained by backpropagation (Rumelhart, Hinton & Williams): every "
         "pixel wired to every unit. Simple images are easy", "mlp_mnist", 10, 0.05),
    Stop("...but photos are not: the same MLP on CIFAR-10", "mlp_cifar10", 0, 0.10),
    Stop("LeNet-5 (LeCun et al.): small local filters shared across the image, the design AlexNet "
         "scaled up in 2012", "lenet5_mnist", 8, 0.0),
    Stop("AlexNet (Krizhevsky, Sutskever & Hinton), scaled to 32x32 photos: local filters beat "
         "the MLP on real images", "alexnet_cifar10", 0, 0.15),
    Stop("ResNet-20 (He et al.): identity shortcuts let deep nets train", "resnet20_mnist", 3, 0.20,
         full_data="resnet20_cifar10"),
    Stop("The Vision Transformer (Dosovitskiy et al.): 4x4 patches as words, attention only; "
         "hungry for data, so expect it behind the convnets on a small set", "vit_mnist", 5, 0.15,
         full_data="vit_tiny_cifar10"),
    Stop("A plain tanh RNN on the adding problem (T=50): it must carry two marked numbers across "
         "the sequence, and its gradient fades", "rnn_adding", 8, 0.025),
    Stop("The LSTM (Hochreiter & Schmidhuber): gated memory cells keep the numbers; solved = "
         "absolute error < 0.04", "lstm_adding", 8, 0.025),
    Stop("Sequence to sequence (Sutskever, Vinyals & Le): an LSTM reads the Japanese, one vector "
         "carries it to the English decoder", "seq2seq_enja", 5, 0.1),
    Stop("RNNsearch (Bahdanau, Cho & Bengio): the decoder looks back at every source "
         "position", "rnnsearch_enja", 4, 0.1),
    Stop("The Transformer (Vaswani et al.): attention only, every position at once", "transformer_enja", 7, 0.1),
]


def stop_config(stop: Stop, index: int, *, data_root: Optional[str], out: Path, epochs: int, seed: int = 0,
                progress: bool = True) -> Config:
    """The stop's config for this tour: on the samples shipped in the package, or on `data_root`'s data sets."""
    name = stop.full_data if data_root and stop.full_data else stop.config
    cfg = load_config(TOUR_CONFIGS / f"{name}.yaml", [*stop.overrides, f"trainer.epochs={epochs}",
                                                      f"trainer.progress={str(progress).lower()}", f"seed={seed}"])
    data = {"root": data_root or str(SAMPLES), "download": False}  # a path, set as it is (not parsed as YAML)
    if not data_root and cfg.data.name == "mnist":
        data["val_size"] = 0
    return with_overrides(cfg, name=f"{index:02d}_{cfg.model.name}_{cfg.data.name}", output_dir=str(out), data=data)


def tour(*, data_root: Optional[str] = None, minutes: Optional[float] = None, output_dir: str = "runs/tour",
         seed: int = 0, progress: bool = True) -> Path:
    """Run the tour; return the leaderboard's path."""
    out = Path(output_dir)
    start = time.perf_counter()
    sample = data_root is None
    stops = [s for s in STOPS if (s.epochs if sample else s.share) > 0]
    if minutes is not None and sample:
        total = sum(s.epochs for s in stops)
        shares = {id(s): s.epochs / total for s in stops}
    else:
        shares = {id(s): s.share / sum(x.share for x in stops) for s in stops}
    where = "the samples shipped in the package" if sample else data_root
    tqdm.write(f"milestones tour: {len(stops)} stops, on {where}" +
               (f", {minutes:g} minutes of training" if minutes else "") + f"; runs in {out}/\n")
    runs, seen = [], set()
    for i, stop in enumerate(stops, 1):
        where_to = dict(data_root=data_root, out=out, seed=seed, progress=progress)
        cfg = stop_config(stop, i, epochs=max(stop.epochs, 1), **where_to)
        if minutes is not None or not sample:
            epochs, _ = epochs_for_budget(cfg, (minutes or 30.0) * shares[id(stop)])
            cfg = stop_config(stop, i, epochs=epochs, **where_to)
        model = MODELS[cfg.model.name]
        tqdm.write(f"[{i}/{len(stops)}] {model.year} · {model.era} · {cfg.model.name} on {cfg.data.name}: "
                   f"{stop.story}.")
        results = fit(cfg, overwrite=True, command="milestones tour")
        run = load_run(cfg.run_dir)
        rate = Entry([run]).rate()
        headline = TASKS[cfg.task].headline
        tqdm.write(f"      -> {headline.summary(results)}  ({cfg.trainer.epochs} epochs, "
                   f"{results['train_seconds']:.0f} s, {rate:,.0f} {headline.rate_unit})")
        shipped = shipped_weights(cfg.model.name, cfg.data.name)
        if shipped is not None and shipped.name not in seen:
            tqdm.write(f"      -> shipped weights: {describe(shipped)}")
            seen.add(shipped.name)
        tqdm.write("")
        runs.append(run)

    entries = group(runs)
    table = write_leaderboard(entries, out, title="milestones tour")
    plots = [write_claims(entries, out), *write_plots(entries, out)]
    example = _translate_example(out, entries)
    minutes_taken = (time.perf_counter() - start) / 60
    lines = [f"{'year':<6}{'era':<20}{'model':<13}{'data':<22}{'here':>16}  {'shipped weights':<32}paper"]
    for e in entries:
        mean = e.mean_std()[0]
        paper = f"{e.paper['value']:g}" if e.paper and e.paper.get("value") is not None else "-"
        w = shipped_weights(e.model, e.data)
        zoo = f"{w.value:.2f} on {w.data}" if w is not None else "-"
        lines.append(f"{e.year:<6}{e.era:<20}{e.model:<13}{e.data:<22}{mean:>11.2f} {e.task.headline.unit:<4}  "
                     f"{zoo:<32}{paper}")
    tqdm.write("\n".join(lines))
    if example:
        tqdm.write(f"\n{EXAMPLE} -> {example}   (the Transformer trained above)")
    shipped = shipped_weights("transformer")
    if shipped is not None and shipped.name == SHIPPED_TRANSLATOR:
        model, meta = load_translator_weights(shipped.name)
        tqdm.write(f"{EXAMPLE} -> {translate(model, meta, [EXAMPLE])[0].text}   (the shipped Transformer, "
                   f"{describe(shipped)}; reference: he is tall .)")
    judged = judge()  # the story's claims on the shipped models: the tour's seconds-long runs cannot bear them
    (out / "story.md").write_text(story_markdown(judged) + "\n", encoding="utf-8")
    tqdm.write("\nThe story, judged on the shipped models (`milestones story`; claims.md judges the runs above):\n"
               + "\n".join(f"  {j.claim.era:<19}{j.claim.claim:<78.78} {j.verdict.split(':')[0]}" for j in judged))
    tqdm.write(f"\ntour done in {minutes_taken:.1f} min: {table}" + "".join(f", {p.name}" for p in plots)
               + ", story.md")
    return table


def shipped_weights(model: str, data: Optional[str] = None) -> Optional[WeightsEntry]:
    """The model's shipped entry (its file present): the one trained on `data` (the MLP on photos is not the MLP on
    digits), else the model's DEFAULT, if any."""
    own = [e for e in registry().values() if e.model == model and e.shipped]
    same_data = [e for e in own if e.data == data]
    return next((e for e in same_data if e.default), same_data[0] if same_data else
                next((e for e in own if e.default), own[0] if own else None))


def describe(e: WeightsEntry) -> str:
    """`resnet20_cifar10: 86.71% on cifar10 test (27 epochs, 24.0 min on 2 CPU cores)` and the like."""
    unit = "%" if e.metric == "test_acc" else " BLEU"
    r = e.recipe
    made = (f"{r['epochs']} epochs, {r['train_minutes']} min on {r.get('hardware') or '?'}" if "epochs" in r
            else str(r.get("source", "")).split(",")[0])
    return f"{e.name}: {e.value:.2f}{unit} on the {e.data} test set ({made})"


def _translate_example(out: Path, entries: list[Entry]) -> Optional[str]:
    for e in entries:
        if e.model == "transformer":
            model, meta = load_translator(e.first.path / CHECKPOINT)
            return translate(model, meta, [EXAMPLE])[0].text
    return None
