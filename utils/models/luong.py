"""Luong et al. (2015): attention computed *after* the decoder step, with dot, general or
concat scores, global or local (local-m, local-p) attention, and optional input feeding.

    s_t   = GRU(x_t, s_{t-1}),  x_t = e(y_{t-1})  (input feeding: x_t = [e(y_{t-1}); h̃_{t-1}])
    score(s_t, h_i) = s_tᵀ h_i | s_tᵀ W_a h_i | v_aᵀ tanh(W_a [s_t; h_i])     dot | general | concat
    α_t   = softmax over the window (local) or all positions (global). local-m centres the
            window at p_t = t (at most the last source position); local-p predicts
            p_t = S · sigmoid(v_pᵀ tanh(W_p s_t)) and multiplies by exp(-(i - p_t)² / 2σ²), σ = R/2
    c_t   = Σ_i α_ti h_i,   h̃_t = tanh(W_c [c_t; s_t]),   p(y_t | …) = softmax(W_s h̃_t)

Without input feeding s_t does not depend on attention, so all decoder states come from one
nn.GRU call and the attention of all steps is one batched matrix product. With input feeding
the decoder is a loop again. Local attention is computed here by masking the global scores,
which is exact but does not save time; on long inputs one would compute only the window.

Shapes: B batch, S source, T target, E embedding, H hidden (encoder: H/2 per direction).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..attention import attention_pool, masked_softmax, padding_to_valid
from ..special_tokens import BOS, PAD
from ..validation import config_fields
from .rnn import Encoder

SCORES = ("dot", "general", "concat")
KINDS = ("global", "local-m", "local-p")


@dataclass
class LuongConfig:
    src_vocab: int
    tgt_vocab: int
    embed_dim: int = 64
    hidden_size: int = 64  # decoder width = key width (bidirectional encoder, H/2 each way)
    score: str = "dot"
    attention: str = "global"
    window: int = 5  # R: local attention looks at [p_t - R, p_t + R]
    input_feeding: bool = False

    def __post_init__(self):
        config_fields(self, minimum={"window": 0})
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {SCORES}, got {self.score!r}")
        if self.attention not in KINDS:
            raise ValueError(f"attention must be one of {KINDS}, got {self.attention!r}")
        if self.hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two encoder directions), got {self.hidden_size}")


def local_weights(scores, valid, centre, window: int, gaussian: bool):
    """Local attention weights. scores (B, T, S), valid (B, 1 or T, S), centre p_t (B, T, 1).

    Softmax over the valid positions with |i - p_t| <= window (local-m); with ``gaussian``
    also times exp(-(i - p_t)² / 2σ²), σ = window / 2 (local-p, not renormalised)."""
    positions = torch.arange(scores.shape[-1], device=scores.device, dtype=scores.dtype)
    distance = positions.view(1, 1, -1) - centre  # (B, T, S)
    weights = masked_softmax(scores, valid & (distance.abs() <= window))
    if gaussian:
        weights = weights * torch.exp(-distance ** 2 / (2 * (window / 2) ** 2))
    return weights


class LuongAttention(nn.Module):
    """Scores, window and weights for a block of decoder states at once."""

    def __init__(self, config: LuongConfig):
        super().__init__()
        H = config.hidden_size
        self.config = config
        if config.score == "general":
            self.W_a = nn.Linear(H, H, bias=False)
        elif config.score == "concat":
            self.W_a = nn.Linear(2 * H, H, bias=False)
            self.v_a = nn.Linear(H, 1, bias=False)
        if config.attention == "local-p":
            self.W_p = nn.Linear(H, H, bias=False)
            self.v_p = nn.Linear(H, 1, bias=False)

    def scores(self, states, keys):
        """states (B, T, H), keys (B, S, H) -> (B, T, S)."""
        kind = self.config.score
        if kind == "dot":
            return states @ keys.transpose(1, 2)
        if kind == "general":
            return states @ self.W_a(keys).transpose(1, 2)
        W_s, W_h = self.W_a.weight[:, :states.shape[-1]], self.W_a.weight[:, states.shape[-1]:]
        energy = torch.tanh((states @ W_s.T).unsqueeze(2) + (keys @ W_h.T).unsqueeze(1))  # (B,T,S,H)
        return self.v_a(energy).squeeze(-1)

    def forward(self, states, keys, valid, lengths, steps):
        """states (B, T, H) for output steps ``steps`` (T,) -> context (B, T, H), weights (B, T, S)."""
        scores = self.scores(states, keys)  # (B, T, S)
        mask = valid.unsqueeze(1)  # (B, 1, S)
        if self.config.attention == "global":
            weights = masked_softmax(scores, mask)
        else:
            if self.config.attention == "local-m":
                # p_t = t, kept inside the sentence (German outputs are often longer)
                last = (lengths - 1).view(-1, 1, 1).float()  # (B, 1, 1)
                centre = torch.minimum(steps.view(1, -1, 1).float(), last)  # (B, T, 1)
            else:
                gate = torch.sigmoid(self.v_p(torch.tanh(self.W_p(states))))  # (B, T, 1)
                centre = gate * lengths.view(-1, 1, 1).float()  # p_t in [0, S]
            weights = local_weights(scores, mask, centre, self.config.window,
                                    gaussian=self.config.attention == "local-p")
        return attention_pool(weights, keys), weights


class LuongSeq2Seq(nn.Module):
    def __init__(self, config: LuongConfig):
        super().__init__()
        self.config = config
        H, E = config.hidden_size, config.embed_dim
        self.encoder = Encoder(config.src_vocab, E, H // 2, bidirectional=True)
        self.embedding = nn.Embedding(config.tgt_vocab, E, padding_idx=PAD)
        self.init_state = nn.Linear(H, H)
        rnn_input = E + H if config.input_feeding else E
        self.rnn = nn.GRU(rnn_input, H, batch_first=True)
        self.attention = LuongAttention(config)
        self.W_c = nn.Linear(2 * H, H, bias=False)
        self.W_s = nn.Linear(H, config.tgt_vocab)

    def encode(self, src, src_lengths):
        keys, final = self.encoder(src, src_lengths)  # (B, S, H), (B, H)
        state = torch.tanh(self.init_state(final)).unsqueeze(0)  # (1, B, H)
        return keys, padding_to_valid(src == PAD), state

    def _attend(self, states, keys, valid, src_lengths, steps):
        context, weights = self.attention(states, keys, valid, src_lengths, steps)
        attentional = torch.tanh(self.W_c(torch.cat([context, states], dim=-1)))  # h̃: (B, T, H)
        return self.W_s(attentional), attentional, weights

    def forward(self, src, src_lengths, tgt_in) -> tuple:
        """Teacher forcing: -> logits (B, T, V), weights (B, T, S)."""
        keys, valid, state = self.encode(src, src_lengths)
        embedded = self.embedding(tgt_in)  # (B, T, E)
        T = tgt_in.shape[1]
        if not self.config.input_feeding:
            states, _ = self.rnn(embedded, state)  # all steps in one call: (B, T, H)
            logits, _, weights = self._attend(states, keys, valid, src_lengths,
                                              torch.arange(T, device=src.device))
            return logits, weights
        feed = keys.new_zeros(keys.shape[0], 1, self.config.hidden_size)  # h̃_0 = 0
        logits, weights = [], []
        for t in range(T):
            step_in = torch.cat([embedded[:, t:t + 1], feed], dim=-1)  # (B, 1, E + H)
            s_t, state = self.rnn(step_in, state)  # (B, 1, H)
            step_logits, feed, alpha = self._attend(s_t, keys, valid, src_lengths,
                                                    torch.tensor([t], device=src.device))
            logits.append(step_logits)
            weights.append(alpha)
        return torch.cat(logits, dim=1), torch.cat(weights, dim=1)

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_len: int) -> tuple:
        keys, valid, state = self.encode(src, src_lengths)
        token = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
        feed = keys.new_zeros(keys.shape[0], 1, self.config.hidden_size)
        tokens, weights = [], []
        for t in range(max_len):
            step_in = self.embedding(token)  # (B, 1, E)
            if self.config.input_feeding:
                step_in = torch.cat([step_in, feed], dim=-1)
            s_t, state = self.rnn(step_in, state)
            logits, feed, alpha = self._attend(s_t, keys, valid, src_lengths,
                                               torch.tensor([t], device=src.device))
            token = logits.argmax(-1)  # (B, 1)
            tokens.append(token)
            weights.append(alpha)
        return torch.cat(tokens, dim=1), torch.cat(weights, dim=1)
