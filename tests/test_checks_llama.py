"""The checker of chapter 14's Llama-block exercise: blocks written with PyTorch's fused
attention or by hand, rotary angles in float64 or float32, are accepted; each plausible wrong
block is rejected with the sentence that names its mistake."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.checks import check_llama_block


def rotate(x, positions, base, neighbours=False, dtype=torch.float64):
    D = x.shape[-1]
    theta = base ** (-torch.arange(0, D, 2, dtype=dtype) / D)
    angles = positions.to(dtype)[:, None] * theta
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    if neighbours:
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)
    a, b = x.chunk(2, dim=-1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class RMSNorm(nn.Module):
    def __init__(self, E, eps, layer_norm=False):
        super().__init__()
        self.weight, self.eps, self.layer_norm = nn.Parameter(torch.ones(E)), eps, layer_norm

    def forward(self, x):
        if self.layer_norm:
            x = x - x.mean(-1, keepdim=True)
        return self.weight * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


class Attention(nn.Module):
    def __init__(self, E, H, kv):
        super().__init__()
        D = E // H
        self.q_proj, self.o_proj = nn.Linear(E, E, bias=False), nn.Linear(E, E, bias=False)
        self.k_proj = nn.Linear(E, kv * D, bias=False)
        self.v_proj = nn.Linear(E, kv * D, bias=False)


class MLP(nn.Module):
    def __init__(self, E, d_ff):
        super().__init__()
        self.gate_proj = nn.Linear(E, d_ff, bias=False)
        self.up_proj = nn.Linear(E, d_ff, bias=False)
        self.down_proj = nn.Linear(d_ff, E, bias=False)


class ByHand(nn.Module):
    """Attention written out, own RMSNorm, float32 angles as transformers computes them."""

    def __init__(self, d_model, heads, kv_heads, d_ff, base=10000.0, eps=1e-5, mistake=None):
        super().__init__()
        self.H, self.kv, self.base, self.mistake = heads, kv_heads, base, mistake
        layer_norm = mistake == "layer norm"
        self.input_layernorm = RMSNorm(d_model, eps, layer_norm)
        self.post_attention_layernorm = RMSNorm(d_model, eps, layer_norm)
        self.self_attn, self.mlp = Attention(d_model, heads, kv_heads), MLP(d_model, d_ff)

    def forward(self, x):
        B, T, E = x.shape
        m, a, D = self.mistake, self.self_attn, E // self.H
        h = self.input_layernorm(x)
        q, k, v = (p(h).view(B, T, -1, D).transpose(1, 2) for p in (a.q_proj, a.k_proj, a.v_proj))
        pos = torch.arange(T)
        if m != "no rotary":
            q, k = (rotate(z, pos, self.base, m == "neighbour pairs", torch.float32)
                    for z in (q, k))
        if m == "rotary on values":
            v = rotate(v, pos, self.base)
        g = self.H // self.kv
        if m == "tiled heads":
            k, v = k.repeat(1, g, 1, 1), v.repeat(1, g, 1, 1)
        else:
            k, v = (z[:, :, None].expand(B, self.kv, g, T, D).reshape(B, self.H, T, D)
                    for z in (k, v))
        s = q @ k.transpose(-2, -1) / (1 if m == "no scale" else D ** 0.5)
        if m != "no causal mask":
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        out = a.o_proj((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, E))
        x = out if m == "no residual 1" else x + out
        h = self.post_attention_layernorm(x)
        gate, up = self.mlp.gate_proj(h), self.mlp.up_proj(h)
        hidden = gate * F.silu(up) if m == "silu on up" else gate * up if m == "no silu" \
            else F.silu(gate) * up
        down = self.mlp.down_proj(hidden)
        return down if m == "no residual 2" else x + down


class Fused(nn.Module):
    """nn.RMSNorm, F.scaled_dot_product_attention with is_causal, float64 angles."""

    def __init__(self, d_model, heads, kv_heads, d_ff, base=10000.0, eps=1e-5):
        super().__init__()
        self.H, self.base = heads, base
        self.input_layernorm = nn.RMSNorm(d_model, eps=eps)
        self.post_attention_layernorm = nn.RMSNorm(d_model, eps=eps)
        self.self_attn, self.mlp = Attention(d_model, heads, kv_heads), MLP(d_model, d_ff)

    def forward(self, x):
        B, T, E = x.shape
        a = self.self_attn
        h = self.input_layernorm(x)
        q, k, v = (p(h).unflatten(-1, (-1, E // self.H)).transpose(1, 2)
                   for p in (a.q_proj, a.k_proj, a.v_proj))
        q, k = rotate(q, torch.arange(T), self.base), rotate(k, torch.arange(T), self.base)
        context = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + a.o_proj(context.transpose(1, 2).flatten(2))
        h = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))


@pytest.mark.parametrize("answer", [ByHand, Fused])
def test_llama_check_accepts_correct_blocks(answer):
    result = check_llama_block(answer)
    assert result, result


LLAMA_WRONG = {
    "no rotary": "the input of `self_attn.o_proj` is the first tensor that differs: queries and "
                 "keys are not rotated",
    "rotary on values": "the values are rotated too",
    "neighbour pairs": "GPT-J's convention",
    "tiled heads": "query head h uses key-value head h % kv_heads",
    "no causal mask": "the attention is not causal",
    "no scale": "the scores are not divided by √D",
    "layer norm": "the output of `input_layernorm` is the first tensor that differs: the "
                  "normalisation subtracts the mean",
    "silu on up": "SiLU is applied to up_proj's output",
    "no silu": "the SiLU on gate_proj's output is missing",
    "no residual 1": "the input of `post_attention_layernorm` is the first tensor that differs: "
                     "the first residual connection is missing",
    "no residual 2": "the second residual connection is missing",
}


@pytest.mark.parametrize("mistake", LLAMA_WRONG)
def test_llama_check_names_the_mistake(mistake):
    class Wrong(ByHand):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, mistake=mistake, **kwargs)

    result = check_llama_block(Wrong)
    assert not result and LLAMA_WRONG[mistake] in result.message, result


def test_llama_check_rejects_the_books_block_a_stub_and_other_names():
    from utils.models.blocks import TransformerBlock

    class Wrapped(Fused):
        def forward(self, x):
            block = TransformerBlock(x.shape[-1], self.H, 16, causal=True, normalization="rms",
                                     activation="swiglu", bias=False).double()
            return block(x)[0]

    assert "calls `utils.models.blocks.TransformerBlock.forward`" in \
        check_llama_block(Wrapped).message

    from utils.attention import MultiHeadAttention
    from utils.models.blocks import GatedFeedForward

    class BookParts(nn.Module):
        """The book's attention (rotary, grouped heads) and SwiGLU modules, renamed."""

        def __init__(self, d_model, heads, kv_heads, d_ff, base=10000.0, eps=1e-5):
            super().__init__()
            self.input_layernorm = nn.RMSNorm(d_model, eps=eps)
            self.post_attention_layernorm = nn.RMSNorm(d_model, eps=eps)
            self.self_attn = MultiHeadAttention(d_model, heads, bias=False,
                                                num_kv_heads=kv_heads, rope_base=base)
            self.self_attn.o_proj = self.self_attn.out_proj
            self.mlp = GatedFeedForward(d_model, d_ff)

        def forward(self, x):
            h = self.input_layernorm(x)
            x = x + self.self_attn(h, h, h, need_weights=False, is_causal=True)[0]
            return x + self.mlp(self.post_attention_layernorm(x))

    assert "calls `utils.attention.multihead.MultiHeadAttention.forward`" in \
        check_llama_block(BookParts).message

    class Stub(nn.Module):
        def __init__(self, d_model, heads, kv_heads, d_ff, base=10000.0, eps=1e-5):
            raise NotImplementedError

    assert "not implemented yet" in check_llama_block(Stub).message

    class BookNames(Fused):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.norm1 = self.input_layernorm
            del self.input_layernorm

    assert "has no sub-module `input_layernorm`" in check_llama_block(BookNames).message
