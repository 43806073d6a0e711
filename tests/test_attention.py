"""Masks, masked softmax, attention pooling and the additive score."""
import math

import pytest
import torch

from utils.attention import (AdditiveAttention, additive_mask, attention_pool, lengths_to_valid,
                             masked_softmax, padding_to_valid)


def test_masked_softmax_equals_softmax_without_mask():
    scores = torch.randn(2, 3, 5)
    assert torch.allclose(masked_softmax(scores), torch.softmax(scores, -1))
    assert torch.allclose(masked_softmax(scores, torch.ones(5, dtype=torch.bool)),
                          torch.softmax(scores, -1))


def test_padding_gets_exactly_zero_weight_and_rows_sum_to_one():
    scores = torch.randn(3, 6) * 10
    valid = lengths_to_valid(torch.tensor([6, 2, 4]), 6)
    weights = masked_softmax(scores, valid)
    assert (weights[~valid] == 0).all()
    assert torch.allclose(weights.sum(-1), torch.ones(3))
    # equal to a softmax over the valid prefix only (a naive reference)
    for row, n in enumerate([6, 2, 4]):
        assert torch.allclose(weights[row, :n], torch.softmax(scores[row, :n], -1))


def test_stable_for_huge_scores():
    scores = torch.tensor([[1000.0, 1001.0, 1002.0]])
    assert torch.isnan(torch.exp(scores) / torch.exp(scores).sum()).all()  # the naive way
    expected = torch.softmax(torch.tensor([[0.0, 1.0, 2.0]]), -1)
    assert torch.allclose(masked_softmax(scores, torch.ones_like(scores, dtype=torch.bool)), expected)


def test_fully_masked_row_returns_zeros_not_nan():
    scores = torch.randn(2, 4)
    valid = torch.tensor([[False] * 4, [True, True, False, False]])
    weights = masked_softmax(scores, valid)
    assert torch.equal(weights[0], torch.zeros(4))
    assert torch.allclose(weights[1].sum(), torch.tensor(1.0))
    values = torch.randn(2, 4, 3)
    context = attention_pool(weights.unsqueeze(1), values)
    assert torch.equal(context[0], torch.zeros(1, 3))


def test_masked_softmax_gradcheck_float64():
    scores = torch.randn(2, 5, dtype=torch.double, requires_grad=True)
    valid = lengths_to_valid(torch.tensor([5, 3]))
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, valid), (scores,))


def test_mask_errors_and_conversion():
    with pytest.raises(ValueError, match="bool mask"):
        masked_softmax(torch.randn(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        masked_softmax(torch.randn(2, 3), torch.ones(2, 4, dtype=torch.bool))
    padding = torch.tensor([[False, True]])
    assert torch.equal(padding_to_valid(padding), torch.tensor([[True, False]]))
    with pytest.raises(ValueError, match="key_padding_mask must be a bool mask"):
        padding_to_valid(torch.zeros(1, 2))
    with pytest.raises(ValueError, match="1-D"):
        lengths_to_valid(torch.ones(2, 2))


def test_attention_pool_is_a_weighted_average():
    weights = torch.softmax(torch.randn(2, 3, 4), -1)
    values = torch.randn(2, 4, 5)
    expected = torch.einsum("bls,bsk->blk", weights, values)
    assert torch.allclose(attention_pool(weights, values), expected, atol=1e-6)
    with pytest.raises(ValueError, match="disagree"):
        attention_pool(weights, values[:, :3])


def test_additive_attention_matches_a_naive_loop():
    torch.manual_seed(0)
    attn = AdditiveAttention(query_dim=3, key_dim=4, attn_dim=5)
    query, keys = torch.randn(2, 3), torch.randn(2, 6, 4)
    valid = lengths_to_valid(torch.tensor([6, 4]), 6)
    context, weights = attn(query, attn.project_keys(keys), keys, valid)
    for b in range(2):
        scores = torch.stack([attn.v(torch.tanh(attn.W_key(keys[b, i]) + attn.W_query(query[b])))
                              .squeeze() for i in range(6)])
        scores[~valid[b]] = float("-inf")
        expected_w = torch.softmax(scores, -1)
        assert torch.allclose(weights[b], expected_w, atol=1e-6)
        assert torch.allclose(context[b], expected_w @ keys[b], atol=1e-6)
    # PyTorch's float-mask convention (0 or -inf, added to the scores) gives the same result
    float_mask = additive_mask(valid)
    assert float_mask.dtype == torch.float32 and float_mask[1, 4:].eq(float("-inf")).all()
    assert float_mask[~valid.logical_not()].eq(0).all()
    context_f, weights_f = attn(query, attn.project_keys(keys), keys, float_mask)
    assert torch.allclose(weights_f, weights, atol=1e-7) and (weights_f[1, 4:] == 0).all()
    assert torch.allclose(context_f, context, atol=1e-6)


def test_additive_attention_gradcheck_and_errors():
    torch.manual_seed(1)
    attn = AdditiveAttention(2, 3, 4).double()
    query = torch.randn(2, 2, dtype=torch.double, requires_grad=True)
    keys = torch.randn(2, 5, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda q, k: attn(q, attn.project_keys(k), k)[0], (query, keys))
    with pytest.raises(ValueError, match="query must be"):
        attn(torch.randn(3, 2, dtype=torch.double), attn.project_keys(keys), keys)


def test_attention_entropy():
    from utils.attention import attention_entropy

    uniform = torch.full((2, 8), 1 / 8)
    assert torch.allclose(attention_entropy(uniform), torch.full((2,), math.log(8)))
    one_hot = torch.tensor([[0.0, 1.0, 0.0]])
    assert torch.equal(attention_entropy(one_hot), torch.zeros(1))
    masked = masked_softmax(torch.randn(3, 5), lengths_to_valid(torch.tensor([5, 2, 1]), 5))
    entropy = attention_entropy(masked)
    assert torch.isfinite(entropy).all() and entropy[2] == 0
    reference = -(masked[1, :2] * masked[1, :2].log()).sum()  # naive, on the valid part only
    assert torch.allclose(entropy[1], reference)
    assert attention_entropy(torch.rand(2, 3, 4).softmax(-1)).shape == (2, 3)
