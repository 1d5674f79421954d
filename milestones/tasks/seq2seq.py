"""Translation (small_parallel_enja ja->en, Multi30k de->en): teacher-forced cross-entropy, then BLEU.

Training: predict tgt[1:] from tgt[:-1], loss and accuracy over real target tokens only (milestones/data/text.py
builds the batches and the vocabularies, which every checkpoint carries in its data meta).

Final numbers (`translation_report`, in results.json): test BLEU of greedy decoding, perplexity, BLEU by source
length, and with `trainer.beam` > 1 the BLEU of beam search too (milestones/decoding.py). BLEU: sacrebleu's
corpus BLEU with tokenize='none' on the lower-cased, tokenised text of milestones/data/text.py (hypothesis words
joined by spaces against the reference's tokens joined by spaces), i.e. "tokenised BLEU" on the corpus's own
tokenisation, the number most papers on these sets report; it is not comparable with sacreBLEU's detokenised 13a
signature on raw text. The signature is returned beside the score. Perplexity is exp of the token-level
cross-entropy (without label smoothing) that the trainer's evaluation reports as the loss.

Does the model read its source? Two numbers say (issue #17: a seq2seq can settle into a language model of the
targets that writes the same sentence for every input): the loss with each target given another sentence's
source (`*_loss_shuffled_source`, at every evaluation), beside the real loss, and the perplexity of a
Kneser-Ney bigram model of the training targets, which never sees a source (`test_ppl_source_blind`).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from ..data.datasets import DATASETS
from ..data.pairs import load_pairs_data
from ..data.text import (PAD, Split, TranslationData, TranslationLoader, Vocab, joined_split, load_translation_data,
                         pad_batch)
from ..distributed import Dist
from ..errors import CheckpointError, ConfigError
from ..decoding import GNMT_ALPHA, beam_search_batch, greedy_decode
from ..pretrained import get_weights, read_weights
from ..runtime import evaluating
from .base import Headline, Loaders, StepOut, Task, probe_error

if TYPE_CHECKING:  # annotations only (see base.py)
    from ..config import Config


def build_data(cfg: Config, device: torch.device, ddp: Dist = Dist()) -> Loaders:
    """Length-bucketed translation batches; meta holds the vocabularies (and so every checkpoint does)."""
    d, t = cfg.data, cfg.trainer
    if DATASETS[d.name].reader == "pairs":
        data = load_pairs(cfg)
        for note in data.notes if ddp.is_main else ():
            tqdm.write(f"milestones: {note}")
    else:
        data = load_translation_data(d.name, root=d.root, min_freq=d.min_freq, max_len=d.max_len,
                                     train_size=d.train_size, test_size=d.test_size, subwords=d.subwords,
                                     subword_model=d.subword_model)
    common = dict(device=device, rank=ddp.rank, world_size=ddp.world_size)
    train = TranslationLoader(data.train, batch_size=t.batch_size, shuffle=True, seed=cfg.seed,
                              drop_last=ddp.enabled, **common)
    val = TranslationLoader(data.val, batch_size=t.eval_batch_size, **common)
    test = TranslationLoader(data.test, batch_size=t.eval_batch_size, **common)
    return Loaders(train, val, test, data.meta)


def load_pairs(cfg: Config) -> TranslationData:
    """Your own sentence pairs (`data.name: pairs`). Fine-tuning a shipped translator (model.weights), its
    vocabularies and tokenisation are kept (the weights index them), and so are its languages."""
    d = cfg.data
    two = d.source_file is not None or d.target_file is not None
    if (d.path is not None) == two or (two and (d.source_file is None or d.target_file is None)):
        raise ConfigError("data.name 'pairs' needs data.path (a TSV file: source TAB target on each line) or "
                          "data.source_file and data.target_file (line-aligned), one of the two")
    if d.languages is None and cfg.model.weights is None:
        raise ConfigError("data.languages: name the pairs' languages, e.g. [ja, en] (ja is read as characters, any "
                          "other language as words)")
    start = read_weights(get_weights(cfg.model.weights))[1] if cfg.model.weights else None
    languages = tuple(d.languages) if d.languages else (start["src_lang"], start["tgt_lang"])
    if start and languages != (start["src_lang"], start["tgt_lang"]):
        raise ConfigError(f"data.languages {list(languages)}: the weights '{cfg.model.weights}' translate "
                          f"{start['src_lang']} -> {start['tgt_lang']}")
    return load_pairs_data(path=d.path, source_file=d.source_file, target_file=d.target_file, languages=languages,
                           min_freq=d.min_freq, max_len=d.max_len, val_fraction=d.val_fraction,
                           train_size=d.train_size, test_size=d.test_size, start=start)


def translation_model_args(meta: dict) -> dict:
    """What a translator needs from the data: the sizes of the vocabularies built from the training text and the
    index of their padding token."""
    return {"src_vocab_size": len(meta["src_vocab"]), "tgt_vocab_size": len(meta["tgt_vocab"]), "pad_id": PAD}


def seq2seq_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], label_smoothing: float = 0.0) -> StepOut:
    """Teacher forcing: predict tgt[1:] from tgt[:-1]; loss and accuracy over real target tokens only.

    Under DDP each rank's loss is its own tokens' mean and DDP averages the ranks: the global batch's token mean
    up to how evenly the (length-bucketed) shares split the tokens.
    """
    src, tgt = batch
    tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # (B, T): <bos> y_1 .. y_n, and y_1 .. y_n <eos>
    logits, _ = model(src, tgt_in)  # (B, T, V)
    loss = F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten(), ignore_index=PAD,
                           label_smoothing=label_smoothing)
    real = tgt_out != PAD  # (B, T)
    correct = ((logits.argmax(-1) == tgt_out) & real).sum()
    return StepOut(loss, correct, int(real.sum()))


def shuffled_source_step(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor],
                         label_smoothing: float = 0.0) -> StepOut:
    """seq2seq_step with every target paired with another sentence's source (the batch's sources rolled by one; the
    batches are length-bucketed, so the stranger's source is about as long). A model that reads its source loses
    much more here than on the real pairs; one that ignores it (a language model of the targets) loses the same."""
    src, tgt = batch
    return seq2seq_step(model, (src.roll(1, dims=0), tgt), label_smoothing)


def bigram_perplexity(train: list[list[int]], test: list[list[int]], vocab_size: int, discount: float = 0.75) -> float:
    """Perplexity on the test targets of an interpolated Kneser-Ney bigram model of the training targets (Kneser &
    Ney 1995; Chen & Goodman 1998, Eq. 26), over the tokens a translator's loss counts: each word and <eos>, given
    the token before it. What a model that never reads the source can reach with one token of context; the
    continuation counts get add-one smoothing, so that a token never seen after another keeps some probability."""
    pairs = Counter((a, b) for ids in train for a, b in zip(ids, ids[1:]))
    context, followers, preceders = Counter(), Counter(), Counter()
    for (a, b), n in pairs.items():
        context[a] += n
        followers[a] += 1  # N1+(a, .)
        preceders[b] += 1  # N1+(., b)
    nll, count = 0.0, 0
    for ids in test:
        for a, b in zip(ids, ids[1:]):
            p = (preceders[b] + 1) / (len(pairs) + vocab_size)  # P_continuation(b)
            if context[a]:
                p = max(pairs[(a, b)] - discount, 0.0) / context[a] + discount * followers[a] / context[a] * p
            nll -= math.log(p)
            count += 1
    return math.exp(nll / count)


def check_translator(model: nn.Module, loaders: Loaders, cfg: Config) -> None:
    name = cfg.model.name
    for side, words in (("src", "source"), ("tgt", "target")):
        have, need = getattr(model, f"{side}_vocab_size", None), len(loaders.meta[f"{side}_vocab"])
        if have is None:
            raise ConfigError(f"model '{name}' is not a translation model (task seq2seq needs seq2seq, rnnsearch "
                              f"or transformer)")
        if have != need:
            raise ConfigError(f"model.{side}_vocab_size is {have} but the {words} vocabulary of {cfg.data.name} "
                              f"has {need} tokens (leave it out of the config: the trainer takes it from the data)")
    src, tgt = next(iter(loaders.eval))
    try:
        with evaluating(model):
            model(src[:2], tgt[:2, :-1])
    except (RuntimeError, ValueError, IndexError) as e:
        raise ConfigError(probe_error(name, f"translate {cfg.data.name}", e)) from None


def check_vocabularies(saved: dict, built: dict, path: str) -> None:
    """A checkpoint's weights index its own vocabularies: the data a config builds must give the same ones."""
    if any(saved.get(k) != built.get(k) for k in ("src_vocab", "tgt_vocab", "src_subwords")):
        raise CheckpointError(f"{path}: its vocabulary differs from the one this config builds (other data "
                              f"settings?); evaluate it with the config it was trained with")


