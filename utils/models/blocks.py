"""One Transformer block and one stack of them, for every Transformer of the book (chapters 9-12).

    self-attention (bidirectional, or causal with an optional key-value cache)
    [cross-attention over a memory]                         (a decoder block)
    feed-forward

Each sub-layer has a residual connection and a LayerNorm, before the sub-layer (``norm="pre"``)
or after the residual sum (``norm="post"``, the original Transformer and BERT).

The block of today's language models (Llama, Mistral; chapter 14) is the same block with
keyword-only options: ``normalization="rms"`` (RMSNorm instead of LayerNorm),
``activation="swiglu"`` (the gated feed-forward below), ``bias=False`` (no biases anywhere) and
the attention's options ``num_kv_heads``, ``rope_base``, ``alibi`` and ``window``. The names follow
``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` (``norm1``…, ``drop1``…, and
``linear1``/``linear2`` inside ``ffn``), so checkpoints map by name; the tests copy PyTorch's
layers' weights into these blocks and compare. The seq2seq Transformer (chapter 9), GPT
(chapter 10), BERT's encoder (chapter 11) and the ViT (chapter 12) are all stacks of this block.

Shapes: B batch, L positions of the block's input, S positions of the memory, E = d_model,
H heads.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import KVCache, MultiHeadAttention
from ..validation import one_of, positive, probability, whole_number

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}   # GELU: the exact (erf) form, as in BERT


class FeedForward(nn.Sequential):
    """Position-wise FFN(x) = W₂ dropout(act(W₁ x)): (…, E) -> (…, E); act is ReLU (the
    original Transformer) or GELU (BERT, GPT). The layers carry ``nn.TransformerEncoderLayer``'s
    names, ``linear1`` and ``linear2``, so checkpoints map by name, not by position."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str = "relu",
                 bias: bool = True):
        whole_number("d_model", d_model)
        whole_number("d_ff", d_ff)
        probability("dropout", dropout)
        one_of("activation", activation, sorted(ACTIVATIONS))
        super().__init__(OrderedDict(linear1=nn.Linear(d_model, d_ff, bias=bias),
                                     activation=ACTIVATIONS[activation](),
                                     dropout=nn.Dropout(dropout),
                                     linear2=nn.Linear(d_ff, d_model, bias=bias)))


