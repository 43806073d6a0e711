"""A key-value cache for one attention layer (chapter 10).

Generating token t + 1 needs the keys and values of positions 0 … t. A cache keeps them, so each
step projects only the newest positions and appends their keys and values:

    cache = KVCache()
    out, _ = attention(x_new, x_new, x_new, is_causal=True, cache=cache)   # cache grows by T

Shapes: keys and values (B, H, S, D) for the S positions seen so far.
"""
from __future__ import annotations

import torch

from ..validation import floats


class KVCache:
    """The keys and values one attention layer has seen so far; empty at the start."""

    def __init__(self):
        self.key: torch.Tensor | None = None
        self.value: torch.Tensor | None = None

    def __len__(self) -> int:
        """The number of cached positions."""
        return 0 if self.key is None else self.key.shape[-2]

    def update(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append the T new positions' keys and values (B, H, T, D) to the S cached ones;
        return all of them, (B, H, S + T, D) each."""
        floats("key", key, "(B, H, T, D)", dims=4)
        if value.shape[:3] != key.shape[:3] or value.dtype != key.dtype:
            raise ValueError(f"value must be (B, H, T, Dv) of the keys' dtype {key.dtype} with "
                             f"(B, H, T) = {tuple(key.shape[:3])}, got {value.dtype} of shape "
                             f"{tuple(value.shape)}")
        if self.key is not None and (key.dtype != self.key.dtype
                                     or key.device != self.key.device):
            raise ValueError(f"new keys ({key.dtype} on {key.device}) must match the cached "
                             f"keys ({self.key.dtype} on {self.key.device})")
        if self.key is not None and (key.shape[:2] != self.key.shape[:2]
                                     or key.shape[-1] != self.key.shape[-1]):
            raise ValueError(f"new keys {tuple(key.shape)} do not continue the cached keys "
                             f"{tuple(self.key.shape)} (same batch, heads and head width)")
        if self.key is None:
            self.key, self.value = key, value
        else:
            self.key = torch.cat([self.key, key], dim=-2)
            self.value = torch.cat([self.value, value], dim=-2)
        return self.key, self.value
