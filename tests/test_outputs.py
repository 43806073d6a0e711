"""Stored outputs compared with a declared tolerance: numbers within it, words exactly.

The rule lives in ``utils.outputs``; nbval applies it to every cell whose metadata declares
"tolerance" (the plugin is loaded by pyproject.toml's ``-p utils.outputs``)."""
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from utils.outputs import adopt_within_tolerance, differences, split_numbers, within

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"

# Chapter 1's table of the hidden-128 model, as stored from an Intel AVX-512 machine and as the
# same code printed it on an AMD EPYC (AVX-512): the same words, numbers up to 1.7 points apart.
INTEL = """  length  teacher-forced  greedy  exact match  BLEU
   3–7           95.1%   85.6%        77.0%  82.6
  8–12           83.2%   53.0%        12.0%  49.0
"""
AMD = """  length  teacher-forced  greedy  exact match  BLEU
   3–7           94.8%   84.7%        75.3%  81.9
  8–12           83.9%   54.1%        13.0%  50.2
"""


def test_numbers_are_split_from_the_words():
    assert split_numbers("loss 2.16 at step 1,000; 78.4%, −0.3 and 1e-05 (h64)") == (
        "loss # at step #; #%, # and # (h64)", [2.16, 1000.0, 78.4, -0.3, 1e-05])
    # a table's padding is not a word: 9.5 and 10.5 take different widths
    assert split_numbers("   9.5 | a")[0] == split_numbers("  10.5 | a")[0]


def test_another_kernel_settings_output_is_accepted_within_its_tolerance():
    assert within(INTEL, AMD, atol=2.0) is None
    assert within(INTEL, INTEL) is None


def test_a_number_beyond_the_tolerance_is_rejected_and_named():
    assert within(INTEL, AMD, atol=1.0) == (
        "number 5 moved from 77 to 75.3, beyond the cell's tolerance (1)")
    # two scales: percentages within 2 points, other numbers (a BLEU score) within 0.5
    assert within(INTEL, AMD, atol=0.5, atol_percent=2.0) == (
        "number 6 moved from 82.6 to 81.9, beyond the cell's tolerance (0.5)")
    assert within(INTEL, AMD, atol=1.5, atol_percent=2.0) is None
    assert within("ratio 2.50×", "ratio 2.60×", rtol=0.02) is not None
    assert within("ratio 2.50×", "ratio 2.54×", rtol=0.02) is None
    assert within("loss 2.1", "loss nan", atol=10) is not None


def test_a_changed_word_or_table_shape_is_rejected_whatever_the_tolerance():
    assert within(INTEL, AMD.replace("greedy", "beam"), atol=100).startswith(
        "words differ on line 1")
    assert within(INTEL, AMD + "  13–17           73.6%   30.2%         2.0%  36.4\n",
                  atol=100) == "the output has 4 lines, the stored one 3"
    assert within("rotary beats ALiBi: 2.01", "ALiBi beats rotary: 2.01", atol=1) is not None
    # a number that turns into a word (or back) changes the template too
    assert within("steps to 90 %: 350", "steps to 90 %: never", atol=1e9) is not None


def _stream(text):
    return nbformat.v4.new_output("stream", name="stdout", text=text)


def test_outputs_within_tolerance_take_the_stored_text_and_others_keep_theirs():
    stored = [_stream(INTEL), nbformat.v4.new_output(
        "display_data", data={"text/html": '<div data-weight="0.412">', "image/png": "AAAA"})]
    new = [_stream(AMD), nbformat.v4.new_output(
        "display_data", data={"text/html": '<div data-weight="0.419">', "image/png": "BBBB"})]
    adopted, reason = adopt_within_tolerance(new, stored, {"atol": 2.0})
    assert adopted[0]["text"] == INTEL and reason is None
    assert adopted[1]["data"]["text/html"] == '<div data-weight="0.412">'
    assert adopted[1]["data"]["image/png"] == "BBBB"  # images are nbval's business (skipped)
    adopted, reason = adopt_within_tolerance(new, stored, {"atol": 0.005})
    assert adopted[0]["text"] == AMD and reason.startswith("number 3 moved from 95.1 to 94.8")
    assert adopted[1]["data"]["text/html"] == '<div data-weight="0.419">'
    moved = differences(stored, new)
    assert (round(moved["other"], 6), round(moved["percent"], 6), moved["words"]) == (1.2, 1.7, None)
    assert differences(stored, stored) == {"percent": 0.0, "other": 0.0, "words": None}


def test_every_declared_tolerance_says_why_and_is_a_number():
    """A tolerance is justified by a measurement, recorded beside it."""
    declared = 0
    for path in sorted(CHAPTERS.glob("*.ipynb")):
        for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            tolerance = cell.get("metadata", {}).get("tolerance")
            if tolerance is None:
                continue
            declared += 1
            where = f"{path.name}, cell {number}"
            assert set(tolerance) <= {"atol", "rtol", "atol_percent", "why"}, where
            assert len(tolerance.get("why", "")) > 20, f"{where}: say what was measured"
            assert all(float(tolerance.get(k, 0)) >= 0
                       for k in ("atol", "rtol", "atol_percent")), where
            assert "nbval-ignore-output" not in cell["metadata"].get("tags", []), \
                f"{where}: a cell is compared within a tolerance or ignored, not both"
    assert declared > 0


def _notebook(path, printed_then, printed_now, tolerance):
    """A one-cell notebook that prints ``printed_now`` but stores ``printed_then``."""
    cell = nbformat.v4.new_code_cell(f"print({printed_now!r})", execution_count=1,
                                     outputs=[_stream(printed_then + "\n")])
    if tolerance is not None:
        cell.metadata["tolerance"] = tolerance
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)


@pytest.mark.parametrize("now, tolerance, passes", [
    ("accuracy 78.9 %", {"atol": 1.0, "why": "a test of the plugin"}, True),
    ("accuracy 80.9 %", {"atol": 1.0, "why": "a test of the plugin"}, False),
    ("accuracy 78.9 %", None, False),  # no tolerance declared: exact
    ("accurate 78.4 %", {"atol": 1.0, "why": "a test of the plugin"}, False),
])
def test_nbval_applies_the_declared_tolerance(tmp_path, now, tolerance, passes):
    notebook = tmp_path / "one.ipynb"
    _notebook(notebook, "accuracy 78.4 %", now, tolerance)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p",
                           "utils.outputs", "--nbval", "--nbval-current-env", "-n", "0", "-q",
                           "-o", "addopts=", str(notebook)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode == 0) == passes, done.stdout[-2000:]
    if not passes and tolerance and "80.9" in now:
        assert "Beyond the declared tolerance: number 1 moved from 78.4 to 80.9" in done.stdout


def test_every_ignored_output_says_why_it_varies():
    """An output left out of the comparison is one no tolerance describes (timings, samples of a
    trained model, the machine's name): the cell says which, in its metadata."""
    for path in sorted(CHAPTERS.glob("*.ipynb")):
        for number, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if "nbval-ignore-output" in cell.get("metadata", {}).get("tags", []):
                assert len(cell["metadata"].get("varies", "")) > 20, \
                    f"{path.name}, cell {number}: say in metadata 'varies' why it is ignored"
