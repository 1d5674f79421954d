"""ResNet era at ImageNet scale: ResNet-18/34/50 and the plain-18/34 nets of He et al. 2015, Table 1.

Reference: K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
arXiv:1512.03385. Table 1 gives the architectures: a 7x7 convolution with 64 filters and stride 2, a 3x3 max-pool
with stride 2, four stages of blocks on 56x56, 28x28, 14x14 and 7x7 maps (64, 128, 256, 512 filters; the first
block of stages 3-5 halves the map with stride 2), global average pooling and a 1000-way fully-connected layer.
18 and 34 layers use the two-layer 3x3 "basic" block (Fig. 5 left), 50 the 1x1-3x3-1x1 "bottleneck" with four
times as many output channels (Fig. 5 right). Batch normalisation after every convolution, before the ReLU.

What it stands for: Fig. 4 and Table 2 are the ImageNet degradation claim: plain-34 has a higher training and
validation error than plain-18, while ResNet-34 beats ResNet-18 (top-1 error 28.54 -> 25.03%, 10-crop).

Shortcuts (Sec. 3.3): identities where shapes match; where the channels grow, "option B" (a 1x1 projection with
stride, plus BN) by default, as for the paper's ResNet-50 and torchvision's models, or "option A" (subsample and
zero-pad, no parameters: Table 2's ResNet-18/34). The plain nets have no shortcuts at all.

Deviations: none in the architecture. The stride of a bottleneck's first block sits on its first 1x1
convolution, as in the paper (torchvision's "v1.5" moves it to the 3x3). Parameter counts (tested): ResNet-18
11,689,512, ResNet-34 21,797,672, ResNet-50 25,557,032 (Table 3 lists 25.6M), as torchvision's.

Shapes: B batch, C channels, H height, W width.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import ShortcutA

Shortcut = Literal["A", "B"]


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    """Option B (Sec. 3.3, Eq. 2): W_s x, a 1x1 convolution with stride, and its BN."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


def _shortcut(in_channels: int, out_channels: int, stride: int, residual: bool, kind: Shortcut) -> nn.Module | None:
    if not residual:
        return None
    if in_channels == out_channels and stride == 1:
        return nn.Identity()
    return _projection(in_channels, out_channels, stride) if kind == "B" else ShortcutA(in_channels, out_channels,
                                                                                          stride)


class Basic(nn.Module):
    """Fig. 5 left: 3x3, 3x3 (ResNet-18/34)."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int, residual: bool, shortcut: Shortcut) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.shortcut = _shortcut(in_channels, width, stride, residual, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # Eq. 1 (identity) or Eq. 2 (projection)
        return F.relu(out)


class Bottleneck(nn.Module):
    """Fig. 5 right: 1x1 (reduce), 3x3, 1x1 (restore to 4x width) (ResNet-50)."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int, residual: bool, shortcut: Shortcut) -> None:
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride=stride, bias=False)  # the paper's place for stride
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.shortcut = _shortcut(in_channels, out_channels, stride, residual, shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)
        return F.relu(out)


LAYOUTS = {18: (Basic, (2, 2, 2, 2)), 34: (Basic, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
           101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}  # Table 1


class ImageNetResNet(nn.Module):
    def __init__(
        self,
        depth: int = 50,  # Table 1: 18, 34, 50, 101, 152
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        residual: bool = True,  # False: the plain nets of Sec. 4.1 (Table 2, Fig. 4)
        shortcut: Shortcut = "B",  # Sec. 3.3 / 4.1: "A" zero-padding, "B" projections where the shape changes
        zero_init_residual: bool = False,  # not in the paper: each block starts as its shortcut (Goyal et al.)
    ) -> None:
        super().__init__()
        if depth not in LAYOUTS:
            raise ValueError(f"ImageNet ResNet depth must be one of {sorted(LAYOUTS)} (Table 1), got {depth!r}")
        if zero_init_residual and not residual:
            raise ValueError("zero_init_residual needs the shortcuts: a plain net whose blocks start at zero "
                             "passes no signal")
        block, counts = LAYOUTS[depth]
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        blocks, channels = [], 64
        for stage, (width, count) in enumerate(zip((64, 128, 256, 512), counts)):
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1  # conv3_1, conv4_1, conv5_1 (Table 1)
                blocks.append(block(channels, width, stride, residual, shortcut))
                channels = width * block.expansion
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.modules():  # He et al. 2015 (arXiv:1502.01852) initialisation, BN as the identity
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:  # Goyal et al. 2017 (arXiv:1706.02677), Sec. 5.1
            for b in self.blocks:
                nn.init.zeros_((b.bn3 if isinstance(b, Bottleneck) else b.bn2).weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, 224, 224)
        x = self.pool(F.relu(self.bn1(self.conv1(x))))  # (B, 64, 56, 56)
        x = self.blocks(x)  # (B, 512 or 2048, 7, 7)
        x = x.mean(dim=(2, 3))  # global average pooling: (B, 512 or 2048)
        return self.fc(x)  # (B, num_classes) logits


def resnet18(*, num_classes: int = 1000, shortcut: Shortcut = "B", zero_init_residual: bool = False
             ) -> ImageNetResNet:
    """Table 1: ResNet-18, 1.8 GFLOPs; Table 2: 27.88% top-1 error (10-crop, option A)."""
    return ImageNetResNet(18, num_classes=num_classes, shortcut=shortcut, zero_init_residual=zero_init_residual)


def resnet34(*, num_classes: int = 1000, shortcut: Shortcut = "B", zero_init_residual: bool = False
             ) -> ImageNetResNet:
    """Table 1: ResNet-34, 3.6 GFLOPs; Table 3: 24.52% top-1, 7.46% top-5 error (10-crop, option B)."""
    return ImageNetResNet(34, num_classes=num_classes, shortcut=shortcut, zero_init_residual=zero_init_residual)


def resnet50(*, num_classes: int = 1000, shortcut: Shortcut = "B", zero_init_residual: bool = False
             ) -> ImageNetResNet:
    """Table 1: ResNet-50, 3.8 GFLOPs, 25.6M params; Table 3: 22.85% top-1, 6.71% top-5 error (10-crop)."""
    return ImageNetResNet(50, num_classes=num_classes, shortcut=shortcut, zero_init_residual=zero_init_residual)


def plain18(*, num_classes: int = 1000) -> ImageNetResNet:
    """Table 2: plain-18, 27.94% top-1 error (10-crop): the plain twin of ResNet-18."""
    return ImageNetResNet(18, num_classes=num_classes, residual=False)


def plain34(*, num_classes: int = 1000) -> ImageNetResNet:
    """Table 2: plain-34, 28.54% top-1 error: worse than plain-18, the degradation problem at ImageNet scale."""
    return ImageNetResNet(34, num_classes=num_classes, residual=False)
