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


# ---- token_accuracy -------------------------------------------------------------------
def accuracy(pred, target):
    mask = target != PAD
    return ((pred == target) & mask).sum().item() / mask.sum().item()


def test_token_accuracy_accepts_solutions():
    assert check_token_accuracy(accuracy)
    assert check_token_accuracy(lambda p, t: (p == t)[t != PAD].float().mean())  # 0-dim tensor


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


# ---- Luong: general score, local-p ---------------------------------------------------
from utils.checks import check_general_scores, check_local_p_weights  # noqa: E402


def test_general_scores_checker():
    assert check_general_scores(lambda s, k, W: s @ W @ k.transpose(1, 2))
    assert check_general_scores(lambda s, k, W: torch.einsum("bth,hg,bsg->bts", s, W, k))
    cases = {
        stub: "not implemented yet",
        (lambda s, k, W: s @ W.T @ k.transpose(1, 2)): "W is transposed",
        (lambda s, k, W: s @ k.transpose(1, 2)): "W is not used",
        (lambda s, k, W: torch.softmax(s @ W @ k.transpose(1, 2), -1)): "softmax weights",
        (lambda s, k, W: (s @ W @ k.transpose(1, 2)).transpose(1, 2)): "returned shape",
    }
    for fn, message in cases.items():
        result = check_general_scores(fn)
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

    cases = {stub: "not implemented yet", no_window: "farther than R", no_gauss: "Gaussian factor",
             sigma_d: "σ should be R / 2", (lambda s, c, D: s): "farther than R"}
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


