"""Checkers for the self-attention exercises (chapter 7): causal masks, sinusoidal encodings,
and scaled dot-product attention with PyTorch's mask conventions."""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

from ..attention import causal_mask, lengths_to_valid
from ..attention import scaled_dot_product_attention as book_sdpa
from ..attention.tiled import tiled_attention
from ..models.positional import SinusoidalPositions, sinusoidal_positions
from .core import _call, _diagnose, _Failed, _run, _tensor


@_run(forbid=(causal_mask,))
def check_causal_mask(fn) -> str:
    """Check ``fn(L) -> (L, L)`` bool: True where query i may attend to key j, i.e. j <= i."""
    name = getattr(fn, "__name__", "your function")
    for L in (4, 7, 1):   # L = 1 last: there every wrong mask looks alike
        got = _call(fn, name, L)
        got = _tensor(got, name, (L, L))
        if got.dtype != torch.bool:
            raise _Failed(f"{name} returned {got.dtype} values; return a bool mask "
                          "(True = may attend), as F.scaled_dot_product_attention expects")
        expected = causal_mask(L)
        if torch.equal(got, expected):
            continue
        if torch.equal(got, ~expected):
            raise _Failed("True and False are swapped: here True means 'may attend' "
                          "(nn.MultiheadAttention's attn_mask uses the opposite meaning)")
        if torch.equal(got, expected.T):
            raise _Failed("that is the upper triangle: query i (a row) may see keys j <= i, "
                          "the lower triangle")
        if torch.equal(got, torch.ones(L, L, dtype=torch.bool).tril(-1)):
            raise _Failed("the diagonal is missing: a position may attend to itself")
        raise _Failed(f"wrong mask for L = {L}: expected True exactly where j <= i")
    return f"{name} builds the causal mask."


