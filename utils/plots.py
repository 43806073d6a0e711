"""Figures used across chapters: metrics against length, training curves, attention maps."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

METRIC_LABELS = {"greedy_acc": "token accuracy, greedy (%)", "tf_acc": "token accuracy, teacher-forced (%)",
                 "exact": "exact match (%)", "bleu": "BLEU"}


def plot_by_length(results: dict, metric: str = "greedy_acc", ax=None, **line_kwargs):
    """One line per model: ``results[label]`` is a list of rows from ``evaluate_by_bucket``.

    The x axis is the source length (bucket centres, labelled with the bucket ranges).
    """
    if ax is None:
        _, ax = plt.subplots()
    scale = 1.0 if metric == "bleu" else 100.0
    for label, rows in results.items():
        x = [r["mid"] for r in rows]
        ax.plot(x, [scale * r[metric] for r in rows], marker="o", label=label, **line_kwargs)
    rows = next(iter(results.values()))
    ax.set_xticks([r["mid"] for r in rows], [r["bucket"] for r in rows], rotation=30)
    ax.set_xlabel("source sentence length (English tokens)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    ax.set_ylim(0, 100)
    ax.legend()
    return ax


def plot_history(histories: dict, ax=None):
    """Training loss against step; ``histories[label]`` is a ``utils.train.History``."""
    if ax is None:
        _, ax = plt.subplots()
    for label, h in histories.items():
        ax.plot(h.steps, h.loss, label=label)
    ax.set_xlabel("training step (batches of sentence pairs)")
    ax.set_ylabel("cross-entropy per target token (nats)")
    ax.legend()
    return ax


def plot_attention(weights, src_tokens, tgt_tokens, ax=None, title: str | None = None,
                   colorbar: bool = True, colorbar_label: str = "attention weight",
                   xlabel: str = "source (English)", ylabel: str = "target (German)"):
    """Heatmap of attention weights (T, S): row t shows where target token t looks.

    Source tokens label the columns (x axis), target tokens the rows (y axis); the axis labels
    default to the translation chapters' (English source, German target). The colour scale
    runs from 0 to 1, the range of a weight, so that maps can be compared.
    """
    weights = weights.detach().cpu().numpy() if torch.is_tensor(weights) else np.asarray(weights)
    if weights.shape != (len(tgt_tokens), len(src_tokens)):
        raise ValueError(f"weights have shape {weights.shape} but there are {len(tgt_tokens)} "
                         f"target and {len(src_tokens)} source tokens")
    longest = max(len(src_tokens), len(tgt_tokens))
    # inches per column and per row, and the labels' size: long texts get smaller cells, so that
    # the labels stay readable when the page (or the PDF) shrinks the figure to fit
    column, row, font = (0.34, 0.32, None) if longest <= 20 else (6.8 / longest, 6.4 / longest, 8)
    if ax is None:
        width = 1.6 + column * len(src_tokens)
        _, ax = plt.subplots(figsize=(max(4.0, width), max(2.6, 1.0 + row * len(tgt_tokens))))
    image = ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    upright = max(len(str(s)) for s in src_tokens) <= 2          # characters read better upright
    ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=0 if upright else 90, fontsize=font)
    ax.set_yticks(range(len(tgt_tokens)), tgt_tokens, fontsize=font)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(False)
    if title:
        ax.set_title(title)
    if colorbar:
        plt.colorbar(image, ax=ax, fraction=0.04, pad=0.02, label=colorbar_label)
    return ax


def alignment_matrix(pair) -> np.ndarray:
    """Gold alignment of a Mini-German pair as a (T, S) 0/1 matrix, for ``plot_attention``."""
    matrix = np.zeros((len(pair.tgt), len(pair.src)))
    for i, j in pair.alignment:
        matrix[j, i] = 1.0
    return matrix
