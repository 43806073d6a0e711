"""A small training loop for sequence-to-sequence models, with a progress bar and a history."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from .models.protocol import teacher_forced_logits
from .special_tokens import PAD

QUIET_ENV = "ATTENTION_BOOK_QUIET"


def progress_enabled() -> bool:
    """Progress bars are on, unless the environment variable ATTENTION_BOOK_QUIET=1 is set.

    The test suite and the site build set it, so stored notebook outputs hold no bars."""
    return os.environ.get(QUIET_ENV, "0") != "1"


@dataclass
class TrainConfig:
    steps: int = 1000
    lr: float = 3e-3
    clip: float = 1.0  # maximum gradient norm
    log_every: int = 25
    warmup: int = 0  # steps of linear learning-rate warm-up (Transformers need it)


@dataclass
class History:
    """Training loss (mean over each window of ``log_every`` steps), wall-clock time of the
    training steps, and the results of the optional evaluation callback as (step, result)."""

    steps: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    seconds: float = 0.0
    evaluations: list = field(default_factory=list)


def sequence_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over non-padding positions. logits (B, T, V), target (B, T)."""
    if logits.shape[:2] != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and target {tuple(target.shape)} "
                         "disagree on (batch, length)")
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                           ignore_index=PAD)


def learning_rate_factor(step: int, steps: int, warmup: int = 0) -> float:
    """Multiplier of the peak learning rate before step ``step`` (counting from 0)."""
    if step < warmup:
        return (step + 1) / warmup
    return 1.0 - 0.9 * step / max(1, steps)


def fit(model: torch.nn.Module, batches, config: TrainConfig, desc: str = "training",
        evaluate=None, evaluate_every: int = 100) -> History:
    """Train ``model`` for ``config.steps`` batches drawn from the iterator ``batches``.

    The model is called as ``model(src, src_lengths, tgt_in)`` and returns logits (B, T, V)
    or a tuple whose first element is the logits. Adam, gradient clipping, and a learning
    rate that rises linearly over ``config.warmup`` steps (if any), then decays linearly to
    10 % of its peak over the run.

    ``evaluate(model)``, if given, is called before training and every ``evaluate_every``
    steps, in eval mode without gradients; its results are kept in ``History.evaluations``
    and its time is not counted in ``History.seconds``.
    """
    if evaluate_every < 1:
        raise ValueError(f"evaluate_every must be a positive number of steps, got {evaluate_every}")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(
        step, config.steps, config.warmup))
    history, window = History(), []

    def run_evaluation(step):
        model.eval()
        with torch.no_grad():
            history.evaluations.append((step, evaluate(model)))
        model.train()

    model.train()
    if evaluate is not None:
        run_evaluation(0)
    seconds = 0.0
    start = time.perf_counter()
    bar = tqdm(range(1, config.steps + 1), desc=desc, disable=not progress_enabled())
    for step in bar:
        batch = next(batches)
        loss = sequence_loss(teacher_forced_logits(model, batch), batch.tgt_out)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
        optimizer.step()
        schedule.step()
        window.append(loss.item())
        if step % config.log_every == 0 or step == config.steps:
            history.steps.append(step)
            history.loss.append(sum(window) / len(window))
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}")
            window = []
        if evaluate is not None and (step % evaluate_every == 0 or step == config.steps):
            seconds += time.perf_counter() - start
            run_evaluation(step)
            start = time.perf_counter()
    history.seconds = seconds + time.perf_counter() - start
    model.eval()
    return history
