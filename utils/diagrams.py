"""Architecture diagrams drawn with matplotlib: boxes for states, arrows for what feeds what.

Each function draws one picture into a fresh figure and returns it, so a chapter shows the graph
of the model it builds (its cell carries the alt text). Nothing is loaded from files.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

COLORS = {"input": "#e8e8e8", "encoder": "#cfe0f3", "decoder": "#f8dcc0",
          "context": "#f3e79b", "attention": "#cde8c8", "output": "#ffffff"}


def canvas(width: float, height: float, xlim: tuple, ylim: tuple):
    """A fresh figure with one axis-free, equal-aspect panel over xlim × ylim."""
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(ax, x: float, y: float, text: str, kind: str, width: float = 0.9, height: float = 0.5):
    """A rounded box centred at (x, y); returns its centre and half sizes for ``arrow``."""
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=COLORS[kind], edgecolor="#444444", linewidth=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=10)
    return (x, y, width / 2, height / 2)


def _edge(node, towards):
    """The point where the line from ``node``'s centre to ``towards`` leaves its box."""
    x, y, hw, hh = node
    dx, dy = towards[0] - x, towards[1] - y
    scale = min(hw / abs(dx) if dx else float("inf"), hh / abs(dy) if dy else float("inf"))
    return x + dx * scale, y + dy * scale


def arrow(ax, start, end, color: str = "#444444", style: str = "-|>", rad: float = 0.0,
          linestyle: str = "-"):
    """An arrow from box ``start`` to box ``end`` (as returned by ``box``)."""
    a = _edge(start, end[:2])
    b = _edge(end, start[:2])
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style, mutation_scale=10, color=color,
                                 linewidth=1.0, linestyle=linestyle,
                                 connectionstyle=f"arc3,rad={rad}"))


def encoder_row(ax, source, step: float, y_word: float, y_state: float,
                both_ways: bool = False) -> list:
    """Source words along the bottom, each read into its encoder state h_i above it, the states
    linked left to right (both ways for a bidirectional encoder); returns the state boxes."""
    states = []
    for i, word in enumerate(source):
        x = 0.4 + step * i
        inp = box(ax, x, y_word, word, "input")
        states.append(box(ax, x, y_state, f"$h_{i + 1}$", "encoder"))
        arrow(ax, inp, states[-1])
    for a, b in zip(states, states[1:]):
        arrow(ax, a, b, style="<|-|>" if both_ways else "-|>")
    return states


def fixed_context_diagram(source=("he", "is", "playing", "football"),
                          target=("er", "spielt", "Fußball")):
    """Chapter 1: a GRU encoder reads the source; its last state c is all the decoder sees."""
    fig, ax = canvas(9.5, 3.6, (-0.6, 9.4), (-0.6, 3.0))
    states = encoder_row(ax, source, 1.05, -0.2, 0.9)
    c = box(ax, 0.4 + 1.05 * len(source), 1.9, "$c = h_S$", "context", width=1.1)
    arrow(ax, states[-1], c)
    previous = ("<bos>",) + tuple(target[:-1])
    decoder = []
    for t, (word_in, word_out) in enumerate(zip(previous, target)):
        x = 5.9 + 1.15 * t
        inp = box(ax, x, -0.2, word_in, "input", width=1.0)
        decoder.append(box(ax, x, 0.9, f"$s_{t + 1}$", "decoder"))
        out = box(ax, x, 2.35, word_out, "output", width=1.0)
        arrow(ax, inp, decoder[-1])
        arrow(ax, decoder[-1], out)
        arrow(ax, c, decoder[-1], color="#b08a00", rad=-0.15)
        if t:
            arrow(ax, decoder[-2], decoder[-1])
    ax.text(1.9, 2.45, "encoder", ha="center", fontsize=10, color="#2b5c8a")
    ax.text(8.0, 2.85, "decoder: the same $c$ at every step", ha="center", fontsize=10,
            color="#8a4b10")
    return fig


