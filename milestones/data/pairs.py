"""Your own parallel text (`data.name: pairs`): a TSV file (source TAB target, one pair a line) or two line-aligned
files anywhere, split into training, validation and test pairs by a fixed permutation, tokenised and indexed as the
shipped corpora are (data/text.py); a fine-tuned translator's own vocabularies are kept.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import torch

from ..errors import DataError
from .subword import Subwords
from .text import (BOS, EOS, TOKENIZER, Split, TranslationData, Vocab, file_lines, fixed_subset, normalise,
                   tokenize)


def _content(path: Path) -> list[str]:
    """A file's lines without its trailing blank ones (an editor's last newline is not a sentence)."""
    lines = file_lines(path)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_pair_files(path: Optional[str], source_file: Optional[str],
                    target_file: Optional[str]) -> tuple[list[str], list[str], str]:
    """(sources, targets, where they came from) of a TSV file (`path`: source TAB target, one pair a line) or of two
    line-aligned files; lines blank on both sides are skipped. Anything that cannot be a parallel text is one line:
    files of different lengths, a line blank on one side only (one file has lost a line), a TSV line without
    exactly one tab, no pair at all."""
    pairs: list[tuple[int, str, str]] = []  # (line number, source, target)
    if path:
        where = str(Path(path).expanduser())
        for n, line in enumerate(_content(Path(where)), 1):
            if line.strip():
                parts = line.split("\t")
                if len(parts) != 2:
                    raise DataError(f"{where}: line {n} has {len(parts) - 1} tabs; each line must be source TAB "
                                    f"target")
                pairs.append((n, *parts))
    else:
        src_path, tgt_path = Path(source_file).expanduser(), Path(target_file).expanduser()
        where = f"{src_path} and {tgt_path}"
        src, tgt = _content(src_path), _content(tgt_path)
        if len(src) != len(tgt):
            raise DataError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: not line-aligned (a "
                            f"line missing or extra?)")
        pairs = [(n, s, t) for n, (s, t) in enumerate(zip(src, tgt), 1) if s.strip() or t.strip()]
    for n, s, t in pairs:
        if not s.strip() or not t.strip():
            raise DataError(f"{where}: line {n} has a {'source' if s.strip() else 'target'} but no "
                            f"{'target' if s.strip() else 'source'}: are the two sides aligned?")
    if not pairs:
        raise DataError(f"{where}: no sentence pairs (empty)")
    return [s for _, s, _ in pairs], [t for _, _, t in pairs], where


def load_pairs_data(*, path: Optional[str], source_file: Optional[str], target_file: Optional[str],
                    languages: tuple[str, str], min_freq: int = 2, max_len: int = 50, val_fraction: float = 0.1,
                    train_size: Optional[int] = None, test_size: Optional[int] = None, split_seed: int = 0,
                    start: Optional[dict] = None) -> TranslationData:
    """Your own parallel text (read_pair_files), tokenised as the shipped corpora are, as a TranslationData.

    The validation and test splits are each a fixed random `val_fraction` of the pairs (at least one; the
    permutation from `split_seed`), the rest is for training. The vocabularies are built from the training pairs,
    or, with `start` (the data meta of the weights a run starts from: model.weights), are those weights' own: a
    token they lack becomes <unk>, and `notes` says how many did."""
    src_lang, tgt_lang = languages
    src_lines, tgt_lines, where = read_pair_files(path, source_file, target_file)
    n = len(src_lines)
    held = max(1, round(val_fraction * n))
    if n < 2 * held + 1:
        raise DataError(f"{where}: {n} pair{'s' if n > 1 else ''}, too few to hold out {held} for validation and "
                        f"{held} for testing and train on the rest; give at least {2 * held + 1}")
    pieces = Subwords.from_meta(start["src_subwords"], "the weights' SentencePiece model") if start and start.get(
        "src_subwords") else None
    src = [pieces.tokens(normalise(line), src_lang) if pieces else tokenize(line, src_lang) for line in src_lines]
    tgt = [tokenize(line, tgt_lang) for line in tgt_lines]
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed)).tolist()
    val_idx, test_idx, train_idx = sorted(perm[:held]), sorted(perm[held:2 * held]), sorted(perm[2 * held:])
    train_idx = [train_idx[i] for i in fixed_subset(len(train_idx), train_size, split_seed)]
    keep = [i for i in train_idx if 0 < len(src[i]) <= max_len and 0 < len(tgt[i]) <= max_len]
    if not keep:
        raise DataError(f"{where}: no training pair has at most data.max_len={max_len} tokens on both sides")
    notes = []
    if start:
        src_vocab, tgt_vocab = Vocab(start["src_vocab"]), Vocab(start["tgt_vocab"])
        for side, vocab, sentences in (("source", src_vocab, src), ("target", tgt_vocab, tgt)):
            unknown = Counter(t for i in keep for t in sentences[i] if t not in vocab.stoi)
            if unknown:
                shown = ", ".join(t for t, _ in unknown.most_common(5)) + (", ..." if len(unknown) > 5 else "")
                notes.append(f"{sum(unknown.values())} of {sum(len(sentences[i]) for i in keep)} {side} tokens of the "
                             f"training pairs ({len(unknown)} distinct: {shown}) are not in the weights' vocabulary "
                             f"and are read as <unk>")
    else:
        src_vocab = Vocab.build([src[i] for i in keep], min_freq)
        tgt_vocab = Vocab.build([tgt[i] for i in keep], min_freq)

    def index(idx: list[int]) -> Split:
        return Split([src_vocab.encode(src[i]) + [EOS] for i in idx],
                     [[BOS] + tgt_vocab.encode(tgt[i]) + [EOS] for i in idx], [tgt[i] for i in idx])

    def evaluation(idx: list[int]) -> Split:
        return index([idx[i] for i in fixed_subset(len(idx), test_size, split_seed)])

    meta = {
        "task": "seq2seq", "data": "pairs", "src_lang": src_lang, "tgt_lang": tgt_lang,
        "src_vocab": src_vocab.itos, "tgt_vocab": tgt_vocab.itos,
        # the longest sentences it was trained on (translate.py refuses over twice these): the weights' too
        "max_src_len": max([len(src[i]) for i in keep] + [start["max_src_len"] if start else 0]),
        "max_tgt_len": max([len(tgt[i]) for i in keep] + [start["max_tgt_len"] if start else 0]),
        "tokenizer": start["tokenizer"] if start else TOKENIZER,
    }
    if pieces:
        meta["src_subwords"] = start["src_subwords"]
    return TranslationData(index(keep), evaluation(val_idx), evaluation(test_idx), meta, notes)
