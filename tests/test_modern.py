"""Chapter 14's attention against trusted references: rotary embeddings, RMSNorm and SwiGLU
against ``transformers``' Llama code, grouped-query attention against PyTorch's SDPA, the
sliding window against ``transformers``' mask function, and the whole decoder against small
random ``LlamaForCausalLM`` and ``MistralForCausalLM`` models (built in code)."""
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM
from transformers.masking_utils import sliding_window_causal_mask_function
from transformers.models.llama import modeling_llama

from utils.attention import KVCache, MultiHeadAttention, causal_mask, tiled_attention
from utils.attention.relative import alibi_bias, alibi_slopes, apply_rotary, rotary_cos_sin
from utils.models.blocks import GatedFeedForward
from utils.models.gpt import GPT, GPTConfig
from utils.models.llama import config_from_llama, gpt_from_llama

VOCAB = 61


def hf_model(kind="llama", dtype=torch.float32, seed=0, **kwargs):
    """A small random Llama or Mistral whose weights are large enough that logits differ by
    several units (the default initialisation would give logits near zero)."""
    torch.manual_seed(seed)
    config_class, model_class = {"llama": (LlamaConfig, LlamaForCausalLM),
                                 "mistral": (MistralConfig, MistralForCausalLM)}[kind]
    options = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                   num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=128,
                   rms_norm_eps=1e-6, tie_word_embeddings=False, attn_implementation="eager")
    if kind == "mistral":
        options["sliding_window"] = 5
    options.update(kwargs)
    model = model_class(config_class(**options)).to(dtype).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3 if "embed" in name else 1.5 / math.sqrt(p.shape[1]))
            else:
                p.uniform_(0.5, 1.5)                       # RMSNorm gains
    return model


def tokens(B=3, T=20, seed=1):
    return torch.randint(VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("kind", ["llama", "mistral"])
def test_the_decoder_equals_transformers_to_1e_5(kind):
    """In one pass, and fed through the key-value cache (a prompt, then one token at a time)."""
    model = hf_model(kind)
    ours = gpt_from_llama(model)
    x = tokens()
    with torch.no_grad():
        reference, got = model(x).logits, ours(x)[0]
        cache = ours.new_cache()
        pieces = [ours(x[:, :7], cache)[0]] + [ours(x[:, t:t + 1], cache)[0]
                                               for t in range(7, x.shape[1])]
    assert reference.abs().max() > 3                       # logits that are not all near zero
    torch.testing.assert_close(got, reference, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.cat(pieces, dim=1), reference, atol=1e-5, rtol=0)


def test_the_window_and_the_key_value_heads_matter():
    """The comparison can fail: without Mistral's window, or with every key-value head
    separate, the logits differ from the model's."""
    model = hf_model("mistral")
    x = tokens()
    with torch.no_grad():
        reference = model(x).logits
        for change in ({"window": None}, {"kv_heads": 8}):
            config = config_from_llama(model.config)
            ours = GPT(GPTConfig(**{**config.__dict__, **change}))
            if "kv_heads" in change:
                continue                      # other shapes: the weights cannot even be loaded
            ours.load_state_dict(gpt_from_llama(model).state_dict())
            assert (ours(x)[0] - reference).abs().max() > 1e-2
    with pytest.raises(RuntimeError):
        GPT(GPTConfig(**{**config_from_llama(model.config).__dict__, "kv_heads": 8})
            ).load_state_dict(gpt_from_llama(model).state_dict())


@pytest.mark.parametrize("change, message", [
    ({"attention_bias": True}, "biases"),
    ({"tie_word_embeddings": True}, "tied"),
    ({"hidden_act": "gelu"}, "silu"),
])
def test_what_the_book_lacks_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        config_from_llama(LlamaConfig(vocab_size=VOCAB, hidden_size=32, num_attention_heads=4,
                                      **{"tie_word_embeddings": False, **change}))


def test_rotary_equals_transformers():
    config = LlamaConfig(hidden_size=64, num_attention_heads=4, rope_parameters={
        "rope_type": "default", "rope_theta": 500.0})
    rotary = modeling_llama.LlamaRotaryEmbedding(config)
    q, k = torch.randn(2, 4, 9, 16), torch.randn(2, 4, 9, 16)
    positions = torch.arange(3, 12)
    cos, sin = rotary(q, positions.unsqueeze(0))
    expected = modeling_llama.apply_rotary_pos_emb(q, k, cos, sin)
    ours_cos, ours_sin = rotary_cos_sin(positions, 16, 500.0)
    torch.testing.assert_close(apply_rotary(q, ours_cos, ours_sin), expected[0])
    torch.testing.assert_close(apply_rotary(k, ours_cos, ours_sin), expected[1])


def test_rotated_scores_depend_on_the_offset_only():
    q, k = torch.randn(32), torch.randn(32)
    cos, sin = rotary_cos_sin(torch.arange(200), 32)
    rotated_q, rotated_k = apply_rotary(q.expand(200, 32), cos, sin), apply_rotary(
        k.expand(200, 32), cos, sin)
    for offset in (0, 3, 50):
        scores = (rotated_q[offset:] * rotated_k[:200 - offset]).sum(-1)   # positions p, p - offset
        torch.testing.assert_close(scores, scores[:1].expand_as(scores), atol=1e-4, rtol=0)
    torch.testing.assert_close(rotated_q.norm(dim=-1), q.norm().expand(200))  # a rotation


def test_alibi_slopes_are_the_papers():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -i for i in range(1, 9)]))
    # 12 heads: the 8 slopes of 8 heads, then every other slope of 16 heads
    torch.testing.assert_close(alibi_slopes(12)[8:], torch.tensor([2.0 ** -0.5, 2.0 ** -1.5,
                                                                   2.0 ** -2.5, 2.0 ** -3.5]))
    bias = alibi_bias(2, 2, 4)            # the 2 queries are positions 2 and 3
    torch.testing.assert_close(bias[0, 1], torch.tensor([-3.0, -2.0, -1.0, 0.0]) / 16)


