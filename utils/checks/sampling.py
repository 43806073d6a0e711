"""Checkers for the hard-attention exercises (chapter 5)."""
from __future__ import annotations

import torch

from ..models.glimpse import gumbel_max, leave_one_out_baseline, reinforce_surrogate
from .core import _call, _diagnose, _Failed, _run, _tensor


@_run(forbid=(gumbel_max,))
def check_gumbel_max(fn) -> str:
    """Check ``fn(logits (..., P), uniform (..., P)) -> (...,)`` long indices: the argmax of
    logits + g with Gumbel noise g = -log(-log u)."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(5)
    for shape in [(64, 6), (8, 3, 5), (1, 2)]:
        logits = 2 * torch.randn(shape, generator=gen)
        uniform = torch.rand(shape, generator=gen).clamp(1e-6, 1 - 1e-6)
        got = _call(fn, name, logits.clone(), uniform.clone())
        got = _tensor(got, name, shape[:-1])
        if got.is_floating_point() or got.dtype == torch.bool:
            raise _Failed(f"{name} returned {got.dtype} values; return the chosen indices "
                          "(an integer tensor, e.g. from .argmax(-1))")
        expected = gumbel_max(logits, uniform)
        mistakes = [
            ((logits + torch.log(-torch.log(uniform))).argmax(-1),
             "the noise has the wrong sign: g = -log(-log u)"),
            (logits.argmax(-1), "the noise is missing: this always picks the largest logit, "
                                "which is not a sample"),
            (uniform.argmax(-1), "the logits are missing: add them to the noise"),
            ((logits - torch.log(uniform)).argmax(-1),
             "that is -log u (exponential noise); Gumbel noise is -log(-log u)"),
        ]
        if not torch.equal(got.long(), expected):
            for wrong, message in mistakes:
                if torch.equal(got.long(), wrong) and not torch.equal(wrong, expected):
                    raise _Failed(message)
            raise _Failed(f"wrong indices for logits of shape {shape}: expected "
                          "argmax(logits - log(-log u)) over the last axis")
    return f"{name} draws samples with the Gumbel-max trick."


@_run(forbid=(leave_one_out_baseline,))
def check_leave_one_out_baseline(fn) -> str:
    """Check ``fn(rewards (B, K)) -> (B, K)``: sample k's baseline is the mean of the other
    K - 1 rewards of the same example."""
    name = getattr(fn, "__name__", "your function")
    cases = [torch.tensor([[1.0, 2.0, 3.0, 6.0], [0.0, 0.0, 4.0, -4.0]]),
             torch.tensor([[-2.0, 5.0]]),
             torch.randn(3, 5, generator=torch.Generator().manual_seed(6))]
    for rewards in cases:
        B, K = rewards.shape
        got = _tensor(_call(fn, name, rewards.clone()), name, (B, K))
        total = rewards.sum(-1, keepdim=True)
        _diagnose(got, leave_one_out_baseline(rewards), [
            (total.expand(B, K) / K, "every sample got the mean of all K rewards, its own "
                                     "included; leave the sample's own reward out"),
            ((total - rewards) / K, "divide by K - 1, the number of other samples, not by K"),
            (rewards.sum(0, keepdim=True).expand(B, K) / B,
             "you averaged over the batch axis; average over the K samples of one example"),
            ((rewards.sum(0, keepdim=True) - rewards) / max(B - 1, 1),
             "you left one out along the batch axis; the K samples are along the last axis"),
            (rewards - (total - rewards) / (K - 1),
             "you returned the advantage (reward minus baseline); return the baseline"),
        ], f"wrong baselines for rewards {rewards.tolist()}: expected the mean of the other "
           f"{K - 1} rewards of each row")
    return f"{name} computes leave-one-out baselines."


def _policy_and_rewards(B, K, P, gen):
    """Parameters of a toy locator (theta) and classifier (phi), the log-probabilities (B, K) of
    K sampled cells per example under the locator, and rewards (B, K) that depend on phi."""
    theta = torch.randn(B, P, generator=gen, dtype=torch.float64).requires_grad_()
    phi = torch.randn(P, generator=gen, dtype=torch.float64).requires_grad_()
    cells = torch.randint(P, (B, K), generator=gen)
    log_prob = torch.log_softmax(theta, -1).gather(1, cells)             # (B, K)
    rewards = torch.log_softmax(phi, 0)[cells] + torch.randn(B, K, generator=gen,
                                                             dtype=torch.float64)
    return theta, phi, log_prob, rewards


@_run(forbid=(reinforce_surrogate,))
def check_reinforce_k_loss(fn) -> str:
    """Check ``fn(log_prob (B, K), rewards (B, K)) -> scalar``: a loss whose gradient with
    respect to the locator is -mean((r - b_loo) ∇ log π), with b_loo the leave-one-out baseline,
    and through which no gradient reaches the rewards. Gradients are compared, not values."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(19)
    for B, K, P in ((3, 4, 5), (1, 2, 3), (4, 3, 6)):
        theta, phi, log_prob, rewards = _policy_and_rewards(B, K, P, gen)
        loss = _call(fn, name, log_prob, rewards)
        if not torch.is_tensor(loss) or loss.numel() != 1:
            raise _Failed(f"{name} must return the loss as a one-element tensor, got "
                          f"{tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__}")
        if not loss.requires_grad:
            raise _Failed(f"{name}'s loss carries no gradient: keep log_prob in it (detach only "
                          "the rewards)")
        got, leaked = torch.autograd.grad(loss.sum(), (theta, phi), retain_graph=True,
                                          allow_unused=True)
        if leaked is not None and leaked.abs().max() > 0:
            raise _Failed("a gradient flows into the rewards (and would train the classifier "
                          "to change its own reward): detach the rewards, and build the "
                          "baseline from the detached ones")
        if got is None:
            raise _Failed(f"{name}'s loss does not depend on log_prob")
        r = rewards.detach()
        loo = (r.sum(-1, keepdim=True) - r) / (K - 1)

        def gradient(advantage, scale=B * K):
            surrogate = -(advantage * log_prob).sum() / scale
            return torch.autograd.grad(surrogate, theta, retain_graph=True)[0]

        expected = gradient(r - loo)
        _diagnose(got, expected, [
            (-expected, "the sign is flipped: minimising the loss must raise log π of samples "
                        "with an above-baseline reward"),
            (gradient(r), "there is no baseline: subtract each sample's leave-one-out baseline "
                          "from its reward"),
            (gradient(r - r.mean(-1, keepdim=True)), "the baseline includes the sample's own "
                                                    "reward; use the mean of the other K - 1"),
            (gradient(r - loo, scale=1), "the loss sums over the B·K samples; take the mean"),
            (gradient(r - loo, scale=B), "the loss is divided by B only; take the mean over "
                                         "all B·K samples"),
        ], f"wrong gradient for B={B}, K={K}: expected that of -mean((r - b) · log π) with b the "
           "leave-one-out baseline and r, b constants")
    return f"{name} gives the leave-one-out REINFORCE gradient, and none to the rewards."
