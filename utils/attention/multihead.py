"""Multi-head attention with the call convention of ``nn.MultiheadAttention(batch_first=True)``.

    head_h = Attention(Q W_q^h, K W_k^h, V W_v^h)       (h = 1 … H, each of width D = E / H)
    output = [head_1; …; head_H] W_o

Masks follow ``nn.MultiheadAttention``: a boolean ``key_padding_mask`` (B, S) or ``attn_mask``
(L, S) or (B·H, L, S) is True where a key must be *ignored*; float masks are added to the scores.
Unlike PyTorch, ``is_causal=True`` without an ``attn_mask`` applies the causal mask (PyTorch
requires the mask as well and treats the flag as a hint), and a query whose keys are all masked
gets a zero context (its output is the output projection's bias) instead of NaN.

One book-only option of ``forward``, keyword-only after PyTorch's arguments: ``cache=KVCache()``
(chapter 10) appends this call's keys and values to the cache and attends over all of them; with
``is_causal=True`` the L new queries are the last L positions (the causal triangle aligned at
the bottom right), so feeding a text in pieces gives the outputs of one full pass.

The attention of today's language models (chapter 14) is this module with keyword-only options,
for self-attention (queries and keys at the same positions):

* ``num_kv_heads``: grouped-query attention (Ainslie et al., 2023) — Hkv key and value heads,
  each shared by H / Hkv query heads (1 is multi-query attention, Shazeer 2019). k_proj and
  v_proj produce Hkv · D features, and the cache holds Hkv heads;
* ``rope_base``: rotary position embeddings (Su et al., 2021) applied to queries and keys at
  their positions (continuing the cache's), with this base (Llama 2: 10,000; Llama 3:
  500,000);
* ``alibi``: ALiBi's linear distance penalty per head (Press et al., 2022);
* ``window``: with ``is_causal``, each query sees only its last ``window`` positions (Mistral).

Shapes: B batch, L queries, S keys, E model width, H heads, D = E / H head width, Hkv key-value
heads.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import divisible, positive, probability, whole_number
from .cache import KVCache
from .masks import causal_mask
from .relative import alibi_bias, apply_rotary, rotary_cos_sin
from .scaled import scaled_dot_product_attention


def _additive(mask: torch.Tensor, name: str, dtype: torch.dtype) -> torch.Tensor:
    """A boolean (True = ignore) or float mask as a float mask to add to the scores."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    if not mask.is_floating_point():
        raise ValueError(f"{name} must be bool (True = ignore) or float (added), got {mask.dtype}")
    return mask.to(dtype)


