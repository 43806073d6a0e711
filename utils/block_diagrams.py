"""Architecture diagrams of the Transformer family (chapters 7-12), drawn with matplotlib.

Each function draws one model as a stack of boxes, read from the bottom (the input) to the top
(the output), with a bracket marking the blocks that repeat; the boxes and arrows are those of
``utils.diagrams``. Each returns a fresh figure; the chapter's cell carries the alt text.
"""
from __future__ import annotations

from matplotlib.patches import FancyArrowPatch

from .diagrams import arrow, box, canvas

GREEN = "#3d7a35"


def stack(ax, x: float, items, y0: float = 0.0, dy: float = 0.8, width: float = 3.2) -> list:
    """Boxes (text, kind) at x from y0 upwards, each feeding the next; returns the boxes."""
    nodes = [box(ax, x, y0 + i * dy, text, kind, width=width) for i, (text, kind) in
             enumerate(items)]
    for a, b in zip(nodes, nodes[1:]):
        arrow(ax, a, b)
    return nodes


def skip(ax, start, end, offset: float = 0.3) -> None:
    """A residual connection: from box ``start`` around the right of the boxes between, into
    the right side of box ``end``."""
    x0, x1 = start[0] + start[2], end[0] + end[2]
    xr = max(x0, x1) + offset
    ax.plot([x0, xr, xr], [start[1], start[1], end[1]], color="#444444", lw=1.0)
    ax.add_patch(FancyArrowPatch((xr, end[1]), (x1, end[1]), arrowstyle="-|>",
                                 mutation_scale=10, color="#444444", lw=1.0))


def bracket(ax, first, last, label: str, side: float = 1.0) -> None:
    """A bracket beside the boxes first … last (inclusive), labelled (e.g. "× 2")."""
    x = first[0] + side * (first[2] + 0.15)
    bottom, top = first[1] - first[3], last[1] + last[3]
    tick = 0.12 * side
    ax.plot([x, x + tick, x + tick, x], [bottom, bottom, top, top], color="#666666", lw=1.0)
    ax.text(x + 2.2 * tick, (bottom + top) / 2, label, ha="left" if side > 0 else "right",
            va="center", fontsize=10, color="#666666")


def self_attention_diagram():
    """Chapter 7: one sequence gives queries, keys and values; masked scores, softmax, average."""
    fig, ax = canvas(7.6, 5.6, (-3.9, 3.9), (-0.5, 5.2))
    x = box(ax, 0, 0, r"inputs $X$ $(L \times E)$ + position encodings", "input", width=4.6)
    q, k, v = (box(ax, dx, 1.0, text, "encoder", width=1.7) for dx, text in
               ((-2.1, "$Q = XW_q$"), (0, "$K = XW_k$"), (2.1, "$V = XW_v$")))
    for node in (q, k, v):
        arrow(ax, x, node)
    scores = box(ax, -1.05, 2.1, r"scores $QK^\top / \sqrt{d_k}$", "attention", width=2.8)
    arrow(ax, q, scores)
    arrow(ax, k, scores)
    masked = box(ax, -1.05, 3.0, "+ mask: padding, causal", "attention", width=2.8)
    weights = box(ax, -1.05, 3.9, r"softmax over keys $(L \times L)$", "attention", width=2.8)
    out = box(ax, 1.05, 4.8, r"outputs: weights $\times\, V$ $(L \times E)$", "output", width=3.6)
    arrow(ax, scores, masked)
    arrow(ax, masked, weights)
    arrow(ax, weights, out)
    arrow(ax, v, out, color=GREEN, rad=0.25)
    return fig


def multihead_diagram(heads: int = 4):
    """Chapter 8: project once, split the width into H heads, attend in each, merge, W_o."""
    fig, ax = canvas(8.2, 5.0, (-4.1, 4.1), (-0.5, 4.6))
    x = box(ax, 0, 0, r"query, key, value inputs $(B, L, E)$", "input", width=4.2)
    proj = box(ax, 0, 0.9, "$W_q$, $W_k$, $W_v$: one product each", "encoder", width=4.2)
    split = box(ax, 0, 1.8, r"split the width: $(B, L, E) \to (B, H, L, D)$", "encoder",
                width=5.0)
    arrow(ax, x, proj)
    arrow(ax, proj, split)
    xs = [-3.0 + 6.0 * i / (heads - 1) for i in range(heads)]
    labels = [f"head {i + 1}" for i in range(heads - 1)] + ["head $H$"]
    head_boxes = [box(ax, hx, 2.75, text, "attention", width=1.3) for hx, text in zip(xs, labels)]
    merge = box(ax, 0, 3.7, r"merge: $(B, H, L, D) \to (B, L, H \cdot D)$, then $W_o$",
                "decoder", width=5.6)
    for node in head_boxes:
        arrow(ax, split, node)
        arrow(ax, node, merge)
    ax.text(0, 4.35, "each head: softmax$(q k^\\top / \\sqrt{D})\\, v$ on its own $D$ columns",
            ha="center", fontsize=9, color=GREEN)
    return fig


