"""An attention explorer for notebooks and the static site: point at a target token (or move to
it with Tab) and every source token is coloured by its attention weight, with the number shown.

>>> explorer = AttentionExplorer("ch3-long", [Example("a sentence", sources, targets,
...                                                   {"RNNsearch": weights})])   # doctest: +SKIP
>>> explorer                                                                        # doctest: +SKIP

Displayed, an explorer is one output with two representations: HTML with a small script of the
book's own (``explorer.js``, inlined, no library, no network) that reacts to the reader, and a
PNG of the first example, every row at once, for places that run no scripts (a notebook viewer,
a PDF, nbval). The site shows the HTML. Everything in it is deterministic — no random ids — so
nbval compares it.

Contract (what the tests rely on): the element has class ``attention-explorer``; each target
token has ``data-role="target"``, each source ``data-role="source"`` and ``data-weight``, the
weight it shows; with a target hovered, focused or clicked, the sources' ``data-weight`` are that
target's row of the selected example, layer and head.

Shapes: an example's weights are ``{layer name: (H, T, S)}`` or ``{layer name: (T, S)}`` (one
head), T target tokens, S source tokens.
"""
from __future__ import annotations

import base64
import html
import io
import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

SCRIPT = (Path(__file__).with_name("explorer.js")).read_text(encoding="utf-8")
STYLE = """
.attention-explorer{font-size:0.95em;margin:0.5em 0 1em 0}
.attention-explorer .ae-controls{display:flex;gap:1em;flex-wrap:wrap;margin-bottom:0.4em}
.attention-explorer .ae-label{font-size:0.8em;color:#555;margin:0.2em 0}
.attention-explorer .ae-row{display:flex;flex-wrap:wrap;gap:0.25em;margin-bottom:0.5em}
.attention-explorer .ae-token{display:inline-flex;flex-direction:column;align-items:center;
 padding:0.1em 0.35em;border:1px solid #bbb;border-radius:4px;min-width:1.5em}
.attention-explorer [data-role=target]{cursor:pointer;background:#f4f4f4}
.attention-explorer [data-role=target].ae-active{outline:2px solid #e66100;background:#fff3e6}
.attention-explorer [data-role=target]:focus-visible{box-shadow:0 0 0 3px #1a5fb4}
.attention-explorer [data-role=source]{background:var(--ae-colour,#440154);color:#fff}
.attention-explorer [data-role=source].ae-light{color:#111}
.attention-explorer .ae-w{font-size:0.75em;opacity:0.9}
.attention-explorer .ae-grid{display:grid;width:16em;height:16em;gap:0;background-size:100% 100%;
 image-rendering:pixelated}
.attention-explorer .ae-grid [data-role=source]{border-radius:0;border-color:rgba(255,255,255,0.5);
 background:color-mix(in srgb,var(--ae-colour,#440154) 55%,transparent);justify-content:center}
.attention-explorer .ae-grid [data-role=source]>span:first-child{position:absolute;width:1px;
 height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.attention-explorer .ae-legend{display:flex;align-items:center;gap:0.5em;font-size:0.8em}
.attention-explorer .ae-bar{width:10em;height:0.8em;border:1px solid #999;background:linear-gradient(
 to right,#440154,#472d7b,#3b528b,#2c728e,#21918c,#28ae80,#5ec962,#addc30,#fde725)}
.attention-explorer .ae-sr{position:absolute;width:1px;height:1px;overflow:hidden;
 clip:rect(0 0 0 0);white-space:nowrap}
"""


