"""Checkers for the self-attention and multi-head exercises (chapters 7 and 8)."""
from __future__ import annotations

import torch

from ..attention import MultiHeadAttention, causal_mask
from ..models.positional import SinusoidalPositions, sinusoidal_positions
from .core import _call, _diagnose, _Failed, _run, _same_dtype, _tensor


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


def _split_reference(x: torch.Tensor, H: int) -> torch.Tensor:
    B, L, E = x.shape
    return x.view(B, L, H, E // H).transpose(1, 2)


@_run(forbid=(MultiHeadAttention.split_heads,))
def check_split_heads(fn) -> str:
    """Check ``fn(x (B, L, E), H) -> (B, H, L, E // H)``: head h holds columns h·D … (h+1)·D − 1."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(9)
    for B, L, E, H in ((2, 5, 12, 3), (1, 3, 8, 2), (3, 4, 6, 1)):
        x = torch.randn(B, L, E, generator=gen)
        D = E // H
        got = _call(fn, name, x.clone(), H)
        if torch.is_tensor(got) and tuple(got.shape) == (B, L, H, D) and H > 1:
            raise _Failed(f"{name} returned (B, L, H, D) = {(B, L, H, D)}: move the head axis "
                          "in front of the positions with .transpose(1, 2)")
        got = _tensor(got, name, (B, H, L, D))
        _diagnose(got, _split_reference(x, H), [
            (x.reshape(B, H, L, D), "a plain reshape to (B, H, L, D) mixes positions into "
                                    "heads: view as (B, L, H, D) first, then transpose"),
            (x.view(B, L, D, H).permute(0, 3, 1, 2), "head h must take the contiguous columns "
                                                     "h·D … (h+1)·D − 1, not every H-th column"),
        ], f"wrong heads for B={B}, L={L}, E={E}, H={H}: head h of position l should be "
           "x[b, l, h·D:(h+1)·D]")
    return f"{name} splits the model width into heads."


@_run(forbid=(MultiHeadAttention.merge_heads,))
def check_merge_heads(fn) -> str:
    """Check ``fn(heads (B, H, L, D)) -> (B, L, H·D)``, the inverse of splitting: on contiguous
    heads (as attention returns them) and on a transposed view."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(10)
    for B, L, E, H in ((2, 5, 12, 3), (1, 3, 8, 2), (3, 4, 6, 1), (2, 1, 8, 4)):
        x = torch.randn(B, L, E, generator=gen)
        heads = _split_reference(x, H).contiguous()      # (B, H, L, D), as SDPA returns it
        got = _tensor(_call(fn, name, heads.clone()), name, (B, L, E))
        _same_dtype(got, x, f"{name}'s result")
        if not torch.equal(_call(fn, name, _split_reference(x, H)), got):   # a transposed view
            raise _Failed(f"{name} gives another result when the heads are a transposed view "
                          "than when they are contiguous: use .reshape, which handles both")
        _diagnose(got, x, [
            (heads.reshape(B, L, E), "a plain reshape of (B, H, L, D) interleaves heads and "
                                     "positions: transpose back to (B, L, H, D) first"),
            (heads.permute(0, 2, 3, 1).reshape(B, L, E), "the head axis ended up last: each "
                                                         "head's D columns must stay together"),
        ], f"wrong merge for B={B}, L={L}, E={E}, H={H}: merging must undo the split exactly")
    return f"{name} merges heads back into the model width."
