"""Checkers for the generation exercises (chapter 10): top-k filtering and the causal mask of
a key-value cache."""
from __future__ import annotations

import torch

from ..attention import causal_mask
from .core import _call, _Failed, _run


def _same_filtered(got: torch.Tensor, expected: torch.Tensor) -> bool:
    """Equal -inf pattern, and the kept logits equal."""
    removed = torch.isneginf(expected)
    return bool(torch.equal(torch.isneginf(got), removed)
                and torch.allclose(got[~removed], expected[~removed], atol=1e-6))


def _top_k_reference(logits: torch.Tensor, k: int) -> torch.Tensor:
    kth = logits.topk(k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


@_run
def check_top_k_logits(fn) -> str:
    """Check ``fn(logits (B, V), k) -> (B, V)``: each row keeps its k largest logits unchanged
    and sets the others to -inf, without changing the input."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(10)
    cases = [(torch.randn(3, 10, generator=gen), 3), (torch.randn(2, 7, generator=gen) - 5, 1),
             (torch.randn(4, 6, generator=gen), 6), (torch.randn(1, 50, generator=gen) * 3, 5)]
    for logits, k in cases:
        given = logits.clone()
        got = _call(fn, name, given, k)
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not torch.is_tensor(got) or tuple(got.shape) != tuple(logits.shape):
            raise _Failed(f"{name} must return a tensor shaped like the logits, "
                          f"{tuple(logits.shape)}")
        if not torch.equal(given, logits):
            raise _Failed(f"{name} changed the logits it was given; work on a copy "
                          "(masked_fill, not masked_fill_)")
        expected = _top_k_reference(logits, k)
        if _same_filtered(got, expected):
            continue
        finite = torch.isfinite(got).all()
        if finite and torch.allclose(got.sum(-1), torch.ones(len(got)), atol=1e-4):
            raise _Failed(f"{name} returned probabilities; return logits, the k largest "
                          "unchanged and the others -inf (sampling applies the softmax)")
        if finite and torch.allclose(got, torch.where(torch.isneginf(expected), 0.0, logits)):
            raise _Failed("the removed logits are set to 0, but exp(0) = 1 still gives those "
                          "tokens probability; set them to -inf")
        kept = (~torch.isneginf(got)).sum(-1)
        if k < logits.shape[-1] and (kept == k + 1).all():
            raise _Failed(f"{name} keeps k + 1 logits per row; keep exactly the k largest")
        if k > 1 and (kept == k - 1).all():
            raise _Failed(f"{name} keeps k - 1 logits per row: the k-th largest must be kept "
                          "too (compare with >=, or <, against the k-th value)")
        smallest = logits.masked_fill(logits > logits.topk(k, -1, largest=False).values[..., -1:],
                                      float("-inf"))
        if _same_filtered(got, smallest):
            raise _Failed(f"{name} keeps the k smallest logits; keep the k largest")
        if k < logits.shape[-1] and (kept == k).all():
            raise _Failed(f"{name} keeps k logits per row, but not the k largest of that row "
                          "(work along the last dimension)")
        raise _Failed(f"wrong result for k = {k} on logits of shape {tuple(logits.shape)}: keep "
                      "each row's k largest logits unchanged and set the rest to -inf")
    return f"{name} keeps each row's k most likely tokens."


@_run(forbid=(causal_mask,))
def check_cached_causal_mask(fn) -> str:
    """Check ``fn(T, S) -> bool (T, S)``: True where query i, the i-th of the T newest of S
    positions, may attend to key j."""
    name = getattr(fn, "__name__", "your function")
    for T, S in ((3, 7), (1, 5), (3, 3), (6, 6), (2, 9), (1, 1)):
        got = _call(fn, name, T, S)
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not torch.is_tensor(got) or tuple(got.shape) != (T, S):
            raise _Failed(f"{name}({T}, {S}) must return a tensor of shape ({T}, {S})")
        if got.dtype != torch.bool:
            raise _Failed(f"{name} returned {got.dtype}; return a bool tensor (True = may "
                          "attend)")
        ones = torch.ones(T, S, dtype=torch.bool)
        expected = ones.tril(diagonal=S - T)
        if torch.equal(got, expected):
            continue
        if torch.equal(got, ~expected):
            raise _Failed("the mask is inverted: True must mean 'may attend', as in "
                          "F.scaled_dot_product_attention's bool attn_mask")
        if torch.equal(got, ones.tril()):
            raise _Failed(f"for T = {T} new queries over S = {S} keys the mask is aligned "
                          "top-left (as is_causal=True is); the new queries are the last T "
                          "positions, so query i sits at position S - T + i")
        if torch.equal(got, ones.tril(diagonal=S - T - 1)):
            raise _Failed("each query must also attend to its own position (the diagonal)")
        if torch.equal(got, ones.triu(diagonal=S - T)) or torch.equal(got, ones.triu()):
            raise _Failed("upper triangle: queries would attend to later positions")
        raise _Failed(f"wrong mask for T = {T}, S = {S}: query i may attend to keys "
                      "0 … S - T + i")
    return f"{name} builds the causal mask for queries that continue a cache."
