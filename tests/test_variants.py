"""utils.variants: the bands it proposes are the ones claim() accepts, and its kernel settings."""
import pytest

from utils.claims import band, claim, holds
from utils.variants import KERNELS, _round_up, other_kernels, propose_band, proposals


@pytest.mark.parametrize("stated, values", [
    ("68.6 %", [0.6745, 0.6862, 0.6728, 0.707]),
    ("5.8 %", [0.0593, 0.0586, 0.0676]),
    ("2.5×", [3.59, 4.91, 3.68, 3.99]),
    ("1.50", [1.433, 1.486, 1.439, 1.66]),
    ("−0.10", [-0.1181, -0.1106, -0.1225]),
    ("21", [25, 22, 23]),
])
def test_a_proposed_band_contains_every_run_and_passes_claims_width_rule(stated, values):
    proposed, measured = propose_band(stated, values)
    for value in values:
        assert holds(value, proposed)[0]
        claim(value, proposed, measured=measured)  # raises if the band is too wide


def test_a_number_no_run_moved_stays_a_single_number():
    assert propose_band("0.98", [0.9804, 0.9801]) == (None, None)
    assert propose_band("83×", [83.2, 82.9]) == (None, None)


def test_tolerances_round_up_to_one_digit():
    assert _round_up(1.74) == 2 and _round_up(0.0062) == 0.007 and _round_up(2.0) == 2


def test_every_kernel_setting_names_all_three_libraries():
    for setting in KERNELS.values():
        assert set(setting) == {"ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA"}
    assert other_kernels() in KERNELS


def test_proposals_skip_statements_and_re_propose_ranges_matched_by_occurrence():
    stored = [{"stated": "that: claim_that(x)", "value": 1.0},
              {"stated": "65–73 %", "value": 0.7369},
              {"stated": "< 1e-06", "value": 2e-7},
              {"stated": "65–73 %", "value": 0.70}]
    other = [{"stated": "that: a new check", "value": 1.0},      # one more claim logged first
             {"stated": "65–73 %", "value": 0.7555}, {"stated": "65–73 %", "value": 0.71}]
    rows = proposals([stored, other])
    assert [(i, values) for i, _, _, _, values in rows] == [(1, [0.7369, 0.7555]), (3, [0.70, 0.71])]
    for _, _, proposed, measured, values in rows:
        for value in values:
            claim(value, proposed, measured=measured)
