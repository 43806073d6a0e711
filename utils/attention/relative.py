"""Positions inside attention (chapter 14): rotary embeddings (RoPE) and ALiBi's linear biases.

Chapter 7 *adds* a position vector to each token before attention. Today's language models put
the position into the attention itself, so that a score depends on how far apart two tokens are,
not on where they stand.

**Rotary position embeddings** (Su et al., 2021) rotate every pair of coordinates of a query or
key at position p by the angle p·θ_i, with θ_i = base^(-2i/D) for pair i = 0 … D/2 - 1. A
rotation by p·θ followed by a dot product with a key rotated by r·θ only sees the difference
(p - r)·θ, so q·k depends on the offset alone. The pairs here are (i, i + D/2) — the two halves
of the head — as in ``transformers``' ``rotate_half``; the paper and Meta's original Llama code
pair neighbours (2i, 2i + 1). The two differ by a fixed permutation of the coordinates, which the
projections W_q and W_k absorb (``transformers`` permutes them when converting Meta's
checkpoints), so either is the same model.

**ALiBi** (Press et al., 2022) adds -m_h · (i - j) to the score of query i and key j: a penalty
growing linearly with distance, with a fixed slope m_h per head (a geometric sequence,
2^(-8/H), 2^(-16/H), …). No position enters the values or the residual stream.

Shapes: L positions, D head width (even), H heads, S keys.
"""
from __future__ import annotations

import math

import torch

from ..validation import positive, whole_number


def rotary_cos_sin(positions: torch.Tensor, head_dim: int, base: float = 10000.0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines of the rotation angles p·θ_i: (L,) positions -> two (L, D) tensors,
    each angle repeated for the two halves of the head (float32, as ``transformers``)."""
    whole_number("head_dim", head_dim)
    positive("base", base)
    if head_dim % 2:
        raise ValueError(f"rotary embeddings rotate pairs of coordinates: head_dim must be even, "
                         f"got {head_dim}")
    # 1 / base^(2i/D), computed as transformers does, so that the angles agree to the last bit
    theta = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32,
                                        device=positions.device) / head_dim)  # (D/2,)
    angles = positions.to(torch.float32).unsqueeze(-1) * theta                # (L, D/2)
    angles = torch.cat([angles, angles], dim=-1)                              # (L, D)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x₁, x₂) -> (-x₂, x₁) for the two halves of the last axis: a quarter turn of every pair."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair (x_i, x_{i+D/2}) of x (..., L, D) by its angle: x·cos + rotate_half(x)·sin."""
    if x.shape[-1] != cos.shape[-1] or x.shape[-2] != cos.shape[-2]:
        raise ValueError(f"x (..., L, D) = {tuple(x.shape)} does not match the angles "
                         f"(L, D) = {tuple(cos.shape)}")
    return (x * cos + rotate_half(x) * sin).to(x.dtype)


def alibi_slopes(heads: int) -> torch.Tensor:
    """ALiBi's slope per head, (H,): 2^(-8h/H) for h = 1 … H when H is a power of two; otherwise
    the paper's recipe (the slopes of the power of two below, then every other one of twice it)."""
    whole_number("heads", heads)

    def powers(n):
        return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]

    below = 2 ** int(math.floor(math.log2(heads)))
    slopes = powers(below) + powers(2 * below)[0::2][:heads - below]
    return torch.tensor(slopes)


def alibi_bias(heads: int, L: int, S: int, device=None) -> torch.Tensor:
    """(H, L, S) biases -m_h·|i - j| to add to the scores, the L queries being the last L of the
    S positions (they may continue S - L cached ones)."""
    whole_number("L", L, 0)
    whole_number("S", S, 0)
    if S < L:
        raise ValueError(f"the queries must be the last L of the S positions, got L = {L}, S = {S}")
    query_pos = torch.arange(S - L, S, device=device).unsqueeze(1)            # (L, 1)
    distance = (query_pos - torch.arange(S, device=device)).abs()             # (L, S)
    return -alibi_slopes(heads).to(device).view(heads, 1, 1) * distance
