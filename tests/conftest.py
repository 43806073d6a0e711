"""Shared test set-up: one torch thread per test process and the repository root. (Quiet progress
bars and strict claims for nbval's kernels come from the plugin ``utils.outputs``, which
pyproject.toml loads for every pytest run, including one of a single notebook.)"""
from pathlib import Path

import pytest



def pytest_configure(config):
    """One torch thread in every test process: with two worker processes (pytest-xdist) on two
    cores, a second thread per process would oversubscribe the machine and crawl."""
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT
