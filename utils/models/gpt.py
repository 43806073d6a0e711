"""A decoder-only (GPT-style) language model with a key-value cache (chapter 10).

    x = embed(tokens) + positions;  per block:  x = x + CausalSelfAttention(LN(x));
                                                x = x + FFN(LN(x));   logits = W_out LN(x)

Generating token t+1 needs the keys and values of positions 0..t in every layer. Without a
cache they are recomputed from scratch at every step; the cache keeps them, so each step only
projects the newest position. Shapes: B batch, T positions, E width, H heads, D = E / H, V vocab.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import MultiHeadAttention
from .transformer import FeedForward


@dataclass
class GPTConfig:
    vocab: int
    d_model: int = 128
    heads: int = 4
    layers: int = 2
    d_ff: int = 512
    max_len: int = 256
    dropout: float = 0.1


class GPTBlock(nn.Module):
    def __init__(self, c: GPTConfig):
        super().__init__()
        self.attention = MultiHeadAttention(c.d_model, c.heads, c.dropout)
        self.ffn = FeedForward(c.d_model, c.d_ff, c.dropout)
        self.norm1, self.norm2 = nn.LayerNorm(c.d_model), nn.LayerNorm(c.d_model)
        self.drop = nn.Dropout(c.dropout)

    def attend(self, h, cache):
        """Causal self-attention of the new positions h (B, T, E) over the cached keys and
        values (each (B, H, P, D), or None) and their own -> output (B, T, E), new cache."""
        mha = self.attention
        q, k, v = (mha.split_heads(p(h)) for p in (mha.q_proj, mha.k_proj, mha.v_proj))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        T, S = q.shape[2], k.shape[2]
        # new position i (absolute S - T + i) may see keys 0 .. S - T + i
        allowed = torch.ones(T, S, dtype=torch.bool, device=h.device).tril(diagonal=S - T)
        p = mha.dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        return mha.out_proj(mha.merge_heads(context)), (k, v)

    def forward(self, x, cache=None):
        a, cache = self.attend(self.norm1(x), cache)
        x = x + self.drop(a)
        return x + self.drop(self.ffn(self.norm2(x))), cache


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab, c.d_model)
        self.positions = nn.Embedding(c.max_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(GPTBlock(c) for _ in range(c.layers))
        self.norm, self.out = nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.vocab)
        for embedding in (self.embed, self.positions):
            nn.init.normal_(embedding.weight, std=0.02)

    def forward(self, tokens: torch.Tensor, cache: list | None = None):
        """tokens (B, T) continuing the cached positions -> logits (B, T, V), new cache
        (one (keys, values) pair per layer)."""
        start = 0 if cache is None else cache[0][0].shape[2]
        end = start + tokens.shape[1]
        if end > self.config.max_len:
            raise ValueError(f"positions up to {end} exceed max_len = {self.config.max_len}")
        x = self.embed(tokens) + self.positions(torch.arange(start, end, device=tokens.device))
        x, new_cache = self.drop(x), []
        for i, block in enumerate(self.blocks):
            x, layer_cache = block(x, None if cache is None else cache[i])
            new_cache.append(layer_cache)
        return self.out(self.norm(x)), new_cache

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, steps: int, temperature: float = 1.0,
                 use_cache: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``steps`` tokens after ``prompt`` (B, T0) -> (B, T0 + steps). Temperature 0
        means greedy (argmax)."""
        if prompt.dim() != 2 or prompt.shape[1] < 1 or prompt.is_floating_point():
            raise ValueError(f"prompt must be a (batch, length >= 1) tensor of token ids, got "
                             f"shape {tuple(prompt.shape)} and dtype {prompt.dtype}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ValueError(f"steps must be a whole number >= 0, got {steps!r}")
        if not (temperature >= 0 and temperature != float("inf")):
            raise ValueError(f"temperature must be finite and >= 0 (0 = greedy), got {temperature}; "
                             "a negative one would sample from the reversed distribution")
        if prompt.shape[1] + steps > self.config.max_len:
            raise ValueError(f"prompt of {prompt.shape[1]} tokens + {steps} steps exceeds "
                             f"max_len = {self.config.max_len}")
        tokens, cache = prompt, None
        logits, cache = self(prompt)
        for _ in range(steps):
            last = logits[:, -1]
            if temperature == 0:
                nxt = last.argmax(-1, keepdim=True)
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            tokens = torch.cat([tokens, nxt], dim=1)
            if use_cache:
                logits, cache = self(nxt, cache)
            else:
                logits, _ = self(tokens)
        return tokens
