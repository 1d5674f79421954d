"""RNN era: the LSTM and the plain tanh RNN it was built to beat, as sequence regressors for the adding problem.

References
- S. Hochreiter, J. Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8):1735-1780, 1997 (no arXiv id).
  Sec. 4 defines the memory cell and its input and output gates; Sec. 5.4 (Experiment 4) the adding problem
  that `AddingRNN` is trained on (milestones/data/synthetic.py), Table 7 its results.
- F. Gers, J. Schmidhuber, F. Cummins, "Learning to Forget: Continual Prediction with LSTM", Neural Computation
  12(10), 2000: the FORGET GATE f_t. It IS used here (it is what every LSTM since, torch's included, means);
  the 1997 cell is the special case f_t = 1. No peephole connections (Gers & Schmidhuber 2000).
- J. Elman, "Finding Structure in Time", Cognitive Science 14, 1990: the simple recurrent (tanh) network, the
  baseline whose gradient vanishes over long lags (Hochreiter 1991; Bengio, Simard & Frasconi 1994).

The cell, one step (gate order i, f, g, o as in torch, so that the written-out cell and nn.LSTM share weights):
    i_t = sigmoid(W_i x_t + b_ii + U_i h_{t-1} + b_hi)     input gate         (1997, Sec. 4: y^in)
    f_t = sigmoid(W_f x_t + b_if + U_f h_{t-1} + b_hf)     forget gate        (Gers et al. 2000)
    g_t = tanh(W_g x_t + b_ig + U_g h_{t-1} + b_hg)        cell input         (1997: g(net_c))
    o_t = sigmoid(W_o x_t + b_io + U_o h_{t-1} + b_ho)     output gate        (1997: y^out)
    c_t = f_t * c_{t-1} + i_t * g_t                        the constant error carousel, gated
    h_t = o_t * tanh(c_t)                                  (1997: y^c = y^out h(s_c))
`LSTMCell` is exactly this; `torch.nn.LSTM` (cuDNN / fused CPU kernels) runs the same equations over a whole
sequence and is the fast path used in training. `LSTMCell.sharing(lstm)` makes a cell holding the very same
parameter tensors, and the tests check the two agree.

Deviations from Experiment 4 (Sec. 5.4): the paper's net has 2 memory cell blocks of size 2 (four cells, one
input and one output gate per block), sigmoid output unit, trained by its truncated-gradient RTRL variant online,
one sequence at a time. Here: `hidden_size` cells each with its own gates (default 4, the paper's four cells;
the CPU configs use more), a linear output read at each sequence's last step, full backpropagation through time
with Adam on mini-batches. The forget-gate bias starts at `forget_bias` (default 1, Jozefowicz, Zaremba &
Sutskever 2015's recommendation; Gers et al. 2000 start it positive); the adding configs use 4, so that the gate
starts near the 1997 cell's f = 1 (sigmoid(4) = 0.98): with 1, f = 0.73 forgets a marked value within a few
steps, and at T = 100 training stayed at the baseline (configs/lstm_adding_t100.yaml). Other weights: torch's
U(-1/sqrt(H), 1/sqrt(H)).

Shapes: B batch, T time steps, I input features (2: value, marker), H hidden size.
"""

from __future__ import annotations

from typing import Literal, Optional

import torch
from torch import nn


class LSTMCell(nn.Module):
    """One step of the LSTM with a forget gate, written out (equations in the module docstring)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # [W_i; W_f; W_g; W_o]
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))  # [U_i; U_f; U_g; U_o]
        self.bias_ih = nn.Parameter(torch.zeros(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(4 * hidden_size))

    @classmethod
    def sharing(cls, lstm: nn.LSTM) -> "LSTMCell":
        """A cell whose parameters ARE the first layer of `lstm` (same tensors: a change to one is in both)."""
        cell = cls(lstm.input_size, lstm.hidden_size)
        cell.weight_ih, cell.weight_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
        cell.bias_ih, cell.bias_hh = lstm.bias_ih_l0, lstm.bias_hh_l0
        return cell

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state  # (B, H), (B, H)
        z = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        zi, zf, zg, zo = z.chunk(4, dim=-1)  # each (B, H)
        i = torch.sigmoid(zi)  # input gate
        f = torch.sigmoid(zf)  # forget gate (Gers et al. 2000)
        g = torch.tanh(zg)  # cell input
        o = torch.sigmoid(zo)  # output gate
        c = f * c + i * g  # cell state: the error carousel
        h = o * torch.tanh(c)
        return h, c


class RNNCell(nn.Module):
    """One step of Elman's simple recurrent network: h_t = tanh(W x_t + b_ih + U h_{t-1} + b_hh)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.zeros(hidden_size))
        self.bias_hh = nn.Parameter(torch.zeros(hidden_size))

    @classmethod
    def sharing(cls, rnn: nn.RNN) -> "RNNCell":
        cell = cls(rnn.input_size, rnn.hidden_size)
        cell.weight_ih, cell.weight_hh = rnn.weight_ih_l0, rnn.weight_hh_l0
        cell.bias_ih, cell.bias_hh = rnn.bias_ih_l0, rnn.bias_hh_l0
        return cell

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh)  # (B, H)


