"""Numbers in the prose cannot go stale: every one is claimed by code, and every claim holds.

`claim(value, "75.7 %")` runs inside the chapters (nbval executes them, so a number that moved
fails there); this file checks the other half: that the prose and the claims name the same
numbers, and that the mechanism catches a drifted number at all.
"""
import ast
import re
import json
from pathlib import Path

import pytest

from utils.claims import (canonical, claim, not_measured, prose_numbers, stated_in_prose,
                          written_like, your_run)

CHAPTERS = Path(__file__).resolve().parent.parent / "chapters"
# Every numbered chapter, a new one included, is held to its claims number by number.
AUDITED = sorted(path.stem for path in CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


def stated_numbers(notebook: dict) -> tuple:
    """(claimed, not measured): the canonical numbers named in claim(...) and
    not_measured(...) calls of the notebook's code cells."""
    claimed, quoted = [], []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        source = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            strings = [a.value for a in node.args
                       if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if node.func.id in ("claim", "your_run"):
                claimed += [n for s in strings[:1] for n in stated_in_prose(s)]
            elif node.func.id == "not_measured":
                quoted += [canonical(s) for s in strings]
    return claimed, quoted


def prose_of(notebook: dict) -> str:
    return "\n\n".join("".join(c["source"]) for c in notebook["cells"]
                       if c["cell_type"] == "markdown")


def unchecked(notebook: dict) -> tuple:
    """(numbers in the prose that no code names, names in code that the prose lacks)."""
    prose = prose_of(notebook)
    claimed, quoted = stated_numbers(notebook)
    loose = set(prose_numbers(prose)) - set(claimed) - set(quoted)
    return sorted(loose), sorted(set(claimed + quoted) - set(prose_numbers(prose, True)))


def load(name: str) -> dict:
    return json.loads((CHAPTERS / f"{name}.ipynb").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", AUDITED)
def test_every_number_in_the_prose_is_claimed_and_every_claim_is_in_the_prose(name):
    loose, orphaned = unchecked(load(name))
    assert not loose, (f"{name}: these numbers of the prose are neither claim()ed nor marked "
                       f"not_measured(): {loose}")
    assert not orphaned, f"{name}: claims whose number is not in the prose: {orphaned}"


def test_every_chapter_is_audited():
    assert len(AUDITED) >= 13 and AUDITED[0].startswith("01_") and AUDITED[12].startswith("13_")


def test_claim_accepts_the_number_as_written_and_rejects_a_drifted_one(monkeypatch):
    monkeypatch.setenv("ATTENTION_BOOK_CLAIMS", "strict")  # as under the test suite
    claim(0.7567, "75.7 %")
    claim(4.44, "4.4×")
    claim(1297, "1,297")
    claim(6.14e-5, "6.1e-05")
    claim(-0.1249, "−0.12")
    claim(12.4, "12")
    with pytest.raises(AssertionError, match=r"The text says 75.7 %, but the code now computes "
                                             r"75.8 %"):
        claim(0.758, "75.7 %")
    with pytest.raises(AssertionError, match="computes 0.03"):
        claim(0.031, "0.02")
    with pytest.raises(AssertionError, match="NaN"):
        claim(float("nan"), "0.5")
    with pytest.raises(TypeError, match="needs a number"):
        claim("0.5", "0.5")
    with pytest.raises(ValueError, match="cannot read 'most' as a number"):
        claim(0.5, "most")
    with pytest.raises(ValueError, match="needs a reason"):
        not_measured("0.34", why=" ")
    assert written_like(0.0, "0.0") == "0.0" and written_like(-0.0001, "0.0") == "0.0"


def test_report_mode_lists_a_stale_claim_and_goes_on(monkeypatch, capsys):
    monkeypatch.setenv("ATTENTION_BOOK_CLAIMS", "report")
    claim(0.758, "75.7 %")
    claim(0.757, "75.7 %")
    assert capsys.readouterr().err.splitlines() == [
        "STALE CLAIM: the text says 75.7 %, the code computes 75.8 % (0.758)"]
    monkeypatch.setenv("ATTENTION_BOOK_CLAIMS", "strict")
    with pytest.raises(AssertionError, match="The text says 75.7 %, but the code now computes "
                                             "75.8 %"):
        claim(0.758, "75.7 %")


def test_a_reader_gets_a_note_and_the_notebook_goes_on(monkeypatch, capsys):
    """Outside the tests (the variable unset), a claim that does not hold never stops a run."""
    monkeypatch.delenv("ATTENTION_BOOK_CLAIMS", raising=False)
    claim(0.70, "74–83 %", measured="75.9–81.3 %")
    claim(0.758, "75.7 %")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Note: the text says 74–83 %; your run computed 70 %. The book's "
                             "range comes from a few seeds and machines")
    assert out[1].startswith("Note: the text says 75.7 %; your run computed 75.8 %.")


def test_a_band_holds_inside_and_fails_outside(monkeypatch):
    monkeypatch.setenv("ATTENTION_BOOK_CLAIMS", "strict")
    for inside in (0.74, 0.7449, 0.80, 0.8349):  # both ends included at the written precision
        claim(inside, "74–83 %", measured="75.9–81.3 %")
    for outside in (0.7349, 0.8351, 0.5, float("nan")):
        with pytest.raises(AssertionError, match="The text says 74–83 %"):
            claim(outside, "74–83 %", measured="75.9–81.3 %")
    claim(2.91, "2.5–3.4×", measured="2.7–3.2×")
    with pytest.raises(AssertionError):
        claim(3.46, "2.5–3.4×", measured="2.7–3.2×")
    claim(-0.11, "−0.14–−0.08", measured="−0.12–−0.10")


def test_a_bound_holds_below_and_fails_above(monkeypatch):
    monkeypatch.setenv("ATTENTION_BOOK_CLAIMS", "strict")
    claim(3.2e-7, "< 1e-06"), claim(0.0, "< 1e-06"), claim(1e-3, "≤ 0.001")
    for above in (1e-6, 2.5e-6):
        with pytest.raises(AssertionError, match="The text says < 1e-06"):
            claim(above, "< 1e-06")


def test_a_band_must_contain_its_measurement_and_not_be_wider_than_it_justifies():
    with pytest.raises(ValueError, match="needs measured="):
        claim(0.8, "74–83 %")
    with pytest.raises(ValueError, match="does not contain the spread measured"):
        claim(0.8, "74–83 %", measured="73.9–81.3 %")
    with pytest.raises(ValueError, match="more than three times as wide"):
        claim(0.8, "50–99 %", measured="75.9–81.3 %")
    # three times the spread (5.4 points) plus two steps of 1 point: 18.2 points at most
    claim(0.8, "70–88 %", measured="75.9–81.3 %")
    with pytest.raises(ValueError, match="runs backwards"):
        claim(0.8, "83–74 %", measured="75.9–81.3 %")


def test_your_run_shows_the_readers_value_against_the_band(monkeypatch, capsys):
    monkeypatch.delenv("ATTENTION_BOOK_CLAIMS", raising=False)
    your_run(0.7843, "74–83 %", measured="75.9–81.3 %", what="greedy accuracy")
    assert capsys.readouterr().out == ("This run: greedy accuracy: 78.4 % — the book's range "
                                       "over seeds and machines: 74–83 % (inside)\n")
    your_run(2.913, "1.8–4.4×", measured="2.50–3.73×", what="ratio")
    assert "ratio: 2.91× — the book's range over seeds and machines: 1.8–4.4× (inside)" in \
        capsys.readouterr().out
    your_run(0.6, "74–83 %", measured="75.9–81.3 %", what="greedy accuracy")
    assert "60.0 % — the book's range over seeds and machines: 74–83 % (outside)" in \
        capsys.readouterr().out


def test_ranges_and_bounds_are_the_prose_numbers_they_claim():
    assert stated_in_prose("74–83 %") == ["74%", "83%"]
    assert stated_in_prose("2.5–3.4×") == ["2.5×", "3.4×"]
    assert stated_in_prose("85.6 %") == ["85.6%"]
    assert stated_in_prose("< 1e-06") == []


def test_prose_numbers_skip_math_code_links_and_whole_numbers():
    text = ("Accuracy falls from 75.7 % to 6.7%, a 4.4× drop, in 2014 (Section 3.2.1); "
            "$0.5$, `1.5`, [a link](https://x.org/v1.5), 1,297 and −0.12.\n"
            "```{exercise} A title\n:label: ex-1\nAt 0.25 it fails.\n```\n"
            "```python\nx = 0.75\n```\n")
    assert prose_numbers(text) == ["75.7%", "6.7%", "4.4×", "-0.12", "0.25"]
    assert prose_numbers("between 44–50 % and 9 – 12 %; 3–7 tokens") == ["44%", "50%", "9%", "12%"]
    assert prose_numbers("a canvas of 6 × 6 cells, 8×8 pixels, 2.5× faster") == ["2.5×"]
    assert prose_numbers("$H = -\\sum_i \\alpha_i \\log\n\\alpha_i$ is $\\log 32 \\approx 3.47$") == []
    assert prose_numbers("3–7 tokens, 1,297 digits", whole_numbers=True) == ["3", "7", "1,297"]


def test_a_number_edited_in_the_prose_alone_is_caught():
    """Drift in the other direction: a maintainer edits a sentence but not its claim."""
    notebook = load(AUDITED[0])
    claimed, _ = stated_numbers(notebook)
    target = next(c for c in claimed if c.endswith("%"))
    edited = json.loads(json.dumps(notebook))
    spellings = [target, target[:-1] + " %"]
    band = re.search(r"(?<![\d.])" + re.escape(target[:-1]) + r"–\d+(?:\.\d+)? ?%",
                     prose_of(notebook))
    if band:  # a range: its whole spelling in the prose
        spellings.insert(0, band[0])
    for cell in edited["cells"]:
        if cell["cell_type"] == "markdown":
            source = "".join(cell["source"])
            for spelling in spellings:
                source = source.replace(spelling, "99.9 %")
            cell["source"] = source
    loose, orphaned = unchecked(edited)
    assert "99.9%" in loose and target in orphaned


def faq_loose(faq: str) -> list:
    """Numbers of FAQ sections that no audited chapter linked from the same section states."""
    loose = []
    for section in faq.split("\n## ")[1:]:
        linked = set(re.findall(r"\{doc\}`(\d\d_[\w]+)`", section))
        stated = set()
        for name in linked & set(AUDITED):
            stated |= set(prose_numbers(prose_of(load(name)), whole_numbers=True))
        loose += [(section.splitlines()[0], n) for n in prose_numbers(section) if n not in stated]
    return loose


def test_the_faq_quotes_only_numbers_its_chapters_state_and_check():
    """A number on the FAQ page must be one that a chapter linked in the same section states in
    its (claim-checked) prose, so that a moved number fails here instead of going stale."""
    faq = (CHAPTERS / "faq.md").read_text(encoding="utf-8")
    assert not faq_loose(faq), faq_loose(faq)
    assert "72–78 %" in faq
    assert faq_loose(faq.replace("72–78 %", "72–77 %")) == [
        ("Why does a sequence-to-sequence model without attention fail on long inputs?", "77%")]
