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
# Maintainers: a file that every claim appends its value to (one JSON line each), so that runs
# under other seeds and kernels can be compared claim by claim (``python -m utils.variants``).
LOG_ENV = "ATTENTION_BOOK_CLAIMS_LOG"
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


_STATED_RANGE = re.compile(r"^(?P<lo>[-−]?[\d.,]+)\s?–\s?(?P<hi>[-−]?[\d.,]+)(?P<unit>\s?[%×])?$")
_STATED_BOUND = re.compile(r"^(?P<op><|≤|below)\s?(?P<bound>\S.*)$")


def _number(value) -> float:
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        if hasattr(value, "detach"):  # a tensor that may carry a gradient
            value = value.detach()
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"claim needs a number, got {type(value).__name__}") from None


def _read(text: str) -> float:
    """The number a written form stands for: "75.7 %" -> 0.757, "4.4×" -> 4.4."""
    text = canonical(text)
    number = float(text.rstrip("%×").replace(",", ""))
    return number / 100 if text.endswith("%") else number


def decimals_of(text: str) -> int:
    """How many decimals a written number has: "75.7 %" -> 1, "4×" -> 0."""
    return len((canonical(text).rstrip("%×").split(".") + [""])[1])


def band(stated: str):
    """(low, high, written form of the ends) of a stated range "74–83 %" (both ends included,
    at the written precision), or None for a single number."""
    match = _STATED_RANGE.match(stated.replace("\u2009", " ").replace("\u00a0", " ").strip())
    if match is None:
        return None
    unit = match["unit"] or ""
    low, high = match["lo"] + unit, match["hi"] + unit
    if _read(low) > _read(high):
        raise ValueError(f"the range {stated!r} runs backwards: write the smaller number first")
    return low, high


def holds(number: float, stated: str) -> tuple:
    """(does ``number`` agree with ``stated``, how ``number`` is written like it)."""
    bound = _STATED_BOUND.match(stated.strip())
    if bound:
        limit = _read(bound["bound"])
        shown = written_like(number, bound["bound"]) if abs(number) >= limit / 1e3 else f"{number:.1e}"
        return (number <= limit if bound["op"] == "≤" else number < limit), shown
    ends = band(stated)
    if ends is None:
        computed = written_like(number, stated)
        return canonical(computed) == canonical(stated), computed
    low, high = ends
    precise = max(ends, key=decimals_of)
    computed = written_like(number, precise)
    return _read(low) <= _read(computed) <= _read(high), computed


def stated_in_prose(stated: str) -> list:
    """The prose numbers a claim's stated text stands for (``tests/test_claims.py`` matches them
    with the sentence): "74–83 %" -> ["74%", "83%"], "85.6 %" -> ["85.6%"]; a bound ("< 1e-06")
    is written in the prose as a power of ten and stands for none."""
    if _STATED_BOUND.match(stated.strip()):
        return []
    ends = band(stated)
    return [canonical(e) for e in ends] if ends else [canonical(stated)]


def _check_measured(stated: str, measured: str) -> None:
    """A band must contain what was measured for it, and be at most three times as wide as
    that spread plus two steps of its last written digit: wide enough for seeds and machines not
    yet tried, never wide enough to accept anything."""
    ends, seen = band(stated), band(measured)
    if ends is None or seen is None:
        raise ValueError(f"measured={measured!r} must be a range like the band {stated!r}")
    (low, high), (seen_low, seen_high) = ends, seen
    if not _read(low) <= _read(seen_low) <= _read(seen_high) <= _read(high):
        raise ValueError(f"the band {stated} does not contain the spread measured for it, "
                         f"{measured}")
    decimals = max(decimals_of(e) for e in ends)
    step = 10 ** -decimals / (100 if canonical(low).endswith("%") else 1)
    width, spread = _read(high) - _read(low), _read(seen_high) - _read(seen_low)
    if width > 3 * spread + 2 * step + 1e-12:
        raise ValueError(f"the band {stated} is more than three times as wide as the spread "
                         f"measured for it ({measured}) plus two steps of its last digit: "
                         "narrow it, or measure more seeds and machines")


