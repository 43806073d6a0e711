"""Cluttered digits: one 8×8 digit hidden among clutter on a grid of cells (chapter 5).

A canvas is a ``grid × grid`` arrangement of 8×8 cells. Exactly one cell holds a whole digit
from scikit-learn's bundled ``load_digits`` (1,797 images, no download); every other cell holds
clutter: a few 4×4 pieces cut from other digits, pasted at random offsets. The answer (the digit's
class) is carried by one position, so a model that looks at the right cell can read it and a
model that looks anywhere else cannot.

Shapes: N canvases, P = grid² cells, each cell 8×8 = 64 pixels with values in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

CELL = 8     # digits are 8×8
PIECE = 4    # clutter pieces are 4×4


@dataclass
class Digits:
    """The scikit-learn digits as tensors: images (N, 8, 8) in [0, 1], labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor


@dataclass
class Canvases:
    """cells (N, P, 8, 8), labels (N,) the digit's class, position (N,) the digit's cell."""

    cells: torch.Tensor
    labels: torch.Tensor
    position: torch.Tensor
    grid: int

    def __len__(self) -> int:
        return len(self.labels)

    def images(self) -> torch.Tensor:
        """The canvases as pictures, (N, 8·grid, 8·grid); cell p sits at row p // grid."""
        n, g = len(self), self.grid
        rows = self.cells.view(n, g, g, CELL, CELL).permute(0, 1, 3, 2, 4)  # (N, g, 8, g, 8)
        return rows.reshape(n, g * CELL, g * CELL)


def load_digits_split(n_test: int = 500, seed: int = 0) -> tuple[Digits, Digits]:
    """scikit-learn's digits, scaled to [0, 1] and split at random into train and test images."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:  # pragma: no cover - the book's requirements install it
        raise ImportError("chapter 5 needs scikit-learn: pip install scikit-learn") from err
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32) / 16.0  # (1797, 8, 8)
    labels = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    test, train = order[:n_test], order[n_test:]
    return Digits(images[train], labels[train]), Digits(images[test], labels[test])


def make_canvases(digits: Digits, n: int, grid: int = 4, pieces: int = 3,
                  generator: torch.Generator | None = None) -> Canvases:
    """``n`` canvases of ``grid × grid`` cells: one whole digit, clutter everywhere else.

    Each clutter cell holds ``pieces`` 4×4 pieces cut at random from other random digits of
    ``digits`` and pasted at random offsets (overlaps keep the brighter pixel).
    """
    if grid < 2 or n < 1 or pieces < 0:
        raise ValueError(f"need grid >= 2, n >= 1, pieces >= 0; got {grid}, {n}, {pieces}")
    P, m = grid * grid, len(digits.labels)
    cells = torch.zeros(n, P, CELL, CELL)
    span = CELL - PIECE + 1  # offsets 0..4 for a piece inside an 8×8 cell
    for _ in range(pieces):
        source = torch.randint(m, (n, P), generator=generator)
        cut = torch.randint(span, (2, n, P), generator=generator)     # where to cut (row, col)
        paste = torch.randint(span, (2, n, P), generator=generator)   # where to paste
        r = torch.arange(PIECE)
        rows = (cut[0].unsqueeze(-1) + r).unsqueeze(-1)                 # (n, P, 4, 1)
        cols = (cut[1].unsqueeze(-1) + r).unsqueeze(-2)                 # (n, P, 1, 4)
        piece = digits.images[source.unsqueeze(-1).unsqueeze(-1), rows, cols]  # (n, P, 4, 4)
        canvas = torch.zeros(n, P, CELL, CELL)
        for dr in range(span):   # place each piece at its offset (25 cheap masked writes)
            for dc in range(span):
                at = (paste[0] == dr) & (paste[1] == dc)              # (n, P)
                canvas[:, :, dr:dr + PIECE, dc:dc + PIECE][at] = piece[at]
        cells = torch.maximum(cells, canvas)
    which = torch.randint(m, (n,), generator=generator)
    position = torch.randint(P, (n,), generator=generator)
    cells[torch.arange(n), position] = digits.images[which]
    return Canvases(cells, digits.labels[which], position, grid)
