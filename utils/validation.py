"""Argument checks shared by the book's functions and classes.

Each raises a ``ValueError`` (a ``TypeError`` for a wrong kind of object) whose one sentence
names the argument and what was expected, so a mistake is reported where it is made rather
than as a shape error three calls deeper.
"""
from __future__ import annotations

import dataclasses
import math

import torch


def whole_number(name: str, value, minimum: int = 1) -> None:
    """``value`` is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


def probability(name: str, value) -> None:
    """``value`` is a probability in [0, 1), as a dropout rate must be."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must lie in [0, 1), got {value!r}")


def positive(name: str, value) -> None:
    """``value`` is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def one_of(name: str, value, options) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")


def divisible(name: str, value: int, by_name: str, by: int) -> None:
    if value % by:
        raise ValueError(f"{name} {value} is not divisible by {by_name} {by}")


def tensor(name: str, value) -> None:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")


def token_ids(name: str, value, dims: int = 2, what: str = "(batch, length)") -> None:
    """``value`` is an integer tensor of ``dims`` dimensions."""
    tensor(name, value)
    if value.dim() != dims or value.is_floating_point() or value.is_complex() \
            or value.dtype == torch.bool:
        raise ValueError(f"{name} must be a {what} tensor of integer token ids, got "
                         f"{value.dtype} of shape {tuple(value.shape)}")


def counts(name: str, value, what: str = "1-D (B,)") -> None:
    """``value`` is a 1-D integer tensor of counts, none negative (lengths, say)."""
    tensor(name, value)
    if value.dim() != 1 or value.is_floating_point() or value.is_complex() \
            or value.dtype == torch.bool:
        raise ValueError(f"{name} must be a {what} tensor of integers, got {value.dtype} of "
                         f"shape {tuple(value.shape)}")
    if len(value) and int(value.min()) < 0:
        raise ValueError(f"{name} must not be negative, got {int(value.min())}")


def floats(name: str, value, shape: str, dims: int | None = None) -> None:
    """``value`` is a floating-point tensor (of ``dims`` dimensions, if given)."""
    tensor(name, value)
    if not value.is_floating_point() or (dims is not None and value.dim() != dims):
        raise ValueError(f"{name} must be a floating-point {shape} tensor, got {value.dtype} of "
                         f"shape {tuple(value.shape)}")


def bool_mask(name: str, value, meaning: str) -> None:
    tensor(name, value)
    if value.dtype != torch.bool:
        raise ValueError(f"{name} must be a bool mask ({meaning}), got {value.dtype}")


def config_fields(config, *, minimum: dict | None = None) -> None:
    """Check a dataclass config: every int field a whole number >= 1 (or ``minimum[name]``),
    every field named ``dropout`` a probability in [0, 1) and ``eps`` a number > 0."""
    minimum = minimum or {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "dropout":
            probability(f.name, value)
        elif f.name == "eps":
            positive(f.name, value)
        elif f.type in (int, "int"):
            whole_number(f.name, value, minimum.get(f.name, 1))
