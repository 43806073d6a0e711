"""Evaluation of translation models: token accuracy, exact match and BLEU per length bucket."""
from __future__ import annotations

import torch
from sacrebleu.metrics import BLEU

from .data.vocab import Vocab, iterate_batches
from .special_tokens import EOS, PAD
from .models.protocol import teacher_forced_logits


def token_accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Share of non-padding target positions where pred equals target. Both (B, T) ids."""
    if pred.shape != target.shape:
        raise ValueError(f"pred has shape {tuple(pred.shape)} but target has {tuple(target.shape)}")
    mask = target != PAD
    if not mask.any():
        raise ValueError("target has no non-padding positions")
    return ((pred == target) & mask).sum().item() / mask.sum().item()


def cut_after_eos(tokens: torch.Tensor) -> torch.Tensor:
    """Replace everything after each row's first <eos> by padding. (B, T) -> (B, T)."""
    seen = (tokens == EOS).long().cumsum(dim=1)
    after = (seen - (tokens == EOS).long()) > 0  # strictly after the first <eos>
    return tokens.masked_fill(after, PAD)


def _fit_length(tokens: torch.Tensor, length: int) -> torch.Tensor:
    if tokens.shape[1] >= length:
        return tokens[:, :length]
    pad = tokens.new_full((tokens.shape[0], length - tokens.shape[1]), PAD)
    return torch.cat([tokens, pad], dim=1)


def greedy_predictions(model, batch, extra_steps: int = 0) -> tuple:
    """Greedy output cut after the first <eos> and padded/cut to the reference length:
    (predictions (B, T) aligned with batch.tgt_out, raw tokens (B, T + extra_steps))."""
    tokens, _ = model.greedy(batch.src, batch.src_lengths, batch.tgt_out.shape[1] + extra_steps)
    return _fit_length(cut_after_eos(tokens), batch.tgt_out.shape[1]), tokens


@torch.no_grad()
def evaluate(model, pairs: list, src_vocab: Vocab, tgt_vocab: Vocab,
             batch_size: int = 200, extra_steps: int = 5) -> dict:
    """Teacher-forced and greedy token accuracy, exact match and BLEU on ``pairs``.

    * teacher-forced: the decoder is fed the true previous word at every step;
    * greedy: the decoder is fed its own previous guess, as in real use. A greedy position
      counts as correct when it equals the reference there; the final <eos> is one of the
      positions, and anything after the model's first <eos> is wrong.
    """
    model.eval()
    counts = {"tf": 0, "greedy": 0, "tokens": 0, "exact": 0}
    hyps, refs = [], []
    for batch in iterate_batches(pairs, batch_size, src_vocab, tgt_vocab):
        mask = batch.tgt_out != PAD  # (B, T)
        logits = teacher_forced_logits(model, batch)  # (B, T, V)
        counts["tf"] += ((logits.argmax(-1) == batch.tgt_out) & mask).sum().item()
        pred, tokens = greedy_predictions(model, batch, extra_steps)  # (B, T)
        correct = (pred == batch.tgt_out) & mask
        counts["greedy"] += correct.sum().item()
        counts["tokens"] += mask.sum().item()
        counts["exact"] += (correct.sum(1) == mask.sum(1)).sum().item()
        hyps += [" ".join(tgt_vocab.decode(row)) for row in tokens]
        refs += [" ".join(p.tgt) for p in batch.pairs]
    bleu = BLEU(tokenize="none", effective_order=True).corpus_score(hyps, [refs]).score
    return {"n": len(pairs), "tf_acc": counts["tf"] / counts["tokens"],
            "greedy_acc": counts["greedy"] / counts["tokens"],
            "exact": counts["exact"] / len(pairs), "bleu": bleu, "hypotheses": hyps}


@torch.no_grad()
def teacher_forced_accuracy(model, pairs: list, src_vocab: Vocab, tgt_vocab: Vocab,
                            batch_size: int = 200) -> float:
    """Teacher-forced token accuracy alone (no decoding, so cheap enough to call in training)."""
    hits = tokens = 0
    for batch in iterate_batches(pairs, batch_size, src_vocab, tgt_vocab):
        mask = batch.tgt_out != PAD  # (B, T)
        predicted = teacher_forced_logits(model, batch).argmax(-1)  # (B, T)
        hits += ((predicted == batch.tgt_out) & mask).sum().item()
        tokens += mask.sum().item()
    return hits / tokens


