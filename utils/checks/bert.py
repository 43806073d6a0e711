"""Checkers for chapter 11: WordPiece tokenisation of one word, and max pooling."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .core import _call, _diagnose, _Failed, _run, _tensor

UNK = "[UNK]"


def wordpiece(word: str, vocab, max_chars: int = 100, prefix: str = "##",
              longest_first: bool = True) -> list:
    """Greedy longest-match-first WordPiece (BERT's): pieces after the first carry ``prefix``;
    a word that cannot be covered by the vocabulary becomes one [UNK]. (``longest_first=False``
    is a mistake the checker recognises: taking the shortest match.)"""
    if len(word) > max_chars:
        return [UNK]
    pieces, start = [], 0
    while start < len(word):
        ends = range(len(word), start, -1) if longest_first else range(start + 1, len(word) + 1)
        for end in ends:
            piece = (prefix if start else "") + word[start:end]
            if piece in vocab:
                break
        else:
            return [UNK]
        pieces.append(piece)
        start = end
    return pieces


VOCAB = {"un", "##aff", "##able", "aff", "able", "play", "p", "##l", "##a", "##y", "##ing", "ing",
         "##s", "tok", "token", "##en", "##ization", "##ize", "##r", "x"}
CASES = ["unaffable", "playing", "plays", "tokenization", "token", "xyz", "player", "x"]


@_run
def check_wordpiece(fn) -> str:
    """Check ``fn(word, vocab) -> list of pieces`` against greedy longest-match-first WordPiece
    on a small vocabulary; a known wrong method is named from the answers to all the words."""
    name = getattr(fn, "__name__", "your function")
    answers = {}
    for word in CASES:
        got = _call(fn, name, word, set(VOCAB))
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not isinstance(got, (list, tuple)) or not all(isinstance(p, str) for p in got):
            raise _Failed(f"{name} must return a list of strings, got {type(got).__name__}")
        answers[word] = list(got)
    methods = [
        (lambda w: wordpiece(w, VOCAB, longest_first=False),
         "that takes the shortest piece that matches; WordPiece takes the longest (try end "
         "positions from the right)"),
        (lambda w: wordpiece(w, VOCAB, prefix=""),
         "pieces after the first must be looked up with the '##' prefix (they continue a word)"),
    ]
    for word in CASES:
        got, expected = answers[word], wordpiece(word, VOCAB)
        if got == expected:
            continue
        for method, message in methods:
            if all(answers[w] == method(w) for w in CASES):
                raise _Failed(f"{word!r} -> {got}: {message}")
        if got == [UNK]:
            raise _Failed(f"{word!r} -> ['[UNK]'], but the vocabulary covers it: {expected}; "
                          "a word becomes [UNK] only when no piece matches at some position")
        if expected == [UNK] and UNK in got:
            raise _Failed(f"{word!r} -> {got}: when some part of a word cannot be matched, the "
                          "whole word becomes a single '[UNK]'")
        raise _Failed(f"{word!r} should give {expected}, got {got}")
    return f"{name} splits words into WordPiece tokens like BERT's tokenizer."


@_run
def check_max_pool(fn) -> str:
    """Check ``fn(hidden (N, L, E), attention_mask (N, L), 1 = real token) -> (N, E)``: the
    largest value of each feature over the real tokens only."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(11)
    for lengths, L, E in (([6, 4, 1], 6, 5), ([2], 5, 3), ([3, 3], 3, 4), ([2, 5], 5, 6)):
        hidden = torch.randn(len(lengths), E, L, generator=gen).transpose(1, 2)  # (N, L, E), a view
        mask = (torch.arange(L) < torch.tensor(lengths).unsqueeze(1)).long()
        padding = mask.unsqueeze(-1) == 0
        hidden = hidden.masked_fill(padding, 0.0) + 3.0 * padding * torch.rand(
            hidden.shape, generator=gen)                                  # padding states are large
        hidden[-1, :, -1] = -1.0 - torch.rand(L, generator=gen)           # a feature < 0 everywhere
        got = _tensor(_call(fn, name, hidden, mask.clone()), name, (len(lengths), E))
        expected = hidden.masked_fill(padding, float("-inf")).amax(dim=1)
        m = mask.unsqueeze(-1).to(hidden.dtype)
        _diagnose(got, expected, [
            (hidden.amax(dim=1), "padding positions take part in the max; leave them out with "
                                 "the attention mask"),
            ((hidden * m).amax(dim=1), "multiplying by the mask turns padding into zeros, and "
                                       "a zero wins wherever a feature is negative on every "
                                       "real token: fill padding with -inf (or the dtype's "
                                       "minimum) before the max"),
            ((hidden * m).sum(1) / m.sum(1), "that is the mean over real tokens; take the max"),
            (F.normalize(expected, dim=-1), "the result is normalised to unit length; pooling is "
                                            "only the max"),
        ], "wrong maxima: for each sentence and feature, the largest value over its real tokens")
    return f"{name} takes the max over real tokens only."
