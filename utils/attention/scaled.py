"""Scaled dot-product attention with the conventions of ``F.scaled_dot_product_attention``.

    weights = softmax(query · keyᵀ / √E + mask),   output = weights · value

The signature is PyTorch's, in PyTorch's order: ``(query, key, value, attn_mask=None,
dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False)``, so that a reader can swap the two
functions without a silent change of meaning (``tests/test_scaled_attention.py`` compares them).
``attn_mask`` is boolean (True = may attend, as in PyTorch's function) or floating point (added to
the scores; -inf forbids); any other dtype is an error. ``is_causal`` applies the lower-triangular
mask: query i sees keys 0..i. ``enable_gqa`` lets key and value have fewer heads (dimension -3)
than the query, each shared by a group of query heads (grouped-query attention). The difference
from PyTorch's function: it also returns the weights, and a query whose keys are all masked gets
zero weights and a zero output (PyTorch 2.13's function returns zeros too, with its fused and
its math backend; ``nn.MultiheadAttention`` with ``need_weights=True`` returns NaN).

Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> output (..., L, Ev),
weights (..., L, S); the leading dimensions must broadcast.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .masks import causal_mask, masked_softmax


def check_qkv(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> tuple:
    """Raise a ValueError naming the problem if the shapes cannot be attended; else the
    leading (batch) shape of the scores."""
    if query.dim() < 2 or key.dim() < 2 or value.dim() < 2:
        raise ValueError("query, key and value need at least 2 dimensions (..., length, width); "
                         f"got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(f"query width {query.shape[-1]} differs from key width {key.shape[-1]}; "
                         "a dot product needs equal widths")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"{key.shape[-2]} keys but {value.shape[-2]} values; "
                         "every key needs a value")
    try:
        return torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(f"the leading (batch) dimensions of query {tuple(query.shape)}, key "
                         f"{tuple(key.shape)} and value {tuple(value.shape)} do not broadcast") from None


def _share_key_value_heads(query, key, value) -> tuple:
    """Grouped-query attention: repeat each of key's and value's Hkv heads (dimension -3) for
    the H / Hkv query heads of its group. (..., H, L, E), (..., Hkv, S, E) -> equal head counts."""
    if query.dim() < 3 or key.dim() < 3 or value.dim() < 3:
        raise ValueError("enable_gqa=True needs a heads dimension (..., heads, length, width)")
    heads, kv_heads = query.shape[-3], key.shape[-3]
    if value.shape[-3] != kv_heads or heads % kv_heads:
        raise ValueError(f"with enable_gqa=True the query's {heads} heads must be a multiple of "
                         f"the key's {kv_heads} and the value's {value.shape[-3]} heads")
    group = heads // kv_heads
    return (query, key.repeat_interleave(group, dim=-3), value.repeat_interleave(group, dim=-3))


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of every query over the keys -> (output (..., L, Ev), weights (..., L, S)).

    ``dropout_p`` drops weights (as PyTorch does; pass 0 at inference); the returned weights are
    the ones applied. ``scale`` defaults to 1/√E.
    """
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must lie in [0, 1), got {dropout_p}")
    if enable_gqa:
        query, key, value = _share_key_value_heads(query, key, value)
    batch = check_qkv(query, key, value)
    L, S = query.shape[-2], key.shape[-2]
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    scores = query @ key.transpose(-2, -1) * scale                     # (..., L, S)
    if is_causal:
        if attn_mask is not None:
            raise ValueError("pass either attn_mask or is_causal=True, not both (as PyTorch)")
        attn_mask = causal_mask(L, S, device=query.device)
    valid = None
    if attn_mask is not None:
        full = tuple(batch) + (L, S)
        try:
            fits = torch.broadcast_shapes(attn_mask.shape, full) == torch.Size(full)
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"attn_mask of shape {tuple(attn_mask.shape)} does not broadcast "
                             f"to the scores' shape {full}")
        if attn_mask.dtype == torch.bool:
            valid = attn_mask                                          # True = may attend
        elif not attn_mask.is_floating_point():
            raise ValueError(f"attn_mask must be bool (True = may attend) or floating point (added "
                             f"to the scores), got {attn_mask.dtype}; a 0/1 integer mask would be "
                             "added to the scores, so convert it with .bool()")
        else:
            scores = scores + attn_mask
            valid = scores > float("-inf")
    weights = masked_softmax(scores, valid)                            # zeros for empty rows
    if dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    return weights @ value, weights
