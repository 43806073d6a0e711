"""One sentence pair: the unit every translation data set of the book is made of."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pair:
    """One sentence pair. ``alignment`` holds (source index, target index) gold links; it is
    empty for corpora that have none."""

    src: tuple
    tgt: tuple
    alignment: tuple

    def __len__(self) -> int:
        return len(self.src)