# --- BLEU ----------------------------------------------------------------------------------------------------------

def corpus_bleu(hypotheses: list[list[str]], references: list[list[str]]) -> tuple[float, str]:
    """sacrebleu corpus BLEU on already-tokenised text (tokenize='none'): (score, signature)."""
    from sacrebleu.metrics import BLEU  # here: sacrebleu is only needed once a translator is scored

    # force: the text IS tokenised, on purpose (no "detokenize" warning); lowercase: it is lower-cased already (by
    # data.text.tokenize), so this changes no score, only makes the signature say so (case:lc, not case:mixed)
    bleu = BLEU(tokenize="none", lowercase=True, force=True)
    result = bleu.corpus_score([" ".join(h) for h in hypotheses], [[" ".join(r) for r in references]])
    return result.score, str(bleu.get_signature())


DECODE_BATCH = 100  # decode_split's batch of sources
FULL_LENGTH = 10**9  # min_len that holds <eos> back to max_len


def decode_split(model: nn.Module, split: Split, meta: dict, *, batch_size: int = DECODE_BATCH, beam: int = 1,
                 alpha: float = GNMT_ALPHA, min_len: int = 1) -> list[list[str]]:
    """Decode every source of `split`: the output tokens, in the split's order. Greedy decoding and beam search
    (beam > 1) both run batched, `batch_size` sources of similar length at a time; beam search searches each
    source as if alone (decoding.py). `min_len`: no <eos> before it."""
    tgt_vocab = Vocab(meta["tgt_vocab"])
    device = next(model.parameters()).device
    hyps: list[list[str]] = [[] for _ in split.src]
    order = sorted(range(len(split.src)), key=lambda i: len(split.src[i]))
    with evaluating(model):
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            batch = pad_batch([split.src[i] for i in chunk], device)
            if beam > 1:
                outputs = [ids for ids, _, _ in beam_search_batch(model, batch, beam, alpha, min_len=min_len)]
            else:
                outputs = [ids for ids, _ in greedy_decode(model, batch, min_len=min_len)]
            for i, ids in zip(chunk, outputs):
                hyps[i] = tgt_vocab.decode(ids)
    return hyps