class GatedFeedForward(nn.Module):
    """SwiGLU (Shazeer, 2020): FFN(x) = W_down (SiLU(W_gate x) ⊙ W_up x): (…, E) -> (…, E).
    The layers carry ``transformers``' Llama names, ``gate_proj``, ``up_proj``, ``down_proj``."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, bias: bool = False):
        whole_number("d_model", d_model)
        whole_number("d_ff", d_ff)
        probability("dropout", dropout)
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.up_proj = nn.Linear(d_model, d_ff, bias=bias)
        self.down_proj = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated = F.silu(self.gate_proj(x)) * self.up_proj(x)                    # (…, d_ff)
        return self.down_proj(self.dropout(gated))


NORMALIZATIONS = {"layer": nn.LayerNorm, "rms": nn.RMSNorm}


def normalization_layer(kind: str, d_model: int, eps: float, bias: bool = True) -> nn.Module:
    """LayerNorm (with or without its bias) or RMSNorm (x / RMS(x) · g, which has none)."""
    one_of("normalization", kind, sorted(NORMALIZATIONS))
    if kind == "layer":
        return nn.LayerNorm(d_model, eps, bias=bias)
    return nn.RMSNorm(d_model, eps)


class TransformerBlock(nn.Module):
    """``TransformerBlock(d_model, heads, d_ff, dropout=0.0, norm="pre", activation="relu",
    eps=1e-5, causal=False, cross_attention=False)``.

    An encoder block is the default; ``causal=True`` makes a decoder-only (GPT) block;
    ``causal=True, cross_attention=True`` an encoder-decoder's decoder block. Keyword-only,
    for chapter 14: ``normalization`` ("layer" or "rms"), ``bias``, and ``attention``, a dict of
    ``MultiHeadAttention``'s options (``num_kv_heads``, ``rope_base``, ``alibi``, ``window``)
    for the self-attention."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float = 0.0,
                 norm: str = "pre", activation: str = "relu", eps: float = 1e-5,
                 causal: bool = False, cross_attention: bool = False, *,
                 normalization: str = "layer", bias: bool = True,
                 attention: dict | None = None):
        super().__init__()
        one_of("norm", norm, ("pre", "post"))
        one_of("activation", activation, sorted(ACTIVATIONS) + ["swiglu"])
        positive("eps", eps)
        self.self_attention = MultiHeadAttention(d_model, heads, dropout, bias,
                                                 **(attention or {}))
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout, bias) \
            if cross_attention else None
        self.ffn = GatedFeedForward(d_model, d_ff, dropout, bias) if activation == "swiglu" \
            else FeedForward(d_model, d_ff, dropout, activation, bias)
        self.norm1, self.norm2 = (normalization_layer(normalization, d_model, eps, bias)
                                  for _ in range(2))
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)
        if cross_attention:
            self.norm3 = normalization_layer(normalization, d_model, eps, bias)
            self.drop3 = nn.Dropout(dropout)
        self.pre, self.causal = norm == "pre", causal

    def _sublayer(self, x, norm, drop, branch):
        """x + branch(LN(x)) (pre-LN) or LN(x + branch(x)) (post-LN); branch -> (out, w)."""
        if self.pre:
            out, w = branch(norm(x))
            return x + drop(out), w
        out, w = branch(x)
        return norm(x + drop(out)), w

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None, *,
                memory: torch.Tensor | None = None, memory_padding: torch.Tensor | None = None,
                cache: KVCache | None = None, need_weights: bool = False):
        """x (B, L, E); padding (B, L) True = pad; memory (B, S, E) and memory_padding (B, S)
        for a block with cross-attention; a ``KVCache`` for a causal block that continues
        earlier positions -> (B, L, E) and the attention weights per head, (B, H, L, S) of the
        cross-attention if there is one, else (B, H, L, L) of the self-attention; None unless
        ``need_weights``."""
        if (memory is None) != (self.cross_attention is None):
            raise ValueError("memory is needed by a block with cross-attention, and only by one")
        if cache is not None and not self.causal:
            raise ValueError("a key-value cache needs a causal block (causal=True)")
        own_weights = need_weights and memory is None
        x, w = self._sublayer(x, self.norm1, self.drop1, lambda h: self.self_attention(
            h, h, h, key_padding_mask=padding, need_weights=own_weights,
            average_attn_weights=False, is_causal=self.causal, cache=cache))
        if self.cross_attention is not None:
            x, w = self._sublayer(x, self.norm2, self.drop2, lambda h: self.cross_attention(
                h, memory, memory, key_padding_mask=memory_padding, need_weights=need_weights,
                average_attn_weights=False))
        last_norm, last_drop = (self.norm3, self.drop3) if self.cross_attention is not None \
            else (self.norm2, self.drop2)
        x, _ = self._sublayer(x, last_norm, last_drop, lambda h: (self.ffn(h), None))
        return x, w


class TransformerStack(nn.ModuleList):
    """``layers`` TransformerBlocks built with the same arguments, applied in turn."""

    def __init__(self, layers: int, *args, **kwargs):
        whole_number("layers", layers)
        super().__init__(TransformerBlock(*args, **kwargs) for _ in range(layers))

    def forward(self, x: torch.Tensor, padding: torch.Tensor | None = None, *,
                memory: torch.Tensor | None = None, memory_padding: torch.Tensor | None = None,
                caches: list | None = None, need_weights: bool = False):
        """Each block in turn -> (B, L, E) and a list of each block's weights (or Nones).
        ``caches``: one ``KVCache`` per block, or None."""
        if caches is not None and len(caches) != len(self):
            raise ValueError(f"caches must hold one KVCache per block ({len(self)}), got "
                             f"{len(caches)}")
        weights = []
        for i, block in enumerate(self):
            x, w = block(x, padding, memory=memory, memory_padding=memory_padding,
                         cache=None if caches is None else caches[i], need_weights=need_weights)
            weights.append(w)
        return x, weights