def evaluate_by_bucket(model, groups: list, buckets: list, src_vocab: Vocab, tgt_vocab: Vocab,
                       **kwargs) -> list:
    """One ``evaluate`` row per length bucket; ``groups[i]`` holds the pairs of ``buckets[i]``."""
    if len(groups) != len(buckets):
        raise ValueError(f"{len(groups)} groups of pairs but {len(buckets)} buckets")
    rows = []
    for (lo, hi), pairs in zip(buckets, groups):
        row = evaluate(model, pairs, src_vocab, tgt_vocab, **kwargs)
        row.update(bucket=f"{lo}–{hi}", low=lo, high=hi, mid=(lo + hi) / 2)
        rows.append(row)
    return rows


@torch.no_grad()
def accuracy_by_source_position(model, pairs: list, src_vocab: Vocab, tgt_vocab: Vocab,
                                n_bins: int = 5, batch_size: int = 200) -> list:
    """Teacher-forced accuracy of target words, grouped by where their source words sit.

    Each target word with a gold alignment gets the relative position (0 = first source word,
    1 = last) of the mean of its aligned source indices; returns one accuracy per bin.
    """
    hits, totals = [0] * n_bins, [0] * n_bins
    for batch in iterate_batches(pairs, batch_size, src_vocab, tgt_vocab):
        correct = (teacher_forced_logits(model, batch).argmax(-1) == batch.tgt_out).tolist()
        for row, pair in zip(correct, batch.pairs):
            sources = {}
            for i, j in pair.alignment:
                sources.setdefault(j, []).append(i)
            for j, idx in sources.items():
                rel = (sum(idx) / len(idx)) / max(1, len(pair.src) - 1)
                b = min(n_bins - 1, int(rel * n_bins))
                hits[b] += row[j]
                totals[b] += 1
    return [h / t if t else float("nan") for h, t in zip(hits, totals)]


@torch.no_grad()
def accuracy_by_target_position(model, pairs: list, src_vocab: Vocab, tgt_vocab: Vocab,
                                n_bins: int = 5, batch_size: int = 200) -> dict:
    """Teacher-forced and greedy accuracy of target positions, by relative position.

    Position j of a target of n words (plus <eos>) falls in bin floor(j / (n + 1) * n_bins).
    Returns {"tf": [...], "greedy": [...]}, one accuracy per bin.
    """
    hits = {"tf": [0] * n_bins, "greedy": [0] * n_bins}
    totals = [0] * n_bins
    for batch in iterate_batches(pairs, batch_size, src_vocab, tgt_vocab):
        tf = (teacher_forced_logits(model, batch).argmax(-1) == batch.tgt_out).tolist()
        greedy = (greedy_predictions(model, batch)[0] == batch.tgt_out).tolist()
        for row_tf, row_greedy, pair in zip(tf, greedy, batch.pairs):
            n = len(pair.tgt) + 1
            for j in range(n):
                b = min(n_bins - 1, j * n_bins // n)
                hits["tf"][b] += row_tf[j]
                hits["greedy"][b] += row_greedy[j]
                totals[b] += 1
    return {k: [h / t for h, t in zip(v, totals)] for k, v in hits.items()}


def format_table(rows: list, columns: dict) -> str:
    """A plain-text table. ``columns`` maps a row key to (header, format), e.g.
    {"bucket": ("length", "{}"), "greedy_acc": ("greedy %", "{:.1%}")}."""
    headers = [h for h, _ in columns.values()]
    cells = [[fmt.format(row[key]) for key, (_, fmt) in columns.items()] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def alignment_hits(weights: torch.Tensor, alignment) -> tuple:
    """(hits, total) for one sentence: of the target words that have gold source words, how many
    put their largest attention weight on one of them. weights: (T, S), row j = target word j."""
    if weights.dim() != 2:
        raise ValueError(f"weights must be (target length, source length), got {tuple(weights.shape)}")
    gold = {}
    for i, j in alignment:
        gold.setdefault(j, set()).add(i)
    hits = sum(int(weights[j].argmax()) in sources for j, sources in gold.items())
    return hits, len(gold)


@torch.no_grad()
def attention_alignment_accuracy(model, pairs: list, src_vocab: Vocab, tgt_vocab: Vocab,
                                 batch_size: int = 200) -> float:
    """Share of target words whose argmax attention (teacher-forced) hits a gold source word.
    The model's forward must return (logits, weights (B, T, S))."""
    hits = total = 0
    for batch in iterate_batches(pairs, batch_size, src_vocab, tgt_vocab):
        _, weights = model(batch.src, batch.src_lengths, batch.tgt_in)
        for row, pair in zip(weights, batch.pairs):
            h, t = alignment_hits(row[:len(pair.tgt), :len(pair.src)], pair.alignment)
            hits, total = hits + h, total + t
    return hits / total