@_run(forbid=(sinusoidal_positions, SinusoidalPositions.forward))
def check_sinusoidal_positions(fn) -> str:
    """Check ``fn(length, dim) -> (length, dim)``: PE[p, 2i] = sin(p / 10000^(2i/dim)),
    PE[p, 2i+1] = cos(p / 10000^(2i/dim))."""
    name = getattr(fn, "__name__", "your function")
    for length, dim in ((6, 4), (50, 16), (1, 2)):
        got = _tensor(_call(fn, name, length, dim), name, (length, dim)).float()
        expected = sinusoidal_positions(length, dim)
        position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
        half = torch.arange(dim // 2, dtype=torch.float32)
        angle = position / 10000 ** (2 * half / dim)
        by_index = position / 10000 ** (torch.arange(0, dim, 2) / dim)   # same as angle
        mistakes = [
            (torch.stack([torch.cos(angle), torch.sin(angle)], -1).flatten(1),
             "sine and cosine are swapped: even columns hold sin, odd columns cos"),
            (torch.cat([torch.sin(angle), torch.cos(angle)], -1),
             "all sines come first, then all cosines; the paper interleaves them: "
             "column 2i is sin, column 2i + 1 is cos of the same frequency"),
            (torch.stack([torch.sin(position / 10000 ** (2 * torch.arange(0, dim, 2) / dim)),
                          torch.cos(position / 10000 ** (2 * torch.arange(0, dim, 2) / dim))],
                         -1).flatten(1),
             "the exponent is doubled: with i counting pairs it is 2i/dim, not 4i/dim"),
            (torch.stack([torch.sin(position / 10000 ** (half / dim)),
                          torch.cos(position / 10000 ** (half / dim))], -1).flatten(1),
             "the exponent should be 2i/dim (i counts the sine-cosine pairs), not i/dim"),
        ]
        assert torch.allclose(by_index, angle)
        _diagnose(got, expected, [(w, m) for w, m in mistakes if not torch.allclose(w, expected)],
                  f"wrong encodings for length {length}, dim {dim}: expected "
                  "PE[p, 2i] = sin(p / 10000^(2i/dim)) and PE[p, 2i+1] = cos(…)")
    return f"{name} computes the sinusoidal position encodings."


def _attention(q, k, v, valid=None, added=None, *, scale=True, causal=None):
    """Attention written out, with switches for the mistakes the checker names: ``valid`` a
    bool mask (True = attend), ``added`` a float mask, ``causal`` "top-left" or "bottom-right"."""
    L, S = q.shape[-2], k.shape[-2]
    scores = q @ k.transpose(-2, -1) / (q.shape[-1] ** 0.5 if scale else 1.0)
    if added is not None:
        scores = scores + added
    if causal is not None:
        valid = causal_mask(L, S, lower_right=causal == "bottom-right")
    if valid is not None:
        scores = scores.masked_fill(~valid, float("-inf"))
    weights = torch.softmax(scores, -1).nan_to_num(0.0)           # a row with no key: zeros
    return weights @ v


def _call_attention(fn, name, query, key, value, attn_mask, is_causal):
    """Call ``fn`` with the mask arguments by name where it names them as PyTorch does (so a
    function with PyTorch's full signature, ``attn_mask=None, dropout_p=0.0, is_causal=False,
    scale=None``, gets ``is_causal`` where it expects it); otherwise in the exercise's order."""
    try:
        names = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        names = {}
    if "attn_mask" in names and "is_causal" in names:
        return _call(fn, name, query, key, value, attn_mask=attn_mask, is_causal=is_causal)
    return _call(fn, name, query, key, value, attn_mask, is_causal)


@_run(forbid=(book_sdpa, F.scaled_dot_product_attention, tiled_attention))
def check_scaled_attention(fn) -> str:
    """Check ``fn(query (..., L, E), key (..., S, E), value (..., S, Ev), attn_mask=None,
    is_causal=False) -> (..., L, Ev)`` against ``F.scaled_dot_product_attention``: scale 1/√E,
    a bool mask with True = may attend, a float mask added to the scores, a causal mask aligned
    at the top left, and zeros for a query that may attend to no key."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(17)

    def qkv(*batch, L, S, E, Ev):
        return (torch.randn(*batch, L, E, generator=gen),
                torch.randn(*batch, E, S, generator=gen).transpose(-2, -1),  # a transposed view
                torch.randn(*batch, S, Ev, generator=gen))

    padding = lengths_to_valid(torch.tensor([5, 3]), 5).view(2, 1, 1, 5)      # (B, 1, 1, S)
    gap = torch.tensor([[True, True, False], [False, False, False], [True, False, True]])
    bias = torch.randn(4, 6, generator=gen)
    cases = [  # (label, (q, k, v), attn_mask, is_causal)
        ("no mask", qkv(2, L=3, S=5, E=4, Ev=6), None, False),
        ("one query, batch of one", qkv(1, L=1, S=4, E=8, Ev=2), None, False),
        ("a padding mask over heads", qkv(2, 3, L=4, S=5, E=4, Ev=3), padding, False),
        ("a float mask", qkv(2, L=4, S=6, E=5, Ev=3), bias, False),
        ("is_causal=True", qkv(2, 2, L=5, S=5, E=4, Ev=4), None, True),
        ("is_causal=True with fewer queries than keys", qkv(1, L=3, S=6, E=4, Ev=2), None, True),
        ("a query with no allowed key", qkv(2, L=3, S=3, E=4, Ev=2), gap, False),
    ]
    for label, (q, k, v), mask, causal in cases:
        out = _call_attention(fn, name, q.clone(), k, v.clone(),
                              None if mask is None else mask.clone(), causal)
        L, S, Ev = q.shape[-2], k.shape[-2], v.shape[-1]
        shape = tuple(q.shape[:-2]) + (L, Ev)
        if isinstance(out, tuple) and len(out) == 2 and torch.is_tensor(out[0]):
            raise _Failed(f"{name} returned a tuple; return only the output, as "
                          "F.scaled_dot_product_attention does")
        if torch.is_tensor(out) and out.is_floating_point() and torch.isnan(out).any():
            if mask is not None and mask.dtype == torch.bool and mask.any(-1).all():
                raise _Failed(f"NaN on {label}, where every query may attend to some key: is "
                              "the bool mask inverted? Here True means 'may attend'")
            raise _Failed(f"NaN on {label}: a query that may attend to no key must get a zero "
                          "output (its weights are all zero), not 0/0")
        got = _tensor(out, name, shape)
        valid = mask if mask is not None and mask.dtype == torch.bool else None
        added = mask if mask is not None and mask.is_floating_point() else None
        expected = _attention(q, k, v, valid, added, causal="top-left" if causal else None)
        mistakes = [
            (_attention(q, k, v, valid, added, scale=False,
                        causal="top-left" if causal else None),
             "the scores are not scaled: divide q·k by sqrt(E), E the width of queries and keys"),
        ]
        if valid is not None:
            mistakes.append((_attention(q, k, v, ~valid),
                             "the bool mask is inverted: here True means 'may attend', as in "
                             "F.scaled_dot_product_attention (nn.MultiheadAttention's masks "
                             "mean the opposite)"))
        if added is not None:
            mistakes.append((_attention(q, k, v), "the float mask is ignored: add it to the "
                                                  "scaled scores before the softmax"))
            mistakes.append((torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5 * added,
                                           -1) @ v,
                             "the float mask is multiplied; it is added to the scores"))
        if causal:
            mistakes.append((_attention(q, k, v), "is_causal=True is ignored: query i may only "
                                                  "attend to keys j <= i"))
            if L != S:
                mistakes.append((_attention(q, k, v, causal="bottom-right"),
                                 "the causal mask is aligned at the bottom right; "
                                 "F.scaled_dot_product_attention aligns it at the top left "
                                 "(query i sees keys 0 … i)"))
        _diagnose(got, expected, mistakes, f"wrong output on {label}: expected "
                  "softmax(q kᵀ / sqrt(E) + mask) v over the last axis")
    return f"{name} computes scaled dot-product attention as F.scaled_dot_product_attention does."
