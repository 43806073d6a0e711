"""Checker for the patch exercise (chapter 12): images back from their patch sequences."""
from __future__ import annotations

import torch

from ..models.vit import patchify
from .core import _call, _diagnose, _run, _tensor


@_run
def check_unpatchify(fn) -> str:
    """Check ``fn(patches (N, (H/P)(W/P), P·P), H, W) -> images (N, H, W)``, the inverse of
    cutting images into patches in reading order, each flattened row by row."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(12)
    for N, H, W, P in ((2, 8, 8, 2), (1, 8, 8, 4), (3, 6, 9, 3), (2, 4, 6, 1), (1, 5, 5, 5)):
        images = torch.randn(N, H, W, generator=gen)
        patches = patchify(images, P)                                 # (N, n, P·P)
        got = _tensor(_call(fn, name, patches.clone(), H, W), name, (N, H, W))
        rows, cols = H // P, W // P
        cells = patches.view(N, rows, cols, P, P)
        mistakes = [
            (patches.reshape(N, H, W), "a plain reshape lays the patches out as strips of "
                                       "consecutive pixels: view as (N, H/P, W/P, P, P), move "
                                       "the two P axes next to their grid axes, then reshape"),
            (cells.permute(0, 2, 3, 1, 4).reshape(N, H, W) if H == W else None,
             "the grid is read column by column; patch k sits at grid row k // (W/P), "
             "column k % (W/P)"),
            (cells.permute(0, 1, 4, 2, 3).reshape(N, H, W),
             "each patch is transposed: its P·P values are its rows one after another"),
        ]
        _diagnose(got, images, [(w, m) for w, m in mistakes if w is not None],
                  f"wrong images for {H}×{W} and P = {P}: patch k is the P×P block at grid row "
                  "k // (W/P), column k % (W/P), flattened row by row")
    return f"{name} puts the patches back into images, undoing the cut into patches."
