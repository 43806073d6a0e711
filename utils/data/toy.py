"""Toy sequence tasks (copy, reverse, sort) drawn with a seeded torch.Generator."""
from __future__ import annotations

from dataclasses import dataclass

import torch

TASKS = ("copy", "reverse", "sort")


@dataclass
class ToyTask:
    """src and tgt are (N, L) token ids; ``alignment[n, t]`` is the source index tgt[n, t] copies."""

    src: torch.Tensor
    tgt: torch.Tensor
    alignment: torch.Tensor


def make_toy_task(kind: str, n: int, length: int, vocab_size: int = 10,
                  generator: torch.Generator | None = None) -> ToyTask:
    if kind not in TASKS:
        raise ValueError(f"unknown task {kind!r}; choose one of {TASKS}")
    if n < 1 or length < 1 or vocab_size < 2:
        raise ValueError(f"need n >= 1, length >= 1, vocab_size >= 2; got {n}, {length}, {vocab_size}")
    src = torch.randint(vocab_size, (n, length), generator=generator)  # (N, L)
    if kind == "copy":
        alignment = torch.arange(length).expand(n, length).clone()
    elif kind == "reverse":
        alignment = torch.arange(length - 1, -1, -1).expand(n, length).clone()
    else:
        alignment = torch.sort(src, dim=1, stable=True).indices
    tgt = torch.gather(src, 1, alignment)  # (N, L)
    return ToyTask(src, tgt, alignment)
