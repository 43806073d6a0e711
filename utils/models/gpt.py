"""A decoder-only (GPT-style) language model with a key-value cache (chapter 10).

    x = embed(tokens) + positions;  per block:  x = x + CausalSelfAttention(LN(x));
                                                x = x + FFN(LN(x));   logits = W_out LN(x)

Generating token t+1 needs the keys and values of positions 0..t in every layer. Without a
cache they are recomputed from scratch at every step; the cache (one ``KVCache`` per block,
filled by ``MultiHeadAttention``) keeps them, so each step only projects the newest position.
Like every model of the book, ``forward`` returns ``(output, attention weights or None)``.
Shapes: B batch, T positions, E width, H heads, D = E / H, V vocab.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..attention import KVCache
from ..validation import config_fields, divisible, token_ids, whole_number
from .blocks import TransformerStack


@dataclass
class GPTConfig:
    vocab: int
    d_model: int = 128
    heads: int = 4
    layers: int = 2
    d_ff: int = 512
    max_len: int = 256
    dropout: float = 0.1

    def __post_init__(self):
        config_fields(self)
        divisible("d_model", self.d_model, "heads", self.heads)


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab, c.d_model)
        self.positions = nn.Embedding(c.max_len, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = TransformerStack(c.layers, c.d_model, c.heads, c.d_ff, c.dropout, "pre",
                                       causal=True)
        self.norm, self.out = nn.LayerNorm(c.d_model), nn.Linear(c.d_model, c.vocab)
        for embedding in (self.embed, self.positions):
            nn.init.normal_(embedding.weight, std=0.02)

    def new_cache(self) -> list[KVCache]:
        """An empty key-value cache: one ``KVCache`` per block."""
        return [KVCache() for _ in self.blocks]

    def forward(self, tokens: torch.Tensor, cache: list[KVCache] | None = None):
        """tokens (B, T) -> logits (B, T, V), None. With a ``cache`` (from ``new_cache``) the
        tokens continue the positions it holds, and their keys and values are appended to it."""
        token_ids("tokens", tokens)
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"cache must hold one KVCache per block ({len(self.blocks)}), "
                             f"got {len(cache)}: make it with new_cache()")
        start = 0 if cache is None else len(cache[0])
        end = start + tokens.shape[1]
        if end > self.config.max_len:
            raise ValueError(f"positions up to {end} exceed max_len = {self.config.max_len}")
        x = self.embed(tokens) + self.positions(torch.arange(start, end, device=tokens.device))
        x, _ = self.blocks(self.drop(x), caches=cache)
        return self.out(self.norm(x)), None

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, steps: int, temperature: float = 1.0,
                 use_cache: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Sample ``steps`` tokens after ``prompt`` (B, T0) -> (B, T0 + steps). Temperature 0
        means greedy (argmax)."""
        token_ids("prompt", prompt, what="(batch, length >= 1)")
        if prompt.shape[1] < 1:
            raise ValueError("prompt must hold at least one token per sequence, got length 0")
        whole_number("steps", steps, 0)
        if not (temperature >= 0 and temperature != float("inf")):
            raise ValueError(f"temperature must be finite and >= 0 (0 = greedy), got {temperature}; "
                             "a negative one would sample from the reversed distribution")
        if prompt.shape[1] + steps > self.config.max_len:
            raise ValueError(f"prompt of {prompt.shape[1]} tokens + {steps} steps exceeds "
                             f"max_len = {self.config.max_len}")
        tokens, cache = prompt, self.new_cache() if use_cache else None
        logits, _ = self(prompt, cache)
        for _ in range(steps):
            last = logits[:, -1]
            if temperature == 0:
                nxt = last.argmax(-1, keepdim=True)
            else:
                probs = torch.softmax(last / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)
            tokens = torch.cat([tokens, nxt], dim=1)
            logits, _ = self(nxt, cache) if use_cache else self(tokens)
        return tokens
