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


# --- BERT's masking -------------------------------------------------------------------------

IGNORE = -100                          # the label F.cross_entropy ignores by default


def _masking_batch(gen, B, T, first_id=5, vocab=400, rate=0.15):
    """Ids (B, T) framed by [CLS] (1) and [SEP] (2) and padded with 0, special (B, T), and the
    number of candidates per row, chosen so that rate × n is never near a half (rounding is then
    the same whichever way a student rounds)."""
    safe = [n for n in range(0, T - 1) if abs((rate * n) % 1 - 0.5) > 0.1]
    counts = torch.tensor(safe)[torch.randint(len(safe), (B,), generator=gen)]
    ids = torch.randint(first_id, vocab, (B, T), generator=gen)
    positions = torch.arange(T)
    ids[:, 0] = 1
    ids[positions > counts[:, None]] = 0
    ids[torch.arange(B), counts + 1] = 2
    special = (positions == 0) | (positions > counts[:, None])
    return ids, special, counts


@_run
def check_mask_tokens(fn) -> str:
    """Check ``fn(ids (B, T), special (B, T), mask_id, vocab_size, generator, rate=0.15) ->
    (inputs, labels)``: exactly k = max(1, round(rate · n)) of each row's n candidate positions
    (not special) chosen at random; of those 80 % become mask_id, 10 % a random id, 10 % stay;
    labels hold the original id at chosen positions and -100 elsewhere; every random number
    comes from ``generator``."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(11)
    mask_id, vocab = 3, 400
    for B, T, rate in ((256, 64, 0.15), (1, 12, 0.15), (3, 9, 0.15), (32, 40, 0.3)):
        ids, special, n = _masking_batch(gen, B, T, vocab=vocab, rate=rate)
        if B == 3:
            special[1], ids[1] = True, 0                          # a row of padding only
            n[1] = 0
        given = ids.clone()
        out = _call(fn, name, given, special.clone(), mask_id, vocab,
                    torch.Generator().manual_seed(5), rate=rate)
        if not isinstance(out, tuple) or len(out) != 2:
            raise _Failed(f"{name} must return a tuple (inputs, labels), got {type(out).__name__}")
        inputs = _tensor(out[0], f"{name}'s inputs", (B, T))
        labels = _tensor(out[1], f"{name}'s labels", (B, T))
        if not torch.equal(given, ids):
            raise _Failed(f"{name} changed ids in place; corrupt a copy (masked_fill, clone)")
        if inputs.dtype != ids.dtype or labels.dtype != ids.dtype:
            raise _Failed(f"inputs and labels must be token ids ({ids.dtype}), got "
                          f"{inputs.dtype} and {labels.dtype}")
        again = _call(fn, name, ids.clone(), special.clone(), mask_id, vocab,
                      torch.Generator().manual_seed(5), rate=rate)
        if not (torch.equal(again[0], inputs) and torch.equal(again[1], labels)):
            raise _Failed("two calls with generators seeded alike gave different results: draw "
                          "every random number from `generator` (torch.rand(..., "
                          "generator=generator))")
        _check_masking(inputs, labels, ids, special, n, mask_id, vocab, B > 100, rate)
    return (f"{name} chooses k of each sequence's candidates at random, never a special token, "
            "and corrupts them 80/10/10.")


def _check_masking(inputs, labels, ids, special, n, mask_id, vocab, statistical, rate):
    chosen = labels != IGNORE
    if not (~chosen).any():
        raise _Failed(f"labels must be {IGNORE} wherever no prediction is asked (the index "
                      "F.cross_entropy ignores by default), and the original id elsewhere")
    if (chosen & special).any():
        b, t = (chosen & special).nonzero()[0].tolist()
        raise _Failed(f"position {t} of row {b} is a special token or padding (id {ids[b, t]}) "
                      "and was chosen: only positions where `special` is False may be chosen")
    if not torch.equal(labels[chosen], ids[chosen]):
        raise _Failed("the labels at the chosen positions must be the original ids (what the "
                      "model should recover), not the corrupted inputs")
    if not torch.equal(inputs[~chosen], ids[~chosen]):
        raise _Failed("a position that was not chosen (label -100) was changed: only chosen "
                      "positions are corrupted")
    k = torch.where(n > 0, (rate * n).round().clamp(min=1), 0).long()
    got = chosen.sum(1)
    if not torch.equal(got, k):
        b = int((got != k).nonzero()[0])
        hint = ""
        if torch.equal(got, (rate * n).floor().long()):
            hint = ": round rate · n to the nearest integer, not down (and choose at least one)"
        elif torch.equal(got, torch.where(n > 0, (rate * (n + 2)).round().clamp(min=1), 0)
                         .long()) or torch.equal(got, (rate * ids.shape[1]) * (n > 0)):
            hint = ": n counts only the candidates, not [CLS], [SEP] or padding"
        elif rate != 0.15 and torch.equal(got, torch.where(n > 0, (0.15 * n).round()
                                                           .clamp(min=1), 0).long()):
            hint = f": the rate is {rate} here; use the `rate` argument, not 0.15"
        elif not torch.equal(got, got.max().expand_as(got)):
            hint = (": choose exactly k positions in each row (a probability per position "
                    "gives about k, not k)")
        raise _Failed(f"row {b} has {int(got[b])} chosen positions but {int(n[b])} candidates, "
                      f"so k = max(1, round({rate} · {int(n[b])})) = {int(k[b])}{hint}")
    if not statistical:
        return
    offsets = chosen.float().argmax(1)[n > 6]
    if (offsets == 1).float().mean() > 0.9:
        raise _Failed("the chosen positions are (nearly) always the first candidates of each "
                      "row: choose them at random among all the candidates")
    count = int(chosen.sum())
    masked = float((inputs[chosen] == mask_id).float().mean())
    kept = float((inputs[chosen] == ids[chosen]).float().mean())
    other = 1 - masked - kept
    spread = 5 * (0.1 * 0.9 / count) ** 0.5                      # five standard deviations
    if abs(masked - 0.8) > 2 * spread or abs(other - 0.1) > spread or abs(kept - 0.1) > spread:
        raise _Failed(f"of the {count} chosen tokens {masked:.1%} became mask_id, {other:.1%} "
                      f"another id and {kept:.1%} stayed; expected 80 %, 10 % and 10 % (one draw "
                      "per chosen token decides which)")
    replaced = inputs[chosen & (inputs != mask_id) & (inputs != ids)]
    if ((replaced < 0) | (replaced >= vocab)).any():
        raise _Failed(f"random replacements must be ids from 0 to vocab_size - 1 = {vocab - 1}")
    if len(replaced) > 50 and replaced.unique().numel() < len(replaced) / 3:
        raise _Failed(f"the {len(replaced)} random replacements take only "
                      f"{replaced.unique().numel()} different ids: draw each from all "
                      "vocab_size ids")
