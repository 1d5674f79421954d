"""Subword tokens for a translator's source side: a SentencePiece model (Kudo & Richardson 2018,
arXiv:1808.06226, unigram language model of Kudo 2018, arXiv:1804.10959).

`data.subwords: N` trains one with a vocabulary of N pieces on the TRAINING sources only (never on validation or
test text), after the same normalisation as every token (HTML entities undone, NFKC, lower-case; data/text.py)
and, for Japanese, with the corpus's KyTea spaces removed: the model learns its own segmentation of unsegmented
text, so 「彼は背が高い。」 typed as written is cut exactly as the training line 「彼 は 背 が 高 い 。」 was.
`data.subword_model: PATH` uses a SentencePiece model trained elsewhere instead. Either way the model's bytes travel
in the data meta (so in every checkpoint and zoo entry), and a translator needs nothing else to read a sentence.

Training is deterministic (one thread, no sampling of the input), a few seconds for 50k sentences. The
`sentencepiece` package is a dependency (the ja->en RNN configs use it), imported only by these runs.
"""

from __future__ import annotations

import base64
import io
from typing import Iterable

from ..errors import DataError

NO_SENTENCEPIECE = ("data.subwords / data.subword_model need the sentencepiece package (a dependency of "
                    "milestones): pip install sentencepiece")
MAX_UNKNOWN = 0.05  # a model for this language leaves almost no training character unknown; another language's: most


def _spm():
    try:
        import sentencepiece  # lazy: see LAZY in tests/test_architecture.py
    except ImportError:
        raise DataError(NO_SENTENCEPIECE) from None
    return sentencepiece


def prepare(text: str, lang: str) -> str:
    """What the model sees of an already normalised sentence: Japanese without spaces, others as they are."""
    return "".join(text.split()) if lang == "ja" else " ".join(text.split())


def train_subwords(sentences: Iterable[str], lang: str, vocab_size: int) -> bytes:
    """A unigram SentencePiece model of `vocab_size` pieces trained on the (normalised) training sources."""
    spm = _spm()
    lines = [prepare(s, lang) for s in sentences if s.strip()]
    out = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=out, vocab_size=vocab_size, model_type="unigram",
            character_coverage=0.9995 if lang == "ja" else 1.0,  # the SentencePiece authors' advice for CJK
            input_sentence_size=0, shuffle_input_sentence=False, num_threads=1, minloglevel=2,
            bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, hard_vocab_limit=False)
    except RuntimeError as e:
        raise DataError(f"data.subwords={vocab_size}: SentencePiece could not train on the training sources "
                        f"({str(e).splitlines()[0][:120]})") from None
    return out.getvalue()


def read_subword_model(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: SentencePiece model not found (data.subword_model)") from None
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


class Subwords:
    """A loaded SentencePiece model: `tokens(text, lang)` gives a normalised sentence's pieces."""

    def __init__(self, model: bytes, where: str) -> None:
        spm = _spm()
        self.model = model
        self.processor = spm.SentencePieceProcessor()
        try:
            self.processor.LoadFromSerializedProto(model)
        except (RuntimeError, TypeError, OSError):
            raise DataError(f"{where}: not a SentencePiece model (damaged, or another kind of file)") from None

    def tokens(self, text: str, lang: str) -> list[str]:
        return self.processor.encode(prepare(text, lang), out_type=str)

    def unknown_share(self, sentences: list[str], lang: str) -> float:
        """The share of the characters of `sentences` that the model can only map to <unk>."""
        unk = self.processor.unk_id()
        total = known = 0
        for s in sentences:
            text = prepare(s, lang)
            for piece_id, piece in zip(self.processor.encode(text), self.processor.encode(text, out_type=str)):
                n = len(piece.replace("\u2581", "")) or 1
                total += n
                known += 0 if piece_id == unk else n
        return 1 - known / max(total, 1)

    def to_meta(self) -> str:
        return base64.b64encode(self.model).decode("ascii")

    @classmethod
    def from_meta(cls, text: str, where: str) -> "Subwords":
        return cls(base64.b64decode(text), where)
