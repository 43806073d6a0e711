"""BERT's encoder built from the book's blocks (chapter 11), and mean pooling.

    h₀ = LN(word[token] + position[t] + segment[0]);   post-LN blocks with GELU feed-forward;
    sentence vector = mean of the last hidden states over the real (non-padding) tokens

``utils.pretrained`` loads all-MiniLM-L6-v2's weights into it. Shapes: N sentences, L tokens
(the longest in the batch), E width, H heads.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..validation import config_fields, divisible, floats, tensor, token_ids
from .blocks import TransformerStack


@dataclass
class BertConfig:
    vocab: int = 30522
    d_model: int = 384
    heads: int = 12
    layers: int = 6
    d_ff: int = 1536
    max_len: int = 512
    type_vocab: int = 2
    eps: float = 1e-12
    dropout: float = 0.1

    def __post_init__(self):
        config_fields(self)
        divisible("d_model", self.d_model, "heads", self.heads)


class BertEncoder(nn.Module):
    """BERT's encoder from the book's blocks: embeddings, then post-LN GELU blocks."""

    def __init__(self, config: BertConfig | None = None):
        super().__init__()
        c = self.config = config or BertConfig()
        self.word = nn.Embedding(c.vocab, c.d_model)
        self.position = nn.Embedding(c.max_len, c.d_model)
        self.segment = nn.Embedding(c.type_vocab, c.d_model)
        self.norm, self.drop = nn.LayerNorm(c.d_model, c.eps), nn.Dropout(c.dropout)
        self.blocks = TransformerStack(c.layers, c.d_model, c.heads, c.d_ff, c.dropout, "post",
                                       "gelu", c.eps)

    def forward(self, input_ids, attention_mask, need_weights=False):
        """input_ids, attention_mask (N, L) with 1 = real token -> hidden states (N, L, E) and
        a list of each layer's attention weights (N, H, L, L) (empty unless need_weights)."""
        token_ids("input_ids", input_ids, what="(N, L)")
        _same_shape("attention_mask", attention_mask, input_ids)
        if input_ids.shape[1] > self.config.max_len:
            raise ValueError(f"input_ids of length {input_ids.shape[1]} exceed max_len = "
                             f"{self.config.max_len}")
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        h = self.word(input_ids) + self.position(positions) + self.segment(
            torch.zeros_like(input_ids))
        h = self.drop(self.norm(h))
        padding = attention_mask == 0                          # PyTorch: True = ignore
        h, weights = self.blocks(h, padding, need_weights=need_weights)
        return h, (weights if need_weights else [])


def _same_shape(name: str, mask, like: torch.Tensor) -> None:
    tensor(name, mask)
    if mask.shape != like.shape:
        raise ValueError(f"{name} must have shape {tuple(like.shape)} (1 = real token), got "
                         f"{tuple(mask.shape)}")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the hidden states (N, L, E) over real tokens (mask (N, L), 1 = real)."""
    floats("hidden", hidden, "(N, L, E)", dims=3)
    _same_shape("attention_mask", attention_mask, hidden[..., 0])
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
