"""What the checkers of whole models share: copying reference weights into the student's module,
and naming the first intermediate tensor where the student's forward pass leaves the reference.

A check runs the student's module with hooks on its named sub-modules (``core._trace``) and
compares, site by site in the reference's order, what each sub-module received and returned.
At the first site that differs it looks for a known mistake whose own forward pass produces
exactly the student's tensor there, and reports that mistake's sentence; otherwise it says which
tensor differs and what it should have been.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .core import _call, _Failed, _same_dtype, _trace


@dataclass
class Site:
    """One sub-module call of the reference forward pass: what it received and returned, and in
    words what it receives (for the message when no known mistake explains a difference)."""
    name: str
    input: torch.Tensor | None
    output: torch.Tensor
    receives: str = ""


def _aligned(got, expected):
    """``got`` in ``expected``'s shape, or None when the two cannot be compared: the same
    numbers laid out differently (size-1 dimensions, positions flattened into rows), a tensor
    that broadcasts to the other (position ids (B, T) for (T,)), or a per-position tensor whose
    first position is what the reference computed for it alone ([CLS] after a norm of all)."""
    if got is None or expected is None:
        return None
    if got.shape == expected.shape:
        return got
    if got.numel() == expected.numel():
        return got.reshape(expected.shape)
    if got.dim() > expected.dim() and got.shape[-expected.dim():] == expected.shape and \
            (got == got.reshape(-1, *expected.shape)[0]).all():
        return got.reshape(-1, *expected.shape)[0]             # the same row repeated
    if got.dim() == expected.dim() + 1 and got.shape[0] == expected.shape[0] and \
            got.shape[2:] == expected.shape[1:]:
        return got[:, 0]
    return None


def close(got, expected, tolerance=None) -> bool:
    """Equal up to float64 rounding (or float32's, if the student computed in float32), or to
    ``tolerance`` where the reference itself rounds (rotary angles in float32)."""
    got = _aligned(got, expected)
    if got is None:
        return False
    if not expected.is_floating_point():
        return torch.equal(got.to(expected.dtype), expected)
    if tolerance is None:
        tolerance = 1e-9 if expected.dtype == torch.float64 else 1e-5
    return torch.allclose(got.to(expected.dtype), expected, rtol=tolerance, atol=tolerance,
                          equal_nan=True)


def first_difference(student: nn.Module, call, sites: list[Site], mistakes: dict,
                     what: str, tolerance: float | None = None) -> torch.Tensor:
    """Run ``call(student)`` with hooks. The output decides: when it equals the reference's
    (the site named "output", last in ``sites``) the answer is right, however it got there.
    Otherwise fail at the first site, in the reference's order, whose input or output differs;
    ``mistakes`` maps a sentence to the sites (name -> Site) that mistake produces, and the
    sentence of the first mistake that matches the student's tensor there is the message."""
    names = [site.name for site in sites if site.name != "output"]
    with _trace(student, names) as records:
        result = call(student)
    result = result[0] if isinstance(result, tuple) else result
    if not torch.is_tensor(result):
        raise _Failed(f"{what} returned a {type(result).__name__}, expected a tensor")
    final = sites[-1].output
    if tuple(result.shape) != tuple(final.shape):
        raise _Failed(f"the output has shape {tuple(result.shape)}, expected "
                      f"{tuple(final.shape)}")
    if close(result, final, tolerance):
        _same_dtype(result, final, f"the output of {what}")
        return result
    skipped = None                # a site never called: fine if what follows is right
    for site in sites:
        if site.name == "output":
            parts = [("output", result, site.output)]
        elif site.name not in records:
            skipped = skipped or site
            continue
        else:
            got_in, got_out = records[site.name]
            parts = [("input", got_in, site.input), ("output", got_out, site.output)]
        for part, got, expected in parts:
            if expected is None or close(got, expected, tolerance):
                continue
            if got is not None and site.name != "output" and _aligned(got, expected) is None:
                skipped = skipped or site      # laid out otherwise: judged by what follows
                break
            where = "the output" if site.name == "output" else f"the {part} of `{site.name}`"
            for sentence, wrong in mistakes.items():
                other = wrong.get(site.name)
                if other is not None and close(got, getattr(other, part), tolerance):
                    raise _Failed(f"{where} is the first tensor that differs: {sentence}")
            if skipped is not None:
                raise _Failed(f"`{skipped.name}` is never called in forward (or not as the "
                              f"reference calls it); it receives {skipped.receives}")
            should = f" (it should be {site.receives})" if part == "input" and site.receives \
                else ""
            raise _Failed(f"{where} is the first tensor that differs from the reference{should}")
    raise _Failed(f"the output of {what} differs from the reference")


def build(cls, what: str, **kwargs) -> nn.Module:
    """The student's module, built with keyword arguments, in float64 and eval mode."""
    module = _call(cls, what, **kwargs)
    if not isinstance(module, nn.Module):
        raise _Failed(f"{what} must be an nn.Module (a class deriving from nn.Module), got "
                      f"{type(module).__name__}")
    return module.double().eval()


def submodule(module: nn.Module, name: str, what: str, names: str) -> nn.Module:
    try:
        return module.get_submodule(name)
    except AttributeError:
        raise _Failed(f"{what} has no sub-module `{name}`: name the parts as the exercise does "
                      f"({names}), so that the check can give them the reference's weights") \
            from None


def copy_attention(target: nn.Module, source: nn.MultiheadAttention, name: str) -> None:
    """Give ``target`` (an nn.MultiheadAttention or the book's MultiHeadAttention, chapter 8)
    the weights of ``source``."""
    with torch.no_grad():
        if hasattr(target, "in_proj_weight") and target.in_proj_weight is not None:
            target.load_state_dict(source.state_dict())
        elif all(hasattr(target, p) for p in ("q_proj", "k_proj", "v_proj", "out_proj")):
            for layer, w, b in zip((target.q_proj, target.k_proj, target.v_proj),
                                   source.in_proj_weight.chunk(3), source.in_proj_bias.chunk(3)):
                layer.weight.copy_(w)
                layer.bias.copy_(b)
            target.out_proj.load_state_dict(source.out_proj.state_dict())
        else:
            raise _Failed(f"`{name}` must be an nn.MultiheadAttention(..., batch_first=True) or "
                          "chapter 8's MultiHeadAttention")


def copy_module(target: nn.Module, source: nn.Module, name: str) -> None:
    try:
        target.load_state_dict(source.state_dict())
    except RuntimeError as err:
        raise _Failed(f"`{name}` cannot take the reference's weights: it should be a "
                      f"{type(source).__name__} with {_shapes(source)}; "
                      f"{str(err).splitlines()[-1].strip()}") from None


def _shapes(module: nn.Module) -> str:
    return ", ".join(f"{k} {tuple(v.shape)}" for k, v in module.state_dict().items())


def same_size(student: nn.Module, reference: nn.Module, what: str) -> None:
    """Fail when the student's module has parameters the reference does not."""
    count = sum(p.numel() for p in student.parameters())
    expected = sum(p.numel() for p in reference.parameters())
    if count != expected:
        raise _Failed(f"{what} has {count:,} parameters, the reference {expected:,}: it should "
                      "have exactly the parts the exercise names, no others")
