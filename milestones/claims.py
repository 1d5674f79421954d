"""The story's claims, each checked against the gathered runs: `claims.md` beside the leaderboard.

    verdicts = check_claims(entries)      one Verdict per claim whose runs are there
    write_claims(entries, out)            claims.md: the claim, our numbers, the rule, holds or not

Each claim of the README's table is a rule over the leaderboard's entries (means over seeds); it says what it
compares, the numbers it compared and whether they bear the claim out. A claim whose runs are missing is listed
as not checked, never guessed. Runs are compared only with runs on the same data set (and, for throughput, on the
same hardware); where a model has runs on several training-set sizes, the largest stands for it, except in the
data-size claim, which reads them all. The rules are written to be falsifiable at any scale: a quick CPU suite may
well show a claim not holding, and that is reported as it is. But a verdict needs models that have learnt
something: below a rule's floor of competence (translators under 5 BLEU, image models under twice chance, CIFAR
nets under 50%, an MLP trained for fewer than 10 epochs) the claim is "too short to judge", never yes or no on noise.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Callable, Optional

from .leaderboard import markdown_table
from .runs import Entry, cifar_nets


@dataclasses.dataclass
class Verdict:
    era: str
    claim: str
    rule: str  # what is compared, as a sentence
    evidence: str  # our numbers
    holds: Optional[bool]  # None: too short to judge (see `short`)
    short: str = ""  # why the runs are below the rule's floor of competence


MIN_BLEU = 5.0  # a translator below this has not learnt to translate: no verdict on what it does with length
MIN_ACC_10_CLASSES = 20.0  # twice chance on 10 classes
MIN_CIFAR_NET_ACC = 50.0  # Fig. 6's nets must have learnt before their depth is compared
MIN_MLP_EPOCHS = 10  # the MLP-on-digits level needs a real schedule (the CPU recipe: 20 epochs; the paper: far more)


def _floor(v: Verdict, ok: bool, why: str) -> Verdict:
    """`v` as it is if the runs pass the rule's floor of competence, else "too short to judge" with `why`."""
    return v if ok else dataclasses.replace(v, holds=None, short=why)


def _by_model(entries: list[Entry], task: str) -> dict[tuple[str, str], Entry]:
    """{(model, data set): the entry on the largest training set} for one task."""
    out: dict[tuple[str, str], Entry] = {}
    for e in entries:
        if e.task.name == task and e.values:
            key = (e.model, e.first.config.data.name)
            if key not in out or e.train_examples > out[key].train_examples:
                out[key] = e
    return out


def _family(e: Entry) -> str:
    return e.info.family if e.info else ""


def _mean(e: Entry) -> float:
    return e.mean_std()[0]


def _pairs(entries: list[Entry], task: str, a: str, b: str) -> list[tuple[str, Entry, Entry]]:
    """(data set, entry of model a, entry of model b) for every data set both were run on."""
    best = _by_model(entries, task)
    return [(data, best[(a, data)], best[(b, data)]) for (model, data) in best
            if model == a and (b, data) in best]


def mlp_on_digits(entries: list[Entry]) -> list[Verdict]:
    e = _by_model(entries, "classification").get(("mlp", "mnist"))
    if e is None:
        return []
    epochs = e.first.config.trainer.epochs
    return [_floor(Verdict("MLP", "pixels in, fully connected, is fine on simple images (MNIST ~98%)",
                           "MLP test accuracy on MNIST >= 97%", f"{_mean(e):.2f}% after {epochs} epochs",
                           _mean(e) >= 97.0),
                   epochs >= MIN_MLP_EPOCHS, f"{epochs} epochs, under the {MIN_MLP_EPOCHS} the rule needs")]


def cnn_beats_mlp_on_photos(entries: list[Entry]) -> list[Verdict]:
    return [_floor(Verdict("CNN 2012", f"local filters jump over the MLP on real photos ({data})",
                           "AlexNet's test accuracy minus the MLP's > 0",
                           f"AlexNet {_mean(cnn):.2f}% vs MLP {_mean(mlp):.2f}% ({_mean(cnn) - _mean(mlp):+.2f} points)",
                           _mean(cnn) > _mean(mlp)),
                   min(_mean(cnn), _mean(mlp)) >= MIN_ACC_10_CLASSES,
                   f"a model under {MIN_ACC_10_CLASSES:.0f}% (twice chance)")
            for data, cnn, mlp in _pairs(entries, "classification", "alexnet", "mlp") if data == "cifar10"]


def _depths(entries: list[Entry], residual: bool) -> dict[int, Entry]:
    """{depth: entry} of the CIFAR nets, residual or plain, that have results (runs.cifar_nets)."""
    return cifar_nets([e for e in entries if e.values], residual)


def _final_train_error(e: Entry) -> float:
    errors = [100 * (1 - r.history[-1]["train_acc"]) for r in e.runs if r.history and "train_acc" in r.history[-1]]
    return sum(errors) / len(errors) if errors else math.nan


