"""CNN era, 2012: AlexNet, small enough for 32x32 images on a CPU.

Reference: A. Krizhevsky, I. Sutskever, G. E. Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NeurIPS 2012. Sec. 3 and Fig. 2 describe AlexNet: five convolutional layers (96, 256, 384, 384, 256
kernels, split over two GPUs), ReLU (Sec. 3.1), local response normalisation after conv1 and conv2 (Sec. 3.3),
overlapping 3x3 stride-2 max-pooling after both normalisations and after conv5 (Sec. 3.4, 3.5), two
fully-connected layers of 4096 ReLU units with dropout 0.5 (Sec. 4.2), a 1000-way softmax; 60M parameters.

What it stands for in the history: weights shared across positions (convolution) and pooling build the prior the
MLP lacks, that a pattern is the same wherever it appears. LeNet-5 (lenet.py) showed it on digits; AlexNet showed
the same recipe, scaled up with ReLU, dropout, data augmentation and GPUs, wins on natural images.

Shapes: B batch, C channels, H height, W width.
"""

from __future__ import annotations

import torch
from torch import nn

from .lenet import he_init


class AlexNet(nn.Module):
    """AlexNet for 32x32 CIFAR-10: 2,343,530 parameters, 26M multiply-adds per image with the defaults.

    Kept from Krizhevsky et al. 2012: five ReLU conv layers with 5x5, 5x5, 3x3, 3x3, 3x3 kernels (conv2-5 as in
    the paper), LRN after conv1 and conv2 when `lrn=True`, overlapping 3x3 stride-2 max-pooling after conv1,
    conv2 and conv5, two ReLU fully-connected hidden layers with dropout 0.5 on their outputs, most parameters in
    the fully-connected layers (2.1M of 2.3M here, 58M of 61M in the paper).

    Changed for 32x32 inputs, one GPU and a CPU budget of about a minute per CIFAR-10 epoch:
    - conv1 is 5x5 with stride 1 instead of 11x11 with stride 4: a 32x32 image has no room for a stride-4 layer
      (it would leave 8x8 maps before the first pooling);
    - pooling pads by 1 so the maps go 32 -> 16 -> 8 -> 4 (the paper's 55 -> 27 -> 13 -> 6);
    - a quarter of the paper's channels by default, (24, 64, 96, 96, 64) instead of (96, 256, 384, 384, 256), and
      fully-connected layers of 1024 instead of 4096 units: a CIFAR-10 epoch stays near a minute on 2 CPU cores;
    - one column: the paper splits every layer over two GPUs, with conv2, conv4 and conv5 seeing only their own
      GPU's half of the previous layer (Sec. 3.2, Fig. 2); here every layer sees all of the previous one;
    - LRN is off by default: later work (and Simonyan & Zisserman 2014, arXiv:1409.1556, Sec. 4.1) found it
      does not help;
    - He initialisation and zero biases instead of N(0, 0.01^2) weights and biases of 1 in conv2, conv4, conv5 and
      the hidden fully-connected layers (Sec. 5), which start slowly without the paper's 90 epochs;
    - the paper's augmentation (224 crops of 256 images, flips, PCA colour noise, Sec. 4.1) is the data config's
      business: crop_padding and flip.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        channels: tuple[int, ...] = (24, 64, 96, 96, 64),  # paper: (96, 256, 384, 384, 256)
        hidden: int = 1024,  # paper: 4096
        dropout: float = 0.5,  # Sec. 4.2
        lrn: bool = False,  # Sec. 3.3
    ) -> None:
        super().__init__()
        if len(channels) != 5:
            raise ValueError(f"AlexNet has five conv layers; channels must hold 5 numbers, got {channels!r}")
        c1, c2, c3, c4, c5 = channels

        def norm() -> nn.Module:
            # Sec. 3.3: b = a / (k + alpha * sum of a^2 over n=5 neighbouring maps)^beta, k=2, alpha=1e-4,
            # beta=0.75. torch divides alpha by n, so it gets 5 * 1e-4 to match the paper's formula.
            return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        def pool() -> nn.Module:
            return nn.MaxPool2d(kernel_size=3, stride=2, padding=1)  # overlapping pooling, Sec. 3.4

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=2), nn.ReLU(inplace=True), norm(), pool(),  # (B, c1, 16, 16)
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(inplace=True), norm(), pool(),  # (B, c2, 8, 8)
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),  # (B, c3, 8, 8)
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),  # (B, c4, 8, 8)
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(inplace=True), pool(),  # (B, c5, 4, 4)
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, c5 * 4 * 4)
            nn.Linear(c5 * 4 * 4, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),  # Sec. 4.2
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # See the class docstring for the paper's own scheme.
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, 32, 32)
        return self.classifier(self.features(x))  # (B, num_classes) logits