def attention_decoder_diagram(source=("he", "is", "playing", "football"), step: int = 2):
    """Chapter 3: at step t the previous state s_{t-1} scores every h_i; their weighted
    average c_t enters the update s_t = GRU([e(y_{t-1}); c_t], s_{t-1})."""
    fig, ax = canvas(9.5, 4.2, (-0.6, 9.4), (-0.7, 3.6))
    states = encoder_row(ax, source, 1.15, -0.3, 0.8, both_ways=True)
    attend = box(ax, 2.1, 2.2, r"$\alpha_{ti} = \mathrm{softmax}_i(e_{ti})$", "attention",
                 width=2.6)
    for h in states:
        arrow(ax, h, attend, color="#3d7a35")
    previous = box(ax, 6.0, 2.2, "$s_{t-1}$", "decoder")
    context = box(ax, 4.6, 3.2, r"$c_t = \sum_i \alpha_{ti} h_i$", "context", width=2.0)
    arrow(ax, previous, attend, color="#3d7a35")
    arrow(ax, attend, context)
    current = box(ax, 7.5, 2.2, "$s_t$", "decoder")
    arrow(ax, previous, current)
    arrow(ax, context, current, rad=-0.2)
    word_in = box(ax, 7.5, 0.8, "$y_{t-1}$", "input", width=1.0)
    arrow(ax, word_in, current)
    word_out = box(ax, 8.8, 3.2, "$y_t$", "output", width=0.7)
    arrow(ax, current, word_out)
    ax.text(2.1, -0.95, "bidirectional encoder: $h_i = [\\overrightarrow{h}_i; "
            "\\overleftarrow{h}_i]$", ha="center", fontsize=10, color="#2b5c8a")
    ax.text(6.8, 1.35, "query: the state before $y_t$", ha="center", fontsize=9,
            color="#8a4b10")
    return fig


def attention_order_diagram():
    """Chapter 4: Bahdanau attends with s_{t-1} and then updates the state; Luong updates the
    state first and attends with s_t (and input feeding hands h̃_{t-1} to the next update)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for ax, title in zip(axes, ("Bahdanau: attend, then update", "Luong: update, then attend")):
        ax.set_xlim(-0.2, 5.4)
        ax.set_ylim(-0.5, 3.1)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(title, fontsize=11)
    left, right = axes
    prev = box(left, 0.5, 1.3, "$s_{t-1}$", "decoder")
    att = box(left, 1.9, 2.5, "attend", "attention")
    ctx = box(left, 3.3, 2.5, "$c_t$", "context")
    new = box(left, 3.3, 1.3, "$s_t$", "decoder")
    inp = box(left, 3.3, 0.0, "$y_{t-1}$", "input")
    out = box(left, 4.8, 1.3, "$y_t$", "output", width=0.6)
    arrow(left, prev, att, color="#3d7a35")
    arrow(left, att, ctx)
    arrow(left, ctx, new)
    arrow(left, prev, new)
    arrow(left, inp, new)
    arrow(left, new, out)
    prev = box(right, 0.5, 1.3, "$s_{t-1}$", "decoder")
    new = box(right, 1.9, 1.3, "$s_t$", "decoder")
    inp = box(right, 1.9, 0.0, "$y_{t-1}$", "input")
    att = box(right, 1.9, 2.5, "attend", "attention")
    ctx = box(right, 3.3, 2.5, "$c_t$", "context")
    tilde = box(right, 3.3, 1.3, r"$\tilde h_t$", "decoder")
    out = box(right, 4.8, 1.3, "$y_t$", "output", width=0.6)
    arrow(right, prev, new)
    arrow(right, inp, new)
    arrow(right, new, att, color="#3d7a35")
    arrow(right, att, ctx)
    arrow(right, ctx, tilde)
    arrow(right, new, tilde)
    arrow(right, tilde, out)
    feed = box(right, 0.5, 0.0, r"$\tilde h_{t-1}$", "decoder", width=0.8)
    arrow(right, feed, new, linestyle="--")
    right.text(0.5, -0.5, "input feeding (optional)", ha="center", fontsize=9, color="#8a4b10")
    fig.tight_layout()
    return fig
