"""Transformer era: attention only, no recurrence.

Reference
- A. Vaswani, N. Shazeer, N. Parmar, J. Uszkoreit, L. Jones, A. N. Gomez, L. Kaiser, I. Polosukhin, "Attention Is
  All You Need", NeurIPS 2017, arXiv:1706.03762. Sec. 3 the model (Fig. 1), Eq. 1 scaled dot-product attention,
  Sec. 3.2.2 multi-head attention, Eq. 2 the feed-forward layer, Sec. 3.4 embeddings, Sec. 3.5 positional
  encoding, Eq. 3 the learning-rate schedule (`schedule.name: inverse_sqrt` in milestones/optim.py), Sec. 5.4
  dropout and label smoothing; Table 3 the sizes (base: d_model 512, 6+6 layers, 8 heads, d_ff 2048, dropout
  0.1: the defaults here) and Table 2 its BLEU (base: 27.3 En->De, 38.1 En->Fr).

The model: encoder of N layers [self-attention, feed-forward], decoder of N layers [masked self-attention,
attention over the encoder output ("cross-attention"), feed-forward]. Every sub-layer is POST-NORM as in the
paper, LayerNorm(x + Dropout(Sublayer(x))) (Sec. 3.1, Sec. 5.4), not the pre-norm of later work (and of this
repo's ViT). Embeddings are scaled by sqrt(d_model) and added to fixed sinusoids (Sec. 3.4, 3.5), dropout on the
sum. The target embedding and the pre-softmax projection share one matrix (Sec. 3.4); the paper also shares it
with the source embedding, over one joint BPE vocabulary; here source and target vocabularies differ (Japanese
characters, English words), so the source embedding is its own. `forward` returns the logits and the attention
weights of the LAST decoder layer's cross-attention, averaged over the heads: (B, T, S).

Deviations: sizes for CPU runs come from the configs (e.g. d_model 256, 3+3 layers, 4 heads, d_ff 1024, stated
in configs/transformer_*_cpu.yaml); no dropout on the attention weights (the paper's Sec. 5.4 names only the
residual and embedding dropout). Initialisation, which the paper does not give: Xavier-uniform for every matrix
(the choice of the authors' tensor2tensor code and of the Annotated Transformer), embeddings N(0, d_model^-1) so
that the sqrt(d_model) scaling gives them unit variance (tensor2tensor), biases zero, LayerNorm the identity.
Decoding (milestones/decoding.py) runs one new position through the decoder at each step: `decode_step`
caches each decoder layer's inputs at the earlier positions, from which its self-attention's keys and values come
(recomputed each step: simpler than caching the keys and values themselves, and most of the saving).

Shapes: B batch, S source length, T target length, D d_model, h heads, d_k = D / h, V vocabulary.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn



def sinusoids(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/D)), PE(pos, 2i+1) = cos(pos / 10000^(2i/D)); (length, D)."""
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]  # (length, 1)
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim)
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class MultiHeadAttention(nn.Module):
    """Sec. 3.2.2: h heads of scaled dot-product attention (Eq. 1) on learned projections, concatenated.

    Where the weights are not asked for (every attention but the last decoder layer's cross-attention) and the
    tensors are on a GPU, Eq. 1 runs as one fused kernel (F.scaled_dot_product_attention: the same arithmetic
    without the (Tq, Tk) weights in memory); elsewhere it is written out. `fused` (None: on CUDA tensors) forces
    either, e.g. to compare them (as vit.Attention).
    """

    def __init__(self, d_model: int, heads: int, fused: Optional[bool] = None) -> None:
        super().__init__()
        self.fused = fused
        if d_model % heads != 0:
            raise ValueError(f"Transformer d_model must be divisible by heads, got {d_model} and {heads}")
        self.heads, self.d_k = heads, d_model // heads
        self.q = nn.Linear(d_model, d_model)  # W^Q of all heads side by side
        self.k = nn.Linear(d_model, d_model)  # W^K
        self.v = nn.Linear(d_model, d_model)  # W^V
        self.out = nn.Linear(d_model, d_model)  # W^O

    def forward(self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor,
                need_weights: bool = True) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Queries from x (B, Tq, D), keys and values from memory (B, Tk, D); mask broadcasts to (B, h, Tq, Tk),
        True where a key must not be seen. Returns (B, Tq, D) and the weights (B, h, Tq, Tk), or None for the
        weights where not `need_weights`."""
        B, Tq, D = x.shape
        Tk = memory.shape[1]
        q = self.q(x).view(B, Tq, self.heads, self.d_k).transpose(1, 2)  # (B, h, Tq, d_k)
        k = self.k(memory).view(B, Tk, self.heads, self.d_k).transpose(1, 2)  # (B, h, Tk, d_k)
        v = self.v(memory).view(B, Tk, self.heads, self.d_k).transpose(1, 2)  # (B, h, Tk, d_k)
        weights: Optional[torch.Tensor] = None
        if not need_weights and (self.fused if self.fused is not None else x.is_cuda):
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=~mask)  # Eq. 1, fused: (B, h, Tq, d_k)
        else:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # Eq. 1: (B, h, Tq, Tk)
            scores = scores.masked_fill(mask, float("-inf"))
            weights = scores.softmax(dim=-1)  # each query's distribution over the keys
            a = weights @ v  # (B, h, Tq, d_k)
        a = a.transpose(1, 2).reshape(B, Tq, D)  # Concat(head_1, ..., head_h): (B, Tq, D)
        return self.out(a), weights


class FeedForward(nn.Module):
    """Eq. 2: FFN(x) = max(0, x W_1 + b_1) W_2 + b_2."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff)
        self.w2 = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(torch.relu(self.w1(x)))


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads)
        self.ff = FeedForward(d_model, d_ff)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, src_mask: torch.Tensor) -> torch.Tensor:
        a = self.self_attn(x, x, src_mask, need_weights=False)[0]
        x = self.norm1(x + self.dropout(a))  # Sec. 3.1: LayerNorm(x + Sublayer(x))
        return self.norm2(x + self.dropout(self.ff(x)))


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, heads)
        self.cross_attn = MultiHeadAttention(d_model, heads)
        self.ff = FeedForward(d_model, d_ff)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, y: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor, src_mask: torch.Tensor,
                need_weights: bool = True, context: Optional[torch.Tensor] = None):
        """`context`: the inputs the self-attention's keys and values come from: y itself (None; training, with
        the look-ahead mask), or in decoding this layer's inputs at every position so far (B, t, D), y's last."""
        a = self.self_attn(y, y if context is None else context, tgt_mask, need_weights=False)[0]
        y = self.norm1(y + self.dropout(a))  # Sec. 3.2.3: masked self-attention
        a, weights = self.cross_attn(y, memory, src_mask, need_weights)  # queries: decoder; keys/values: encoder
        y = self.norm2(y + self.dropout(a))
        return self.norm3(y + self.dropout(self.ff(y))), weights


