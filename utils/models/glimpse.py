"""Soft and hard attention over the cells of a canvas (chapter 5).

A ``GlimpseNet`` has three parts, each applied to one 8×8 cell (64 pixels) at a time:

* a *locator* that scores every cell, ``scores (B, P)``: where to look;
* an *encoder* that turns the looked-at pixels into features ``(…, H)``: what is there;
* a *classifier* that reads the digit's class from the features, ``logits (B, 10)``.

The four ways of training it differ only in how the locator's scores become a glimpse:

* ``soft``: features Σ_p α_p f(x_p) with α = softmax(scores) — every cell is encoded;
* ``reinforce``: sample one cell p ~ α, encode it, and train the locator with the score-function
  (REINFORCE) estimator, reward = log p(y | x_p), minus a moving-average baseline;
* ``reinforce-no-baseline``: the same without the baseline;
* ``gumbel``: straight-through Gumbel-softmax — a one-hot sample in the forward pass, the gradient
  of a softmax relaxation in the backward pass (every cell is encoded).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..validation import positive

METHODS = ("soft", "reinforce", "reinforce-no-baseline", "gumbel")


def gumbel_max(logits: torch.Tensor, uniform: torch.Tensor) -> torch.Tensor:
    """The Gumbel-max trick: argmax(logits + g) with g = -log(-log u) is a sample from
    softmax(logits). logits (..., P), uniform noise u in (0, 1) of the same shape -> (...,)."""
    if uniform.shape != logits.shape:
        raise ValueError(f"uniform must have the shape of logits {tuple(logits.shape)}, got "
                         f"{tuple(uniform.shape)}")
    return (logits - torch.log(-torch.log(uniform))).argmax(-1)


def straight_through(soft: torch.Tensor) -> torch.Tensor:
    """One-hot of the row-wise argmax in the forward pass; the gradient of ``soft`` backward.
    soft (..., P) -> (..., P)."""
    hard = F.one_hot(soft.argmax(-1), soft.shape[-1]).to(soft.dtype)
    return hard + soft - soft.detach()


def gumbel_softmax_st(logits: torch.Tensor, tau: float = 1.0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Straight-through Gumbel-softmax: a one-hot sample from softmax(logits) whose gradient is
    that of softmax((logits + g) / tau). logits (B, P) -> (B, P)."""
    positive("tau", tau)
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device,
                         dtype=logits.dtype).clamp(1e-10, 1 - 1e-7)
    gumbels = -torch.log(-torch.log(uniform))
    return straight_through(torch.softmax((logits + gumbels) / tau, dim=-1))


def reinforce_surrogate(log_prob: torch.Tensor, reward: torch.Tensor,
                        baseline: float | torch.Tensor = 0.0) -> torch.Tensor:
    """A loss whose gradient is the REINFORCE estimate of -∇E[reward]:
    -mean((reward - baseline) · log π(choice)). No gradient flows through reward or baseline.
    log_prob (B,) of the sampled choices, reward (B,) -> scalar."""
    advantage = (reward - baseline).detach()
    return -(advantage * log_prob).mean()


def leave_one_out_baseline(rewards: torch.Tensor) -> torch.Tensor:
    """For K samples per example, each sample's baseline is the mean reward of the other K - 1.
    rewards (B, K), K >= 2 -> (B, K)."""
    K = rewards.shape[-1]
    if K < 2:
        raise ValueError("a leave-one-out baseline needs at least 2 samples per example")
    return (rewards.sum(-1, keepdim=True) - rewards) / (K - 1)


class GlimpseNet(nn.Module):
    """Locator, encoder and classifier, each acting on one cell (64 pixels) at a time."""

    def __init__(self, hidden: int = 128, locator_hidden: int = 64, classes: int = 10,
                 pixels: int = 64):
        super().__init__()
        self.locator = nn.Sequential(nn.Linear(pixels, locator_hidden), nn.ReLU(),
                                     nn.Linear(locator_hidden, 1))
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU(),
                                     nn.Linear(hidden, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, classes)

    def scores(self, cells: torch.Tensor) -> torch.Tensor:
        """cells (B, P, 8, 8) -> scores (B, P)."""
        return self.locator(cells.flatten(2)).squeeze(-1)

    def read(self, cells: torch.Tensor, glimpse: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 10) from a glimpse: the index of one cell (B,) — only that cell is
        encoded — or weights over all cells (B, P) — every cell is encoded, then averaged."""
        if glimpse.dim() == 1:
            chosen = cells[torch.arange(len(cells), device=cells.device), glimpse]  # (B, 8, 8)
            return self.classifier(self.encoder(chosen.flatten(1)))
        features = self.encoder(cells.flatten(2))                    # (B, P, H)
        return self.classifier((glimpse.unsqueeze(-1) * features).sum(1))

    def predict(self, cells: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-time prediction: the class (B,) and the cell with the highest score (B,).
        ``hard`` reads only that cell; otherwise the soft average over all cells."""
        scores = self.scores(cells)
        where = scores.argmax(-1)
        glimpse = where if hard else torch.softmax(scores, -1)
        return self.read(cells, glimpse).argmax(-1), where


def glimpse_loss(net: GlimpseNet, cells: torch.Tensor, labels: torch.Tensor, method: str,
                 baseline: float = 0.0, tau: float = 1.0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The training loss of one mini-batch for ``method`` (see ``METHODS``), and the per-example
    log-likelihood log p(y | glimpse) (B,), detached: the reward, for the hard methods.

    For ``reinforce`` the caller keeps the baseline (a moving average of the rewards); for
    ``reinforce-no-baseline`` it is ignored.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    scores = net.scores(cells)                                        # (B, P)
    if method == "soft":
        glimpse = torch.softmax(scores, -1)                           # (B, P)
    elif method == "gumbel":
        glimpse = gumbel_softmax_st(scores, tau, generator)           # (B, P), one-hot
    else:
        policy = torch.distributions.Categorical(logits=scores)
        choice = torch.multinomial(policy.probs, 1, generator=generator).squeeze(-1)  # (B,)
        glimpse = choice
    log_lik = -F.cross_entropy(net.read(cells, glimpse), labels, reduction="none")  # (B,)
    loss = -log_lik.mean()
    if method.startswith("reinforce"):
        b = baseline if method == "reinforce" else 0.0
        loss = loss + reinforce_surrogate(policy.log_prob(choice), log_lik, b)
    return loss, log_lik.detach()


def exact_hard_loss(net: GlimpseNet, cells: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-E_{p ~ α}[log p(y | x_p)] computed exactly by reading every cell: the objective whose
    gradient REINFORCE estimates (and straight-through Gumbel approximates)."""
    B, P = cells.shape[:2]
    alpha = torch.softmax(net.scores(cells), -1)                     # (B, P)
    logits = net.classifier(net.encoder(cells.flatten(2)))            # (B, P, 10)
    log_lik = -F.cross_entropy(logits.flatten(0, 1), labels.repeat_interleave(P),
                               reduction="none").view(B, P)           # (B, P)
    return -(alpha * log_lik).sum(-1).mean()
