"""The checkers of chapter 9's layer exercises: correct layers written two ways are accepted, and
each plausible wrong layer is rejected with the sentence that names its mistake, at the first
intermediate tensor where it leaves PyTorch's layer."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from utils.attention import MultiHeadAttention
from utils.checks import check_decoder_layer, check_encoder_layer
from utils.checks.layers import _layer_sites, _reference

# --- correct answers -------------------------------------------------------------------------


class TorchStyleEncoder(nn.Module):
    """PyTorch's full signature, nn.MultiheadAttention, keyword calls."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.1, norm_first=False,
                 mistake=None):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), \
            nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first, self.mistake = norm_first and mistake != "always post", mistake

    def _sa(self, x, mask, padding, is_causal):
        if self.mistake == "no padding":
            padding = None
        if self.mistake == "padding inverted" and padding is not None:
            padding = ~padding
        return self.self_attn(query=x, key=x, value=x, attn_mask=mask, key_padding_mask=padding,
                              need_weights=False, is_causal=is_causal)[0]

    def _ff(self, x):
        if self.mistake == "flattened":                        # correct: positions as rows
            return self.linear2(self.linear1(x.reshape(-1, x.shape[-1])).relu()).reshape(x.shape)
        h = self.linear1(x)
        if self.mistake == "gelu":
            return self.linear2(F.gelu(h))
        return self.linear2(self.dropout(h if self.mistake == "no activation" else h.relu()))

    def _norm2(self, x):
        return self.norm1(x) if self.mistake == "norm1 reused" else self.norm2(x)

    def _norm1(self, x):
        if self.mistake == "norm without gain":
            return F.layer_norm(x, x.shape[-1:])
        return self.norm1(x)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        x, m = src, self.mistake
        if self.norm_first:
            h = self._norm1(x)
            a = self._sa(h, src_mask, src_key_padding_mask, is_causal)
            if m == "in place":
                x += a
                return x + self._ff(self.norm2(x))
            x = a if m == "no residual 1" else (h if m == "normalised residual" else x) + a
            return x + self._ff(self._norm2(x))
        if m == "norm before":
            x = x + self._sa(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self._ff(self.norm2(x))
        a = self._sa(x, src_mask, src_key_padding_mask, is_causal)
        summed = a if m == "no residual 1" else x + a
        x = self._norm1(summed)
        f = self._ff(summed if m == "unnormed feed-forward" else x)
        return self._norm2(f if m == "no residual 2" else x + f)


class BookStyleEncoder(nn.Module):
    """Chapter 8's MultiHeadAttention, a minimal signature, one helper for both forms."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=True):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.pre = norm_first

    def sublayer(self, x, norm, branch):
        return x + branch(norm(x)) if self.pre else norm(x + branch(x))

    def forward(self, src, src_key_padding_mask=None):
        x = self.sublayer(src, self.norm1, lambda h: self.self_attn(
            h, h, h, key_padding_mask=src_key_padding_mask)[0])
        return self.sublayer(x, self.norm2, lambda h: self.linear2(torch.relu(self.linear1(h))))


class OwnAttention(nn.Module):
    """A student's own multi-head attention (chapter 8's exercise as a module), with PyTorch's
    parameter names so that the check can give it PyTorch's weights."""

    def __init__(self, E, H):
        super().__init__()
        self.H = H
        self.in_proj_weight = nn.Parameter(torch.randn(3 * E, E) / E ** 0.5)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * E))
        self.out_proj = nn.Linear(E, E)

    def forward(self, query, key, value, key_padding_mask=None):
        B, L, E = query.shape
        W_q, W_k, W_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)

        def heads(x):                                                  # (B, L, E) -> (B, H, L, D)
            return x.reshape(B, -1, self.H, E // self.H).transpose(1, 2)
        q, k, v = heads(query @ W_q.T + b_q), heads(key @ W_k.T + b_k), heads(value @ W_v.T + b_v)
        scores = q @ k.transpose(-2, -1) / (E // self.H) ** 0.5
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        out = (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, E)
        return self.out_proj(out)


class OwnPartsEncoder(BookStyleEncoder):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=True):
        super().__init__(d_model, nhead, dim_feedforward, dropout, norm_first)
        self.self_attn = OwnAttention(d_model, nhead)

    def forward(self, src, src_key_padding_mask=None):
        x = self.sublayer(src, self.norm1, lambda h: self.self_attn(
            h, h, h, key_padding_mask=src_key_padding_mask))
        return self.sublayer(x, self.norm2, lambda h: self.linear2(torch.relu(self.linear1(h))))


class TorchStyleDecoder(nn.Module):
    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.1, norm_first=False,
                 mistake=None):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout,
                                                    batch_first=True)
        self.linear1, self.linear2 = nn.Linear(d_model, dim_feedforward), \
            nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))
        self.norm_first, self.mistake = norm_first, mistake

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        m = self.mistake
        mask = None if m == "no causal mask" else tgt_mask
        if m == "own causal mask":
            mask = torch.ones(tgt.shape[1], tgt.shape[1], dtype=torch.bool).triu(1)
        if m == "mask inverted" and mask is not None and mask.dtype == torch.bool:
            mask = ~mask

        def sa(h):
            return self.self_attn(h, h, h, attn_mask=mask, key_padding_mask=tgt_key_padding_mask,
                                  need_weights=False)[0]

        def ca(h):
            kv = h if m in ("cross reads decoder", "cross reads decoder, no padding") else \
                self.norm2(memory) if m == "normalised memory" else memory
            padding = None if m == "cross reads decoder, no padding" else memory_key_padding_mask
            return self.multihead_attn(h, kv, kv, attn_mask=memory_mask,
                                       key_padding_mask=padding, need_weights=False)[0]

        def ff(h):
            return self.linear2(self.linear1(h).relu())

        x = tgt
        for i, (norm, branch) in enumerate(((self.norm1, sa), (self.norm2, ca), (self.norm3, ff))):
            if m == "positions swapped" and i == 1:
                norm = self.norm3
            if self.norm_first:
                out = branch(norm(x))
                x = out if m == f"no residual {i + 1}" else x + out
            else:
                out = branch(x)
                x = norm(out if m == f"no residual {i + 1}" else x + out)
        return x