@dataclass
class Example:
    """One sentence (or image): its source and target tokens and its weights per layer.

    ``weights`` maps a layer's name to a (H, T, S) or (T, S) array (a "layer" may also be another
    model or the gold alignment: any view of the same tokens); ``heads`` names the heads (default
    "head 0", "head 1", …; "–" for one head). ``grid`` = (rows, columns) lays the
    sources out as a grid over ``image`` (a (h, w) array in [0, 1]), for image patches."""

    name: str
    sources: list
    targets: list
    weights: dict
    heads: list | None = None
    grid: tuple | None = None
    image: np.ndarray | None = None
    unnormalised: tuple = ()  # layers whose rows need not sum to one (a gold alignment, local-p)
    _arrays: list = field(default_factory=list, repr=False)

    def __post_init__(self):
        for layer, w in self.weights.items():
            a = w.detach().cpu().double().numpy() if torch.is_tensor(w) else np.asarray(w, float)
            a = a[None] if a.ndim == 2 else a                                  # (H, T, S)
            if a.shape[1:] != (len(self.targets), len(self.sources)):
                raise ValueError(f"{self.name}, {layer}: weights of shape {a.shape[1:]} for "
                                 f"{len(self.targets)} targets and {len(self.sources)} sources")
            self._arrays.append(a)
        n = max(a.shape[0] for a in self._arrays)
        if any(a.shape[0] not in (1, n) for a in self._arrays):
            raise ValueError(f"{self.name}: every layer needs the same number of heads (or one, "
                             "which is shown for every head)")
        self._arrays = [np.repeat(a, n, axis=0) if a.shape[0] == 1 else a for a in self._arrays]
        self.heads = self.heads or (["–"] if n == 1 else [f"head {h}" for h in range(n)])
        if len(self.heads) != n:
            raise ValueError(f"{self.name}: {len(self.heads)} head names for {n} heads")
        unknown = set(self.unnormalised) - set(self.weights)
        if unknown:
            raise ValueError(f"{self.name}: unnormalised names unknown layers {sorted(unknown)}")
        if self.grid is not None and self.grid[0] * self.grid[1] != len(self.sources):
            raise ValueError(f"{self.name}: a {self.grid} grid needs {self.grid[0] * self.grid[1]}"
                             f" sources, got {len(self.sources)}")

    def as_json(self) -> dict:
        out = {"name": self.name, "sources": list(map(str, self.sources)),
               "targets": list(map(str, self.targets)), "layers": list(self.weights),
               "heads": self.heads,
               "normalised": [layer not in self.unnormalised for layer in self.weights],
               "weights": [[np.round(head, 4).tolist() for head in a] for a in self._arrays]}
        if self.grid is not None:
            out["grid"] = list(self.grid)
        if self.image is not None:
            out["image"] = _png_data_uri(self.image)
        return out


