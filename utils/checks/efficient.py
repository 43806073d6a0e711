"""Checkers for chapter 13: one step of the online softmax, and attention over two parts of
the keys merged into one (the reduction of split-key decoding)."""
from __future__ import annotations

import torch

from ..attention.tiled import tiled_attention
from .core import _call, _diagnose, _Failed, _run, _tensor


def _reference(m: torch.Tensor, l: torch.Tensor, scores: torch.Tensor) -> tuple:
    m_new = torch.maximum(m, scores.amax(-1))
    safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
    return m_new, torch.exp(m - safe) * l + torch.exp(scores - safe.unsqueeze(-1)).sum(-1)


@_run(forbid=(tiled_attention,))
def check_online_softmax_update(fn) -> str:
    """Check ``fn(m (R,), l (R,), scores (R, C)) -> (m', l')``: the running maximum and the
    running sum of exp(score - maximum) after one more chunk of scores per row."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(13)
    streams = [
        ("scores near 1000", [torch.full((1, 2), 1000.0), torch.tensor([[1001.0, 999.0]])]),
        ("random chunks", [torch.randn(3, 4, generator=gen) for _ in range(4)]),
        ("a later chunk with a larger maximum", [torch.zeros(2, 3), torch.full((2, 3), 5.0)]),
        ("a chunk of masked (-inf) scores", [torch.full((2, 2), float("-inf")),
                                             torch.randn(2, 3, generator=gen)]),
    ]
    for label, chunks in streams:
        R = chunks[0].shape[0]
        m, l = torch.full((R,), float("-inf")), torch.zeros(R)
        for chunk in chunks:
            out = _call(fn, name, m.clone(), l.clone(), chunk.clone())
            if not isinstance(out, tuple) or len(out) != 2:
                raise _Failed(f"{name} must return a tuple (m, l), got {type(out).__name__}")
            got_m, got_l = out
            exp_m, exp_l = _reference(m, l, chunk)
            if not (torch.is_tensor(got_m) and torch.is_tensor(got_l)) or \
                    got_m.shape != exp_m.shape or got_l.shape != exp_l.shape:
                raise _Failed(f"{name} must return two tensors of shape ({R},)")
            if torch.isnan(got_l).any() or torch.isnan(got_m).any():
                raise _Failed(f"NaN on {label}: when the maximum so far is -inf, exp(m - m') "
                              "is exp(-inf - x) = 0, but -inf - (-inf) is NaN; guard that case")
            if torch.isinf(got_l).any():
                raise _Failed(f"overflow on {label}: subtract the running maximum before "
                              "exponentiating")
            if not torch.equal(torch.nan_to_num(got_m), torch.nan_to_num(exp_m)):
                raise _Failed(f"wrong maximum on {label}: m' = max(m, max of the new chunk)")
            no_rescale = l + torch.exp(chunk - exp_m.unsqueeze(-1)).sum(-1)
            _diagnose(got_l, exp_l, [
                (no_rescale, f"on {label} the old sum is not rescaled: when the maximum grows "
                             "from m to m', multiply l by exp(m - m')"),
            ], f"wrong running sum on {label}: l' = exp(m - m') · l + Σ exp(s - m')")
            m, l = exp_m, exp_l
        total = torch.cat(chunks, dim=-1)
        if not torch.allclose(m + torch.log(l), torch.logsumexp(total, -1), atol=1e-4):
            raise _Failed(f"after all chunks of {label}, m + log l should be logsumexp of "
                          "all scores")
    return f"{name} updates the softmax statistics chunk by chunk, stably."


def _partials(q, k, v, valid):
    """Attention of q over the keys ``valid`` (bool (L, S)) allows: the normalised output
    (..., L, Ev), zeros for a query with no key, and the logsumexp of its scores (..., L)."""
    scores = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).masked_fill(~valid, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)                                 # -inf: no key
    weights = torch.exp(scores - lse.unsqueeze(-1)).nan_to_num(0.0)
    return weights @ v, lse


@_run(forbid=(tiled_attention,))
def check_combine_partials(fn) -> str:
    """Check ``fn(o1, lse1, o2, lse2) -> (..., L, Ev)``: attention over all keys from the
    normalised outputs o_i (..., L, Ev) and logsumexps lse_i (..., L) of two disjoint parts of
    the keys; -inf for a part with no allowed key, and zeros when neither part has one."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(18)
    cases = [("random scores", 0.0, (2, 3, 5), 4, None),
             ("one query, a split at the first key", 0.0, (1, 1, 6), 1, None),
             ("scores near 1000", 22.0, (2, 4, 7), 3, None),
             ("a part with no allowed key for some queries", 0.0, (2, 4, 6), 3, "first part"),
             ("queries with no allowed key at all", 0.0, (1, 3, 5), 2, "rows")]
    for label, shift, (B, L, S), cut, masked in cases:
        E = 4
        # float64, so that the reference is exact and any exact merge formula (a weighted sum, a
        # sigmoid of lse1 - lse2, a softmax over the two logsumexps) agrees with it to rounding,
        # even at scores near 1000 where float32 would round lse to 6e-5
        q = torch.randn(B, L, E, generator=gen, dtype=torch.float64) + shift   # shift 22: q·k/√E near 1000
        k = torch.randn(B, S, E, generator=gen, dtype=torch.float64) + shift
        v = torch.randn(B, S, 3, generator=gen, dtype=torch.float64)
        valid = torch.ones(L, S, dtype=torch.bool)
        if masked == "first part":
            valid[::2, :cut] = False                    # even queries see none of part 1
        elif masked == "rows":
            valid[0] = False                            # query 0 sees no key at all
        expected, _ = _partials(q, k, v, valid)
        o1, lse1 = _partials(q, k[:, :cut], v[:, :cut], valid[:, :cut])
        o2, lse2 = _partials(q, k[:, cut:], v[:, cut:], valid[:, cut:])
        out = _call(fn, name, o1.clone(), lse1.clone(), o2.clone(), lse2.clone())
        if torch.is_tensor(out) and out.is_floating_point() and not torch.isfinite(out).all():
            if shift:
                raise _Failed(f"NaN or inf on {label}: exp(lse) overflows; weight each part by "
                              "exp(lse_i - lse) with lse = logaddexp(lse1, lse2)")
            raise _Failed(f"NaN on {label}: a part with lse = -inf has weight exp(-inf) = 0, "
                          "but -inf - (-inf) is NaN; guard a query that has no key at all")
        got = _tensor(out, name, tuple(o1.shape))
        share = cut / S
        _diagnose(got, expected, [
            ((o1 + o2) / 2, "you averaged the two parts; weight part i by its share of the "
                            "softmax mass, exp(lse_i - lse) with lse = logaddexp(lse1, lse2)"),
            (share * o1 + (1 - share) * o2, "the parts are weighted by their number of keys; "
                                            "weight them by their softmax mass, exp(lse_i - lse)"),
            (o1 + o2, "the parts are added without weights; their weights exp(lse_i - lse) "
                      "sum to one"),
        ], f"wrong output on {label}: o = exp(lse1 - lse) o1 + exp(lse2 - lse) o2, "
           "lse = logaddexp(lse1, lse2)")
    return f"{name} merges attention over two parts of the keys into attention over all of them."