class BookStyleDecoder(nn.Module):
    """Chapter 8's attention; the causal mask made by the layer from is_causal-style code."""

    def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=True):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, nhead)
        self.multihead_attn = MultiHeadAttention(d_model, nhead)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), \
            nn.LayerNorm(d_model)
        self.pre = norm_first

    def forward(self, tgt, memory, tgt_mask=None, memory_key_padding_mask=None):
        def sub(x, norm, branch):
            return x + branch(norm(x)) if self.pre else norm(x + branch(x))
        x = sub(tgt, self.norm1, lambda h: self.self_attn(h, h, h, attn_mask=tgt_mask)[0])
        x = sub(x, self.norm2, lambda h: self.multihead_attn(
            h, memory, memory, key_padding_mask=memory_key_padding_mask)[0])
        return sub(x, self.norm3, lambda h: self.linear2(torch.relu(self.linear1(h))))


def with_mistake(cls, mistake):
    class Wrong(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, mistake=mistake, **kwargs)
    Wrong.__name__ = cls.__name__
    return Wrong


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("decoder", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_the_written_out_reference_is_pytorchs_layer(decoder, norm_first):
    torch.manual_seed(1)
    ref = _reference(decoder, norm_first)
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    memory = torch.randn(2, 6, 16, dtype=torch.float64) if decoder else None
    length = 6 if decoder else 5
    padding = torch.arange(length) >= torch.tensor([length, length - 2])[:, None]
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64) if decoder \
        else None
    expected = ref(x, memory, tgt_mask=mask, memory_key_padding_mask=padding) if decoder \
        else ref(x, src_key_padding_mask=padding)
    sites = _layer_sites(ref, x, norm_first, padding, memory, mask)
    assert torch.allclose(sites[-1].output, expected, atol=1e-12)