# ---- chapter 8: split_heads and merge_heads --------------------------------------------
def test_split_heads_checker():
    from utils.checks import check_split_heads

    def split(x, H):
        B, L, E = x.shape
        return x.view(B, L, H, E // H).transpose(1, 2)

    assert check_split_heads(split)
    assert check_split_heads(lambda x, H: torch.stack(x.chunk(H, dim=-1), dim=1))
    cases = {
        stub: "not implemented yet",
        (lambda x, H: x.reshape(x.shape[0], H, x.shape[1], -1)): "plain reshape",
        (lambda x, H: x.view(*x.shape[:2], H, -1)): "move the head axis",
        (lambda x, H: x.view(*x.shape[:2], -1, H).permute(0, 3, 1, 2)): "contiguous columns",
        (lambda x, H: split(x, H) * 2): "wrong heads",
        (lambda x, H: x): "returned shape",
    }
    for fn, message in cases.items():
        result = check_split_heads(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_merge_heads_checker():
    from utils.checks import check_merge_heads

    def merge(h):
        B, H, L, D = h.shape
        return h.transpose(1, 2).reshape(B, L, H * D)

    assert check_merge_heads(merge)
    assert check_merge_heads(lambda h: torch.cat(h.unbind(1), dim=-1))
    cases = {
        stub: "not implemented yet",
        (lambda h: h.reshape(h.shape[0], h.shape[2], -1)): "plain reshape",
        (lambda h: h.permute(0, 2, 3, 1).reshape(h.shape[0], h.shape[2], -1)): "head axis ended up last",
        (lambda h: merge(h) + 1): "wrong merge",
        (lambda h: h.transpose(1, 2)): "returned shape",
        # works on a transposed view, crashes on attention's contiguous output
        (lambda h: h.transpose(1, 2).view(h.shape[0], h.shape[2], -1)): "use .reshape",
    }
    for fn, message in cases.items():
        result = check_merge_heads(fn)
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


# ---- chapter 12: patchify ----------------------------------------------------------------
def test_patchify_checker():
    from utils.checks import check_patchify

    def patches(images, P):
        N, H, W = images.shape
        return images.reshape(N, H // P, P, W // P, P).permute(0, 1, 3, 2, 4).reshape(N, -1, P * P)

    assert check_patchify(patches)
    assert check_patchify(lambda x, P: torch.nn.functional.unfold(
        x.unsqueeze(1), kernel_size=P, stride=P).transpose(1, 2))
    cases = {
        stub: "not implemented yet",
        (lambda x, P: x.reshape(x.shape[0], -1, P * P)): "plain reshape",
        (lambda x, P: x.reshape(x.shape[0], x.shape[1] // P, P, x.shape[2] // P, P)
         .permute(0, 3, 1, 4, 2).reshape(x.shape[0], -1, P * P)): "column by column (and transposed)",
        (lambda x, P: x.reshape(x.shape[0], x.shape[1] // P, P, x.shape[2] // P, P)
         .permute(0, 1, 3, 4, 2).reshape(x.shape[0], -1, P * P)): "flattened column by column",
        (lambda x, P: patches(x, P) * 2): "wrong patches",
        (lambda x, P: patches(x, P)[:, :1]): "returned shape",
    }
    for fn, message in cases.items():
        result = check_patchify(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 10: top-k filtering and the cached causal mask ---------------------------------
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


def test_cached_causal_mask_checker():
    from utils.checks import check_cached_causal_mask

    assert check_cached_causal_mask(
        lambda T, S: torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T))
    assert check_cached_causal_mask(
        lambda T, S: torch.arange(S).view(1, S) <= torch.arange(S - T, S).view(T, 1))
    cases = {
        stub: "not implemented yet",
        (lambda T, S: torch.ones(T, S, dtype=torch.bool).tril()): "aligned top-left",
        (lambda T, S: ~torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)): "inverted",
        (lambda T, S: torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T - 1)): "own position",
        (lambda T, S: torch.ones(T, S, dtype=torch.bool).triu(diagonal=S - T)): "upper triangle",
        (lambda T, S: torch.ones(T, S).tril(diagonal=S - T)): "bool tensor",
        (lambda T, S: torch.ones(T, T, dtype=torch.bool).tril()): "must return a tensor of shape",
        (lambda T, S: torch.ones(T, S, dtype=torch.bool)): "wrong mask",
    }
    for fn, message in cases.items():
        result = check_cached_causal_mask(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- chapter 11: WordPiece and mean pooling --------------------------------------------------
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


def test_mean_pool_checker():
    import torch.nn.functional as F

    from utils.checks import check_mean_pool
    from utils.models.bert import mean_pool

    assert "calls `utils.models.bert.mean_pool`" in check_mean_pool(mean_pool).message
    mean_pool = copied(mean_pool)

    def masked_sum(h, m):
        return (h * m.unsqueeze(-1)).sum(1)

    assert check_mean_pool(mean_pool)
    cases = {
        stub: "not implemented yet",
        (lambda h, m: h.mean(1)): "padding positions are averaged in",
        (lambda h, m: masked_sum(h, m) / h.shape[1]): "divided by the padded length",
        masked_sum: "not divided by their number",
        (lambda h, m: F.normalize(mean_pool(h, m), dim=-1)): "normalised to unit length",
        (lambda h, m: mean_pool(h, m) + 1): "wrong mean",
        (lambda h, m: h.mean(2)): "returned shape",
    }
    for fn, message in cases.items():
        result = check_mean_pool(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- any dtype gets a sentence, never a traceback -------------------------------------------
def _cast(result, dtype):
    if torch.is_tensor(result):
        return result.to(dtype)
    if isinstance(result, tuple):
        return tuple(_cast(r, dtype) for r in result)
    return result


def _float_solutions():
    from utils.checks import (check_attention_entropy, check_merge_heads, check_patchify,
                              check_softmax_jacobian, check_split_heads, check_top_k_logits)

    def top_k(logits, k):
        kth = logits.topk(k, dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))

    def patches(images, P):
        N, H, W = images.shape
        return images.reshape(N, H // P, P, W // P, P).permute(0, 1, 3, 2, 4).reshape(N, -1, P * P)

    return {
        "last_valid_state": (check_last_valid_state, last_state),
        "masked_softmax": (check_masked_softmax, masked_softmax),
        "dot_product_attention": (check_dot_product_attention, dot_attention),
        "additive_scores": (check_additive_scores, additive),
        "general_scores": (check_general_scores, lambda s, k, W: s @ W @ k.transpose(1, 2)),
        "local_p_weights": (check_local_p_weights, local_p),
        "softmax_jacobian": (check_softmax_jacobian, lambda a: a.unsqueeze(-1) * (
            torch.eye(a.shape[-1], dtype=a.dtype) - a.unsqueeze(-2))),
        "attention_entropy": (check_attention_entropy, lambda a: -torch.special.xlogy(a, a).sum(-1)),
        "split_heads": (check_split_heads, lambda x, H: torch.stack(x.chunk(H, dim=-1), dim=1)),
        "merge_heads": (check_merge_heads, lambda h: torch.cat(h.unbind(1), dim=-1)),
        "patchify": (check_patchify, patches),
        "top_k_logits": (check_top_k_logits, top_k),
    }


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.int64])
@pytest.mark.parametrize("name", sorted(_float_solutions()))
def test_a_wrong_dtype_gets_a_sentence_not_a_traceback(name, dtype):
    check, solution = _float_solutions()[name]
    if name == "softmax_jacobian" and dtype == torch.float64:
        dtype = torch.float32                   # this checker's inputs are float64 already
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
    from utils.attention import (AdditiveAttention, MultiHeadAttention, attention_entropy,
                                 causal_mask, masked_softmax, scaled_dot_product_attention)
    from utils.checks.bert import wordpiece
    from utils.checks.generation import _top_k_reference
    from utils.metrics import alignment_hits, token_accuracy
    from utils.models.bert import mean_pool
    from utils.models.decoding import beam_search
    from utils.models.glimpse import gumbel_max, leave_one_out_baseline
    from utils.models.luong import LuongAttention, local_weights
    from utils.models.positional import sinusoidal_positions
    from utils.models.rnn import last_valid_state
    from utils.models.vit import patchify

    def general(s, k, W):                      # only what LuongAttention.scores reads
        luong = types.SimpleNamespace(config=types.SimpleNamespace(score="general"),
                                      W_a=lambda x: x @ W.T)
        return LuongAttention.scores(luong, s, k)

    def additive(query, keys, W_query, W_key, v):
        module = AdditiveAttention(W_query.shape[1], W_key.shape[1], W_key.shape[0])
        return AdditiveAttention.project_keys(module, keys)[..., 0]

    mha = MultiHeadAttention(12, 3)
    return {
        "last_valid_state": (checks.check_last_valid_state, last_valid_state, "last_valid_state"),
        "token_accuracy": (checks.check_token_accuracy, token_accuracy, "token_accuracy"),
        "masked_softmax": (checks.check_masked_softmax, masked_softmax, "masked_softmax"),
        "dot_product_attention, the book's": (
            checks.check_dot_product_attention,
            lambda q, k, v: (scaled_dot_product_attention(q, k, v, scale=1.0),
                             torch.softmax(q @ k.transpose(1, 2), -1)),
            "scaled_dot_product_attention"),
        "dot_product_attention, PyTorch's": (
            checks.check_dot_product_attention,
            lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, scale=1.0),
                             torch.softmax(q @ k.transpose(1, 2), -1)),
            "torch.nn.functional.scaled_dot_product_attention"),
        "additive_scores": (checks.check_additive_scores, additive, "AdditiveAttention.project_keys"),
        "alignment_hits": (checks.check_alignment_hits, alignment_hits, "alignment_hits"),
        "general_scores": (checks.check_general_scores, general, "LuongAttention.scores"),
        "local_p_weights": (checks.check_local_p_weights,
                            lambda s, c, R: local_weights(s, torch.ones_like(s, dtype=torch.bool),
                                                          c.unsqueeze(-1), R, gaussian=True),
                            "local_weights"),
        "gumbel_max": (checks.check_gumbel_max, gumbel_max, "gumbel_max"),
        "leave_one_out_baseline": (checks.check_leave_one_out_baseline, leave_one_out_baseline,
                                   "leave_one_out_baseline"),
        "softmax_jacobian": (checks.check_softmax_jacobian, lambda a: torch.stack([
            torch.autograd.functional.jacobian(lambda s: torch.softmax(s, -1), row)
            for row in a.log().reshape(-1, a.shape[-1])]).reshape(a.shape + a.shape[-1:]),
            "jacobian"),
        "attention_entropy": (checks.check_attention_entropy, attention_entropy,
                              "attention_entropy"),
        "causal_mask": (checks.check_causal_mask, causal_mask, "causal_mask"),
        "cached_causal_mask": (checks.check_cached_causal_mask,
                               lambda T, S: causal_mask(T, S, lower_right=True), "causal_mask"),
        "sinusoidal_positions": (checks.check_sinusoidal_positions, sinusoidal_positions,
                                 "sinusoidal_positions"),
        "split_heads": (checks.check_split_heads,
                        lambda x, H: MultiHeadAttention.split_heads(mha, x)
                        if H == 3 else x.view(x.shape[0], x.shape[1], H, -1).transpose(1, 2),
                        "MultiHeadAttention.split_heads"),
        "merge_heads": (checks.check_merge_heads,
                        lambda h: MultiHeadAttention.merge_heads(mha, h),
                        "MultiHeadAttention.merge_heads"),
        "beam_search": (checks.check_beam_search, beam_search, "beam_search"),
        "patchify": (checks.check_patchify, patchify, "patchify"),
        "mean_pool": (checks.check_mean_pool, mean_pool, "mean_pool"),
        "wordpiece (the checker's own reference)": (checks.check_wordpiece, wordpiece,
                                                    "utils.checks.bert.wordpiece"),
        "top_k_logits (the checker's own reference)": (checks.check_top_k_logits,
                                                       _top_k_reference, "_top_k_reference"),
    }


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
    assert missing == {"check_online_softmax_update"}, missing   # the book has no update step
