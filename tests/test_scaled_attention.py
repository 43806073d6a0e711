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
