"""Checkers for the multi-head exercises (chapter 8): the forward pass of
``nn.MultiheadAttention`` from its stored parameters, and what each head adds to the output."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..attention import MultiHeadAttention
from .core import _call, _diagnose, _Failed, _run, _tensor

# (B, L, S, E, H, padded key counts per sequence or None)
_MHA_CASES = ((2, 4, 6, 12, 3, (0, 2)), (1, 3, 3, 8, 2, None), (3, 2, 5, 6, 1, (1, 0, 4)),
              (2, 5, 4, 16, 4, (0, 3)))


def _reference(query, key, value, params, H, padding):
    """nn.MultiheadAttention with ``params`` copied in: output (B, L, E), weights (B, H, L, S)."""
    E = query.shape[-1]
    mha = nn.MultiheadAttention(E, H, batch_first=True)
    with torch.no_grad():
        for name, tensor in zip(("in_proj_weight", "in_proj_bias", "out_proj.weight",
                                 "out_proj.bias"), params):
            mha.get_parameter(name).copy_(tensor)
        return mha(query, key, value, key_padding_mask=padding, need_weights=True,
                   average_attn_weights=False)


def _manual(query, key, value, params, H, padding, *, transpose=True, biases=True, scale=True,
            ignore_is_true=True):
    """The forward pass written out, with switches for the mistakes the checker names."""
    W_in, b_in, W_out, b_out = params
    if not biases:
        b_in, b_out = torch.zeros_like(b_in), torch.zeros_like(b_out)
    W_q, W_k, W_v = W_in.chunk(3)
    proj = (lambda x, W, b: x @ W.T + b) if transpose else (lambda x, W, b: x @ W + b)
    B, L, E = query.shape
    D = E // H
    q, k, v = (proj(x, W, b).view(B, x.shape[1], H, D).transpose(1, 2)
               for x, W, b in zip((query, key, value), (W_q, W_k, W_v), b_in.chunk(3)))
    scores = q @ k.transpose(-2, -1) / (D ** 0.5 if scale else 1.0)       # (B, H, L, S)
    if padding is not None:
        ignore = padding if ignore_is_true else ~padding
        scores = scores.masked_fill(ignore.view(B, 1, 1, -1), float("-inf"))
    weights = torch.softmax(scores, -1)
    context = (weights @ v).transpose(1, 2).reshape(B, L, E)
    return proj(context, W_out, b_out), weights


@_run(forbid=(nn.MultiheadAttention.forward, F.multi_head_attention_forward,
              MultiHeadAttention.forward))
def check_torch_mha(fn) -> str:
    """Check ``fn(query (B, L, E), key (B, S, E), value (B, S, E), in_proj_weight (3E, E),
    in_proj_bias (3E,), out_proj_weight (E, E), out_proj_bias (E,), num_heads,
    key_padding_mask (B, S) or None, True = ignore) -> (output (B, L, E), weights (B, H, L, S))``
    against ``nn.MultiheadAttention`` with the same parameters."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(14)
    for B, L, S, E, H, padded in _MHA_CASES:
        query = torch.randn(B, L, E, generator=gen)
        key, value = torch.randn(B, S, E, generator=gen), torch.randn(B, S, E, generator=gen)
        params = (torch.randn(3 * E, E, generator=gen) / E ** 0.5, torch.randn(3 * E, generator=gen),
                  torch.randn(E, E, generator=gen) / E ** 0.5, torch.randn(E, generator=gen))
        padding = None if padded is None else \
            torch.arange(S) >= S - torch.tensor(padded).unsqueeze(1)          # (B, S), True = ignore
        out = _call(fn, name, query.clone(), key.clone(), value.clone(),
                    *(p.clone() for p in params), H, None if padding is None else padding.clone())
        if not isinstance(out, tuple) or len(out) != 2:
            raise _Failed(f"{name} must return a tuple (output, weights), got {type(out).__name__}")
        case = f"B={B}, L={L}, S={S}, E={E}, H={H}" + (", with padding" if padded else "")
        if torch.is_tensor(out[1]) and tuple(out[1].shape) == (B, L, S) and H > 1:
            raise _Failed(f"{name}'s weights have shape (B, L, S): return them per head, "
                          f"(B, H, L, S), as average_attn_weights=False does")
        if padding is not None and all(torch.is_tensor(o) and o.is_floating_point() for o in out) \
                and any(torch.isnan(o).any() for o in out):
            raise _Failed(f"NaN for {case}: every key of a sequence was masked out; is the "
                          "padding mask inverted? In nn.MultiheadAttention's key_padding_mask, "
                          "True means 'ignore this key'")
        output = _tensor(out[0], f"{name}'s output", (B, L, E))
        weights = _tensor(out[1], f"{name}'s weights", (B, H, L, S))
        expected, expected_w = _reference(query, key, value, params, H, padding)
        args = (query, key, value, params, H, padding)
        mistakes = [
            (_manual(*args, transpose=False), "the weights are used untransposed: a Linear "
                                              "layer's weight is (out, in), so compute x @ W.T"),
            (_manual(*args, biases=False), "the biases are missing: add in_proj_bias (its three "
                                           "thirds to q, k, v) and out_proj_bias"),
            (_manual(*args, scale=False), "the scores are not scaled: divide by sqrt(D), "
                                          "D = E / num_heads"),
        ]
        if padding is not None and (~padding).all(-1).any():
            mistakes.append((_manual(*args, ignore_is_true=False),
                             "the padding mask is inverted: in nn.MultiheadAttention's "
                             "key_padding_mask, True means 'ignore this key'"))
        _diagnose(weights, expected_w, [(w, m) for (_, w), m in mistakes],
                  f"wrong attention weights for {case}: expected softmax(q kᵀ / sqrt(D)) per "
                  "head, with q, k from the first and second thirds of in_proj")
        _diagnose(output, expected, [(o, m) for (o, _), m in mistakes],
                  f"the weights are right but the output is not, for {case}: merge the heads "
                  "to (B, L, E), then apply out_proj (x @ W.T + b)")
    return f"{name} computes what nn.MultiheadAttention computes, biases and padding included."


