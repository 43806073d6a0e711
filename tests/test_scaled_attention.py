"""scaled_dot_product_attention against PyTorch's function, naive loops and gradcheck."""
import math

import pytest
import torch
import torch.nn.functional as F

from utils.attention import causal_mask, scaled_dot_product_attention

ATOL = 1e-5


@pytest.fixture
def qkv():
    g = torch.Generator().manual_seed(0)
    return (torch.randn(2, 3, 4, 8, generator=g), torch.randn(2, 3, 6, 8, generator=g),
            torch.randn(2, 3, 6, 5, generator=g))   # (B, H, L, E), (B, H, S, E), (B, H, S, Ev)


def naive(query, key, value, valid=None):
    """Loops over every query: softmax of scaled dot products over its allowed keys."""
    *batch, L, E = query.shape
    out = torch.zeros(*batch, L, value.shape[-1])
    for index in torch.cartesian_prod(*[torch.arange(n) for n in batch]):
        idx = tuple(index.tolist())
        for i in range(L):
            keys = range(key.shape[-2]) if valid is None else \
                [j for j in range(key.shape[-2]) if valid[i, j]]
            scores = torch.stack([query[idx][i] @ key[idx][j] / math.sqrt(E) for j in keys])
            weights = torch.softmax(scores, 0)
            out[idx][i] = sum(w * value[idx][j] for w, j in zip(weights, keys))
    return out


def test_equals_pytorch_and_a_naive_loop_without_mask(qkv):
    out, weights = scaled_dot_product_attention(*qkv)
    assert out.shape == (2, 3, 4, 5) and weights.shape == (2, 3, 4, 6)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(*qkv), atol=ATOL, rtol=0)
    torch.testing.assert_close(out, naive(*qkv), atol=ATOL, rtol=0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 4))


def test_boolean_mask_means_may_attend(qkv):
    valid = torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) > 0.4
    valid[:, 0] = True                                    # every query keeps one key
    out, weights = scaled_dot_product_attention(*qkv, attn_mask=valid)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(*qkv, attn_mask=valid),
                               atol=ATOL, rtol=0)
    torch.testing.assert_close(out, naive(*qkv, valid=valid), atol=ATOL, rtol=0)
    assert (weights[..., ~valid] == 0).all()


def test_float_mask_is_added(qkv):
    bias = torch.randn(2, 1, 4, 6, generator=torch.Generator().manual_seed(2))
    bias[0, 0, 1, 2] = float("-inf")
    out, weights = scaled_dot_product_attention(*qkv, attn_mask=bias)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(*qkv, attn_mask=bias),
                               atol=ATOL, rtol=0)
    assert (weights[0, :, 1, 2] == 0).all()


def test_is_causal_matches_pytorch_also_when_L_differs_from_S(qkv):
    q, k, v = qkv
    for L in (4, 6):
        query = torch.randn(2, 3, L, 8)
        out, weights = scaled_dot_product_attention(query, k, v, is_causal=True)
        torch.testing.assert_close(out, F.scaled_dot_product_attention(query, k, v, is_causal=True),
                                   atol=ATOL, rtol=0)
        assert torch.equal(weights[0, 0] > 0, causal_mask(L, 6))
    assert torch.equal(causal_mask(3, 5), torch.tensor([[1, 0, 0, 0, 0], [1, 1, 0, 0, 0],
                                                        [1, 1, 1, 0, 0]], dtype=torch.bool))


def test_causal_outputs_do_not_depend_on_later_positions():
    x = torch.randn(1, 7, 4)
    out, _ = scaled_dot_product_attention(x, x, x, is_causal=True)
    changed = x.clone()
    changed[:, 4:] = torch.randn(1, 3, 4)
    out2, _ = scaled_dot_product_attention(changed, changed, changed, is_causal=True)
    torch.testing.assert_close(out[:, :4], out2[:, :4])
    assert not torch.allclose(out[:, 4:], out2[:, 4:])


