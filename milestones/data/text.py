"""Translation data: small_parallel_enja (Japanese -> English) and Multi30k task 1 (German -> English).

Files (under the data root: data.root, else $MILESTONES_DATA, else ./data; never written to)
- small_parallel_enja/{train,dev,test}.{ja,en}: 50 000 / 500 / 500 pairs of the Tanaka corpus (odashi's split),
  one sentence a line, already tokenised (KyTea for Japanese; Stanford tokenizer, lower-cased, for English).
- multi30k/task1/tok/{train,val,test_2016_flickr}.lc.norm.tok.{de,en}: 29 000 / 1 014 / 1 000 pairs, Moses-
  tokenised and lower-cased by the data set's own script; else multi30k/task1/raw/<split>.{de,en}.gz, the raw
  text, which only our light rule below tokenises (so the two layouts give slightly different tokens).
- your own pairs (`data.name: pairs`): read by data/pairs.py, tokenised and indexed as the corpora are here.

Tokenisation (`tokenize`; the same function for the training files and for what a user types):
- every language: HTML entities undone (the Moses files write ' as &apos;), Unicode NFKC (full-width digits and
  ？！ become ASCII, as a user is as likely to type either), lower-case;
- Japanese: CHARACTERS, whitespace dropped. KyTea's word segmentation in the files is thrown away, so
  「彼は背が高い。」 typed without spaces gives the same tokens as the file's 「彼 は 背 が 高 い 。」, with no
  segmenter to install; ~1 700 characters cover the training text (min_freq 2);
- English and German: words split on whitespace, after splitting sentence punctuation . , ! ? ; : " ) off a
  word's end and " ( off its start, so a typed "Büsche." reads as the files' "büsche ." (on the provided
  tokenised files the rule changes almost nothing; it exists for typed input).

Vocabularies: from the training split only, tokens seen at least `min_freq` times, most frequent first (ties in
code-point order), after four specials <pad>=0 <unk>=1 <bos>=2 <eos>=3. A source is its tokens + <eos>
(Sutskever et al. 2014 end every sentence with <EOS>); a target is <bos> + tokens + <eos>.
The vocabularies are plain lists in the loaders' `meta`, which every checkpoint carries, so a checkpoint
translates on its own (milestones/translate.py).

Batches (`TranslationLoader`): (src (B, S), tgt (B, T)) int64, right-padded with <pad>; the models build their
padding masks from `src == PAD`. Each epoch shuffles with a generator seeded by (seed, epoch) alone, then sorts
pools of 100 batches by length and cuts them into batches (bucketing: little padding), and shuffles the order of
the batches. Under DDP every rank builds the same global batches and keeps the interleaved share
[rank::world_size] of each, as `BatchLoader` does.
"""

from __future__ import annotations

import gzip
import html
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional

import torch

from ..errors import DataError
from .datasets import DATASETS, datasets_of
from .images import data_root
from .subword import MAX_UNKNOWN, Subwords, read_subword_model, train_subwords

SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]
TOKENIZER = "html-unescape, NFKC, lower-case; ja: characters without whitespace; en/de: whitespace words, sentence " \
            "punctuation split off"  # what the meta of every word- and character-level corpus says
PAD, UNK, BOS, EOS = 0, 1, 2, 3


_PUNCT_AFTER = re.compile(r"(?<=\w)([.,!?;:\")]+)(?=\s|$)")  # a run of them at a word's end
_PUNCT_BEFORE = re.compile(r"(?:(?<=\s)|^)([\"(])(?=\w)")


def normalise(text: str) -> str:
    """HTML entities undone, Unicode NFKC, lower-case: every token's first step (also before subwords)."""
    return unicodedata.normalize("NFKC", html.unescape(text)).lower()


