"""Checkers for the implement-exercises.

Each ``check_*`` function calls the reader's function on several cases (edge cases
included), compares with the book's tested implementation, and returns a ``CheckResult``:
true or false, shown in the notebook as one sentence that says what is right or wrong.
Checks test the shape first, then the values, and name the likely mistake when they can.
"""
from __future__ import annotations

import torch

from .metrics import token_accuracy
from .models.luong import local_weights
from .models.rnn import last_valid_state
from .specials import PAD


class CheckResult:
    """Outcome of a check; truthy when passed. Its repr is the message a student reads."""

    def __init__(self, passed: bool, message: str):
        self.passed = passed
        self.message = message

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("✓ " if self.passed else "✗ ") + self.message


class _Failed(Exception):
    """Internal: carries the one-sentence reason a check failed."""


def _call(fn, name: str, *args):
    if fn is None or not callable(fn):
        raise _Failed(f"expected a function for {name}, got {type(fn).__name__}")
    try:
        return fn(*args)
    except NotImplementedError:
        raise _Failed(f"{name} is not implemented yet: replace `raise NotImplementedError` "
                      "with your code") from None
    except Exception as err:  # the student's code failed: report it in one line
        raise _Failed(f"{name} raised {type(err).__name__}: {err}") from None


def _tensor(value, name: str, shape: tuple) -> torch.Tensor:
    if value is None:
        raise _Failed(f"{name} returned None; did you forget `return`?")
    if not torch.is_tensor(value):
        raise _Failed(f"{name} returned a {type(value).__name__}, expected a tensor of shape {shape}")
    if tuple(value.shape) != shape:
        raise _Failed(f"{name} returned shape {tuple(value.shape)} but expected {shape}")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise _Failed(f"{name} returned NaN or infinite values")
    return value


def _run(check):
    def wrapper(fn) -> CheckResult:
        try:
            message = check(fn)
        except _Failed as failure:
            return CheckResult(False, str(failure))
        return CheckResult(True, message)
    wrapper.__name__ = check.__name__
    wrapper.__doc__ = check.__doc__
    return wrapper


@_run
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
    return f"{name} picks the last real state of every sequence, padding ignored."


@_run
def check_token_accuracy(fn) -> str:
    """Check ``fn(pred (B, T), target (B, T)) -> float``: accuracy over non-padding targets."""
    name = getattr(fn, "__name__", "your function")
    cases = [
        (torch.tensor([[5, 6, 7, 2], [5, 9, 0, 0]]), torch.tensor([[5, 6, 8, 2], [5, 6, 0, 0]])),
        (torch.tensor([[4, 4, 4]]), torch.tensor([[4, 4, 4]])),  # all right
        (torch.tensor([[9, 9, 9, 9]]), torch.tensor([[4, 5, PAD, PAD]])),  # all wrong
        (torch.tensor([[4, 5, 3, 3]]), torch.tensor([[4, 5, PAD, PAD]])),  # padding disagrees
    ]
    for pred, target in cases:
        value = _call(fn, name, pred.clone(), target.clone())
        if value is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if torch.is_tensor(value):
            if value.numel() != 1:
                raise _Failed(f"{name} returned a tensor of shape {tuple(value.shape)}; "
                              "expected one number")
            value = value.item()
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
        raise _Failed(f"{name} returned {value:.4f} for pred={pred.tolist()}, "
                      f"target={target.tolist()}; expected {expected:.4f}")
    return f"{name} counts exactly the non-padding target positions."


@_run
def check_masked_softmax(fn) -> str:
    """Check ``fn(scores (..., S), valid bool (..., S)) -> weights``: zero weight where invalid,
    rows summing to one, stable for huge scores, all zeros for a row with no valid key."""
    from .attention import lengths_to_valid, masked_softmax

    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(0)
    big = torch.tensor([[1000.0, 1001.0, 1002.0, 999.0]])
    cases = [
        ("padded rows", torch.randn(3, 5, generator=gen), lengths_to_valid(torch.tensor([5, 3, 1]), 5)),
        ("huge scores", big, torch.ones(1, 4, dtype=torch.bool)),
        ("queries sharing one mask", torch.randn(2, 3, 4, generator=gen),
         lengths_to_valid(torch.tensor([4, 2]), 4).unsqueeze(1)),
        ("a fully masked row", torch.randn(2, 4, generator=gen),
         torch.tensor([[True, True, False, False], [False] * 4])),
    ]
    for label, scores, valid in cases:
        got = _call(fn, name, scores.clone(), valid.clone())
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not torch.is_tensor(got) or tuple(got.shape) != tuple(scores.shape):
            shape = tuple(got.shape) if torch.is_tensor(got) else type(got).__name__
            raise _Failed(f"{name} returned {shape} for scores of shape {tuple(scores.shape)}; "
                          "weights must have the shape of the scores")
        full = valid.expand_as(scores)
        if not torch.isfinite(got).all():
            if label == "huge scores":
                raise _Failed("NaN or inf for scores near 1000: subtract each row's maximum "
                              "before exponentiating")
            if label == "a fully masked row":
                raise _Failed("a row with no valid key gave NaN; return all zeros for it")
            raise _Failed(f"{name} returned NaN or inf on {label}")
        if (~full).any() and got[~full].abs().max().item() > 0:
            raise _Failed(f"masked positions got weight {got[~full].abs().max().item():.3g}; "
                          "they must get exactly zero")
        has_valid = full.any(-1)
        sums = got.sum(-1)
        if not torch.allclose(sums[has_valid], torch.ones_like(sums[has_valid]), atol=1e-5):
            raise _Failed(f"on {label} the weights of a row sum to {sums[has_valid].flatten()[0]:.3f}, "
                          "not 1: normalise over the last axis, the keys")
        if not torch.allclose(got, masked_softmax(scores, valid), atol=1e-6):
            raise _Failed(f"wrong weights on {label}: expected a softmax over the valid keys")
    return f"{name} gives padding zero weight, is stable, and handles fully masked rows."


