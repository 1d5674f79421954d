"""ResNet era: deep residual networks for CIFAR-10, and their plain twins.

Reference
- K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385.
  Sec. 4.2 describes the CIFAR-10 family reproduced here; Table 6 gives its parameter counts and test errors,
  Fig. 6 the training curves of the plain and residual nets.

The architecture (Sec. 4.2): a 3x3 convolution with 16 filters, then three stages of 2n 3x3 convolutions on maps of
32x32, 16x16 and 8x8 with 16, 32 and 64 filters, then global average pooling, a 10-way fully-connected layer and
softmax: 6n+2 weighted layers. Stages 2 and 3 start with a stride-2 convolution. Batch normalisation follows every
convolution, before the ReLU (Sec. 3.4). Residual nets add a shortcut around every pair of 3x3 convolutions; on
CIFAR the shortcuts are all identities, "option A" (Sec. 3.3): where the shape changes, the input is subsampled
with stride 2 and its new channels are zeros, so the residual and plain nets have exactly the same parameters.
He et al. do not say where the zero channels go; they are split half before and half after the identity channels,
as in akamaster/pytorch_resnet_cifar10, the CIFAR ResNets most used in PyTorch, so its published weights load into
these models unchanged (`milestones zoo import`).

| depth | n  | Table 6 params | measured here |
| 20    | 3  | 0.27M          | 269,722       |
| 32    | 5  | 0.46M          | 464,154       |
| 44    | 7  | 0.66M          | 658,586       |
| 56    | 9  | 0.85M          | 853,018       |
| 110   | 18 | 1.7M           | 1,727,962     |

What it stands for in the history: plain nets get *worse* as they get deeper (Fig. 6 left, the degradation
problem: plain-56 trains to a higher error than plain-20), while residual nets get better (Fig. 6 middle), since
each block only has to learn a correction to the identity.

Deviations: none in the architecture. `zero_init_residual=True` (off by default, not in the paper) starts the last
BN of every residual branch at zero (Goyal et al. 2017, Sec. 5.1), a training trick for short schedules.
He et al. do not say how the final fully-connected layer was initialised; here it is N(0, 0.01^2) with zero bias
(small initial logits). Sec. 4.2 subtracts the per-pixel mean image; our data pipeline normalises per channel
(mean and std), which changes nothing structural.

Shapes: B batch, C channels, H height, W width.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ShortcutA(nn.Module):
    """Option A (Sec. 3.3): identity, with stride-2 subsampling and zero-padded extra channels; no parameters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.before, self.after = extra // 2, extra - extra // 2  # 16 -> 32: 8 zero channels, 16 identity, 8 zero

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]  # (B, C, H/2, W/2)
        if self.before or self.after:
            x = F.pad(x, (0, 0, 0, 0, self.before, self.after))  # zeros either side of the channels: (B, C_out, H, W)
        return x


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers; with `residual` the input is added back before the last ReLU (Fig. 2, Eq. 1)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = ShortcutA(in_channels, out_channels, stride) if residual else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # Eq. 1: y = F(x, {W_i}) + x
        return F.relu(out)


class ResNet(nn.Module):
    def __init__(
        self,
        depth: int = 20,  # 6n+2 weighted layers: 20, 32, 44, 56, 110 in Table 6
        *,
        num_classes: int = 10,
        in_channels: int = 3,
        residual: bool = True,  # False: the plain net of Sec. 4.2 (same layers, no shortcuts)
        zero_init_residual: bool = False,  # not in the paper: each block starts as the identity (Goyal et al.)
    ) -> None:
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
            raise ValueError(f"ResNet depth must be 6n+2 for some n >= 1 (8, 14, 20, 32, 44, 56, 110, ...), "
                             f"got {depth!r}")
        if zero_init_residual and not residual:
            raise ValueError("zero_init_residual needs the shortcuts: a plain net whose blocks start at zero "
                             "passes no signal")
        n = (depth - 2) // 6
        self.depth, self.residual, self.zero_init_residual = depth, residual, zero_init_residual
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, width = [], 16
        for stage, out_width in enumerate((16, 32, 64)):  # Sec. 4.2: {16, 32, 64} filters on {32, 16, 8} maps
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(width, out_width, stride, residual))
                width = out_width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Sec. 3.4 / 4.2: the initialisation of He et al. 2015 (arXiv:1502.01852) for the conv layers, in the
        # fan_out form that torchvision and fb.resnet.torch use; BN starts as the identity.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        if self.zero_init_residual:
            # Goyal et al. 2017 (arXiv:1706.02677), Sec. 5.1: the last BN of every residual branch starts at
            # gamma = 0, so every block starts as its shortcut and the net as a shallow one.
            for block in self.blocks:
                nn.init.zeros_(block.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, 32, 32)
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 16, 32, 32)
        x = self.blocks(x)  # (B, 64, 8, 8)
        x = x.mean(dim=(2, 3))  # global average pooling: (B, 64)
        return self.fc(x)  # (B, num_classes) logits


# --- Table 6 presets ------------------------------------------------------------------------------------------------

def resnet20(*, num_classes: int = 10, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """Table 6: ResNet-20, n=3, 0.27M params, 8.75% CIFAR-10 test error."""
    return ResNet(20, num_classes=num_classes, in_channels=in_channels, zero_init_residual=zero_init_residual)


def resnet32(*, num_classes: int = 10, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """Table 6: ResNet-32, n=5, 0.46M params, 7.51% CIFAR-10 test error."""
    return ResNet(32, num_classes=num_classes, in_channels=in_channels, zero_init_residual=zero_init_residual)


def resnet44(*, num_classes: int = 10, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """Table 6: ResNet-44, n=7, 0.66M params, 7.17% CIFAR-10 test error."""
    return ResNet(44, num_classes=num_classes, in_channels=in_channels, zero_init_residual=zero_init_residual)


def resnet56(*, num_classes: int = 10, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """Table 6: ResNet-56, n=9, 0.85M params, 6.97% CIFAR-10 test error."""
    return ResNet(56, num_classes=num_classes, in_channels=in_channels, zero_init_residual=zero_init_residual)


def resnet110(*, num_classes: int = 10, in_channels: int = 3, zero_init_residual: bool = False) -> ResNet:
    """Table 6: ResNet-110, n=18, 1.7M params, 6.43% CIFAR-10 test error (best of 5 runs; mean 6.61 +- 0.16)."""
    return ResNet(110, num_classes=num_classes, in_channels=in_channels, zero_init_residual=zero_init_residual)


def plain20(*, num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """Plain twin of ResNet-20 (Sec. 4.2, Fig. 6 left): same 0.27M params, no shortcuts."""
    return ResNet(20, num_classes=num_classes, in_channels=in_channels, residual=False)


def plain32(*, num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """Plain twin of ResNet-32 (Fig. 6 left): same 0.46M params, no shortcuts."""
    return ResNet(32, num_classes=num_classes, in_channels=in_channels, residual=False)


def plain44(*, num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """Plain twin of ResNet-44 (Fig. 6 left): same 0.66M params, no shortcuts."""
    return ResNet(44, num_classes=num_classes, in_channels=in_channels, residual=False)


def plain56(*, num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """Plain twin of ResNet-56 (Fig. 6 left): same 0.85M params, no shortcuts; trains worse than plain-20."""
    return ResNet(56, num_classes=num_classes, in_channels=in_channels, residual=False)


def plain110(*, num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """Plain twin of ResNet-110: same 1.7M params, no shortcuts (He et al. show plain nets up to 56 in Fig. 6)."""
    return ResNet(110, num_classes=num_classes, in_channels=in_channels, residual=False)
