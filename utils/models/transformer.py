"""The Transformer encoder-decoder (Vaswani et al., 2017), built from the book's blocks.

    encoder block:  x = x + SelfAttention(x);            x = x + FFN(x)
    decoder block:  y = y + CausalSelfAttention(y);      y = y + CrossAttention(y, memory);
                    y = y + FFN(y)

with LayerNorm either after each residual sum (``norm="post"``, the original paper) or at the
start of each branch (``norm="pre"``, plus a final LayerNorm per stack). Both stacks are
``utils.models.blocks.TransformerStack``s (the decoder's causal, with cross-attention).

Shapes: B batch, S source length, T target length, E model width, H heads, V vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..attention import lengths_to_valid
from ..special_tokens import BOS, PAD
from .blocks import TransformerStack
from .positional import SinusoidalPositions
from ..validation import config_fields, divisible, one_of
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
        config_fields(self)
        divisible("d_model", self.d_model, "heads", self.heads)
        one_of("norm", self.norm, ("pre", "post"))


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
        self.encoder = TransformerStack(c.encoder_layers, *block)
        self.decoder = TransformerStack(c.decoder_layers, *block, causal=True, cross_attention=True)
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
        x, weights = self.encoder(self._embed(self.src_embed, src), padding,
                                  need_weights=need_weights)
        return self.encoder_norm(x), padding, weights

    def decode(self, tgt_in, memory, padding, need_weights=False):
        """tgt_in (B, T) -> logits (B, T, V), per-layer cross weights [(B, H, T, S)]."""
        y, weights = self.decoder(self._embed(self.tgt_embed, tgt_in), memory=memory,
                                  memory_padding=padding, need_weights=need_weights)
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
