"""Attention building blocks: masks, a numerically stable masked softmax, attention pooling,
and the additive (Bahdanau) score.

Mask conventions — PyTorch uses two opposite boolean meanings, and so do we, each in the
place PyTorch does:

* ``valid`` / ``attn_mask`` (as in ``F.scaled_dot_product_attention``): True = may attend;
* ``key_padding_mask`` (as in ``nn.MultiheadAttention`` and ``Batch.src_key_padding_mask``):
  True = padding, ignore.

``padding_to_valid`` converts the second into the first. A row whose keys are *all* masked gets
all-zero weights (its context is the zero vector) instead of the NaNs a plain softmax of
``-inf`` scores gives.

Shape letters: B batch, L queries, S keys, D key/query width, K value width, A attention width.
"""
from __future__ import annotations

import torch
from torch import nn


def lengths_to_valid(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, S) bool mask, True on the first lengths[b] positions."""
    if lengths.dim() != 1:
        raise ValueError(f"lengths must be a 1-D tensor, got shape {tuple(lengths.shape)}")
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(1)


def padding_to_valid(key_padding_mask: torch.Tensor) -> torch.Tensor:
    """nn.MultiheadAttention's meaning (True = ignore) -> SDPA's meaning (True = attend)."""
    if key_padding_mask.dtype != torch.bool:
        raise ValueError(f"key_padding_mask must be bool, got {key_padding_mask.dtype}")
    return ~key_padding_mask


def masked_softmax(scores: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis that gives exactly zero weight where ``valid`` is False.

    scores: (..., S); valid: bool, broadcastable to scores, True = may attend.
    Stable for any finite scores (the row maximum is subtracted before exponentiating).
    A row with no valid position returns all zeros.
    """
    if valid is None:
        return torch.softmax(scores, dim=-1)
    if valid.dtype != torch.bool:
        raise ValueError(f"valid must be a bool mask (True = attend), got {valid.dtype}")
    try:
        valid = valid.expand_as(scores)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(valid.shape)} does not broadcast to scores of "
                         f"shape {tuple(scores.shape)}") from None
    masked = scores.masked_fill(~valid, float("-inf"))
    row_max = masked.amax(dim=-1, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    exp = torch.exp(masked - row_max)  # exp(-inf) = 0 at masked positions
    total = exp.sum(dim=-1, keepdim=True)
    return exp / torch.where(total > 0, total, torch.ones_like(total))


def attention_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of each row of attention weights: (..., S) -> (...).

    0 · log 0 counts as 0, so masked (exactly zero) weights are allowed. A uniform row over n
    positions has entropy log n; a one-hot row has entropy 0.
    """
    logs = torch.log(torch.where(weights > 0, weights, torch.ones_like(weights)))
    return -(weights * logs).sum(dim=-1)


def attention_pool(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Weighted average of values: (B, L, S) weights and (B, S, K) values -> (B, L, K)."""
    if weights.dim() != 3 or values.dim() != 3:
        raise ValueError(f"weights must be (B, L, S) and values (B, S, K), got "
                         f"{tuple(weights.shape)} and {tuple(values.shape)}")
    if weights.shape[0] != values.shape[0] or weights.shape[2] != values.shape[1]:
        raise ValueError(f"weights {tuple(weights.shape)} and values {tuple(values.shape)} "
                         "disagree on batch size or number of keys")
    return torch.bmm(weights, values)


class AdditiveAttention(nn.Module):
    """Bahdanau et al.'s score  e_i = vᵀ tanh(W₁ h_i + W₂ s)  for one query s per sequence.

    The keys' projection W₁ h_i does not depend on the query, so ``project_keys`` computes it
    once per batch and the decoder reuses it at every step.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        super().__init__()
        self.W_key = nn.Linear(key_dim, attn_dim)  # W₁ (its bias is the only bias)
        self.W_query = nn.Linear(query_dim, attn_dim, bias=False)  # W₂
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """(B, S, key_dim) -> (B, S, attn_dim)."""
        return self.W_key(keys)

    def forward(self, query: torch.Tensor, projected_keys: torch.Tensor, values: torch.Tensor,
                valid: torch.Tensor | None = None) -> tuple:
        """query (B, query_dim), projected keys (B, S, A), values (B, S, K), valid (B, S)
        -> context (B, K), weights (B, S)."""
        if query.dim() != 2 or query.shape[0] != projected_keys.shape[0]:
            raise ValueError(f"query must be (batch, query_dim) with batch "
                             f"{projected_keys.shape[0]}, got {tuple(query.shape)}")
        energy = torch.tanh(projected_keys + self.W_query(query).unsqueeze(1))  # (B, S, A)
        scores = self.v(energy).squeeze(-1)  # (B, S)
        weights = masked_softmax(scores, valid)  # (B, S)
        context = attention_pool(weights.unsqueeze(1), values).squeeze(1)  # (B, K)
        return context, weights