# --- the whole tiled loop -------------------------------------------------------------------

TILED_MISTAKES = {
    "no output rescale": "the running output is not rescaled when the running maximum grows: "
                         "multiply o by e^(m - m') before adding the new block's p @ v",
    "no sum rescale": "the running sum is not rescaled when the running maximum grows: "
                      "ℓ' = e^(m - m') ℓ + the new block's sum",
    "no scale": "the scores are not scaled: multiply the queries (or the scores) by 1/√D",
    "diagonal unmasked": "inside the diagonal block the future keys are not masked: a query "
                         "sees keys up to its own position only",
    "diagonal hidden": "the mask hides each query's own key: query i sees keys 0 … i, i included",
    "diagonal skipped": "the diagonal block is skipped: with the causal mask, skip the key blocks "
                        "entirely in the future, but keep the block on the diagonal and mask it",
}


def _tiled_reference(q, k, v, causal, block, mistake=None, keep_nan=False):
    """The tiled loop with one ``mistake`` made (for diagnosis); with ``keep_nan`` a row with no
    key gives 0 / 0, as a plain loop does."""
    L, S = q.shape[-2], k.shape[-2]
    scale = 1.0 if mistake == "no scale" else q.shape[-1] ** -0.5
    outputs = []
    for q0 in range(0, L, block):
        qb = q[..., q0:q0 + block, :] * scale
        m = qb.new_full(qb.shape[:-1] + (1,), float("-inf"))
        l = qb.new_zeros(qb.shape[:-1] + (1,))
        o = qb.new_zeros(qb.shape[:-1] + v.shape[-1:])
        last = S if not causal else min(S, q0 + qb.shape[-2]) if mistake != "diagonal skipped" \
            else min(S, q0)
        for k0 in range(0, last, block):
            s = qb @ k[..., k0:k0 + block, :].transpose(-2, -1)
            if causal and mistake != "diagonal unmasked":
                rows = torch.arange(q0, q0 + s.shape[-2]).unsqueeze(1)
                cols = torch.arange(k0, k0 + s.shape[-1])
                hidden = cols >= rows if mistake == "diagonal hidden" else cols > rows
                s = s.masked_fill(hidden, float("-inf"))
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
            p = torch.exp(s - safe)
            rescale = torch.exp(m - safe)
            l = (1 if mistake == "no sum rescale" else rescale) * l + p.sum(-1, keepdim=True)
            o = (1 if mistake == "no output rescale" else rescale) * o \
                + p @ v[..., k0:k0 + block, :]
            m = m_new
        outputs.append(o / l if keep_nan else
                       torch.where(l > 0, o / l.clamp(min=torch.finfo(l.dtype).tiny), 0.0))
    return torch.cat(outputs, -2) if outputs else q.new_zeros(q.shape[:-1] + v.shape[-1:])


