"""Shared test set-up: quiet progress bars (also for nbval's kernels) and the repository root."""
import os
from pathlib import Path

import pytest

# Set before any kernel starts, so stored notebook outputs (made quiet) match re-executions.
os.environ["ATTENTION_BOOK_QUIET"] = "1"


def pytest_configure(config):
    """One torch thread in every test process: with two worker processes (pytest-xdist) on two
    cores, a second thread per process would oversubscribe the machine and crawl."""
    import torch

    torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT
