"""Every public entry point names a bad argument: one ValueError (or TypeError) whose sentence
says which argument and what was expected, for the mistakes users really make (a float where
ids belong, an integer mask, sizes that do not divide, an impossible length, a probability of
1 or more, a shape from the other convention)."""
import pytest
import torch

from utils.attention import (AdditiveAttention, KVCache, MultiHeadAttention, additive_mask,
                             attention_entropy, attention_pool, causal_mask, lengths_to_valid,
                             masked_softmax, padding_to_valid, scaled_dot_product_attention)
from utils.attention.tiled import tiled_attention
from utils.data.text import lm_batch
from utils.data.toy import make_toy_task
from utils.data.vocab import iterate_batches, make_batch
from utils.metrics import token_accuracy
from utils.models.bert import BertConfig, BertEncoder, mean_pool
from utils.models.blocks import FeedForward, TransformerBlock, TransformerStack
from utils.models.decoding import beam_search
from utils.models.glimpse import glimpse_loss, gumbel_max, gumbel_softmax_st
from utils.models.gpt import GPT, GPTConfig
from utils.models.luong import LuongConfig
from utils.models.positional import LearnedPositions, SinusoidalPositions, sinusoidal_positions
from utils.models.rnn import Seq2SeqConfig
from utils.models.transformer import Seq2SeqTransformer, TransformerConfig
from utils.models.vit import TinyViT, ViTConfig, patchify

q = torch.randn(2, 4, 8)
SMALL_GPT = GPTConfig(vocab=10, d_model=8, heads=2, layers=1, d_ff=16, max_len=6)
SMALL_BERT = BertConfig(vocab=20, d_model=8, heads=2, layers=1, d_ff=16, max_len=5)
SMALL_SEQ2SEQ = TransformerConfig(src_vocab=9, tgt_vocab=9, d_model=8, heads=2, d_ff=16,
                                  encoder_layers=1, decoder_layers=1)
ids = torch.tensor([[4, 5, 6]])


def cached(key, value, then_key, then_value):
    cache = KVCache()
    cache.update(key, value)
    cache.update(then_key, then_value)