@_run
def check_dot_product_attention(fn) -> str:
    """Check ``fn(query (B, L, D), keys (B, S, D), values (B, S, K)) -> (context, weights)``
    with weights = softmax(query · keysᵀ) over the keys and context = weights · values."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(1)
    for B, L, S, D, K in [(2, 3, 5, 4, 6), (1, 1, 4, 2, 3), (3, 4, 2, 5, 1)]:
        q, k, v = (torch.randn(B, L, D, generator=gen), torch.randn(B, S, D, generator=gen),
                   torch.randn(B, S, K, generator=gen))
        out = _call(fn, name, q.clone(), k.clone(), v.clone())
        if not isinstance(out, tuple) or len(out) != 2:
            raise _Failed(f"{name} must return a tuple (context, weights), got {type(out).__name__}")
        weights = _tensor(out[1], f"{name}'s weights", (B, L, S))
        context = _tensor(out[0], f"{name}'s context", (B, L, K))
        scores = q @ k.transpose(1, 2)  # (B, L, S)
        expected = torch.softmax(scores, -1)
        if not torch.allclose(weights, expected, atol=1e-5):
            if torch.allclose(weights, scores, atol=1e-5):
                raise _Failed("the weights are the raw scores: apply a softmax over the keys")
            if L > 1 and torch.allclose(weights, torch.softmax(scores, 1), atol=1e-5):
                raise _Failed("the softmax runs over the queries; it must run over the keys "
                              "(the last axis)")
            if torch.allclose(weights, torch.softmax(scores / D ** 0.5, -1), atol=1e-5):
                raise _Failed("you scaled by 1/sqrt(d): this exercise asks for the plain dot "
                              "product (scaling comes in chapter 6)")
            raise _Failed("wrong weights: expected softmax(query @ keysᵀ) over the keys")
        if not torch.allclose(context, expected @ v, atol=1e-5):
            raise _Failed("the weights are right but the context is not: it is weights @ values")
    return f"{name} computes dot-product scores, softmax weights and the context."


@_run
def check_additive_scores(fn) -> str:
    """Check ``fn(query (B, Dq), keys (B, S, Dk), W_query (A, Dq), W_key (A, Dk), v (A,))
    -> scores (B, S)`` with score_i = vᵀ tanh(W_key h_i + W_query s)."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(2)
    for B, S, Dq, Dk, A in [(2, 5, 3, 4, 6), (1, 1, 2, 2, 3), (3, 4, 5, 2, 4)]:
        args = [torch.randn(*shape, generator=gen) for shape in
                [(B, Dq), (B, S, Dk), (A, Dq), (A, Dk), (A,)]]
        query, keys, W_query, W_key, v = args
        got = _tensor(_call(fn, name, *[a.clone() for a in args]), name, (B, S))
        projected = keys @ W_key.T + (query @ W_query.T).unsqueeze(1)  # (B, S, A)
        expected = torch.tanh(projected) @ v  # (B, S)
        if torch.allclose(got, expected, atol=1e-5):
            continue
        if torch.allclose(got, projected @ v, atol=1e-5):
            raise _Failed("the tanh is missing: score = vᵀ tanh(W_key h + W_query s)")
        if torch.allclose(got, torch.tanh(projected @ v), atol=1e-5):
            raise _Failed("tanh is applied after v; it belongs inside: vᵀ tanh(…)")
        if S > 1 and torch.allclose(got, torch.softmax(expected, -1), atol=1e-5):
            raise _Failed("you returned softmax weights; return the raw scores")
        raise _Failed(f"wrong scores for B={B}, S={S}: expected vᵀ tanh(W_key h_i + W_query s)")
    return f"{name} computes Bahdanau's additive scores."


