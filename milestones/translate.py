"""Using a trained translator: greedy and beam-search decoding, BLEU and perplexity, attention heat maps.

    from milestones.translate import load_translator, translate
    model, meta = load_translator("runs/transformer_enja_cpu/checkpoint.pt")
    for t in translate(model, meta, ["彼は背が高い。"], beam=4):
        print(t.text)

A checkpoint carries its vocabularies (loaders.meta, saved as data_meta), so it translates on its own; the
sentence is tokenised exactly as the training text was (milestones/data/text.py: Japanese as characters, so
typing with or without spaces gives the same tokens).

Every translator offers the same decoding interface, batch first throughout:
    memory = model.encode(src)                 src (B, S) ids ending in <eos>, right-padded
    state = model.init_state(memory)
    logits, state, attn = model.decode_step(prev, state, memory)   prev (B,), logits (B, V), attn (B, S) or None

Beam search keeps `beam` hypotheses ranked by log-probability; a hypothesis ending in <eos> among the top `beam`
candidates is finished. Finished hypotheses are compared by log p(Y|X) / lp(Y), with the length penalty of Wu et
al. 2016 (GNMT, arXiv:1609.08144, Eq. 14): lp(Y) = (5 + |Y|)^alpha / (5 + 1)^alpha, alpha = 0.6 as Vaswani et
al. 2017 used it (Sec. 6.1; no coverage penalty). The search stops at `max_len`, or once `beam` hypotheses have
finished and the best alive one, normalised at its current length, no longer beats the best finished one (the
usual heuristic; stopping at the first `beam` finished can end before the most probable hypothesis does). With
beam 1 this is exactly greedy decoding.

BLEU: sacrebleu's corpus BLEU with tokenize='none' on the lower-cased, tokenised text of milestones/data/text.py
(hypothesis words joined by spaces against the reference's tokens joined by spaces), i.e. "tokenised BLEU" on
the corpus's own tokenisation, the number most papers on these sets report; it is not comparable with sacreBLEU's
detokenised 13a signature on raw text. The signature is returned beside the score. Perplexity is exp of the
token-level cross-entropy (without label smoothing) that the trainer's evaluation reports as the loss.

Input rules (each a one-line InputError for the CLI): an empty sentence, a sentence none of whose tokens the
model knows, and a sentence longer than twice the longest training source are refused, not truncated: a cut
sentence would be translated wrongly without a word of warning in the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .data.text import BOS, EOS, PAD, UNK, Split, Vocab, detokenize, pad_batch, tokenize
from .errors import CheckpointError, ConfigError, InputError

GNMT_ALPHA = 0.6  # Vaswani et al. 2017, Sec. 6.1


@dataclass
class Translation:
    source: list[str]  # the source tokens as the model read them (unknown ones shown as <unk>)
    tokens: list[str]  # the output tokens, without <eos>
    text: str  # detokenised, for people
    attention: Optional[torch.Tensor]  # (len(tokens) + 1, len(source) + 1): rows and columns end with <eos>
    score: float  # beam search: log p(output) / lp(output), the length-normalised score; greedy: nan

    def __str__(self) -> str:
        return self.text


# --- decoding ------------------------------------------------------------------------------------------------------

def select(obj: Any, idx: torch.Tensor) -> Any:
    """Pick rows `idx` of the batch dimension of a tensor, or of every tensor in a tuple/list (None stays)."""
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return obj.index_select(0, idx.to(obj.device))
    return type(obj)(select(o, idx) for o in obj)


def default_max_len(src_len: int) -> int:
    return 2 * src_len + 10


def never_special(logits: torch.Tensor, first: bool = False) -> torch.Tensor:
    """<pad> and <bos> are never an output (training never asks for them), nor <eos> as the first word (the source
    is never empty, so neither is a translation); <unk> may be."""
    banned = [PAD, BOS, EOS] if first else [PAD, BOS]
    return logits.index_fill(-1, torch.tensor(banned, device=logits.device), float("-inf"))


@torch.no_grad()
def greedy_decode(model: nn.Module, src: torch.Tensor, max_len: Optional[int] = None):
    """Batched greedy decoding: per sentence, (output ids with their <eos> if any, attention (t, S) or None)."""
    B = src.shape[0]
    max_len = max_len or default_max_len(src.shape[1])
    memory = model.encode(src)
    state = model.init_state(memory)
    prev = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    steps, weights = [], []
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for t in range(max_len):
        logits, state, attn = model.decode_step(prev, state, memory)
        prev = never_special(logits, first=t == 0).argmax(-1)  # (B,)
        steps.append(prev)
        weights.append(attn)
        done |= prev == EOS
        if done.all():
            break
    ids = torch.stack(steps, dim=1).tolist()  # (B, t)
    att = torch.stack(weights, dim=1) if weights[0] is not None else None  # (B, t, S)
    out = []
    for b in range(B):
        seq = ids[b][:ids[b].index(EOS) + 1] if EOS in ids[b] else ids[b]
        out.append((seq, att[b, :len(seq)].cpu() if att is not None else None))
    return out


def length_penalty(length: int, alpha: float) -> float:
    """Wu et al. 2016, Eq. 14: ((5 + |Y|) / 6)^alpha."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(model: nn.Module, src: torch.Tensor, beam: int = 4, alpha: float = GNMT_ALPHA,
                max_len: Optional[int] = None):
    """Beam search for one sentence src (1, S): (output ids ending in <eos> if finished, attention, score)."""
    max_len = max_len or default_max_len(src.shape[1])
    memory = model.encode(src)
    state = model.init_state(memory)
    alive: list[tuple[list[int], list]] = [([], [])]  # (ids so far, attention rows so far) per hypothesis
    scores = torch.zeros(1, device=src.device)  # summed log-probabilities of the alive hypotheses
    prev = torch.full((1,), BOS, dtype=torch.long, device=src.device)
    finished: list[tuple[float, list[int], list]] = []
    for t in range(max_len):
        k = len(alive)
        memory_k = select(memory, torch.zeros(k, dtype=torch.long))  # the one source, k times
        logits, state, attn = model.decode_step(prev, state, memory_k)
        logp = never_special(logits.float(), first=t == 0).log_softmax(-1)  # (k, V)
        V = logp.shape[1]
        top_scores, top_idx = (scores[:, None] + logp).flatten().topk(min(2 * beam, k * V))
        keep: list[tuple[float, int, int]] = []  # (score, hypothesis, word)
        for rank, (s, i) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
            b, w = divmod(i, V)
            row = attn[b].cpu() if attn is not None else None
            if w == EOS:
                if rank < beam:  # only an <eos> that the beam itself would keep counts as finished
                    finished.append((s / length_penalty(t + 1, alpha), alive[b][0] + [w], alive[b][1] + [row]))
            elif len(keep) < beam:
                keep.append((s, b, w))
        if not keep:
            break
        best_finished = max((f[0] for f in finished), default=-math.inf)
        if len(finished) >= beam and keep[0][0] / length_penalty(t + 1, alpha) <= best_finished:
            break  # the best alive hypothesis, normalised at its current length, no longer beats a finished one
        idx = torch.tensor([b for _, b, _ in keep], device=src.device)
        state = select(state, idx)
        alive = [(alive[b][0] + [w], alive[b][1] + [attn[b].cpu() if attn is not None else None])
                 for _, b, w in keep]
        scores = torch.tensor([s for s, _, _ in keep], device=src.device)
        prev = torch.tensor([w for _, _, w in keep], device=src.device)
    if not finished:  # nothing ended within max_len: take the alive hypotheses as they are
        finished = [(s / length_penalty(len(ids), alpha), ids, rows) for s, (ids, rows) in zip(scores.tolist(), alive)]
    score, ids, rows = max(finished, key=lambda f: f[0])
    att = torch.stack(rows) if rows and rows[0] is not None else None
    return ids, att, score


