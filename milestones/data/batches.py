"""Batches of images from uint8 tensors on the device, augmented as whole-batch tensor ops.

Pipeline: the whole split stays a uint8 tensor (N, C, H, W) on the device (images.py). Each batch is gathered by
index, augmented as whole-batch tensor ops (random crop after zero padding, horizontal flip) and normalised, as in
KellerJordan/cifar10-airbench; no per-image PIL transforms, no worker processes.

Randomness: the order and the augmentation of epoch e come from a generator seeded with (seed, e) alone, so an
epoch replays exactly after a resume.

Mixing (optional, training only): mixup (Zhang et al. 2018, arXiv:1710.09412) blends each image with a partner,
x = lam x_i + (1 - lam) x_j, lam ~ Beta(alpha, alpha); CutMix (Yun et al. 2019, arXiv:1905.04899, Alg. A1) pastes
a box of the partner covering a (1 - lam) share of the image. The targets become the same blend of one-hot labels,
so such a loader yields (B, classes) float targets. With both on, each batch takes one of the two at even odds,
as DeiT does (Touvron et al. 2021, arXiv:2012.12877). The partner of position i in a global batch of B is position
B - 1 - i (the batch reversed, as timm pairs them): every rank can build its partners from the data it holds, so
mixing under DDP stays exactly one process's.
"""

from __future__ import annotations

import math
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F


# --- batched augmentation ------------------------------------------------------------------------------------------

def random_crop(x: torch.Tensor, padding: int, offsets: torch.Tensor) -> torch.Tensor:
    """Zero-pad every image by `padding` pixels and cut the H x W window at `offsets` (B, 2) = (dy, dx) from each
    (the 4-pixel pad-and-crop of He et al. 2015, Sec. 4.2)."""
    B, C, H, W = x.shape
    xp = F.pad(x, (padding, padding, padding, padding))  # (B, C, H+2p, W+2p)
    b = torch.arange(B, device=x.device)
    offsets = offsets.to(x.device)
    # unfold makes every window a view; indexing one window per image copies whole rows, not single pixels
    rows = xp.unfold(2, H, 1)[b, :, offsets[:, 0]]  # (B, C, H+2p-H+1, W+2p, H) -> (B, C, W+2p, H)
    return rows.unfold(2, W, 1)[b, :, offsets[:, 1]]  # (B, C, W+2p-W+1, H, W) -> (B, C, H, W)


