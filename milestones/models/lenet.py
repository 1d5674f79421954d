"""CNN era, 1998: LeNet-5, the convolutional net AlexNet scaled up, for 28x28 digits.

Reference: Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to document recognition",
Proc. IEEE 86(11), 1998. Sec. II.B and Fig. 2 describe LeNet-5: C1 (6 maps 5x5), S2, C3 (16 maps 5x5), S4,
C5 (120 maps 5x5), F6 (84 units), output layer; about 60,000 trainable parameters.

Shapes: B batch, C channels, H height, W width.
"""

from __future__ import annotations

import torch
from torch import nn


def he_init(module: nn.Module) -> None:
    """He et al. 2015 (arXiv:1502.01852) normal initialisation for every conv and linear layer, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 MNIST: 61,706 parameters with the defaults.

    Deviations from LeCun et al. 1998, all of them the modern defaults the rest of this zoo uses:
    - ReLU instead of the scaled tanh (Sec. II.B, Appendix A), max-pooling instead of the trainable subsampling
      layers S2 and S4 (average of 2x2 times a learned coefficient plus bias, then sigmoid);
    - C3 connects every S2 map to every C3 map (the paper's Table I connects each C3 map to 3, 4 or 6 of the 6
      maps, to break symmetry and save connections: 1,516 instead of 2,416 parameters);
    - a plain linear output layer with softmax cross-entropy instead of the Euclidean RBF units with fixed
      ASCII-bitmap centres (Sec. II.B, Eq. 7) and the MAP criterion (Sec. II.C, Eq. 9);
    - the paper pads MNIST's 28x28 digits to a 32x32 field; `padding=2` in C1 does the same (use 0 for 32x32 input).
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, padding: int = 2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=padding), nn.ReLU(inplace=True),  # C1: (B, 6, 28, 28)
            nn.MaxPool2d(2),  # S2: (B, 6, 14, 14)
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True),  # C3: (B, 16, 10, 10)
            nn.MaxPool2d(2),  # S4: (B, 16, 5, 5)
            nn.Conv2d(16, 120, 5), nn.ReLU(inplace=True),  # C5: (B, 120, 1, 1), a convolution in the paper too
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 120)
            nn.Linear(120, 84), nn.ReLU(inplace=True),  # F6
            nn.Linear(84, num_classes),  # output layer (RBF units in the paper)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # He et al. 2015 for ReLU units; the paper's uniform +-2.4/fan_in (Appendix A) suits tanh.
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 1, 28, 28)
        return self.classifier(self.features(x))  # (B, num_classes) logits
