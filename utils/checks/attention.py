"""Checkers for the attention exercises (chapters 2-4)."""
from __future__ import annotations

import re

import torch
import torch.nn.functional as F

from ..attention import AdditiveAttention, lengths_to_valid, masked_softmax
from ..attention import scaled_dot_product_attention as book_sdpa
from ..metrics import alignment_hits
from ..models.luong import local_weights
from .core import _call, _diagnose, _Failed, _run, _same_dtype, _source, _tensor


@_run(forbid=(masked_softmax,))
def check_masked_softmax(fn) -> str:
    """Check ``fn(scores (..., S), valid bool (..., S)) -> weights``: zero weight where invalid,
    rows summing to one, stable for huge scores, all zeros for a row with no valid key."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    big = torch.tensor([[1000.0, 1001.0, 1002.0, 999.0]])
    loud = torch.randn(2, 6, generator=gen)
    loud_valid = lengths_to_valid(torch.tensor([4, 2]), 6)
    loud[~loud_valid] = 1e4                       # masked keys that would win an unmasked softmax
    cases = [
        ("padded rows", torch.randn(3, 5, generator=gen), lengths_to_valid(torch.tensor([5, 3, 1]), 5)),
        ("a single row with a gap", torch.randn(1, 4, generator=gen),
         torch.tensor([[True, False, True, True]])),
        ("huge scores", big, torch.ones(1, 4, dtype=torch.bool)),
        ("large scores at masked positions", loud, loud_valid),
        ("queries sharing one mask", torch.randn(2, 3, 4, generator=gen),
         lengths_to_valid(torch.tensor([4, 2]), 4).unsqueeze(1)),
        ("non-contiguous scores", torch.randn(2, 4, 3, generator=gen).transpose(1, 2),
         lengths_to_valid(torch.tensor([4, 1]), 4).unsqueeze(1)),
        ("a fully masked row", torch.randn(2, 4, generator=gen),
         torch.tensor([[True, True, False, False], [False] * 4])),
    ]
    for label, scores, valid in cases:
        got = _call(fn, name, scores.clone() if scores.is_contiguous() else scores, valid.clone())
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not torch.is_tensor(got) or tuple(got.shape) != tuple(scores.shape):
            shape = tuple(got.shape) if torch.is_tensor(got) else type(got).__name__
            raise _Failed(f"{name} returned {shape} for scores of shape {tuple(scores.shape)}; "
                          "weights must have the shape of the scores")
        _same_dtype(got, scores, f"{name}'s result")
        full = valid.expand_as(scores)
        if not torch.isfinite(got).all():
            if label == "huge scores":
                raise _Failed("NaN or inf for scores near 1000: subtract each row's maximum "
                              "before exponentiating")
            if label == "a fully masked row":
                raise _Failed("a row with no valid key gave NaN; return all zeros for it")
            if label == "large scores at masked positions":
                raise _Failed("NaN or inf when masked positions hold large scores: mask before "
                              "the softmax (fill them with -inf), not after it")
            raise _Failed(f"{name} returned NaN or inf on {label}")
        if (~full).any() and got[~full].abs().max().item() > 0:
            if torch.allclose(got, masked_softmax(scores, ~valid), atol=1e-5):
                raise _Failed("True and False are swapped: here True in `valid` means 'may "
                              "attend' (as in F.scaled_dot_product_attention's bool attn_mask; "
                              "nn.MultiheadAttention's key_padding_mask uses True = ignore)")
            raise _Failed(f"masked positions got weight {got[~full].abs().max().item():.3g} on "
                          f"{label}; they must get exactly zero")
        sums = got.sum(-1)
        wrong = full.any(-1) & ~torch.isclose(sums, torch.ones_like(sums), atol=1e-5)
        if wrong.any() and label == "large scores at masked positions":
            raise _Failed(f"on {label} the valid weights vanish: mask before the softmax (fill "
                          "masked scores with -inf), not after it")
        if wrong.any():
            row = tuple(wrong.nonzero()[0].tolist())
            raise _Failed(f"on {label} the weights of row {row} sum to {sums[row]:.3f}, not 1: "
                          "normalise over the last axis, the keys, after masking")
        if not torch.allclose(got, masked_softmax(scores, valid), atol=1e-6):
            raise _Failed(f"wrong weights on {label}: expected a softmax over the valid keys")
    return f"{name} gives padding zero weight, is stable, and handles fully masked rows."


@_run(forbid=(book_sdpa, F.scaled_dot_product_attention))
def check_dot_product_attention(fn) -> str:
    """Check ``fn(query (B, L, D), keys (B, S, D), values (B, S, K)) -> (context, weights)``
    with weights = softmax(query · keysᵀ) over the keys and context = weights · values."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(1)
    for B, L, S, D, K in [(2, 3, 5, 4, 6), (1, 1, 4, 2, 3), (3, 4, 2, 5, 1)]:
        q, k, v = (torch.randn(B, L, D, generator=gen), torch.randn(B, D, S, generator=gen),
                   torch.randn(B, S, K, generator=gen))
        k = k.transpose(1, 2)                 # (B, S, D), not contiguous: as a transposed view
        try:
            out = _call(fn, name, q.clone(), k, v.clone())
        except _Failed as failure:
            if re.search(r"\.T\b", _source(fn)):
                raise _Failed(f"{failure}; note that .T reverses *all* dimensions of a 3-D "
                              "tensor: swap the last two with .transpose(1, 2) (or .mT)") from None
            raise
        if not isinstance(out, tuple) or len(out) != 2:
            raise _Failed(f"{name} must return a tuple (context, weights), got {type(out).__name__}")
        weights = _tensor(out[1], f"{name}'s weights", (B, L, S))
        context = _tensor(out[0], f"{name}'s context", (B, L, K))
        scores = q @ k.transpose(1, 2)  # (B, L, S)
        expected = torch.softmax(scores, -1)
        _diagnose(weights, expected, [
            (scores, "the weights are the raw scores: apply a softmax over the keys"),
            (torch.softmax(scores, 1), "the softmax runs over the queries; it must run over the "
                                       "keys (the last axis)"),
            (torch.softmax(scores / D ** 0.5, -1), "you scaled by 1/sqrt(d): this exercise asks "
                                                   "for the plain dot product (scaling comes in "
                                                   "chapter 6)"),
        ], "wrong weights: expected softmax(query @ keysᵀ) over the keys")
        _diagnose(context, expected @ v, [], "the weights are right but the context is not: it "
                                             "is weights @ values")
    return f"{name} computes dot-product scores, softmax weights and the context."


