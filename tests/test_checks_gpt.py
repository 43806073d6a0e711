"""The checkers of chapter 10's model exercises: the causal language-model loss and the whole GPT
with a key-value cache. Correct answers written differently are accepted; each plausible wrong
answer is rejected with the sentence that names its mistake."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.checks import check_cached_gpt, check_causal_lm_loss

# --- the causal language-model loss ----------------------------------------------------------


def loss_by_cross_entropy(logits, tokens, pad_id):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1),
                           ignore_index=pad_id)


def loss_by_hand(logits, tokens, pad_id):
    """log_softmax, gather and a mask, keyword-friendly and exact in any dtype."""
    log_probs = logits[:, :-1].log_softmax(dim=-1)                        # (B, T-1, V)
    targets = tokens[:, 1:]
    picked = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)      # (B, T-1)
    counted = (targets != pad_id).to(logits.dtype)
    return -(picked * counted).sum() / counted.sum()


@pytest.mark.parametrize("answer", [loss_by_cross_entropy, loss_by_hand])
def test_lm_loss_check_accepts_correct_answers(answer):
    result = check_causal_lm_loss(answer)
    assert result, result


def wrong_loss(kind):
    def loss(logits, tokens, pad_id):
        V = logits.shape[-1]
        nll = -logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
        counted = tokens[:, 1:] != pad_id
        if kind == "no shift":
            return F.cross_entropy(logits.reshape(-1, V), tokens.reshape(-1), ignore_index=pad_id)
        if kind == "reversed":
            return F.cross_entropy(logits[:, 1:].reshape(-1, V), tokens[:, :-1].reshape(-1),
                                   ignore_index=pad_id)
        if kind == "padding counted":
            return nll.mean()
        if kind == "all positions":
            return (nll * counted).sum() / nll.numel()
        if kind == "sum":
            return (nll * counted).sum()
        if kind == "per sequence":
            return ((nll * counted).sum(1) / counted.sum(1)).mean()
        if kind == "by input":
            keep = tokens[:, :-1] != pad_id
            return (nll * keep).sum() / keep.sum()
        if kind == "pad 0":
            return loss_by_cross_entropy(logits, tokens, 0)
        if kind == "item":
            return loss_by_cross_entropy(logits, tokens, pad_id).item()
        if kind == "log softmax":
            probs = logits[:, :-1].softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
            return -(probs.log() * counted).sum() / counted.sum()
        if kind == "detached":
            return loss_by_cross_entropy(logits.detach(), tokens, pad_id)
        if kind == "shape (1,)":
            return loss_by_cross_entropy(logits, tokens, pad_id).reshape(1)
        if kind == "float64":
            return loss_by_cross_entropy(logits.double(), tokens, pad_id)
    return loss


LOSS_WRONG = {
    "no shift": "position t is scored on token t",
    "reversed": "the shift goes the wrong way",
    "padding counted": "padding targets are counted",
    "all positions": "divided by every position, padding included",
    "sum": "this is the sum of the losses",
    "per sequence": "each sequence is averaged first",
    "by input": "padding is judged by the input token",
    "pad 0": "use the pad_id argument",
    "item": "returned a Python float",
    "log softmax": "never log(softmax(...))",
    "detached": "gradients can follow",
    "float64": "keep the logits' dtype",
    "shape (1,)": "return a 0-d tensor (shape ())",
}


@pytest.mark.parametrize("kind", LOSS_WRONG)
def test_lm_loss_check_names_the_mistake(kind):
    result = check_causal_lm_loss(wrong_loss(kind))
    assert not result and LOSS_WRONG[kind] in result.message, result


def test_lm_loss_check_rejects_the_stub():
    def causal_lm_loss(logits, tokens, pad_id):
        raise NotImplementedError

    assert "not implemented yet" in check_causal_lm_loss(causal_lm_loss).message


# --- the whole model, with a cache -----------------------------------------------------------


class Block(nn.Module):
    """Chapter 10's block, as on the page."""

    def __init__(self, E, H, d_ff):
        super().__init__()
        self.H = H
        self.norm1, self.norm2 = nn.LayerNorm(E), nn.LayerNorm(E)
        self.qkv, self.out = nn.Linear(E, 3 * E), nn.Linear(E, E)
        self.ffn = nn.Sequential(nn.Linear(E, d_ff), nn.ReLU(), nn.Linear(d_ff, E))

    def forward(self, x, cache):
        B, T, E = x.shape
        q, k, v = (z.view(B, T, self.H, E // self.H).transpose(1, 2)
                   for z in self.qkv(self.norm1(x)).chunk(3, dim=-1))
        if cache:
            k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
        cache["k"], cache["v"] = k, v
        S = k.shape[2]
        allowed = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        x = x + self.out(context.transpose(1, 2).reshape(B, T, E))
        return x + self.ffn(self.norm2(x))


class CachedGPT(nn.Module):
    def __init__(self, vocab, E, H, d_ff, layers, max_len, mistake=None):
        super().__init__()
        self.embed, self.positions = nn.Embedding(vocab, E), nn.Embedding(max_len, E)
        self.blocks = nn.ModuleList(Block(E, H, d_ff) for _ in range(layers))
        self.norm, self.out = nn.LayerNorm(E), nn.Linear(E, vocab)
        self.mistake = mistake

    def forward(self, tokens, caches):
        m, T = self.mistake, tokens.shape[1]
        start = caches[0]["k"].shape[2] if caches[0] and m != "positions from 0" else 0
        x = self.embed(tokens)
        if m != "no positions":
            x = x + self.positions(torch.arange(start, start + T))
        for i, block in enumerate(self.blocks):
            x = block(x, caches[0] if m == "one cache" else caches[i])
        logits = self.out(x if m == "no final norm" else self.norm(x))
        return logits[:, -1:] if m == "last only" else logits


class IndexedGPT(nn.Module):
    """Another correct answer: position vectors sliced from the weight, a zip over the caches,
    the length read from the values."""

    def __init__(self, vocab, E, H, d_ff, layers, max_len):
        super().__init__()
        self.embed = nn.Embedding(vocab, E)
        self.positions = nn.Embedding(max_len, E)
        self.blocks = nn.ModuleList([Block(E, H, d_ff) for _ in range(layers)])
        self.norm = nn.LayerNorm(E)
        self.out = nn.Linear(E, vocab)

    def forward(self, tokens, caches):
        done = caches[0].get("v").shape[-2] if "v" in caches[0] else 0
        x = self.embed(tokens) + self.positions.weight[done:done + tokens.shape[1]][None]
        for block, cache in zip(self.blocks, caches):
            x = block(x, cache)
        return self.out(self.norm(x))


class BatchPositionsGPT(CachedGPT):
    """Position ids of shape (B, T), as Hugging Face passes them."""

    def forward(self, tokens, caches):
        B, T = tokens.shape
        start = caches[0]["k"].shape[2] if caches[0] else 0
        where = torch.arange(start, start + T).unsqueeze(0).expand(B, T)
        x = self.embed(tokens) + self.positions(where)
        for block, cache in zip(self.blocks, caches):
            x = block(x, cache)
        return self.out(self.norm(x))


@pytest.mark.parametrize("answer", [CachedGPT, IndexedGPT, BatchPositionsGPT])
def test_cached_gpt_check_accepts_correct_models(answer):
    result = check_cached_gpt(answer)
    assert result, result


GPT_WRONG = {
    "positions from 0": "when token 5 follows 5 cached positions: the input of `positions` "
                        "is the first tensor that differs: the new tokens get positions from 0",
    "one cache": "in one pass over the whole text: the output of `blocks.1` is the first tensor "
                 "that differs: every block writes into the same cache",
    "no final norm": "`norm` is never called in forward",
    "no positions": "`positions` is never called in forward",
    "last only": "the output has shape (2, 1, 11), expected (2, 9, 11)",
}


@pytest.mark.parametrize("mistake", GPT_WRONG)
def test_cached_gpt_check_names_the_mistake(mistake):
    class Wrong(CachedGPT):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, mistake=mistake, **kwargs)

    result = check_cached_gpt(Wrong)
    assert not result and GPT_WRONG[mistake] in result.message, result


