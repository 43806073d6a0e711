"""Transformer blocks against PyTorch's layers with copied weights; masks; decoding."""
import pytest
import torch
from torch import nn

from utils.attention import MultiHeadAttention
from utils.models.blocks import TransformerBlock, TransformerStack
from utils.models.transformer import Seq2SeqTransformer, TransformerConfig
from utils.special_tokens import BOS, PAD

E, H, FF = 16, 4, 32


def copy_common(ours, theirs, attention_pairs):
    for mine, torch_mha in attention_pairs:
        mine.load_state_dict(MultiHeadAttention.from_torch(torch_mha).state_dict())
    ours.ffn.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.ffn.linear2.load_state_dict(theirs.linear2.state_dict())


@pytest.mark.parametrize("norm", ["pre", "post"])
@pytest.mark.parametrize("activation, eps", [("relu", 1e-5), ("gelu", 1e-12)])
def test_encoder_block_equals_pytorch(norm, activation, eps):
    torch.manual_seed(0)
    theirs = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, batch_first=True,
                                        norm_first=norm == "pre", activation=activation,
                                        layer_norm_eps=eps)
    ours = TransformerBlock(E, H, FF, 0.0, norm, activation, eps)
    assert ours.norm1.eps == eps
    copy_common(ours, theirs, [(ours.self_attention, theirs.self_attn)])
    ours.norm1.load_state_dict(theirs.norm1.state_dict())
    ours.norm2.load_state_dict(theirs.norm2.state_dict())
    x = torch.randn(3, 7, E)
    padding = torch.arange(7) >= torch.tensor([7, 5, 2]).unsqueeze(1)
    expected = theirs(x, src_key_padding_mask=padding)
    got, _ = ours(x, padding)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_decoder_block_equals_pytorch(norm):
    torch.manual_seed(1)
    theirs = nn.TransformerDecoderLayer(E, H, FF, dropout=0.0, batch_first=True,
                                        norm_first=norm == "pre")
    ours = TransformerBlock(E, H, FF, 0.0, norm, causal=True, cross_attention=True)
    copy_common(ours, theirs, [(ours.self_attention, theirs.self_attn),
                               (ours.cross_attention, theirs.multihead_attn)])
    for mine, their in zip((ours.norm1, ours.norm2, ours.norm3),
                           (theirs.norm1, theirs.norm2, theirs.norm3)):
        mine.load_state_dict(their.state_dict())
    y, memory = torch.randn(3, 5, E), torch.randn(3, 7, E)
    padding = torch.arange(7) >= torch.tensor([7, 5, 2]).unsqueeze(1)
    causal = nn.Transformer.generate_square_subsequent_mask(5)
    expected = theirs(y, memory, tgt_mask=causal, tgt_is_causal=True,
                      memory_key_padding_mask=padding)
    got, weights = ours(y, memory=memory, memory_padding=padding, need_weights=True)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert weights.shape == (3, H, 5, 7) and (weights[2, :, :, 2:] == 0).all()


def small_model(norm="pre"):
    torch.manual_seed(0)
    model = Seq2SeqTransformer(TransformerConfig(12, 11, d_model=E, heads=H, d_ff=FF,
                                                 dropout=0.1, norm=norm))
    return model.eval()


def test_logits_do_not_depend_on_later_target_tokens_or_source_padding():
    model = small_model()
    src = torch.tensor([[5, 6, 7, 8], [5, 6, PAD, PAD]])
    tgt = torch.tensor([[BOS, 4, 5, 6, 7], [BOS, 4, 5, 6, 7]])
    logits, weights = model(src, torch.tensor([4, 2]), tgt)
    changed = tgt.clone()
    changed[:, 3:] = 9
    logits2, _ = model(src, torch.tensor([4, 2]), changed)
    torch.testing.assert_close(logits[:, :3], logits2[:, :3])
    assert not torch.allclose(logits[:, 3:], logits2[:, 3:])
    longer = torch.cat([src, torch.full((2, 3), PAD)], dim=1)
    logits3, _ = model(longer, torch.tensor([4, 2]), tgt)
    torch.testing.assert_close(logits3, logits, atol=1e-5, rtol=0)
    assert weights.shape == (2, 5, 4) and (weights[1, :, 2:] == 0).all()


def test_greedy_agrees_with_teacher_forcing_on_its_own_output():
    for norm in ("pre", "post"):
        model = small_model(norm)
        src = torch.tensor([[5, 6, 7, 8], [3, 9, 10, PAD]])
        tokens, weights = model.greedy(src, torch.tensor([4, 3]), 6)
        tgt_in = torch.cat([torch.full((2, 1), BOS), tokens[:, :-1]], dim=1)
        logits, _ = model(src, torch.tensor([4, 3]), tgt_in)
        assert torch.equal(logits.argmax(-1), tokens)
        assert tokens.shape == (2, 6) and weights.shape == (2, 6, 4)


