"""`milestones story`: the story's claims judged on the shipped models, offline (milestones/story.py)."""

from __future__ import annotations

import pytest

from milestones.pretrained import get_weights
from milestones.story import CLAIMS, judge, story_markdown
from milestones.zoo import entry_task

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_story_is_judged_on_the_shipped_models_offline(monkeypatch):
    monkeypatch.delenv("MILESTONES_DATA", raising=False)  # no data root: what needs one is read from the registry
    judged = {j.claim.claim: j for j in judge()}
    assert len(judged) == len(CLAIMS)
    lags = judged["gates carry information over long lags (adding problem, T=100)"]
    assert lags.verdict == "yes" and lags.how["lstm_adding100"] == "live"
    assert lags.numbers["lstm_adding100"] > 90 and lags.numbers["rnn_adding100"] < 30
    bleu = judged["attention alone gives better BLEU (ja->en)"]  # the shipped test pairs are the whole test split
    entry = get_weights("transformer_enja")
    assert abs(bleu.numbers["transformer_enja"] - entry.value) <= entry_task(entry).headline.check_tolerance
    for j in judged.values():  # every claim says yes, no, what is missing, or why it is not judged here
        assert j.verdict in ("yes", "**no**") or j.verdict.startswith(("not shipped yet: `", "not judged on a CPU"))
        assert all(name in j.claim.needs for name in j.missing)
    assert "| RNN 1997 | gates carry information" in story_markdown(list(judged.values()))
