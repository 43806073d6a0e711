"""Checkers for chapter 13: one step of the online softmax, and attention over two parts of
the keys merged into one (the reduction of split-key decoding)."""
from __future__ import annotations

import torch

from ..attention.tiled import tiled_attention
from .core import _call, _diagnose, _Failed, _run, _tensor


def _reference(m: torch.Tensor, l: torch.Tensor, scores: torch.Tensor) -> tuple:
    m_new = torch.maximum(m, scores.amax(-1))
    safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
    return m_new, torch.exp(m - safe) * l + torch.exp(scores - safe.unsqueeze(-1)).sum(-1)


@_run(forbid=(tiled_attention,))
def check_online_softmax_update(fn) -> str:
    """Check ``fn(m (R,), l (R,), scores (R, C)) -> (m', l')``: the running maximum and the
    running sum of exp(score - maximum) after one more chunk of scores per row."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(13)
    streams = [
        ("scores near 1000", [torch.full((1, 2), 1000.0), torch.tensor([[1001.0, 999.0]])]),
        ("random chunks", [torch.randn(3, 4, generator=gen) for _ in range(4)]),
        ("a later chunk with a larger maximum", [torch.zeros(2, 3), torch.full((2, 3), 5.0)]),
        ("a chunk of masked (-inf) scores", [torch.full((2, 2), float("-inf")),
                                             torch.randn(2, 3, generator=gen)]),
    ]
    for label, chunks in streams:
        R = chunks[0].shape[0]
        m, l = torch.full((R,), float("-inf")), torch.zeros(R)
        for chunk in chunks:
            out = _call(fn, name, m.clone(), l.clone(), chunk.clone())
            if not isinstance(out, tuple) or len(out) != 2:
                raise _Failed(f"{name} must return a tuple (m, l), got {type(out).__name__}")
            got_m, got_l = out
            exp_m, exp_l = _reference(m, l, chunk)
            if not (torch.is_tensor(got_m) and torch.is_tensor(got_l)) or \
                    got_m.shape != exp_m.shape or got_l.shape != exp_l.shape:
                raise _Failed(f"{name} must return two tensors of shape ({R},)")
            if torch.isnan(got_l).any() or torch.isnan(got_m).any():
                raise _Failed(f"NaN on {label}: when the maximum so far is -inf, exp(m - m') "
                              "is exp(-inf - x) = 0, but -inf - (-inf) is NaN; guard that case")
            if torch.isinf(got_l).any():
                raise _Failed(f"overflow on {label}: subtract the running maximum before "
                              "exponentiating")
            if not torch.equal(torch.nan_to_num(got_m), torch.nan_to_num(exp_m)):
                raise _Failed(f"wrong maximum on {label}: m' = max(m, max of the new chunk)")
            no_rescale = l + torch.exp(chunk - exp_m.unsqueeze(-1)).sum(-1)
            _diagnose(got_l, exp_l, [
                (no_rescale, f"on {label} the old sum is not rescaled: when the maximum grows "
                             "from m to m', multiply l by exp(m - m')"),
            ], f"wrong running sum on {label}: l' = exp(m - m') · l + Σ exp(s - m')")
            m, l = exp_m, exp_l
        total = torch.cat(chunks, dim=-1)
        if not torch.allclose(m + torch.log(l), torch.logsumexp(total, -1), atol=1e-4):
            raise _Failed(f"after all chunks of {label}, m + log l should be logsumexp of "
                          "all scores")
    return f"{name} updates the softmax statistics chunk by chunk, stably."


def _partials(q, k, v, valid):
    """Attention of q over the keys ``valid`` (bool (L, S)) allows: the normalised output
    (..., L, Ev), zeros for a query with no key, and the logsumexp of its scores (..., L)."""
    scores = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).masked_fill(~valid, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)                                 # -inf: no key
    weights = torch.exp(scores - lse.unsqueeze(-1)).nan_to_num(0.0)
    return weights @ v, lse


@_run(forbid=(tiled_attention,))
def check_combine_partials(fn) -> str:
    """Check ``fn(o1, lse1, o2, lse2) -> (..., L, Ev)``: attention over all keys from the
    normalised outputs o_i (..., L, Ev) and logsumexps lse_i (..., L) of two disjoint parts of
    the keys; -inf for a part with no allowed key, and zeros when neither part has one."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(18)
    cases = [("random scores", 0.0, (2, 3, 5), 4, None),
             ("one query, a split at the first key", 0.0, (1, 1, 6), 1, None),
             ("scores near 1000", 22.0, (2, 4, 7), 3, None),
             ("a part with no allowed key for some queries", 0.0, (2, 4, 6), 3, "first part"),
             ("queries with no allowed key at all", 0.0, (1, 3, 5), 2, "rows")]
    for label, shift, (B, L, S), cut, masked in cases:
        E = 4
        # float64, so that the reference is exact and any exact merge formula (a weighted sum, a
        # sigmoid of lse1 - lse2, a softmax over the two logsumexps) agrees with it to rounding,
        # even at scores near 1000 where float32 would round lse to 6e-5
        q = torch.randn(B, L, E, generator=gen, dtype=torch.float64) + shift   # shift 22: q·k/√E near 1000
        k = torch.randn(B, S, E, generator=gen, dtype=torch.float64) + shift
        v = torch.randn(B, S, 3, generator=gen, dtype=torch.float64)
        valid = torch.ones(L, S, dtype=torch.bool)
        if masked == "first part":
            valid[::2, :cut] = False                    # even queries see none of part 1
        elif masked == "rows":
            valid[0] = False                            # query 0 sees no key at all
        expected, _ = _partials(q, k, v, valid)
        o1, lse1 = _partials(q, k[:, :cut], v[:, :cut], valid[:, :cut])
        o2, lse2 = _partials(q, k[:, cut:], v[:, cut:], valid[:, cut:])
        out = _call(fn, name, o1.clone(), lse1.clone(), o2.clone(), lse2.clone())
        if torch.is_tensor(out) and out.is_floating_point() and not torch.isfinite(out).all():
            if shift:
                raise _Failed(f"NaN or inf on {label}: exp(lse) overflows; weight each part by "
                              "exp(lse_i - lse) with lse = logaddexp(lse1, lse2)")
            raise _Failed(f"NaN on {label}: a part with lse = -inf has weight exp(-inf) = 0, "
                          "but -inf - (-inf) is NaN; guard a query that has no key at all")
        got = _tensor(out, name, tuple(o1.shape))
        share = cut / S
        _diagnose(got, expected, [
            ((o1 + o2) / 2, "you averaged the two parts; weight part i by its share of the "
                            "softmax mass, exp(lse_i - lse) with lse = logaddexp(lse1, lse2)"),
            (share * o1 + (1 - share) * o2, "the parts are weighted by their number of keys; "
                                            "weight them by their softmax mass, exp(lse_i - lse)"),
            (o1 + o2, "the parts are added without weights; their weights exp(lse_i - lse) "
                      "sum to one"),
        ], f"wrong output on {label}: o = exp(lse1 - lse) o1 + exp(lse2 - lse) o2, "
           "lse = logaddexp(lse1, lse2)")
    return f"{name} merges attention over two parts of the keys into attention over all of them."
