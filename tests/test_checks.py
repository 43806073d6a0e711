"""Every checker accepts the solution, rejects the stub and rejects plausible wrong answers."""
import types

import pytest
import torch

from utils.checks import CheckResult, check_last_valid_state, check_token_accuracy
from utils.special_tokens import PAD


def stub(*args):
    raise NotImplementedError("Exercise: write this function")


def copied(fn):
    """``fn``'s code as if a student had typed it into the notebook: a new function, outside
    the book's modules, that the checkers' watch for the book's own implementation lets pass."""
    new = types.FunctionType(fn.__code__.replace(co_filename="<notebook>"), fn.__globals__,
                             fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


# ---- last_valid_state ---------------------------------------------------------------
def last_state(outputs, lengths):
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
    return outputs.gather(1, index).squeeze(1)


def test_last_state_accepts_solutions():
    assert check_last_valid_state(last_state)
    assert check_last_valid_state(lambda o, n: o[torch.arange(o.shape[0]), n - 1])


def test_last_state_rejects_stub_and_wrong_answers():
    cases = {
        stub: "not implemented yet",
        (lambda o, n: o[:, -1]): "last position, which is padding",
        (lambda o, n: o[:, 0]): "first position",
        (lambda o, n: o[torch.arange(o.shape[0]), n.clamp(max=o.shape[1] - 1)]): "off by one",
        (lambda o, n: o.mean(1)): "wrong values",
        (lambda o, n: o[:, -1:]): "returned shape (4, 1, 5) but expected (4, 5)",
        (lambda o, n: None): "returned None",
        (lambda o, n: o[:, -1].tolist()): "returned a list",
        (lambda o, n: o[:, -1] * float("nan")): "NaN",
    }
    for fn, message in cases.items():
        result = check_last_valid_state(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def looped(outputs, lengths):                    # right values, but a loop over the batch
    rows = []
    for b in range(outputs.shape[0]):
        rows.append(outputs[b, lengths[b] - 1])
    return torch.stack(rows)


def comprehended(outputs, lengths):
    return torch.stack([outputs[b, n - 1] for b, n in enumerate(lengths)])


def test_last_state_names_a_python_loop_over_the_batch():
    for fn in (looped, comprehended):
        result = check_last_valid_state(fn)
        assert not result and "uses a Python" in result.message, result.message


# ---- token_accuracy -------------------------------------------------------------------
def accuracy(pred, target):
    mask = target != PAD
    return ((pred == target) & mask).sum().item() / mask.sum().item()


def test_token_accuracy_accepts_solutions():
    assert check_token_accuracy(accuracy)
    assert check_token_accuracy(lambda p, t: (p == t)[t != PAD].float().mean().item())
    assert check_token_accuracy(lambda p, t: float((p == t)[t != PAD].float().mean()))


def test_token_accuracy_rejects_stub_and_wrong_answers():
    mask = lambda t: t != PAD  # noqa: E731
    cases = {
        stub: "not implemented yet",
        (lambda p, t: (p == t).float().mean().item()): "padding positions were counted",
        (lambda p, t: ((p == t) & mask(t)).sum().item()): "not their count",
        (lambda p, t: ((p == t) & mask(t)).sum().item() / t.numel()): "divided by all positions",
        (lambda p, t: ((p == t) & mask(t) & (p != PAD)).sum().item()
         / (mask(t) & (p != PAD)).sum().item()): "only the target decides",
        (lambda p, t: ((p == t) & mask(t)).float().mean(1)): "expected one number",
        (lambda p, t: (p == t)[t != PAD].float().mean()): "asks for a Python float",
        (lambda p, t: "0.5"): "expected a float",
        (lambda p, t: None): "returned None",
        (lambda p, t: 1 / 0): "raised ZeroDivisionError",
    }
    for fn, message in cases.items():
        result = check_token_accuracy(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_masked_softmax_names_the_row_that_fails():
    def one_row_off(s, v):
        w = masked_softmax(s, v)
        if w.shape == (3, 5):
            w[2] = w[2] * 0.5          # the last row, whose one valid weight should be 1
        return w

    result = check_masked_softmax(one_row_off)
    assert "row (2,) sum to 0.500, not 1" in result.message, result.message


def test_result_reads_as_one_sentence():
    good, bad = CheckResult(True, "fine."), CheckResult(False, "wrong shape")
    assert repr(good) == "✓ fine." and repr(bad) == "✗ wrong shape"
    assert "\n" not in check_token_accuracy(stub).message
    assert not check_token_accuracy("not a function")


# ---- masked_softmax -----------------------------------------------------------------
from utils.checks import check_dot_product_attention, check_masked_softmax  # noqa: E402


def masked_softmax(scores, valid):
    scores = scores.masked_fill(~valid, float("-inf"))
    row_max = scores.amax(-1, keepdim=True).clamp(min=-1e30)
    exp = torch.exp(scores - row_max)
    total = exp.sum(-1, keepdim=True)
    return exp / total.clamp(min=1e-30)


def test_masked_softmax_accepts_solutions():
    assert check_masked_softmax(masked_softmax)
    # filling with a large negative number and zeroing afterwards is also right
    assert check_masked_softmax(lambda s, v: torch.softmax(s.masked_fill(~v, -1e9), -1) * v)


def test_masked_softmax_rejects_stub_and_wrong_answers():
    cases = {
        stub: "not implemented yet",
        (lambda s, v: torch.softmax(s, -1)): "must get exactly zero",
        (lambda s, v: torch.softmax(s * v, -1)): "must get exactly zero",
        (lambda s, v: torch.exp(s.masked_fill(~v, float("-inf")))
         / torch.exp(s.masked_fill(~v, float("-inf"))).sum(-1, keepdim=True)): "subtract each row",
        (lambda s, v: torch.softmax(s.masked_fill(~v, float("-inf")), -1)): "gave NaN",
        (lambda s, v: torch.softmax(s, -1) * v): "sum to",  # masked after, not renormalised
        (lambda s, v: masked_softmax(s, ~v)): "True and False are swapped",
        (lambda s, v: torch.softmax(s, -1) * v / (torch.softmax(s, -1) * v).sum(-1, keepdim=True)
         .clamp(min=1e-30)): "mask before the softmax",
        (lambda s, v: masked_softmax(s.view(-1, s.shape[-1]), v.expand_as(s).reshape(
            -1, s.shape[-1])).view(s.shape)): "use .reshape",  # .view fails on transposed scores
        (lambda s, v: torch.softmax(s, -1)[..., :2]): "weights must have the shape",
    }
    for fn, message in cases.items():
        result = check_masked_softmax(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- dot-product attention ----------------------------------------------------------
def dot_attention(query, keys, values):
    weights = torch.softmax(query @ keys.transpose(1, 2), dim=-1)
    return weights @ values, weights


def test_dot_product_attention_accepts_solution():
    assert check_dot_product_attention(dot_attention)


def test_dot_product_attention_rejects_stub_and_wrong_answers():
    def raw(q, k, v):
        s = q @ k.transpose(1, 2)
        return s @ v, s

    def wrong_axis(q, k, v):
        w = torch.softmax(q @ k.transpose(1, 2), dim=1)
        return w @ v, w

    def scaled(q, k, v):
        w = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1)
        return w @ v, w

    def bad_context(q, k, v):
        w = torch.softmax(q @ k.transpose(1, 2), dim=-1)
        return w @ v + 1, w

    cases = {stub: "not implemented yet", raw: "raw scores", wrong_axis: "over the queries",
             scaled: "scaled by 1/sqrt(d)", bad_context: "context is not",
             (lambda q, k, v: dot_attention(q, k, v)[0]): "must return a tuple",
             (lambda q, k, v: dot_attention(q, k, v)[::-1]): "returned shape"}
    for fn, message in cases.items():
        result = check_dot_product_attention(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- additive scores ------------------------------------------------------------------
from utils.checks import check_additive_scores, check_alignment_hits  # noqa: E402


def additive(query, keys, W_query, W_key, v):
    return torch.tanh(keys @ W_key.T + (query @ W_query.T).unsqueeze(1)) @ v


def test_additive_scores():
    assert check_additive_scores(additive)
    cases = {
        stub: "not implemented yet",
        (lambda q, k, Wq, Wk, v: (k @ Wk.T + (q @ Wq.T).unsqueeze(1)) @ v): "tanh is missing",
        (lambda q, k, Wq, Wk, v: torch.tanh((k @ Wk.T + (q @ Wq.T).unsqueeze(1)) @ v)):
            "tanh is applied after v",
        (lambda q, k, Wq, Wk, v: torch.softmax(additive(q, k, Wq, Wk, v), -1)): "softmax weights",
        (lambda q, k, Wq, Wk, v: torch.tanh(k @ Wk.T + q @ Wq.T) @ v): "raised RuntimeError",
        (lambda q, k, Wq, Wk, v: torch.tanh(k @ Wk.T) @ v): "wrong scores",
    }
    for fn, message in cases.items():
        result = check_additive_scores(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- alignment hits -------------------------------------------------------------------
def hits_solution(weights, alignment):
    gold = {}
    for i, j in alignment:
        gold.setdefault(j, set()).add(i)
    return sum(int(weights[j].argmax()) in s for j, s in gold.items()), len(gold)


def test_alignment_hits_checker():
    assert check_alignment_hits(hits_solution)

    def all_rows(weights, alignment):
        return hits_solution(weights, alignment)[0], weights.shape[0]

    def swapped(weights, alignment):
        return hits_solution(weights, [(j, i) for i, j in alignment])

    def wrong_axis(weights, alignment):
        return hits_solution(weights.T, [(j, i) for i, j in alignment])

    def last_link_only(weights, alignment):
        gold = {j: i for i, j in alignment}              # a later link overwrites an earlier one
        return sum(int(weights[j].argmax()) == i for j, i in gold.items()), len(gold)

    def first_link_only(weights, alignment):
        gold = {}
        for i, j in alignment:
            gold.setdefault(j, i)
        return sum(int(weights[j].argmax()) == i for j, i in gold.items()), len(gold)

    def links(weights, alignment):
        return sum(int(weights[j].argmax()) == i for i, j in alignment), len(alignment)

    cases = {stub: "not implemented yet", all_rows: "total counts every target row",
             swapped: "raised IndexError", wrong_axis: "total is 4 but 3",
             last_link_only: "is a hit when its argmax is any one of them",
             first_link_only: "is a hit when its argmax is any one of them",
             links: "count each target word with a gold link once",
             (lambda w, a: None): "returned None", (lambda w, a: 3): "must return a tuple"}
    for fn, message in cases.items():
        result = check_alignment_hits(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- Luong: location weights, local-p ------------------------------------------------
from utils.checks import check_local_p_weights, check_location_weights  # noqa: E402


def location(states, W_a, valid):
    scores = (states @ W_a.T)[..., :valid.shape[-1]]                   # (B, T, S)
    return masked_softmax(scores, valid.unsqueeze(1))


def test_location_weights_checker():
    assert check_location_weights(location)
    assert check_location_weights(lambda s, W, v: torch.softmax(
        torch.einsum("bth,sh->bts", s, W[:v.shape[-1]]).masked_fill(~v[:, None], -1e9), -1))
    cases = {
        stub: "not implemented yet",
        (lambda s, W, v: torch.softmax(s @ W.T, -1)): "keep the first",
        (lambda s, W, v: torch.softmax((s @ W.T)[..., :v.shape[-1]], -1)): "padding positions got",
        (lambda s, W, v: torch.softmax((s @ W.T)[..., :v.shape[-1]], -1) * v[:, None]):
            "masked after the softmax",
        (lambda s, W, v: torch.softmax(s @ W.T, -1)[..., :v.shape[-1]] * v[:, None]):
            "wrong weights",
        (lambda s, W, v: (s @ W.T)[..., :v.shape[-1]].masked_fill(~v[:, None], 0)): "wrong weights",
        (lambda s, W, v: (s @ W.T)[..., :v.shape[-1]]): "apply the softmax",
        (lambda s, W, v: masked_softmax((s @ W.T)[..., :v.shape[-1]].transpose(1, 2),
                                        v[..., None]).transpose(1, 2)): "over the target steps",
        (lambda s, W, v: s.view(-1, s.shape[-1])): "raised RuntimeError",   # .view on a view
    }
    for fn, message in cases.items():
        result = check_location_weights(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def local_p(scores, centre, D):
    positions = torch.arange(scores.shape[-1]).view(1, 1, -1)
    distance = positions - centre.unsqueeze(-1)
    inside = distance.abs() <= D
    weights = torch.softmax(scores.masked_fill(~inside, float("-inf")), dim=-1)
    return weights * torch.exp(-distance ** 2 / (2 * (D / 2) ** 2))


def test_local_p_checker():
    assert check_local_p_weights(local_p)

    def no_window(scores, centre, D):
        distance = torch.arange(scores.shape[-1]).view(1, 1, -1) - centre.unsqueeze(-1)
        return torch.softmax(scores, -1) * torch.exp(-distance ** 2 / (2 * (D / 2) ** 2))

    def no_gauss(scores, centre, D):
        distance = torch.arange(scores.shape[-1]).view(1, 1, -1) - centre.unsqueeze(-1)
        return torch.softmax(scores.masked_fill(distance.abs() > D, float("-inf")), -1)

    def sigma_d(scores, centre, D):
        distance = torch.arange(scores.shape[-1]).view(1, 1, -1) - centre.unsqueeze(-1)
        return no_gauss(scores, centre, D) * torch.exp(-distance ** 2 / (2 * D ** 2))

    def renormalised(scores, centre, D):
        weights = local_p(scores, centre, D)
        return weights / weights.sum(-1, keepdim=True)

    def softmax_first(scores, centre, D):
        distance = torch.arange(scores.shape[-1]).view(1, 1, -1) - centre.unsqueeze(-1)
        return (torch.softmax(scores, -1) * (distance.abs() <= D)
                * torch.exp(-distance ** 2 / (2 * (D / 2) ** 2)))

    cases = {stub: "not implemented yet", no_window: "farther than R", no_gauss: "Gaussian factor",
             sigma_d: "σ should be R / 2", (lambda s, c, D: s): "farther than R",
             renormalised: "normalised again after the Gaussian",
             softmax_first: "the softmax ran over all positions"}
    for fn, message in cases.items():
        result = check_local_p_weights(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 5: gumbel_max and leave_one_out_baseline ----------------------------------
def test_gumbel_max_checker():
    from utils.checks import check_gumbel_max

    assert check_gumbel_max(lambda logits, u: (logits - torch.log(-torch.log(u))).argmax(-1))
    assert check_gumbel_max(lambda logits, u: torch.argmax(logits + -(-u.log()).log(), dim=-1))
    cases = {
        stub: "not implemented yet",
        (lambda lg, u: (lg + torch.log(-torch.log(u))).argmax(-1)): "wrong sign",
        (lambda lg, u: lg.argmax(-1)): "noise is missing",
        (lambda lg, u: u.argmax(-1)): "logits are missing",
        (lambda lg, u: (lg - torch.log(u)).argmax(-1)): "exponential noise",
        (lambda lg, u: (lg - torch.log(-torch.log(u))).argmax(0)): "returned shape",
        (lambda lg, u: torch.softmax(lg - torch.log(-torch.log(u)), -1)): "returned shape",
        (lambda lg, u: (lg - torch.log(-torch.log(u))).max(-1).values): "integer tensor",
        (lambda lg, u: (lg - torch.log(-torch.log(u))).argmin(-1)): "wrong indices",
    }
    for fn, message in cases.items():
        result = check_gumbel_max(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_leave_one_out_checker():
    from utils.checks import check_leave_one_out_baseline

    def loo(r):
        K = r.shape[1]
        return (r.sum(1, keepdim=True) - r) / (K - 1)

    assert check_leave_one_out_baseline(loo)
    assert check_leave_one_out_baseline(
        lambda r: torch.stack([torch.cat([r[:, :k], r[:, k + 1:]], 1).mean(1)
                               for k in range(r.shape[1])], 1))
    cases = {
        stub: "not implemented yet",
        (lambda r: r.mean(1, keepdim=True).expand_as(r)): "its own included",
        (lambda r: (r.sum(1, keepdim=True) - r) / r.shape[1]): "not by K",
        (lambda r: r.mean(0, keepdim=True).expand_as(r)): "averaged over the batch axis",
        (lambda r: r - loo(r)): "returned the advantage",
        (lambda r: loo(r).mean(1)): "returned shape",
        (lambda r: loo(r) + 1): "wrong baselines",
    }
    for fn, message in cases.items():
        result = check_leave_one_out_baseline(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 6: softmax_jacobian and attention_entropy ---------------------------------
def reinforce_k_loss(log_prob, rewards):
    rewards = rewards.detach()
    baseline = (rewards.sum(-1, keepdim=True) - rewards) / (rewards.shape[-1] - 1)
    return -((rewards - baseline) * log_prob).mean()


def test_reinforce_k_loss_checker():
    """The loss values of several wrong answers equal the solution's; only gradients tell."""
    from utils.checks import check_reinforce_k_loss
    from utils.models.glimpse import leave_one_out_baseline, reinforce_surrogate

    def loo(r):
        return (r.sum(-1, keepdim=True) - r) / (r.shape[-1] - 1)

    assert check_reinforce_k_loss(reinforce_k_loss)
    assert check_reinforce_k_loss(lambda lp, r: -((r - loo(r)).detach() * lp).mean())
    undetached = lambda lp, r: -((r - loo(r)) * lp).mean()            # noqa: E731
    lp, r = torch.randn(2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    assert torch.equal(undetached(lp, r), reinforce_k_loss(lp, r))   # same value, wrong gradient
    cases = {
        stub: "not implemented yet",
        undetached: "a gradient flows into the rewards",
        (lambda lp, r: -((r.detach() - loo(r)) * lp).mean()): "a gradient flows into the rewards",
        (lambda lp, r: -reinforce_k_loss(lp, r)): "the sign is flipped",
        (lambda lp, r: -(r.detach() * lp).mean()): "there is no baseline",
        (lambda lp, r: -((r - r.mean(-1, keepdim=True)).detach() * lp).mean()): "own reward",
        (lambda lp, r: -((r - loo(r)).detach() * lp).sum()): "the loss sums",
        (lambda lp, r: -((r - loo(r)).detach() * lp).sum(-1).mean()): "divided by B only",
        (lambda lp, r: reinforce_k_loss(lp, r).detach()): "carries no gradient",
        (lambda lp, r: -((r - loo(r)).detach() * lp)): "one-element tensor",
        (lambda lp, r: reinforce_surrogate(lp.flatten(), r.flatten(),
                                           leave_one_out_baseline(r).flatten())):
            "calls `utils.models.glimpse.reinforce_surrogate`",
    }
    for fn, message in cases.items():
        result = check_reinforce_k_loss(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_softmax_jacobian_checker():
    from utils.checks import check_softmax_jacobian

    def jacobian(a):
        return torch.diag_embed(a) - a.unsqueeze(-1) * a.unsqueeze(-2)

    assert check_softmax_jacobian(jacobian)
    assert check_softmax_jacobian(lambda a: a.unsqueeze(-1) * (torch.eye(a.shape[-1]) - a.unsqueeze(-2)))
    cases = {
        stub: "not implemented yet",
        (lambda a: torch.diag_embed(a)): "only the diagonal α_i is there",
        (lambda a: -a.unsqueeze(-1) * a.unsqueeze(-2)): "diagonal term α_i δ_ij is missing",
        (lambda a: -jacobian(a)): "sign is flipped",
        (lambda a: torch.diag_embed(a * (1 - a))): "only the diagonal α_i(1 − α_i)",
        (lambda a: torch.diag_embed(a) - a.unsqueeze(-2)): "subtracted α_j alone",
        (lambda a: jacobian(a)[..., 0]): "returned shape",
        (lambda a: jacobian(a) + 0.01): "wrong Jacobian",
    }
    for fn, message in cases.items():
        result = check_softmax_jacobian(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_attention_entropy_checker():
    from utils.checks import check_attention_entropy

    assert check_attention_entropy(lambda a: -(a * torch.log(a.clamp_min(1e-30))).sum(-1))
    assert check_attention_entropy(lambda a: -torch.special.xlogy(a, a).sum(-1))
    cases = {
        stub: "not implemented yet",
        (lambda a: -(a * a.log()).sum(-1)): "NaN on rows with masked",
        (lambda a: (a * a.clamp_min(1e-30).log()).sum(-1)): "sign is flipped",
        (lambda a: -(a * a.clamp_min(1e-30).log2()).sum(-1)): "in bits",
        (lambda a: -(a * a.clamp_min(1e-30).log()).mean(-1)): "averaged over the keys",
        (lambda a: -(a * a.clamp_min(1e-30).log()).sum(0)): "returned shape",
        (lambda a: -(a * a.clamp_min(1e-30).log())): "returned shape",
        (lambda a: -(a * (a + 0.1).log()).sum(-1)): "wrong entropy",
    }
    for fn, message in cases.items():
        result = check_attention_entropy(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 7: causal_mask and sinusoidal_positions -----------------------------------
def test_causal_mask_checker():
    from utils.checks import check_causal_mask

    assert check_causal_mask(lambda L: torch.ones(L, L, dtype=torch.bool).tril())
    assert check_causal_mask(lambda L: torch.arange(L).unsqueeze(1) >= torch.arange(L))
    cases = {
        stub: "not implemented yet",
        (lambda L: torch.ones(L, L, dtype=torch.bool).triu(1)): "swapped",
        (lambda L: torch.ones(L, L, dtype=torch.bool).triu()): "upper triangle",
        (lambda L: torch.ones(L, L, dtype=torch.bool).tril(-1)): "diagonal is missing",
        (lambda L: torch.ones(L, L).tril()): "bool mask",
        (lambda L: torch.ones(L, L, dtype=torch.bool)): "wrong mask",
        (lambda L: torch.ones(L, dtype=torch.bool)): "returned shape",
    }
    for fn, message in cases.items():
        result = check_causal_mask(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_sinusoidal_positions_checker():
    from utils.checks import check_sinusoidal_positions

    def pe(length, dim):
        p = torch.arange(length).unsqueeze(1)
        angle = p / 10000 ** (torch.arange(0, dim, 2) / dim)
        out = torch.zeros(length, dim)
        out[:, 0::2], out[:, 1::2] = torch.sin(angle), torch.cos(angle)
        return out

    def variant(order="interleave", exponent=2):
        def fn(length, dim):
            p = torch.arange(length).unsqueeze(1)
            angle = p / 10000 ** (exponent * torch.arange(dim // 2) / dim)
            s, c = torch.sin(angle), torch.cos(angle)
            if order == "halves":
                return torch.cat([s, c], -1)
            first, second = (c, s) if order == "swapped" else (s, c)
            return torch.stack([first, second], -1).flatten(1)
        return fn

    assert check_sinusoidal_positions(pe)
    assert check_sinusoidal_positions(variant())
    cases = {
        stub: "not implemented yet",
        variant("swapped"): "swapped",
        variant("halves"): "interleaves",
        variant(exponent=4): "doubled",
        variant(exponent=1): "not i/dim",
        (lambda length, dim: pe(length, dim) * 2): "wrong encodings",
        (lambda length, dim: pe(length, dim)[:, :1]): "returned shape",
    }
    for fn, message in cases.items():
        result = check_sinusoidal_positions(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 8: nn.MultiheadAttention's forward pass; what each head adds ------------------
def torch_mha(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight, out_proj_bias,
              num_heads, key_padding_mask=None, *, transpose=True, biases=True, scale=True,
              ignore=True, per_head=True):
    """The solution, with switches for the mistakes the checker must name."""
    B, L, E = query.shape
    H, D = num_heads, E // num_heads
    b_in, b_out = (in_proj_bias, out_proj_bias) if biases else (0 * in_proj_bias, 0 * out_proj_bias)

    def linear(x, W, b):
        return (x @ W.T if transpose else x @ W) + b

    q, k, v = (linear(x, W, b).view(B, x.shape[1], H, D).transpose(1, 2)
               for x, W, b in zip((query, key, value), in_proj_weight.chunk(3), b_in.chunk(3)))
    scores = q @ k.transpose(-2, -1) / (D ** 0.5 if scale else 1)          # (B, H, L, S)
    if key_padding_mask is not None:
        drop = key_padding_mask if ignore else ~key_padding_mask
        scores = scores.masked_fill(drop.view(B, 1, 1, -1), float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    output = linear((weights @ v).transpose(1, 2).reshape(B, L, E), out_proj_weight, b_out)
    return output, weights if per_head else weights.mean(1)


def test_torch_mha_checker():
    from torch import nn

    from utils.checks import check_torch_mha

    assert check_torch_mha(torch_mha)

    def torch_itself(q, k, v, W, b, W_o, b_o, H, padding=None):
        mha = nn.MultiheadAttention(q.shape[-1], H, batch_first=True)
        with torch.no_grad():
            mha.in_proj_weight.copy_(W), mha.in_proj_bias.copy_(b)
            mha.out_proj.weight.copy_(W_o), mha.out_proj.bias.copy_(b_o)
        return mha(q, k, v, key_padding_mask=padding, average_attn_weights=False)

    def variant(**switches):
        return lambda *args: torch_mha(*args, **switches)

    cases = {
        stub: "not implemented yet",
        variant(transpose=False): "compute x @ W.T",
        variant(biases=False): "the biases are missing",
        variant(scale=False): "divide by sqrt(D)",
        variant(ignore=False): "is the padding mask inverted",
        variant(per_head=False): "return them per head",
        (lambda *a: (torch_mha(*a)[0] + 1, torch_mha(*a)[1])): "the weights are right but",
        (lambda *a: torch_mha(*a)[0]): "must return a tuple",
        torch_itself: "calls `torch.nn.modules.activation.MultiheadAttention.forward`",
    }
    for fn, message in cases.items():
        result = check_torch_mha(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def head_outputs(context, W_o, H):
    B, H, L, D = context.shape
    return context @ W_o.view(H, D, -1)               # (B, H, L, D) @ (H, D, E) -> (B, H, L, E)


def test_head_outputs_checker():
    from utils.checks import check_head_outputs

    def merged(c, W_o):
        return c.transpose(1, 2).reshape(c.shape[0], c.shape[2], -1) @ W_o

    assert check_head_outputs(head_outputs)
    assert check_head_outputs(lambda c, W_o, H: torch.stack(
        [c[:, h] @ W_o[h * c.shape[-1]:(h + 1) * c.shape[-1]] for h in range(H)], dim=1))
    cases = {
        stub: "not implemented yet",
        (lambda c, W_o, H: c @ W_o.T.reshape(H, c.shape[-1], -1)): "each head used columns",
        (lambda c, W_o, H: merged(c, W_o).unsqueeze(1).expand(-1, H, -1, -1) / H): "same share",
        (lambda c, W_o, H: merged(c, W_o).unsqueeze(1).expand(-1, H, -1, -1)): "the whole output",
        (lambda c, W_o, H: head_outputs(c, W_o, H) + 1): "wrong head outputs",
        (lambda c, W_o, H: merged(c, W_o)): "returned shape",
    }
    for fn, message in cases.items():
        result = check_head_outputs(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 7: scaled dot-product attention with PyTorch's masks ------------------------------
def scaled_attention(query, key, value, attn_mask=None, is_causal=False):
    L, S = query.shape[-2], key.shape[-2]
    scores = query @ key.transpose(-2, -1) / query.shape[-1] ** 0.5        # (..., L, S)
    if is_causal:
        attn_mask = torch.ones(L, S, dtype=torch.bool).tril()
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    elif attn_mask is not None:
        scores = scores + attn_mask
    return torch.softmax(scores, dim=-1).nan_to_num(0.0) @ value


def test_the_scaled_attention_reference_is_pytorchs():
    import torch.nn.functional as F

    from utils.checks.selfattention import _attention

    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 4, 8, generator=gen), torch.randn(2, 3, 6, 8, generator=gen),
               torch.randn(2, 3, 6, 5, generator=gen))
    valid = torch.rand(2, 1, 4, 6, generator=gen) > 0.3
    valid[..., 0] = True                                   # every query keeps a key
    added = torch.randn(4, 6, generator=gen)
    for ours, theirs in ((_attention(q, k, v), F.scaled_dot_product_attention(q, k, v)),
                         (_attention(q, k, v, valid), F.scaled_dot_product_attention(q, k, v, valid)),
                         (_attention(q, k, v, added=added),
                          F.scaled_dot_product_attention(q, k, v, added)),
                         (_attention(q, k, v, causal="top-left"),
                          F.scaled_dot_product_attention(q, k, v, is_causal=True))):
        assert torch.allclose(ours, theirs, atol=1e-6)


def test_scaled_attention_checker():
    import torch.nn.functional as F

    from utils.checks import check_scaled_attention

    def with_mask(change):
        return lambda q, k, v, m=None, c=False: scaled_attention(q, k, v, change(m), c)

    def bottom_right(q, k, v, m=None, c=False):
        if c:
            m = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril(k.shape[-2] - q.shape[-2])
        return scaled_attention(q, k, v, m)

    def no_guard(q, k, v, m=None, c=False):
        s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        m = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril() if c else m
        if m is not None:
            s = s.masked_fill(~m, float("-inf")) if m.dtype == torch.bool else s + m
        return torch.softmax(s, -1) @ v

    def is_bool(m):
        return m is not None and m.dtype == torch.bool

    assert check_scaled_attention(scaled_attention)

    def with_pytorch_signature(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                               scale=None):
        assert dropout_p == 0.0 and scale is None
        return scaled_attention(query, key, value, attn_mask, is_causal)

    def keywords_only(query, key, value, *, is_causal=False, attn_mask=None):
        return scaled_attention(query, key, value, attn_mask, is_causal)

    assert check_scaled_attention(with_pytorch_signature)       # a correct answer, PyTorch's names
    assert check_scaled_attention(keywords_only)
    cases = {
        stub: "not implemented yet",
        (lambda q, k, v, m=None, c=False: scaled_attention(q * q.shape[-1] ** 0.5, k, v, m, c)):
            "the scores are not scaled",
        with_mask(lambda m: ~m if is_bool(m) else m): "the bool mask is inverted",
        with_mask(lambda m: m if m is None or is_bool(m) else None): "the float mask is ignored",
        with_mask(lambda m: m if m is None or is_bool(m) else torch.log(m.abs())):
            "wrong output on a float mask",
        (lambda q, k, v, m=None, c=False: scaled_attention(q, k, v, m)): "is_causal=True is ignored",
        bottom_right: "aligned at the bottom right",
        no_guard: "must get a zero output",
        (lambda q, k, v, m=None, c=False: no_guard(q, k, v, ~m if is_bool(m) else m, c)):
            "is the bool mask inverted?",
        (lambda q, k, v, m=None, c=False: (scaled_attention(q, k, v, m, c), None)): "returned a tuple",
        (lambda q, k, v, m=None, c=False: scaled_attention(q, k, v, m, c).transpose(-2, -1)):
            "returned shape",
        (lambda q, k, v, m=None, c=False: F.scaled_dot_product_attention(q, k, v, m, is_causal=c)):
            "calls `torch.nn.functional.scaled_dot_product_attention`",
    }
    for fn, message in cases.items():
        result = check_scaled_attention(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 9: beam search ------------------------------------------------------------
def test_beam_search_checker():
    from utils.checks import check_beam_search
    from utils.models.decoding import beam_search

    assert not check_beam_search(beam_search)            # the book's own: rejected
    beam_search = copied(beam_search)
    assert check_beam_search(beam_search)

    def greedy(log_probs_fn, beam_size, max_len):
        tokens = [1]
        for _ in range(max_len):
            tokens.append(int(log_probs_fn(torch.tensor([tokens]))[0].argmax()))
            if tokens[-1] == 2:
                break
        return tokens[1:]

    def with_bos(f, beam, n):
        return [1] + beam_search(f, beam, n)

    def never_finishes(log_probs_fn, beam_size, max_len):
        beams = [([1], 0.0)]
        for _ in range(max_len):
            lp = log_probs_fn(torch.tensor([t for t, _ in beams]))
            cands = [(t + [v], s + x) for (t, s), row in zip(beams, lp.tolist())
                     for v, x in enumerate(row)]
            beams = sorted(cands, key=lambda c: -c[1])[:beam_size]
        return max(beams, key=lambda c: c[1])[0][1:]

    def last_step_only(log_probs_fn, beam_size, max_len):   # ranks by the last token's score
        beams = [([1], 0.0)]
        finished = []
        for _ in range(max_len):
            lp = log_probs_fn(torch.tensor([t for t, _ in beams]))
            cands = [(t + [v], x) for (t, _), row in zip(beams, lp.tolist())
                     for v, x in enumerate(row)]
            cands.sort(key=lambda c: -c[1])
            beams = []
            for t, s in cands[:beam_size]:
                (finished if t[-1] == 2 else beams).append((t, s))
            if not beams:
                break
        return max(finished + beams, key=lambda c: c[1])[0][1:]

    cases = {
        stub: "not implemented yet",
        greedy: "still the greedy one",
        with_bos: "starts with BOS",
        never_finishes: "must not be extended",
        last_step_only: "wide enough",
        (lambda f, b, n: "4 2"): "list of token ids",
    }
    for fn, message in cases.items():
        result = check_beam_search(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 13: online softmax ----------------------------------------------------------
def test_online_softmax_checker():
    from utils.checks import check_online_softmax_update

    def update(m, l, s):
        m_new = torch.maximum(m, s.amax(-1))
        safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        return m_new, torch.exp(m - safe) * l + torch.exp(s - safe.unsqueeze(-1)).sum(-1)

    def no_guard(m, l, s):
        m_new = torch.maximum(m, s.amax(-1))
        return m_new, torch.exp(m - m_new) * l + torch.exp(s - m_new.unsqueeze(-1)).sum(-1)

    def no_rescale(m, l, s):
        m_new, _ = update(m, l, s)
        safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        return m_new, l + torch.exp(s - safe.unsqueeze(-1)).sum(-1)

    def no_max(m, l, s):
        return torch.zeros_like(m), l + torch.exp(s).sum(-1)

    def chunk_max_only(m, l, s):
        m_new = s.amax(-1)
        return m_new, torch.exp(m - m_new) * l + torch.exp(s - m_new.unsqueeze(-1)).sum(-1)

    assert check_online_softmax_update(update)
    cases = {
        stub: "not implemented yet",
        no_guard: "NaN",
        no_rescale: "not rescaled",
        no_max: "overflow",
        chunk_max_only: "wrong maximum",
        (lambda m, l, s: update(m, l, s)[1]): "tuple (m, l)",
        (lambda m, l, s: (update(m, l, s)[0], update(m, l, s)[1] * 1.01)): "wrong running sum",
    }
    for fn, message in cases.items():
        result = check_online_softmax_update(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 13: attention over two parts of the keys, merged ------------------------------
def combine(o1, lse1, o2, lse2):
    lse = torch.logaddexp(lse1, lse2)                                   # (..., L)
    safe = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)    # no key at all
    return (torch.exp(lse1 - safe).unsqueeze(-1) * o1
            + torch.exp(lse2 - safe).unsqueeze(-1) * o2)


def test_combine_partials_checker():
    from utils.checks import check_combine_partials

    def overflowing(o1, lse1, o2, lse2):
        e1, e2 = torch.exp(lse1).unsqueeze(-1), torch.exp(lse2).unsqueeze(-1)
        return (e1 * o1 + e2 * o2) / (e1 + e2)

    def unguarded(o1, lse1, o2, lse2):
        lse = torch.logaddexp(lse1, lse2).unsqueeze(-1)
        return torch.exp(lse1.unsqueeze(-1) - lse) * o1 + torch.exp(lse2.unsqueeze(-1) - lse) * o2

    assert check_combine_partials(combine)

    def by_sigmoid(o1, lse1, o2, lse2):          # exact in real arithmetic: w1 = sigmoid(lse1 - lse2)
        w1 = torch.sigmoid(lse1 - lse2).nan_to_num(0.0).unsqueeze(-1)
        return w1 * o1 + (1 - w1) * o2

    def by_softmax(o1, lse1, o2, lse2):          # a softmax over the two logsumexps
        w = torch.softmax(torch.stack([lse1, lse2], -1), -1).nan_to_num(0.0)
        return w[..., :1] * o1 + w[..., 1:] * o2

    assert check_combine_partials(by_sigmoid)    # other correct answers are accepted, also at
    assert check_combine_partials(by_softmax)    # scores near 1000
    cases = {
        stub: "not implemented yet",
        (lambda o1, l1, o2, l2: (o1 + o2) / 2): "you averaged the two parts",
        (lambda o1, l1, o2, l2: o1 + o2): "added without weights",
        overflowing: "exp(lse) overflows",
        unguarded: "guard a query that has no key at all",
        (lambda o1, l1, o2, l2: combine(o1, l1, o2, l2) * 1.01): "wrong output",
        (lambda o1, l1, o2, l2: combine(o1, l1, o2, l2)[..., 0]): "returned shape",
    }
    for fn, message in cases.items():
        result = check_combine_partials(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 12: patches back into images ------------------------------------------------
def from_patches(patches, H, W):
    N, n, PP = patches.shape
    P = round(PP ** 0.5)
    grid = patches.reshape(N, H // P, W // P, P, P)                # (N, rows, cols, P, P)
    return grid.permute(0, 1, 3, 2, 4).reshape(N, H, W)


def test_unpatchify_checker():
    import torch.nn.functional as F

    from utils.checks import check_unpatchify

    def side(patches):
        return round(patches.shape[-1] ** 0.5)

    assert check_unpatchify(from_patches)
    assert check_unpatchify(lambda p, H, W: F.fold(p.transpose(1, 2), (H, W), side(p),
                                                   stride=side(p)).squeeze(1))
    cases = {
        stub: "not implemented yet",
        (lambda p, H, W: p.reshape(p.shape[0], H, W)): "plain reshape",
        (lambda p, H, W: p.reshape(p.shape[0], H // side(p), W // side(p), side(p), side(p))
         .permute(0, 1, 4, 2, 3).reshape(p.shape[0], H, W)): "each patch is transposed",
        (lambda p, H, W: from_patches(p, H, W).transpose(1, 2)): "wrong images",
        (lambda p, H, W: from_patches(p, H, W) * 2): "wrong images",
        (lambda p, H, W: p): "returned shape",
    }
    for fn, message in cases.items():
        result = check_unpatchify(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 10: top-k filtering and a preallocated key-value cache ---------------------------
def test_top_k_logits_checker():
    from utils.checks import check_top_k_logits

    def top_k(logits, k):
        kth = logits.topk(k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))

    def in_place(logits, k):
        kth = logits.topk(k, dim=-1).values[..., -1:]
        return logits.masked_fill_(logits < kth, float("-inf"))

    def sorted_scatter(logits, k):
        values, index = logits.topk(k, dim=-1)
        return torch.full_like(logits, float("-inf")).scatter(-1, index, values)

    assert check_top_k_logits(top_k)
    assert check_top_k_logits(sorted_scatter)
    cases = {
        stub: "not implemented yet",
        in_place: "changed the logits",
        (lambda x, k: torch.softmax(top_k(x, k), -1)): "returned probabilities",
        (lambda x, k: torch.nan_to_num(top_k(x, k), neginf=0.0)): "set them to -inf",
        (lambda x, k: x.masked_fill(x <= x.topk(k, -1).values[..., -1:], float("-inf"))): "k - 1",
        (lambda x, k: x.masked_fill(x < x.topk(min(k + 1, x.shape[-1]), -1).values[..., -1:],
                                    float("-inf"))): "k + 1",
        (lambda x, k: x.masked_fill(x > x.topk(k, -1, largest=False).values[..., -1:],
                                    float("-inf"))): "k smallest",
        (lambda x, k: x.masked_fill(x < x.flatten().topk(k).values[-1], float("-inf"))): "wrong result",
        (lambda x, k: top_k(x, k)[:1]): "shaped like the logits",
    }
    for fn, message in cases.items():
        result = check_top_k_logits(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def cache_write(buffer_k, buffer_v, length, key, value):
    end = length + key.shape[2]
    if end > buffer_k.shape[2]:
        raise ValueError(f"{end} positions do not fit a cache of {buffer_k.shape[2]}")
    buffer_k[:, :, length:end], buffer_v[:, :, length:end] = key, value
    return buffer_k[:, :, :end], buffer_v[:, :, :end]


def test_cache_write_checker():
    from utils.attention import KVCache
    from utils.checks import check_cache_write

    assert check_cache_write(cache_write)

    def at_zero(buffer_k, buffer_v, length, key, value):
        T = key.shape[2]
        buffer_k[:, :, :T], buffer_v[:, :, :T] = key, value
        return buffer_k[:, :, :length + T], buffer_v[:, :, :length + T]

    def unchecked(buffer_k, buffer_v, length, key, value):
        end = length + key.shape[2]
        buffer_k[:, :, length:end], buffer_v[:, :, length:end] = key, value
        return buffer_k[:, :, :end], buffer_v[:, :, :end]

    def unchecked_then_raise(buffer_k, buffer_v, length, key, value):
        end = min(length + key.shape[2], buffer_k.shape[2])
        buffer_k[:, :, length:end] = key[:, :, :end - length]               # writes what fits
        if length + key.shape[2] > buffer_k.shape[2]:
            raise ValueError("does not fit")
        buffer_v[:, :, length:end] = value
        return buffer_k[:, :, :end], buffer_v[:, :, :end]

    def book_cache(buffer_k, buffer_v, length, key, value):
        cache = KVCache()
        cache.update(buffer_k[:, :, :length], buffer_v[:, :, :length])
        return cache.update(key, value)

    cases = {
        stub: "not implemented yet",
        (lambda bk, bv, n, k, v: tuple(t.clone() for t in cache_write(bk, bv, n, k, v))):
            "are copies",
        (lambda bk, bv, n, k, v: (torch.cat([bk[:, :, :n], k], 2), torch.cat([bv[:, :, :n], v], 2))):
            "the buffers do not hold them",
        (lambda bk, bv, n, k, v: cache_write(bk.clone(), bv.clone(), n, k, v)):
            "the buffers do not hold them",
        (lambda bk, bv, n, k, v: (cache_write(bk, bv, n, k, v), (bk, bv))[1]): "filled ones only",
        at_zero: "write the new ones at positions length",
        (lambda bk, bv, n, k, v: cache_write(bk, bv, n, k, v)[::-1]): "returned keys and values",
        unchecked: "raised RuntimeError; raise ValueError",
        (lambda bk, bv, n, k, v: cache_write(bk, bv, n, k, v) if n + k.shape[2] <= bk.shape[2]
         else (bk, bv)): "must raise ValueError",
        book_cache: "calls `utils.attention.cache.KVCache.update`",
        unchecked_then_raise: "check that they fit before writing",
    }
    for fn, message in cases.items():
        result = check_cache_write(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 11: WordPiece and max pooling ---------------------------------------------------
def test_wordpiece_checker():
    from utils.checks import check_wordpiece
    from utils.checks.bert import wordpiece

    assert "calls `utils.checks.bert.wordpiece`" in check_wordpiece(wordpiece).message
    wordpiece = copied(wordpiece)
    _shortest_first = lambda w, v: wordpiece(w, v, longest_first=False)  # noqa: E731

    def partial_unk(word, vocab):
        pieces, start = [], 0
        while start < len(word):
            for end in range(len(word), start, -1):
                if ("##" if start else "") + word[start:end] in vocab:
                    pieces.append(("##" if start else "") + word[start:end])
                    break
            else:
                pieces.append("[UNK]")
                end = start + 1
            start = end
        return pieces

    assert check_wordpiece(wordpiece)
    cases = {
        stub: "not implemented yet",
        _shortest_first: "shortest piece",
        (lambda w, v: wordpiece(w, v, prefix="")): "'##' prefix",
        partial_unk: "single '[UNK]'",
        (lambda w, v: [w]): "should give",
        (lambda w, v: " ".join(wordpiece(w, v))): "list of strings",
    }
    for fn, message in cases.items():
        result = check_wordpiece(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_reference_wordpiece_equals_the_real_tokenizer():
    """The checker's WordPiece, with MiniLM's vocabulary, splits real words as `tokenizers`
    does."""
    import re

    from utils.checks.bert import wordpiece
    from utils.data.text import pydoc_text
    from utils.pretrained import load_minilm

    _, tokenizer = load_minilm()
    vocab = tokenizer.get_vocab()
    words = sorted(set(re.findall(r"[a-z]+", pydoc_text()[:100_000].lower())))
    words += ["unaffable", "tokenization", "transformers", "xqzvbw" * 3]
    for word in words:
        assert wordpiece(word, vocab) == tokenizer.encode(word).tokens[1:-1], word


def max_pooling(hidden, attention_mask):
    padding = attention_mask.unsqueeze(-1) == 0                      # (N, L, 1)
    return hidden.masked_fill(padding, float("-inf")).amax(dim=1)


def test_max_pool_checker():
    import torch.nn.functional as F

    from utils.checks import check_max_pool

    def masked(h, m):
        return h * m.unsqueeze(-1)

    assert check_max_pool(max_pooling)
    assert check_max_pool(lambda h, m: (h - 1e9 * (1 - m.unsqueeze(-1))).max(dim=1).values)
    cases = {
        stub: "not implemented yet",
        (lambda h, m: h.amax(dim=1)): "padding positions take part",
        (lambda h, m: masked(h, m).amax(dim=1)): "a zero wins",
        (lambda h, m: masked(h, m).sum(1) / m.sum(1, keepdim=True)): "that is the mean",
        (lambda h, m: F.normalize(max_pooling(h, m), dim=-1)): "normalised to unit length",
        (lambda h, m: max_pooling(h, m) + 1): "wrong maxima",
        (lambda h, m: h.amax(dim=2)): "returned shape",
        (lambda h, m: max_pooling(h, m).double()): "dtype torch.float64",
    }
    for fn, message in cases.items():
        result = check_max_pool(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- any dtype gets a sentence, never a traceback -------------------------------------------
def _cast(result, dtype):
    if torch.is_tensor(result):
        return result.to(dtype)
    if isinstance(result, tuple):
        return tuple(_cast(r, dtype) for r in result)
    return result


def _rotate(x, positions, base):
    D = x.shape[-1]
    theta = 1.0 / base ** (torch.arange(0, D, 2, dtype=torch.float32) / D)
    angle = positions.float().unsqueeze(-1) * theta
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * angle.cos() - second * angle.sin(),
                      first * angle.sin() + second * angle.cos()], dim=-1).to(x.dtype)


def _float_solutions():
    from utils.checks import (check_attention_entropy, check_combine_partials, check_repeat_kv,
                              check_rotary,
                              check_head_outputs, check_max_pool,
                              check_scaled_attention, check_softmax_jacobian, check_top_k_logits, check_torch_mha,
                              check_unpatchify)

    def top_k(logits, k):
        kth = logits.topk(k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))

    return {
        "last_valid_state": (check_last_valid_state, last_state),
        "masked_softmax": (check_masked_softmax, masked_softmax),
        "dot_product_attention": (check_dot_product_attention, dot_attention),
        "additive_scores": (check_additive_scores, additive),
        "location_weights": (check_location_weights, location),
        "local_p_weights": (check_local_p_weights, local_p),
        "softmax_jacobian": (check_softmax_jacobian, lambda a: a.unsqueeze(-1) * (
            torch.eye(a.shape[-1], dtype=a.dtype) - a.unsqueeze(-2))),
        "attention_entropy": (check_attention_entropy, lambda a: -torch.special.xlogy(a, a).sum(-1)),
        "torch_mha": (check_torch_mha, torch_mha),
        "scaled_attention": (check_scaled_attention, scaled_attention),
        "combine_partials": (check_combine_partials, combine),
        "head_outputs": (check_head_outputs, head_outputs),
        "unpatchify": (check_unpatchify, from_patches),
        "max_pool": (check_max_pool, max_pooling),
        "top_k_logits": (check_top_k_logits, top_k),
        "rotary": (check_rotary, _rotate),
        "repeat_kv": (check_repeat_kv, lambda x, H: x.repeat_interleave(H // x.shape[1], dim=1)),
    }


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64])
@pytest.mark.parametrize("name", sorted(_float_solutions()))
def test_a_wrong_dtype_gets_a_sentence_not_a_traceback(name, dtype):
    check, solution = _float_solutions()[name]
    if name in ("softmax_jacobian", "combine_partials") and dtype == torch.float64:
        dtype = torch.float32                   # these checkers' inputs are float64 already
    assert check(solution), name
    result = check(lambda *args: _cast(solution(*args), dtype))   # must not raise
    assert isinstance(result, CheckResult) and not result, (name, dtype)
    assert "\n" not in result.message and (str(dtype) in result.message
                                          or "dtype" in result.message), result.message


# ---- an answer that calls the book's own implementation is rejected --------------------------
def _book_answers():
    """Each checker with an answer that only calls the book's (or PyTorch's) finished
    implementation of what the exercise asks for, and the name the rejection must give."""
    import torch.nn.functional as F

    from utils import checks
    from utils.attention import (AdditiveAttention, KVCache, MultiHeadAttention,
                                 attention_entropy, causal_mask, masked_softmax,
                                 scaled_dot_product_attention)
    from utils.attention.relative import apply_rotary, rotary_cos_sin
    from utils.attention.scaled import _share_key_value_heads
    from utils.attention.tiled import tiled_attention
    from utils.checks.bert import wordpiece
    from utils.checks.generation import _top_k_reference
    from utils.metrics import alignment_hits, token_accuracy
    from utils.models.decoding import beam_search
    from utils.models.glimpse import gumbel_max, leave_one_out_baseline, reinforce_surrogate
    from utils.models.luong import local_weights
    from utils.models.positional import sinusoidal_positions
    from utils.models.rnn import last_valid_state
    from utils.train import sequence_loss

    def additive(query, keys, W_query, W_key, v):
        module = AdditiveAttention(W_query.shape[1], W_key.shape[1], W_key.shape[0])
        return AdditiveAttention.project_keys(module, keys)[..., 0]

    return {
        "last_valid_state": (checks.check_last_valid_state, last_valid_state, "last_valid_state"),
        "token_accuracy": (checks.check_token_accuracy, token_accuracy, "token_accuracy"),
        "masked_softmax": (checks.check_masked_softmax, masked_softmax, "masked_softmax"),
        "dot_product_attention, the book's": (
            checks.check_dot_product_attention,
            lambda q, k, v: (scaled_dot_product_attention(q, k, v, scale=1.0),
                             torch.softmax(q @ k.transpose(1, 2), -1)),
            "scaled_dot_product_attention"),
        "scaled_attention, the book's": (
            checks.check_scaled_attention,
            lambda q, k, v, m=None, c=False: scaled_dot_product_attention(q, k, v, m, is_causal=c)[0],
            "scaled_dot_product_attention"),
        "scaled_attention, tiled": (
            checks.check_scaled_attention,
            lambda q, k, v, m=None, c=False: tiled_attention(q, k, v, is_causal=c),
            "tiled_attention"),
        "dot_product_attention, PyTorch's": (
            checks.check_dot_product_attention,
            lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, scale=1.0),
                             torch.softmax(q @ k.transpose(1, 2), -1)),
            "torch.nn.functional.scaled_dot_product_attention"),
        "additive_scores": (checks.check_additive_scores, additive, "AdditiveAttention.project_keys"),
        "alignment_hits": (checks.check_alignment_hits, alignment_hits, "alignment_hits"),
        "local_p_weights": (checks.check_local_p_weights,
                            lambda s, c, R: local_weights(s, torch.ones_like(s, dtype=torch.bool),
                                                          c.unsqueeze(-1), R, gaussian=True),
                            "local_weights"),
        "gumbel_max": (checks.check_gumbel_max, gumbel_max, "gumbel_max"),
        "reinforce_k_loss": (checks.check_reinforce_k_loss, lambda lp, r: reinforce_surrogate(
            lp.flatten(), r.flatten(), leave_one_out_baseline(r.detach()).flatten()),
            "reinforce_surrogate"),
        "leave_one_out_baseline": (checks.check_leave_one_out_baseline, leave_one_out_baseline,
                                   "leave_one_out_baseline"),
        "softmax_jacobian": (checks.check_softmax_jacobian, lambda a: torch.stack([
            torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), row)
            for row in a.log().reshape(-1, a.shape[-1])]).reshape(a.shape + a.shape[-1:]),
            "jacobian"),
        "attention_entropy": (checks.check_attention_entropy, attention_entropy,
                              "attention_entropy"),
        "causal_mask": (checks.check_causal_mask, causal_mask, "causal_mask"),
        "cache_write": (checks.check_cache_write, lambda bk, bv, n, k, v: KVCache().update(
            torch.cat([bk[:, :, :n], k], 2), torch.cat([bv[:, :, :n], v], 2)), "KVCache.update"),
        "sinusoidal_positions": (checks.check_sinusoidal_positions, sinusoidal_positions,
                                 "sinusoidal_positions"),
        "torch_mha, the book's module": (
            checks.check_torch_mha, lambda q, k, v, W, b, W_o, b_o, H, pad: MultiHeadAttention(
                q.shape[-1], H)(q, k, v, key_padding_mask=pad, average_attn_weights=False),
            "MultiHeadAttention.forward"),
        "beam_search": (checks.check_beam_search, beam_search, "beam_search"),
        "wordpiece (the checker's own reference)": (checks.check_wordpiece, wordpiece,
                                                    "utils.checks.bert.wordpiece"),
        "top_k_logits (the checker's own reference)": (checks.check_top_k_logits,
                                                       _top_k_reference, "_top_k_reference"),
        "rotary": (checks.check_rotary, lambda x, p, base: apply_rotary(
            x, *(t.to(x.dtype) for t in rotary_cos_sin(p, x.shape[-1], base))), "rotary_cos_sin"),
        "repeat_kv": (checks.check_repeat_kv, lambda x, H: _share_key_value_heads(
            x.new_zeros(x.shape[0], H, 1, 1), x, x)[1], "_share_key_value_heads"),
        "window_mask": (checks.check_window_mask, lambda L, w: causal_mask(L, window=w),
                        "causal_mask"),
        "causal_lm_loss": (checks.check_causal_lm_loss, lambda logits, tokens, pad_id:
                           sequence_loss(logits[:, :-1], tokens[:, 1:]), "sequence_loss"),
        "encoder layer, the book's block": (checks.check_encoder_layer,
                                            _wrapping_layer(decoder=False), "TransformerBlock.forward"),
        "decoder layer, PyTorch's": (checks.check_decoder_layer, _wrapping_layer(decoder=True),
                                     "TransformerDecoderLayer.forward"),
        "cached GPT, the book's": (checks.check_cached_gpt, _wrapping_gpt(), "GPT.forward"),
        "tiled_attention, the book's": (checks.check_tiled_attention, tiled_attention,
                                        "tiled_attention"),
        "ViT, the book's": (checks.check_vit, _wrapping_vit(), "TinyViT.forward"),
        "Llama block, the book's": (checks.check_llama_block, _wrapping_llama(),
                                    "TransformerBlock.forward"),
    }


def _wrapping_layer(decoder):
    """A layer with PyTorch's parts whose forward hands the work to a finished layer."""
    from torch import nn

    from utils.models.blocks import TransformerBlock

    class Wrapping(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False):
            super().__init__()
            self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
            self.multihead_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
            if not decoder:
                del self.multihead_attn
            self.linear1 = nn.Linear(d_model, dim_feedforward)
            self.linear2 = nn.Linear(dim_feedforward, d_model)
            self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
            if not decoder:
                del self.norm3
            self.args = d_model, nhead, dim_feedforward, norm_first

        def forward(self, x, memory=None, tgt_mask=None, memory_key_padding_mask=None,
                    src_key_padding_mask=None):
            d, h, f, first = self.args
            if decoder:
                return nn.TransformerDecoderLayer(d, h, f, 0.0, norm_first=first, batch_first=True
                                                  ).double()(x, memory, tgt_mask=tgt_mask)
            return TransformerBlock(d, h, f).double()(x, src_key_padding_mask)[0]
    return Wrapping


def _wrapping_llama():
    from torch import nn

    from utils.models.blocks import TransformerBlock

    class Wrapping(nn.Module):
        def __init__(self, d_model, heads, kv_heads, d_ff, base=10000.0, eps=1e-5):
            super().__init__()
            block = TransformerBlock(d_model, heads, d_ff, causal=True, normalization="rms",
                                     activation="swiglu", bias=False,
                                     attention={"num_kv_heads": kv_heads, "rope_base": base})
            self.block = [block]                                  # not a registered part
            mha, ffn = block.self_attention, block.ffn
            self.input_layernorm, self.post_attention_layernorm = block.norm1, block.norm2
            self.self_attn = nn.ModuleDict({"q_proj": mha.q_proj, "k_proj": mha.k_proj,
                                            "v_proj": mha.v_proj, "o_proj": mha.out_proj})
            self.mlp = nn.ModuleDict({"gate_proj": ffn.gate_proj, "up_proj": ffn.up_proj,
                                      "down_proj": ffn.down_proj})

        def forward(self, x):
            return self.block[0](x)[0]
    return Wrapping


def _wrapping_vit():
    from torch import nn

    from utils.models.blocks import TransformerBlock
    from utils.models.vit import TinyViT, ViTConfig

    class Wrapping(nn.Module):
        def __init__(self, image_size, patch, d_model, heads, layers, d_ff, classes):
            super().__init__()
            n = (image_size // patch) ** 2
            self.embed = nn.Linear(patch * patch, d_model)
            self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
            self.positions = nn.Parameter(torch.zeros(1, n + 1, d_model))
            self.blocks = nn.ModuleList(TransformerBlock(d_model, heads, d_ff)
                                        for _ in range(layers))
            self.norm, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, classes)
            self.config = ViTConfig(image_size, patch, d_model, heads, layers, d_ff, 0.0, classes)

        def forward(self, images):
            return TinyViT(self.config).double()(images)[0]
    return Wrapping


def _wrapping_gpt():
    from torch import nn

    from utils.models.gpt import GPT, GPTConfig

    class Block(nn.Module):
        def __init__(self, E, H, d_ff):
            super().__init__()
            self.norm1, self.norm2 = nn.LayerNorm(E), nn.LayerNorm(E)
            self.qkv, self.out = nn.Linear(E, 3 * E), nn.Linear(E, E)
            self.ffn = nn.Sequential(nn.Linear(E, d_ff), nn.ReLU(), nn.Linear(d_ff, E))

    class Wrapping(nn.Module):
        def __init__(self, vocab, E, H, d_ff, layers, max_len):
            super().__init__()
            self.embed, self.positions = nn.Embedding(vocab, E), nn.Embedding(max_len, E)
            self.blocks = nn.ModuleList(Block(E, H, d_ff) for _ in range(layers))
            self.norm, self.out = nn.LayerNorm(E), nn.Linear(E, vocab)
            self.config = GPTConfig(vocab, E, H, layers, d_ff, max_len, dropout=0.0)

        def forward(self, tokens, caches):
            return GPT(self.config).double()(tokens)[0]
    return Wrapping


@pytest.mark.parametrize("name", sorted(_book_answers()))
def test_calling_the_books_own_implementation_is_rejected(name):
    check, answer, called = _book_answers()[name]
    result = check(answer)
    assert not result, name
    assert "calls `" in result.message and called in result.message, result.message
    assert "write the computation yourself" in result.message


def test_the_book_answers_cover_every_checker():
    from utils import checks

    covered = {check.__name__ for check, _, _ in _book_answers().values()}
    missing = {n for n in checks.__all__ if n.startswith("check_")} - covered
    # the book has no update step of its own, no function that splits the output by head, and
    # no location score, no inverse of patchify, no max pooling, no merge of partial attention,
    # and no BERT masking (chapter 11's `corrupt` lives in the notebook)
    assert missing == {"check_online_softmax_update", "check_head_outputs", "check_combine_partials",
                       "check_location_weights", "check_unpatchify", "check_max_pool",
                       "check_mask_tokens"}, missing


def test_dot_product_attention_explains_T_on_a_batch():
    """Exercise 2.2: the page shows the unbatched Q @ K.T; on 3-D keys .T reverses every axis,
    and the check says so instead of leaving the student with a shape error."""
    def dot_product_attention(query, keys, values):
        weights = torch.softmax(query @ keys.T, dim=-1)
        return weights @ values, weights

    result = check_dot_product_attention(dot_product_attention)
    assert not result and ".T reverses *all* dimensions of a 3-D tensor" in result.message
