"""Vocabularies, encoding and padded batches for sentence pairs."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import pad_sequence

from ..special_tokens import BOS, EOS, PAD, SPECIALS, UNK


class Vocab:
    """Token <-> id map with four special tokens at fixed ids (pad 0, bos 1, eos 2, unk 3)."""

    def __init__(self, sentences, min_freq: int = 1):
        counts = Counter(tok for sent in sentences for tok in sent)
        words = sorted(w for w, c in counts.items() if c >= min_freq and w not in SPECIALS)
        self.itos = list(SPECIALS) + words
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens, bos: bool = False, eos: bool = False) -> list:
        ids = [self.stoi.get(t, UNK) for t in tokens]
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids) -> list:
        """Tokens up to (not including) the first <eos>; <bos> and <pad> are dropped."""
        out = []
        for i in (ids.tolist() if torch.is_tensor(ids) else ids):
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out


@dataclass
class Batch:
    """A padded batch. Shapes: src (B, S), src_lengths (B,), tgt_in and tgt_out (B, T)."""

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor  # <bos> y1 ... yn   (teacher forcing input)
    tgt_out: torch.Tensor  # y1 ... yn <eos>  (what the decoder must predict)
    pairs: list

    @property
    def src_key_padding_mask(self) -> torch.Tensor:
        """(B, S) bool, True where the source is padding (torch.nn.MultiheadAttention's meaning)."""
        return self.src == PAD


def make_batch(pairs: list, src_vocab: Vocab, tgt_vocab: Vocab) -> Batch:
    if not pairs:
        raise ValueError("make_batch needs at least one pair")
    src = [torch.tensor(src_vocab.encode(p.src)) for p in pairs]
    tgt = [tgt_vocab.encode(p.tgt) for p in pairs]
    return Batch(
        src=pad_sequence(src, batch_first=True, padding_value=PAD),
        src_lengths=torch.tensor([len(p.src) for p in pairs]),
        tgt_in=pad_sequence([torch.tensor([BOS] + t) for t in tgt], batch_first=True),
        tgt_out=pad_sequence([torch.tensor(t + [EOS]) for t in tgt], batch_first=True),
        pairs=list(pairs),
    )


def iterate_batches(pairs: list, batch_size: int, src_vocab: Vocab, tgt_vocab: Vocab,
                    generator: torch.Generator | None = None):
    """Batches in order, or shuffled once with ``generator`` (a seeded torch.Generator)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    order = torch.randperm(len(pairs), generator=generator).tolist() if generator is not None \
        else range(len(pairs))
    order = list(order)
    for start in range(0, len(order), batch_size):
        yield make_batch([pairs[i] for i in order[start:start + batch_size]], src_vocab, tgt_vocab)


def endless_batches(pairs: list, batch_size: int, src_vocab: Vocab, tgt_vocab: Vocab,
                    seed: int = 0, pool: int = 50):
    """Shuffled batches forever, deterministic for ``seed``.

    Each epoch is shuffled, cut into pools of ``pool`` batches, and every pool is sorted by
    source length before it is split into batches, so a batch holds sentences of similar
    length and little padding (the recurrent models run one step per position, padding
    included). The batches are then served in random order. ``pool=1`` gives plain shuffling.
    """
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(pairs), generator=generator).tolist()
        chunk = batch_size * pool
        groups = []
        for start in range(0, len(order), chunk):
            part = sorted(order[start:start + chunk], key=lambda i: len(pairs[i].src))
            groups += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
        for g in torch.randperm(len(groups), generator=generator).tolist():
            yield make_batch([pairs[i] for i in groups[g]], src_vocab, tgt_vocab)