def tokenize(text: str, lang: str) -> list[str]:
    """The tokens of one sentence (see the module docstring): characters for "ja", words otherwise."""
    text = normalise(text)
    if lang == "ja":
        return [c for c in text if not c.isspace()]
    text = _PUNCT_AFTER.sub(lambda m: " " + " ".join(m.group(1)), text)
    text = _PUNCT_BEFORE.sub(r"\1 ", text)
    return text.split()


def detokenize(tokens: list[str], lang: str) -> str:
    """Text for people to read: Japanese characters joined; English/German words joined by spaces with the
    space before . , ! ? ; : and English clitics ('s n't 'm ...) removed. BLEU never sees this form."""
    if lang == "ja":
        return "".join(tokens)
    text = " ".join(tokens)
    text = re.sub(r" ([.,!?;:])(?= |$)", r"\1", text)
    return re.sub(r" ('(?:s|t|m|re|ve|ll|d)|n't)(?= |$)", r"\1", text)


class Vocab:
    """Token <-> id, from a list whose first four entries are SPECIALS."""

    def __init__(self, itos: list[str]) -> None:
        if list(itos[:4]) != SPECIALS:
            raise DataError(f"a vocabulary must start with {SPECIALS}, got {list(itos[:4])}")
        self.itos = list(itos)
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: list[list[str]], min_freq: int) -> "Vocab":
        counts = Counter(t for s in sentences for t in s)
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
                      key=lambda t: (-counts[t], t))
        return cls(SPECIALS + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.stoi.get(t, UNK) for t in tokens]

    def decode(self, ids: list[int]) -> list[str]:
        """Tokens up to the first <eos>, without <bos>/<pad>."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out


# --- reading the corpora -------------------------------------------------------------------------------------------

def file_lines(path: Path) -> list[str]:
    """A text file's lines (a .gz one decompressed); a file that cannot be read is a one-line DataError."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rt", encoding="utf-8") as f:
                return f.read().splitlines()
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None


def corpus_files(name: str, root: Path, split: str) -> tuple[Path, Path]:
    """(source file, target file) of a split, from whichever layout the root holds."""
    info = DATASETS[name]
    (src_lang, tgt_lang), stem = info.languages, info.split_files[split]
    if name == "small_parallel_enja":
        folder = root / info.folder
        candidates = [(folder / f"{stem}.{src_lang}", folder / f"{stem}.{tgt_lang}")]
        where = f"{folder}/{stem}.{{{src_lang},{tgt_lang}}}"
    else:
        tok, raw = root / info.folder / "task1" / "tok", root / info.folder / "task1" / "raw"
        candidates = [(tok / f"{stem}.lc.norm.tok.{src_lang}", tok / f"{stem}.lc.norm.tok.{tgt_lang}"),
                      (raw / f"{stem}.{src_lang}.gz", raw / f"{stem}.{tgt_lang}.gz")]
        where = f"{tok}/{stem}.lc.norm.tok.{{de,en}} or {raw}/{stem}.{{de,en}}.gz"
    for src, tgt in candidates:
        if src.is_file() and tgt.is_file():
            return src, tgt
    raise DataError(f"{name}: {split} split not found: expected {where} (set data.root or $MILESTONES_DATA)")


def read_lines(name: str, root: Path, split: str) -> tuple[list[str], list[str]]:
    """The (source, target) lines of one split as the files hold them, line-aligned."""
    src_path, tgt_path = corpus_files(name, root, split)
    src, tgt = file_lines(src_path), file_lines(tgt_path)
    if len(src) != len(tgt):
        raise DataError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}: not a parallel corpus")
    return src, tgt


def read_pairs(name: str, root: Path, split: str,
               src_tokens: Optional[Callable[[str], list[str]]] = None) -> tuple[list[list[str]], list[list[str]]]:
    """Tokenised (sources, targets) of one split, line-aligned; `src_tokens` replaces the sources' tokeniser."""
    src_lang, tgt_lang = DATASETS[name].languages
    src, tgt = read_lines(name, root, split)
    to_tokens = src_tokens or (lambda line: tokenize(line, src_lang))
    return [to_tokens(s) for s in src], [tokenize(t, tgt_lang) for t in tgt]


