"""Attention building blocks: masks, a numerically stable masked softmax, attention pooling,
the additive (Bahdanau) score, scaled dot-product attention, multi-head attention with an
optional key-value cache, and tiled attention that never stores the full weight matrix.

Mask conventions — PyTorch uses two opposite boolean meanings, and so do we, each in the
place PyTorch does:

* ``valid`` / ``attn_mask`` (as in ``F.scaled_dot_product_attention``): True = may attend;
* ``key_padding_mask`` (as in ``nn.MultiheadAttention`` and ``Batch.src_key_padding_mask``):
  True = padding, ignore.

``padding_to_valid`` converts the second into the first. A row whose keys are *all* masked gets
all-zero weights (its context is the zero vector) instead of the NaNs a plain softmax of
``-inf`` scores gives.

``scaled_dot_product_attention`` takes SDPA's ``attn_mask`` (True = attend) and
``MultiHeadAttention`` takes nn.MultiheadAttention's masks (True = ignore), each as PyTorch does.

Shape letters: B batch, L queries, S keys, D key/query width, K value width, A attention width,
E model width, H heads.
"""
from .additive import AdditiveAttention, additive_mask
from .cache import KVCache
from .masks import (attention_entropy, attention_pool, causal_mask, lengths_to_valid,
                    masked_softmax, padding_to_valid)
from .multihead import MultiHeadAttention
from .scaled import scaled_dot_product_attention
from .tiled import tiled_attention

__all__ = ["AdditiveAttention", "KVCache", "MultiHeadAttention", "additive_mask",
           "attention_entropy", "attention_pool", "causal_mask", "lengths_to_valid",
           "masked_softmax", "padding_to_valid", "scaled_dot_product_attention", "tiled_attention"]