def shift(x: torch.Tensor, dy: int, dx: int, fill: torch.Tensor) -> torch.Tensor:
    """Shift images (B, C, H, W) down by `dy` and right by `dx` pixels (negative: up, left), filling the uncovered
    border with `fill` (C,). With `fill` the normalised black, this is the view that `random_crop` shows at offset
    (padding - dy, padding - dx): test-time augmentation with the training crops' own views."""
    B, C, H, W = x.shape
    out = torch.empty_like(x)  # keeps channels_last
    out.copy_(fill.to(device=x.device, dtype=x.dtype).view(1, C, 1, 1))
    out[:, :, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[:, :, max(-dy, 0):H - max(dy, 0), max(-dx, 0):W - max(dx, 0)]
    return out


def random_flip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the images where `mask` (B,) is True."""
    return torch.where(mask.to(x.device)[:, None, None, None], x.flip(3), x)


class BatchLoader:
    """Batches of normalised float images (B, C, H, W) and labels (B,) from uint8 tensors already on the device.

    Under DistributedDataParallel (`world_size` > 1) every rank walks the same global batches (same permutation,
    same augmentation draws) and keeps the interleaved part `[rank::world_size]` of each, so N ranks see exactly
    the samples, crops and flips one process would.

    `alternate_flip` replaces the coin flip per image and epoch by the alternating flip of Jordan 2024 ("94% on
    CIFAR-10 in 3.29 seconds on a single GPU", arXiv:2404.00498): each image gets one random orientation from the
    seed, is shown that way in odd epochs and mirrored in even ones, so any two consecutive epochs show both. Over
    a short schedule this repeats fewer identical views than independent coin flips do.

    `drop_last` drops a final partial global batch (the trainer sets it under DDP so that every rank's share of
    every batch has the same size).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        batch_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        shuffle: bool = False,
        crop_padding: int = 0,
        flip: bool = False,
        alternate_flip: bool = False,
        seed: int = 0,
        channels_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        mixup: float = 0.0,  # alpha of Beta(alpha, alpha); 0: off
        cutmix: float = 0.0,  # alpha; 0: off
        num_classes: int = 0,  # for the mixed one-hot targets
    ) -> None:
        if (mixup or cutmix) and num_classes < 2:
            raise ValueError("mixup / cutmix need num_classes for their mixed targets")
        self.x, self.y = x, y
        self.mixup, self.cutmix, self.num_classes = mixup, cutmix, num_classes
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.crop_padding, self.flip = crop_padding, flip
        # alternating flip: every image's orientation in odd epochs, drawn once from the seed (not from the epoch)
        self.flip_start = (torch.rand(len(x), generator=torch.Generator().manual_seed(seed * 1_000_003 - 1)) < 0.5
                           ).to(x.device) if alternate_flip else None
        self.seed, self.epoch = seed, 0
        self.channels_last = channels_last
        self.rank, self.world_size = rank, world_size
        # x/255 normalised = x * scale + shift, per channel
        std_t = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -torch.tensor(mean, device=x.device).view(1, -1, 1, 1) / std_t

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Number of global batches (= optimizer steps per epoch)."""
        if self.drop_last:
            return len(self.x) // self.batch_size
        return (len(self.x) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        mixing = np.random.default_rng([self.seed, self.epoch]) if self.mixup or self.cutmix else None
        n = len(self.x)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        order = order.to(self.x.device)
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start:start + self.batch_size]  # the global batch
            # augmentation is drawn for the whole global batch, so every rank draws the same numbers
            offsets = flips = None
            if self.crop_padding:
                offsets = torch.randint(0, 2 * self.crop_padding + 1, (len(idx), 2), generator=g)
            if self.flip_start is not None:
                flips = self.flip_start[idx] ^ (self.epoch % 2 == 0)  # odd epochs as drawn, even mirrored
            elif self.flip:
                flips = torch.rand(len(idx), generator=g) < 0.5
            mine = torch.arange(len(idx))[self.rank::self.world_size]  # this rank's share of the global batch
            if len(mine) == 0:
                continue
            xb, yb = self._views(idx, mine, offsets, flips), self.y[idx[mine]]
            if mixing is not None:
                xb, yb = self._mix(xb, yb, idx, mine, offsets, flips, mixing)
            yield xb, yb

    def _views(self, idx: torch.Tensor, positions: torch.Tensor, offsets: Optional[torch.Tensor],
               flips: Optional[torch.Tensor]) -> torch.Tensor:
        """The augmented, normalised images at `positions` of the global batch `idx`."""
        xb = self.x[idx[positions]]
        if offsets is not None:
            xb = random_crop(xb, self.crop_padding, offsets[positions])
        if flips is not None:
            xb = random_flip(xb, flips[positions])
        xb = xb.to(torch.get_default_dtype()) * self.scale + self.shift  # float32 unless a test asks for float64
        if self.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        return xb

    def _mix(self, xb: torch.Tensor, yb: torch.Tensor, idx: torch.Tensor, mine: torch.Tensor,
             offsets: Optional[torch.Tensor], flips: Optional[torch.Tensor], mixing: np.random.Generator
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixup or CutMix of this rank's images with their partners; targets (B, classes) mixed alike."""
        partners = len(idx) - 1 - mine  # the global batch reversed
        other = self._views(idx, partners, offsets, flips)
        cut = self.cutmix > 0 and (self.mixup <= 0 or mixing.random() < 0.5)
        alpha = self.cutmix if cut else self.mixup
        lam = float(mixing.beta(alpha, alpha))
        if cut:  # Yun et al. Alg. A1: a box of side sqrt(1 - lam) around a uniform centre, clipped to the image
            H, W = xb.shape[-2:]
            h, w = int(H * math.sqrt(1 - lam)), int(W * math.sqrt(1 - lam))
            cy, cx = int(mixing.integers(H)), int(mixing.integers(W))
            y0, y1 = max(cy - h // 2, 0), min(cy + h // 2, H)
            x0, x1 = max(cx - w // 2, 0), min(cx + w // 2, W)
            xb = xb.clone()
            xb[:, :, y0:y1, x0:x1] = other[:, :, y0:y1, x0:x1]
            lam = 1 - (y1 - y0) * (x1 - x0) / (H * W)  # the share of the image actually left
        else:
            xb = lam * xb + (1 - lam) * other  # Zhang et al. Eq. 1
        one_hot = F.one_hot(yb, self.num_classes).to(xb.dtype)  # (B, classes)
        return xb, lam * one_hot + (1 - lam) * F.one_hot(self.y[idx[partners]], self.num_classes).to(xb.dtype)