CASES = {
    # attention
    "heads that do not divide the width": (lambda: MultiHeadAttention(8, 3),
                                           "embed_dim 8 is not divisible by num_heads 3"),
    "a dropout of 1": (lambda: MultiHeadAttention(8, 2, dropout=1.0), r"dropout must lie in \[0, 1\)"),
    "an integer 0/1 mask": (lambda: scaled_dot_product_attention(q, q, q, torch.ones(4, 4, dtype=torch.long)),
                            "attn_mask must be bool"),
    "dropout_p given where is_causal was meant": (
        lambda: scaled_dot_product_attention(q, q, q, None, True), "dropout_p must lie in"),
    "a float valid mask": (lambda: masked_softmax(torch.randn(2, 3), torch.ones(2, 3)),
                           "valid must be a bool mask"),
    "integer scores": (lambda: masked_softmax(torch.ones(2, 3, dtype=torch.long)),
                       "scores must be a floating-point"),
    "float lengths": (lambda: lengths_to_valid(torch.tensor([2.0, 3.0])),
                      "lengths must be a 1-D"),
    "a length beyond max_len": (lambda: lengths_to_valid(torch.tensor([2, 7]), 5),
                                "lengths must not exceed max_len = 5"),
    "a negative length": (lambda: lengths_to_valid(torch.tensor([3, -1])),
                          "lengths must not be negative, got -1"),
    "a negative causal size": (lambda: causal_mask(-1), "L must be a whole number >= 0"),
    "fewer keys than queries, lower right": (lambda: causal_mask(4, 2, lower_right=True),
                                             "lower_right needs at least as many keys"),
    "an integer padding mask": (lambda: padding_to_valid(torch.tensor([[0, 1]])),
                                "key_padding_mask must be a bool mask"),
    "integer weights to an entropy": (lambda: attention_entropy(torch.tensor([[1, 0]])),
                                      "weights must be a floating-point"),
    "weights and values of two batches": (lambda: attention_pool(torch.rand(2, 1, 3),
                                                                 torch.rand(3, 3, 4)),
                                          "disagree on batch size"),
    "a block size of zero": (lambda: tiled_attention(q, q, q, block_size=0),
                             "block_size must be a whole number >= 1"),
    "a fractional block size": (lambda: tiled_attention(q, q, q, block_size=2.5),
                                "block_size must be a whole number"),
    "keys without a heads axis in a cache": (lambda: KVCache().update(q, q),
                                             r"key must be a floating-point \(B, H, T, D\)"),
    "values shorter than keys": (lambda: KVCache().update(torch.rand(1, 2, 3, 4),
                                                          torch.rand(1, 2, 2, 4)),
                                 "value must be"),
    "a cache continued in another dtype": (
        lambda: cached(torch.rand(1, 2, 3, 4), torch.rand(1, 2, 3, 4),
                       torch.rand(1, 2, 1, 4).double(), torch.rand(1, 2, 1, 4).double()),
        "must match the cached keys"),
    "an additive attention of width 0": (lambda: AdditiveAttention(4, 4, 0),
                                         "attn_dim must be a whole number"),
    "a float mask to additive_mask": (lambda: additive_mask(torch.ones(2, 3)),
                                      "valid must be a bool mask"),
    # positions
    "an odd sinusoidal width": (lambda: sinusoidal_positions(5, 7), "the width must be even"),
    "a sinusoidal length of -1": (lambda: sinusoidal_positions(-1, 8), "length must be"),
    "integer inputs to positions": (lambda: SinusoidalPositions(8)(torch.ones(1, 2, 8, dtype=torch.long)),
                                    "x must be a floating-point"),
    "no learned positions": (lambda: LearnedPositions(0, 8), "max_len must be a whole number"),
    "a sequence longer than the learned positions": (
        lambda: LearnedPositions(3, 8)(torch.rand(1, 4, 8)), "longer than the 3 positions"),
    # blocks and configurations
    "a feed-forward width of 0": (lambda: FeedForward(8, 0, 0.1), "d_ff must be a whole number"),
    "an unknown activation": (lambda: FeedForward(8, 16, 0.1, "tanh"), "activation must be one of"),
    "a LayerNorm eps of 0": (lambda: TransformerBlock(8, 2, 16, eps=0), "eps must be a finite"),
    "a dropout of 1.5 in a block": (lambda: TransformerBlock(8, 2, 16, dropout=1.5), "dropout must"),
    "a stack of 2.0 layers": (lambda: TransformerStack(2.0, 8, 2, 16), "layers must be a whole"),
    "a Transformer whose heads do not divide d_model": (
        lambda: TransformerConfig(9, 9, d_model=64, heads=3), "d_model 64 is not divisible by heads 3"),
    "a Transformer with no encoder": (lambda: TransformerConfig(9, 9, encoder_layers=0),
                                      "encoder_layers must be a whole number >= 1"),
    "a GPT with max_len 0": (lambda: GPTConfig(vocab=10, max_len=0), "max_len must be"),
    "a GPT with 2.5 heads": (lambda: GPTConfig(vocab=10, heads=2.5), "heads must be a whole"),
    "a BERT with dropout 1": (lambda: BertConfig(dropout=1.0), "dropout must lie in"),
    "a ViT whose patches do not tile the image": (lambda: ViTConfig(image_size=9, patch=2),
                                                  "image_size 9 is not divisible by patch 2"),
    "an RNN with an empty vocabulary": (lambda: Seq2SeqConfig(0, 10), "src_vocab must be"),
    "a Luong window of -1": (lambda: LuongConfig(9, 9, window=-1), "window must be a whole number >= 0"),
    # models
    "float tokens to GPT": (lambda: GPT(SMALL_GPT)(torch.rand(1, 3)), "tokens must be a"),
    "a negative temperature": (lambda: GPT(SMALL_GPT).generate(ids, 2, temperature=-1.0),
                               "temperature must be finite and >= 0"),
    "more steps than max_len allows": (lambda: GPT(SMALL_GPT).generate(ids, 4),
                                       "exceeds max_len = 6"),
    "float ids to BERT": (lambda: BertEncoder(SMALL_BERT)(torch.rand(1, 3), torch.ones(1, 3)),
                          "input_ids must be a"),
    "a BERT mask of another shape": (lambda: BertEncoder(SMALL_BERT)(ids, torch.ones(1, 4)),
                                     "attention_mask must have shape"),
    "BERT input beyond max_len": (lambda: BertEncoder(SMALL_BERT)(torch.ones(1, 6, dtype=torch.long),
                                                                  torch.ones(1, 6)),
                                  "exceed max_len = 5"),
    "a mean-pool mask of another shape": (lambda: mean_pool(torch.rand(2, 3, 8), torch.ones(2, 4)),
                                          "attention_mask must have shape"),
    "images of another size to the ViT": (lambda: TinyViT()(torch.rand(2, 9, 9)),
                                          r"images must be \(N, 8, 8\)"),
    "one image without a batch axis": (lambda: patchify(torch.rand(8, 8), 2),
                                       r"images must be a floating-point \(N, H, W\)"),
    "source lengths of another batch": (
        lambda: Seq2SeqTransformer(SMALL_SEQ2SEQ)(ids, torch.tensor([3, 3]), ids),
        "src_lengths must have shape"),
    "a source length beyond the padding": (
        lambda: Seq2SeqTransformer(SMALL_SEQ2SEQ)(ids, torch.tensor([4]), ids),
        "src_lengths must lie in 1..3"),
    "a beam of 0": (lambda: beam_search(lambda prefixes: None, 0, 5), "beam_size >= 1"),
    "a Gumbel temperature of 0": (lambda: gumbel_softmax_st(torch.rand(2, 4), tau=0.0),
                                  "tau must be a finite number > 0"),
    "noise of another shape": (lambda: gumbel_max(torch.rand(2, 4), torch.rand(4)),
                               "uniform must have the shape of logits"),
    "an unknown glimpse method": (lambda: glimpse_loss(None, None, None, "hard"),
                                  "unknown method 'hard'"),
    # data and metrics
    "a context longer than the text": (lambda: lm_batch(torch.arange(10), 2, 9),
                                       "context must be shorter than the text"),
    "a float text": (lambda: lm_batch(torch.rand(100), 2, 9), "ids must be a 1-D"),
    "no pairs": (lambda: make_batch([], None, None), "at least one pair"),
    "a batch size of 0": (lambda: next(iterate_batches([1], 0, None, None)), "batch_size must"),
    "an unknown toy task": (lambda: make_toy_task("rotate", 5, 4), "unknown task .rotate."),
    "predictions of another shape": (lambda: token_accuracy(torch.ones(2, 3), torch.ones(2, 4)),
                                     "pred has shape"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_argument_is_named_in_one_sentence(case):
    make, message = CASES[case]
    with pytest.raises((ValueError, TypeError), match=message) as error:
        make()
    text = str(error.value)
    assert "\n" not in text and len(text) < 300, text


def test_a_tensor_is_asked_for_by_name():
    with pytest.raises(TypeError, match="tokens must be a torch.Tensor, got list"):
        GPT(SMALL_GPT)([[1, 2]])


def test_lengths_are_called_integers_not_token_ids():
    with pytest.raises(ValueError) as error:
        lengths_to_valid(torch.tensor([2.0, 3.0]))
    assert "tensor of integers" in str(error.value) and "token" not in str(error.value)


def test_no_keys_and_no_queries_give_empty_outputs_as_pytorch_does():
    """A softmax over zero keys and attention for zero queries: empty results, no torch error."""
    import torch.nn.functional as F

    from utils.attention import tiled_attention
    weights = masked_softmax(torch.zeros(2, 3, 0), torch.zeros(2, 3, 0, dtype=torch.bool))
    assert weights.shape == (2, 3, 0)
    q, k, v = torch.zeros(2, 0, 4), torch.randn(2, 3, 4), torch.randn(2, 3, 5)
    out = tiled_attention(q, k, v, block_size=2)
    assert out.shape == (2, 0, 5) == F.scaled_dot_product_attention(q, k, v).shape
