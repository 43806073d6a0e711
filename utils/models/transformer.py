"""The Transformer encoder-decoder (Vaswani et al., 2017), built from the book's attention.

    encoder block:  x = x + SelfAttention(x);            x = x + FFN(x)
    decoder block:  y = y + CausalSelfAttention(y);      y = y + CrossAttention(y, memory);
                    y = y + FFN(y)

with LayerNorm either after each residual sum (``norm="post"``, the original paper) or at the
start of each branch (``norm="pre"``, plus a final LayerNorm per stack). The blocks mirror
``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` (ReLU feed-forward, dropout
after attention, inside and after the feed-forward), which the tests copy weights from.

Shapes: B batch, S source length, T target length, E model width, H heads, V vocabulary.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from ..attention import MultiHeadAttention, lengths_to_valid
from ..special_tokens import BOS, PAD
from .positional import SinusoidalPositions
from .rnn import check_source


@dataclass
class TransformerConfig:
    src_vocab: int
    tgt_vocab: int
    d_model: int = 64
    heads: int = 4
    d_ff: int = 128
    encoder_layers: int = 2
    decoder_layers: int = 2
    dropout: float = 0.1
    norm: str = "pre"  # "pre" or "post"

    def __post_init__(self):
        if self.norm not in ("pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {self.norm!r}")


ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}   # GELU: the exact (erf) form, as in BERT


class FeedForward(nn.Sequential):
    """Position-wise FFN(x) = W₂ dropout(act(W₁ x)): (…, E) -> (…, E); act is ReLU (the
    original Transformer) or GELU (BERT, GPT). The layers carry ``nn.TransformerEncoderLayer``'s
    names, ``linear1`` and ``linear2``, so checkpoints map by name, not by position."""

    def __init__(self, d_model: int, d_ff: int, dropout: float, activation: str = "relu"):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        super().__init__(OrderedDict(linear1=nn.Linear(d_model, d_ff),
                                     activation=ACTIVATIONS[activation](),
                                     dropout=nn.Dropout(dropout),
                                     linear2=nn.Linear(d_ff, d_model)))


class EncoderBlock(nn.Module):
    """Self-attention and feed-forward sublayers with residual connections; ``norm`` "pre" or
    "post"; ``activation`` and ``eps`` (LayerNorm's) let the block match BERT (chapter 11)."""

    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm: str,
                 activation: str = "relu", eps: float = 1e-5):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1, self.norm2 = nn.LayerNorm(d_model, eps), nn.LayerNorm(d_model, eps)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.pre = norm == "pre"

    def forward(self, x, padding=None, need_weights=False):
        """x (B, S, E), padding (B, S) True = pad -> (B, S, E), weights (B, H, S, S) or None."""
        h = self.norm1(x) if self.pre else x
        a, w = self.self_attention(h, h, h, key_padding_mask=padding, need_weights=need_weights,
                                   average_attn_weights=False)
        x = x + self.drop1(a) if self.pre else self.norm1(x + self.drop1(a))
        if self.pre:
            return x + self.drop2(self.ffn(self.norm2(x))), w
        return self.norm2(x + self.drop2(self.ffn(x))), w


class DecoderBlock(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int, dropout: float, norm: str):
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, heads, dropout)
        self.cross_attention = MultiHeadAttention(d_model, heads, dropout)
        self.ffn = FeedForward(d_model, d_ff, dropout)
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.drops = nn.ModuleList(nn.Dropout(dropout) for _ in range(3))
        self.pre = norm == "pre"

    def _residual(self, i, x, branch):
        if self.pre:
            out, w = branch(self.norms[i](x))
            return x + self.drops[i](out), w
        out, w = branch(x)
        return self.norms[i](x + self.drops[i](out)), w

    def forward(self, y, memory, memory_padding=None, need_weights=False):
        """y (B, T, E), memory (B, S, E) -> (B, T, E), cross-attention weights (B, H, T, S)."""
        y, _ = self._residual(0, y, lambda h: self.self_attention(
            h, h, h, is_causal=True, need_weights=False))
        y, w = self._residual(1, y, lambda h: self.cross_attention(
            h, memory, memory, key_padding_mask=memory_padding, need_weights=need_weights,
            average_attn_weights=False))
        y, _ = self._residual(2, y, lambda h: (self.ffn(h), None))
        return y, w


