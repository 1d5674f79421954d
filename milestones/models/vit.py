"""ViT era: the Vision Transformer, an image read as a sequence of patches, sized for 32x32 CIFAR-10.

Reference
- A. Dosovitskiy, L. Beyer, A. Kolesnikov, D. Weissenborn, X. Zhai, T. Unterthiner, M. Dehghani, M. Minderer,
  G. Heigold, S. Gelly, J. Uszkoreit, N. Houlsby, "An Image is Worth 16x16 Words: Transformers for Image
  Recognition at Scale", ICLR 2021, arXiv:2010.11929. Sec. 3.1 and Eq. 1-4 define the model; Table 1 its sizes
  (ViT-Base: D=768, 12 layers, 12 heads, MLP 3072); Appendix B.1 where dropout goes.

The model (Sec. 3.1): cut the image into P x P patches, flatten each and project it linearly to D dimensions,
prepend a learned class token, add learned 1-D position embeddings (Eq. 1); then L pre-norm Transformer encoder
blocks, each LayerNorm -> multi-head self-attention -> residual (Eq. 2) and LayerNorm -> two-layer GELU MLP ->
residual (Eq. 3); a final LayerNorm on the class token's output (Eq. 4) and a linear head.

What it stands for in the history: no convolution and almost no image prior (only the patch grid); attention
lets every patch look at every other from the first layer. The paper's point is that with enough data (JFT-300M)
this beats CNNs; on CIFAR-10 from scratch, as here, it trails a ResNet of similar cost, which is the lesson.

Deviations, all for 32x32 images and small CPU runs:
- patch size 4 (an 8x8 grid of 64 patches) instead of 16 on 224x224 images (a 14x14 grid of 196);
- much smaller models than Table 1 (the presets below) and no pre-training: trained from scratch on CIFAR-10;
- a linear head at training time (the paper uses a one-hidden-layer MLP head for pre-training and a linear one
  for fine-tuning, Sec. 3.1);
- initialisation: position embedding N(0, 0.02^2) as in the paper's released code (google-research/
  vision_transformer, "from BERT"), here truncated at 2 std; the class token and every linear layer use the same
  truncated normal, as DeiT and timm's ViT do (the released code uses zeros for the class token and the head and
  Xavier-uniform for the other dense layers), and so does the patch projection, itself a linear layer (our
  choice). Biases zero, LayerNorm the identity.
- dropout (Appendix B.1) after every dense layer except the q, k, v projections and after adding the position
  embeddings; no dropout on the attention weights.

Shapes: B batch, C channels, H height, W width, P patch size, N = 1 + HW/P^2 tokens, D model width.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head self-attention (Vaswani et al. 2017, arXiv:1706.03762, Sec. 3.2.2), as in ViT's Eq. 2.

    On a GPU the attention itself runs as one fused kernel (F.scaled_dot_product_attention: flash or memory-efficient
    attention, the same arithmetic without the (N, N) weights in memory); elsewhere written out, which is faster on
    a CPU at these sizes. `fused` (None: on CUDA tensors) forces either, e.g. to compare them.
    """

    def __init__(self, dim: int, heads: int, dropout: float, fused: Optional[bool] = None) -> None:
        super().__init__()
        self.fused = fused
        if dim % heads != 0:
            raise ValueError(f"ViT dim must be divisible by heads, got dim={dim} and heads={heads}")
        self.heads, self.head_dim = heads, dim // heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        q = self.q(x).view(B, N, self.heads, self.head_dim).transpose(1, 2)  # (B, heads, N, head_dim)
        k = self.k(x).view(B, N, self.heads, self.head_dim).transpose(1, 2)  # (B, heads, N, head_dim)
        v = self.v(x).view(B, N, self.heads, self.head_dim).transpose(1, 2)  # (B, heads, N, head_dim)
        if self.fused if self.fused is not None else x.is_cuda:
            a = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim), softmax(q k^T / sqrt(d)) v
        else:
            # Written out: with N=65 tokens the (N, N) weights are small, and training vit_tiny on a CPU ran faster
            # this way than with the fused function (128 vs 93 img/s: batch 128, bf16, torch 2.14, 1 thread on a
            # shared machine, dropout 0).
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, heads, N, N)
            weights = scores.softmax(dim=-1)  # each query's distribution over the N keys
            a = weights @ v  # (B, heads, N, head_dim)
        a = a.transpose(1, 2).reshape(B, N, D)  # heads concatenated: (B, N, D)
        return self.dropout(self.out(a))


