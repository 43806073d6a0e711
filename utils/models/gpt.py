"""A decoder-only (GPT-style) language model with a key-value cache (chapter 10).

    x = embed(tokens) + positions;  per block:  x = x + CausalSelfAttention(LN(x));
                                                x = x + FFN(LN(x));   logits = W_out LN(x)

Generating token t+1 needs the keys and values of positions 0..t in every layer. Without a
cache they are recomputed from scratch at every step; the cache (one ``KVCache`` per block,
filled by ``MultiHeadAttention``) keeps them, so each step only projects the newest position.
Like every model of the book, ``forward`` returns ``(output, attention weights or None)``.

Chapter 14 builds the decoders of today's open models from the same class, by configuration:
``positions`` ("learned", "sinusoidal", "rope", "alibi" or "none"), ``kv_heads``
(grouped-query attention), ``window`` (sliding-window attention), ``normalization="rms"``,
``activation="swiglu"`` and ``bias=False`` — ``GPTConfig.llama(...)`` sets the last three, and
``utils.models.llama.gpt_from_llama`` copies the weights of a ``transformers`` Llama or Mistral.
Shapes: B batch, T positions, E width, H heads, D = E / H, V vocab.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..attention import KVCache
from ..validation import config_fields, divisible, one_of, token_ids, whole_number
from .blocks import TransformerStack, normalization_layer
from .positional import sinusoidal_positions


@dataclass
class GPTConfig:
    vocab: int
    d_model: int = 128
    heads: int = 4
    layers: int = 2
    d_ff: int = 512
    max_len: int = 256
    dropout: float = 0.1
    positions: str = "learned"
    kv_heads: int | None = None
    window: int | None = None
    rope_base: float = 10000.0
    normalization: str = "layer"
    activation: str = "relu"
    bias: bool = True
    eps: float = 1e-5

    def __post_init__(self):
        config_fields(self)
        divisible("d_model", self.d_model, "heads", self.heads)
        one_of("positions", self.positions, POSITIONS)

    @classmethod
    def llama(cls, vocab: int, **kwargs) -> "GPTConfig":
        """The block of Llama and Mistral: rotary positions, RMSNorm, SwiGLU, no biases, no
        dropout (any field can still be given)."""
        return cls(vocab, **{"positions": "rope", "normalization": "rms", "activation": "swiglu",
                             "bias": False, "dropout": 0.0, **kwargs})

    def attention_options(self) -> dict:
        """The MultiHeadAttention options this configuration asks for."""
        return {"num_kv_heads": self.kv_heads, "window": self.window,
                "rope_base": self.rope_base if self.positions == "rope" else None,
                "alibi": self.positions == "alibi"}


POSITIONS = ("learned", "sinusoidal", "rope", "alibi", "none")


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.embed = nn.Embedding(c.vocab, c.d_model)
        # positions added to the tokens (chapter 7); rope and alibi live inside the attention
        self.positions = nn.Embedding(c.max_len, c.d_model) if c.positions == "learned" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = TransformerStack(c.layers, c.d_model, c.heads, c.d_ff, c.dropout, "pre",
                                       c.activation, c.eps, causal=True,
                                       normalization=c.normalization, bias=c.bias,
                                       attention=c.attention_options())
        self.norm = normalization_layer(c.normalization, c.d_model, c.eps, c.bias)
        self.out = nn.Linear(c.d_model, c.vocab, bias=c.bias)
        for embedding in (self.embed, self.positions):
            if embedding is not None:
                nn.init.normal_(embedding.weight, std=0.02)
        if c.positions == "sinusoidal":
            # the Transformer's recipe (chapter 9): token vectors of unit variance (std E^-½
            # here, × √E in forward), as large as the sinusoids added to them
            nn.init.normal_(self.embed.weight, std=c.d_model ** -0.5)

    def new_cache(self) -> list[KVCache]:
        """An empty key-value cache: one ``KVCache`` per block."""
        return [KVCache() for _ in self.blocks]

    def forward(self, tokens: torch.Tensor, cache: list[KVCache] | None = None,
                need_weights: bool = False):
        """tokens (B, T) -> logits (B, T, V) and None, or with ``need_weights`` each block's
        attention weights, a list of (B, H, T, S). With a ``cache`` (from ``new_cache``) the
        tokens continue the positions it holds, and their keys and values are appended to it."""
        token_ids("tokens", tokens)
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"cache must hold one KVCache per block ({len(self.blocks)}), "
                             f"got {len(cache)}: make it with new_cache()")
        start = 0 if cache is None else len(cache[0])
        end = start + tokens.shape[1]
        x = self.embed(tokens)                                                 # (B, T, E)
        if self.config.positions == "sinusoidal":
            x = x * self.config.d_model ** 0.5
        if self.positions is not None:
            if end > self.config.max_len:
                raise ValueError(f"positions up to {end} exceed max_len = {self.config.max_len}")
            x = x + self.positions(torch.arange(start, end, device=tokens.device))
        elif self.config.positions == "sinusoidal":
            x = x + sinusoidal_positions(end, self.config.d_model, device=x.device)[start:]
        x, weights = self.blocks(self.drop(x), caches=cache, need_weights=need_weights)
        return self.out(self.norm(x)), weights if need_weights else None

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
        if self.positions is not None and prompt.shape[1] + steps > self.config.max_len:
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