def plain_nets_degrade(entries: list[Entry]) -> list[Verdict]:
    nets = _depths(entries, residual=False)
    if len(nets) < 2:
        return []
    lo, hi = min(nets), max(nets)
    a, b = _final_train_error(nets[lo]), _final_train_error(nets[hi])
    return [_floor(Verdict("ResNet 2015", "plain nets get worse with depth (He et al. Fig. 6, left: training error)",
                           f"plain-{hi}'s final training error > plain-{lo}'s",
                           f"plain-{lo} {a:.2f}%, plain-{hi} {b:.2f}% training error "
                           f"(test: {100 - _mean(nets[lo]):.2f}%, {100 - _mean(nets[hi]):.2f}%)", b > a),
                   _mean(nets[lo]) >= MIN_CIFAR_NET_ACC, f"plain-{lo} under {MIN_CIFAR_NET_ACC:.0f}% test accuracy")]


def residual_nets_improve(entries: list[Entry]) -> list[Verdict]:
    nets = _depths(entries, residual=True)
    if len(nets) < 2:
        return []
    errors = {d: 100 - _mean(e) for d, e in sorted(nets.items())}
    shown = ", ".join(f"R{d} {err:.2f}%" for d, err in errors.items())
    lo, hi = min(errors), max(errors)
    return [_floor(Verdict("ResNet 2015", "residual nets keep improving with depth (Table 6: R20 8.75%, R56 6.97%, "
                           "R110 6.43% error)", f"ResNet-{hi}'s test error < ResNet-{lo}'s", shown,
                           errors[hi] < errors[lo]),
                   min(_mean(e) for e in nets.values()) >= MIN_CIFAR_NET_ACC,
                   f"a ResNet under {MIN_CIFAR_NET_ACC:.0f}% test accuracy")]


def vit_hungry_for_data(entries: list[Entry]) -> list[Verdict]:
    out = []
    for data in sorted({e.first.config.data.name for e in entries if _family(e) == "vit"}):
        by_size = {}
        for e in entries:
            if e.task.name == "classification" and e.values and e.first.config.data.name == data:
                by_size.setdefault(e.train_examples, {})[e.model] = e
        gaps, floors = {}, []
        for size, models in sorted(by_size.items()):
            vit = next((m for m, e in models.items() if _family(e) == "vit"), None)
            res = next((m for m, e in models.items() if _family(e) == "cifar_resnet" and e.residual), None)
            if vit and res:
                gaps[size] = _mean(models[res]) - _mean(models[vit])
                floors += [_mean(models[res]), _mean(models[vit])]
        if len(gaps) >= 2:
            lo, hi = min(gaps), max(gaps)
            shown = ", ".join(f"{size:,.0f} images: {gap:+.2f}" for size, gap in gaps.items())
            out.append(_floor(Verdict("ViT 2020", f"ViT is hungrier for data than a ResNet ({data})",
                                      "the ResNet-minus-ViT accuracy gap on the most data < the gap on the least",
                                      f"ResNet - ViT (points) by training images: {shown}", gaps[hi] < gaps[lo]),
                              min(floors) >= MIN_ACC_10_CLASSES, f"a model under {MIN_ACC_10_CLASSES:.0f}% (twice chance)"))
    return out


def lstm_bridges_long_lags(entries: list[Entry]) -> list[Verdict]:
    out = []
    for e_lstm in (e for e in entries if e.task.name == "regression" and e.model == "lstm" and e.values):
        t = e_lstm.first.config.data.seq_len
        rnn = next((e for e in entries if e.task.name == "regression" and e.model == "rnn" and e.values
                    and e.first.config.data.seq_len == t), None)
        if rnn is not None:
            out.append(Verdict("RNN 1997", f"gates carry information over long lags (adding problem, T={t})",
                               "LSTM's share of test sequences solved exceeds the tanh RNN's by >= 20 points",
                               f"LSTM {_mean(e_lstm):.2f}%, RNN {_mean(rnn):.2f}% solved",
                               _mean(e_lstm) - _mean(rnn) >= 20))
    return out


def one_vector_carries_a_sentence(entries: list[Entry]) -> list[Verdict]:
    out = []
    for (model, data), e in _by_model(entries, "seq2seq").items():
        r = e.first.results
        if model == "seq2seq" and r.get("test_loss_shuffled_source") is not None and r.get("test_loss") is not None:
            gap = r["test_loss_shuffled_source"] - r["test_loss"]
            out.append(_floor(Verdict("RNN 1997", f"one vector can carry a sentence (seq2seq, {data})",
                                      "the test loss rises by > 0.5 nats/token when each sentence gets another's "
                                      "source", f"{r['test_loss']:.2f} -> {r['test_loss_shuffled_source']:.2f} "
                                      f"nats/token ({gap:+.2f}); BLEU {_mean(e):.2f}", gap > 0.5),
                              _mean(e) >= MIN_BLEU, f"BLEU {_mean(e):.2f}, under {MIN_BLEU:.0f}"))
    return out