class Seq2SeqTransformer(nn.Module):
    """Embeddings × √E + sinusoidal positions, an encoder stack and a decoder stack.

    Called like the book's RNN models: ``model(src, src_lengths, tgt_in)`` -> logits (B, T, V)
    and the last decoder layer's cross-attention averaged over heads (B, T, S);
    ``greedy(src, src_lengths, max_len)`` -> tokens (B, max_len) and those weights.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        c, self.config = config, config
        self.src_embed = nn.Embedding(c.src_vocab, c.d_model, padding_idx=PAD)
        self.tgt_embed = nn.Embedding(c.tgt_vocab, c.d_model, padding_idx=PAD)
        for embedding in (self.src_embed, self.tgt_embed):   # × √E below gives unit variance
            nn.init.normal_(embedding.weight, std=c.d_model ** -0.5)
            embedding.weight.data[PAD] = 0.0
        self.positions, self.drop = SinusoidalPositions(c.d_model), nn.Dropout(c.dropout)
        block = (c.d_model, c.heads, c.d_ff, c.dropout, c.norm)
        self.encoder = nn.ModuleList(EncoderBlock(*block) for _ in range(c.encoder_layers))
        self.decoder = nn.ModuleList(DecoderBlock(*block) for _ in range(c.decoder_layers))
        final = (lambda: nn.LayerNorm(c.d_model)) if c.norm == "pre" else nn.Identity
        self.encoder_norm, self.decoder_norm = final(), final()
        self.out = nn.Linear(c.d_model, c.tgt_vocab)

    def _embed(self, embedding, tokens):
        return self.drop(self.positions(embedding(tokens) * self.config.d_model ** 0.5))

    def encode(self, src, src_lengths=None, need_weights=False):
        """src (B, S) -> memory (B, S, E), padding (B, S), per-layer weights [(B, H, S, S)].

        Padding is what ``src_lengths`` (B,) says lies beyond each sentence's end, as for the
        recurrent models; without lengths, every PAD token is padding."""
        if src_lengths is None:
            padding = src == PAD
        else:
            check_source(src, src_lengths)
            padding = ~lengths_to_valid(src_lengths.to(src.device), src.shape[1])  # (B, S)
        x, weights = self._embed(self.src_embed, src), []
        for block in self.encoder:
            x, w = block(x, padding, need_weights)
            weights.append(w)
        return self.encoder_norm(x), padding, weights

    def decode(self, tgt_in, memory, padding, need_weights=False):
        """tgt_in (B, T) -> logits (B, T, V), per-layer cross weights [(B, H, T, S)]."""
        y, weights = self._embed(self.tgt_embed, tgt_in), []
        for block in self.decoder:
            y, w = block(y, memory, padding, need_weights)
            weights.append(w)
        return self.out(self.decoder_norm(y)), weights

    def forward(self, src, src_lengths, tgt_in):
        memory, padding, _ = self.encode(src, src_lengths)
        logits, weights = self.decode(tgt_in, memory, padding, need_weights=not self.training)
        return logits, (weights[-1].mean(1) if weights[-1] is not None else None)

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_len: int):
        """Feed each step's argmax back in; the whole prefix is re-decoded at every step
        (chapter 10 caches the keys and values instead)."""
        memory, padding, _ = self.encode(src, src_lengths)
        tokens = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
        for _ in range(max_len):
            logits, _ = self.decode(tokens, memory, padding)
            tokens = torch.cat([tokens, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        _, weights = self.decode(tokens[:, :-1], memory, padding, need_weights=True)
        return tokens[:, 1:], weights[-1].mean(1)