@_run
def check_alignment_hits(fn) -> str:
    """Check ``fn(weights (T, S), alignment) -> (hits, total)``: of the target words with gold
    links, how many have their largest weight on a gold source word."""
    from .metrics import alignment_hits

    name = getattr(fn, "__name__", "your function")
    cases = [
        (torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.1, 0.2, 0.7, 0.0], [0.0, 0.0, 0.6, 0.4]]),
         ((0, 0), (1, 1), (2, 1), (3, 2))),  # the seed example; "fußball" looks at "playing"
        (torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5]]), ((1, 0), (0, 1))),  # row 2: a comma
        (torch.tensor([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]]), ((2, 0), (2, 1))),
    ]
    for weights, alignment in cases:
        got = _call(fn, name, weights.clone(), alignment)
        if got is None:
            raise _Failed(f"{name} returned None; did you forget `return`?")
        if not isinstance(got, tuple) or len(got) != 2:
            raise _Failed(f"{name} must return a tuple (hits, total), got {got!r}")
        hits, total = (int(x) for x in got)
        expected = alignment_hits(weights, alignment)
        if (hits, total) == expected:
            continue
        if total == weights.shape[0] and total != expected[1]:
            raise _Failed("total counts every target row; count only target words that have "
                          "a gold link (a comma may have none)")
        if total != expected[1]:
            raise _Failed(f"total is {total} but {expected[1]} target words have gold links")
        raise _Failed(f"{hits} hits but expected {expected[0]} for weights {weights.tolist()} and "
                      f"alignment {alignment}: take the argmax of row j over the source axis and "
                      "test it against the gold sources of j (pairs are (source, target))")
    return f"{name} scores argmax attention against the gold alignment."


@_run
def check_general_scores(fn) -> str:
    """Check ``fn(states (B, T, H), keys (B, S, H), W (H, H)) -> (B, T, S)``:
    Luong's general score s_tᵀ W h_i."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(3)
    for B, T, S, H in [(2, 3, 5, 4), (1, 1, 2, 3), (3, 4, 6, 2)]:
        states, keys = torch.randn(B, T, H, generator=gen), torch.randn(B, S, H, generator=gen)
        W = torch.randn(H, H, generator=gen)
        got = _tensor(_call(fn, name, states.clone(), keys.clone(), W.clone()), name, (B, T, S))
        expected = states @ W @ keys.transpose(1, 2)
        if torch.allclose(got, expected, atol=1e-5):
            continue
        if torch.allclose(got, states @ W.T @ keys.transpose(1, 2), atol=1e-5):
            raise _Failed("W is transposed: the score is s_tᵀ W h_i, i.e. states @ W @ keysᵀ")
        if torch.allclose(got, states @ keys.transpose(1, 2), atol=1e-5):
            raise _Failed("W is not used: that is the dot score; general puts W between s and h")
        if S > 1 and torch.allclose(got, torch.softmax(expected, -1), atol=1e-5):
            raise _Failed("you returned softmax weights; return the raw scores")
        raise _Failed(f"wrong scores for B={B}, T={T}, S={S}: expected states @ W @ keysᵀ")
    return f"{name} computes Luong's general scores."


@_run
def check_local_p_weights(fn) -> str:
    """Check ``fn(scores (B, T, S), centre (B, T), window D) -> (B, T, S)``: local-p weights."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(4)
    cases = [(torch.randn(2, 3, 12, generator=gen), torch.tensor([[2.0, 5.5, 9.0], [0.0, 11.0, 6.3]]), 2),
             (torch.randn(1, 2, 6, generator=gen), torch.tensor([[2.5, 4.0]]), 1),
             (torch.randn(1, 1, 20, generator=gen), torch.tensor([[10.2]]), 4)]
    for scores, centre, D in cases:
        shape = tuple(scores.shape)
        got = _tensor(_call(fn, name, scores.clone(), centre.clone(), D), name, shape)
        everywhere = torch.ones_like(scores, dtype=torch.bool)
        expected = local_weights(scores, everywhere, centre.unsqueeze(-1), D, gaussian=True)
        if torch.allclose(got, expected, atol=1e-5):
            continue
        distance = torch.arange(shape[-1]).view(1, 1, -1) - centre.unsqueeze(-1)
        if (got[distance.abs() > D].abs() > 1e-6).any():
            raise _Failed(f"positions farther than D = {D} from p_t got weight; the window is "
                          "[p_t - D, p_t + D]")
        gauss = torch.exp(-distance ** 2 / (2 * (D / 2) ** 2))
        window_softmax = expected / gauss
        if torch.allclose(got, window_softmax, atol=1e-5):
            raise _Failed("the Gaussian factor exp(-(i - p_t)² / 2σ²) is missing")
        if torch.allclose(got, window_softmax * torch.exp(-distance ** 2 / (2 * D ** 2)), atol=1e-5):
            raise _Failed("σ should be D / 2, not D")
        raise _Failed(f"wrong weights for D = {D}: softmax over the window, then times the "
                      "Gaussian centred at p_t")
    return f"{name} computes local-p weights: window softmax times a Gaussian."