@_run(forbid=(AdditiveAttention.forward, AdditiveAttention.project_keys))
def check_additive_scores(fn) -> str:
    """Check ``fn(query (B, Dq), keys (B, S, Dk), W_query (A, Dq), W_key (A, Dk), v (A,))
    -> scores (B, S)`` with score_i = vᵀ tanh(W_key h_i + W_query s)."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(2)
    for B, S, Dq, Dk, A in [(2, 5, 3, 4, 6), (1, 1, 2, 2, 3), (3, 4, 5, 2, 4)]:
        args = [torch.randn(*shape, generator=gen) for shape in
                [(B, Dq), (B, S, Dk), (A, Dq), (A, Dk), (A,)]]
        query, keys, W_query, W_key, v = args
        got = _tensor(_call(fn, name, *[a.clone() for a in args]), name, (B, S))
        projected = keys @ W_key.T + (query @ W_query.T).unsqueeze(1)  # (B, S, A)
        expected = torch.tanh(projected) @ v  # (B, S)
        _diagnose(got, expected, [
            (projected @ v, "the tanh is missing: score = vᵀ tanh(W_key h + W_query s)"),
            (torch.tanh(projected @ v), "tanh is applied after v; it belongs inside: vᵀ tanh(…)"),
            (torch.softmax(expected, -1), "you returned softmax weights; return the raw scores"),
        ], f"wrong scores for B={B}, S={S}: expected vᵀ tanh(W_key h_i + W_query s)")
    return f"{name} computes Bahdanau's additive scores."


@_run(forbid=(alignment_hits,))
def check_alignment_hits(fn) -> str:
    """Check ``fn(weights (T, S), alignment) -> (hits, total)``: of the target words with gold
    links, how many have their largest weight on a gold source word."""
    name = getattr(fn, "__name__", "your function")
    cases = [
        (torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.1, 0.2, 0.7, 0.0], [0.0, 0.0, 0.6, 0.4]]),
         ((0, 0), (1, 1), (2, 1), (3, 2))),  # the seed example; "Fußball" looks at "playing"
        (torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]), ((1, 0), (0, 1))),  # row 2: a comma
        (torch.tensor([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]]), ((2, 0), (2, 1))),
        # target word 0 has two gold sources and looks at the first, word 1 at the second
        (torch.tensor([[0.6, 0.1, 0.3], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]]),
         ((0, 0), (2, 0), (0, 1), (2, 1), (1, 2))),
        (torch.tensor([[0.3, 0.3, 0.4]]), ((2, 0),)),          # one target word
    ]
    for weights, alignment in cases:
        got = _call(fn, name, weights.clone(), alignment)
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not isinstance(got, tuple) or len(got) != 2:
            raise _Failed(f"{name} must return a tuple (hits, total), got {got!r}")
        hits, total = (int(x) for x in got)
        expected = alignment_hits(weights, alignment)
        if (hits, total) == expected:
            continue
        if total == weights.shape[0] and total != expected[1]:
            raise _Failed("total counts every target row; count only target words that have "
                          "a gold link (a comma may have none)")
        if total != expected[1]:
            raise _Failed(f"total is {total} but {expected[1]} target words have gold links: "
                          "count each target word with a gold link once (pairs are (source, "
                          "target), and a word with two gold sources counts once)")
        if any(sum(j == t for _, t in alignment) > 1 for j in range(weights.shape[0])):
            raise _Failed(f"{hits} hits but expected {expected[0]} for weights {weights.tolist()} "
                          f"and alignment {alignment}: a target word with several gold sources "
                          "is a hit when its argmax is any one of them")
        raise _Failed(f"{hits} hits but expected {expected[0]} for weights {weights.tolist()} and "
                      f"alignment {alignment}: take the argmax of row j over the source axis and "
                      "test it against the gold sources of j (pairs are (source, target))")
    return f"{name} scores argmax attention against the gold alignment."


@_run
def check_location_weights(fn) -> str:
    """Check ``fn(states (B, T, H), W_a (S_max, H), valid (B, S) bool) -> (B, T, S)``: Luong's
    location-based weights softmax(W_a s_t), cut to the S source positions, padding excluded."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(3)
    for B, T, H, S_max, lengths in ((2, 3, 4, 7, (5, 3)), (1, 1, 3, 4, (4,)), (3, 4, 2, 6, (2, 6, 1)),
                                    (2, 2, 5, 9, (6, 6))):
        S = max(lengths)
        states = torch.randn(B, H, T, generator=gen).transpose(1, 2)     # (B, T, H), a view
        W_a = torch.randn(S_max, H, generator=gen)
        valid = lengths_to_valid(torch.tensor(lengths), S)                 # (B, S)
        got = _call(fn, name, states, W_a.clone(), valid.clone())
        if torch.is_tensor(got) and tuple(got.shape) == (B, T, S_max) and S < S_max:
            raise _Failed(f"{name} returned all S_max = {S_max} positions; keep the first "
                          f"S = {S} scores, one per source position of this batch")
        got = _tensor(got, name, (B, T, S))
        scores = (states @ W_a.T)[..., :S]                                  # (B, T, S)
        expected = masked_softmax(scores, valid.unsqueeze(1))
        mistakes = [
            (torch.softmax(scores, -1), "padding positions got weight: give them exactly zero "
                                        "(mask before the softmax)"),
            (torch.softmax(scores, -1) * valid.unsqueeze(1), "the weights are masked after the "
                                                             "softmax and no longer sum to one: "
                                                             "mask before it"),
            (torch.softmax(states @ W_a.T, -1)[..., :S],
             "the softmax runs over all S_max scores before cutting: cut to the S positions "
             "(and mask the padding) first"),
            (scores, "these are the scores; apply the softmax"),
        ]
        if T > 1:
            mistakes.append((masked_softmax(scores.transpose(1, 2), valid.unsqueeze(-1))
                             .transpose(1, 2), "the softmax runs over the target steps; it "
                                               "must run over the source positions"))
        _diagnose(got, expected, mistakes, f"wrong weights for B={B}, T={T}, lengths {lengths}: "
                  "expected softmax over the valid positions of (states @ W_aᵀ)[..., :S]")
    return f"{name} computes Luong's location-based weights, padding excluded."