def test_cached_gpt_check_names_positions_sliced_from_0():
    class Sliced(IndexedGPT):
        def forward(self, tokens, caches):
            x = self.embed(tokens) + self.positions.weight[:tokens.shape[1]]
            for block, cache in zip(self.blocks, caches):
                x = block(x, cache)
            return self.out(self.norm(x))

    result = check_cached_gpt(Sliced)
    assert not result and "the input of `blocks.0` is the first tensor that differs: the new " \
        "tokens get positions from 0" in result.message, result


def test_cached_gpt_check_rejects_the_books_model_and_other_blocks():
    from utils.models.gpt import GPT, GPTConfig

    class Wrapped(CachedGPT):
        def __init__(self, vocab, E, H, d_ff, layers, max_len):
            super().__init__(vocab, E, H, d_ff, layers, max_len)
            self.inner = GPT(GPTConfig(vocab, E, H, layers, d_ff, max_len, dropout=0.0))

        def forward(self, tokens, caches):
            return self.inner(tokens)[0]

    assert "calls `utils.models.gpt.GPT.forward`" in check_cached_gpt(Wrapped).message or \
        "parameters" in check_cached_gpt(Wrapped).message

    class OtherBlocks(CachedGPT):
        def __init__(self, vocab, E, H, d_ff, layers, max_len):
            super().__init__(vocab, E, H, d_ff, layers, max_len)
            self.blocks = nn.ModuleList(nn.TransformerEncoderLayer(E, H, d_ff, batch_first=True)
                                        for _ in range(layers))

    assert "the chapter's Block" in check_cached_gpt(OtherBlocks).message or \
        "has no sub-module `qkv`" in check_cached_gpt(OtherBlocks).message
