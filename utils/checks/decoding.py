"""Checker for the beam-search exercise (chapter 9)."""
from __future__ import annotations

import itertools
import math

import torch

from ..models.decoding import beam_search
from ..special_tokens import BOS, EOS
from .core import _call, _Failed, _run


def markov(table: torch.Tensor):
    """A toy model: the next token's log-probabilities depend on the last token only."""
    log_table = torch.log(table)
    return lambda prefixes: log_table[prefixes[:, -1]]


def _garden_path() -> torch.Tensor:
    """Greedy takes 3 (p = 0.6) and ends with [3, 4, EOS] (p = 0.21); the best sequence is
    [4, EOS] (p = 0.38), which a beam of two finds."""
    table = torch.full((5, 5), 1e-3)
    table[BOS, 3], table[BOS, 4] = 0.6, 0.4
    table[3, EOS], table[3, 3], table[3, 4] = 0.30, 0.33, 0.37
    table[4, EOS] = 0.95
    return table / table.sum(-1, keepdim=True)


def _as_list(result, name):
    if torch.is_tensor(result):
        result = result.tolist()
    if not isinstance(result, (list, tuple)) or not all(isinstance(t, int) for t in result):
        raise _Failed(f"{name} must return a list of token ids, got {result!r}")
    if EOS in result[:-1]:
        raise _Failed(f"tokens follow EOS in {list(result)}: a hypothesis that emits EOS is "
                      "finished and must not be extended")
    return list(result)


def _best_by_enumeration(table: torch.Tensor, max_len: int) -> tuple:
    log_table, best = torch.log(table).tolist(), (None, -math.inf)
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(table.shape[0]), repeat=n):
            if EOS in seq[:-1]:
                continue
            if n < max_len and seq[-1] != EOS:
                continue      # shorter sequences count only when they end
            score = sum(log_table[a][b] for a, b in zip((BOS,) + seq, seq))
            if score > best[1]:
                best = (list(seq), score)
    return best


@_run(forbid=(beam_search,))
def check_beam_search(fn) -> str:
    """Check ``fn(log_probs_fn, beam_size, max_len) -> list of token ids`` (no BOS)."""
    name = getattr(fn, "__name__", "your function")
    garden = markov(_garden_path())
    got = _as_list(_call(fn, name, garden, 1, 5), name)
    if got and got[0] == BOS:
        raise _Failed("the result starts with BOS; return the generated tokens only")
    if got != [3, 4, EOS]:
        raise _Failed(f"with beam size 1 (greedy) expected [3, 4, {EOS}], got {got}")
    got = _as_list(_call(fn, name, garden, 2, 5), name)
    if got == [3, 4, EOS]:
        raise _Failed("with beam size 2 the result is still the greedy one: keep the 2 best "
                      "hypotheses by their *summed* log-probability at every step")
    if got != [4, EOS]:
        raise _Failed(f"with beam size 2 expected [4, {EOS}] (probability 0.38), got {got}")
    gen = torch.Generator().manual_seed(11)
    for _ in range(3):
        table = torch.softmax(2 * torch.randn(5, 5, generator=gen), -1)
        best, score = _best_by_enumeration(table, 4)
        got = _as_list(_call(fn, name, markov(table), 5 ** 4, 4), name)
        if got != best:
            raise _Failed(f"a beam wide enough to keep every hypothesis must find the best "
                          f"sequence {best} (log-probability {score:.3f}); got {got}")
    never_ends = torch.full((5, 5), 0.01)
    never_ends[:, 3] = 0.96
    got = _as_list(_call(fn, name, markov(never_ends / never_ends.sum(-1, keepdim=True)), 3, 6),
                   name)
    if len(got) != 6:
        raise _Failed(f"when no hypothesis ends, return the best one after max_len = 6 tokens; "
                      f"got {len(got)} tokens")
    assert beam_search(garden, 2, 5) == [4, EOS]
    return f"{name} finds what greedy decoding misses, and keeps finished hypotheses."