class _largest:
    """While active, the shape of the largest tensor any PyTorch operation returns."""

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        outer = self

        class Record(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                for t in out if isinstance(out, (tuple, list)) else (out,):
                    if torch.is_tensor(t) and t.numel() > outer.numel:
                        outer.numel, outer.shape = t.numel(), tuple(t.shape)
                return out

        self.numel, self.shape, self.mode = 0, (), Record()
        self.mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.mode.__exit__(*exc)


@_run(forbid=(tiled_attention, torch.nn.functional.scaled_dot_product_attention))
def check_tiled_attention(fn) -> str:
    """Check ``fn(query (..., L, D), key (..., S, D), value (..., S, Dv), is_causal=False,
    block_size=128) -> (..., L, Dv)``: scaled dot-product attention computed a block of queries
    and a block of keys at a time (online softmax), never holding more than a block of scores,
    with PyTorch's top-left causal mask, for any L and S (no keys: zeros)."""
    import torch.nn.functional as F

    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(31)
    cases = [  # batch shape, L, S, D, Dv, causal, block, scale of the inputs
        ((2,), 96, 96, 4, 4, False, 8, 1.0), ((2,), 96, 96, 4, 4, True, 8, 1.0),
        ((1, 2), 13, 13, 5, 3, True, 4, 1.0), ((), 7, 20, 3, 2, True, 3, 1.0),
        ((3,), 20, 7, 3, 2, True, 6, 1.0), ((2,), 10, 10, 4, 4, False, 1, 1.0),
        ((2,), 9, 9, 4, 4, True, 64, 1.0), ((1,), 16, 16, 4, 4, True, 4, 300.0),
        ((2,), 5, 0, 4, 3, False, 2, 1.0), ((2,), 6, 6, 4, 4, True, 4, 1.0),
    ]
    for shape, L, S, D, Dv, causal, block, size in cases:
        dtype = torch.float64 if L == 6 or size > 1 else torch.float32
        q = (torch.randn(*shape, L, D, generator=gen) * size).to(dtype)
        k = (torch.randn(*shape, D, S, generator=gen) * size).to(dtype).transpose(-2, -1)
        v = torch.randn(*shape, S, Dv, generator=gen).to(dtype)
        with _largest() as largest:
            got = _call(fn, name, q.clone(), k, v.clone(), is_causal=causal, block_size=block)
        what = f"L = {L}, S = {S}, block_size = {block}" + (", causal" if causal else "")
        if S == 0 and torch.is_tensor(got) and got.shape == q.shape[:-1] + (Dv,) and \
                got.is_floating_point() and not torch.isfinite(got).all():
            raise _Failed(f"with no keys at all ({what}) the output is NaN (0/0): return zeros, "
                          "as PyTorch's attention does")
        if S and torch.is_tensor(got) and got.is_floating_point() and \
                got.shape == q.shape[:-1] + (Dv,) and got.isnan().any():
            for mistake, sentence in TILED_MISTAKES.items():
                wrong = _tiled_reference(q.double(), k.double(), v.double(), causal, block,
                                         mistake, keep_nan=True).to(dtype)
                if wrong.isnan().any() and torch.allclose(got, wrong, rtol=1e-5, atol=1e-5,
                                                          equal_nan=True):
                    raise _Failed(f"{what}: {sentence} (rows with no key left give NaN)")
        if size > 1 and torch.is_tensor(got) and got.is_floating_point() and \
                got.shape == q.shape[:-1] + (Dv,) and not torch.isfinite(got).all():
            raise _Failed(f"scores of magnitude {(q @ k.transpose(-2, -1)).abs().max():.0e} "
                          "overflow: exponentiate scores minus the running maximum")
        got = _tensor(got, f"{name}'s output", tuple(q.shape[:-1]) + (Dv,))
        if S and got.dtype != q.dtype:
            raise _Failed(f"{name} returned {got.dtype} for {q.dtype} inputs: keep their dtype")
        expected = F.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                                  is_causal=causal).to(dtype) if S else \
            torch.zeros_like(got)
        tolerance = 1e-9 if dtype == torch.float64 else 2e-5
        if not torch.allclose(got, expected, rtol=tolerance, atol=tolerance):
            for mistake, sentence in TILED_MISTAKES.items():
                wrong = _tiled_reference(q.double(), k.double(), v.double(), causal, block,
                                         mistake).to(dtype)
                if torch.allclose(got, wrong, rtol=tolerance, atol=tolerance) and \
                        not torch.allclose(wrong, expected, rtol=tolerance, atol=tolerance):
                    raise _Failed(f"{what}: {sentence}")
            if size > 1:
                raise _Failed(f"wrong output for {what} with scores of magnitude "
                              f"{(q @ k.transpose(-2, -1)).abs().max():.0e}, right for small "
                              "ones: large scores overflow: exponentiate scores minus the "
                              "running maximum")
            raise _Failed(f"wrong output for {what}: it should equal softmax(Q Kᵀ / √D) V"
                          + (" with query i seeing keys 0 … i" if causal else ""))
        batch = max(1, int(torch.tensor(shape).prod())) if shape else 1
        allowed = batch * max(block * block, L * max(D, Dv), S * max(D, Dv), block * D)
        if S > block and largest.numel > allowed:
            raise _Failed(f"for {what} a tensor of shape {largest.shape} was made: as many "
                          "entries as the scores of a whole row of keys (or a full mask); tiling "
                          f"holds at most block_size × block_size scores (and masks) at a time")
    return (f"{name} computes attention a block at a time, with the causal mask, for any L and "
            "S, and never holds more than a block of scores.")
