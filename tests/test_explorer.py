"""The attention explorer's HTML keeps its contract; the browser test (test_site) drives it."""
import json
import re

import numpy as np
import pytest
import torch

from utils.explorer import AttentionExplorer, Example


def example(name="one", seed=0):
    g = torch.Generator().manual_seed(seed)
    weights = torch.softmax(torch.randn(2, 3, 4, generator=g), -1)  # (H, T, S)
    return Example(name, ["a", "b", "c", "d"], ["x", "y", "z"],
                   {"layer 1": weights, "gold": torch.eye(3, 4)}, unnormalised=("gold",))


def data_of(markup: str) -> dict:
    found = re.search(r'<script type="application/json" class="ae-data">(.*?)</script>', markup)
    return json.loads(found.group(1).replace("<\\/", "</"))


def test_html_carries_the_contract_and_the_first_row():
    explorer = AttentionExplorer("demo", [example(), example("two", 1)], caption="Demo.")
    markup = explorer._repr_html_()
    assert markup.startswith('<div class="attention-explorer" id="attention-explorer-demo">')
    assert markup.count('data-role="target"') == 3 and markup.count('data-role="source"') == 4
    first_row = example()._arrays[0][0][0]
    shown = [float(w) for w in re.findall(r'data-role="source" data-index="\d" data-weight="([\d.]+)"',
                                         markup)]
    assert np.allclose(shown, first_row, atol=1e-4) and abs(sum(shown) - 1) < 1e-3
    data = data_of(markup)
    assert [e["name"] for e in data["examples"]] == ["one", "two"]
    assert data["examples"][0]["normalised"] == [True, False]
    assert np.allclose(data["examples"][1]["weights"][0][1], example("two", 1)._arrays[0][1],
                       atol=1e-4)  # layer 1, head 1: (T, S)
    assert 'class="ae-example"' in markup and 'class="ae-layer"' in markup
    assert "<table" in markup and "https://" not in markup and "http://" not in markup
    assert markup == AttentionExplorer("demo", [example(), example("two", 1)],
                                       caption="Demo.")._repr_html_()  # deterministic


def test_png_fallback_and_grids():
    image = np.linspace(0, 1, 16).reshape(4, 4)
    grid = Example("digit", [f"patch {i}" for i in range(4)], ["[CLS]"],
                   {"layer 1": torch.tensor([[0.1, 0.2, 0.3, 0.4]])}, grid=(2, 2), image=image)
    explorer = AttentionExplorer("grid", [grid])
    assert explorer._repr_png_().startswith(b"\x89PNG")
    markup = explorer._repr_html_()
    assert "ae-grid" in markup and "background-image:url(data:image/png;base64," in markup
    assert "<select" not in markup  # one example, one layer, one head: nothing to choose
    import matplotlib.pyplot as plt

    heads = Example("digit.", [f"patch {i}" for i in range(4)], ["[CLS]"],
                    {"layer 1": torch.tensor([[[0.1, 0.2, 0.3, 0.4]], [[0.3, 0.3, 0.2, 0.2]]])},
                    grid=(2, 2), image=image)
    fig = AttentionExplorer("heads", [heads]).fallback_figure()   # image | weights, in print
    shown = fig.axes[1].images[0]
    assert len(fig.axes) == 3 and shown.get_clim() == pytest.approx((0, 0.3))  # ends at the largest
    assert fig.get_suptitle() == "digit: layer 1 (mean of the heads)"
    plt.close(fig)


def test_png_fallback_is_readable_when_printed():
    """The PDF shows the PNG at most 6.3 inches wide: a long text gets small cells, not a
    15-inch figure whose labels shrink to 4 pt; long axis labels wrap within their axis; the
    caption, which the HTML shows above the explorer, is in the picture."""
    import matplotlib.pyplot as plt

    chars = list("def add_one(x):    return x + 1  # 40 ch")
    weights = torch.softmax(torch.randn(2, 40, 40, generator=torch.Generator().manual_seed(0)), -1)
    explorer = AttentionExplorer("long", [Example("text", chars, chars, {"layer 1": weights})],
                                 caption="Every row sums to one.", source_label="keys",
                                 target_label="query (predicts the next character)")
    fig = explorer.fallback_figure()
    ax = fig.axes[0]
    width, height = fig.get_size_inches()
    ticks = ax.get_xticklabels() + ax.get_yticklabels()
    assert width <= 9 and height <= 9 and {t.get_fontsize() for t in ticks} == {8}
    assert 8 * 6.3 / width >= 5.5            # points, once the PDF scales the figure down
    assert fig._suptitle.get_text() == "Every row sums to one."
    plt.close(fig)
    short = AttentionExplorer("short", [example()], source_label="English (keys: the encoder's output)",
                              target_label="German (queries: the word being written)")
    fig = short.fallback_figure()
    assert fig.axes[0].get_ylabel().count("\n") >= 1        # 3 rows: a 40-character label wraps
    assert fig.axes[0].get_xlabel() == "English (keys: the encoder's output)"
    assert fig._suptitle is None
    plt.close(fig)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="weights of shape"):
        Example("e", ["a", "b"], ["x"], {"l": torch.ones(2, 2)})
    with pytest.raises(ValueError, match="same number of heads"):
        Example("e", ["a"], ["x"], {"l": torch.ones(2, 1, 1), "m": torch.ones(3, 1, 1)})
    with pytest.raises(ValueError, match="needs 4 sources"):
        Example("e", ["a", "b"], ["x"], {"l": torch.ones(1, 2)}, grid=(2, 2))
    with pytest.raises(ValueError, match="unknown layers"):
        Example("e", ["a"], ["x"], {"l": torch.ones(1, 1)}, unnormalised=("gold",))
    with pytest.raises(ValueError, match="same layers and heads"):
        AttentionExplorer("x", [example(), Example("e", ["a"], ["x"], {"l": torch.ones(1, 1)})])
    with pytest.raises(ValueError, match="at least one example"):
        AttentionExplorer("x", [])
