"""Train / valid / test splits of Mini-German, with test sets bucketed by source length."""
from __future__ import annotations

import random
from dataclasses import dataclass

from .minigerman import MIN_LENGTH, Pair, sample_pair


@dataclass(frozen=True)
class MiniGermanConfig:
    """How much Mini-German to make, and how long its sentences are.

    Training lengths are spread evenly over ``min_len..max_len`` English tokens; the valid and
    test sets hold the same number of sentences in every length bucket of ``bucket_width``
    lengths, so accuracy can be plotted against length with equal support everywhere.
    """

    min_len: int = MIN_LENGTH
    max_len: int = 42
    bucket_width: int = 5
    n_train: int = 10_000
    valid_per_bucket: int = 40
    test_per_bucket: int = 100
    seed: int = 0

    def __post_init__(self):
        if self.min_len < MIN_LENGTH:
            raise ValueError(f"min_len must be at least {MIN_LENGTH}, got {self.min_len}")
        if self.max_len < self.min_len:
            raise ValueError(f"max_len ({self.max_len}) is below min_len ({self.min_len})")
        if self.bucket_width < 1:
            raise ValueError(f"bucket_width must be positive, got {self.bucket_width}")

    @property
    def buckets(self) -> list:
        """Inclusive (low, high) source-length ranges: [(3, 7), (8, 12), ...]."""
        lows = range(self.min_len, self.max_len + 1, self.bucket_width)
        return [(lo, min(lo + self.bucket_width - 1, self.max_len)) for lo in lows]

    def bucket_of(self, length: int) -> int:
        """Index of the bucket holding ``length``."""
        if not self.min_len <= length <= self.max_len:
            raise ValueError(f"length {length} is outside {self.min_len}..{self.max_len}")
        return (length - self.min_len) // self.bucket_width


@dataclass(frozen=True)
class Splits:
    train: list
    valid: list
    test: list
    config: MiniGermanConfig

    def by_bucket(self, pairs: list) -> list:
        """``pairs`` grouped into the config's buckets (a list of lists, shortest first)."""
        groups = [[] for _ in self.config.buckets]
        for p in pairs:
            groups[self.config.bucket_of(len(p))].append(p)
        return groups


def make_splits(config: MiniGermanConfig = MiniGermanConfig()) -> Splits:
    """Deterministic splits for ``config.seed``; no valid/test source sentence occurs in train."""
    rng = random.Random(config.seed)
    n_lengths = config.max_len - config.min_len + 1
    lengths = [config.min_len + i % n_lengths for i in range(config.n_train)]
    rng.shuffle(lengths)
    train = [sample_pair(rng, n) for n in lengths]
    seen = {p.src for p in train}
    held_out = []
    for per_bucket in (config.valid_per_bucket, config.test_per_bucket):
        split = []
        for lo, hi in config.buckets:
            for i in range(per_bucket):
                split.append(_unseen_pair(rng, lo + i % (hi - lo + 1), seen))
        held_out.append(split)
    return Splits(train, held_out[0], held_out[1], config)


def _unseen_pair(rng: random.Random, length: int, seen: set, tries: int = 200) -> Pair:
    for _ in range(tries):
        pair = sample_pair(rng, length)
        if pair.src not in seen:
            seen.add(pair.src)
            return pair
    raise RuntimeError(f"could not find an unseen sentence of length {length}")
