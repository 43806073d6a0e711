"""Luong attention: scores against naive formulas, windows, masks, decoding consistency."""
import itertools

import pytest
import torch

from utils.attention import lengths_to_valid
from utils.models.luong import KINDS, SCORES, LuongAttention, LuongConfig, LuongSeq2Seq


def batch():
    torch.manual_seed(0)
    lengths = torch.tensor([9, 4])
    src = torch.randint(4, 20, (2, 9))
    src[1, 4:] = 0
    return src, lengths, torch.randint(3, 15, (2, 7))


@pytest.mark.parametrize("score,kind,feed", list(itertools.product(SCORES, KINDS, [False, True])))
def test_every_variant_decodes_consistently(score, kind, feed):
    torch.manual_seed(1)
    model = LuongSeq2Seq(LuongConfig(20, 15, 6, 8, score=score, attention=kind, window=2,
                                     input_feeding=feed)).eval()
    src, lengths, tgt_in = batch()
    logits, weights = model(src, lengths, tgt_in)
    assert logits.shape == (2, 7, 15) and weights.shape == (2, 7, 9)
    assert (weights[1, :, 4:] == 0).all()  # padding
    if kind != "local-p":
        assert torch.allclose(weights.sum(-1), torch.ones(2, 7), atol=1e-6)
    tokens, greedy_weights = model.greedy(src, lengths, max_len=6)
    tf_in = torch.cat([torch.ones(2, 1, dtype=torch.long), tokens[:, :-1]], dim=1)
    tf_logits, tf_weights = model(src, lengths, tf_in)
    assert torch.equal(tf_logits.argmax(-1), tokens)
    assert torch.allclose(greedy_weights, tf_weights, atol=1e-5)


def test_scores_match_the_formulas():
    torch.manual_seed(2)
    states, keys = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    dot = LuongAttention(LuongConfig(9, 9, hidden_size=4, score="dot"))
    assert torch.allclose(dot.scores(states, keys), torch.einsum("btd,bsd->bts", states, keys))
    general = LuongAttention(LuongConfig(9, 9, hidden_size=4, score="general"))
    W = general.W_a.weight
    assert torch.allclose(general.scores(states, keys),
                          torch.einsum("btd,de,bse->bts", states, W, keys), atol=1e-6)
    concat = LuongAttention(LuongConfig(9, 9, hidden_size=4, score="concat"))
    for b, t, s in itertools.product(range(2), range(3), range(5)):
        naive = concat.v_a(torch.tanh(concat.W_a(torch.cat([states[b, t], keys[b, s]]))))
        assert torch.allclose(concat.scores(states, keys)[b, t, s], naive.squeeze(), atol=1e-6)


def test_local_windows():
    torch.manual_seed(3)
    keys, states = torch.randn(1, 12, 4), torch.randn(1, 12, 4)
    valid = lengths_to_valid(torch.tensor([10]), 12)
    steps = torch.arange(12)
    local_m = LuongAttention(LuongConfig(9, 9, hidden_size=4, attention="local-m", window=2))
    _, w = local_m(states, keys, valid, torch.tensor([10]), steps)
    for t in range(12):
        centre = min(t, 9)
        outside = (torch.arange(12) - centre).abs() > 2
        assert (w[0, t, outside] == 0).all() and w[0, t].sum() == pytest.approx(1.0, abs=1e-6)
    local_p = LuongAttention(LuongConfig(9, 9, hidden_size=4, attention="local-p", window=2))
    _, w = local_p(states, keys, valid, torch.tensor([10]), steps)
    assert (w <= 1).all() and (w[0].sum(-1) <= 1 + 1e-6).all() and (w[..., 10:] == 0).all()


def test_concat_gradcheck_float64():
    attn = LuongAttention(LuongConfig(9, 9, hidden_size=4, score="concat")).double()
    states = torch.randn(1, 2, 4, dtype=torch.double, requires_grad=True)
    keys = torch.randn(1, 3, 4, dtype=torch.double, requires_grad=True)
    valid = torch.ones(1, 3, dtype=torch.bool)
    assert torch.autograd.gradcheck(
        lambda s, k: attn(s, k, valid, torch.tensor([3]), torch.arange(2))[0], (states, keys))


def test_config_errors():
    with pytest.raises(ValueError, match="score must be"):
        LuongConfig(9, 9, score="cosine")
    with pytest.raises(ValueError, match="attention must be"):
        LuongConfig(9, 9, attention="local")
    with pytest.raises(ValueError, match="even"):
        LuongConfig(9, 9, hidden_size=7)
