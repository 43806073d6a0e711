"""Stored outputs compared number by number within a declared tolerance, words exactly.

A cell whose printed numbers depend on floating-point rounding (a table of trained models, a
difference from a reference, an explorer's attention weights) declares how far they may move,
in its metadata, with the measurement that justifies it:

    "tolerance": {"atol": 0.05, "rtol": 0.0,
                  "why": "accuracies over seeds 0-1 and AVX-512/AVX2 kernels: max |Δ| 0.021"}

The test suite then compares that cell's text outputs as a template and a list of numbers: the
template (everything but the numbers, runs of spaces counted as one, since a table pads to the
widest number) must be equal, there must be as many numbers, and each must satisfy
``|new - stored| <= atol + rtol * |stored|``. Cells without the key are compared exactly, as
nbval does. This module is also a pytest plugin (``-p utils.outputs`` in pyproject.toml): it
teaches nbval the rule above and sets ATTENTION_BOOK_CLAIMS=strict, so that a claim outside its
band fails under the tests while it only prints a note for a reader.
"""
from __future__ import annotations

import copy
import math
import os
import re
from pathlib import Path

# A number, with its sign; a ">" written against it (">300": a count that never reached its
# level within a budget of 300) belongs to it, so a censored count compares with a counted one.
NUMBER = re.compile(r"(?<![\w.])(?:>(?=\d))?[-−+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
                    r"(?![\w]|\.\d)")


def split_numbers(text: str, with_percent: bool = False) -> tuple:
    """(template, numbers): "loss 2.16 at step 1,000" -> ("loss # at step #", [2.16, 1000.0]).
    Runs of spaces count as one space in the template, and a line's leading and trailing spaces
    (a table's padding) not at all. With ``with_percent``, also a list saying which numbers are
    percentages (written "78.4%" or "78.4 %")."""
    matches = list(NUMBER.finditer(text))
    numbers = [float(m[0].lstrip(">").replace(",", "").replace("−", "-")) for m in matches]
    template = re.sub(r"[ \t]+", " ", NUMBER.sub("#", text))
    template = "\n".join(line.strip(" ") for line in template.split("\n"))
    if not with_percent:
        return template, numbers
    percent = [re.match(r"[ \u00a0\u2009]?%", text[m.end():]) is not None for m in matches]
    return template, numbers, percent


def within(stored: str, new: str, atol: float = 0.0, rtol: float = 0.0,
           atol_percent: float | None = None) -> str | None:
    """None when ``new`` equals ``stored`` up to the tolerance, else one sentence saying what
    differs: the words, the count of numbers, or the first number beyond the tolerance.
    ``atol_percent``, when given, replaces ``atol`` for percentages (a table of accuracies in
    percent and of steps or losses needs two scales)."""
    if stored == new:
        return None
    template, numbers, percent = split_numbers(stored, with_percent=True)
    new_template, new_numbers = split_numbers(new)
    if template != new_template:
        old_lines, new_lines = template.splitlines(), new_template.splitlines()
        if len(old_lines) != len(new_lines):
            return f"the output has {len(new_lines)} lines, the stored one {len(old_lines)}"
        line = next(i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b)
        return f"words differ on line {line + 1}: {old_lines[line]!r} became {new_lines[line]!r}"
    for index, (a, b, is_percent) in enumerate(zip(numbers, new_numbers, percent)):
        limit = (atol_percent if is_percent and atol_percent is not None else atol) + rtol * abs(a)
        if not (math.isfinite(a) and math.isfinite(b)) or abs(b - a) > limit:
            return (f"number {index + 1} moved from {a:g} to {b:g}, beyond the cell's tolerance "
                    f"({limit:g})")
    return None


def _text_values(outputs) -> list:
    """[(key, output index, field)] of every text value nbval compares, in its order: streams
    by name, display data by MIME type."""
    found = []
    for index, output in enumerate(outputs):
        if output.get("output_type") == "stream":
            found.append((("stream", output["name"]), index, None))
        for mime, value in output.get("data", {}).items():
            if isinstance(value, str) and not mime.startswith("image/"):
                found.append((("data", mime), index, mime))
    return found


def _get(outputs, index, field):
    return outputs[index]["text"] if field is None else outputs[index]["data"][field]