class AddingRNN(nn.Module):
    """A one-layer recurrent net reading (value, marker) pairs, one scalar out at each sequence's last step.

    forward(x (B, T, 2), lengths (B,)) -> (B,). `stepwise=True` runs the written-out cell in a Python loop
    instead of torch's fused kernel: same parameters, same numbers, much slower.
    """

    def __init__(self, *, cell: Literal["lstm", "rnn"] = "lstm", input_size: int = 2, hidden_size: int = 4,
                 forget_bias: float = 1.0) -> None:
        super().__init__()
        self.cell_type, self.forget_bias = cell, forget_bias
        if cell == "lstm":
            self.rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        elif cell == "rnn":
            self.rnn = nn.RNN(input_size, hidden_size, nonlinearity="tanh", batch_first=True)
        else:
            raise ValueError(f"cell must be 'lstm' or 'rnn', got {cell!r}")
        self.out = nn.Linear(hidden_size, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.rnn.reset_parameters()  # U(-1/sqrt(H), 1/sqrt(H)), torch's default
        if self.cell_type == "lstm":
            H = self.rnn.hidden_size
            with torch.no_grad():
                self.rnn.bias_ih_l0[H:2 * H].fill_(self.forget_bias)  # forget gate starts open (module docstring)
                self.rnn.bias_hh_l0[H:2 * H].zero_()

    @property
    def cell(self) -> nn.Module:
        """The written-out cell, sharing this model's recurrent weights (not a submodule: no duplicate keys)."""
        return LSTMCell.sharing(self.rnn) if self.cell_type == "lstm" else RNNCell.sharing(self.rnn)

    def run_stepwise(self, x: torch.Tensor) -> torch.Tensor:
        """All hidden states (B, T, H), one `cell` step at a time from a zero state."""
        cell, B, H = self.cell, x.shape[0], self.rnn.hidden_size
        h = x.new_zeros(B, H)
        c = x.new_zeros(B, H)
        outputs = []
        for t in range(x.shape[1]):
            if self.cell_type == "lstm":
                h, c = cell(x[:, t], (h, c))
            else:
                h = cell(x[:, t], h)
            outputs.append(h)
        return torch.stack(outputs, dim=1)  # (B, T, H)

    def forward(self, x: torch.Tensor, lengths: Optional[torch.Tensor] = None, *,
                stepwise: bool = False) -> torch.Tensor:
        B, T, _ = x.shape
        hs = self.run_stepwise(x) if stepwise else self.rnn(x)[0]  # (B, T, H)
        # The net is causal, so the state at each sequence's last real step ignores the padding after it.
        last = (lengths - 1) if lengths is not None else torch.full((B,), T - 1, device=x.device)
        h_end = hs[torch.arange(B, device=x.device), last.to(x.device)]  # (B, H)
        return self.out(h_end).squeeze(-1)  # (B,)


def adding_lstm(*, hidden_size: int = 4, forget_bias: float = 1.0) -> AddingRNN:
    """LSTM for Experiment 4: four memory cells by default (the paper's two blocks of size 2)."""
    return AddingRNN(cell="lstm", hidden_size=hidden_size, forget_bias=forget_bias)


def adding_rnn(*, hidden_size: int = 4) -> AddingRNN:
    """Elman tanh RNN baseline for Experiment 4, the same size as `adding_lstm`."""
    return AddingRNN(cell="rnn", hidden_size=hidden_size)