@_run
def check_head_outputs(fn) -> str:
    """Check ``fn(context (B, H, L, D), W_o (E, E), H) -> (B, H, L, E)``: what each head adds
    to the output ``merge(context) @ W_o``; summed over the heads it is that output."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(15)
    for B, H, L, D in ((2, 3, 4, 2), (1, 4, 1, 3), (3, 1, 5, 4), (2, 2, 3, 5)):
        E = H * D
        context, W_o = torch.randn(B, H, L, D, generator=gen), torch.randn(E, E, generator=gen)
        got = _tensor(_call(fn, name, context.clone(), W_o.clone(), H), name, (B, H, L, E))
        rows = W_o.view(H, D, E)                                  # head h owns rows hD … (h+1)D - 1
        expected = torch.einsum("bhld,hde->bhle", context, rows)
        merged = context.transpose(1, 2).reshape(B, L, E) @ W_o   # (B, L, E)
        columns = W_o.T.reshape(H, D, E)                          # wrongly: columns hD … of W_o
        mistakes = [
            (torch.einsum("bhld,hde->bhle", context, columns),
             "each head used columns hD … (h+1)D − 1 of W_o; in merged @ W_o head h's values "
             "meet rows hD … (h+1)D − 1"),
            (merged.unsqueeze(1).expand(B, H, L, E) / H,
             "every head got the same share of the output; each head's part is its own context "
             "times its own rows of W_o"),
            (merged.unsqueeze(1).expand(B, H, L, E),
             "every head got the whole output; each head's part is its own context times its "
             "own rows of W_o"),
        ]
        if H > 1:
            _diagnose(got, expected, mistakes, f"wrong head outputs for B={B}, H={H}, L={L}, "
                      f"D={D}: head h's part is context[:, h] @ W_o[h·D:(h+1)·D]")
        else:
            _diagnose(got, expected, [], "with one head its part is the whole output")
        if not torch.allclose(got.sum(1), merged, atol=1e-5):
            raise _Failed("summed over the heads, your parts must give merge(context) @ W_o")
    return f"{name} splits the output into the parts the heads add."
