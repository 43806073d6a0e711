"""RNNsearch (Bahdanau et al., 2014): a GRU decoder with additive attention over a
bidirectional GRU encoder.

At output step t the *query* is the decoder state s_{t-1}, the state before y_t is produced:
s_t itself cannot be the query, because computing s_t needs the context c_t.

    e_ti = vᵀ tanh(W₁ h_i + W₂ s_{t-1}),   α_t = softmax(e_t),   c_t = Σ_i α_ti h_i
    s_t  = GRU([e(y_{t-1}); c_t], s_{t-1}),  p(y_t | …) = softmax(W_out [s_t; e(y_{t-1}); c_t])
    s_0  = tanh(W_init ←h_1)   (the backward encoder state at the first source word)

Shapes: B batch, S source length, T target length, E embedding, H hidden (per direction).
"""
from __future__ import annotations

import torch
from torch import nn

from ..attention import AdditiveAttention, additive_mask, padding_to_valid
from ..special_tokens import BOS, PAD
from .rnn import Encoder, Seq2SeqConfig


class BahdanauDecoder(nn.Module):
    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, key_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.attention = AdditiveAttention(hidden_size, key_size, hidden_size)
        self.cell = nn.GRUCell(embed_dim + key_size, hidden_size)
        self.out = nn.Linear(hidden_size + embed_dim + key_size, vocab_size)

    def recur(self, embedded, state, keys, projected_keys, mask):
        """Attend with s_{t-1}, then update the state. embedded e(y_{t-1}) (B, E), state (B, H)
        -> new state s_t (B, H), context c_t (B, 2H), weights α_t (B, S)."""
        context, weights = self.attention(state, projected_keys, keys, mask)  # (B, 2H), (B, S)
        state = self.cell(torch.cat([embedded, context], dim=-1), state)  # (B, H)
        return state, context, weights

    def step(self, prev_tokens, state, keys, projected_keys, mask):
        """One output step. prev_tokens (B,), state s_{t-1} (B, H); mask (B, S) as in
        ``AdditiveAttention`` -> logits (B, V), new state s_t (B, H), weights α_t (B, S)."""
        embedded = self.embedding(prev_tokens)  # (B, E)
        state, context, weights = self.recur(embedded, state, keys, projected_keys, mask)
        logits = self.out(torch.cat([state, embedded, context], dim=-1))  # (B, V)
        return logits, state, weights


class BahdanauSeq2Seq(nn.Module):
    """The full model; ``forward`` returns (logits, attention weights)."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        H = config.hidden_size
        self.encoder = Encoder(config.src_vocab, config.embed_dim, H, bidirectional=True)
        self.init_state = nn.Linear(H, H)
        self.decoder = BahdanauDecoder(config.tgt_vocab, config.embed_dim, H, 2 * H)

    def encode(self, src, src_lengths):
        keys, _ = self.encoder(src, src_lengths)  # (B, S, 2H): [→h_i; ←h_i]
        mask = additive_mask(padding_to_valid(src == PAD), keys.dtype)  # (B, S): 0 or -inf
        backward_first = keys[:, 0, self.config.hidden_size:]  # ←h_1: (B, H)
        state = torch.tanh(self.init_state(backward_first))  # s_0: (B, H)
        projected = self.decoder.attention.project_keys(keys)  # W₁ h_i once per batch: (B, S, H)
        return keys, projected, mask, state

    def forward(self, src, src_lengths, tgt_in) -> tuple:
        """Teacher forcing: (B, S), (B,), (B, T) -> logits (B, T, V), weights (B, T, S)."""
        keys, projected, mask, state = self.encode(src, src_lengths)
        embedded = self.decoder.embedding(tgt_in)  # (B, T, E): all steps at once
        states, contexts, weights = [], [], []
        for t in range(tgt_in.shape[1]):  # the recurrence is a loop ...
            state, context, alpha = self.decoder.recur(embedded[:, t], state, keys, projected,
                                                       mask)
            states.append(state)
            contexts.append(context)
            weights.append(alpha)
        features = torch.cat([torch.stack(states, 1), embedded, torch.stack(contexts, 1)], -1)
        return self.decoder.out(features), torch.stack(weights, dim=1)  # ... the output is not

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_len: int) -> tuple:
        """Greedy decoding -> tokens (B, max_len), weights (B, max_len, S)."""
        keys, projected, mask, state = self.encode(src, src_lengths)
        token = torch.full((src.shape[0],), BOS, dtype=torch.long, device=src.device)
        tokens, weights = [], []
        for _ in range(max_len):
            logits, state, alpha = self.decoder.step(token, state, keys, projected, mask)
            token = logits.argmax(-1)  # (B,)
            tokens.append(token)
            weights.append(alpha)
        return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)
