"""Position information for attention, which by itself ignores order (chapter 7).

Sinusoidal encodings (Vaswani et al., 2017), interleaved as in the paper:

    PE[p, 2i] = sin(p / base^(2i/E)),   PE[p, 2i+1] = cos(p / base^(2i/E)),   base = 10000

and learned position embeddings (one trained vector per position, up to a maximum length).
Both are *added* to the token embeddings: x_p + PE[p]. Shapes: L positions, E width.
"""
from __future__ import annotations

import torch
from torch import nn

from ..validation import floats, positive, whole_number


def sinusoidal_positions(length: int, dim: int, base: float = 10000.0,
                         device=None) -> torch.Tensor:
    """(length, dim) sinusoidal encodings; dim must be even."""
    whole_number("length", length, 0)
    whole_number("dim", dim)
    positive("base", base)
    if dim % 2:
        raise ValueError(f"the width must be even (sine and cosine pairs), got {dim}")
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)  # (L, 1)
    frequency = base ** (-torch.arange(0, dim, 2, dtype=torch.float32, device=device)
                         / dim)                                                 # (E/2,)
    angle = position * frequency                                                # (L, E/2)
    return torch.stack([torch.sin(angle), torch.cos(angle)], dim=-1).flatten(1)  # (L, E)


class SinusoidalPositions(nn.Module):
    """Adds fixed sinusoidal encodings to (B, L, E) inputs; any length works."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        sinusoidal_positions(0, dim, base)  # checks the arguments
        self.dim, self.base = dim, base

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        floats("x", x, f"(B, L, {self.dim})", dims=3)
        return x + sinusoidal_positions(x.shape[1], self.dim, self.base, x.device).to(x.dtype)


class LearnedPositions(nn.Module):
    """Adds a trained vector per position to (B, L, E) inputs, for L <= max_len."""

    def __init__(self, max_len: int, dim: int):
        whole_number("max_len", max_len)
        whole_number("dim", dim)
        super().__init__()
        self.embedding = nn.Embedding(max_len, dim)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        L = x.shape[1]
        if L > self.embedding.num_embeddings:
            raise ValueError(f"sequence of length {L} is longer than the {self.embedding.num_embeddings} "
                             "positions that were learned")
        return x + self.embedding.weight[:L]
