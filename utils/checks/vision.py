"""Checker for the patch exercise (chapter 12)."""
from __future__ import annotations

import torch

from ..models.vit import patchify
from .core import _call, _diagnose, _run, _tensor


@_run(forbid=(patchify,))
def check_patchify(fn) -> str:
    """Check ``fn(images (N, H, W), P) -> (N, (H/P)(W/P), P·P)``, patches in reading order,
    each flattened row by row."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(12)
    for N, H, W, P in ((2, 8, 8, 2), (1, 8, 8, 4), (3, 6, 9, 3)):
        images = torch.randn(N, H, W, generator=gen)
        n = (H // P) * (W // P)
        got = _tensor(_call(fn, name, images.clone(), P), name, (N, n, P * P))
        grid = images.reshape(N, H // P, P, W // P, P)
        _diagnose(got, patchify(images, P), [
            (images.reshape(N, n, P * P), "a plain reshape cuts each image into strips of "
                                          "consecutive pixels, not P×P squares: view as "
                                          "(N, H/P, P, W/P, P) and move the two P axes together"),
            (grid.permute(0, 3, 1, 4, 2).reshape(N, n, P * P),
             "the patches come out column by column (and transposed); read the grid row by row"),
            (grid.permute(0, 1, 3, 4, 2).reshape(N, n, P * P),
             "each patch is flattened column by column; flatten it row by row"),
        ], f"wrong patches for {H}×{W} images and P = {P}: patch k should be grid row k // "
           f"(W/P), column k % (W/P), flattened row by row")
    return f"{name} cuts images into patches in reading order."
