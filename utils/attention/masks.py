"""Masks and the functions every attention variant shares: a numerically stable masked
softmax, attention entropy and attention pooling.

Mask conventions: ``valid`` masks here are True where a query may attend (as ``attn_mask`` in
``F.scaled_dot_product_attention``); ``padding_to_valid`` converts a ``key_padding_mask``
(True = padding, as in ``nn.MultiheadAttention``) into one.
"""
from __future__ import annotations

import torch

from ..validation import bool_mask, counts, floats, whole_number


def lengths_to_valid(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, S) bool mask, True on the first lengths[b] positions."""
    counts("lengths", lengths, what="1-D (B,)")
    if max_len is not None:
        whole_number("max_len", max_len, 0)
        if len(lengths) and int(lengths.max()) > max_len:
            raise ValueError(f"lengths must not exceed max_len = {max_len}, got "
                             f"{int(lengths.max())}")
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device) < lengths.unsqueeze(1)


def padding_to_valid(key_padding_mask: torch.Tensor) -> torch.Tensor:
    """nn.MultiheadAttention's meaning (True = ignore) -> SDPA's meaning (True = attend)."""
    bool_mask("key_padding_mask", key_padding_mask, "True = ignore")
    return ~key_padding_mask


def causal_mask(L: int, S: int | None = None, device=None, *,
                lower_right: bool = False, window: int | None = None) -> torch.Tensor:
    """(L, S) bool mask, True where query i may attend to key j.

    By default j <= i: the lower triangle aligned at the top left, as
    ``F.scaled_dot_product_attention(is_causal=True)``. With ``lower_right=True`` the triangle
    is aligned at the bottom right, as ``torch.nn.attention.bias.causal_lower_right``: the L
    queries are the last L of S positions (they continue S - L cached ones, chapter 10), so
    query i may attend to keys j <= S - L + i. The two agree when L = S.

    ``window`` (chapter 14, sliding-window attention as in Mistral): each query sees only its
    last ``window`` positions, itself included: keys j with i - window < j <= i (i shifted by
    S - L with ``lower_right``)."""
    S = L if S is None else S
    whole_number("L", L, 0)
    whole_number("S", S, 0)
    if lower_right and S < L:
        raise ValueError(f"lower_right needs at least as many keys as queries, got L = {L}, "
                         f"S = {S}")
    shift = S - L if lower_right else 0
    mask = torch.ones(L, S, dtype=torch.bool, device=device).tril(diagonal=shift)
    if window is not None:
        whole_number("window", window)
        mask = mask.triu(diagonal=shift - window + 1)
    return mask


def masked_softmax(scores: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis that gives exactly zero weight where ``valid`` is False.

    scores: (..., S); valid: bool, broadcastable to scores, True = may attend.
    Stable for any finite scores (the row maximum is subtracted before exponentiating).
    A row with no valid position returns all zeros.
    """
    floats("scores", scores, "(..., S)")
    if valid is None:
        return torch.softmax(scores, dim=-1)
    bool_mask("valid", valid, "True = may attend; for PyTorch's other convention, "
              "True = ignore, pass ~mask")
    try:
        valid = valid.expand_as(scores)
    except RuntimeError:
        raise ValueError(f"mask of shape {tuple(valid.shape)} does not broadcast to scores of "
                         f"shape {tuple(scores.shape)}") from None
    if scores.shape[-1] == 0:  # no keys at all: every row has no valid position
        return torch.zeros_like(scores)
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
    floats("weights", weights, "(..., S)")
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