class MultiHeadAttention(nn.Module):
    """``MultiHeadAttention(embed_dim, num_heads, dropout=0.0, bias=True, *, num_kv_heads=None,
    rope_base=None, alibi=False, window=None)``, batch first."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 *, num_kv_heads: int | None = None, rope_base: float | None = None,
                 alibi: bool = False, window: int | None = None):
        super().__init__()
        whole_number("embed_dim", embed_dim)
        whole_number("num_heads", num_heads)
        divisible("embed_dim", embed_dim, "num_heads", num_heads)
        probability("dropout", dropout)
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        whole_number("num_kv_heads", num_kv_heads)
        divisible("num_heads", num_heads, "num_kv_heads", num_kv_heads)
        if rope_base is not None:
            positive("rope_base", rope_base)
            if (embed_dim // num_heads) % 2:
                raise ValueError(f"rotary embeddings need an even head width, got "
                                 f"{embed_dim // num_heads}")
        if window is not None:
            whole_number("window", window)
        self.embed_dim, self.num_heads, self.num_kv_heads = embed_dim, num_heads, num_kv_heads
        self.head_dim, self.dropout = embed_dim // num_heads, dropout
        self.rope_base, self.alibi, self.window = rope_base, alibi, window
        kv_dim = num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj, self.v_proj = (nn.Linear(embed_dim, kv_dim, bias=bias) for _ in range(2))
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        # PyTorch's initialisation: Xavier-uniform over the stacked (3E, E) input projection,
        # zero biases; the output projection keeps nn.Linear's default weights. (With fewer
        # key-value heads the same bound is kept.)
        bound = math.sqrt(6.0 / (embed_dim + 3 * embed_dim))
        for layer in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.uniform_(layer.weight, -bound, bound)
        for layer in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            if bias:
                nn.init.zeros_(layer.bias)

    @classmethod
    def from_torch(cls, module: nn.MultiheadAttention) -> "MultiHeadAttention":
        """A copy of an ``nn.MultiheadAttention``'s weights (call it batch first)."""
        if not module._qkv_same_embed_dim or module.bias_k is not None or module.add_zero_attn:
            raise ValueError("only nn.MultiheadAttention with kdim = vdim = embed_dim, no bias_k/"
                             "bias_v and no add_zero_attn can be copied")
        has_bias = module.in_proj_bias is not None
        new = cls(module.embed_dim, module.num_heads, module.dropout, bias=has_bias)
        with torch.no_grad():
            weights = module.in_proj_weight.chunk(3)
            biases = module.in_proj_bias.chunk(3) if has_bias else (None,) * 3
            for layer, w, b in zip((new.q_proj, new.k_proj, new.v_proj), weights, biases):
                layer.weight.copy_(w)
                if b is not None:
                    layer.bias.copy_(b)
            new.out_proj.weight.copy_(module.out_proj.weight)
            if has_bias:
                new.out_proj.bias.copy_(module.out_proj.bias)
        return new.to(module.in_proj_weight.dtype)

    def split_heads(self, x: torch.Tensor, heads: int | None = None) -> torch.Tensor:
        """(B, L, heads · D) -> (B, heads, L, D); heads defaults to H."""
        B, L, _ = x.shape
        heads = self.num_heads if heads is None else heads
        return x.view(B, L, heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, L, D) -> (B, L, E)."""
        B, _, L, _ = x.shape
        return x.transpose(1, 2).reshape(B, L, self.embed_dim)

    def _project(self, query, key, value):
        if query is key and key is value:        # self-attention: one matrix product
            weight = torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight])
            bias = None if self.q_proj.bias is None else torch.cat(
                [self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])
            kv_dim = self.num_kv_heads * self.head_dim
            return F.linear(query, weight, bias).split([self.embed_dim, kv_dim, kv_dim], dim=-1)
        return self.q_proj(query), self.k_proj(key), self.v_proj(value)

    def _mask(self, key_padding_mask, attn_mask, is_causal, B, L, S, dtype, lower_right=False):
        """Every mask merged into one float mask broadcastable to (B, H, L, S), or None."""
        H, mask = self.num_heads, None
        if attn_mask is None and is_causal:
            attn_mask = ~causal_mask(L, S, device=self.out_proj.weight.device,
                                     lower_right=lower_right, window=self.window)  # True = ignore
        if attn_mask is not None:
            if attn_mask.shape == (L, S):
                mask = _additive(attn_mask, "attn_mask", dtype).view(1, 1, L, S)
            elif attn_mask.shape == (B * H, L, S):
                mask = _additive(attn_mask, "attn_mask", dtype).view(B, H, L, S)
            else:
                raise ValueError(f"attn_mask must have shape (L, S) = {(L, S)} or (B·H, L, S) = "
                                 f"{(B * H, L, S)}, got {tuple(attn_mask.shape)}")
        if key_padding_mask is not None:
            if key_padding_mask.shape != (B, S):
                raise ValueError(f"key_padding_mask must have shape (B, S) = {(B, S)}, got "
                                 f"{tuple(key_padding_mask.shape)}")
            padding = _additive(key_padding_mask, "key_padding_mask", dtype).view(B, 1, 1, S)
            mask = padding if mask is None else mask + padding
        if self.alibi:
            bias = alibi_bias(H, L, S, self.out_proj.weight.device).to(dtype).unsqueeze(0)
            mask = bias if mask is None else mask + bias                  # (B or 1, H, L, S)
        return mask

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = True,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False, *, cache: KVCache | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """query (B, L, E), key (B, S, E), value (B, S, E) -> output (B, L, E) and weights:
        (B, L, S) averaged over heads, (B, H, L, S) per head, or None if not ``need_weights``.
        With a ``cache``, the keys are the cached ones followed by this call's S, and masks
        cover all of them."""
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.dim() != 3 or x.shape[-1] != self.embed_dim:
                raise ValueError(f"{name} must be (batch, length, {self.embed_dim}), got "
                                 f"{tuple(x.shape)}")
        (B, L, _), S = query.shape, key.shape[1]
        if key.shape[:2] != value.shape[:2] or key.shape[0] != B:
            raise ValueError(f"query {tuple(query.shape)}, key {tuple(key.shape)} and value "
                             f"{tuple(value.shape)} disagree on batch size or number of keys")
        if self.window is not None and not is_causal:
            raise ValueError("a sliding window applies to causal self-attention: pass "
                             "is_causal=True")
        q, k, v = self._project(query, key, value)
        q = self.split_heads(q)                                        # (B, H, L, D)
        k, v = (self.split_heads(x, self.num_kv_heads) for x in (k, v))  # (B, Hkv, S, D)
        if self.rope_base is not None:      # rotate by position, continuing the cache's
            start = 0 if cache is None else len(cache)
            positions = torch.arange(start, start + max(L, S), device=q.device)
            cos, sin = rotary_cos_sin(positions, self.head_dim, self.rope_base)
            q, k = apply_rotary(q, cos[:L], sin[:L]), apply_rotary(k, cos[:S], sin[:S])
        if cache is not None:
            k, v = cache.update(k, v)                          # (B, Hkv, cached + S, D)
            S = k.shape[2]
            # one new query may see every key (the cached ones and its own): no mask needed
            is_causal = is_causal and not (L == 1 and attn_mask is None and (
                self.window is None or S <= self.window))
        dropout_p = self.dropout if self.training else 0.0
        grouped = self.num_kv_heads != self.num_heads
        # PyTorch's is_causal aligns the triangle at the top left: right only when L = S
        only_causal = (is_causal and attn_mask is None and key_padding_mask is None and L == S
                       and self.window is None and not self.alibi)
        mask = None if only_causal and not need_weights else self._mask(
            key_padding_mask, attn_mask, is_causal, B, L, S, q.dtype, cache is not None)
        if need_weights:
            context, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=dropout_p,
                                                            enable_gqa=grouped)
            if average_attn_weights:
                weights = weights.mean(dim=1)                                # (B, L, S)
        else:   # PyTorch's fused kernels; they also return zeros for fully masked rows
            context = F.scaled_dot_product_attention(q, k, v, mask, dropout_p,
                                                     is_causal=only_causal, enable_gqa=grouped)
            weights = None
        return self.out_proj(self.merge_heads(context)), weights
