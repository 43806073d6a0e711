"""Every model and attention function computes on the device of its inputs.

Each case runs on every available device (the CPU always, CUDA when present) and must give the
CPU's result. On the CPU it runs inside ``torch.device("meta")``: a tensor created without
``device=`` then lands on the meta device and the first operation that mixes it with the real
inputs fails, so a forgotten ``device=`` is caught on a machine without a GPU.
"""
import contextlib

import pytest
import torch

from utils.attention import (AdditiveAttention, KVCache, MultiHeadAttention, additive_mask,
                             attention_entropy, attention_pool, causal_mask, lengths_to_valid,
                             masked_softmax, scaled_dot_product_attention)
from utils.attention.tiled import tiled_attention
from utils.data.text import lm_batch
from utils.models.bahdanau import BahdanauSeq2Seq
from utils.models.bert import BertConfig, BertEncoder, mean_pool
from utils.models.glimpse import GlimpseNet, glimpse_loss
from utils.models.gpt import GPT, GPTConfig
from utils.models.luong import LuongConfig, LuongSeq2Seq
from utils.models.positional import LearnedPositions, SinusoidalPositions
from utils.models.rnn import FixedContextSeq2Seq, Seq2SeqConfig
from utils.models.transformer import Seq2SeqTransformer, TransformerConfig
from utils.models.vit import TinyViT, ViTConfig

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def inputs(seed=0):
    gen = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 12, (3, 6), generator=gen)
    src[1, 4:] = 0                                            # PAD
    return dict(q=torch.randn(3, 2, 5, 8, generator=gen), k=torch.randn(3, 2, 7, 8, generator=gen),
                kv1=torch.randn(3, 1, 7, 8, generator=gen), x=torch.randn(3, 5, 8, generator=gen),
                src=src, lengths=torch.tensor([6, 4, 6]), tgt=torch.randint(4, 12, (3, 5), generator=gen),
                cells=torch.rand(3, 9, 8, 8, generator=gen), labels=torch.tensor([1, 2, 3]),
                images=torch.rand(3, 8, 8, generator=gen))


def seq2seq(model_class, config):
    def run(model, d):
        logits, _ = model(d["src"], d["lengths"], d["tgt"])
        tokens, _ = model.greedy(d["src"], d["lengths"], 4)
        return logits, tokens
    return (lambda: model_class(config)), run


def mha_with_cache(mha, d):
    cache = KVCache()
    first, _ = mha(d["x"][:, :3], d["x"][:, :3], d["x"][:, :3], is_causal=True, cache=cache)
    rest, _ = mha(d["x"][:, 3:], d["x"][:, 3:], d["x"][:, 3:], is_causal=True, cache=cache)
    padding = ~lengths_to_valid(torch.tensor([5, 2, 4], device=d["x"].device), 5)
    masked, weights = mha(d["x"], d["x"], d["x"], key_padding_mask=padding,
                          attn_mask=~causal_mask(5, device=d["x"].device))
    return first, rest, masked, weights


def gpt(model, d):
    logits, _ = model(d["src"])
    return (logits, model.generate(d["src"][:, :2], 5, temperature=0),
            model.generate(d["src"][:, :2], 5, temperature=0, use_cache=False))


def bert(model, d):
    mask = (d["src"] != 0).long()
    hidden, weights = model(d["src"], mask, need_weights=True)
    return hidden, weights[0], mean_pool(hidden, mask)


def glimpse(net, d):
    loss, reward = glimpse_loss(net, d["cells"], d["labels"], "soft")
    return [loss, reward] + list(net.predict(d["cells"], hard=True))


def additive(attention, d):
    return attention(d["x"][:, 0], attention.project_keys(d["x"]), d["x"], d["src"][:, :5] != 0)


def functions(run):
    return (lambda: None), (lambda _, d: run(d))


