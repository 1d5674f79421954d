"""The adding problem: Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", Neural Computation 9(8), Sec. 5.4,
Experiment 4 (no arXiv id; the paper predates arXiv's cs section).

The variant implemented is the paper's own, word for word as far as it goes:
- A sequence is T' pairs (value, marker), T' an integer drawn uniformly from [T, T + T/10] (T/10 rounded down).
- Values are uniform in [-1, 1]. Markers are 0.0 except: the first and the last pair carry -1.0, and exactly two
  pairs carry 1.0. The first marked pair (value X1) is one of the first ten pairs; the second (value X2) is one
  of the first T/2 - 1 pairs still unmarked. When X1's pair is the sequence's first pair, X1 is set to 0 (the
  paper's rule; X2 may also land on the first pair, and the paper states no rule for it, so it keeps its value).
- The target, given only at the sequence end, is 0.5 + (X1 + X2) / 4: the sum scaled into [0, 1].
- A sequence counts as correct when the absolute error at its end is below 0.04 (the paper's criterion).

This is NOT the popular later variant (Le, Jaitly & Hinton 2015, arXiv:1504.00941; Arjovsky et al. 2016): values
in [0, 1], fixed length, one marker per half, target the plain sum (constant-prediction MSE 1/6 = 0.167). Here:

    Baseline: always predicting the mean target 0.5 has MSE Var(target) = (E[X1^2] + E[X2^2]) / 16
              = (0.9 * 1/3 + 1/3) / 16 = 0.0396 (X1 is 0 with probability 1/10), and gets
              P(|X1 + X2| < 0.16) = 0.9 * 0.1536 + 0.1 * 0.16 = 15.4% of sequences "correct".
              (Checked by simulation in tests/test_sequence_eras.py.)

Batches are (x (B, T_max, 2) float, lengths (B,) int64, y (B,) float), zero-padded after each sequence's end;
T_max = T + T/10. The paper trains online on fresh sequences; so does `AddingLoader`: epoch e draws its
sequences from a generator seeded with (seed, e) alone, so a resumed run sees the same data. The test set
(2560 sequences, the size of Table 7's test sets) comes from its own fixed seed.
"""

from __future__ import annotations

from typing import Iterator

import torch

ADDING_CRITERION = 0.04  # Sec. 5.4: "absolute error at the sequence end below 0.04"


def adding_problem(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`n` sequences of the adding problem with minimal length `T`: (x (n, T_max, 2), lengths (n,), y (n,))."""
    if T < 10:
        raise ValueError(f"adding problem needs T >= 10 (the first marker is one of the first ten pairs), got {T}")
    T_max = T + T // 10
    lengths = torch.randint(T, T_max + 1, (n,), generator=generator)  # (n,)
    steps = torch.arange(T_max)
    valid = steps[None, :] < lengths[:, None]  # (n, T_max)
    values = (torch.rand(n, T_max, generator=generator) * 2 - 1) * valid  # U[-1, 1], zero after the end
    first = torch.randint(0, 10, (n,), generator=generator)  # X1: one of the first ten pairs
    # X2: one of the first T/2 - 1 still-unmarked pairs. Draw a rank r among them, then skip over X1's pair.
    r = torch.randint(0, T // 2 - 1, (n,), generator=generator)
    second = r + (r >= first).long()
    rows = torch.arange(n)
    values[rows[first == 0], 0] = 0.0  # "X1 is set to zero in the rare case where the first pair got marked"
    markers = torch.zeros(n, T_max)
    markers[:, 0] = -1.0
    markers[rows, lengths - 1] = -1.0
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)  # (n, T_max, 2)
    y = 0.5 + (values[rows, first] + values[rows, second]) / 4.0  # (n,)
    return x, lengths, y


class AddingLoader:
    """Batches (x, lengths, y) of the adding problem, fresh each epoch (or fixed: `fixed=True` for the test set).

    Sharding under DDP follows `BatchLoader`: every rank draws the same global batch and keeps the interleaved
    share `[rank::world_size]`, so N ranks see exactly the sequences one process would.
    """

    def __init__(self, *, num_sequences: int, seq_len: int, batch_size: int, seed: int = 0, fixed: bool = False,
                 rank: int = 0, world_size: int = 1, drop_last: bool = False, device: torch.device | str = "cpu"):
        self.num_sequences, self.seq_len, self.batch_size = num_sequences, seq_len, batch_size
        self.seed, self.epoch, self.fixed = seed, 0, fixed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.device = torch.device(device)
        self._cache = None
        if fixed:  # drawn once: the same sequences at every evaluation
            self._cache = adding_problem(num_sequences, seq_len, torch.Generator().manual_seed(seed))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Number of global batches (= optimizer steps per epoch)."""
        if self.drop_last:
            return self.num_sequences // self.batch_size
        return (self.num_sequences + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        if self._cache is not None:
            x, lengths, y = self._cache
        else:
            x, lengths, y = adding_problem(self.num_sequences, self.seq_len,
                                           torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch))
        mine = slice(self.rank, None, self.world_size)  # this rank's share of each global batch
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            sl = slice(start, start + self.batch_size)
            xb, lb, yb = x[sl][mine], lengths[sl][mine], y[sl][mine]
            if len(yb) == 0:
                continue
            yield xb.to(self.device), lb.to(self.device), yb.to(self.device)
