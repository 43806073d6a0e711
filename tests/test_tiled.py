"""Tiled (online-softmax) attention equals ordinary attention."""
import pytest
import torch

from utils.attention import scaled_dot_product_attention, tiled_attention


@pytest.mark.parametrize("block", [1, 7, 16, 200])
@pytest.mark.parametrize("causal", [False, True])
def test_equals_naive_attention(block, causal):
    g = torch.Generator().manual_seed(block)
    q, k, v = (torch.randn(2, 3, 37, 16, generator=g), torch.randn(2, 3, 37, 16, generator=g),
               torch.randn(2, 3, 37, 8, generator=g))
    expected, _ = scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(tiled_attention(q, k, v, is_causal=causal, block_size=block),
                               expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("L, S", [(5, 23), (23, 5)])
def test_queries_and_keys_of_different_lengths(L, S):
    q, k, v = torch.randn(L, 8), torch.randn(S, 8), torch.randn(S, 4)
    for causal in (False, True):
        expected, _ = scaled_dot_product_attention(q, k, v, is_causal=causal)
        torch.testing.assert_close(tiled_attention(q, k, v, is_causal=causal, block_size=4),
                                   expected, atol=1e-5, rtol=0)


def test_stable_for_huge_scores_and_differentiable():
    q = torch.randn(1, 10, 4) * 300        # scores in the tens of thousands
    k, v = torch.randn(1, 10, 4) * 300, torch.randn(1, 10, 4)
    expected, _ = scaled_dot_product_attention(q, k, v)
    got = tiled_attention(q, k, v, block_size=3)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    args = [torch.randn(6, 3, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(
        lambda q, k, v: tiled_attention(q, k, v, is_causal=True, block_size=4), args)


def test_errors():
    with pytest.raises(ValueError, match="block_size"):
        tiled_attention(torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4), block_size=0)
    with pytest.raises(ValueError, match="width"):
        tiled_attention(torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 4))


def test_a_query_with_no_key_gets_zeros_as_in_pytorch():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 0, 4), torch.randn(2, 0, 5)
    got = tiled_attention(q, k, v, block_size=2)
    torch.testing.assert_close(got, torch.zeros(2, 3, 5))
    torch.testing.assert_close(got, torch.nn.functional.scaled_dot_product_attention(q, k, v))


def test_gradients_equal_those_of_ordinary_attention():
    g = torch.Generator().manual_seed(3)
    args = [torch.randn(2, 19, 8, dtype=torch.float64, generator=g, requires_grad=True)
            for _ in range(3)]
    for causal in (False, True):
        tiled = torch.autograd.grad(tiled_attention(*args, is_causal=causal, block_size=5).sum(),
                                    args)
        plain = torch.autograd.grad(
            scaled_dot_product_attention(*args, is_causal=causal)[0].sum(), args)
        for a, b in zip(tiled, plain):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
