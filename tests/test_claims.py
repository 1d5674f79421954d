"""The story's claims (milestones/claims.py): each rule reads the runs it names and says plainly when the numbers
do not bear a claim out. Built from synthetic run records (config, results, history), no training."""

from __future__ import annotations

from pathlib import Path

from milestones.claims import check_claims, claims_markdown
from milestones.config import config_from_dict
from milestones.runs import Entry, Run
from milestones.tasks import task_of_data


def entry(model: str, data: str, value: float, *, train_size=None, val_size=0, seq_len=100, results=None,
          history=None, seeds: int = 1, epochs: int = 20) -> Entry:
    cfg = config_from_dict({"model": {"name": model}, "task": task_of_data(data), "trainer": {"epochs": epochs},
                            "data": {"name": data, "train_size": train_size, "val_size": val_size, "seq_len": seq_len}})
    key = {"classification": "test_acc", "regression": "test_acc", "seq2seq": "test_bleu"}[cfg.task]
    scale = 1.0 if cfg.task == "seq2seq" else 100.0
    runs = [Run(Path("."), cfg, {key: value / scale, **(results or {})}, history or [{"train_acc": 0.9}])
            for _ in range(seeds)]
    return Entry(runs, values=[value] * seeds)


def by_era(verdicts):
    return {(v.era, v.claim.split(" (")[0]): v for v in verdicts}


def test_each_claim_holds_or_fails_by_its_rule():
    bleu = lambda short, long: {"bleu_by_length": {"a": {"max_len": 7, "bleu": short}, "b": {"max_len": 30, "bleu": long}}}
    entries = [
        entry("mlp", "mnist", 98.3), entry("mlp", "cifar10", 55.0), entry("alexnet", "cifar10", 79.0),
        entry("plain20", "cifar10", 90.0, history=[{"train_acc": 0.97}], val_size=5000),
        entry("plain56", "cifar10", 88.0, history=[{"train_acc": 0.94}], val_size=5000),
        entry("resnet20", "cifar10", 91.0, val_size=5000), entry("resnet56", "cifar10", 92.5, val_size=5000),
        entry("resnet20", "cifar10", 70.0, train_size=4500, val_size=5000),  # the data study's smaller runs
        entry("vit_tiny", "cifar10", 50.0, train_size=4500, val_size=5000),
        entry("vit_tiny", "cifar10", 85.0, val_size=5000),
        entry("lstm", "adding", 99.0), entry("rnn", "adding", 3.0),
        entry("seq2seq", "multi30k", 15.0, results={"test_loss": 2.4, "test_loss_shuffled_source": 4.9,
                                                   **bleu(18.0, 12.0)}),
        entry("rnnsearch", "multi30k", 33.0, results={**bleu(34.0, 31.0), "hardware": "cpu x2"}),
        entry("transformer", "multi30k", 35.0, results={"hardware": "cpu x2"},
              history=[{"train_acc": 0.5, "samples_per_s": 9000.0}]),
    ]
    entries[-2].runs[0].history = [{"samples_per_s": 1600.0}]
    verdicts, unchecked = check_claims(entries)
    assert not unchecked and all(v.holds for v in verdicts), [v for v in verdicts if not v.holds]
    v = by_era(verdicts)
    assert v[("ResNet 2015", "plain nets get worse with depth")].evidence.startswith("plain-20 3.00%, plain-56 6.00%")
    assert "4,500 images: +20.00" in v[("ViT 2020", "ViT is hungrier for data than a ResNet")].evidence
    assert "R20 9.00%, R56 7.50%" in v[("ResNet 2015", "residual nets keep improving with depth")].evidence

    # the same claims, with numbers that do not bear them out: each is reported as not holding
    entries[4] = entry("plain56", "cifar10", 88.0, history=[{"train_acc": 0.99}], val_size=5000)
    entries[6] = entry("resnet56", "cifar10", 90.0, val_size=5000)
    entries[11] = entry("rnn", "adding", 95.0)
    failing, _ = check_claims(entries)
    f = by_era(failing)
    assert not f[("ResNet 2015", "plain nets get worse with depth")].holds
    assert not f[("ResNet 2015", "residual nets keep improving with depth")].holds
    assert not f[("RNN 1997", "gates carry information over long lags")].holds
    assert "| **no** |" in claims_markdown(entries)


def test_claims_without_their_runs_are_named_not_guessed():
    verdicts, unchecked = check_claims([entry("mlp", "mnist", 98.0), entry("transformer", "multi30k", 35.0)])
    assert [v.claim for v in verdicts] == ["pixels in, fully connected, is fine on simple images (MNIST ~98%)"]
    assert "Transformer vs RNNsearch, BLEU" in unchecked and "ResNets with depth (CIFAR-10)" in unchecked
    assert "Not checked (their runs are not here):" in claims_markdown([entry("mlp", "mnist", 98.0)])


def test_runs_below_a_rules_floor_are_too_short_to_judge():
    """The tour's few-second runs: an MLP after 1 epoch, translators at BLEU 0.15 and 0.43, are no evidence either
    way; the claim says so instead of a yes or no on noise."""
    bleu = lambda short, long: {"bleu_by_length": {"a": {"max_len": 7, "bleu": short}, "b": {"max_len": 30, "bleu": long}}}
    entries = [entry("mlp", "mnist", 92.9, epochs=1),
               entry("seq2seq", "small_parallel_enja", 0.15, results={"test_loss": 5.0, "test_loss_shuffled_source": 5.0,
                                                                     **bleu(0.2, 0.1)}),
               entry("rnnsearch", "small_parallel_enja", 0.43, results=bleu(0.5, 0.45)),
               entry("transformer", "small_parallel_enja", 0.3)]
    verdicts, _ = check_claims(entries)
    assert len(verdicts) == 4 and all(v.holds is None for v in verdicts), verdicts
    text = claims_markdown(entries)
    assert "too short to judge (1 epochs, under the 10 the rule needs)" in text
    assert "too short to judge (BLEU 0.43 / 0.15, under 5)" in text and "**no**" not in text
