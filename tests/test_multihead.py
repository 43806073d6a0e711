"""MultiHeadAttention against nn.MultiheadAttention with copied weights, gradcheck, masks."""
import pytest
import torch
from torch import nn

from utils.attention import MultiHeadAttention, causal_mask

ATOL = 1e-5
E, H = 16, 4


def pair(seed=0, **kwargs):
    torch.manual_seed(seed)
    reference = nn.MultiheadAttention(E, H, batch_first=True, **kwargs)
    with torch.no_grad():        # non-zero biases, so that copying them is tested too
        for p in reference.parameters():
            if p.dim() == 1:
                p.normal_()
    return MultiHeadAttention.from_torch(reference), reference


def inputs(B=3, L=5, S=7, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, L, E, generator=g), torch.randn(B, S, E, generator=g),
            torch.randn(B, S, E, generator=g))


def padding(B=3, S=7):
    lengths = torch.tensor([S, 4, 1][:B])
    return torch.arange(S) >= lengths.unsqueeze(1)            # True = padding (ignore)


CASES = {
    "cross-attention, L != S": {},
    "key padding": {"key_padding_mask": padding()},
    "boolean attn_mask (L, S)": {"attn_mask": ~causal_mask(5, 7)},
    "float attn_mask (B·H, L, S)": {"attn_mask": torch.randn(3 * H, 5, 7)},
    "padding and attn_mask": {"key_padding_mask": padding(), "attn_mask": ~causal_mask(5, 7)},
    "per-head weights": {"key_padding_mask": padding(), "average_attn_weights": False},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("need_weights", [True, False])
def test_equals_pytorch_with_copied_weights(case, need_weights):
    ours, reference = pair()
    kwargs = dict(CASES[case], need_weights=need_weights)
    out, weights = ours(*inputs(), **kwargs)
    expected, expected_weights = reference(*inputs(), **kwargs)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights, atol=ATOL, rtol=0)
        per_head = not CASES[case].get("average_attn_weights", True)
        assert weights.shape == ((3, H, 5, 7) if per_head else (3, 5, 7))
    else:
        assert weights is None and expected_weights is None


