"""Using a trained translator: sentences in, translations out, and the attention heat map.

    from milestones.translate import load_translator, translate
    model, meta = load_translator("runs/transformer_enja_cpu/checkpoint.pt")
    for t in translate(model, meta, ["彼は背が高い。"], beam=4):
        print(t.text)

A checkpoint carries its vocabularies (loaders.meta, saved as data_meta), so it translates on its own; the
sentence is tokenised exactly as the training text was (milestones/data/text.py: Japanese as characters, so
typing with or without spaces gives the same tokens). Decoding (greedy and beam search with the GNMT length
penalty) is milestones/decoding.py; scoring a test set with BLEU is milestones/tasks/seq2seq.py.

Input rules (each a one-line InputError for the CLI): an empty sentence, a sentence none of whose tokens the
model knows, and a sentence longer than twice the longest training source are refused, not truncated: a cut
sentence would be translated wrongly without a word of warning in the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .checkpoint import data_meta, model_from_checkpoint, model_name, read_checkpoint, saved_task
from .data.subword import Subwords
from .data.datasets import datasets_of
from .data.text import EOS, UNK, Vocab, detokenize, normalise, pad_batch, tokenize
from .errors import CheckpointError, InputError, WeightsError
from .models import create_model
from .decoding import GNMT_ALPHA, beam_search_batch, default_max_len, greedy_decode
from .pretrained import get_weights, registry
from .plots import attention_heatmap

NO_MATPLOTLIB = "--attention needs matplotlib, a dependency of milestones: pip install matplotlib"
# printed where plot_attention returns False: by `milestones translate --attention` and the notebooks
NO_CJK_FONT = "note: no CJK font installed, so Japanese labels show as boxes (e.g. apt install fonts-noto-cjk)"


@dataclass
class Translation:
    source: list[str]  # the source tokens as the model read them (unknown ones shown as <unk>)
    tokens: list[str]  # the output tokens, without <eos>
    text: str  # detokenised, for people
    attention: Optional[torch.Tensor]  # (len(tokens) + 1, len(source) + 1): rows and columns end with <eos>
    score: float  # beam search: log p(output) / lp(output), the length-normalised score; greedy: nan

    def __str__(self) -> str:
        return self.text


# --- sentences in, sentences out -----------------------------------------------------------------------------------

def encode_sentences(meta: dict, sentences: list[str]) -> list[list[int]]:
    """Source ids (+ <eos>) of each sentence, or an InputError naming the first one that cannot be translated."""
    vocab, lang = Vocab(meta["src_vocab"]), meta["src_lang"]
    limit = 2 * meta["max_src_len"]
    pieces = Subwords.from_meta(meta["src_subwords"], "the model's SentencePiece model") if meta.get(
        "src_subwords") else None
    out = []
    for n, sentence in enumerate(sentences, 1):
        tokens = pieces.tokens(normalise(sentence), lang) if pieces else tokenize(sentence, lang)
        if not tokens:
            raise InputError(f"sentence {n} is empty")
        ids = vocab.encode(tokens)
        if all(i == UNK for i in ids):
            shown = " ".join(tokens[:8]) + (" ..." if len(tokens) > 8 else "")
            raise InputError(f"sentence {n}: none of its tokens is in the model's '{lang}' vocabulary ({shown}); "
                             f"is it in the source language?")
        if len(tokens) > limit:
            raise InputError(f"sentence {n} has {len(tokens)} tokens; the longest training source had "
                             f"{meta['max_src_len']} and sentences over twice that are refused: split it")
        out.append(ids + [EOS])
    return out


def translate(model: nn.Module, meta: dict, sentences: str | list[str], *, beam: int = 1, alpha: float = GNMT_ALPHA,
              max_len: Optional[int] = None, batch_size: int = 64) -> list[Translation]:
    """Translate sentences (plain text, as a user types them) with a trained model and its checkpoint's meta; one
    string is one sentence (a list of one translation comes back).

    Sentences of similar length are decoded `batch_size` at a time, each as if alone: beam search keeps each
    sentence's own hypotheses (decoding.beam_search_batch), and a greedy output is cut at the length limit the
    sentence would have alone (decoding.default_max_len of its own source). Results come back in input order."""
    if beam < 1:
        raise InputError(f"beam must be >= 1, got {beam}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(sentences, str):  # not a sequence of one-character sentences
        sentences = [sentences]
    src_vocab, tgt_vocab = Vocab(meta["src_vocab"]), Vocab(meta["tgt_vocab"])
    device = next(model.parameters()).device
    model.eval()
    encoded = encode_sentences(meta, sentences)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))  # similar lengths together: little padding
    results: list[Optional[Translation]] = [None] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        src = pad_batch([encoded[i] for i in chunk], device)  # (B, S), right-padded
        if beam == 1:
            decoded = []
            for i, (out, att) in zip(chunk, greedy_decode(model, src, max_len)):
                out = out[:max_len or default_max_len(len(encoded[i]))]  # as alone: its own limit
                decoded.append((out, None if att is None else att[:len(out), :len(encoded[i])], float("nan")))
        else:
            decoded = beam_search_batch(model, src, beam, alpha, max_len)
        for i, (out, att, score) in zip(chunk, decoded):
            ids, tokens = encoded[i], tgt_vocab.decode(out)
            results[i] = Translation(source=[src_vocab.itos[j] for j in ids[:-1]], tokens=tokens,
                                     text=detokenize(tokens, meta["tgt_lang"]), attention=att, score=score)
    return results


# --- checkpoints and pictures --------------------------------------------------------------------------------------

def load_translator(path: str | Path, map_location: Any = "cpu") -> tuple[nn.Module, dict]:
    """The model of a translation checkpoint, in eval mode, and its data meta (vocabularies, languages)."""
    ckpt = read_checkpoint(path, map_location)
    meta, task = data_meta(ckpt), saved_task(ckpt)
    if task != "seq2seq" or "src_vocab" not in meta:
        raise CheckpointError(f"{path}: holds a '{model_name(ckpt)}' model for task '{task}', not a translation "
                              f"model (train one with a configs/*_enja_cpu.yaml or *_multi30k_cpu.yaml)")
    return model_from_checkpoint(ckpt, path), meta


def load_translator_weights(name: str) -> tuple[nn.Module, dict]:
    """The translator of zoo entry `name` (e.g. "transformer_enja"), in eval mode, and its data meta."""
    entry = get_weights(name)
    model = create_model(entry.model, weights=name)
    if "src_vocab" not in model.meta:
        translators = [e.name for e in registry().values() if e.data in datasets_of("seq2seq")]
        raise WeightsError(f"weights '{name}' are a {entry.model} for {entry.data}, not a translator (translators: "
                           f"{', '.join(translators) or 'none'})")
    return model, model.meta


def plot_attention(t: Translation, path: str | Path, title: str = "") -> bool:
    """Heat map of a translation's attention weights: source tokens across, output tokens down.

    Returns False when the labels hold non-Latin characters (Japanese) but no CJK font is installed, so that
    matplotlib draws them as boxes (a font such as fonts-noto-cjk fixes it); True otherwise."""
    if t.attention is None:
        raise InputError("this translation has no attention weights")
    # SentencePiece's word-start mark (U+2581) is left off the labels: few CJK fonts draw it, and it is not text
    cols = [s.removeprefix("\u2581") or s for s in t.source] + ["<eos>"]
    rows = (t.tokens + ["<eos>"])[:t.attention.shape[0]]  # no <eos> if never ended
    return attention_heatmap(t.attention, cols, rows, path, title=title, missing=NO_MATPLOTLIB)