class Block(nn.Module):
    """One pre-norm encoder block: Eq. 2 then Eq. 3."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, dropout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim), nn.Dropout(dropout),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        z = z + self.attn(self.norm1(z))  # Eq. 2: z' = MSA(LN(z)) + z
        z = z + self.mlp(self.norm2(z))  # Eq. 3: z = MLP(LN(z')) + z'
        return z


class ViT(nn.Module):
    def __init__(
        self,
        *,
        image_size: int = 224,  # Sec. 4.1: ImageNet at 224x224
        patch_size: int = 16,  # ViT-B/16
        in_channels: int = 3,
        num_classes: int = 1000,
        dim: int = 768,  # Table 1, ViT-Base: hidden size D
        depth: int = 12,  # layers
        heads: int = 12,
        mlp_dim: int = 3072,
        dropout: float = 0.1,  # Table 3: 0.1 when training on ImageNet
    ) -> None:
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"ViT image_size must be a multiple of patch_size, got {image_size} and {patch_size}")
        self.image_size = image_size
        num_patches = (image_size // patch_size) ** 2
        # A PxP convolution with stride P is the linear projection E of each flattened patch (Eq. 1).
        self.patch_embed = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + num_patches, dim))
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_dim, dropout) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # See the module docstring: std 0.02 (the released code's position embedding; DeiT's everything else).
        # Bounds are absolute in torch (default +-2, no truncation at this std), so they are given as 2 std.
        std = 0.02
        nn.init.trunc_normal_(self.pos_embed, std=std, a=-2 * std, b=2 * std)
        nn.init.trunc_normal_(self.cls_token, std=std, a=-2 * std, b=2 * std)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"ViT expects {self.image_size}x{self.image_size} images, got "
                             f"{x.shape[-2]}x{x.shape[-1]}; set model.image_size")
        x = self.patch_embed(x)  # (B, D, H/P, W/P)
        x = x.flatten(2).transpose(1, 2)  # (B, N-1, D): one row per patch, row-major over the grid
        cls = self.cls_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        z = torch.cat([cls, x], dim=1) + self.pos_embed  # Eq. 1: (B, N, D)
        z = self.dropout(z)
        z = self.blocks(z)  # Eq. 2-3, L times: (B, N, D)
        y = self.norm(z[:, 0])  # Eq. 4: y = LN(z_L^0), the class token: (B, D)
        return self.head(y)  # (B, num_classes) logits


# --- presets for CIFAR-10 (ours: the paper's smallest model, ViT-Base, has 86M parameters) ---------------------------

def vit_tiny(*, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.1) -> ViT:
    """ViT-Tiny/4 for 32x32: D=192, 6 layers, 3 heads of 64, MLP 576; 2,250,058 params (measured).

    DeiT-Ti's width and heads (Touvron et al. 2020, arXiv:2012.12877), half its 12 layers, MLP ratio 3 not 4.
    """
    return ViT(image_size=image_size, patch_size=4, in_channels=in_channels, num_classes=num_classes, dim=192,
               depth=6, heads=3, mlp_dim=576, dropout=dropout)


def vit_small(*, num_classes: int = 10, in_channels: int = 3, image_size: int = 32, dropout: float = 0.1) -> ViT:
    """ViT-Small/4 for 32x32: D=256, 9 layers, 4 heads of 64, MLP 768; 5,958,410 params (measured)."""
    return ViT(image_size=image_size, patch_size=4, in_channels=in_channels, num_classes=num_classes, dim=256,
               depth=9, heads=4, mlp_dim=768, dropout=dropout)


# --- the paper's own size, for 224x224 ImageNet crops ----------------------------------------------------------------

def vit_b16(*, num_classes: int = 1000, dropout: float = 0.1, image_size: int = 224, in_channels: int = 3) -> ViT:
    """ViT-B/16 (Table 1: ViT-Base, D=768, 12 layers, 12 heads, MLP 3072, 86M params; 16x16 patches of a 224x224
    image, 196 tokens): 86,567,656 parameters with 1000 classes (measured). From scratch on ImageNet-1k it needs a
    DeiT-style recipe (Touvron et al. 2020, arXiv:2012.12877: 81.8% top-1 with strong augmentation; the paper's own
    ImageNet-only ViT-B/16 reaches 77.9%, Table 5 / Fig. 3)."""
    return ViT(image_size=image_size, in_channels=in_channels, num_classes=num_classes, dropout=dropout)  # the defaults
