"""Checkers for building GPT (chapter 10): the causal language-model loss, and the whole model
with a key-value cache, checked call by call against the book's ``GPT`` with copied weights."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attention import KVCache
from ..models.blocks import TransformerBlock, TransformerStack
from ..models.gpt import GPT, GPTConfig
from ..train import sequence_loss
from .core import _call, _Failed, _run
from .modules import Site, build, copy_module, first_difference, same_size, submodule


def _lm_loss_reference(logits, tokens, pad_id):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V).double(), tokens[:, 1:].reshape(-1),
                           ignore_index=pad_id)


def _lm_mistakes(logits, tokens, pad_id) -> dict:
    """Wrong losses a student may compute, with the sentence that names each."""
    V, lp = logits.shape[-1], logits.double().log_softmax(-1)
    nll = -lp[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]                  # (B, T - 1)
    counted = tokens[:, 1:] != pad_id
    by_input = tokens[:, :-1] != pad_id
    return {
        "position t is scored on token t, which it reads: the logits at position t predict "
        "token t + 1 (compare logits[:, :-1] with tokens[:, 1:])":
            F.cross_entropy(logits.reshape(-1, V).double(), tokens.reshape(-1),
                            ignore_index=pad_id),
        "the shift goes the wrong way: the logits at position t predict token t + 1, so drop "
        "the last position's logits and the first token (logits[:, :-1], tokens[:, 1:])":
            F.cross_entropy(logits[:, 1:].reshape(-1, V).double(), tokens[:, :-1].reshape(-1),
                            ignore_index=pad_id),
        "padding targets are counted: ignore every position whose target is pad_id "
        "(ignore_index=pad_id, or a mask)": nll.mean(),
        "the sum over the counted targets is divided by every position, padding included: "
        "divide by the number of counted targets": (nll * counted).sum() / nll.numel(),
        "this is the sum of the losses; return their mean over the counted targets":
            (nll * counted).sum(),
        "each sequence is averaged first, so the tokens of short sequences weigh more: average "
        "over all counted targets of the batch at once":
            ((nll * counted).sum(1) / counted.sum(1).clamp(min=1)).mean(),
        "padding is judged by the input token: ignore a position when its *target* is padding "
        "(the last real token predicts a pad, and that prediction must not count)":
            (nll * by_input).sum() / by_input.sum(),
        "the padding id is taken to be 0: use the pad_id argument":
            F.cross_entropy(logits[:, :-1].reshape(-1, V).double(), tokens[:, 1:].reshape(-1),
                            ignore_index=0),
    }


@_run(forbid=(sequence_loss,))
def check_causal_lm_loss(fn) -> str:
    """Check ``fn(logits (B, T, V), tokens (B, T), pad_id) -> loss``: the mean cross-entropy of
    predicting token t + 1 from the logits at position t, over the targets that are not padding,
    as a 0-d tensor that gradients flow through."""
    name = getattr(fn, "__name__", "your function")
    gen = torch.Generator().manual_seed(21)
    cases = []
    for B, T, V, pad_id, lengths, scale, dtype in (
            (3, 7, 9, 0, (7, 4, 2), 1.0, torch.float32), (1, 5, 6, 4, (5,), 1.0, torch.float32),
            (4, 6, 8, 2, (6, 6, 3, 5), 30.0, torch.float64)):
        tokens = torch.randint(0, V, (B, T), generator=gen)
        tokens[tokens == pad_id] = (pad_id + 1) % V                 # padding only where it is
        tokens[torch.arange(T) >= torch.tensor(lengths)[:, None]] = pad_id
        logits = (torch.randn(B, T, V, generator=gen) * scale).to(dtype)
        logits[0, 0, tokens[0, 1]] -= 200               # a target the model finds very unlikely
        cases.append((logits, tokens, pad_id))
    for logits, tokens, pad_id in cases:
        leaf = logits.clone().requires_grad_()
        loss = _call(fn, name, leaf, tokens.clone(), pad_id)
        if isinstance(loss, float):
            raise _Failed(f"{name} returned a Python float; return the tensor (no .item()), so "
                          "that loss.backward() can train the model")
        if torch.is_tensor(loss) and loss.numel() == 1 and loss.dim() != 0:
            raise _Failed(f"{name} returned a tensor of shape {tuple(loss.shape)}; return a 0-d "
                          "tensor (shape ()), as .mean() or F.cross_entropy give")
        if not torch.is_tensor(loss) or loss.numel() != 1:
            shape = f" of shape {tuple(loss.shape)}" if torch.is_tensor(loss) else ""
            raise _Failed(f"{name} must return one number as a 0-d tensor, got "
                          f"{type(loss).__name__}{shape}")
        if not torch.isfinite(loss).all():
            raise _Failed(f"{name} returned {loss.item()} on logits of magnitude "
                          f"{logits.abs().max():.0f}: take log-probabilities with log_softmax "
                          "(or F.cross_entropy), never log(softmax(...))")
        expected = _lm_loss_reference(logits, tokens, pad_id)
        if not torch.allclose(loss.double().reshape(()), expected, rtol=1e-5, atol=1e-6):
            for sentence, wrong in _lm_mistakes(logits, tokens, pad_id).items():
                if torch.allclose(loss.double().reshape(()), wrong, rtol=1e-5, atol=1e-6) and \
                        not torch.allclose(wrong, expected, rtol=1e-5, atol=1e-6):
                    raise _Failed(sentence)
            raise _Failed(f"wrong loss on logits {tuple(logits.shape)} with pad_id = {pad_id}: "
                          f"expected {expected.item():.4f}, got {loss.item():.4f}")
        if loss.dtype != logits.dtype:
            raise _Failed(f"{name} returned {loss.dtype} for {logits.dtype} logits: keep the "
                          "logits' dtype")
        if not loss.requires_grad:
            raise _Failed(f"the loss {name} returns does not depend on the logits in a way "
                          "gradients can follow (was something detached, or converted with "
                          ".item()?)")
        loss.sum().backward()
        reference = logits.double().clone().requires_grad_()
        _lm_loss_reference(reference, tokens, pad_id).backward()
        if not torch.allclose(leaf.grad.double(), reference.grad, rtol=1e-4, atol=1e-6):
            raise _Failed(f"{name} has the right value but the wrong gradient: is part of the "
                          "computation detached?")
    return f"{name} scores each position on the next token and ignores padding targets."


# --- the whole model, with a cache ----------------------------------------------------------

VOCAB, WIDTH, HEADS, D_FF, LAYERS, MAX_LEN = 11, 16, 2, 24, 2, 24
GPT_PARTS = "embed, positions, blocks, norm, out"


def _reference_gpt() -> GPT:
    torch.manual_seed(3)
    config = GPTConfig(VOCAB, d_model=WIDTH, heads=HEADS, layers=LAYERS, d_ff=D_FF,
                       max_len=MAX_LEN, dropout=0.0)
    model = GPT(config).double().eval()
    with torch.no_grad():                         # LayerNorms that are not the identity
        for module in model.modules():
            if isinstance(module, torch.nn.LayerNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return model


def _give_block_weights(block, tested: TransformerBlock, i: int, what: str) -> None:
    """Copy a TransformerBlock's weights into the chapter's ``Block`` (qkv, out, norm1, norm2,
    ffn)."""
    parts = "qkv, out, norm1, norm2, ffn"
    mha = tested.self_attention
    qkv = submodule(block, "qkv", f"{what}.blocks[{i}]", parts)
    with torch.no_grad():
        try:
            qkv.weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
            qkv.bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        except (RuntimeError, AttributeError):
            raise _Failed(f"{what}.blocks[{i}].qkv should be nn.Linear(E, 3 * E): build the "
                          "blocks with the chapter's Block(E, H, d_ff)") from None
    for name, source in (("out", mha.out_proj), ("norm1", tested.norm1),
                         ("norm2", tested.norm2), ("ffn.0", tested.ffn.linear1),
                         ("ffn.2", tested.ffn.linear2)):
        copy_module(submodule(block, name, f"{what}.blocks[{i}]", parts), source,
                    f"blocks[{i}].{name}")


def _give_weights(student, ref: GPT, what: str) -> None:
    for name in ("embed", "positions", "norm", "out"):
        copy_module(submodule(student, name, what, GPT_PARTS), getattr(ref, name), name)
    blocks = submodule(student, "blocks", what, GPT_PARTS)
    if len(blocks) != LAYERS:
        raise _Failed(f"{what} was asked for {LAYERS} layers but has {len(blocks)} blocks")
    for i, (block, tested) in enumerate(zip(blocks, ref.blocks)):
        _give_block_weights(block, tested, i, what)
    same_size(student, ref, what)


GPT_MISTAKES = {
    "positions from 0": "the new tokens get positions from 0, but they continue the cached ones: "
                        "number them from the cache's length (the keys it holds)",
    "one cache": "every block writes into the same cache: give block i its own, caches[i]",
}


def _gpt_calls(ref: GPT, tokens, pieces, mistake=None) -> list[list[Site]]:
    """The sub-module calls of the book's GPT (written out) for each piece (start, stop) of
    ``tokens``, fed in turn through one cache."""
    caches = [KVCache() for _ in ref.blocks]
    if mistake == "one cache":
        caches = [caches[0]] * len(caches)
    calls = []
    for start, stop in pieces:
        sites = []

        def call(name, module, given, receives):
            out = module(given)
            sites.append(Site(name, given, out, receives))
            return out

        first = 0 if mistake == "positions from 0" else start
        x = call("embed", ref.embed, tokens[:, start:stop], "the token ids")
        x = x + call("positions", ref.positions, torch.arange(first, first + stop - start),
                     f"the positions {start} … {stop - 1}")
        for i, (block, cache) in enumerate(zip(ref.blocks, caches)):
            out = block(x, cache=cache)[0]
            sites.append(Site(f"blocks.{i}", x, out, "the token embeddings plus the position "
                              "vectors" if i == 0 else f"the output of blocks.{i - 1}"))
            x = out
        logits = call("out", ref.out, call("norm", ref.norm, x, f"blocks.{i}'s output"),
                      "norm's output")
        sites.append(Site("output", None, logits))
        calls.append(sites)
    return calls


@_run(forbid=(GPT.forward, TransformerStack.forward, TransformerBlock.forward))
def check_cached_gpt(cls) -> str:
    """Check ``cls(vocab, E, H, d_ff, layers, max_len)``: a GPT with parts ``embed``,
    ``positions``, ``blocks`` (the chapter's ``Block``), ``norm`` and ``out`` whose
    ``forward(tokens, caches)`` continues the positions held in ``caches`` (one dict per block),
    checked call by call against the book's GPT with the same weights."""
    what = getattr(cls, "__name__", "your model")
    ref = _reference_gpt()
    student = build(cls, what, vocab=VOCAB, E=WIDTH, H=HEADS, d_ff=D_FF, layers=LAYERS,
                    max_len=MAX_LEN)
    _give_weights(student, ref, what)
    gen = torch.Generator().manual_seed(4)
    for B, T, pieces in ((2, 9, ((0, 9),)), (2, 9, ((0, 5), (5, 6), (6, 7), (7, 9))),
                         (1, 7, ((0, 1), (1, 2), (2, 7)))):
        tokens = torch.randint(0, VOCAB, (B, T), generator=gen)
        with torch.no_grad():
            expected = _gpt_calls(ref, tokens, pieces)
            wrong = {sentence: _gpt_calls(ref, tokens, pieces, mistake)
                     for mistake, sentence in GPT_MISTAKES.items()}
            caches = [{} for _ in range(LAYERS)]
            for n, (start, stop) in enumerate(pieces):
                piece = tokens[:, start:stop].clone()
                try:
                    first_difference(student, lambda m: _call(m, what, piece, caches),
                                     expected[n], {s: {site.name: site for site in calls[n]}
                                                   for s, calls in wrong.items()}, what)
                except _Failed as failure:
                    new = f"token {start}" if stop == start + 1 \
                        else f"tokens {start} … {stop - 1}"
                    where = "in one pass over the whole text" if len(pieces) == 1 else \
                        f"when {new} follow{'s' * (stop == start + 1)} {start} cached " \
                        "positions" if start else f"in the prefill of tokens 0 … {stop - 1}"
                    raise _Failed(f"{where}: {failure}") from None
    return (f"{what} gives the book's GPT's logits in one pass, and through its cache in a "
            "prefill and steps of any size.")
