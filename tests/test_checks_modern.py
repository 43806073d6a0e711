"""Chapter 14's checkers: right answers pass, the plausible wrong ones are rejected with the
sentence that names the mistake."""
import pytest
import torch

from utils.checks import check_repeat_kv, check_rotary, check_window_mask


def rotate(x, positions, base=10000.0, *, interleaved=False, sign=1.0, frequencies=None,
           shift=0):
    D = x.shape[-1]
    theta = (1.0 / base ** (torch.arange(0, D, 2, dtype=torch.float32) / D)
             if frequencies is None else frequencies(base, D))
    angle = (positions + shift).float().unsqueeze(-1) * theta                   # (L, D/2)
    cos, sin = angle.cos(), sign * angle.sin()
    if interleaved:
        even, odd = x[..., 0::2], x[..., 1::2]
        out = torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)
    else:
        first, second = x.chunk(2, dim=-1)
        out = torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)
    return out.to(x.dtype)


def test_the_rotation_passes():
    assert check_rotary(rotate)
    # written with the angles repeated over both halves and a quarter turn, as Llama writes it
    def llama_style(x, positions, base):
        D = x.shape[-1]
        theta = 1.0 / base ** (torch.arange(0, D, 2).float() / D)
        angle = torch.cat([positions.float()[:, None] * theta] * 2, dim=-1)
        first, second = x.chunk(2, -1)
        return (x * angle.cos() + torch.cat([-second, first], -1) * angle.sin()).to(x.dtype)
    assert check_rotary(llama_style)


@pytest.mark.parametrize("wrong, message", [
    (lambda x, p, b: rotate(x, p, b, interleaved=True), "neighbouring pairs"),
    (lambda x, p, b: rotate(x, p, b, sign=-1.0), "wrong way"),
    (lambda x, p, b: rotate(x, p, b, frequencies=lambda b, D: 1.0 / b ** (
        torch.arange(D // 2).float() / D)), "frequencies are off"),
    (lambda x, p, b: rotate(x, p, b, frequencies=lambda b, D: b ** (
        torch.arange(0, D, 2).float() / D)), "grow instead of falling"),
    (lambda x, p, b: rotate(x, torch.arange(len(p)), b), "positions are ignored"),
    (lambda x, p, b: rotate(x, p, 10000.0), "wrong rotation on positions 10-16"),  # base ignored
    (lambda x, p, b: rotate(x, p, b, shift=1), "wrong rotation"),
    (lambda x, p, b: x, "wrong rotation"),
    (lambda x, p, b: rotate(x.float(), p, b), "dtype torch.float32"),
    (lambda x, p, b: rotate(x, p, b)[..., 0], "returned shape"),
])
def test_wrong_rotations_are_named(wrong, message):
    result = check_rotary(wrong)
    assert not result and message in result.message, result.message


def test_repeating_key_value_heads_passes():
    assert check_repeat_kv(lambda x, H: x.repeat_interleave(H // x.shape[1], dim=1))
    def expanded(x, H):       # a view, no copy, then one reshape
        B, kv, S, D = x.shape
        return x.unsqueeze(2).expand(B, kv, H // kv, S, D).reshape(B, H, S, D)
    assert check_repeat_kv(expanded)


@pytest.mark.parametrize("wrong, message", [
    (lambda x, H: x.repeat(1, H // x.shape[1], 1, 1), "repeat_interleave, not repeat"),
    (lambda x, H: x.repeat_interleave(H // x.shape[1], dim=2), "returned shape"),
    (lambda x, H: x, "returned shape"),
    (lambda x, H: x.repeat_interleave(H // x.shape[1], dim=1).flip(1), "wrong heads"),
    (lambda x, H: x.view(x.shape[0], x.shape[1], 1, -1).expand(-1, -1, H // x.shape[1], -1)
     .reshape(x.shape[0], H, x.shape[2], x.shape[3]), ".reshape"),   # .view of a transposed x
])
def test_wrong_key_value_heads_are_named(wrong, message):
    result = check_repeat_kv(wrong)
    assert not result and message in result.message, result.message


def window(L, w):
    i, j = torch.arange(L).unsqueeze(1), torch.arange(L)
    return (j <= i) & (j > i - w)


def test_the_window_mask_passes():
    assert check_window_mask(window)
    assert check_window_mask(lambda L, w: torch.ones(L, L, dtype=torch.bool).tril().triu(1 - w))


@pytest.mark.parametrize("wrong, message", [
    (lambda L, w: ~window(L, w), "swapped"),
    (lambda L, w: window(L, w + 1), "window + 1"),
    (lambda L, w: window(L, w - 1) if w > 1 else window(L, w).T, "window − 1"),
    (lambda L, w: window(L, L), "window is missing"),
    (lambda L, w: window(L, w).T, "band above the diagonal"),
    (lambda L, w: (torch.arange(L).unsqueeze(1) - torch.arange(L)).abs() < w, "into the future"),
    (lambda L, w: window(L, w).int(), "bool mask"),
    (lambda L, w: window(L, w) if L < 8 else window(L, w).index_put((torch.tensor(0),
     torch.tensor(7)), torch.tensor(True)), "wrong mask for L = 8"),
    (lambda L, w: window(L, w)[0], "returned shape"),
])
def test_wrong_window_masks_are_named(wrong, message):
    result = check_window_mask(wrong)
    assert not result and message in result.message, result.message
