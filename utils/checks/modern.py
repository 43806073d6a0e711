"""Checkers for chapter 14: rotary position embeddings, key-value heads shared by groups of
query heads, and the sliding-window mask."""
from __future__ import annotations

import sys

import torch

from ..attention.masks import causal_mask
from ..attention.relative import apply_rotary, rotary_cos_sin, rotate_half
from ..attention.scaled import _share_key_value_heads
from .core import _call, _diagnose, _Failed, _forbidden, _run, _tensor


def _rotated(x, positions, theta, sign=1.0, interleaved=False):
    """x (..., L, D) rotated by positions·theta (theta (D/2,)), pairs (i, i + D/2) or (2i, 2i+1)."""
    angles = positions.to(x.dtype).unsqueeze(-1) * theta.to(x.dtype)          # (L, D/2)
    cos, sin = angles.cos(), sign * angles.sin()
    if interleaved:
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


def _forbid_transformers(*names):
    """Also reject ``transformers``' Llama functions, if the student's session imported them
    (importing the library here would cost every chapter seconds)."""
    module = sys.modules.get("transformers.models.llama.modeling_llama")
    if module is not None:
        _forbidden.extend(getattr(module, n) for n in names if hasattr(module, n))


@_run(forbid=(apply_rotary, rotary_cos_sin, rotate_half))
def check_rotary(fn) -> str:
    """Check ``fn(x (..., L, D), positions (L,), base) -> (..., L, D)``: every pair
    (x_i, x_{i + D/2}) rotated by the angle position · base^(-2i/D)."""
    name = getattr(fn, "__name__", "your function")
    _forbid_transformers("apply_rotary_pos_emb", "rotate_half")
    gen = torch.Generator().manual_seed(14)
    cases = [("a batch of heads", (2, 3, 5, 8), torch.arange(5), 10000.0, False),
             ("positions 10-16 (continuing a cache), base 100", (1, 1, 7, 4),
              torch.arange(10, 17), 100.0, False),
             ("a width of 2 (one pair)", (1, 2, 4, 2), torch.arange(4), 10000.0, False),
             ("a transposed (non-contiguous) input", (2, 4, 6, 16), torch.arange(6), 500.0, True),
             ("float64 input", (1, 2, 3, 6), torch.arange(3), 10000.0, False)]
    for label, shape, positions, base, transposed in cases:
        dtype = torch.float64 if "float64" in label else torch.float32
        x = torch.randn(*shape, generator=gen, dtype=dtype)
        if transposed:
            x = x.transpose(1, 2).contiguous().transpose(1, 2)       # same values, other strides
        cos, sin = rotary_cos_sin(positions, shape[-1], base)
        expected = apply_rotary(x, cos.to(dtype), sin.to(dtype))
        got = _tensor(_call(fn, name, x.clone(), positions.clone(), base), name, tuple(shape))
        D = shape[-1]
        theta = 1.0 / base ** (torch.arange(0, D, 2, dtype=torch.float64) / D)
        mistakes = [
            (_rotated(x, positions, theta, interleaved=True),
             "you rotated neighbouring pairs (x_2i, x_2i+1), as the paper writes it; this book "
             "and transformers' Llama pair x_i with x_{i + D/2} (the two halves of the head)"),
            (_rotated(x, positions, theta, sign=-1.0),
             "the rotation goes the wrong way: (x₁, x₂) -> (x₁ cos − x₂ sin, x₁ sin + x₂ cos) "
             "for the halves x₁, x₂"),
            (_rotated(x, positions, 1.0 / base ** (torch.arange(D // 2, dtype=torch.float64)
                                                   / D)),
             "the frequencies are off: pair i turns by base^(-2i/D) per position, with i "
             "counting pairs (0 … D/2 − 1)"),
            (_rotated(x, positions, base ** (torch.arange(0, D, 2, dtype=torch.float64) / D)),
             "the frequencies grow instead of falling: θ_i = base^(-2i/D), a minus in the "
             "exponent"),
        ]
        if positions[0] != 0:
            mistakes.append((_rotated(x, torch.arange(len(positions)), theta),
                             "the given positions are ignored: rotate position p by p·θ_i, "
                             "here p = 10 … 16, not 0 … 6"))
        _diagnose(got, expected, mistakes, f"wrong rotation on {label}: pair (x_i, x_i+D/2) "
                  "turns by the angle p · base^(-2i/D)")
    return f"{name} rotates queries and keys by their positions, as transformers' Llama does."


@_run(forbid=(_share_key_value_heads,))
def check_repeat_kv(fn) -> str:
    """Check ``fn(x (B, Hkv, S, D), num_heads) -> (B, H, S, D)``: key-value head j serves the
    query heads j·g … j·g + g − 1, g = H / Hkv."""
    name = getattr(fn, "__name__", "your function")
    _forbid_transformers("repeat_kv")
    gen = torch.Generator().manual_seed(41)
    cases = [("2 key-value heads for 8 query heads", (2, 2, 5, 4), 8),
             ("multi-query attention (1 key-value head, batch 1)", (1, 1, 3, 2), 4),
             ("as many key-value heads as query heads", (1, 4, 3, 2), 4),
             ("a transposed (non-contiguous) input", (2, 3, 6, 4), 6)]
    for label, (B, kv, S, D), heads in cases:
        x = torch.randn(B, S, kv, D, generator=gen).transpose(1, 2) if "transposed" in label \
            else torch.randn(B, kv, S, D, generator=gen)
        got = _tensor(_call(fn, name, x.clone(), heads), name, (B, heads, S, D))
        group = heads // kv
        _diagnose(got, x.repeat_interleave(group, dim=1), [
            (x.repeat(1, group, 1, 1),
             f"query head h got key-value head h mod {kv}: the heads of a group are neighbours, "
             "query heads 0 … g − 1 share key-value head 0 (repeat_interleave, not repeat)"),
        ], f"wrong heads for {label}: query head h uses key-value head h // (H / Hkv)")
    return f"{name} shares each key-value head with its group of query heads."


@_run(forbid=(causal_mask,))
def check_window_mask(fn) -> str:
    """Check ``fn(L, window) -> (L, L)`` bool: True where query i may attend to key j, i.e.
    i − window < j <= i (the query itself counts)."""
    name = getattr(fn, "__name__", "your function")
    for L, window in ((6, 3), (7, 1), (8, 8), (4, 10), (1, 1)):
        got = _tensor(_call(fn, name, L, window), name, (L, L))
        if got.dtype != torch.bool:
            raise _Failed(f"{name} returned {got.dtype} values; return a bool mask "
                          "(True = may attend), as F.scaled_dot_product_attention expects")
        expected = causal_mask(L, window=window)
        if torch.equal(got, expected):
            continue
        rows, cols = torch.arange(L).unsqueeze(1), torch.arange(L)
        mistakes = [
            (~expected, "True and False are swapped: here True means 'may attend' "
                        "(nn.MultiheadAttention's attn_mask uses the opposite meaning)"),
            (causal_mask(L, window=window + 1),
             f"each query sees window + 1 = {window + 1} positions; the window counts the "
             "query itself: keys j with i − window < j <= i"),
            (causal_mask(L), "the window is missing: that is the plain causal mask; query i "
                             "sees only keys j > i − window"),
            (expected.T, "that is the band above the diagonal: query i (a row) may see keys "
                         "j <= i, never the future"),
            ((rows - cols).abs() < window, "the band reaches into the future: a causal model's "
                                           "query i sees keys j <= i only"),
        ]
        if window > 1:
            mistakes.insert(2, (causal_mask(L, window=window - 1),
                                f"each query sees window − 1 = {window - 1} positions; the "
                                "window includes the query itself: keys i − window < j <= i"))
        for wrong, message in mistakes:
            if torch.equal(got, wrong):
                raise _Failed(message)
        raise _Failed(f"wrong mask for L = {L}, window = {window}: expected True exactly where "
                      "i − window < j <= i")
    return f"{name} builds the sliding-window mask."
