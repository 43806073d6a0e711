"""The call protocol every model of the book follows.

``model(...)`` returns ``(output, attention weights or None)``: logits and the weights for the
attention models, logits and None for the others. Sequence-to-sequence models are called
``model(src, src_lengths, tgt_in)`` and decode with ``model.greedy(src, src_lengths, max_len)``,
which returns ``(tokens, attention weights or None)`` in the same way.
"""
from __future__ import annotations

import torch


def teacher_forced_logits(model, batch) -> torch.Tensor:
    """Logits (B, T, V) of ``model(src, src_lengths, tgt_in)`` on a batch, under teacher
    forcing."""
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    return logits