def _length_drop(e: Entry) -> Optional[float]:
    """Relative BLEU lost from the shortest to the longest length bucket (0.25: a quarter lost)."""
    buckets = sorted(e.first.results.get("bleu_by_length", {}).values(), key=lambda b: b["max_len"])
    if len(buckets) < 2 or buckets[0]["bleu"] <= 0:
        return None
    return 1 - buckets[-1]["bleu"] / buckets[0]["bleu"]


def attention_keeps_long_sentences(entries: list[Entry]) -> list[Verdict]:
    out = []
    for data, att, s2s in _pairs(entries, "seq2seq", "rnnsearch", "seq2seq"):
        a, s = _length_drop(att), _length_drop(s2s)
        if a is not None and s is not None:
            out.append(_floor(Verdict("RNN+attention 2015", f"attention keeps long sentences from collapsing ({data})",
                                      "RNNsearch loses a smaller share of its BLEU from the shortest to the longest "
                                      "sentences than the seq2seq",
                                      f"RNNsearch loses {100 * a:.0f}%, seq2seq {100 * s:.0f}%", a < s),
                              min(_mean(att), _mean(s2s)) >= MIN_BLEU,
                              f"BLEU {_mean(att):.2f} / {_mean(s2s):.2f}, under {MIN_BLEU:.0f}"))
    return out


def transformer_translates_better(entries: list[Entry]) -> list[Verdict]:
    return [_floor(Verdict("Transformer 2017", f"attention alone gives better BLEU ({data})",
                           "the Transformer's test BLEU > RNNsearch's",
                           f"Transformer {_mean(t):.2f}, RNNsearch {_mean(r):.2f} BLEU", _mean(t) > _mean(r)),
                   min(_mean(t), _mean(r)) >= MIN_BLEU, f"a translator under {MIN_BLEU:.0f} BLEU")
            for data, t, r in _pairs(entries, "seq2seq", "transformer", "rnnsearch")]


def transformer_is_faster(entries: list[Entry]) -> list[Verdict]:
    out = []
    for data, t, r in _pairs(entries, "seq2seq", "transformer", "rnnsearch"):
        hw_t, hw_r = t.first.results.get("hardware"), r.first.results.get("hardware")
        if hw_t and hw_t == hw_r:
            out.append(Verdict("Transformer 2017", f"faster per token where hardware is parallel ({data}, {hw_t})",
                               "the Transformer's training target tokens/s > RNNsearch's on the same hardware",
                               f"Transformer {t.rate():,.0f}, RNNsearch {r.rate():,.0f} target tokens/s",
                               t.rate() > r.rate()))
    return out


CLAIMS: list[tuple[str, Callable[[list[Entry]], list[Verdict]]]] = [
    ("MLP on MNIST", mlp_on_digits),
    ("AlexNet vs MLP on CIFAR-10", cnn_beats_mlp_on_photos),
    ("plain nets with depth (CIFAR-10)", plain_nets_degrade),
    ("ResNets with depth (CIFAR-10)", residual_nets_improve),
    ("ViT vs ResNet by data size", vit_hungry_for_data),
    ("LSTM vs RNN on the adding problem", lstm_bridges_long_lags),
    ("seq2seq reads its source", one_vector_carries_a_sentence),
    ("RNNsearch vs seq2seq by sentence length", attention_keeps_long_sentences),
    ("Transformer vs RNNsearch, BLEU", transformer_translates_better),
    ("Transformer vs RNNsearch, speed", transformer_is_faster),
]


def check_claims(entries: list[Entry]) -> tuple[list[Verdict], list[str]]:
    """The verdicts whose runs are there, and the names of the claims that could not be checked."""
    verdicts, unchecked = [], []
    for name, rule in CLAIMS:
        found = rule(entries)
        verdicts += found
        if not found:
            unchecked.append(name)
    return verdicts, unchecked


def _verdict(v: Verdict) -> str:
    return f"too short to judge ({v.short})" if v.holds is None else "yes" if v.holds else "**no**"


def claims_markdown(entries: list[Entry]) -> str:
    verdicts, unchecked = check_claims(entries)
    lines = ["# The story's claims, checked against these runs", "",
             "Each row compares our runs (means over seeds; each model on its largest training set) by the rule "
             "given; the leaderboard beside this file has every number, its schedule and hardware. Short "
             "schedules can make a claim fail here that holds at the papers' length: the verdict is what these "
             "runs show.", ""]
    if verdicts:
        lines.append(markdown_table(["era", "claim", "rule", "ours", "holds"],
                                    [[v.era, v.claim, v.rule, v.evidence, _verdict(v)] for v in verdicts]))
    if unchecked:
        lines += ["Not checked (their runs are not here): " + "; ".join(unchecked) + "."]
    return "\n".join(lines) + "\n"


def write_claims(entries: list[Entry], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "claims.md"
    path.write_text(claims_markdown(entries), encoding="utf-8")
    return path