@_run(forbid=(local_weights,))
def check_local_p_weights(fn) -> str:
    """Check ``fn(scores (B, T, S), centre (B, T), window half-width R) -> (B, T, S)``: local-p weights."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(4)
    cases = [(torch.randn(2, 3, 12, generator=gen), torch.tensor([[2.0, 5.5, 9.0], [0.0, 11.0, 6.3]]), 2),
             (torch.randn(1, 2, 6, generator=gen), torch.tensor([[2.5, 4.0]]), 1),
             (torch.randn(1, 1, 20, generator=gen), torch.tensor([[10.2]]), 4)]
    for scores, centre, R in cases:
        shape = tuple(scores.shape)
        got = _tensor(_call(fn, name, scores.clone(), centre.clone(), R), name, shape)
        everywhere = torch.ones_like(scores, dtype=torch.bool)
        expected = local_weights(scores, everywhere, centre.unsqueeze(-1), R, gaussian=True)
        distance = torch.arange(shape[-1]).view(1, 1, -1) - centre.unsqueeze(-1)
        if not torch.allclose(got, expected, atol=1e-5) and \
                (got[distance.abs() > R].abs() > 1e-6).any():
            raise _Failed(f"positions farther than R = {R} from p_t got weight; the window is "
                          "[p_t - R, p_t + R]")
        gauss = torch.exp(-distance ** 2 / (2 * (R / 2) ** 2))
        window_softmax = expected / gauss
        in_window = distance.abs() <= R
        _diagnose(got, expected, [
            (window_softmax, "the Gaussian factor exp(-(i - p_t)² / 2σ²) is missing"),
            (window_softmax * torch.exp(-distance ** 2 / (2 * R ** 2)), "σ should be R / 2, not R"),
            (expected / expected.sum(-1, keepdim=True),
             "the weights were normalised again after the Gaussian; local-p multiplies the "
             "window's softmax by the Gaussian and stops there (its rows need not sum to one)"),
            (torch.softmax(scores, -1) * in_window * gauss,
             "the softmax ran over all positions before the window was applied; take the "
             "softmax over the window's positions only, then multiply by the Gaussian"),
        ], f"wrong weights for R = {R}: softmax over the window, then times the Gaussian "
           "centred at p_t")
    return f"{name} computes local-p weights: window softmax times a Gaussian."
