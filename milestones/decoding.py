"""Decoding a trained translator: greedy search and beam search, for every translation model alike.

Every translator (seq2seq.py, rnnsearch.py, transformer.py) offers the same decoding interface, batch first:
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
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Optional

import torch
from torch import nn

from .data.text import BOS, EOS, PAD

GNMT_ALPHA = 0.6  # Vaswani et al. 2017, Sec. 6.1


def select(obj: Any, idx: torch.Tensor) -> Any:
    """Pick rows `idx` of the batch dimension of a tensor, or of every tensor in a tuple/list (None stays)."""
    if obj is None:
        return None
    if isinstance(obj, torch.Tensor):
        return obj.index_select(0, idx.to(obj.device))
    return type(obj)(select(o, idx) for o in obj)


def default_max_len(src_len: int) -> int:
    return 2 * src_len + 10


def never_special(logits: torch.Tensor, no_eos: bool = False) -> torch.Tensor:
    """<pad> and <bos> are never an output (training never asks for them), nor <eos> where `no_eos` (as the first
    word: the source is never empty, so neither is a translation); <unk> may be."""
    banned = [PAD, BOS, EOS] if no_eos else [PAD, BOS]
    return logits.index_fill(-1, torch.tensor(banned, device=logits.device), float("-inf"))


@torch.no_grad()
def greedy_decode(model: nn.Module, src: torch.Tensor, max_len: Optional[int] = None, min_len: int = 1):
    """Batched greedy decoding: per sentence, (output ids with their <eos> if any, attention (t, S) or None).
    No <eos> before `min_len` words (1: no empty translation; >= max_len: every sentence runs to max_len, the
    longest this decoding can take, which the planner times)."""
    B = src.shape[0]
    max_len = max_len or default_max_len(src.shape[1])
    memory = model.encode(src)
    state = model.init_state(memory)
    prev = torch.full((B,), BOS, dtype=torch.long, device=src.device)
    steps, weights = [], []
    done = torch.zeros(B, dtype=torch.bool, device=src.device)
    for t in range(max_len):
        logits, state, attn = model.decode_step(prev, state, memory)
        prev = never_special(logits, no_eos=t < min_len).argmax(-1)  # (B,)
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


def beam_search(model: nn.Module, src: torch.Tensor, beam: int = 4, alpha: float = GNMT_ALPHA,
                max_len: Optional[int] = None, min_len: int = 1):
    """Beam search for one sentence src (1, S): (output ids ending in <eos> if finished, attention, score). No
    <eos> before `min_len` words, as greedy_decode."""
    return beam_search_batch(model, src, beam, alpha, max_len, min_len)[0]


@torch.no_grad()
def beam_search_batch(model: nn.Module, src: torch.Tensor, beam: int = 4, alpha: float = GNMT_ALPHA,
                      max_len: Optional[int] = None, min_len: int = 1) -> list[tuple[list[int], Any, float]]:
    """Beam search for a batch of sentences src (B, S), right-padded, each searched as if alone: per sentence
    (output ids ending in <eos> if finished, attention (t, S_i) over its own source, score). Each sentence keeps
    its own hypotheses, finished list, stopping rule and max_len (from its own length); the alive hypotheses of
    all sentences are the rows of one batch, so each step is one decoder call and one top-k for the batch.
    No <eos> before `min_len` words, as greedy_decode."""
    B, device = src.shape[0], src.device
    lengths = (src != PAD).sum(1).tolist()  # each source's own length, <eos> included
    limits = [max_len or default_max_len(n) for n in lengths]
    memory = model.encode(src)
    state = model.init_state(memory)  # row r: a hypothesis of sentence owner[r]
    owner = list(range(B))
    alive: list[list[tuple[list[int], list, float]]] = [[([], [], 0.0)] for _ in range(B)]  # (ids, rows, log p)
    finished: list[list[tuple[float, list[int], list]]] = [[] for _ in range(B)]
    scores = torch.zeros(B, device=device)  # (R,): summed log-probabilities of the rows
    prev = torch.full((B,), BOS, dtype=torch.long, device=device)
    t = 0
    while owner:
        logits, state, attn = model.decode_step(prev, state, select(memory, torch.tensor(owner)))
        logp = never_special(logits.float(), no_eos=t < min_len).log_softmax(-1)  # (R, V)
        V = logp.shape[1]
        counts = Counter(owner)  # {sentence: its rows}, in row order; each sentence's rows are contiguous
        grid = logp.new_full((len(counts) * beam, V), -math.inf)  # each sentence's rows, padded to `beam`
        slots = [i * beam + j for i, k in enumerate(counts.values()) for j in range(k)]
        grid[torch.tensor(slots, device=device)] = scores[:, None] + logp
        top_scores, top_idx = grid.view(len(counts), beam * V).topk(min(2 * beam, beam * V))  # (A, 2 beam)
        top_scores, top_idx = top_scores.tolist(), top_idx.tolist()
        step_attn = attn.cpu() if attn is not None else None  # (R, S): one copy a step
        rows, words, kept, new_owner, first = [], [], [], [], 0
        for i, (b, k) in enumerate(counts.items()):

            def attn_row(h: int) -> Optional[torch.Tensor]:  # hypothesis h's attention over sentence b's source
                return step_attn[first + h, :lengths[b]] if step_attn is not None else None

            keep: list[tuple[float, int, int]] = []  # (score, hypothesis, word)
            for rank, (s, flat) in enumerate(zip(top_scores[i][:min(2 * beam, k * V)], top_idx[i])):
                h, w = divmod(flat, V)
                if w == EOS:
                    if rank < beam:  # only an <eos> that the beam itself would keep counts as finished
                        ids, att, _ = alive[b][h]
                        finished[b].append((s / length_penalty(t + 1, alpha), ids + [w], att + [attn_row(h)]))
                elif len(keep) < beam:
                    keep.append((s, h, w))
            best_finished = max((f[0] for f in finished[b]), default=-math.inf)
            if keep and not (len(finished[b]) >= beam and keep[0][0] / length_penalty(t + 1, alpha) <= best_finished):
                alive[b] = [(alive[b][h][0] + [w], alive[b][h][1] + [attn_row(h)], s) for s, h, w in keep]
                if t + 1 < limits[b]:  # the sentence goes on: its kept hypotheses are next step's rows
                    rows += [first + h for _, h, _ in keep]
                    words += [w for _, _, w in keep]
                    kept += [s for s, _, _ in keep]
                    new_owner += [b] * len(keep)
            # else: stopped (nothing to keep, or the best alive hypothesis no longer beats a finished one)
            first += k
        if new_owner:
            state = select(state, torch.tensor(rows, device=device))
            scores = torch.tensor(kept, device=device)
            prev = torch.tensor(words, device=device)
        owner = new_owner
        t += 1
    out = []
    for b in range(B):
        # nothing ended within max_len: take the alive hypotheses as they are
        ends = finished[b] or [(s / length_penalty(len(ids), alpha), ids, att) for ids, att, s in alive[b]]
        score, ids, att_rows = max(ends, key=lambda f: f[0])
        out.append((ids, torch.stack(att_rows) if att_rows and att_rows[0] is not None else None, score))
    return out
