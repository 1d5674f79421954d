"""`milestones story` (milestones/story.py): the story's claims judged on the shipped models, offline, and its
figures drawn from the zoo alone (the entries' recorded curves and numbers)."""

from __future__ import annotations

import pytest

from milestones.pretrained import WeightsEntry, get_weights
from milestones.story import CLAIMS, judge, story_figures, story_markdown
from milestones.zoo import curves, history_of

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def judged():
    return judge()  # no data root: live where the package can measure, recorded else


def test_every_claim_with_its_entries_shipped_holds(judged):
    assert [j.claim for j in judged] == CLAIMS
    for j in judged:
        if not j.missing and not j.claim.note:  # a "no" only where the claim says why the data cannot show it
            assert j.verdict in ("yes", f"**no**: {j.claim.caveat}") and j.verdict != "**no**: ", (j.claim, j.numbers)
    adding = next(j for j in judged if "long lags" in j.claim.claim)
    assert adding.how["lstm_adding100"] == "live"  # generated sequences, no data root
    table = story_markdown(judged)
    assert table.strip().count("\n") == len(CLAIMS) + 1 and "not judged on a CPU" in table


def test_the_translators_are_measured_by_sentence_length(judged):
    bleu = next(j for j in judged if j.claim.claim.startswith("attention alone")).numbers
    assert bleu["transformer_enja"] == pytest.approx(get_weights("transformer_enja").value, abs=0.01)  # re-measured
    lengths = [bleu[f"transformer_enja:q{q}_len"] for q in range(1, 5)]
    assert lengths == sorted(lengths) and bleu["transformer_enja:long"] == bleu["transformer_enja:q4"]


def test_the_figures_are_drawn_from_the_zoo(judged, tmp_path):
    written = {p.name for p in story_figures(judged, tmp_path)}
    assert {"accuracy_by_era.png", "bleu_by_length.png"} <= written
    assert all((tmp_path / name).stat().st_size > 10_000 for name in written)


def test_an_entry_keeps_its_curves_with_held_out_gaps():
    history = [{"epoch": 1, "train_acc": 0.5, "lr": 0.1}, {"epoch": 2, "train_acc": 0.6, "val_acc": 0.55}]
    c = curves(history)
    assert c == {"epoch": [1, 2], "train_acc": [0.5, 0.6], "val_acc": [None, 0.55]}
    entry = WeightsEntry(name="x", model="resnet20", model_args={}, data="cifar10", metric="test_acc", value=0.0,
                         recipe={}, extra={"curves": c})
    assert history_of(entry) == [{"epoch": 1, "train_acc": 0.5}, {"epoch": 2, "train_acc": 0.6, "val_acc": 0.55}]
