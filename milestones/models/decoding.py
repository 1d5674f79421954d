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
from typing import Any, Optional

import torch
from torch import nn

from ..data.text import BOS, EOS, PAD

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


@torch.no_grad()
def beam_search(model: nn.Module, src: torch.Tensor, beam: int = 4, alpha: float = GNMT_ALPHA,
                max_len: Optional[int] = None, min_len: int = 1):
    """Beam search for one sentence src (1, S): (output ids ending in <eos> if finished, attention, score). No
    <eos> before `min_len` words, as greedy_decode."""
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
        logp = never_special(logits.float(), no_eos=t < min_len).log_softmax(-1)  # (k, V)
        V = logp.shape[1]
        top_scores, top_idx = (scores[:, None] + logp).flatten().topk(min(2 * beam, k * V))
        step_attn = attn.cpu() if attn is not None else None  # (k, S): one copy a step, not one per candidate
        keep: list[tuple[float, int, int]] = []  # (score, hypothesis, word)
        for rank, (s, i) in enumerate(zip(top_scores.tolist(), top_idx.tolist())):
            b, w = divmod(i, V)
            row = step_attn[b] if step_attn is not None else None
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
        alive = [(alive[b][0] + [w], alive[b][1] + [step_attn[b] if step_attn is not None else None])
                 for _, b, w in keep]
        scores = torch.tensor([s for s, _, _ in keep], device=src.device)
        prev = torch.tensor([w for _, _, w in keep], device=src.device)
    if not finished:  # nothing ended within max_len: take the alive hypotheses as they are
        finished = [(s / length_penalty(len(ids), alpha), ids, rows) for s, (ids, rows) in zip(scores.tolist(), alive)]
    score, ids, rows = max(finished, key=lambda f: f[0])
    att = torch.stack(rows) if rows and rows[0] is not None else None
    return ids, att, score
