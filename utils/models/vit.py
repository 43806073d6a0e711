"""A tiny Vision Transformer (Dosovitskiy et al., 2021) for small grey images (chapter 12).

An image is cut into non-overlapping P × P patches, read row by row; each patch is flattened and
projected to width E; a learned [CLS] vector is put in front; learned position vectors are
added; pre-LN encoder blocks (``utils.models.blocks.TransformerStack``) follow; the class is
read from the final [CLS] vector. Shapes: N images, H × W pixels, n = (H/P)(W/P) patches.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validation import config_fields, divisible, floats, whole_number
from .blocks import TransformerStack


@dataclass
class ViTConfig:
    image_size: int = 8
    patch: int = 2
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    d_ff: int = 128
    dropout: float = 0.1
    classes: int = 10

    def __post_init__(self):
        config_fields(self)
        divisible("image_size", self.image_size, "patch", self.patch)
        divisible("d_model", self.d_model, "heads", self.heads)


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(N, H, W) -> (N, n, P·P): patch k is row k // (W/P), column k % (W/P) of the grid."""
    floats("images", images, "(N, H, W)", dims=3)
    whole_number("patch", patch)
    N, H, W = images.shape
    if H % patch or W % patch:
        raise ValueError(f"a {H}×{W} image cannot be cut into {patch}×{patch} patches")
    rows, cols = H // patch, W // patch
    grid = images.reshape(N, rows, patch, cols, patch).permute(0, 1, 3, 2, 4)  # (N, r, c, P, P)
    return grid.reshape(N, rows * cols, patch * patch)


class TinyViT(nn.Module):
    def __init__(self, config: ViTConfig | None = None):
        super().__init__()
        c = self.config = config or ViTConfig()
        self.patch = c.patch
        n = (c.image_size // c.patch) ** 2
        self.embed = nn.Linear(c.patch * c.patch, c.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.positions = nn.Parameter(0.02 * torch.randn(1, n + 1, c.d_model))
        self.blocks = TransformerStack(c.layers, c.d_model, c.heads, c.d_ff, c.dropout, "pre")
        self.norm, self.head = nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.classes)

    def forward(self, images: torch.Tensor, need_weights: bool = False):
        """images (N, H, W) -> logits (N, classes), and per layer the attention weights
        (N, heads, n+1, n+1) if ``need_weights`` (index 0 is [CLS])."""
        size = self.config.image_size
        floats("images", images, f"(N, {size}, {size})", dims=3)
        if images.shape[1:] != (size, size):
            raise ValueError(f"images must be (N, {size}, {size}) as the config's image_size "
                             f"says, got {tuple(images.shape)}")
        x = self.embed(patchify(images, self.patch))                   # (N, n, E)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.positions
        x, weights = self.blocks(x, need_weights=need_weights)
        return self.head(self.norm(x[:, 0])), weights