def test_dropout_is_off_in_eval_mode_and_config_is_checked():
    model = small_model()
    src, tgt = torch.tensor([[5, 6, 7]]), torch.tensor([[BOS, 4, 5]])
    a, b = model(src, None, tgt)[0], model(src, None, tgt)[0]
    torch.testing.assert_close(a, b)
    model.train()
    assert not torch.allclose(model(src, None, tgt)[0], a)
    with pytest.raises(ValueError, match="norm"):
        TransformerConfig(3, 3, norm="middle")


def test_source_lengths_decide_the_padding():
    """As for the recurrent models, what lies beyond src_lengths is padding, whatever it holds."""
    model = small_model()
    tgt = torch.tensor([[BOS, 4, 5], [BOS, 4, 5]])
    padded = torch.tensor([[5, 6, 7, 8], [5, 6, PAD, PAD]])
    garbage = torch.tensor([[5, 6, 7, 8], [5, 6, 9, 10]])  # not PAD after the end of sentence 2
    lengths = torch.tensor([4, 2])
    torch.testing.assert_close(model(garbage, lengths, tgt)[0], model(padded, lengths, tgt)[0],
                               atol=1e-6, rtol=0)
    assert not torch.allclose(model(garbage, None, tgt)[0], model(padded, None, tgt)[0])
    with pytest.raises(ValueError, match="src_lengths must lie in"):
        model(padded, torch.tensor([5, 2]), tgt)
    with pytest.raises(ValueError, match="src_lengths must have shape"):
        model.greedy(padded, torch.tensor([4]), 3)


def test_a_causal_block_equals_pytorchs_encoder_layer_with_a_causal_mask():
    """The decoder-only (GPT) block: self-attention with the causal mask, no cross-attention."""
    torch.manual_seed(2)
    theirs = nn.TransformerEncoderLayer(E, H, FF, dropout=0.0, batch_first=True, norm_first=True)
    ours = TransformerBlock(E, H, FF, 0.0, "pre", causal=True)
    copy_common(ours, theirs, [(ours.self_attention, theirs.self_attn)])
    ours.norm1.load_state_dict(theirs.norm1.state_dict())
    ours.norm2.load_state_dict(theirs.norm2.state_dict())
    x = torch.randn(2, 6, E)
    causal = nn.Transformer.generate_square_subsequent_mask(6)
    got, _ = ours(x)
    torch.testing.assert_close(got, theirs(x, src_mask=causal, is_causal=True), atol=1e-5, rtol=0)


def test_one_block_names_its_parts_as_pytorch_does():
    encoder = TransformerBlock(E, H, FF)
    decoder = TransformerBlock(E, H, FF, causal=True, cross_attention=True)
    assert {k.split(".")[0] for k in encoder.state_dict()} == {"self_attention", "ffn", "norm1",
                                                               "norm2"}
    assert {k.split(".")[0] for k in decoder.state_dict()} == {
        "self_attention", "cross_attention", "ffn", "norm1", "norm2", "norm3"}
    assert "ffn.linear1.weight" in encoder.state_dict() and "ffn.linear2.bias" in encoder.state_dict()


@pytest.mark.parametrize("make, call, message", [
    (lambda: TransformerBlock(E, H, FF), lambda b: b(torch.randn(1, 3, E), memory=torch.randn(1, 2, E)),
     "memory is needed by a block with cross-attention"),
    (lambda: TransformerBlock(E, H, FF, cross_attention=True), lambda b: b(torch.randn(1, 3, E)),
     "memory is needed by a block with cross-attention"),
    (lambda: TransformerBlock(E, H, FF, norm="middle"), None, r"norm must be one of \('pre', 'post'\)"),
    (lambda: TransformerStack(0, E, H, FF), None, "layers must be a whole number >= 1"),
    (lambda: TransformerStack(2, E, H, FF, causal=True),
     lambda s: s(torch.randn(1, 3, E), caches=[None]), "one KVCache per block"),
])
def test_blocks_name_bad_arguments(make, call, message):
    from utils.attention import KVCache
    with pytest.raises(ValueError, match=message):
        made = make()
        call(made)
    with pytest.raises(ValueError, match="needs a causal block"):
        TransformerBlock(E, H, FF)(torch.randn(1, 3, E), cache=KVCache())
