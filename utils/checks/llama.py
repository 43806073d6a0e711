"""Checker for building Llama's block (chapter 14): the student's block, with the part names of
``transformers``' LlamaDecoderLayer, against the book's decoder block (``TransformerBlock`` with
RMSNorm, SwiGLU, rotary positions and grouped-query attention, no biases), weights copied."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..attention import MultiHeadAttention
from ..models.blocks import GatedFeedForward, TransformerBlock
from .core import _call, _Failed, _run
from .modules import Site, build, copy_module, first_difference, same_size, submodule

PARTS = ("input_layernorm, self_attn.q_proj, self_attn.k_proj, self_attn.v_proj, "
         "self_attn.o_proj, post_attention_layernorm, mlp.gate_proj, mlp.up_proj, mlp.down_proj")
MISTAKES = {
    "no rotary": "queries and keys are not rotated: rotate them by their positions (exercise "
                 "14.1) before the scores",
    "rotary on values": "the values are rotated too; only queries and keys are",
    "neighbour pairs": "the rotation turns neighbouring coordinates (2i, 2i + 1), GPT-J's "
                       "convention; Llama's pairs are (i, i + D/2)",
    "tiled heads": "query head h uses key-value head h % kv_heads (repeat); it shares head "
                   "h // (heads / kv_heads) (repeat_interleave, exercise 14.2)",
    "no causal mask": "the attention is not causal: position t must see positions up to t only",
    "no scale": "the scores are not divided by √D",
    "layer norm": "the normalisation subtracts the mean, as LayerNorm does; RMSNorm only divides "
                  "by the root mean square",
    "silu on up": "SiLU is applied to up_proj's output; it goes on gate_proj's",
    "no silu": "the SiLU on gate_proj's output is missing",
    "no residual 1": "the first residual connection is missing: add the attention's output to "
                     "the block's input",
    "no residual 2": "the second residual connection is missing: add the feed-forward output "
                     "to its input",
}


def _reference_block(E, H, kv, d_ff, base) -> TransformerBlock:
    block = TransformerBlock(E, H, d_ff, norm="pre", causal=True, normalization="rms",
                             activation="swiglu", bias=False,
                             attention={"num_kv_heads": kv, "rope_base": base}).double().eval()
    with torch.no_grad():
        block.norm1.weight.uniform_(0.5, 1.5)
        block.norm2.weight.uniform_(0.5, 1.5)
    return block


def _rms(x, norm, layer_norm=False):
    if layer_norm:
        x = x - x.mean(-1, keepdim=True)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight


def _rotate(x, base, neighbours=False):
    """x (B, heads, T, D) rotated by positions 0 … T-1 (angles in float32, as transformers)."""
    D, T = x.shape[-1], x.shape[-2]
    theta = 1.0 / base ** (torch.arange(0, D, 2, dtype=torch.float32) / D)
    angles = torch.arange(T, dtype=torch.float32)[:, None] * theta           # (T, D/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    if neighbours:
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


def _llama_sites(ref, x, base, mistake=None):
    """The calls of a Llama block (written out) with the weights of the book's ``ref``."""
    mha, ffn = ref.self_attention, ref.ffn
    B, T, E = x.shape
    H, kv = mha.num_heads, mha.num_kv_heads
    D = E // H
    sites = []

    def call(name, fn, given, receives):
        out = fn(given)
        sites.append(Site(name, given, out, receives))
        return out

    h = call("input_layernorm", lambda z: _rms(z, ref.norm1, mistake == "layer norm"), x,
             "the block's input")
    q = call("self_attn.q_proj", mha.q_proj, h, "input_layernorm's output")
    k = call("self_attn.k_proj", mha.k_proj, h, "input_layernorm's output")
    v = call("self_attn.v_proj", mha.v_proj, h, "input_layernorm's output")
    q, k, v = (z.view(B, T, -1, D).transpose(1, 2) for z in (q, k, v))       # (B, heads, T, D)
    if mistake != "no rotary":
        q, k = (_rotate(z, base, mistake == "neighbour pairs") for z in (q, k))
    if mistake == "rotary on values":
        v = _rotate(v, base)
    if mistake == "tiled heads":
        k, v = (z.repeat(1, H // kv, 1, 1) for z in (k, v))
    else:
        k, v = (z.repeat_interleave(H // kv, dim=1) for z in (k, v))
    scores = q @ k.transpose(-2, -1) / (1.0 if mistake == "no scale" else D ** 0.5)
    if mistake != "no causal mask":
        scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, E)
    attended = call("self_attn.o_proj", mha.out_proj, context,
                    "the attention's context, heads merged: (B, T, E)")
    x = attended if mistake == "no residual 1" else x + attended
    h = call("post_attention_layernorm", lambda z: _rms(z, ref.norm2, mistake == "layer norm"),
             x, "the block's input plus the attention's output (residual 1)")
    gate = call("mlp.gate_proj", ffn.gate_proj, h, "post_attention_layernorm's output")
    up = call("mlp.up_proj", ffn.up_proj, h, "post_attention_layernorm's output")
    hidden = gate * F.silu(up) if mistake == "silu on up" else \
        gate * up if mistake == "no silu" else F.silu(gate) * up
    down = call("mlp.down_proj", ffn.down_proj, hidden, "SiLU(gate_proj(h)) * up_proj(h)")
    out = down if mistake == "no residual 2" else x + down
    sites.append(Site("output", None, out))
    return sites


def _give_weights(student, ref, what):
    parts = {"input_layernorm": ref.norm1, "post_attention_layernorm": ref.norm2,
             "self_attn.q_proj": ref.self_attention.q_proj,
             "self_attn.k_proj": ref.self_attention.k_proj,
             "self_attn.v_proj": ref.self_attention.v_proj,
             "self_attn.o_proj": ref.self_attention.out_proj,
             "mlp.gate_proj": ref.ffn.gate_proj, "mlp.up_proj": ref.ffn.up_proj,
             "mlp.down_proj": ref.ffn.down_proj}
    for name, source in parts.items():
        copy_module(submodule(student, name, what, PARTS), source, name)
    same_size(student, ref, what)


@_run(forbid=(TransformerBlock.forward, MultiHeadAttention.forward, GatedFeedForward.forward))
def check_llama_block(cls) -> str:
    """Check ``cls(d_model, heads, kv_heads, d_ff, base=10000.0, eps=1e-5)``: a Llama block with
    the part names of transformers' LlamaDecoderLayer whose ``forward(x (B, T, E))`` — RMSNorm,
    causal attention with rotary positions 0 … T-1 and grouped key-value heads, RMSNorm, SwiGLU,
    each in a residual — computes what the book's block with those options computes."""
    what = getattr(cls, "__name__", "your block")
    gen = torch.Generator().manual_seed(14)
    for E, H, kv, d_ff, base, B, T in ((16, 4, 2, 24, 10000.0, 2, 7), (12, 3, 1, 20, 100.0, 1, 5),
                                       (16, 4, 4, 16, 10000.0, 3, 6)):
        torch.manual_seed(E + H + kv)
        ref = _reference_block(E, H, kv, d_ff, base)
        student = build(cls, what, d_model=E, heads=H, kv_heads=kv, d_ff=d_ff, base=base,
                        eps=1e-5)
        _give_weights(student, ref, what)
        x = torch.randn(B, T, E, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            sites = _llama_sites(ref, x, base)
            assert torch.allclose(sites[-1].output, ref(x)[0], atol=1e-6)
            wrong = {sentence: {s.name: s for s in _llama_sites(ref, x, base, mistake)}
                     for mistake, sentence in MISTAKES.items()}
            try:
                first_difference(student, lambda m: _call(m, what, x.clone()), sites, wrong,
                                 what, tolerance=1e-6)
            except _Failed as failure:
                raise _Failed(f"{H} heads, {kv} key-value heads: {failure}") from None
    return (f"{what} computes the book's Llama block: RMSNorm, rotary positions, grouped "
            "key-value heads and SwiGLU.")