def test_fully_masked_row_gives_zeros_as_pytorch_does(qkv):
    valid = torch.ones(4, 6, dtype=torch.bool)
    valid[2] = False
    out, weights = scaled_dot_product_attention(*qkv, attn_mask=valid)
    assert torch.equal(out[..., 2, :], torch.zeros(2, 3, 5))
    assert torch.equal(weights[..., 2, :], torch.zeros(2, 3, 6))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(*qkv, attn_mask=valid),
                               atol=ATOL, rtol=0)
    q = qkv[0].clone().requires_grad_()
    scaled_dot_product_attention(q, *qkv[1:], attn_mask=valid)[0].sum().backward()
    assert torch.isfinite(q.grad).all()


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, 4, generator=g, dtype=torch.float64, requires_grad=True),
               torch.randn(2, 5, 4, generator=g, dtype=torch.float64, requires_grad=True),
               torch.randn(2, 5, 3, generator=g, dtype=torch.float64, requires_grad=True))
    valid = torch.tensor([[True, True, False, True, False]] * 3)
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=valid)[0], (q, k, v))
    assert torch.autograd.gradcheck(
        lambda q, k, v: scaled_dot_product_attention(q, k, v, is_causal=True)[1], (q, k, v))


def test_clear_errors(qkv):
    q, k, v = qkv
    with pytest.raises(ValueError, match="query width 7 differs from key width 8"):
        scaled_dot_product_attention(q[..., :7], k, v)
    with pytest.raises(ValueError, match="6 keys but 5 values"):
        scaled_dot_product_attention(q, k, v[..., :5, :])
    with pytest.raises(ValueError, match="does not broadcast"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, k, v, attn_mask=torch.ones(4, 6, dtype=torch.bool),
                                     is_causal=True)
    with pytest.raises(ValueError, match="do not broadcast"):
        scaled_dot_product_attention(q, k[:1, :2], v[:1, :2])


def pytorch_signature():
    """(name, default) of F.scaled_dot_product_attention's parameters, from its docstring (it is
    a builtin, so inspect.signature cannot read it)."""
    first = F.scaled_dot_product_attention.__doc__.split("->")[0]
    inside = first[first.index("(") + 1:first.rindex(")")]
    params = []
    for part in (p.strip() for p in inside.split(",")):
        name, _, default = part.partition("=")
        params.append((name.strip(), default.strip() or None))
    assert [p for p, _ in params][:3] == ["query", "key", "value"], params
    return params


def test_signature_is_pytorchs_in_order_names_and_defaults():
    import inspect

    ours = list(inspect.signature(scaled_dot_product_attention).parameters.values())
    theirs = pytorch_signature()
    assert [p.name for p in ours[:len(theirs)]] == [name for name, _ in theirs]
    for parameter, (name, default) in zip(ours, theirs):
        expected = inspect.Parameter.empty if default is None else eval(default)  # noqa: S307
        assert parameter.default == expected, (name, parameter.default, default)
        assert parameter.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD, name
    assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in ours[len(theirs):])


def test_positional_arguments_mean_what_they_mean_in_pytorch(qkv):
    """sdpa(q, k, v, None, 0.0, True) is causal attention in both functions."""
    out, _ = scaled_dot_product_attention(*qkv[:2], qkv[2], None, 0.0, True)
    assert torch.allclose(out, F.scaled_dot_product_attention(*qkv, None, 0.0, True), atol=ATOL)


def test_integer_masks_are_rejected_with_a_sentence(qkv):
    with pytest.raises(ValueError, match=r"bool .* or floating point .* got torch.int64.*\.bool\(\)"):
        scaled_dot_product_attention(*qkv, attn_mask=torch.ones(4, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="dropout_p must lie in"):
        scaled_dot_product_attention(*qkv, dropout_p=1.0)


def test_grouped_query_attention_equals_pytorch():
    g = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 6, 5, 8, generator=g), torch.randn(2, 2, 7, 8, generator=g),
               torch.randn(2, 2, 7, 4, generator=g))  # 6 query heads share 2 key-value heads
    for causal in (False, True):
        out, weights = scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)
        assert torch.allclose(out, expected, atol=ATOL) and weights.shape == (2, 6, 5, 7)
    # query heads 0-2 read key-value head 0, heads 3-5 head 1
    grouped, _ = scaled_dot_product_attention(q, k, v, enable_gqa=True)
    alone, _ = scaled_dot_product_attention(q[:, :3], k[:, :1], v[:, :1])
    assert torch.allclose(grouped[:, :3], alone, atol=ATOL)
    with pytest.raises(ValueError, match="multiple of"):
        scaled_dot_product_attention(q[:, :5], k, v, enable_gqa=True)
    with pytest.raises(ValueError, match="do not broadcast"):
        scaled_dot_product_attention(q, k, v)  # without enable_gqa the head counts must match
