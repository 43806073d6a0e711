"""Checkers for the Transformer's layers (chapter 9): the student's encoder and decoder layers
against PyTorch's ``nn.TransformerEncoderLayer`` and ``nn.TransformerDecoderLayer``, pre- and
post-LN, with copied weights, in float64.

The reference forward pass is written out below (``_layer_sites``) so that every intermediate
tensor has a name; a test proves it equal to PyTorch's layers. Each known mistake is the same
forward pass with one thing changed, so the checker can say which one a wrong answer made.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..models.blocks import TransformerBlock
from .core import _call, _Failed, _run
from .modules import Site, build, copy_attention, copy_module, first_difference, same_size, \
    submodule

E, HEADS, D_FF = 16, 4, 24

ENCODER_MISTAKES = {
    "no residual 1": "the first residual connection is missing: add the self-attention's "
                     "output to the layer's input",
    "no residual 2": "the second residual connection is missing: add the feed-forward output "
                     "to its input",
    "normalised residual": "the residual path adds the normalised input: in a pre-LN layer only "
                           "the branch reads norm(x), and its output is added to x itself",
    "norm after": "LayerNorm is applied after adding, as in the post-LN layer; with "
                  "norm_first=True each branch reads norm(x) and is added to x",
    "norm before": "LayerNorm is applied before the branch, as in the pre-LN layer; with "
                   "norm_first=False it comes after each residual sum",
    "no activation": "the ReLU between linear1 and linear2 is missing",
    "gelu": "the feed-forward uses GELU; PyTorch's layer (activation='relu', the default) "
            "uses ReLU",
    "unnormed feed-forward": "the feed-forward reads the residual sum before norm1; in the "
                             "post-LN layer it reads norm1's output",
    "no attention bias": "the attention's output is what it would be without its biases: add "
                         "in_proj_bias to the projected queries, keys and values, and "
                         "out_proj.bias to the output",
    "no padding": "the padding mask is ignored: pass it to the self-attention as "
                  "key_padding_mask, so that no position attends to padding",
    "padding inverted": "the padding mask is read the other way round: in key_padding_mask, "
                        "True marks padding, which must not be attended to",
}
DECODER_MISTAKES = {
    **{key: ENCODER_MISTAKES[key] for key in ("no residual 1", "normalised residual",
                                              "norm after", "norm before", "no activation",
                                              "gelu", "unnormed feed-forward",
                                              "no attention bias")},
    "no causal mask": "the self-attention is not masked: pass tgt_mask to it as attn_mask, so "
                      "that position t sees only positions up to t",
    "own causal mask": "the self-attention is masked causally whatever tgt_mask says: use "
                       "tgt_mask as given (None means no mask)",
    "mask inverted": "the boolean tgt_mask is read the other way round: in PyTorch's "
                     "convention True marks a position that may *not* be attended to",
    "cross reads decoder": "the cross-attention takes its keys and values from the decoder; "
                           "they come from memory, the encoder's output",
    "cross reads decoder, no padding": "the cross-attention takes its keys and values from the "
                                       "decoder; they come from memory, the encoder's output, "
                                       "with memory_key_padding_mask hiding its padding",
    "normalised memory": "memory is normalised before the cross-attention; PyTorch's decoder "
                         "layer normalises only the decoder's own input, and memory enters as "
                         "it is",
    "no padding": "memory_key_padding_mask is ignored: pass it to the cross-attention as "
                  "key_padding_mask, so that no position attends to the source's padding",
    "no residual 2": "the second residual connection is missing: add the cross-attention's "
                     "output to its input",
    "no residual 3": "the third residual connection is missing: add the feed-forward output to "
                     "its input",
}


def _layer_sites(ref, x, norm_first, padding, memory=None, tgt_mask=None, mistake=None):
    """The sub-module calls of PyTorch's encoder layer (``memory`` None) or decoder layer, in
    order, with ``mistake`` (a key of the dictionaries above) made."""
    sites: dict[str, Site] = {}
    decoder = memory is not None
    moved = mistake == ("norm after" if norm_first else "norm before")
    pre = norm_first != moved

    def call(name, module, h, receives, *more, **kwargs):
        out = module(h, *more, **kwargs)
        out = out[0] if isinstance(out, tuple) else out
        sites[name] = Site(name, h, out, receives)
        return out

    def attention(name):
        module = getattr(ref, name)
        if mistake != "no attention bias":
            return module
        unbiased = copy.deepcopy(module)
        unbiased.in_proj_bias.data.zero_()
        unbiased.out_proj.bias.data.zero_()
        return unbiased

    def self_attention(h, receives):
        mask = None if mistake == "no causal mask" else tgt_mask
        if mistake == "own causal mask":
            mask = nn.Transformer.generate_square_subsequent_mask(h.shape[1], dtype=h.dtype)
        elif mistake == "mask inverted" and mask is not None and mask.dtype == torch.bool:
            mask = ~mask
        key_padding = None if decoder or mistake == "no padding" else padding
        if key_padding is not None and mistake == "padding inverted":
            key_padding = ~key_padding
        return call("self_attn", attention("self_attn"), h, receives, h, h, attn_mask=mask,
                    key_padding_mask=key_padding, need_weights=False)

    def cross_attention(h, receives):
        kv = h if mistake in ("cross reads decoder", "cross reads decoder, no padding") \
            else ref.norm2(memory) if mistake == "normalised memory" else memory
        key_padding = None if mistake in ("no padding", "cross reads decoder, no padding") \
            or kv.shape[1] != padding.shape[1] else padding
        return call("multihead_attn", attention("multihead_attn"), h, receives, kv, kv,
                    key_padding_mask=key_padding, need_weights=False)

    def feed_forward(h, receives):
        if mistake == "unnormed feed-forward" and not pre:
            h = unnormed[0]
        hidden = call("linear1", ref.linear1, h, receives)
        hidden = hidden if mistake == "no activation" else \
            F.gelu(hidden) if mistake == "gelu" else hidden.relu()
        return call("linear2", ref.linear2, hidden, "relu(linear1(...))")

    unnormed = []                               # post-LN: the sum before the last norm

    branches = [(self_attention, "self-attention"), (feed_forward, "feed-forward")]
    if decoder:
        branches.insert(1, (cross_attention, "cross-attention"))
    norms = ["norm1", "norm2", "norm3"]
    described = "the layer's input"
    for i, (branch, label) in enumerate(branches):
        norm, number = norms[i], i + 1
        kept = mistake != f"no residual {number}"
        if pre:
            h = call(norm, getattr(ref, norm), x, described)
            base = h if mistake == "normalised residual" else x
            out = branch(h, f"{norm}'s output")
            x = base + out if kept else out
            described = f"the sum of the {label} branch and its input (residual {number})"
        else:
            out = branch(x, described)
            summed = x + out if kept else out
            unnormed[:] = [summed]
            x = call(norm, getattr(ref, norm), summed,
                     f"the sum of the {label} branch and its input (residual {number})")
            described = f"{norm}'s output"
    sites["output"] = Site("output", None, x, described)
    return list(sites.values())


def _reference(decoder: bool, norm_first: bool) -> nn.Module:
    """PyTorch's layer with no parameter left at a constant (LayerNorm gains of 1 and zero
    attention biases would let a wrong answer that reuses one norm, or drops a bias, pass)."""
    layer_class = nn.TransformerDecoderLayer if decoder else nn.TransformerEncoderLayer
    layer = layer_class(E, HEADS, D_FF, dropout=0.0, norm_first=norm_first,
                        batch_first=True).double().eval()
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if name.startswith("norm") and name.endswith("weight"):
                parameter.uniform_(0.5, 1.5)
            elif name.endswith("bias"):
                parameter.uniform_(-0.5, 0.5)
    return layer


def _give_weights(student, ref, decoder: bool, what: str) -> None:
    names = "self_attn, " + ("multihead_attn, " if decoder else "") + "linear1, linear2, " + \
        ("norm1, norm2, norm3" if decoder else "norm1, norm2")
    for name in ("self_attn", "multihead_attn") if decoder else ("self_attn",):
        copy_attention(submodule(student, name, what, names), getattr(ref, name), name)
    for name in ("linear1", "linear2", "norm1", "norm2") + (("norm3",) if decoder else ()):
        copy_module(submodule(student, name, what, names), getattr(ref, name), name)
    same_size(student, ref, what)


def _cases(decoder: bool):
    """(x, padding, memory, tgt_mask) cases: batch of one, padded rows, a non-contiguous x."""
    gen = torch.Generator().manual_seed(9)
    cases = []
    for B, L, S, pads in ((2, 5, 5, (0, 2)), (1, 4, 3, (1,)), (3, 6, 7, (0, 3, 5))):
        x = torch.randn(L, B, E, generator=gen, dtype=torch.float64).transpose(0, 1)
        length = S if decoder else L
        padding = torch.arange(length) >= torch.tensor([length - p for p in pads])[:, None]
        memory = torch.randn(B, S, E, generator=gen, dtype=torch.float64) if decoder else None
        causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
        mask = (causal if L == 5 else causal.isinf() if L == 4 else None) if decoder else None
        cases.append((x, padding, memory, mask))
    return cases


def _check_layer(cls, decoder: bool) -> str:
    what = getattr(cls, "__name__", "your layer")
    mistakes = DECODER_MISTAKES if decoder else ENCODER_MISTAKES
    forbid_hint = "nn.TransformerDecoderLayer" if decoder else "nn.TransformerEncoderLayer"
    for norm_first in (True, False):
        torch.manual_seed(0)
        ref = _reference(decoder, norm_first)
        student = build(cls, what, d_model=E, nhead=HEADS, dim_feedforward=D_FF, dropout=0.0,
                        norm_first=norm_first)
        if isinstance(student, type(ref)):
            raise _Failed(f"{what} is PyTorch's own {forbid_hint}: write the layer yourself")
        _give_weights(student, ref, decoder, what)
        for x, padding, memory, tgt_mask in _cases(decoder):
            def run(m):
                given = x.clone()                        # keeps x's (non-contiguous) strides
                out = _call(m, what, given, memory, tgt_mask=tgt_mask,
                            memory_key_padding_mask=padding) if decoder \
                    else _call(m, what, given, src_key_padding_mask=padding)
                if not torch.equal(given, x):
                    raise _Failed(f"{what} changed its input in place; residual sums must make "
                                  "new tensors (x = x + ..., not x += ...)")
                return out
            expected = ref(x, memory, tgt_mask=tgt_mask, memory_key_padding_mask=padding) \
                if decoder else ref(x, src_key_padding_mask=padding)
            with torch.no_grad():
                sites = _layer_sites(ref, x, norm_first, padding, memory, tgt_mask)
                assert torch.allclose(sites[-1].output, expected, atol=1e-10)
                wrong = {sentence: {s.name: s for s in _layer_sites(
                            ref, x, norm_first, padding, memory, tgt_mask, mistake)}
                         for mistake, sentence in mistakes.items()}
                try:
                    first_difference(student, run, sites, wrong, what)
                except _Failed as failure:
                    form = "pre-LN (norm_first=True)" if norm_first \
                        else "post-LN (norm_first=False)"
                    raise _Failed(f"{form}: {failure}") from None
    kind = "decoder" if decoder else "encoder"
    return f"{what} computes what PyTorch's {kind} layer computes, pre-LN and post-LN."


@_run(forbid=(nn.TransformerEncoderLayer.forward, nn.TransformerEncoderLayer._sa_block,
              TransformerBlock.forward))
def check_encoder_layer(cls) -> str:
    """Check ``cls(d_model, nhead, dim_feedforward, dropout, norm_first)``, an encoder layer
    whose ``forward(src, src_key_padding_mask=None)`` (batch first) computes what
    ``nn.TransformerEncoderLayer`` computes, with sub-modules named as PyTorch's."""
    return _check_layer(cls, decoder=False)


@_run(forbid=(nn.TransformerDecoderLayer.forward, nn.TransformerDecoderLayer._mha_block,
              TransformerBlock.forward))
def check_decoder_layer(cls) -> str:
    """Check ``cls(d_model, nhead, dim_feedforward, dropout, norm_first)``, a decoder layer whose
    ``forward(tgt, memory, tgt_mask=None, memory_key_padding_mask=None)`` (batch first)
    computes what ``nn.TransformerDecoderLayer`` computes, with sub-modules named as PyTorch's."""
    return _check_layer(cls, decoder=True)
