"""N CIFAR ResNets (or plain nets) of the same depth as ONE network of grouped convolutions, to fill a GPU.

A ResNet-20 step on a batch of 128 32x32 images is far too small for a large GPU: kernel launches and Python, not
arithmetic, bound it (issue #18: ~1% of an H200). Packing N such nets side by side makes every kernel N times
bigger and launches it once: each convolution becomes a grouped convolution with N groups (group i holds model i's
filters and sees only model i's channels), each BatchNorm one BatchNorm over N times the channels (its statistics
are per channel, so per model), the classifier one batched matrix product. Model i reads only its own images:
the input is (B, N, C, H, W), model i's batch in [:, i]. The models share no parameter, so the gradient of the sum
of their losses with respect to model i's weights is exactly the gradient of model i's own loss: SGD (with momentum
and weight decay, which act elementwise) trains each model as it would alone; tests/test_models.py checks a packed
step against N lone steps. This is the packing He et al.'s Table 6 sweep needs (five depths x plain/residual, or
several seeds of one depth). Architecture, shapes and initialisation follow resnet.py (He et al. 2015, Sec. 4.2,
arXiv:1512.03385), option-A shortcuts with the zero channels either side of each model's own channels.

Shapes: B batch, N models, C channels, H height, W width.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .resnet import ResNet


class PackedShortcutA(nn.Module):
    """Option A for each of N models: subsample, zero channels either side of the model's own (as ShortcutA).
    `residual[i]` False: model i is a plain net, its shortcut is multiplied by zero (so plain and residual nets of
    one depth pack together, as He et al.'s Fig. 6 compares them)."""

    def __init__(self, n: int, in_channels: int, out_channels: int, stride: int, residual: tuple[bool, ...]) -> None:
        super().__init__()
        self.n, self.stride = n, stride
        extra = out_channels - in_channels
        self.before, self.after = extra // 2, extra - extra // 2
        self.mask: Optional[torch.Tensor]
        if all(residual):
            self.mask = None
        else:  # (1, N*C_out, 1, 1): 1 on a residual model's channels, 0 on a plain model's; not in the state_dict
            mask = torch.tensor(residual, dtype=torch.float32).repeat_interleave(out_channels)
            self.register_buffer("mask", mask.view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]  # (B, N*C, H/2, W/2)
        if self.before or self.after:
            b, nc, h, w = x.shape
            x = x.view(b, self.n, nc // self.n, h, w)  # (B, N, C, H, W)
            x = F.pad(x, (0, 0, 0, 0, self.before, self.after))  # (B, N, C_out, H, W)
            x = x.reshape(b, -1, h, w)  # (B, N*C_out, H, W)
        return x if self.mask is None else x * self.mask.to(x.dtype)


class PackedBlock(nn.Module):
    def __init__(self, n: int, in_channels: int, out_channels: int, stride: int, residual: tuple[bool, ...]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(n * in_channels, n * out_channels, 3, stride=stride, padding=1, bias=False, groups=n)
        self.bn1 = nn.BatchNorm2d(n * out_channels)
        self.conv2 = nn.Conv2d(n * out_channels, n * out_channels, 3, padding=1, bias=False, groups=n)
        self.bn2 = nn.BatchNorm2d(n * out_channels)
        self.shortcut = PackedShortcutA(n, in_channels, out_channels, stride, residual) if any(residual) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # Eq. 1, for every residual model at once
        return F.relu(out)


class PackedResNet(nn.Module):
    def __init__(self, n: int, depth: int = 20, *, num_classes: int = 10, in_channels: int = 3,
                 residual: bool | Sequence[bool] = True) -> None:
        super().__init__()
        if n < 1 or (depth - 2) % 6 or depth < 8:
            raise ValueError(f"PackedResNet needs n >= 1 models of depth 6k+2, got n={n}, depth={depth}")
        flags = (residual,) * n if isinstance(residual, bool) else tuple(bool(r) for r in residual)
        if len(flags) != n:
            raise ValueError(f"PackedResNet: {len(flags)} residual flags for {n} models")
        self.n, self.depth, self.residual = n, depth, flags
        self.conv1 = nn.Conv2d(n * in_channels, n * 16, 3, padding=1, bias=False, groups=n)
        self.bn1 = nn.BatchNorm2d(n * 16)
        blocks, width = [], 16
        for stage, out_width in enumerate((16, 32, 64)):
            for i in range((depth - 2) // 6):
                blocks.append(PackedBlock(n, width, out_width, 2 if stage > 0 and i == 0 else 1, flags))
                width = out_width
        self.blocks = nn.Sequential(*blocks)
        self.fc_weight = nn.Parameter(torch.zeros(n, num_classes, 64))
        self.fc_bias = nn.Parameter(torch.zeros(n, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c, h, w = x.shape  # model i's images in x[:, i]
        x = x.reshape(b, n * c, h, w)  # (B, N*C, H, W): model i's channels are block i
        x = F.relu(self.bn1(self.conv1(x)))  # (B, N*16, H, W)
        x = self.blocks(x)  # (B, N*64, H/4, W/4)
        x = x.mean(dim=(2, 3)).view(b, n, 64)  # global average pooling: (B, N, 64)
        return torch.einsum("bnc,nkc->bnk", x, self.fc_weight) + self.fc_bias  # (B, N, num_classes)

    # --- N lone models in, N lone models out ---------------------------------------------------------------------
    # The same two rules map weights, BN statistics and per-parameter optimizer state (momentum, Adam's moments),
    # all keyed like the state_dict: the classifier is stacked along a new first dimension, every other tensor
    # (conv filters along out-channels, BN vectors) is concatenated along its first.

    @classmethod
    def pack(cls, models: list[ResNet]) -> "PackedResNet":
        """The packed net holding the weights and BN statistics of `models` (same depth; plain or residual each)."""
        first = models[0]
        if any(m.depth != first.depth for m in models):
            raise ValueError(f"PackedResNet packs nets of one depth, got {sorted({m.depth for m in models})}")
        packed = cls(len(models), first.depth, num_classes=first.fc.out_features,
                     in_channels=first.conv1.in_channels, residual=[m.residual for m in models])
        packed.to(first.fc.weight.dtype)
        with torch.no_grad():
            for key, value in packed.join([m.state_dict() for m in models]).items():
                packed.state_dict()[key].copy_(value)
        return packed

    def unpack(self, i: int) -> dict[str, torch.Tensor]:
        """Model i's state_dict, in a lone ResNet's keys (so each run's checkpoint is an ordinary one)."""
        return self.split(self.state_dict())[i]

    def join(self, per_model: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """N dicts keyed like a lone ResNet's state_dict (any subset of its keys) -> one keyed like this net's."""
        out = {}
        for lone, first in per_model[0].items():
            key = PACKED_KEYS.get(lone, lone)
            if first.dim() == 0:  # shared counters: BN's num_batches_tracked, Adam's step
                out[key] = first.clone()
            else:
                out[key] = (torch.stack if key in LONE_KEYS else torch.cat)([d[lone] for d in per_model])
        return out

    def split(self, packed: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """One dict keyed like this net's state_dict (any subset of its keys) -> N keyed like a lone ResNet's."""
        out: list[dict[str, torch.Tensor]] = [{} for _ in range(self.n)]
        for key, value in packed.items():
            lone = LONE_KEYS.get(key, key)
            for i in range(self.n):
                if value.dim() == 0:
                    out[i][lone] = value.clone()
                elif key in LONE_KEYS:
                    out[i][lone] = value[i].clone()
                else:
                    per = value.shape[0] // self.n
                    out[i][lone] = value[i * per:(i + 1) * per].clone()
        return out


LONE_KEYS = {"fc_weight": "fc.weight", "fc_bias": "fc.bias"}  # packed key -> lone key, stacked per model
PACKED_KEYS = {lone: key for key, lone in LONE_KEYS.items()}
