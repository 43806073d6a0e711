"""The notebook set-up call and the site extension's helpers."""
import json
import random
from pathlib import Path

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


def test_setup_reports_the_kernels_in_use():
    assert setup_book()["kernels"] == torch.backends.cpu.get_cpu_capability()


def test_every_code_cell_fits_on_a_screen():
    """A code cell of at most 25 lines can be read whole; longer ones are split where they
    change from defining to running."""
    long = []
    for path in sorted((Path(__file__).parent.parent / "chapters").glob("*.ipynb")):
        for number, cell in enumerate(json.loads(path.read_text())["cells"]):
            lines = "".join(cell["source"]).splitlines()
            if cell["cell_type"] == "code" and len(lines) > 25:
                long.append(f"{path.name} cell {number}: {len(lines)} lines")
    assert not long, long


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


def test_jupyter_lab_is_installed():
    """The README, the preface and the instructor guide tell readers to open the notebooks with
    `.venv/bin/jupyter lab`."""
    import subprocess
    import sys
    from pathlib import Path

    jupyter = Path(sys.executable).parent / "jupyter"
    result = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
