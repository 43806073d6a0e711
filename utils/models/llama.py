"""Llama and Mistral as the book's GPT (chapter 14): a ``transformers`` model's configuration
and weights, read into ``GPT(GPTConfig.llama(...))``.

A ``LlamaForCausalLM`` is a decoder-only Transformer with rotary positions, grouped-query
attention, RMSNorm before each sub-layer, a SwiGLU feed-forward and no biases; a
``MistralForCausalLM`` adds a sliding window. Both map onto the book's one block by name:

    model.embed_tokens            -> embed            model.layers.i.input_layernorm  -> blocks.i.norm1
    model.layers.i.self_attn.o_proj -> blocks.i.self_attention.out_proj  (q/k/v_proj keep their names)
    model.layers.i.post_attention_layernorm -> blocks.i.norm2
    model.layers.i.mlp.{gate,up,down}_proj -> blocks.i.ffn.{gate,up,down}_proj
    model.norm -> norm            lm_head -> out

Nothing here imports ``transformers``: the model is read through its ``config`` and
``state_dict()`` (the tests and chapter 14 build small random ones in code).
"""
from __future__ import annotations

import torch

from .gpt import GPT, GPTConfig


def config_from_llama(hf_config) -> GPTConfig:
    """The GPTConfig of a ``LlamaConfig`` or ``MistralConfig``; refuses what the book lacks."""
    E, H = hf_config.hidden_size, hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None) or E // H
    rope = getattr(hf_config, "rope_parameters", None) or {}
    problems = [what for what, bad in (
        (f"head_dim {head_dim} != hidden_size / heads", head_dim * H != E),
        (f"activation {hf_config.hidden_act!r} (the book's SwiGLU uses silu)",
         hf_config.hidden_act != "silu"),
        ("attention or MLP biases", getattr(hf_config, "attention_bias", False)
         or getattr(hf_config, "mlp_bias", False)),
        ("tied input and output embeddings", getattr(hf_config, "tie_word_embeddings", False)),
        (f"rope_type {rope.get('rope_type')!r} (only the default rotation)",
         rope.get("rope_type", "default") != "default")) if bad]
    if problems:
        raise ValueError("this configuration has what the book's decoder does not: "
                         + "; ".join(problems))
    return GPTConfig.llama(hf_config.vocab_size, d_model=E, heads=H,
                           layers=hf_config.num_hidden_layers, d_ff=hf_config.intermediate_size,
                           max_len=hf_config.max_position_embeddings,
                           kv_heads=hf_config.num_key_value_heads,
                           window=getattr(hf_config, "sliding_window", None),
                           rope_base=float(rope.get("rope_theta", 10000.0)),
                           eps=hf_config.rms_norm_eps)


def llama_names(layers: int) -> dict:
    """The book's parameter names -> ``transformers``' Llama/Mistral names."""
    names = {"embed.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
             "out.weight": "lm_head.weight"}
    block = {"self_attention.q_proj": "self_attn.q_proj", "self_attention.k_proj": "self_attn.k_proj",
             "self_attention.v_proj": "self_attn.v_proj", "self_attention.out_proj": "self_attn.o_proj",
             "norm1": "input_layernorm", "norm2": "post_attention_layernorm",
             "ffn.gate_proj": "mlp.gate_proj", "ffn.up_proj": "mlp.up_proj",
             "ffn.down_proj": "mlp.down_proj"}
    for i in range(layers):
        names.update({f"blocks.{i}.{ours}.weight": f"model.layers.{i}.{theirs}.weight"
                      for ours, theirs in block.items()})
    return names


def gpt_from_llama(hf_model) -> GPT:
    """The book's GPT with a ``LlamaForCausalLM``'s or ``MistralForCausalLM``'s weights."""
    config = config_from_llama(hf_model.config)
    theirs = hf_model.state_dict()
    model = GPT(config)
    names = llama_names(config.layers)
    if set(names) != set(model.state_dict()):
        raise RuntimeError("the name map does not cover the book's decoder: "
                           f"{sorted(set(model.state_dict()) ^ set(names))}")
    with torch.no_grad():
        model.load_state_dict({ours: theirs[hf] for ours, hf in names.items()})
    return model.to(next(hf_model.parameters()).dtype).eval()
