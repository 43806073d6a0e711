"""Beam search against exhaustive enumeration and greedy decoding."""
import pytest
import torch

from utils.checks.decoding import _best_by_enumeration, _garden_path, markov
from utils.models.decoding import beam_search
from utils.special_tokens import EOS


def test_beam_one_is_greedy_and_two_finds_the_garden_path():
    assert beam_search(markov(_garden_path()), 1, 5) == [3, 4, EOS]
    assert beam_search(markov(_garden_path()), 2, 5) == [4, EOS]


def test_a_wide_beam_equals_exhaustive_search():
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        table = torch.softmax(2 * torch.randn(5, 5, generator=gen), -1)
        best, _ = _best_by_enumeration(table, 4)
        assert beam_search(markov(table), 5 ** 4, 4) == best


def test_bad_arguments():
    with pytest.raises(ValueError):
        beam_search(markov(_garden_path()), 0, 5)
