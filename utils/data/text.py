"""An offline English corpus for language modelling, at the character level (chapter 10).

CPython ships the text of its help topics in ``pydoc_data.topics`` (about 465,000 characters of
documentation prose and code); nothing is downloaded. ``CharCorpus`` joins the topics in sorted
order, maps each character to an id, and cuts the id sequence into a training part and a
validation part.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch

from ..validation import token_ids, whole_number


def pydoc_text() -> str:
    """The help topics bundled with CPython, joined in sorted order."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key] for key in sorted(topics))


@dataclass
class CharCorpus:
    chars: list
    train: torch.Tensor   # (N_train,) character ids
    valid: torch.Tensor   # (N_valid,)

    @classmethod
    def from_text(cls, text: str, valid_fraction: float = 0.1) -> "CharCorpus":
        chars = sorted(set(text))
        index = {c: i for i, c in enumerate(chars)}
        ids = torch.tensor([index[c] for c in text])
        cut = int(len(ids) * (1 - valid_fraction))
        return cls(chars, ids[:cut], ids[cut:])

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        return torch.tensor([index[c] for c in text])

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in (ids.tolist() if torch.is_tensor(ids) else ids))

    def unigram_loss(self) -> float:
        """Cross-entropy (nats per character) on the validation text of the best model that
        ignores context: the training text's character frequencies (add-one smoothed)."""
        counts = Counter(self.train.tolist())
        total = len(self.train) + len(self.chars)
        log_p = {i: math.log((counts.get(i, 0) + 1) / total) for i in range(len(self.chars))}
        return -sum(log_p[i] for i in self.valid.tolist()) / len(self.valid)


def lm_batch(ids: torch.Tensor, batch: int, context: int,
             generator: torch.Generator | None = None) -> tuple:
    """Random windows: inputs (batch, context) and targets shifted by one character."""
    token_ids("ids", ids, dims=1, what="1-D")
    whole_number("batch", batch)
    whole_number("context", context)
    if len(ids) < context + 2:
        raise ValueError(f"context must be shorter than the text less two, got a context of "
                         f"{context} for {len(ids)} ids")
    device = ids.device if generator is None else generator.device     # the generator's own
    starts = torch.randint(len(ids) - context - 1, (batch,), generator=generator, device=device)
    starts = starts.to(ids.device)
    offsets = torch.arange(context + 1, device=ids.device)
    windows = ids[starts.unsqueeze(1) + offsets]                     # (batch, context + 1)
    return windows[:, :-1], windows[:, 1:]