CASES = {   # name: (build the modules, run them on the data)
    "scaled_dot_product_attention": functions(lambda d: (
        scaled_dot_product_attention(d["q"], d["k"], d["k"], is_causal=True),
        scaled_dot_product_attention(d["q"], d["k"], d["k"],
                                     causal_mask(5, 7, d["q"].device, lower_right=True)),
        scaled_dot_product_attention(d["q"], d["kv1"], d["kv1"], enable_gqa=True))),
    "masks and softmax": functions(lambda d: (
        masked_softmax(d["x"], lengths_to_valid(torch.tensor([5, 2, 4], device=d["x"].device),
                                                8).unsqueeze(1)),
        attention_entropy(torch.softmax(d["x"], -1)),
        attention_pool(torch.softmax(d["x"][:, :, :5], -1), d["x"]),
        additive_mask(d["src"] != 0))),
    "tiled_attention": functions(lambda d: (
        tiled_attention(d["q"], d["k"], d["k"], block_size=3),
        tiled_attention(d["q"], d["q"], d["q"], True, block_size=2))),
    "lm_batch": functions(lambda d: lm_batch(d["src"].flatten(), 2, 3)),
    "MultiHeadAttention with masks and a cache": (lambda: MultiHeadAttention(8, 2), mha_with_cache),
    "AdditiveAttention": (lambda: AdditiveAttention(8, 8, 4), additive),
    "positions": ((lambda: (SinusoidalPositions(8), LearnedPositions(6, 8))),
                  lambda m, d: (m[0](d["x"]), m[1](d["x"]))),
    "Seq2SeqTransformer": seq2seq(Seq2SeqTransformer, TransformerConfig(
        12, 12, d_model=8, heads=2, d_ff=16, encoder_layers=1, decoder_layers=1)),
    "FixedContextSeq2Seq": seq2seq(FixedContextSeq2Seq, Seq2SeqConfig(12, 12, 8, 8, True)),
    "BahdanauSeq2Seq": seq2seq(BahdanauSeq2Seq, Seq2SeqConfig(12, 12, 8, 8)),
    "LuongSeq2Seq local-p": seq2seq(LuongSeq2Seq, LuongConfig(12, 12, 8, 8, "general", "local-p",
                                                              window=2)),
    "LuongSeq2Seq feeding": seq2seq(LuongSeq2Seq, LuongConfig(12, 12, 8, 8, "concat",
                                                              input_feeding=True)),
    "GPT with and without the cache": (lambda: GPT(GPTConfig(vocab=12, d_model=8, heads=2,
                                                             layers=2, d_ff=16, max_len=16)), gpt),
    "BertEncoder": (lambda: BertEncoder(BertConfig(vocab=12, d_model=8, heads=2, layers=1,
                                                   d_ff=16, max_len=8)), bert),
    "TinyViT": (lambda: TinyViT(ViTConfig(d_model=8, heads=2, d_ff=16, layers=1)),
                lambda m, d: m(d["images"], need_weights=True)),
    "GlimpseNet": (lambda: GlimpseNet(hidden=16, locator_hidden=8), glimpse),
}


def flatten(result) -> list:
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, (list, tuple)):
        return [t for r in result for t in flatten(r)]
    return []


def outputs(case: str, device: str, trap: bool) -> list:
    """Build on the CPU (the same initial weights everywhere), move to ``device``, run in eval
    mode (no dropout), with factory calls lacking ``device=`` sent to the meta device if
    ``trap``."""
    build, run = CASES[case]
    torch.manual_seed(0)
    built = build()
    for module in built if isinstance(built, tuple) else (built,):
        if module is not None:
            module.to(device).eval()
    data = {name: t.to(device) for name, t in inputs().items()}
    with torch.device("meta") if trap else contextlib.nullcontext():
        return flatten(run(built, data))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", sorted(CASES))
def test_computes_on_the_device_of_its_inputs(case, device):
    reference = outputs(case, "cpu", trap=False)
    results = outputs(case, device, trap=device == "cpu")
    assert len(results) == len(reference) > 0
    for out, ref in zip(results, reference):
        assert out.device.type == device
        if out.is_floating_point():
            torch.testing.assert_close(out.cpu(), ref, atol=1e-5, rtol=1e-4)
        else:
            assert torch.equal(out.cpu(), ref)


def test_the_trap_catches_a_tensor_made_without_device():
    """Mixing the forgotten tensor with real ones either fails or yields a meta tensor, which
    the device check above rejects."""
    def forgetful(x):
        return x + torch.arange(x.shape[-1])             # no device=: wrong on a GPU

    with torch.device("meta"):
        try:
            result = forgetful(torch.ones(3))
        except (RuntimeError, NotImplementedError):
            return
    assert result.device.type == "meta"