def transformer_diagram(layers: int = 2):
    """Chapter 9: encoder and decoder stacks; cross-attention reads the encoder's memory."""
    fig, ax = canvas(9.2, 5.4, (-4.6, 4.6), (-0.5, 4.9))
    enc = stack(ax, -2.3, [("source words", "input"),
                           (r"embedding $\times \sqrt{E}$ + positions", "input"),
                           ("self-attention (padding mask)", "encoder"),
                           ("feed-forward", "encoder")], width=3.4)
    dec = stack(ax, 2.3, [("German words so far (shifted)", "input"),
                          (r"embedding $\times \sqrt{E}$ + positions", "input"),
                          ("masked self-attention (causal)", "decoder"),
                          ("cross-attention", "decoder"),
                          ("feed-forward", "decoder"),
                          ("linear, softmax: next word", "output")], width=3.4)
    memory = box(ax, -2.3, 3.35, "memory: a vector per source word", "context", width=3.4)
    arrow(ax, enc[-1], memory)
    arrow(ax, memory, dec[3], color=GREEN)
    bracket(ax, enc[2], enc[3], f"× {layers}", side=-1.0)
    bracket(ax, dec[2], dec[4], f"× {layers}")
    ax.text(0, 4.65, "every sub-layer: a residual connection and a LayerNorm (pre- or post-LN)",
            ha="center", fontsize=9, color="#666666")
    return fig


def gpt_diagram(layers: int = 2):
    """Chapter 10: one causal stack; the key-value cache holds earlier positions' keys/values."""
    fig, ax = canvas(8.0, 6.0, (-4.0, 4.0), (-0.5, 5.9))
    nodes = stack(ax, -0.9, [(r"characters $x_1 \dots x_T$", "input"),
                             ("token embedding + learned position", "input"),
                             ("LayerNorm → causal self-attention", "decoder"),
                             ("+", "decoder"),
                             ("LayerNorm → feed-forward", "decoder"),
                             ("+", "decoder"),
                             ("LayerNorm → linear", "output"),
                             (r"$p(x_{t+1} \mid x_1 \dots x_t)$ at every $t$", "output")],
                  dy=0.76, width=3.6)
    skip(ax, nodes[1], nodes[3])
    skip(ax, nodes[3], nodes[5], offset=0.5)
    cache = box(ax, 3.0, nodes[2][1], "key–value\ncache (when\ngenerating)", "context",
                width=1.5, height=0.9)
    arrow(ax, cache, nodes[2], color=GREEN, style="<|-|>", linestyle="--")
    bracket(ax, nodes[2], nodes[5], f"× {layers}", side=-1.0)
    return fig


def bert_diagram(layers: int = 6):
    """Chapter 11: a post-LN encoder stack over WordPiece tokens, then mean pooling."""
    fig, ax = canvas(8.0, 6.2, (-4.0, 4.0), (-0.5, 6.1))
    nodes = stack(ax, 0.0, [("[CLS] he is playing football . [SEP] [PAD] …", "input"),
                            ("token + position + segment embeddings, LayerNorm", "input"),
                            ("self-attention (padding mask)", "encoder"),
                            ("+, then LayerNorm", "encoder"),
                            ("GELU feed-forward", "encoder"),
                            ("+, then LayerNorm", "encoder"),
                            ("mean over the real tokens", "context"),
                            ("normalise: the sentence embedding", "output")],
                  dy=0.78, width=5.6)
    skip(ax, nodes[1], nodes[3])
    skip(ax, nodes[3], nodes[5], offset=0.5)
    bracket(ax, nodes[2], nodes[5], f"× {layers}", side=-1.0)
    return fig


def vit_diagram(layers: int = 2, patches: int = 16):
    """Chapter 12: patches as tokens, a [CLS] token, pre-LN encoder blocks, a linear head."""
    fig, ax = canvas(8.0, 6.0, (-4.0, 4.0), (-0.5, 5.9))
    nodes = stack(ax, 0.3, [(r"image $8 \times 8$", "input"),
                            (f"{patches} patches of $2 \\times 2$, flattened", "input"),
                            ("patch embedding $W_e$", "input"),
                            ("[CLS] in front, + learned positions", "input"),
                            ("pre-LN encoder block", "encoder"),
                            ("LayerNorm of the [CLS] vector", "output"),
                            ("linear: 10 classes", "output")],
                  dy=0.8, width=4.2)
    bracket(ax, nodes[4], nodes[4], f"× {layers}", side=-1.0)
    return fig