@dataclass
class Split:
    src: list[list[int]]  # source ids, each ending in <eos>
    tgt: list[list[int]]  # target ids, <bos> ... <eos>
    refs: list[list[str]]  # the target tokens themselves (BLEU references keep words the vocabulary lacks)


def joined_split(split: Split, k: int) -> Split:
    """A length-stress split: every run of k consecutive pairs of `split` joined into one pair (sources and
    targets concatenated in order, one <eos>), so sources k times as long as the corpus's own; k = 1 is the split.
    Deterministic: pairs (0..k-1), (k..2k-1), ...; a last incomplete run is dropped."""
    src, tgt, refs = [], [], []
    for start in range(0, len(split.src) - k + 1, k):
        group = range(start, start + k)
        src.append([t for i in group for t in split.src[i][:-1]] + [EOS])  # (sum of lengths + 1,)
        tgt.append([BOS] + [t for i in group for t in split.tgt[i][1:-1]] + [EOS])
        refs.append([w for i in group for w in split.refs[i]])
    return Split(src, tgt, refs)


@dataclass
class TranslationData:
    train: Split
    val: Split
    test: Split
    meta: dict  # what a checkpoint carries: languages, vocabularies, lengths seen in training
    notes: list[str] = field(default_factory=list)  # lines for the user (your own pairs: tokens read as <unk>)


def fixed_subset(n: int, size: Optional[int], seed: int) -> list[int]:
    """The sorted indices of a fixed random `size` of `n` items, drawn from `seed` (all of them if size is None)."""
    if size is None or size >= n:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:size].tolist())


def source_subwords(name: str, root: Path, vocab_size: int, model_path: Optional[str]) -> Subwords:
    """The SentencePiece model of a corpus's sources: trained on its training sources (`vocab_size` pieces) or read
    from `model_path`; checked to know the training text's characters (another language's model would not)."""
    src_lang = DATASETS[name].languages[0]
    lines = [normalise(line) for line in read_lines(name, root, "train")[0]]
    if model_path:
        subwords = Subwords(read_subword_model(model_path), model_path)
        share = subwords.unknown_share(lines[:2000], src_lang)
        if share > MAX_UNKNOWN:
            raise DataError(f"{model_path}: maps {100 * share:.0f}% of the '{src_lang}' training text to <unk>: a "
                            f"SentencePiece model for another language?")
        return subwords
    return Subwords(train_subwords(lines, src_lang, vocab_size), f"{name} training sources")


