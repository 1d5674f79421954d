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


class AlexNet224(nn.Module):
    """AlexNet at the paper's own scale, for 224x224 ImageNet crops: 60,965,224 parameters with the defaults.

    Krizhevsky et al. 2012, Sec. 3.5 and Fig. 2: conv1 96 kernels 11x11 stride 4; conv2 256 5x5; conv3 384 3x3;
    conv4 384 3x3; conv5 256 3x3; LRN after conv1 and conv2 (Sec. 3.3); overlapping 3x3 stride-2 max-pooling after
    both normalisations and after conv5 (Sec. 3.4); fully-connected 4096, 4096 with dropout 0.5 (Sec. 4.2), 1000
    ways. The two-GPU split is kept as grouped convolutions (`towers=2`): conv2, conv4 and conv5 see only their own
    tower's half of the previous layer, conv3 and the fully-connected layers see both (Sec. 3.2), which gives the
    paper's "60 million parameters". `towers=1` is the single-column form (62.4M; torchvision's variant is narrower,
    61.1M, after Krizhevsky 2014, arXiv:1404.5997).

    Deviations: conv1 pads by 2 so 224 inputs give the paper's 55x55 maps (the paper's 224 and 55 do not fit
    without it; 227 inputs would); an adaptive average pool to 6x6 before the classifier (as torchvision's), which
    changes nothing at 224x224 and lets other sizes through; He initialisation with zero biases instead of N(0, 0.01^2) and biases of 1
    (Sec. 5), as in the 32x32 model above.
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        num_classes: int = 1000,
        towers: int = 2,  # Sec. 3.2: two GPUs
        dropout: float = 0.5,  # Sec. 4.2
        lrn: bool = True,  # Sec. 3.3
    ) -> None:
        super().__init__()
        if towers not in (1, 2):
            raise ValueError(f"towers must be 1 (one column) or 2 (the paper's two GPUs), got {towers!r}")

        def norm() -> nn.Module:  # Sec. 3.3, as in AlexNet above
            return nn.LocalResponseNorm(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0) if lrn else nn.Identity()

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True), norm(),  # (B, 96, 55, 55)
            nn.MaxPool2d(3, 2),  # (B, 96, 27, 27)
            nn.Conv2d(96, 256, 5, padding=2, groups=towers), nn.ReLU(inplace=True), norm(),  # (B, 256, 27, 27)
            nn.MaxPool2d(3, 2),  # (B, 256, 13, 13)
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),  # (B, 384, 13, 13): both towers' maps
            nn.Conv2d(384, 384, 3, padding=1, groups=towers), nn.ReLU(inplace=True),  # (B, 384, 13, 13)
            nn.Conv2d(384, 256, 3, padding=1, groups=towers), nn.ReLU(inplace=True),  # (B, 256, 13, 13)
            nn.MaxPool2d(3, 2),  # (B, 256, 6, 6)
            nn.AdaptiveAvgPool2d(6),  # (B, 256, 6, 6): the identity at 224x224; other sizes (tests, fine-tuning) fit
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),  # (B, 9216)
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),  # Sec. 4.2
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, 224, 224)
        return self.classifier(self.features(x))  # (B, num_classes) logits
