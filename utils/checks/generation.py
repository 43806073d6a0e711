"""Checkers for the generation exercises (chapter 10): top-k filtering and a key-value cache
written into preallocated buffers."""
from __future__ import annotations

import torch

from ..attention import KVCache
from .core import _call, _Failed, _run, _tensor


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


def _shares_memory(view: torch.Tensor, buffer: torch.Tensor) -> bool:
    return view.untyped_storage().data_ptr() == buffer.untyped_storage().data_ptr()


@_run(forbid=(KVCache.update,))
def check_cache_write(fn) -> str:
    """Check ``fn(buffer_k, buffer_v, length, key, value) -> (keys, values)``: buffers
    (B, H, S_max, D) with ``length`` positions filled; the T new keys and values (B, H, T, D) are
    written in place at positions length … length + T - 1, and the filled part
    (B, H, length + T, D) is returned as views of the buffers; a write past S_max raises
    ValueError."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(16)
    for B, H, S_max, D, steps in ((2, 3, 8, 4, (3, 1, 1, 2)), (1, 1, 5, 2, (1, 1, 1, 1, 1)),
                                  (1, 2, 6, 3, (6,))):
        buffer_k, buffer_v = torch.zeros(B, H, S_max, D), torch.zeros(B, H, S_max, D)
        seen_k, seen_v, length = [], [], 0
        for T in steps:
            key, value = torch.randn(B, H, T, D, generator=gen), torch.randn(B, H, T, D, generator=gen)
            out = _call(fn, name, buffer_k, buffer_v, length, key.clone(), value.clone())
            seen_k.append(key), seen_v.append(value)
            length += T
            if not isinstance(out, tuple) or len(out) != 2:
                raise _Failed(f"{name} must return a tuple (keys, values), got {type(out).__name__}")
            if torch.is_tensor(out[0]) and out[0].shape[2] == S_max and length < S_max:
                raise _Failed(f"{name} returned all {S_max} positions of the buffer; return the "
                              f"filled ones only, buffer[:, :, :{length}]")
            keys = _tensor(out[0], f"{name}'s keys", (B, H, length, D))
            values = _tensor(out[1], f"{name}'s values", (B, H, length, D))
            expected_k, expected_v = torch.cat(seen_k, dim=2), torch.cat(seen_v, dim=2)
            if not torch.equal(buffer_k[:, :, :length], expected_k) or \
                    not torch.equal(buffer_v[:, :, :length], expected_v):
                if torch.equal(keys, expected_k) and torch.equal(values, expected_v):
                    raise _Failed("the right keys and values come back, but the buffers do not "
                                  "hold them: write into buffer_k and buffer_v in place "
                                  "(buffer_k[:, :, a:b] = key)")
                raise _Failed(f"after writes of {list(steps[:len(seen_k)])} positions the buffers "
                              "hold the wrong values: write the new ones at positions "
                              "length … length + T - 1")
            if buffer_k[:, :, length:].abs().sum() or buffer_v[:, :, length:].abs().sum():
                raise _Failed("values were written past position length + T - 1")
            if not (torch.equal(keys, expected_k) and torch.equal(values, expected_v)):
                raise _Failed("the buffers are right but the returned keys and values are not: "
                              "return buffer[:, :, :length + T]")
            if not (_shares_memory(keys, buffer_k) and _shares_memory(values, buffer_v)):
                raise _Failed("the returned keys and values are copies; return views of the "
                              "buffers (slicing, not torch.cat or .clone()), so that nothing "
                              "is copied")
        key = torch.randn(B, H, S_max - length + 1, D, generator=gen)    # one position too many
        before = buffer_k.clone(), buffer_v.clone()
        try:
            fn(buffer_k, buffer_v, length, key, key.clone())
        except ValueError:
            if not (torch.equal(buffer_k, before[0]) and torch.equal(buffer_v, before[1])):
                raise _Failed("the buffers changed although the new positions did not fit: "
                              "check that they fit before writing anything") from None
            continue
        except Exception as err:
            raise _Failed(f"writing past the end of the buffer (length {length} of {S_max}) "
                          f"raised {type(err).__name__}; raise ValueError with a sentence "
                          "instead") from None
        raise _Failed(f"writing past the end of the buffer (length {length} of {S_max}) must "
                      "raise ValueError, not pass silently")
    return f"{name} writes keys and values into the preallocated cache without copying it."