def _png_data_uri(image: np.ndarray) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    plt.imsave(buffer, np.asarray(image, float), cmap="gray_r", vmin=0, vmax=1, format="png",
               metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class AttentionExplorer:
    """Several examples, a selector for each of example, layer and head where there is a choice.

    ``name`` makes the element's id (``attention-explorer-<name>``): unique on its page."""

    def __init__(self, name: str, examples: list, caption: str = "",
                 source_label: str = "source", target_label: str = "target",
                 fallback=None):
        if not examples:
            raise ValueError("an explorer needs at least one example")
        layers = {tuple(e.weights) for e in examples}
        heads = {tuple(e.heads) for e in examples}
        if len(layers) != 1 or len(heads) != 1:
            raise ValueError("every example needs the same layers and heads")
        self.name, self.examples, self.caption = name, examples, caption
        self.source_label, self.target_label = source_label, target_label
        self.fallback = fallback  # a matplotlib figure for the PNG, or None: a heatmap is drawn

    # ------------------------------------------------------------------ HTML
    def _select(self, kind: str, labels: list) -> str:
        if len(labels) < 2:
            return ""
        options = "".join(f'<option value="{i}">{html.escape(str(label))}</option>'
                          for i, label in enumerate(labels))
        return (f'<label>{kind} <select class="ae-{kind.lower()}" aria-label="{kind}">'
                f'{options}</select></label>')

    def _tokens(self, example: Example) -> tuple:
        row = example._arrays[0][0][0]
        targets = "".join(
            f'<span class="ae-token{" ae-active" if j == 0 else ""}" data-role="target" '
            f'data-index="{j}" tabindex="0" role="button" aria-pressed="{str(j == 0).lower()}">'
            f'{html.escape(str(t))}</span>' for j, t in enumerate(example.targets))
        sources = "".join(
            # No colour class here: the script colours every source when it starts, so the
            # stored HTML's words do not depend on which side of a threshold a weight fell.
            f'<span class="ae-token" data-role="source" '
            f'data-index="{i}" data-weight="{w:.4f}"><span>{html.escape(str(s))}</span>'
            f'<small class="ae-w">{w:.2f}</small></span>' for i, (s, w) in enumerate(
                zip(example.sources, row)))
        return targets, sources

    def _repr_html_(self) -> str:
        first = self.examples[0]
        targets, sources = self._tokens(first)
        data = json.dumps({"examples": [e.as_json() for e in self.examples]},
                          separators=(",", ":"), ensure_ascii=True).replace("</", "<\\/")
        grid_style = ""
        if first.grid is not None:
            image = first.as_json().get("image")
            grid_style = (f' style="grid-template-columns:repeat({first.grid[1]},1fr)'
                          + (f";background-image:url({image})" if image else "") + '"')
        rows = "".join(f"<tr><td>{html.escape(str(s))}</td><td>{w:.3f}</td></tr>"
                       for s, w in zip(first.sources, first._arrays[0][0][0]))
        controls = (self._select("Example", [e.name for e in self.examples])
                    + self._select("Layer", list(first.weights)) + self._select("Head", first.heads))
        caption = f'<p class="ae-caption">{html.escape(self.caption)}</p>' if self.caption else ""
        return (
            f'<div class="attention-explorer" id="attention-explorer-{html.escape(self.name)}">'
            f"<style>{STYLE}</style>{caption}"
            f'<div class="ae-controls">{controls}</div>'
            f'<div class="ae-label">{html.escape(self.target_label)} — point at a token, or Tab '
            f'to it:</div><div class="ae-row ae-targets">{targets}</div>'
            f'<div class="ae-label">{html.escape(self.source_label)}, coloured by the weight the '
            f'chosen token gives it:</div>'
            f'<div class="ae-row ae-sources{" ae-grid" if first.grid else ""}"{grid_style}>'
            f"{sources}</div>"
            '<div class="ae-legend"><span>0</span><span class="ae-bar"></span><span>1</span>'
            "<span>attention weight</span></div>"
            f'<table class="ae-table ae-sr"><caption>Weights of the target '
            f"{html.escape(str(first.targets[0]))}</caption><thead><tr><th>source</th>"
            f"<th>weight</th></tr></thead><tbody>{rows}</tbody></table>"
            f'<script type="application/json" class="ae-data">{data}</script>'
            f"<script>{SCRIPT}</script></div>")

    # ------------------------------------------------------------------ PNG fallback
    def _repr_png_(self) -> bytes:
        import matplotlib.pyplot as plt

        fig = self.fallback_figure()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        return buffer.getvalue()

    def fallback_figure(self):
        """What a page without scripts (the PDF, a notebook viewer) shows: the first example's
        first view, every row and the heads averaged, under the caption — a heatmap, or for an
        image's patches the image beside their weights."""
        import matplotlib.pyplot as plt

        from .plots import plot_attention

        first = self.examples[0]
        name = first.name.rstrip(".:")                  # "He is playing football.: layer 1"
        heads = " (mean of the heads)" if first._arrays[0].shape[0] > 1 else ""
        fig = self.fallback
        if fig is None and first.grid is not None:          # the image beside its patches' weights
            rows, cols = first.grid
            fig, axes = plt.subplots(1, 2 if first.image is not None else 1, figsize=(5.6, 2.9),
                                     squeeze=False, layout="constrained")
            if first.image is not None:
                axes[0, 0].imshow(first.image, cmap="gray_r", vmin=0, vmax=1)
                axes[0, 0].set_title("the image", fontsize=9)
            weights = first._arrays[0].mean(0)[0].reshape(rows, cols)
            # the scale ends at the largest weight: spread over many patches, weights are small
            shown = axes[0, -1].imshow(weights, cmap="viridis", vmin=0, vmax=float(weights.max()))
            axes[0, -1].set_title(f"{self.target_label} → {self.source_label}", fontsize=9)
            fig.colorbar(shown, ax=axes[0, -1], label="attention weight")
            fig.suptitle(f"{name}: {list(first.weights)[0]}{heads}", fontsize=10)
            for ax in axes.flat:
                ax.set_xticks([])
                ax.set_yticks([])
                ax.grid(False)
        elif fig is None:
            weights = first._arrays[0].mean(0)                                   # (T, S)
            ax = plot_attention(weights, [str(s) for s in first.sources],
                                [str(t) for t in first.targets],
                                title=f"{name}: {list(first.weights)[0]}{heads}",
                                xlabel=self.source_label, ylabel=self.target_label)
            fig = ax.figure
            width, height = fig.get_size_inches()       # labels no longer than their axis
            ax.set_ylabel(textwrap.fill(self.target_label, max(16, int(11 * (height - 1)))))
            ax.set_xlabel(textwrap.fill(self.source_label, max(16, int(11 * width - 8))))
        if self.caption:                                # the caption the HTML shows above
            text = textwrap.fill(self.caption, int(11 * fig.get_size_inches()[0]))
            if fig.get_suptitle():
                text += "\n" + fig.get_suptitle()
            fig.suptitle(text, fontsize=10, style="italic")
        return fig