def bleu_by_length(hyps: list[list[str]], split: Split, buckets: int = 4) -> dict[str, dict[str, Any]]:
    """Corpus BLEU of the sentences in each length bucket (quantiles of the sentence length; buckets that would
    cover the same lengths are one): the question of Bahdanau et al. 2015, Fig. 2 -- do long sentences collapse?

    Length is the reference translation's word count, not the source's token count: one ruler for every translator
    of a corpus whatever its source tokens (Japanese characters, SentencePiece pieces, German words), so their
    curves share an x-axis. It tracks the source length closely (the paper's x-axis; both sides of a pair grow
    together)."""
    lengths = [len(r) for r in split.refs]  # reference words
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: dict[str, list[int]] = {}
    for b in range(buckets):
        idx = order[b * len(order) // buckets:(b + 1) * len(order) // buckets]
        if idx:
            groups.setdefault(f"{lengths[idx[0]]}-{lengths[idx[-1]]}", []).extend(idx)
    out = {}
    for key, idx in groups.items():
        score, _ = corpus_bleu([hyps[i] for i in idx], [split.refs[i] for i in idx])
        out[key] = {"min_len": lengths[idx[0]], "max_len": lengths[idx[-1]], "sentences": len(idx), "bleu": score}
    return out


def length_stress(model: nn.Module, split: Split, meta: dict, joins: int) -> dict[str, Any]:
    """BLEU on the test split with 1, 2, ..., `joins` consecutive pairs joined into one (data.text.joined_split),
    greedy: whether a translator holds up as sources grow past the corpus's own lengths (Bahdanau et al. 2015,
    Fig. 2: the RNN encoder-decoder falls with length, RNNsearch much less). Returns BLEU per join count and,
    over all of them together, BLEU by source-length bucket."""
    per_k, all_hyps, all_split = {}, [], Split([], [], [])
    for k in range(1, joins + 1):
        joined = joined_split(split, k)
        hyps = decode_split(model, joined, meta)
        src_len, ref_len = [len(s) - 1 for s in joined.src], [len(r) for r in joined.refs]  # <eos> not counted
        per_k[str(k)] = {"pairs_joined": k, "sentences": len(hyps), "bleu": corpus_bleu(hyps, joined.refs)[0],
                         "mean_src_len": sum(src_len) / max(len(src_len), 1),
                         "mean_ref_len": sum(ref_len) / max(len(ref_len), 1)}
        all_hyps += hyps
        for part, new in zip((all_split.src, all_split.tgt, all_split.refs), (joined.src, joined.tgt, joined.refs)):
            part += new
    return {"by_join": per_k, "by_length": bleu_by_length(all_hyps, all_split, buckets=8)}


def translation_report(model: nn.Module, loaders: Loaders, final: dict, cfg: Config) -> dict:
    """The extra numbers of a translation run's results.json: test BLEU (greedy), perplexity, BLEU by length, and
    with `trainer.beam` > 1 the test BLEU of beam search too (`test_bleu_beam`; length penalty alpha = GNMT_ALPHA),
    with `trainer.length_stress` N the BLEU on test pairs joined 1..N at a time (`length_stress`)."""
    split = (loaders.test or loaders.eval).split
    hyps = decode_split(model, split, loaders.meta)
    bleu, signature = corpus_bleu(hyps, split.refs)
    blind = bigram_perplexity(loaders.train.split.tgt, split.tgt, len(loaders.meta["tgt_vocab"]))
    out = {"test_bleu": bleu, "test_ppl": math.exp(min(final["loss"], 50.0)), "test_ppl_source_blind": blind,
           "bleu_decoding": "greedy", "bleu_signature": signature, "bleu_by_length": bleu_by_length(hyps, split)}
    if cfg.trainer.length_stress:
        out["length_stress"] = length_stress(model, split, loaders.meta, cfg.trainer.length_stress)
    beam = cfg.trainer.beam
    if beam > 1:
        out["test_bleu_beam"] = corpus_bleu(decode_split(model, split, loaders.meta, beam=beam), split.refs)[0]
        out["beam"] = {"size": beam, "alpha": GNMT_ALPHA}
    return out


def translation_report_seconds(model: nn.Module, loaders: Loaders, cfg: Config) -> float:
    """Estimated seconds of translation_report (planner.py): one batch of test sources decoded greedily, and with
    trainer.beam > 1 by beam search, timed and scaled to the split's batches. Every sentence is decoded to its
    max_len (<eos> held back: an untrained model may end every sentence at once, or never), the longest the
    decoding can take: an upper bound, as a budget wants. BLEU, the bigram perplexity and length_stress are not
    timed."""
    split = (loaders.test or loaders.eval).split
    head, batches, seconds = _head(split, DECODE_BATCH), math.ceil(len(split.src) / DECODE_BATCH), 0.0
    for beam in sorted({1, cfg.trainer.beam}):
        start = time.perf_counter()
        decode_split(model, head, loaders.meta, batch_size=DECODE_BATCH, beam=beam, min_len=FULL_LENGTH)
        seconds += (time.perf_counter() - start) * batches
    return seconds


def _head(split: Split, n: int) -> Split:
    return Split(split.src[:n], split.tgt[:n], split.refs[:n])


def summary(results: dict) -> str:
    shuffled = math.exp(min(results.get("test_loss_shuffled_source", math.nan), 50.0))
    return (f"test BLEU {results['test_bleu']:.2f} (perplexity {results['test_ppl']:.1f}; {shuffled:.1f} with other "
            f"sentences' sources; a source-blind bigram model: {results.get('test_ppl_source_blind', math.nan):.1f})")


def describe_sentences(cfg: Config, meta: dict) -> dict:
    return {"languages": f"{meta['src_lang']} -> {meta['tgt_lang']}", "src_vocab": len(meta["src_vocab"]),
            "tgt_vocab": len(meta["tgt_vocab"]), "tokenisation": meta.get("tokenizer")}


SEQ2SEQ = Task(
    name="seq2seq", build_data=build_data, step=seq2seq_step,
    check_model=check_translator, describe_input=describe_sentences, model_args=translation_model_args, report=translation_report,
    report_seconds=translation_report_seconds,
    check_meta=check_vocabularies, options=("beam", "length_stress"), diagnostics={"shuffled_source": shuffled_source_step},
    headline=Headline(key="test_bleu", label="test BLEU", scale=1.0, unit="BLEU", paper_metric="test_bleu",
                      rate_unit="target tokens/s", summary=summary, check_tolerance=0.1,
                      # the ja->en Transformer: 27.8 / 28.6 greedy BLEU over 2 seeds
                      build_tolerance=1.5),
)