@pytest.mark.parametrize("L, S, window", [(9, 9, 3), (9, 9, 1), (4, 9, 3), (9, 9, 20)])
def test_the_window_mask_is_mistrals(L, S, window):
    allowed = sliding_window_causal_mask_function(window)
    expected = torch.tensor([[bool(allowed(0, 0, torch.tensor(S - L + i), torch.tensor(j)))
                              for j in range(S)] for i in range(L)])
    assert torch.equal(causal_mask(L, S, lower_right=True, window=window), expected)


def test_rms_norm_and_swiglu_equal_llamas():
    config = LlamaConfig(hidden_size=32, intermediate_size=80, mlp_bias=False)
    mlp, norm = modeling_llama.LlamaMLP(config), modeling_llama.LlamaRMSNorm(32, 1e-6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    ours = GatedFeedForward(32, 80)
    ours.load_state_dict(mlp.state_dict())
    x = torch.randn(3, 5, 32)
    torch.testing.assert_close(ours(x), mlp(x))
    book_norm = torch.nn.RMSNorm(32, 1e-6)
    book_norm.load_state_dict(norm.state_dict())
    torch.testing.assert_close(book_norm(x), norm(x))


def attention(**options):
    torch.manual_seed(0)
    return MultiHeadAttention(32, 8, bias=False, **options).eval()


@pytest.mark.parametrize("kv_heads", [1, 2, 8])
def test_grouped_query_attention_equals_pytorch(kv_heads):
    module = attention(num_kv_heads=kv_heads)
    x = torch.randn(2, 6, 32)
    q = module.split_heads(module.q_proj(x))
    k, v = (module.split_heads(p(x), kv_heads) for p in (module.k_proj, module.v_proj))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    expected = module.out_proj(module.merge_heads(expected))
    for need_weights in (False, True):
        out, _ = module(x, x, x, need_weights=need_weights, is_causal=True)
        torch.testing.assert_close(out, expected)
    assert module.k_proj.weight.shape == (kv_heads * 4, 32)


@pytest.mark.parametrize("options", [
    {"num_kv_heads": 2, "rope_base": 10000.0}, {"alibi": True}, {"window": 3},
    {"num_kv_heads": 1, "rope_base": 100.0, "window": 4}])
def test_the_cache_gives_the_full_pass(options):
    module, x = attention(**options), torch.randn(2, 11, 32)
    full, _ = module(x, x, x, need_weights=False, is_causal=True)
    cache, pieces = KVCache(), []
    for start, end in ((0, 5), (5, 6), (6, 9), (9, 10), (10, 11)):
        piece = x[:, start:end]
        pieces.append(module(piece, piece, piece, need_weights=False, is_causal=True,
                             cache=cache)[0])
    torch.testing.assert_close(torch.cat(pieces, dim=1), full)
    if "num_kv_heads" in options:                      # the cache holds Hkv heads only
        assert cache.key.shape == (2, options["num_kv_heads"], 11, 4)


def test_a_window_needs_a_causal_call():
    module, x = attention(window=3), torch.randn(1, 4, 32)
    with pytest.raises(ValueError, match="is_causal=True"):
        module(x, x, x)


def test_windowed_weights_stay_in_the_window():
    module, x = attention(window=3), torch.randn(1, 9, 32)
    _, weights = module(x, x, x, is_causal=True)                       # (1, 9, 9)
    assert torch.equal(weights[0] > 0, causal_mask(9, window=3))


@pytest.mark.parametrize("L, window, block", [(300, 17, 32), (64, 64, 16), (50, 1, 8),
                                              (129, 40, 128)])
def test_tiled_attention_with_a_window_equals_the_masked_one(L, window, block):
    q, k, v = (torch.randn(2, 3, L, 8, generator=torch.Generator().manual_seed(i))
               for i in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, causal_mask(L, window=window))
    torch.testing.assert_close(tiled_attention(q, k, v, True, block, window), expected)


@pytest.mark.parametrize("positions", ["learned", "sinusoidal", "rope", "alibi", "none"])
def test_every_position_scheme_is_causal_and_caches(positions):
    torch.manual_seed(0)
    model = GPT(GPTConfig(VOCAB, d_model=32, heads=4, layers=2, d_ff=64, max_len=32,
                          dropout=0.0, positions=positions, kv_heads=2)).eval()
    x = tokens(2, 12)
    with torch.no_grad():
        full = model(x)[0]
        edited = x.clone()
        edited[:, 8:] = 0
        torch.testing.assert_close(model(edited)[0][:, :8], full[:, :8])
        cache = model.new_cache()
        pieces = [model(x[:, :5], cache)[0]] + [model(x[:, t:t + 1], cache)[0]
                                                for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)
    assert (model.positions is not None) == (positions == "learned")


def test_only_learned_positions_have_a_maximum_length():
    torch.manual_seed(0)
    short = dict(vocab=VOCAB, d_model=32, heads=4, layers=1, d_ff=64, max_len=8, dropout=0.0)
    with pytest.raises(ValueError, match="max_len"):
        GPT(GPTConfig(**short))(tokens(1, 9))
    assert GPT(GPTConfig(**short, positions="rope"))(tokens(1, 30))[0].shape == (1, 30, VOCAB)
