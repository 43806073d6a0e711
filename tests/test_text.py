"""The character-level corpus from CPython's bundled help topics."""
import math

import torch

from utils.data.text import CharCorpus, lm_batch, pydoc_text


def test_corpus_round_trips_and_splits():
    text = pydoc_text()
    assert len(text) > 400_000 and text == pydoc_text()          # deterministic
    corpus = CharCorpus.from_text(text)
    assert len(corpus.train) + len(corpus.valid) == len(text)
    assert corpus.decode(corpus.train[:50]) == text[:50]
    assert corpus.decode(corpus.encode("for x in y:")) == "for x in y:"


def test_unigram_loss_matches_a_direct_computation():
    corpus = CharCorpus.from_text("aab" * 30 + "abc" * 10, valid_fraction=0.25)
    train = corpus.decode(corpus.train)
    total = len(train) + 3
    p = {c: (train.count(c) + 1) / total for c in "abc"}
    valid = corpus.decode(corpus.valid)
    expected = -sum(math.log(p[c]) for c in valid) / len(valid)
    assert math.isclose(corpus.unigram_loss(), expected, rel_tol=1e-12)


def test_batches_are_shifted_windows():
    ids = torch.arange(100)
    x, y = lm_batch(ids, 4, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 10)
    assert torch.equal(y[:, :-1], x[:, 1:]) and torch.equal(y[:, -1], x[:, -1] + 1)