def adopt_within_tolerance(new, stored, tolerance: dict, sanitize=lambda s: s):
    """A copy of the outputs ``new`` in which every text value that equals its stored
    counterpart within ``tolerance`` is replaced by the stored one, so that an exact comparison
    afterwards fails only on what lies beyond the tolerance. Also returns the first reason."""
    new = copy.deepcopy(new)
    atol, rtol = float(tolerance.get("atol", 0.0)), float(tolerance.get("rtol", 0.0))
    atol_percent = tolerance.get("atol_percent")
    atol_percent = None if atol_percent is None else float(atol_percent)
    stored_values, new_values = _text_values(stored), _text_values(new)
    reason = None
    for key in dict.fromkeys(k for k, _, _ in stored_values):  # in order of appearance
        pairs = zip([v for v in stored_values if v[0] == key], [v for v in new_values if v[0] == key])
        for (_, i, field), (_, j, new_field) in pairs:
            old_text = sanitize(_get(stored, i, field))
            new_text = sanitize(_get(new, j, new_field))
            why = within(old_text, new_text, atol, rtol, atol_percent)
            if why is None:
                if new_field is None:
                    new[j]["text"] = _get(stored, i, field)
                else:
                    new[j]["data"][new_field] = _get(stored, i, field)
            else:
                reason = reason or why
    return new, reason


SANITIZE = Path(__file__).resolve().parent.parent / "tests" / "sanitize.cfg"


def _comparable(outputs) -> list:
    """Outputs as nbval compares them: streams merged, the test suite's sanitize patterns
    applied, and maintainers' STALE CLAIM lines (utils.variants runs) left out."""
    from nbval.plugin import coalesce_streams, get_sanitize_patterns

    patterns = get_sanitize_patterns(SANITIZE.read_text()) if SANITIZE.exists() else {}
    outputs = coalesce_streams(copy.deepcopy(list(outputs)))
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            text = "".join(line for line in output["text"].splitlines(True)
                           if not line.startswith("STALE CLAIM"))
            if not text:
                continue
            output["text"] = text
        for key, value in output.get("data", {}).items():
            if isinstance(value, str):
                for regex, replace in patterns:
                    value = re.sub(regex, replace, value)
                output["data"][key] = value
        if output.get("output_type") == "stream":
            for regex, replace in patterns:
                output["text"] = re.sub(regex, replace, output["text"])
        kept.append(output)
    return kept


def differences(stored, new) -> dict:
    """How the text outputs of one cell moved: the largest absolute change of a percentage
    ("percent") and of any other number ("other"), and "words": the first change of words or
    layout (None when there is none)."""
    stored, new = _comparable(stored), _comparable(new)
    stored_values, new_values = _text_values(stored), _text_values(new)
    found = {"percent": 0.0, "other": 0.0, "words": None}
    if [k for k, _, _ in stored_values] != [k for k, _, _ in new_values]:
        found["words"] = "the kinds of output differ"
        return found
    for (_, i, field), (_, j, new_field) in zip(stored_values, new_values):
        old_text, new_text = _get(stored, i, field), _get(new, j, new_field)
        if old_text == new_text:
            continue
        template, numbers, percent = split_numbers(old_text, with_percent=True)
        new_template, new_numbers = split_numbers(new_text)
        if template != new_template:
            found["words"] = found["words"] or within(old_text, new_text)
            continue
        for a, b, is_percent in zip(numbers, new_numbers, percent):
            key = "percent" if is_percent else "other"
            found[key] = max(found[key], abs(b - a))
    return found


# ----------------------------------------------------------------------- the pytest plugin
def pytest_configure(config):
    """Before any kernel starts: strict claims, quiet progress bars, and nbval taught to read
    a cell's declared tolerance."""
    os.environ["ATTENTION_BOOK_CLAIMS"] = "strict"
    os.environ["ATTENTION_BOOK_QUIET"] = "1"
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:  # nbval not installed: nothing to teach
        return
    if getattr(IPyNbCell.compare_outputs, "_with_tolerance", False):
        return
    exact = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        tolerance = self.cell.metadata.get("tolerance")
        reason = None
        if tolerance:
            test, reason = adopt_within_tolerance(test, ref, tolerance, self.sanitize)
        same = exact(self, test, ref, skip_compare)
        if not same and reason:
            self.comparison_traceback.insert(0, f"Beyond the declared tolerance: {reason}")
        return same

    compare_outputs._with_tolerance = True
    IPyNbCell.compare_outputs = compare_outputs