def test_self_attention_gradients_equal_pytorch():
    ours, reference = pair()
    x = torch.randn(2, 6, E)
    mask = torch.tensor([[False] * 6, [False] * 4 + [True] * 2])
    for need_weights in (True, False):
        ours.zero_grad()
        reference.zero_grad()
        ours(x, x, x, key_padding_mask=mask, need_weights=need_weights)[0].pow(2).sum().backward()
        reference(x, x, x, key_padding_mask=mask,
                  need_weights=need_weights)[0].pow(2).sum().backward()
        expected = reference.in_proj_weight.grad.chunk(3)
        for layer, g in zip((ours.q_proj, ours.k_proj, ours.v_proj), expected):
            torch.testing.assert_close(layer.weight.grad, g, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(ours.out_proj.weight.grad, reference.out_proj.weight.grad,
                                   atol=1e-4, rtol=1e-4)


def test_equals_pytorch_fast_path_in_eval_mode():
    ours, reference = pair()
    ours.eval()
    reference.eval()
    x = torch.randn(2, 6, E)
    with torch.inference_mode():   # PyTorch takes its fused native path here
        expected, _ = reference(x, x, x, key_padding_mask=padding(2, 6))
        out, _ = ours(x, x, x, key_padding_mask=padding(2, 6))
    valid = ~padding(2, 6)
    torch.testing.assert_close(out[valid.any(1)], expected[valid.any(1)], atol=ATOL, rtol=0)


def test_is_causal_without_mask_applies_the_causal_mask():
    ours, reference = pair()
    x = torch.randn(2, 6, E)
    mask = ~causal_mask(6)
    expected, _ = reference(x, x, x, attn_mask=mask, is_causal=True)
    for need_weights in (True, False):
        out, _ = ours(x, x, x, is_causal=True, need_weights=need_weights)
        torch.testing.assert_close(out, expected, atol=ATOL, rtol=0)
    changed = x.clone()
    changed[:, 3:] += 1.0
    out2, _ = ours(changed, changed, changed, is_causal=True)
    torch.testing.assert_close(out2[:, :3], expected[:, :3], atol=ATOL, rtol=0)


def test_padded_positions_do_not_change_the_output():
    ours, _ = pair()
    q, k, v = inputs()
    mask = padding()
    out, _ = ours(q, k, v, key_padding_mask=mask)
    k2, v2 = k.clone(), v.clone()
    k2[mask], v2[mask] = 100.0, -100.0                        # garbage in the padding
    out2, _ = ours(q, k2, v2, key_padding_mask=mask)
    torch.testing.assert_close(out, out2, atol=ATOL, rtol=0)
    alone, _ = ours(q[1:2], k[1:2, :4], v[1:2, :4])           # the unpadded sequence alone
    torch.testing.assert_close(out[1:2], alone, atol=ATOL, rtol=0)


def test_fully_masked_query_gets_a_zero_context_not_nan():
    ours, reference = pair()
    q, k, v = inputs()
    mask = torch.zeros(5, 7, dtype=torch.bool)
    mask[2] = True                                            # query 2 may attend to nothing
    for need_weights in (True, False):
        q_ = q.clone().requires_grad_()
        out, _ = ours(q_, k, v, attn_mask=mask, need_weights=need_weights)
        torch.testing.assert_close(out[:, 2], ours.out_proj.bias.expand(3, E).detach())
        out.sum().backward()
        assert torch.isfinite(q_.grad).all()
    expected, _ = reference(q, k, v, attn_mask=mask)          # PyTorch's weights path: NaN
    assert torch.isnan(expected[:, 2]).all()
    torch.testing.assert_close(out[:, [0, 1, 3, 4]], expected[:, [0, 1, 3, 4]], atol=ATOL, rtol=0)


def test_gradcheck_float64():
    torch.manual_seed(0)
    module = MultiHeadAttention(8, 2).double()
    g = torch.Generator().manual_seed(4)
    q = torch.randn(2, 3, 8, dtype=torch.float64, generator=g, requires_grad=True)
    kv = torch.randn(2, 4, 8, dtype=torch.float64, generator=g, requires_grad=True)
    mask = torch.tensor([[False, False, True, False], [False, True, True, True]])
    for need_weights in (True, False):
        assert torch.autograd.gradcheck(
            lambda q, kv, nw=need_weights: module(q, kv, kv, key_padding_mask=mask,
                                                  need_weights=nw)[0], (q, kv))


def test_dropout_only_in_training():
    ours, _ = pair(dropout=0.5)
    q, k, v = inputs()
    ours.eval()
    a, _ = ours(q, k, v)
    ours.dropout = 0.0
    torch.testing.assert_close(a, ours(q, k, v)[0])
    ours.dropout = 0.5
    ours.train()
    assert not torch.allclose(a, ours(q, k, v)[0])


def test_parameters_and_no_bias():
    module = MultiHeadAttention(E, H, bias=False)
    assert sum(p.numel() for p in module.parameters()) == 4 * E * E
    reference = nn.MultiheadAttention(E, H, bias=False, batch_first=True)
    torch.testing.assert_close(MultiHeadAttention.from_torch(reference)(*inputs())[0],
                               reference(*inputs())[0], atol=ATOL, rtol=0)
    assert sum(p.numel() for p in MultiHeadAttention(E, H).parameters()) == \
        sum(p.numel() for p in nn.MultiheadAttention(E, H).parameters())


def test_clear_errors():
    with pytest.raises(ValueError, match="not divisible"):
        MultiHeadAttention(10, 3)
    module = MultiHeadAttention(E, H)
    q, k, v = inputs()
    with pytest.raises(ValueError, match=r"query must be \(batch, length, 16\)"):
        module(q[..., :8], k, v)
    with pytest.raises(ValueError, match="disagree"):
        module(q, k, v[:, :6])
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        module(q, k, v, key_padding_mask=padding()[:, :6])
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        module(q, k, v, attn_mask=torch.zeros(7, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool .* or float"):
        module(q, k, v, key_padding_mask=padding().long())
    with pytest.raises(ValueError, match="can be copied"):
        MultiHeadAttention.from_torch(nn.MultiheadAttention(E, H, kdim=8, vdim=8))


@pytest.mark.parametrize("args, message", [((8, 0), "num_heads must be a whole number >= 1"),
                                           ((8, -2), "num_heads must be a whole number >= 1"),
                                           ((8.0, 2), "embed_dim must be a whole number >= 1"),
                                           ((0, 1), "embed_dim must be a whole number >= 1"),
                                           ((8, True), "num_heads must be a whole number >= 1")])
def test_bad_sizes_are_named(args, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(*args)
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\)"):
        MultiHeadAttention(8, 2, dropout=1.0)


def test_causal_mask_lower_right_equals_pytorchs():
    from torch.nn.attention.bias import causal_lower_right, causal_upper_left
    for L, S in ((3, 3), (2, 5), (1, 4), (4, 6)):
        q, k = torch.randn(1, 1, L, 8), torch.randn(1, 1, S, 8)
        v = torch.randn(1, 1, S, 8)
        for book, torch_bias in ((causal_mask(L, S, lower_right=True), causal_lower_right(L, S)),
                                 (causal_mask(L, S), causal_upper_left(L, S))):
            torch.testing.assert_close(
                nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=book),
                nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=torch_bias))


@pytest.mark.parametrize("need_weights", [True, False])
def test_cache_in_pieces_equals_one_causal_pass(need_weights):
    from utils.attention import KVCache
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 11, 16)
    full, _ = mha(x, x, x, need_weights=need_weights, is_causal=True)
    cache, pieces = KVCache(), []
    for start, stop in ((0, 4), (4, 5), (5, 8), (8, 9), (9, 11)):     # prefill, then pieces
        piece = x[:, start:stop]
        out, weights = mha(piece, piece, piece, need_weights=need_weights, is_causal=True,
                           cache=cache)
        pieces.append(out)
        assert len(cache) == stop
        if need_weights:
            assert weights.shape == (2, stop - start, stop)        # over every key so far
            future = ~causal_mask(stop - start, stop, lower_right=True)
            assert torch.all(weights[:, future] == 0) and torch.all(weights[:, ~future] > 0)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-6, rtol=0)
    assert cache.key.shape == cache.value.shape == (2, 4, 11, 4)


def test_cache_names_a_piece_that_does_not_continue_it():
    from utils.attention import KVCache
    mha, cache = MultiHeadAttention(16, 4), KVCache()
    x = torch.randn(2, 3, 16)
    mha(x, x, x, is_causal=True, cache=cache)
    y = torch.randn(1, 1, 16)
    with pytest.raises(ValueError, match="do not continue the cached keys"):
        mha(y, y, y, is_causal=True, cache=cache)