class UnbiasedAttention(OwnAttention):
    """Exercise 8.1's function wrapped as a module, the biases forgotten (a wrong answer)."""

    def forward(self, query, key, value, key_padding_mask=None):
        B, L, E = query.shape
        W_q, W_k, W_v = self.in_proj_weight.chunk(3)

        def heads(x):
            return x.reshape(B, -1, self.H, E // self.H).transpose(1, 2)
        q, k, v = heads(query @ W_q.T), heads(key @ W_k.T), heads(value @ W_v.T)
        scores = q @ k.transpose(-2, -1) / (E // self.H) ** 0.5
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        return (scores.softmax(-1) @ v).transpose(1, 2).reshape(B, L, E) @ self.out_proj.weight.T


def test_attention_without_its_biases_is_named():
    class Unbiased(OwnPartsEncoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.self_attn = UnbiasedAttention(self.linear1.in_features, self.self_attn.H)

    result = check_encoder_layer(Unbiased)
    assert not result and "the output of `self_attn` is the first tensor that differs: the " \
        "attention's output is what it would be without its biases" in result.message, result


@pytest.mark.parametrize("answer", [TorchStyleEncoder, BookStyleEncoder, OwnPartsEncoder,
                                    with_mistake(TorchStyleEncoder, "flattened")])
def test_encoder_check_accepts_correct_layers(answer):
    result = check_encoder_layer(answer)
    assert result, result


@pytest.mark.parametrize("answer", [TorchStyleDecoder, BookStyleDecoder])
def test_decoder_check_accepts_correct_layers(answer):
    result = check_decoder_layer(answer)
    assert result, result


ENCODER_WRONG = {
    "norm1 reused": "`norm2` is never called in forward",
    "norm without gain": "`norm1` is never called in forward",
    "gelu": "the feed-forward uses GELU",
    "padding inverted": "the padding mask is read the other way round",
    "unnormed feed-forward": "post-LN (norm_first=False): the input of `linear1` is the first "
                             "tensor that differs: the feed-forward reads the residual sum "
                             "before norm1",
    "no residual 1": "pre-LN (norm_first=True): the input of `norm2` is the first tensor that "
                     "differs: the first residual connection is missing",
    "normalised residual": "the residual path adds the normalised input",
    "no activation": "the ReLU between linear1 and linear2 is missing",
    "no padding": "the padding mask is ignored",
    "norm before": "post-LN (norm_first=False): the input of `self_attn` is the first tensor that "
                   "differs: LayerNorm is applied before the branch",
    "no residual 2": "post-LN (norm_first=False): the input of `norm2` is the first tensor that "
                     "differs: the second residual connection is missing",
    "in place": "changed its input in place",
    "always post": "pre-LN (norm_first=True): the input of `norm1` is the first tensor that "
                   "differs: LayerNorm is applied after adding, as in the post-LN layer",
}


@pytest.mark.parametrize("mistake", ENCODER_WRONG)
def test_encoder_check_names_the_mistake(mistake):
    result = check_encoder_layer(with_mistake(TorchStyleEncoder, mistake))
    assert not result and ENCODER_WRONG[mistake] in result.message, result


DECODER_WRONG = {
    "own causal mask": "the self-attention is masked causally whatever tgt_mask says",
    "mask inverted": "the boolean tgt_mask is read the other way round",
    "normalised memory": "memory is normalised before the cross-attention",
    "cross reads decoder, no padding": "the cross-attention takes its keys and values from the "
                                       "decoder",
    "no causal mask": "the self-attention is not masked",
    "cross reads decoder": "takes its keys and values from the decoder",
    "no residual 1": "the first residual connection is missing",
    "no residual 2": "the second residual connection is missing",
    "no residual 3": "the third residual connection is missing",
}


@pytest.mark.parametrize("mistake", DECODER_WRONG)
def test_decoder_check_names_the_mistake(mistake):
    result = check_decoder_layer(with_mistake(TorchStyleDecoder, mistake))
    assert not result and DECODER_WRONG[mistake] in result.message, result


def test_an_unknown_mistake_is_located_at_its_first_tensor():
    # norm3 used where norm2 belongs: no known mistake, but the first differing tensor is named
    result = check_decoder_layer(with_mistake(TorchStyleDecoder, "positions swapped"))
    assert not result and "pre-LN (norm_first=True): `norm2` is never called" in result.message


def test_layer_checks_reject_stub_pytorch_and_misnamed_or_extra_parts():
    class Stub(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False):
            raise NotImplementedError

    assert "not implemented yet" in check_encoder_layer(Stub).message

    class Builtin(nn.TransformerEncoderLayer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, batch_first=True, **kwargs)

    assert "write the layer yourself" in check_encoder_layer(Builtin).message

    class Wrapped(nn.Module):
        def __init__(self, d_model, nhead, dim_feedforward, dropout=0.0, norm_first=False):
            super().__init__()
            layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout,
                                               norm_first=norm_first, batch_first=True)
            self.inner = layer
            for name in ("self_attn", "linear1", "linear2", "norm1", "norm2"):
                setattr(self, name, getattr(layer, name))

        def forward(self, src, src_key_padding_mask=None):
            return self.inner(src, src_key_padding_mask=src_key_padding_mask)

    assert "calls `torch.nn.modules.transformer.TransformerEncoderLayer.forward`" in \
        check_encoder_layer(Wrapped).message

    class Misnamed(BookStyleEncoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.ffn1 = self.linear1
            del self.linear1

    assert "has no sub-module `linear1`" in check_encoder_layer(Misnamed).message

    class Extra(BookStyleEncoder):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.scale = nn.Parameter(torch.ones(1))

    assert "parameters, the reference" in check_encoder_layer(Extra).message
