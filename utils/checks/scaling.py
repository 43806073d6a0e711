"""Checkers for the scoring and scaling exercises (chapter 6)."""
from __future__ import annotations

import math

import torch

from ..attention import attention_entropy, lengths_to_valid, masked_softmax
from .core import _call, _diagnose, _Failed, _run, _same_dtype, _tensor


@_run(forbid=(torch.autograd.functional.jacobian, torch.func.jacrev,
               torch.func.jacfwd))
def check_softmax_jacobian(fn) -> str:
    """Check ``fn(weights (..., S)) -> (..., S, S)``: the Jacobian ∂α_i/∂s_j = α_i(δ_ij − α_j)
    of the softmax, given its output α; compared with autograd's Jacobian."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(7)
    for shape in [(4,), (2, 5), (2, 3, 6)]:
        scores = 2 * torch.randn(shape, dtype=torch.float64, generator=gen)
        weights = torch.softmax(scores, -1)
        S = shape[-1]
        got = _tensor(_call(fn, name, weights.clone()), name, shape + (S,))
        _same_dtype(got, weights, f"{name}'s result")
        flat = scores.reshape(-1, S)
        expected = torch.stack([torch.autograd.functional.jacobian(
            lambda s: torch.softmax(s, -1), row) for row in flat]).reshape(shape[:-1] + (S, S))
        diag = torch.diag_embed(weights)
        outer = weights.unsqueeze(-1) * weights.unsqueeze(-2)
        _diagnose(got, expected, [
            (diag, "only the diagonal α_i is there: subtract the outer product α_i α_j"),
            (-outer, "the diagonal term α_i δ_ij is missing"),
            (outer - diag, "the sign is flipped: J = diag(α) − α αᵀ"),
            (torch.diag_embed(weights * (1 - weights)), "only the diagonal α_i(1 − α_i) is "
                                                         "there; off the diagonal J_ij = −α_i α_j"),
            (diag - weights.unsqueeze(-2).expand_as(diag), "you subtracted α_j alone; the "
                                                           "off-diagonal entries are −α_i α_j"),
        ], f"wrong Jacobian for weights of shape {shape}: expected diag(α) − α αᵀ "
           "for every row")
    return f"{name} gives the softmax Jacobian diag(α) − α αᵀ."


@_run(forbid=(attention_entropy,))
def check_attention_entropy(fn) -> str:
    """Check ``fn(weights (..., S)) -> (...)``: entropy in nats of each row, with 0·log 0 = 0."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(8)
    cases = [
        ("random rows", torch.softmax(torch.randn(3, 6, generator=gen), -1)),
        ("uniform rows", torch.full((2, 4, 8), 1 / 8)),
        ("rows with masked (zero) weights",
         masked_softmax(torch.randn(3, 5, generator=gen),
                        lengths_to_valid(torch.tensor([5, 2, 1]), 5))),
    ]
    for label, weights in cases:
        got = _call(fn, name, weights.clone())
        if torch.is_tensor(got) and got.is_floating_point() and torch.isnan(got).any():
            raise _Failed(f"NaN on {label}: 0 · log 0 is NaN in floating point; count zero "
                          "weights as contributing 0")
        got = _tensor(got, name, tuple(weights.shape[:-1]))
        expected = attention_entropy(weights)
        _diagnose(got, expected, [
            (-expected, "the sign is flipped: H = −Σ α log α is never negative"),
            (expected / math.log(2), "that is in bits (log base 2); use the natural log (nats)"),
            (expected / weights.shape[-1], "you averaged over the keys; sum over them"),
        ], f"wrong entropy on {label}: expected −Σ_i α_i log α_i over the last axis")
    return f"{name} computes attention entropy in nats, masked weights included."
