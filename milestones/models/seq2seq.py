"""RNN era, translation: the LSTM encoder-decoder without attention.

Reference
- I. Sutskever, O. Vinyals, Q. V. Le, "Sequence to Sequence Learning with Neural Networks", NeurIPS 2014,
  arXiv:1409.3215. Sec. 2 the model, Sec. 3.3 reversing the source, Sec. 3.4 sizes and training; Table 1 its
  WMT'14 En->Fr BLEU (34.8 for an ensemble of 5 reversed LSTMs, beam 12).

The model (Sec. 2): one deep LSTM reads the source (Eq. 1 is the LSTM-LM factorisation it serves), its final
hidden and cell states of every layer are the fixed-size representation v of the whole sentence, and a second
deep LSTM, started from v, is a language model over the target: p(y_1..y_T' | x) = prod_t p(y_t | v, y_<t)
(Eq. 1), a softmax over the target vocabulary at each step. Nothing else links the two: no attention; the
whole source passes through v. Sources end in <eos>; with `reverse_source` the source words are read backwards
("c, b, a" for "a, b, c", Sec. 3.3; <eos> stays last), which puts the first words of source and target close.

Paper sizes (Sec. 3.4), the defaults: 4 layers of 1000 cells, 1000-dim embeddings, 160 000 source and 80 000
target words: 384M parameters (the paper's count; `milestones list` shows 384,144,000, with torch's two bias
vectors per gate). Initialisation U(-0.08, 0.08) for every parameter (Sec. 3.4). Training in the paper: SGD,
no momentum, lr 0.7 halved every half epoch after 5 epochs, 7.5 epochs, batch 128, gradient norm clipped at 5,
batches of similar length. Deviations: `dropout` between layers and on embeddings (0 = the paper; the CPU configs
use some, as small data overfits, after Zaremba, Sutskever & Vinyals 2014, arXiv:1409.2329), words or
characters from milestones/data/text.py instead of the paper's word lists, and the optimiser in the configs.

Shapes: B batch, S source length, T target length, E embedding size, H hidden size, L layers, V vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence



def reverse_source(src: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each source's words in place of the padded batch, <eos> (the last real token) staying last."""
    B, S = src.shape
    t = torch.arange(S, device=src.device)[None, :]  # (1, S)
    n = lengths[:, None] - 1  # (B, 1): the words before <eos>
    idx = torch.where(t < n, n - 1 - t, t)  # (B, S): word t comes from position n-1-t; <eos> and padding stay
    return src.gather(1, idx)


class Seq2Seq(nn.Module):
    has_attention = False

    def __init__(
        self,
        *,
        src_vocab_size: int = 160_000,  # Sec. 3.4
        tgt_vocab_size: int = 80_000,
        embed_dim: int = 1000,
        hidden_size: int = 1000,
        num_layers: int = 4,
        dropout: float = 0.0,
        reverse_source: bool = True,  # Sec. 3.3
        init_range: float = 0.08,  # Sec. 3.4: U(-0.08, 0.08)
        pad_id: int = 0,  # the index of <pad>, whose positions are masked (our vocabularies: 0)
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.src_vocab_size, self.tgt_vocab_size = src_vocab_size, tgt_vocab_size
        self.reverse = reverse_source
        self.init_range = init_range
        self.src_embed = nn.Embedding(src_vocab_size, embed_dim)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_dim)
        self.encoder = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.decoder = nn.LSTM(embed_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, tgt_vocab_size)  # the softmax over the target words
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in self.parameters():
            nn.init.uniform_(p, -self.init_range, self.init_range)  # Sec. 3.4

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """v: the encoder's final (h, c) of every layer, batch first: (B, L, H) each."""
        lengths = (src != self.pad_id).sum(1)  # (B,)
        if self.reverse:
            src = reverse_source(src, lengths)
        x = self.dropout(self.src_embed(src))  # (B, S, E)
        # Packing runs each sequence exactly its own length: the final states never see padding.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, c) = self.encoder(packed)  # (L, B, H) each
        return h.transpose(0, 1), c.transpose(0, 1)  # (B, L, H) each

    def init_state(self, memory: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        return memory  # the decoder starts from v (Sec. 2)

    def _decode(self, tgt_in: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = (s.transpose(0, 1).contiguous() for s in state)  # (L, B, H) each
        y = self.dropout(self.tgt_embed(tgt_in))  # (B, T, E)
        out, (h, c) = self.decoder(y, (h, c))  # (B, T, H)
        logits = self.out(self.dropout(out))  # (B, T, V)
        return logits, (h.transpose(0, 1), c.transpose(0, 1))

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, None]:
        """Teacher forcing: logits (B, T, V) of each next target token given <bos> y_1 .. y_{T-1}; no attention."""
        logits, _ = self._decode(tgt_in, self.encode(src))
        return logits, None

    def decode_step(self, prev: torch.Tensor, state, memory):
        """One target step: prev (B,) -> logits (B, V), the new state, no attention."""
        logits, state = self._decode(prev[:, None], state)  # (B, 1, V)
        return logits[:, 0], state, None
