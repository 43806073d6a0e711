"""GRU encoder, fixed-context decoder and the full model."""
import pytest
import torch

from utils.models.rnn import (ContextDecoder, Encoder, FixedContextSeq2Seq, Seq2SeqConfig,
                              last_valid_state)


def padded_batch():
    torch.manual_seed(0)
    lengths = torch.tensor([5, 2, 4])
    src = torch.randint(4, 20, (3, 5))
    for row, n in enumerate(lengths):
        src[row, n:] = 0
    return src, lengths


def test_final_state_is_state_after_last_real_word():
    src, lengths = padded_batch()
    encoder = Encoder(20, 8, 6)
    outputs, final = encoder(src, lengths)
    assert outputs.shape == (3, 5, 6) and final.shape == (3, 6)
    assert torch.allclose(final, last_valid_state(outputs, lengths))
    assert (outputs[1, 2:] == 0).all()  # padded positions carry no state


def test_padding_does_not_change_a_sentence_encoding():
    src, lengths = padded_batch()
    encoder = Encoder(20, 8, 6, bidirectional=True)
    _, batch_final = encoder(src, lengths)
    _, alone = encoder(src[1:2, :2], lengths[1:2])
    assert torch.allclose(batch_final[1], alone[0], atol=1e-6)


def test_bidirectional_final_joins_both_directions():
    src, lengths = padded_batch()
    encoder = Encoder(20, 8, 6, bidirectional=True)
    outputs, final = encoder(src, lengths)
    assert final.shape == (3, 12)
    assert torch.allclose(final[:, :6], last_valid_state(outputs[..., :6], lengths))
    assert torch.allclose(final[:, 6:], outputs[:, 0, 6:])  # backward direction ends at 0


def test_encoder_input_errors():
    encoder = Encoder(20, 8, 6)
    with pytest.raises(ValueError, match="token ids"):
        encoder(torch.randn(2, 3), torch.tensor([3, 3]))
    with pytest.raises(ValueError, match="src_lengths must have shape"):
        encoder(torch.ones(2, 3, dtype=torch.long), torch.tensor([3]))
    with pytest.raises(ValueError, match="lie in 1..3"):
        encoder(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 4]))
    with pytest.raises(ValueError, match="outputs must be"):
        last_valid_state(torch.randn(2, 3), torch.tensor([1, 2]))


def test_decoder_step_by_step_equals_teacher_forcing():
    torch.manual_seed(1)
    decoder = ContextDecoder(15, 6, 7, 5)
    tgt_in, context = torch.randint(15, (2, 6)), torch.randn(2, 5)
    full, _ = decoder(tgt_in, context)
    state, steps = None, []
    for t in range(6):
        logits, state = decoder(tgt_in[:, t:t + 1], context, state)
        steps.append(logits)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-6)


def test_decoder_gradcheck_float64():
    torch.manual_seed(2)
    decoder = ContextDecoder(9, 3, 4, 3).double()
    tgt_in = torch.randint(9, (2, 3))
    context = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda c: decoder(tgt_in, c)[0], (context,))


def test_greedy_decoding_matches_argmax_of_teacher_forcing_on_its_own_output():
    torch.manual_seed(3)
    model = FixedContextSeq2Seq(Seq2SeqConfig(20, 15, 6, 8)).eval()
    src, lengths = padded_batch()
    tokens, weights = model.greedy(src, lengths, max_len=5)
    assert tokens.shape == (3, 5) and weights is None
    tgt_in = torch.cat([torch.ones(3, 1, dtype=torch.long), tokens[:, :-1]], dim=1)
    logits, weights = model(src, lengths, tgt_in)
    assert torch.equal(logits.argmax(-1), tokens) and weights is None


def test_decoder_input_errors():
    decoder = ContextDecoder(15, 6, 7, 5)
    with pytest.raises(ValueError, match="token ids"):
        decoder(torch.randn(2, 3), torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"context must have shape \(2, 5\)"):
        decoder(torch.ones(2, 3, dtype=torch.long), torch.randn(2, 4))