def claim(value, stated: str, *, measured: str | None = None) -> None:
    """Check ``value`` against the prose's ``stated`` number and say so when it does not hold.

    ``stated`` is written as in the text: a single number ("85.6 %", "0.02", "4.4×") for a
    deterministic result, which must agree to the written precision; a range ("74–83 %") for a
    result of training, which must lie in it at the precision of its ends; or a bound ("< 1e-06",
    "≤ 0.001") for a difference from a reference. A range carries the spread it was derived from,
    ``measured="75.9–81.3 %"``: the values the claim took in the runs of ``python -m
    utils.variants`` (the stored run, other seeds, other kernels), which it must contain and may
    exceed by a bounded margin (``_check_measured``).

    When the value does not hold: under the test suite (ATTENTION_BOOK_CLAIMS=strict) an
    AssertionError names the stated text and the computed value; for maintainers
    (ATTENTION_BOOK_CLAIMS=report) one line "STALE CLAIM ..." on stderr; for a reader (unset) a
    short note, and the notebook goes on. Returns nothing (a notebook cell that ends with a
    claim shows no output).
    """
    number = _number(value)
    _log(number, stated)
    if measured is not None:
        _check_measured(stated, measured)
    elif band(stated) is not None:
        raise ValueError(f"the range {stated!r} needs measured=: the spread it was derived from")
    ok, computed = (False, "NaN") if math.isnan(number) else holds(number, stated)
    if ok:
        return
    mode = os.environ.get(REPORT_ENV, "")
    if mode == "strict":
        raise AssertionError(f"The text says {stated}, but the code now computes {computed} "
                             f"({number!r}): rewrite the sentence and this claim, or find out "
                             "why the number moved.")
    if mode == "report":
        print(f"STALE CLAIM: the text says {stated}, the code computes {computed} ({number!r})",
              file=sys.stderr)
    else:
        print(f"Note: the text says {stated}; your run computed {computed}. "
              + ("The book's range comes from a few seeds and machines; yours may fall outside "
                 "it, and the sentence beside it may not hold for your run."
                 if measured else "The sentence beside it does not hold for your run."))


def claim_that(condition, sentence: str | None = None) -> None:
    """A statement of the prose that is not a number ("the longest bucket is the worst", "the
    verb attends to its English verb"), checked like ``claim``: under the tests a false one
    fails and names ``sentence`` (by default the line of code that called it); a reader gets a
    note and the notebook goes on."""
    held = bool(condition)
    if sentence is None:
        import linecache

        caller = sys._getframe(1)
        sentence = linecache.getline(caller.f_code.co_filename, caller.f_lineno).strip()
    _log(1.0 if held else 0.0, "that: " + sentence)
    if held:
        return
    mode = os.environ.get(REPORT_ENV, "")
    if mode == "strict":
        raise AssertionError(f"The text says: {sentence} — but this run disagrees.")
    if mode == "report":
        print(f"STALE CLAIM: the text says: {sentence} — this run disagrees", file=sys.stderr)
    else:
        print(f"Note: the text says: {sentence} — your run disagrees. Runs differ with the "
              "processor and the seed; the sentence describes the book's runs.")


def your_run(value, stated: str, *, measured: str, what: str) -> None:
    """A visible line for a chapter's headline result: this run's value against the book's
    band, e.g. "This run: greedy accuracy on the longest sentences: 78.4 % — the book's range
    over seeds and machines: 74–83 % (inside)". On the website "this run" is the book's stored
    run; in a reader's notebook, the reader's. Checked like ``claim``."""
    number = _number(value)
    decimals = max(decimals_of(e) for e in (band(stated) or (stated,)))
    unit = "%" if canonical(stated).endswith("%") else ("×" if stated.endswith("×") else "")
    space = " " if re.search(r"\s[%×]$", stated.strip()) else ""
    shown = f"{100 * number if unit == '%' else number:.{decimals + 1}f}" + space + unit
    inside = holds(number, stated)[0] if not math.isnan(number) else False
    print(f"This run: {what}: {shown} — the book's range over seeds and machines: {stated} "
          f"({'inside' if inside else 'outside'})")
    claim(number, stated, measured=measured)


def _log(number: float, stated: str) -> None:
    path = os.environ.get(LOG_ENV)
    if path:
        import json

        entry = {"stated": stated, "value": number}
        frame = sys._getframe(2)  # claim()'s or claim_that()'s caller (your_run adds a frame)
        if frame.f_code.co_name == "your_run":
            frame = frame.f_back
        try:  # in a notebook: which cell, and which line of it
            entry["cell"] = get_ipython().execution_count  # noqa: F821 (IPython's builtin)
            entry["line"] = frame.f_lineno
        except NameError:
            pass
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")


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
