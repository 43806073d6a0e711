"""The additive (Bahdanau) score, chapter 3."""
from __future__ import annotations

import torch
from torch import nn

from ..validation import bool_mask, whole_number
from .masks import attention_pool, masked_softmax


class AdditiveAttention(nn.Module):
    """Bahdanau et al.'s score  e_i = vᵀ tanh(W₁ h_i + W₂ s)  for one query s per sequence.

    The keys' projection W₁ h_i does not depend on the query, so ``project_keys`` computes it
    once per batch and the decoder reuses it at every step.
    """

    def __init__(self, query_dim: int, key_dim: int, attn_dim: int):
        for name, value in (("query_dim", query_dim), ("key_dim", key_dim),
                            ("attn_dim", attn_dim)):
            whole_number(name, value)
        super().__init__()
        self.W_key = nn.Linear(key_dim, attn_dim)  # W₁ (its bias is the only bias)
        self.W_query = nn.Linear(query_dim, attn_dim, bias=False)  # W₂
        self.v = nn.Linear(attn_dim, 1, bias=False)  # v

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """(B, S, key_dim) -> (B, S, attn_dim)."""
        return self.W_key(keys)

    def forward(self, query: torch.Tensor, projected_keys: torch.Tensor, values: torch.Tensor,
                mask: torch.Tensor | None = None) -> tuple:
        """query (B, query_dim), projected keys (B, S, A), values (B, S, K) -> context (B, K),
        weights (B, S).

        ``mask`` (B, S) follows ``F.scaled_dot_product_attention``: a bool mask is True where a
        key may be attended (a row with none gets zero weights); a float mask is added to the
        scores (0 or -inf). A decoder that attends at every step computes the float mask once per
        sentence (``additive_mask``), which saves the bool mask's extra work at each step."""
        if query.dim() != 2 or query.shape[0] != projected_keys.shape[0]:
            raise ValueError(f"query must be (batch, query_dim) with batch "
                             f"{projected_keys.shape[0]}, got {tuple(query.shape)}")
        energy = torch.tanh(projected_keys + self.W_query(query).unsqueeze(1))  # (B, S, A)
        scores = self.v(energy).squeeze(-1)  # (B, S)
        if mask is not None and mask.is_floating_point():
            weights = torch.softmax(scores + mask, dim=-1)  # (B, S)
        else:
            weights = masked_softmax(scores, mask)  # (B, S)
        context = attention_pool(weights.unsqueeze(1), values).squeeze(1)  # (B, K)
        return context, weights


def additive_mask(valid: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """A bool mask (True = may attend) as the float mask that is added to scores: 0 or -inf."""
    bool_mask("valid", valid, "True = may attend")
    return torch.zeros(valid.shape, dtype=dtype, device=valid.device).masked_fill(
        ~valid, float("-inf"))
