"""MLP era: a multilayer perceptron on raw pixels.

References
- D. E. Rumelhart, G. E. Hinton, R. J. Williams, "Learning representations by back-propagating errors",
  Nature 323, 1986: hidden layers of units trained end to end by back-propagation.
- N. Srivastava, G. Hinton, A. Krizhevsky, I. Sutskever, R. Salakhutdinov, "Dropout: A Simple Way to Prevent
  Neural Networks from Overfitting", JMLR 15, 2014 (first as arXiv:1207.0580): the defaults below, two hidden
  layers of 1024 ReLU units, dropout 0.5 on hidden units and 0.2 on the input pixels (Sec. 6.1.1, Table 2:
  1.25% to 1.06% MNIST test error for such nets, trained far longer than our CPU configs).

What it stands for in the history: every pixel is an independent input feature. The network has no notion that
neighbouring pixels belong together or that a digit shifted by one pixel is the same digit, so it must learn each
position separately. That is good enough for centred, size-normalised digits (MNIST ~98-99%) and poor on natural
photos (CIFAR-10, ~55%), the gap the convolutional era closes.

Deviations from Rumelhart et al. 1986: ReLU units (Nair & Hinton 2010) instead of logistic ones, softmax
cross-entropy instead of squared error, dropout (2012/2014). Srivastava et al. also used a max-norm constraint,
which is left out: it changes little at our short schedules.

Shapes: B batch, C channels, H height, W width, D = C*H*W input features.
"""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(
        self,
        *,
        in_features: int = 784,  # 28*28 MNIST pixels; 3*32*32 = 3072 for CIFAR-10
        num_classes: int = 10,
        hidden: tuple[int, ...] = (1024, 1024),  # Srivastava et al. 2014, Table 2
        dropout: float = 0.5,  # on hidden units, Srivastava et al. 2014 Sec. 6.1.1
        input_dropout: float = 0.2,  # on the input pixels, same section
    ) -> None:
        super().__init__()
        self.in_features = in_features
        layers: list[nn.Module] = [nn.Flatten(), nn.Dropout(input_dropout)]
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # He et al. 2015 (arXiv:1502.01852) initialisation suits ReLU units; zero biases.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C, H, W) -> Flatten -> (B, D); a flat (B, D) input works too
        if x[0].numel() != self.in_features:
            raise ValueError(f"MLP expects {self.in_features} input features per sample, got {x[0].numel()} "
                             f"(shape {tuple(x.shape[1:])}); set model.in_features")
        return self.net(x)  # (B, num_classes) logits
