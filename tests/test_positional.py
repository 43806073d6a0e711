"""Sinusoidal and learned position encodings."""
import math

import pytest
import torch

from utils.models.positional import LearnedPositions, SinusoidalPositions, sinusoidal_positions


def test_sinusoidal_matches_the_formula_in_a_loop():
    L, E = 12, 8
    pe = sinusoidal_positions(L, E)
    for p in range(L):
        for i in range(E // 2):
            angle = p / 10000 ** (2 * i / E)
            assert math.isclose(pe[p, 2 * i].item(), math.sin(angle), abs_tol=1e-6)
            assert math.isclose(pe[p, 2 * i + 1].item(), math.cos(angle), abs_tol=1e-6)


def test_a_shift_is_a_rotation_so_dot_products_depend_on_the_offset_only():
    pe = sinusoidal_positions(64, 16)
    k = 5
    for i in range(8):   # each (sin, cos) pair rotates by the angle k·ω_i
        w = 10000 ** (-2 * i / 16)
        rotation = torch.tensor([[math.cos(k * w), -math.sin(k * w)],
                                 [math.sin(k * w), math.cos(k * w)]])
        torch.testing.assert_close(pe[k:, 2 * i:2 * i + 2], pe[:-k, 2 * i:2 * i + 2] @ rotation,
                                   atol=1e-5, rtol=0)
    dots = torch.stack([pe[p] @ pe[p + k] for p in range(40)])
    torch.testing.assert_close(dots, dots[0].expand(40), atol=1e-4, rtol=0)


def test_modules_add_positions_and_learned_ones_refuse_longer_inputs():
    x = torch.zeros(2, 6, 8)
    torch.testing.assert_close(SinusoidalPositions(8)(x)[1], sinusoidal_positions(6, 8))
    learned = LearnedPositions(6, 8)
    torch.testing.assert_close(learned(x)[0], learned.embedding.weight)
    with pytest.raises(ValueError, match="longer than the 6 positions"):
        learned(torch.zeros(1, 7, 8))
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positions(4, 7)
