"""One training loop for every chapter, the two optimiser recipes the book uses, and ``fit``
for sequence-to-sequence models.

Chapter 2 writes the loop out once (zero the gradients, backward, step); from there on every
chapter calls ``train_model`` with a function that draws a batch and returns its loss.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .models.protocol import teacher_forced_logits
from .special_tokens import PAD
from .validation import positive, whole_number

QUIET_ENV = "ATTENTION_BOOK_QUIET"


def progress_enabled() -> bool:
    """Progress bars are on, unless the environment variable ATTENTION_BOOK_QUIET=1 is set.

    The test suite and the site build set it, so stored notebook outputs hold no bars."""
    return os.environ.get(QUIET_ENV, "0") != "1"


@dataclass
class History:
    """Training loss (mean over each window of ``log_every`` steps), wall-clock time of the
    training steps, and the results of the optional evaluation callback as (step, result)."""

    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    seconds: float = 0.0
    evaluations: list = field(default_factory=list)

    def evaluated(self) -> list:
        """The evaluation results without their steps."""
        return [result for _, result in self.evaluations]


def train_model(model: torch.nn.Module, step_loss: Callable[[], torch.Tensor], steps: int,
          optimizer: torch.optim.Optimizer, schedule=None, *, clip: float | None = None,
          evaluate: Callable | None = None, evaluate_every: int = 100,
          evaluate_first: bool = False, log_every: int = 25, desc: str = "training") -> History:
    """Take ``steps`` optimiser steps on ``model`` and return the ``History``.

    Each step calls ``step_loss()``, which draws a batch and returns a scalar loss, then
    zeroes the gradients, back-propagates, clips the gradient norm of ``model``'s parameters
    to ``clip`` (if given), and steps ``optimizer`` and ``schedule`` (if given). The model is
    in training mode while it learns and in eval mode when ``train_model`` returns.

    ``evaluate(model)``, if given, is called every ``evaluate_every`` steps and after the last
    (and before the first if ``evaluate_first``), in eval mode without gradients; its results
    are kept in ``History.evaluations`` and its time is not counted in ``History.seconds``.
    """
    whole_number("steps", steps)
    whole_number("evaluate_every", evaluate_every)
    whole_number("log_every", log_every)
    if clip is not None:
        positive("clip", clip)
    history, window = History(), []

    def run_evaluation(step):
        model.eval()
        with torch.no_grad():
            history.evaluations.append((step, evaluate(model)))
        model.train()

    model.train()
    if evaluate is not None and evaluate_first:
        run_evaluation(0)
    seconds, start = 0.0, time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=desc, disable=not progress_enabled())
    for step in bar:
        loss = step_loss()
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise ValueError("step_loss() must return the loss as a scalar tensor, got "
                             f"{type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        if schedule is not None:
            schedule.step()
        window.append(loss.item())
        if step % log_every == 0 or step == steps:
            history.steps.append(step)
            history.loss.append(sum(window) / len(window))
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
            window = []
        if evaluate is not None and (step % evaluate_every == 0 or step == steps):
            seconds += time.perf_counter() - start
            run_evaluation(step)
            start = time.perf_counter()
    history.seconds = seconds + time.perf_counter() - start
    model.eval()
    return history


# --- the optimiser recipes -------------------------------------------------------------------

def learning_rate_factor(step: int, steps: int, warmup: int = 0) -> float:
    """Multiplier of the peak learning rate before step ``step`` (counting from 0)."""
    if step < warmup:
        return (step + 1) / warmup
    return 1.0 - 0.9 * step / max(1, steps)


def adam_linear_decay(parameters, lr: float, steps: int, warmup: int = 0):
    """Adam; the rate rises linearly over ``warmup`` steps (if any), then decays linearly to
    10 % of ``lr`` over the run (chapters 1-9). Returns (optimizer, schedule)."""
    optimizer = torch.optim.Adam(parameters, lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, steps, warmup))
    return optimizer, schedule


def adamw_one_cycle(parameters, lr: float, steps: int, weight_decay: float = 0.01):
    """AdamW with PyTorch's one-cycle schedule: from lr/25 up to ``lr`` over the first 10 % of
    the steps, then down along half a cosine (chapters 10-12). Returns (optimizer, schedule)."""
    optimizer = torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, lr, total_steps=steps,
                                                   pct_start=0.1)
    return optimizer, schedule


# --- sequence-to-sequence models ---------------------------------------------------------------

@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 3e-3
    clip: float = 1.0  # maximum gradient norm
    log_every: int = 25
    warmup: int = 0  # steps of linear learning-rate warm-up (Transformers need it)


def sequence_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over non-padding positions. logits (B, T, V), target (B, T)."""
    if logits.shape[:2] != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} "
                         "disagree on (batch, length)")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                           ignore_index=PAD)


def fit(model: torch.nn.Module, batches, config: TrainConfig, desc: str = "training",
        evaluate=None, evaluate_every: int = 100) -> History:
    """Train a sequence-to-sequence ``model`` for ``config.steps`` batches drawn from the
    iterator ``batches``, with ``adam_linear_decay`` and gradient clipping.

    The model is called as ``model(src, src_lengths, tgt_in)`` (see ``teacher_forced_logits``).
    ``evaluate(model)``, if given, runs before training, every ``evaluate_every`` steps and
    after the last (see ``train_model``).
    """
    optimizer, schedule = adam_linear_decay(model.parameters(), config.lr, config.steps,
                                            config.warmup)

    def step_loss():
        batch = next(batches)
        return sequence_loss(teacher_forced_logits(model, batch), batch.tgt_out)

    return train_model(model, step_loss, config.steps, optimizer, schedule, clip=config.clip,
                 evaluate=evaluate, evaluate_every=evaluate_every, evaluate_first=True,
                 log_every=config.log_every, desc=desc)
