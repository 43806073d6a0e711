"""Beam search for any model that gives next-token log-probabilities (chapter 9's exercise).

``log_probs_fn(prefixes)`` takes a (K, t) tensor of token prefixes, each starting with BOS, and
returns (K, V) log-probabilities of the next token. A hypothesis that emits EOS is finished:
it keeps its score and is not extended. The score of a hypothesis is the sum of its tokens'
log-probabilities (no length normalisation).
"""
from __future__ import annotations

import torch

from ..special_tokens import BOS, EOS


def beam_search(log_probs_fn, beam_size: int, max_len: int, bos: int = BOS,
                eos: int = EOS) -> list:
    """The best sequence found with ``beam_size`` hypotheses, without BOS (EOS included when
    generated); at most ``max_len`` tokens. beam_size = 1 is greedy decoding."""
    if beam_size < 1 or max_len < 1:
        raise ValueError(f"need beam_size >= 1 and max_len >= 1, got {beam_size}, {max_len}")
    beams = [([bos], 0.0)]                    # (tokens, score) of unfinished hypotheses
    finished = []
    for _ in range(max_len):
        prefixes = torch.tensor([tokens for tokens, _ in beams])            # (K, t)
        log_probs = log_probs_fn(prefixes)                                  # (K, V)
        candidates = []
        for (tokens, score), row in zip(beams, log_probs.tolist()):
            candidates += [(tokens + [v], score + lp) for v, lp in enumerate(row)]
        candidates.sort(key=lambda c: c[1], reverse=True)
        beams = []
        for tokens, score in candidates[:beam_size]:
            (finished if tokens[-1] == eos else beams).append((tokens, score))
        if not beams:
            break
    best = max(finished + beams, key=lambda c: c[1])
    return best[0][1:]
