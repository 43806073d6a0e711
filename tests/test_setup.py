"""The notebook set-up call and the site extension's helpers."""
import json
import random

import matplotlib.pyplot as plt
import numpy as np
import torch

from utils.setup import BOOK_THREADS, seed_everything, setup_book
from utils.sphinx_book import has_stored_outputs, mathjax_source


def test_setup_pins_threads_seeds_and_style():
    settings = setup_book(seed=5)
    assert settings["threads"] == torch.get_num_threads() == BOOK_THREADS == 1
    assert torch.are_deterministic_algorithms_enabled()
    assert plt.rcParams["axes.grid"] is True
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    seed_everything(5)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_has_stored_outputs(tmp_path):
    path = tmp_path / "nb.ipynb"
    cell = {"cell_type": "code", "source": "1", "metadata": {}, "outputs": []}
    path.write_text(json.dumps({"cells": [cell]}))
    assert not has_stored_outputs(path)
    cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1"}]
    path.write_text(json.dumps({"cells": [cell]}))
    assert has_stored_outputs(path)


def test_mathjax_is_installed_locally():
    assert (mathjax_source() / "output" / "chtml" / "fonts" / "woff-v2").is_dir()