def load_translation_data(name: str, *, root: Optional[str] = None, min_freq: int = 2, max_len: int = 50,
                          train_size: Optional[int] = None, test_size: Optional[int] = None,
                          split_seed: int = 0, subwords: int = 0,
                          subword_model: Optional[str] = None) -> TranslationData:
    """Read, tokenise and index a corpus. Training pairs longer than `max_len` tokens on either side are left
    out; `train_size` / `test_size` keep a fixed random subset of the training / validation and test pairs.
    `subwords` > 0 (or a `subword_model`): SentencePiece pieces on the source side (data/subword.py)."""
    if name not in datasets_of("seq2seq", "corpus"):  # (your own pairs: data/pairs.py)
        raise DataError(f"unknown translation corpus '{name}' (known: {', '.join(datasets_of('seq2seq', 'corpus'))})")
    src_lang, tgt_lang = DATASETS[name].languages
    r = data_root(root)
    pieces = source_subwords(name, r, subwords, subword_model) if subwords or subword_model else None
    src_tokens = (lambda line: pieces.tokens(normalise(line), src_lang)) if pieces else None
    train_src, train_tgt = read_pairs(name, r, "train", src_tokens)
    keep = [i for i in fixed_subset(len(train_src), train_size, split_seed)
            if 0 < len(train_src[i]) <= max_len and 0 < len(train_tgt[i]) <= max_len]
    if not keep:
        raise DataError(f"{name}: no training pair has at most data.max_len={max_len} tokens on both sides")
    train_src, train_tgt = [train_src[i] for i in keep], [train_tgt[i] for i in keep]
    src_vocab, tgt_vocab = Vocab.build(train_src, min_freq), Vocab.build(train_tgt, min_freq)

    def index(src_tokens: list[list[str]], tgt_tokens: list[list[str]]) -> Split:
        return Split([src_vocab.encode(s) + [EOS] for s in src_tokens],
                     [[BOS] + tgt_vocab.encode(t) + [EOS] for t in tgt_tokens], tgt_tokens)

    splits = {}
    for split in ("val", "test"):
        s, t = read_pairs(name, r, split, src_tokens)
        idx = fixed_subset(len(s), test_size, split_seed)
        splits[split] = index([s[i] for i in idx], [t[i] for i in idx])
    meta = {
        "task": "seq2seq", "data": name, "src_lang": src_lang, "tgt_lang": tgt_lang,
        "src_vocab": src_vocab.itos, "tgt_vocab": tgt_vocab.itos,
        "max_src_len": max(len(s) for s in train_src), "max_tgt_len": max(len(t) for t in train_tgt),
        "tokenizer": TOKENIZER,
    }
    if pieces:
        meta["src_subwords"] = pieces.to_meta()  # the SentencePiece model itself: checkpoints translate on their own
        meta["tokenizer"] = (f"source: SentencePiece unigram, {len(src_vocab)} pieces in the vocabulary (after "
                             f"html-unescape, NFKC, lower-case{', spaces removed' if src_lang == 'ja' else ''}); "
                             f"target: whitespace words, sentence punctuation split off")
    return TranslationData(index(train_src, train_tgt), splits["val"], splits["test"], meta)


# --- batches -------------------------------------------------------------------------------------------------------

def pad_batch(seqs: list[list[int]], device: torch.device | str = "cpu") -> torch.Tensor:
    """Right-pad id lists with PAD into one (B, L) int64 tensor."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s, dtype=torch.long)
    return out.to(device)


class TranslationLoader:
    """Length-bucketed batches (src (B, S), tgt (B, T)) of a `Split`; see the module docstring."""

    POOL = 100  # batches sorted together by length

    def __init__(self, split: Split, *, batch_size: int, shuffle: bool = False, seed: int = 0, rank: int = 0,
                 world_size: int = 1, drop_last: bool = False, device: torch.device | str = "cpu") -> None:
        self.split, self.batch_size, self.shuffle, self.drop_last = split, batch_size, shuffle, drop_last
        self.seed, self.epoch = seed, 0
        self.rank, self.world_size = rank, world_size
        self.device = torch.device(device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Number of global batches (= optimizer steps per epoch)."""
        n = len(self.split.src)
        return n // self.batch_size if self.drop_last else (n + self.batch_size - 1) // self.batch_size

    def global_batches(self) -> list[list[int]]:
        """This epoch's batches as lists of sentence indices (the same on every rank)."""
        n = len(self.split.src)
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(n, generator=g).tolist() if self.shuffle else list(range(n))
        pool = self.batch_size * self.POOL if self.shuffle else n  # evaluation: one pool, sorted throughout
        length = lambda i: (len(self.split.src[i]), len(self.split.tgt[i]))
        batches = []
        for start in range(0, n, pool):  # pools are whole batches, so only the very last batch can be short
            chunk = sorted(order[start:start + pool], key=length)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]
        return batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for batch in self.global_batches():
            mine = batch[self.rank::self.world_size]
            if not mine:
                continue
            yield (pad_batch([self.split.src[i] for i in mine], self.device),
                   pad_batch([self.split.tgt[i] for i in mine], self.device))
