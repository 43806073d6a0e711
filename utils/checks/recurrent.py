"""Checkers for the recurrent encoder-decoder exercises (chapter 1)."""
from __future__ import annotations

import torch

from ..metrics import token_accuracy
from ..models.rnn import last_valid_state
from ..special_tokens import PAD
from .core import _call, _Failed, _python_loops, _run, _tensor


@_run(forbid=(last_valid_state,))
def check_last_valid_state(fn) -> str:
    """Check ``fn(outputs (B, S, H), lengths (B,)) -> (B, H)``: each sequence's last real state."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    cases = [(torch.randn(4, 7, 5, generator=gen), torch.tensor([6, 1, 3, 5])),
             (torch.randn(4, 7, 5, generator=gen), torch.tensor([7, 1, 3, 5])),  # one fills S
             (torch.randn(3, 4, 2, generator=gen), torch.tensor([4, 4, 4])),  # no padding
             (torch.randn(1, 6, 3, generator=gen), torch.tensor([2]))]  # a single sequence
    for outputs, lengths in cases:
        got = _tensor(_call(fn, name, outputs.clone(), lengths.clone()), name,
                      (outputs.shape[0], outputs.shape[2]))
        expected = last_valid_state(outputs, lengths)
        if torch.allclose(got, expected):
            continue
        rows = torch.arange(outputs.shape[0])
        if torch.allclose(got, outputs[:, -1]):
            raise _Failed("you returned the state at the last position, which is padding for "
                          "every sequence shorter than the batch: use `lengths`")
        if torch.allclose(got, outputs[:, 0]):
            raise _Failed("you returned the state at the first position; the context is the "
                          "state after the last real word")
        short = lengths < outputs.shape[1]  # rows where index lengths[i] exists
        if short.any() and torch.allclose(got[short], outputs[rows[short], lengths[short]]):
            raise _Failed("off by one: a sequence of length n ends at index n - 1")
        raise _Failed(f"wrong values for lengths {lengths.tolist()}: expected "
                      "outputs[i, lengths[i] - 1] for every row i")
    loops = _python_loops(fn)
    if loops:
        raise _Failed(f"the values are right, but {name} uses a Python {' and a '.join(loops)} "
                      "loop; the exercise asks for one tensor operation over the whole batch "
                      "(index with lengths - 1, e.g. with gather or advanced indexing)")
    return f"{name} picks the last real state of every sequence, padding ignored."


@_run(forbid=(token_accuracy,))
def check_token_accuracy(fn) -> str:
    """Check ``fn(pred (B, T), target (B, T)) -> float``: accuracy over non-padding targets."""
    name = getattr(fn, "__name__", "your function")
    cases = [
        (torch.tensor([[5, 6, 7, 2], [5, 9, 0, 0]]), torch.tensor([[5, 6, 8, 2], [5, 6, 0, 0]])),
        (torch.tensor([[4, 4, 4]]), torch.tensor([[4, 4, 4]])),  # all right
        (torch.tensor([[9, 9, 9, 9]]), torch.tensor([[4, 5, PAD, PAD]])),  # all wrong
        (torch.tensor([[4, 5, 3, 3]]), torch.tensor([[4, 5, PAD, PAD]])),  # padding disagrees
        (torch.tensor([[PAD, 6, 7], [8, PAD, PAD]]), torch.tensor([[5, 6, 7], [8, 9, PAD]])),  # a
    ]  # prediction of id 0 at a real target position is a wrong prediction, not padding
    for pred, target in cases:
        value = _call(fn, name, pred.clone(), target.clone())
        if value is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if torch.is_tensor(value):
            if value.numel() != 1:
                raise _Failed(f"{name} returned a tensor of shape {tuple(value.shape)}; "
                              "expected one number")
            raise _Failed(f"{name} returned a one-element tensor; the exercise asks for a Python "
                          "float: end with .item()")
        if not isinstance(value, (int, float)):
            raise _Failed(f"{name} returned a {type(value).__name__}; expected a float")
        expected = token_accuracy(pred, target)
        if abs(value - expected) < 1e-6:
            continue
        if value > 1:
            raise _Failed(f"{name} returned {value}, more than 1: return the share of correct "
                          "tokens, not their count")
        if abs(value - (pred == target).float().mean().item()) < 1e-6:
            raise _Failed("padding positions were counted; leave out positions where target "
                          "is padding")
        mask = target != PAD
        if abs(value - ((pred == target) & mask).sum().item() / target.numel()) < 1e-6:
            raise _Failed("you divided by all positions; divide by the number of non-padding "
                          "target positions")
        both = mask & (pred != PAD)
        if abs(value - ((pred == target) & both).sum().item() / both.sum().item()) < 1e-6:
            raise _Failed("you left out positions where the prediction is 0; only the target "
                          "decides what is padding, and a predicted 0 there is simply wrong")
        raise _Failed(f"{name} returned {value:.4f} for pred={pred.tolist()}, "
                      f"target={target.tolist()}; expected {expected:.4f}")
    return f"{name} counts exactly the non-padding target positions."
