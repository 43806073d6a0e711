"""GRU encoder and the fixed-context decoder of Cho et al. (2014).

Shape letters: B batch, S source length, T target length, E embedding width, H hidden width,
V vocabulary size.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..special_tokens import BOS, PAD
from ..validation import config_fields


def check_source(src: torch.Tensor, src_lengths: torch.Tensor) -> None:
    """Raise a one-sentence ValueError unless src is (B, S) integer ids with lengths (B,)."""
    if src.dim() != 2 or src.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"src must be a (batch, length) tensor of token ids, "
                         f"got shape {tuple(src.shape)} and dtype {src.dtype}")
    if src_lengths.shape != (src.shape[0],):
        raise ValueError(f"src_lengths must have shape ({src.shape[0]},) to match src, "
                         f"got {tuple(src_lengths.shape)}")
    if int(src_lengths.min()) < 1 or int(src_lengths.max()) > src.shape[1]:
        raise ValueError(f"src_lengths must lie in 1..{src.shape[1]}, got "
                         f"{int(src_lengths.min())}..{int(src_lengths.max())}")


def last_valid_state(outputs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The output at each sequence's last real (non-padding) position.

    outputs: (B, S, H), lengths: (B,) -> (B, H). ``outputs[:, -1]`` would be wrong for every
    sequence shorter than S: it reads a padding position.
    """
    if outputs.dim() != 3:
        raise ValueError(f"outputs must be (batch, length, hidden), got shape {tuple(outputs.shape)}")
    if lengths.shape != outputs.shape[:1]:
        raise ValueError(f"lengths must have shape ({outputs.shape[0]},), got {tuple(lengths.shape)}")
    index = (lengths.to(outputs.device) - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
    return outputs.gather(1, index).squeeze(1)  # (B, H)


class Encoder(nn.Module):
    """Embedding + GRU over the padded source; returns every state and the final one."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int,
                 bidirectional: bool = False):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True, bidirectional=bidirectional)
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple:
        """src (B, S), src_lengths (B,) -> outputs (B, S, H·dirs), final (B, H·dirs).

        Padding is packed away, so the final state is read at each sentence's true end
        (the backward direction's final state is its state at position 0).
        """
        check_source(src, src_lengths)
        embedded = self.embedding(src)  # (B, S, E)
        packed = pack_padded_sequence(embedded, src_lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        packed_out, h_n = self.rnn(packed)  # h_n: (dirs, B, H)
        outputs, _ = pad_packed_sequence(packed_out, batch_first=True, total_length=src.shape[1])
        final = torch.cat(list(h_n), dim=-1)  # (B, H·dirs)
        return outputs, final


class ContextDecoder(nn.Module):
    """GRU decoder that sees one fixed context vector c at every step (Cho et al., 2014).

    s_0 = tanh(W_init c);  s_t = GRU([e(y_{t-1}); c], s_{t-1});
    p(y_t | ...) = softmax(W_out [s_t; e(y_{t-1}); c]).
    Because c never changes, all steps of teacher forcing run in one nn.GRU call.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, context_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.init_state = nn.Linear(context_size, hidden_size)
        self.rnn = nn.GRU(embed_dim + context_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size + embed_dim + context_size, vocab_size)

    def forward(self, tgt_in: torch.Tensor, context: torch.Tensor, state: torch.Tensor | None = None):
        """tgt_in (B, T), context (B, C) -> logits (B, T, V), final state (1, B, H)."""
        if tgt_in.dim() != 2 or tgt_in.is_floating_point():
            raise ValueError(f"tgt_in must be a (batch, length) tensor of token ids, "
                             f"got shape {tuple(tgt_in.shape)} and dtype {tgt_in.dtype}")
        if context.shape != (tgt_in.shape[0], self.init_state.in_features):
            raise ValueError(f"context must have shape ({tgt_in.shape[0]}, "
                             f"{self.init_state.in_features}), got {tuple(context.shape)}")
        embedded = self.embedding(tgt_in)  # (B, T, E)
        ctx = context.unsqueeze(1).expand(-1, tgt_in.shape[1], -1)  # (B, T, C)
        if state is None:
            state = torch.tanh(self.init_state(context)).unsqueeze(0)  # (1, B, H)
        states, state = self.rnn(torch.cat([embedded, ctx], dim=-1), state)  # (B, T, H)
        logits = self.out(torch.cat([states, embedded, ctx], dim=-1))  # (B, T, V)
        return logits, state


@dataclass
class Seq2SeqConfig:
    src_vocab: int
    tgt_vocab: int
    embed_dim: int = 64
    hidden_size: int = 128
    bidirectional: bool = False

    def __post_init__(self):
        config_fields(self)


class FixedContextSeq2Seq(nn.Module):
    """Encoder-decoder whose decoder sees only the encoder's final state: the bottleneck."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config.src_vocab, config.embed_dim, config.hidden_size,
                               config.bidirectional)
        self.decoder = ContextDecoder(config.tgt_vocab, config.embed_dim, config.hidden_size,
                                      self.encoder.output_size)

    def forward(self, src, src_lengths, tgt_in) -> tuple:
        """Teacher forcing: src (B, S), src_lengths (B,), tgt_in (B, T) -> logits (B, T, V) and
        None (no attention weights: the book's protocol, ``utils.models.protocol``)."""
        _, context = self.encoder(src, src_lengths)  # (B, C): everything the decoder will know
        logits, _ = self.decoder(tgt_in, context)
        return logits, None

    @torch.no_grad()
    def greedy(self, src, src_lengths, max_len: int) -> tuple:
        """Greedy decoding: (B, S) -> (B, max_len) token ids (stop reading at the first <eos>)
        and None (no attention weights)."""
        _, context = self.encoder(src, src_lengths)
        token = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
        state, out = None, []
        for _ in range(max_len):
            logits, state = self.decoder(token, context, state)  # (B, 1, V)
            token = logits.argmax(-1)  # (B, 1)
            out.append(token)
        return torch.cat(out, dim=1), None
