"""The decoder-only model: causal, and the key-value cache changes nothing but the speed."""
import pytest
import torch

from utils.models.gpt import GPT, GPTConfig


def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab=11, d_model=16, heads=2, layers=2, d_ff=32, max_len=24)).eval()


def test_cached_logits_equal_uncached_logits():
    gpt = model()
    tokens = torch.randint(11, (3, 20), generator=torch.Generator().manual_seed(1))
    full, _ = gpt(tokens)
    cache = gpt.new_cache()
    logits, _ = gpt(tokens[:, :7], cache)               # prefill seven positions
    pieces = [logits]
    for t in range(7, 20, 3):                           # then chunks of up to three
        logits, _ = gpt(tokens[:, t:t + 3], cache)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=0)
    assert len(cache[0]) == 20 and cache[0].key.shape == cache[1].value.shape == (3, 2, 20, 8)


def test_causal_and_generation_with_and_without_cache_agree():
    gpt = model()
    tokens = torch.randint(11, (2, 12), generator=torch.Generator().manual_seed(2))
    changed = tokens.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 11
    torch.testing.assert_close(gpt(tokens)[0][:, :8], gpt(changed)[0][:, :8])
    prompt = tokens[:, :4]
    for temperature in (0, 1.0):
        a = gpt.generate(prompt, 15, temperature, use_cache=True,
                         generator=torch.Generator().manual_seed(3))
        b = gpt.generate(prompt, 15, temperature, use_cache=False,
                         generator=torch.Generator().manual_seed(3))
        assert a.shape == (2, 19) and torch.equal(a, b)


def test_the_cache_is_filled_by_multihead_attention_not_by_the_model():
    gpt = model()
    assert not hasattr(gpt.blocks[0], "attend")
    cache = gpt.new_cache()
    gpt(torch.zeros(1, 5, dtype=torch.long), cache)
    assert [len(c) for c in cache] == [5, 5]
    with pytest.raises(ValueError, match="one KVCache per block"):
        gpt(torch.zeros(1, 1, dtype=torch.long), cache[:1])


def test_too_long_is_an_error():
    gpt = model()
    with pytest.raises(ValueError, match="max_len"):
        gpt(torch.zeros(1, 25, dtype=torch.long))
    cache = gpt.new_cache()
    gpt(torch.zeros(1, 20, dtype=torch.long), cache)
    with pytest.raises(ValueError, match="positions up to 25 exceed max_len = 24"):
        gpt(torch.zeros(1, 5, dtype=torch.long), cache)


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt=torch.tensor([1, 2]), steps=3), "prompt must be a"),
    (dict(prompt=torch.zeros(1, 0, dtype=torch.long), steps=3), "prompt must hold at least one token"),
    (dict(prompt=torch.ones(1, 2), steps=3), "prompt must be a"),
    (dict(prompt=torch.ones(1, 2, dtype=torch.long), steps=-1), "steps must be"),
    (dict(prompt=torch.ones(1, 2, dtype=torch.long), steps=3, temperature=-1.0), "reversed"),
    (dict(prompt=torch.ones(1, 2, dtype=torch.long), steps=3, temperature=float("inf")),
     "temperature must be finite"),
    (dict(prompt=torch.ones(1, 20, dtype=torch.long), steps=5), "exceeds max_len = 24"),
])
def test_generate_names_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        model().generate(**kwargs)