# --- sentences in, sentences out -----------------------------------------------------------------------------------

def encode_sentences(meta: dict, sentences: list[str]) -> list[list[int]]:
    """Source ids (+ <eos>) of each sentence, or an InputError naming the first one that cannot be translated."""
    vocab, lang = Vocab(meta["src_vocab"]), meta["src_lang"]
    limit = 2 * meta["max_src_len"]
    out = []
    for n, sentence in enumerate(sentences, 1):
        tokens = tokenize(sentence, lang)
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


def translate(model: nn.Module, meta: dict, sentences: list[str], *, beam: int = 1, alpha: float = GNMT_ALPHA,
              max_len: Optional[int] = None) -> list[Translation]:
    """Translate sentences (plain text, as a user types them) with a trained model and its checkpoint's meta."""
    if beam < 1:
        raise InputError(f"beam must be >= 1, got {beam}")
    src_vocab, tgt_vocab = Vocab(meta["src_vocab"]), Vocab(meta["tgt_vocab"])
    device = next(model.parameters()).device
    model.eval()
    results = []
    for ids in encode_sentences(meta, sentences):
        src = torch.tensor([ids], device=device)  # (1, S)
        if beam == 1:
            out, att = greedy_decode(model, src, max_len)[0]
            score = float("nan")
        else:
            out, att, score = beam_search(model, src, beam, alpha, max_len)
        tokens = tgt_vocab.decode(out)
        results.append(Translation(source=[src_vocab.itos[i] for i in ids[:-1]], tokens=tokens,
                                   text=detokenize(tokens, meta["tgt_lang"]), attention=att, score=score))
    return results


# --- scores --------------------------------------------------------------------------------------------------------

def corpus_bleu(hypotheses: list[list[str]], references: list[list[str]]) -> tuple[float, str]:
    """sacrebleu corpus BLEU on already-tokenised text (tokenize='none'): (score, signature)."""
    from sacrebleu.metrics import BLEU

    bleu = BLEU(tokenize="none", force=True)  # force: the text IS tokenised, on purpose (no "detokenize" warning)
    result = bleu.corpus_score([" ".join(h) for h in hypotheses], [[" ".join(r) for r in references]])
    return result.score, str(bleu.get_signature())