class Transformer(nn.Module):
    has_attention = True

    def __init__(
        self,
        *,
        src_vocab_size: int = 37_000,  # Sec. 5.1: a shared BPE vocabulary of about 37 000 tokens (En-De)
        tgt_vocab_size: int = 37_000,
        d_model: int = 512,  # Table 3, base model
        heads: int = 8,
        d_ff: int = 2048,
        encoder_layers: int = 6,
        decoder_layers: int = 6,
        dropout: float = 0.1,  # Sec. 5.4: P_drop
        tie_embeddings: bool = True,  # Sec. 3.4: target embedding = pre-softmax projection
        pad_id: int = 0,  # the index of <pad>, whose positions are masked (our vocabularies: 0)
    ) -> None:
        super().__init__()
        self.pad_id = pad_id
        self.src_vocab_size, self.tgt_vocab_size, self.d_model = src_vocab_size, tgt_vocab_size, d_model
        self.src_embed = nn.Embedding(src_vocab_size, d_model)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model)
        self.encoder = nn.ModuleList([EncoderLayer(d_model, heads, d_ff, dropout) for _ in range(encoder_layers)])
        self.decoder = nn.ModuleList([DecoderLayer(d_model, heads, d_ff, dropout) for _ in range(decoder_layers)])
        self.dropout = nn.Dropout(dropout)
        self.generator = nn.Linear(d_model, tgt_vocab_size, bias=False)
        self.reset_parameters()
        if tie_embeddings:
            self.generator.weight = self.tgt_embed.weight

    def reset_parameters(self) -> None:
        """See the module docstring (the paper gives no initialisation)."""
        for name, p in self.named_parameters():
            if "embed" in name:
                nn.init.normal_(p, std=self.d_model ** -0.5)
            elif "norm" in name:
                nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
            elif p.dim() > 1:
                nn.init.xavier_uniform_(p)
            else:
                nn.init.zeros_(p)

    def embed(self, tokens: torch.Tensor, table: nn.Embedding, start: int = 0) -> torch.Tensor:
        """Tokens (B, L) at positions start, ..., start + L - 1."""
        x = table(tokens) * math.sqrt(self.d_model)  # Sec. 3.4: (B, L, D)
        pe = sinusoids(start + tokens.shape[1], self.d_model, tokens.device)[start:]  # Sec. 3.5: (L, D)
        return self.dropout(x + pe)  # Sec. 5.4

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(encoder output (B, S, D), source padding mask (B, 1, 1, S) True at padding)."""
        src_mask = (src == self.pad_id)[:, None, None, :]  # (B, 1, 1, S): broadcast over heads and queries
        x = self.embed(src, self.src_embed)  # (B, S, D)
        for layer in self.encoder:
            x = layer(x, src_mask)
        return x, src_mask

    def decode(self, tgt_in: torch.Tensor, memory: tuple[torch.Tensor, torch.Tensor]):
        """Logits (B, T, V) and the last cross-attention's weights averaged over heads (B, T, S)."""
        enc, src_mask = memory
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).triu(1)  # (T, T) True above diagonal
        tgt_mask = causal[None, None] | (tgt_in == self.pad_id)[:, None, None, :]  # (B, 1, T, T)
        y = self.embed(tgt_in, self.tgt_embed)  # (B, T, D)
        weights: Optional[torch.Tensor] = None
        for i, layer in enumerate(self.decoder):  # only the last layer's cross-attention weights are returned
            y, weights = layer(y, enc, tgt_mask, src_mask, need_weights=i == len(self.decoder) - 1)
        return self.generator(y), weights.mean(dim=1)  # (B, T, V), (B, T, S)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: logits (B, T, V) and attention weights (B, T, S)."""
        return self.decode(tgt_in, self.encode(src))

    def init_state(self, memory) -> tuple[torch.Tensor, ...]:
        """Decoding's cache: per decoder layer, its inputs at the target positions so far, (B, 0, D) at the start."""
        enc = memory[0]
        return tuple(enc.new_zeros(enc.shape[0], 0, self.d_model) for _ in self.decoder)

    def decode_step(self, prev: torch.Tensor, state: tuple[torch.Tensor, ...], memory):
        """One target step, prev (B,) at position t (the prefix's length): only the new position runs through the
        decoder, each layer's self-attention reading that layer's cached inputs at the earlier positions. The same
        numbers as decode() over the whole prefix (the look-ahead mask hides nothing from the last position),
        without recomputing the prefix. Logits (B, V), the cache one position longer, weights (B, S)."""
        enc, src_mask = memory
        t = state[0].shape[1]
        y = self.embed(prev[:, None], self.tgt_embed, start=t)  # (B, 1, D)
        visible = torch.zeros(1, 1, 1, t + 1, dtype=torch.bool, device=y.device)  # it sees all t + 1 positions
        grown: list[torch.Tensor] = []
        weights: Optional[torch.Tensor] = None
        for i, (layer, past) in enumerate(zip(self.decoder, state)):
            grown.append(torch.cat([past, y], dim=1))  # (B, t + 1, D): this layer's inputs so far
            y, weights = layer(y, enc, visible, src_mask, need_weights=i == len(self.decoder) - 1, context=grown[-1])
        return self.generator(y)[:, 0], tuple(grown), weights.mean(dim=1)[:, 0]  # (B, V), cache, (B, S)
