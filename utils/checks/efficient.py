"""Checker for the online-softmax exercise (chapter 13)."""
from __future__ import annotations

import torch

from ..attention.tiled import tiled_attention
from .core import _call, _diagnose, _Failed, _run


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
