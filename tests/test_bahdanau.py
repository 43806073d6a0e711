"""RNNsearch: shapes, masks, consistency of teacher forcing and greedy decoding, gradients."""
import torch

from utils.data.minigerman import SEED_PAIR
from utils.data.pair import Pair
from utils.data.vocab import Vocab, make_batch
from utils.metrics import alignment_hits, attention_alignment_accuracy
from utils.models.bahdanau import BahdanauSeq2Seq
from utils.models.rnn import Seq2SeqConfig


def model_and_batch():
    torch.manual_seed(0)
    pairs = [SEED_PAIR, Pair(("he", "sleeps"), ("er", "schläft"), ((0, 0), (1, 1)))]
    sv, tv = Vocab(p.src for p in pairs), Vocab(p.tgt for p in pairs)
    model = BahdanauSeq2Seq(Seq2SeqConfig(len(sv), len(tv), 6, 5)).eval()
    return model, make_batch(pairs, sv, tv), pairs, sv, tv


def test_weights_are_a_distribution_over_real_source_words():
    model, batch, *_ = model_and_batch()
    logits, weights = model(batch.src, batch.src_lengths, batch.tgt_in)
    assert logits.shape == (2, 4, model.config.tgt_vocab) and weights.shape == (2, 4, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4))
    assert (weights[1, :, 2:] == 0).all()  # "he sleeps" has two padding positions


def test_padding_does_not_change_the_output():
    model, batch, *_ = model_and_batch()
    logits, _ = model(batch.src, batch.src_lengths, batch.tgt_in)
    alone, _ = model(batch.src[1:, :2], batch.src_lengths[1:], batch.tgt_in[1:])
    assert torch.allclose(logits[1], alone[0], atol=1e-5)


def test_greedy_equals_teacher_forcing_on_its_own_output():
    model, batch, *_ = model_and_batch()
    tokens, weights = model.greedy(batch.src, batch.src_lengths, max_len=5)
    tgt_in = torch.cat([torch.ones(2, 1, dtype=torch.long), tokens[:, :-1]], dim=1)
    logits, tf_weights = model(batch.src, batch.src_lengths, tgt_in)
    assert torch.equal(logits.argmax(-1), tokens)
    assert torch.allclose(weights, tf_weights, atol=1e-6)


def test_decoder_step_gradcheck_float64():
    model, *_ = model_and_batch()
    decoder = model.decoder.double()
    keys = torch.randn(2, 4, 10, dtype=torch.double, requires_grad=True)
    state = torch.randn(2, 5, dtype=torch.double, requires_grad=True)
    valid = torch.tensor([[True] * 4, [True, True, False, False]])
    prev = torch.tensor([1, 1])

    def step(k, s):
        logits, new_state, weights = decoder.step(prev, s, k, decoder.attention.project_keys(k),
                                                  valid)
        return logits, new_state, weights

    assert torch.autograd.gradcheck(step, (keys, state))


def test_alignment_hits():
    weights = torch.tensor([[0.9, 0.1, 0.0, 0.0], [0.1, 0.2, 0.7, 0.0], [0.0, 0.0, 0.6, 0.4]])
    assert alignment_hits(weights, SEED_PAIR.alignment) == (2, 3)  # Fußball looks at playing
    model, batch, pairs, sv, tv = model_and_batch()
    accuracy = attention_alignment_accuracy(model, pairs, sv, tv)
    assert 0.0 <= accuracy <= 1.0
