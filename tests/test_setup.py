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


def test_setup_names_the_processor():
    from utils.setup import processor_name

    name = setup_book()["cpu"]
    assert name == processor_name() and isinstance(name, str) and name.strip()


def test_the_status_page_reads_where_each_chapters_stored_outputs_came_from(root):
    """The first cell's stored output is what setup_book() returned when the outputs were
    computed: the status page lists its processor and kernels for every chapter."""
    from utils.sphinx_book import stored_machine

    for path in sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb")):
        found = stored_machine(path)
        assert found.get("kernels") and found.get("cpu") and found.get("threads") == 1, path.name


def test_a_seed_offset_shifts_every_seed_the_book_sets(monkeypatch):
    """utils.variants runs a chapter as 'another seed' through this variable."""
    seed_everything(3)
    expected = torch.rand(1).item()
    monkeypatch.setenv("ATTENTION_BOOK_SEED_OFFSET", "1")
    seed_everything(2)
    assert torch.rand(1).item() == expected
