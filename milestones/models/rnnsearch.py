"""RNN + attention era: RNNsearch, the encoder-decoder that learns to align while it translates.

Reference
- D. Bahdanau, K. Cho, Y. Bengio, "Neural Machine Translation by Jointly Learning to Align and Translate",
  ICLR 2015, arXiv:1409.0473. Sec. 3 the model (Eq. 4-7), Appendix A its exact equations, Appendix B.1 the
  initialisation; Table 1 its WMT'14 En->Fr BLEU (RNNsearch-50: 26.75 on all test sentences; 28.45 for
  RNNsearch-50*, trained longer).

The model. Encoder (Sec. 3.2, A.2.1): a bidirectional GRU over the source embeddings; the annotation of word j is
h_j = [forward h_j ; backward h_j] (2n numbers). Decoder (Sec. 3.1, A.2.2), at target step i, from the previous
state s_{i-1} and word y_{i-1}:
    e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j)              alignment model (Eq. 6, A.1.2); U_a h_j precomputed
    a_ij = softmax_j(e_ij)   (padding j masked out)       the attention weights (Eq. 6), returned
    c_i = sum_j a_ij h_j                                  context (Eq. 5)
    z_i = sigmoid(W_z E y_{i-1} + U_z s_{i-1} + C_z c_i)  update gate           (A.2.2)
    r_i = sigmoid(W_r E y_{i-1} + U_r s_{i-1} + C_r c_i)  reset gate
    s~_i = tanh(W E y_{i-1} + U [r_i * s_{i-1}] + C c_i)  candidate: the reset gate acts before U, as in Cho
    s_i = (1 - z_i) * s_{i-1} + z_i * s~_i                et al. 2014 (torch's GRU applies it after U)
    t~_i = U_o s_{i-1} + V_o E y_{i-1} + C_o c_i          deep output (A.2.2, Pascanu et al. 2014; Eq. 4 in
                                                          Sec. 3.1 writes s_i, the appendix s_{i-1}: followed) ...
    t_i = max(t~_{i,2k-1}, t~_{i,2k})                     ... with a maxout of pairs (Goodfellow et al. 2013)
    p(y_i | ...) = softmax(W_o t_i)
The initial state is s_0 = tanh(W_s backward h_1) (A.2.2). Paper sizes, the defaults: n = 1000 hidden units,
m = 620 embedding, n' = 1000 alignment units, l = 500 maxout units, 30 000-word vocabularies (Sec. 4.2, A.2).

Deviations: the encoder is torch's fused bidirectional GRU (speed; its reset gate is applied after the recurrent
matrix, the "cuDNN" form); the decoder cell above is written out exactly, as it must run step by step anyway
for the attention. y_0 is the embedding of <bos> (the paper starts from an empty word). `dropout` on the
embeddings and on t_i (0 = the paper, which has none; the CPU configs use some on small data). Training in the
paper: Adadelta (eps 1e-6, rho 0.95), batches of 80, gradient norm clipped at 1 (B.2); the configs use AdamW.
Initialisation (B.1): recurrent matrices random orthogonal, W_a and U_a N(0, 0.001^2), v_a and every bias zero,
every other weight N(0, 0.01^2).

Shapes: B batch, S source length, T target length, m embedding, n hidden, n' alignment units, l maxout units,
V target vocabulary.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence



class RNNsearch(nn.Module):
    has_attention = True

    def __init__(
        self,
        *,
        src_vocab_size: int = 30_000,  # Sec. 4.2: the 30 000 most frequent words of each language
        tgt_vocab_size: int = 30_000,
        embed_dim: int = 620,  # m
        hidden_size: int = 1000,  # n
        align_dim: int = 1000,  # n'
        maxout_dim: int = 500,  # l
        dropout: float = 0.0,
        pad_id: int = 0,  # the index of <pad>, whose positions are masked (our vocabularies: 0)
    ) -> None:
        super().__init__()
        self.src_vocab_size, self.tgt_vocab_size, self.pad_id = src_vocab_size, tgt_vocab_size, pad_id
        m, n, n_a, l = embed_dim, hidden_size, align_dim, maxout_dim
        self.hidden_size, self.maxout_dim = n, l
        self.src_embed = nn.Embedding(src_vocab_size, m)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, m)  # E
        self.encoder = nn.GRU(m, n, batch_first=True, bidirectional=True)  # A.2.1
        self.W_s = nn.Linear(n, n)  # s_0 = tanh(W_s backward h_1)
        # alignment model (A.1.2)
        self.W_a = nn.Linear(n, n_a, bias=False)
        self.U_a = nn.Linear(2 * n, n_a, bias=False)
        self.v_a = nn.Linear(n_a, 1, bias=False)
        # decoder GRU with context (A.2.2); the rows of each matrix are [z; r; candidate]
        self.W = nn.Linear(m, 3 * n)  # [W_z; W_r; W] E y_{i-1}, with the biases
        self.U_zr = nn.Linear(n, 2 * n, bias=False)  # [U_z; U_r] s_{i-1}
        self.U = nn.Linear(n, n, bias=False)  # U [r_i * s_{i-1}]
        self.C = nn.Linear(2 * n, 3 * n, bias=False)  # [C_z; C_r; C] c_i
        # deep output with maxout (A.2.2)
        self.U_o = nn.Linear(n, 2 * l)
        self.V_o = nn.Linear(m, 2 * l, bias=False)
        self.C_o = nn.Linear(2 * n, 2 * l, bias=False)
        self.W_o = nn.Linear(l, tgt_vocab_size)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Appendix B.1."""
        n = self.hidden_size
        for name, p in self.named_parameters():
            if "bias" in name:
                nn.init.zeros_(p)
            elif name in ("W_a.weight", "U_a.weight"):
                nn.init.normal_(p, std=0.001)
            elif name == "v_a.weight":
                nn.init.zeros_(p)
            elif name.startswith("encoder.weight_hh") or name in ("U_zr.weight", "U.weight"):
                for block in p.split(n, dim=0):  # one orthogonal n x n matrix per gate
                    nn.init.orthogonal_(block)
            else:
                nn.init.normal_(p, std=0.01)

    # --- encoder -----------------------------------------------------------------------------------------------

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(annotations h (B, S, 2n), U_a h (B, S, n'), padding mask (B, S), backward h_1 (B, n))."""
        mask = src == self.pad_id  # (B, S) True at padding
        lengths = (~mask).sum(1)
        x = self.dropout(self.src_embed(src))  # (B, S, m)
        # Packed: the backward GRU starts at each sentence's own last word, not in the padding.
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, h_n = self.encoder(packed)  # h_n: (2, B, n) = final forward, final backward (= backward h_1)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, 2n)
        return h, self.U_a(h), mask, h_n[1]

    def init_state(self, memory) -> torch.Tensor:
        return torch.tanh(self.W_s(memory[3]))  # s_0 (B, n)

    # --- decoder -----------------------------------------------------------------------------------------------

    def attend(self, s: torch.Tensor, memory) -> tuple[torch.Tensor, torch.Tensor]:
        """Context c_i (B, 2n) and weights a_i (B, S) from the previous state s (B, n)."""
        h, Uh, mask, _ = memory
        e = self.v_a(torch.tanh(self.W_a(s)[:, None, :] + Uh)).squeeze(-1)  # Eq. 6: (B, S)
        e = e.masked_fill(mask, float("-inf"))
        a = e.softmax(dim=-1)  # (B, S)
        c = (a[:, :, None] * h).sum(1)  # Eq. 5: (B, 2n)
        return c, a

    def gru_step(self, Wy: torch.Tensor, s: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """s_i from W E y_{i-1} (B, 3n, precomputed), s_{i-1} (B, n) and c_i (B, 2n): A.2.2."""
        wz, wr, w = Wy.chunk(3, dim=-1)  # (B, n) each
        cz, cr, cc = self.C(c).chunk(3, dim=-1)
        uz, ur = self.U_zr(s).chunk(2, dim=-1)
        z = torch.sigmoid(wz + uz + cz)  # update gate
        r = torch.sigmoid(wr + ur + cr)  # reset gate
        s_tilde = torch.tanh(w + self.U(r * s) + cc)
        return (1 - z) * s + z * s_tilde

    def readout(self, s_prev: torch.Tensor, Ey: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Logits (..., V) from s_{i-1}, E y_{i-1} and c_i: the deep output with maxout (A.2.2)."""
        t = self.U_o(s_prev) + self.V_o(Ey) + self.C_o(c)  # t~_i: (..., 2l)
        t = t.unflatten(-1, (self.maxout_dim, 2)).amax(-1)  # t_i: max over each pair, (..., l)
        return self.W_o(self.dropout(t))  # (..., V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: logits (B, T, V) and attention weights (B, T, S)."""
        memory = self.encode(src)
        Ey = self.dropout(self.tgt_embed(tgt_in))  # (B, T, m)
        Wy = self.W(Ey)  # (B, T, 3n): the input terms of every step at once
        s = self.init_state(memory)
        states, contexts, weights = [], [], []
        for i in range(tgt_in.shape[1]):
            c, a = self.attend(s, memory)
            states.append(s)  # s_{i-1}, for the readout
            contexts.append(c)
            weights.append(a)
            s = self.gru_step(Wy[:, i], s, c)
        s_prev = torch.stack(states, dim=1)  # (B, T, n)
        c = torch.stack(contexts, dim=1)  # (B, T, 2n)
        logits = self.readout(s_prev, Ey, c)  # (B, T, V): the readout of all steps at once
        return logits, torch.stack(weights, dim=1)  # (B, T, V), (B, T, S)

    def decode_step(self, prev: torch.Tensor, state: torch.Tensor, memory):
        """One target step: prev (B,) and s_{i-1} (B, n) -> logits (B, V), s_i, weights (B, S)."""
        Ey = self.tgt_embed(prev)  # (B, m)
        c, a = self.attend(state, memory)
        logits = self.readout(state, Ey, c)
        return logits, self.gru_step(self.W(Ey), state, c), a