@torch.no_grad()
def decode_split(model: nn.Module, split: Split, meta: dict, *, batch_size: int = 100, beam: int = 1,
                 alpha: float = GNMT_ALPHA) -> list[list[str]]:
    """Decode every source of `split`: the output tokens, in the split's order. Greedy runs batched (by length);
    beam search (beam > 1) one sentence at a time."""
    tgt_vocab = Vocab(meta["tgt_vocab"])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    hyps: list[list[str]] = [[] for _ in split.src]
    if beam > 1:
        for i, src in enumerate(split.src):
            hyps[i] = tgt_vocab.decode(beam_search(model, torch.tensor([src], device=device), beam, alpha)[0])
    else:
        order = sorted(range(len(split.src)), key=lambda i: len(split.src[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, (ids, _) in zip(chunk, greedy_decode(model, pad_batch([split.src[i] for i in chunk], device))):
                hyps[i] = tgt_vocab.decode(ids)
    model.train(was_training)
    return hyps


def bleu_by_length(hyps: list[list[str]], split: Split, buckets: int = 4) -> dict[str, dict[str, Any]]:
    """Corpus BLEU of the sentences in each source-length bucket (quantiles of the source length in tokens,
    <eos> not counted): the question of Bahdanau et al. 2015, Fig. 2 -- do long sentences collapse?"""
    lengths = [len(s) - 1 for s in split.src]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    out = {}
    for b in range(buckets):
        idx = order[b * len(order) // buckets:(b + 1) * len(order) // buckets]
        if not idx:
            continue
        lo, hi = lengths[idx[0]], lengths[idx[-1]]
        score, _ = corpus_bleu([hyps[i] for i in idx], [split.refs[i] for i in idx])
        out[f"{lo}-{hi}"] = {"min_len": lo, "max_len": hi, "sentences": len(idx), "bleu": score}
    return out


def translation_report(model: nn.Module, loaders: Any, final: dict, beam: int = 1) -> dict:
    """The extra numbers of a translation run's results.json: test BLEU (greedy), perplexity, BLEU by length, and
    with `beam` > 1 the test BLEU of beam search too (`test_bleu_beam`; length penalty alpha = GNMT_ALPHA)."""
    split = (loaders.test or loaders.eval).split
    hyps = decode_split(model, split, loaders.meta)
    bleu, signature = corpus_bleu(hyps, split.refs)
    out = {"test_bleu": bleu, "test_ppl": math.exp(min(final["loss"], 50.0)), "bleu_decoding": "greedy",
           "bleu_signature": signature, "bleu_by_length": bleu_by_length(hyps, split)}
    if beam > 1:
        out["test_bleu_beam"] = corpus_bleu(decode_split(model, split, loaders.meta, beam=beam), split.refs)[0]
        out["beam"] = {"size": beam, "alpha": GNMT_ALPHA}
    return out


# --- checkpoints and pictures --------------------------------------------------------------------------------------

def load_translator(path: str | Path, map_location: Any = "cpu") -> tuple[nn.Module, dict]:
    """The model of a translation checkpoint, in eval mode, and its data meta (vocabularies, languages)."""
    from .train import load_checkpoint, read_checkpoint

    ckpt = read_checkpoint(path, map_location)
    meta = ckpt.get("data_meta") or {}
    task = ckpt["config"].get("task", "classification") if isinstance(ckpt["config"], dict) else None
    if task != "seq2seq" or "src_vocab" not in meta:
        raise CheckpointError(f"{path}: holds a '{ckpt.get('model_name')}' model for task '{task}', not a "
                              f"translation model (train one with a configs/*_enja_cpu.yaml or *_multi30k_cpu.yaml)")
    return load_checkpoint(path, map_location), meta


def plot_attention(t: Translation, path: str | Path, title: str = "") -> bool:
    """Heat map of the attention weights: source tokens across, output tokens down.

    Returns False when the labels hold non-Latin characters (Japanese) but no CJK font is installed, so that
    matplotlib draws them as boxes (a font such as fonts-noto-cjk fixes it); True otherwise."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib import font_manager
    except ImportError:
        raise ConfigError("--attention needs matplotlib, an optional extra: pip install 'milestones[plot]'") from None
    import warnings

    if t.attention is None:
        raise InputError("this translation has no attention weights")
    # A font with Japanese glyphs where one is installed; otherwise the labels show boxes (and no warning spam).
    cjk = [f.name for f in font_manager.fontManager.ttflist
           if any(k in f.name for k in ("CJK", "IPA", "Gothic", "Mincho", "Hiragino", "Noto Sans JP"))]
    cols, rows = t.source + ["<eos>"], (t.tokens + ["<eos>"])[:t.attention.shape[0]]  # no <eos> if never ended
    fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(cols) + 2), max(3, 0.35 * len(rows) + 1.5)))
    ax.imshow(t.attention[:len(rows), :len(cols)].float().numpy(), cmap="viridis", aspect="auto", vmin=0.0)
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
