"""Numbers in a chapter's prose, checked against the code that computes them.

A chapter states measured numbers in its text: "greedy accuracy falls to 6.7 % on the longest
sentences". Each such number is checked in a hidden cell next to the sentence,

    claim(rows[-1]["greedy_acc"], "6.7 %")

``claim`` writes the value the way the text writes it (a fraction as a percentage, the same
number of decimals) and fails with a sentence when the two differ. So when a model, a seed or
the data change, executing the chapter (which the test suite does) stops at the sentence that
became false, instead of leaving it silently stale.

Numbers that the text quotes from a paper, or settings the text chooses, are not measured on the
page; ``not_measured("0.34", "0.32", why="Luong et al. (2015), Table 6")`` says so. The test
``tests/test_claims.py`` reads every chapter and requires each decimal number, percentage and
ratio (``4.4×``) in its prose to appear in a ``claim`` or ``not_measured`` call of the same
notebook, and each claimed number to appear in the prose: a number edited in the text alone, or
a claim left behind by a deleted sentence, fails the test.

Maintainers: with the environment variable ATTENTION_BOOK_CLAIMS=report, a stale claim prints
one line starting "STALE CLAIM" instead of stopping the cell, so one execution of a chapter
lists every number that moved (after an update of PyTorch, say).

Written forms understood: ``"75.7 %"`` (the value is a fraction, 0.757), ``"4.4×"`` (a ratio),
``"0.02"``, ``"1,297"`` (thousands separators), ``"−0.12"`` (either minus sign), ``"6.1e-05"``.
"""
from __future__ import annotations

import math
import os
import re
import sys

REPORT_ENV = "ATTENTION_BOOK_CLAIMS"
_NUMBER = re.compile(r"^(?P<sign>[-−]?)(?P<digits>\d{1,3}(?:,\d{3})+|\d+)(?:\.(?P<decimals>\d+))?"
                     r"(?:e(?P<exponent>[-+]?\d+))?\s?(?P<unit>%|×)?$")


def canonical(text: str) -> str:
    """One spelling per number: no space before % or ×, ASCII minus, no padded exponent.
    "75.7 %" -> "75.7%", "6.1e-05" -> "6.1e-5"."""
    text = text.replace("\u2009", " ").replace("\u00a0", " ").strip()
    text = re.sub(r"\s+(?=[%×])", "", text).replace("−", "-")
    return re.sub(r"e([-+]?)0*(\d)", lambda m: "e" + m[1].replace("+", "") + m[2], text)


def written_like(value: float, stated: str) -> str:
    """``value`` written with the form and precision of ``stated``:
    (0.7567, "75.7 %") -> "75.7 %"."""
    match = _NUMBER.match(canonical(stated))
    if match is None:
        raise ValueError(f"cannot read {stated!r} as a number: write it like 75.7 %, 0.02, 4.4×, "
                         "1,297 or 6.1e-05")
    decimals = len(match["decimals"] or "")
    unit = match["unit"] or ""
    number = 100 * value if unit == "%" else value
    if match["exponent"] is not None:
        mantissa, exponent = f"{number:.{decimals}e}".split("e")
        text = f"{mantissa}e{int(exponent)}"
    else:
        grouping = "," if "," in match["digits"] else ""
        text = f"{number:{grouping}.{decimals}f}"
    if text.lstrip("-").strip("0.,e") == "" and text.startswith("-"):
        text = text[1:]  # "-0.0" is written "0.0"
    space = " " if re.search(r"\s[%×]$", stated.strip()) else ""
    return text + space + unit


def claim(value, stated: str) -> None:
    """Check that ``value``, written like ``stated``, is ``stated``; otherwise raise an
    AssertionError that says which sentence went stale."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        if hasattr(value, "detach"):  # a tensor that may carry a gradient
            value = value.detach()
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"claim needs a number, got {type(value).__name__}") from None
    if math.isnan(number):
        raise AssertionError(f"The text says {stated}, but the code computes NaN.")
    computed = written_like(number, stated)
    if canonical(computed) != canonical(stated):
        message = (f"The text says {stated}, but the code now computes {computed} ({number!r}): "
                   "rewrite the sentence and this claim, or find out why the number moved.")
        if os.environ.get(REPORT_ENV) == "report":
            print(f"STALE CLAIM: {message}", file=sys.stderr)
            return
        raise AssertionError(message)


def not_measured(*stated: str, why: str) -> None:
    """Mark numbers of the prose that are quoted (from a paper) or chosen (a setting), not
    measured on the page. Does nothing when run; ``tests/test_claims.py`` reads it."""
    if not why.strip():
        raise ValueError("not_measured needs a reason: the paper and table, or 'a setting'")
    for text in stated:
        written_like(0.0, text)  # must be a readable number


# ------------------------------------------------------------------- reading a chapter's prose
_HIDDEN = [re.compile(p, re.S) for p in (
    r"```.*?```",                 # fenced blocks (directives' bodies are read separately)
    r"\$\$.*?\$\$", r"\$[^$]+\$",  # math (inline math may span lines)
    r"`[^`\n]*`",                 # inline code and the targets of roles ({cite:p}`…`)
    r"\]\([^)]*\)", r"https?://\S+",  # link targets
)]
_PROSE_NUMBER = re.compile(r"(?<![\w.,])[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w]|\.\d)"
                           r"(?:[ \u00a0\u2009]?(?:%|×(?![ \u00a0\u2009]?\d)))?")  # "8 × 8": a size


def _directive_bodies(markdown: str) -> str:
    """The text inside ```{exercise} … ``` blocks, which is prose too (options dropped)."""
    bodies = re.findall(r"```\{[\w-]+\}[^\n]*\n(.*?)```", markdown, flags=re.S)
    return "\n".join(re.sub(r"^:[\w-]+:.*$", "", b, flags=re.M) for b in bodies)


_RANGE = re.compile(r"(\d[\d.,]*)(\s?[–-]\s?)(\d[\d.,]*)([ \u00a0\u2009]?)([%×])")


def prose_numbers(markdown: str, whole_numbers: bool = False) -> list:
    """The decimal numbers, percentages and ratios of a markdown text, outside math, code and
    links, in canonical spelling: "falls from 75.7 % to 6.7 %, a 4.4× drop" ->
    ["75.7%", "6.7%", "4.4×"]. In a range the unit belongs to both ends ("44–50 %" gives "44%"
    and "50%"). Whole numbers without % or × (years, sizes) are listed only with
    ``whole_numbers``."""
    text = markdown + "\n" + _directive_bodies(markdown)
    for pattern in _HIDDEN:
        text = pattern.sub(" ", text)
    text = _RANGE.sub(lambda m: m[1] + m[4] + m[5] + m[2] + m[3] + m[4] + m[5], text)
    found = []
    for token in _PROSE_NUMBER.findall(text):
        token = canonical(token)
        if whole_numbers or "." in token or token.endswith(("%", "×")):
            found.append(token)
    return found
