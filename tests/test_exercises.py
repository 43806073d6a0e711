"""Every chapter's exercises: at least four, each with a kind; implement-exercises are checked
automatically by a checker that the checker tests exercise."""
from pathlib import Path

import pytest

from utils import checks
from utils.sphinx_book import KINDS, chapter_exercises

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
CHECKER_TESTS = "\n".join(p.read_text(encoding="utf-8")
                          for p in sorted((ROOT / "tests").glob("test_checks*.py")))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_have_kinds_and_checkers(path):
    exercises = chapter_exercises(path)
    assert len(exercises) >= 4, f"{path.name} has {len(exercises)} exercises"
    labels = [ex["label"] for ex in exercises]
    assert len(set(labels)) == len(labels)
    for ex in exercises:
        assert ex["kind"] in KINDS, f"{ex['label']}: give it `:class: kind-…` ({KINDS})"
        if ex["kind"] == "implement":
            assert ex["checker"], f"{ex['label']} is an implement-exercise without a check cell"
            assert callable(getattr(checks, ex["checker"], None)), ex["checker"]
            assert f"{ex['checker']}(" in CHECKER_TESTS, f"no test of {ex['checker']}"
        else:
            assert ex["checker"] is None, f"{ex['label']} calls {ex['checker']}: implement?"


def test_kinds_are_read_from_the_exercise_directive(tmp_path):
    import nbformat

    cells = [nbformat.v4.new_markdown_cell("```{exercise} A\n:label: ex-a\n:class: kind-explain\n\n"
                                           "Why?\n```"),
             nbformat.v4.new_markdown_cell("```{exercise} B\n:label: ex-b\n:class: kind-implement "
                                           "points-3\n\nWrite f.\n```"),
             nbformat.v4.new_code_cell("check_f(f)")]
    path = tmp_path / "99_x.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    assert chapter_exercises(path) == [
        {"title": "A", "label": "ex-a", "kind": "explain", "points": 1, "checker": None},
        {"title": "B", "label": "ex-b", "kind": "implement", "points": 3, "checker": "check_f"}]


def test_the_instructor_guide_has_a_rubric_for_every_prose_exercise_and_valid_week_plans():
    """Every experiment and explain exercise has a rubric entry ({ref}`label`: points) in the
    instructor guide, and every exercise number in its week plans exists and has that kind."""
    import re

    import nbformat

    guide = nbformat.read(ROOT / "chapters" / "instructor_guide.ipynb", as_version=4)
    text = "\n".join(c.source for c in guide.cells if c.cell_type == "markdown")
    rubrics = text.split("## Rubrics for the experiment and explain exercises", 1)[1]
    rubrics = rubrics.split("\n## ", 1)[0]
    exercises = {int(path.name[:2]): chapter_exercises(path) for path in CHAPTERS}
    for chapter, listed in exercises.items():
        for ex in listed:
            if ex["kind"] != "implement":
                entry = re.search(rf"\{{ref\}}`{ex['label']}`: (.+?)(?=\n\* |\n\n|\Z)", rubrics, re.S)
                assert entry, f"no rubric for {ex['label']}"
                points = [int(p) for p in re.findall(r"\((\d)\)", entry[1])]
                assert points and sum(points) >= 3, (ex["label"], points)
    plans = text.split("### A six-week and a twelve-week module", 1)[1].split("### ", 1)[0]
    plans = plans[plans.index("|"):]                        # the tables, not the sentence above
    numbers = re.findall(r"(\*\*)?\b(\d{1,2})\.(\d)\b(\*\*)?", plans)
    assert len(numbers) > 40
    for bold, chapter, k, _ in numbers:
        ex = exercises[int(chapter)][int(k) - 1]               # IndexError: no such exercise
        assert (ex["kind"] == "implement") == bool(bold), (f"{chapter}.{k}", ex["kind"])


def test_the_guides_time_estimate_is_current():
    """The estimate cell's stored table (its output is not compared by nbval: any edit of a
    chapter's prose moves the word counts) matches a fresh count to within 0.2 hours."""
    import contextlib
    import io
    import re

    import nbformat

    guide = nbformat.read(ROOT / "chapters" / "instructor_guide.ipynb", as_version=4)
    cell = next(c for c in guide.cells if c.cell_type == "code" and "MINUTES = {" in c.source)
    assert "nbval-ignore-output" in cell.metadata.get("tags", [])
    stored = "".join(o.get("text", "") for o in cell.outputs)
    fresh = io.StringIO()
    with contextlib.redirect_stdout(fresh):
        exec(cell.source, {})

    def hours(text):
        return {m[0]: float(m[1]) for m in re.findall(r"^(\d\d_\w+)\s.*?([\d.]+) h$", text, re.M)}

    assert set(hours(stored)) == {p.stem for p in CHAPTERS}
    assert all(abs(hours(stored)[k] - h) <= 0.2 for k, h in hours(fresh.getvalue()).items())


def _prose():
    import json

    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "markdown":
                yield path.name, "".join(cell["source"])
    for path in sorted((ROOT / "chapters").glob("*.md")) + [ROOT / "index.md"]:
        yield path.name, path.read_text(encoding="utf-8")


def test_references_read_once():
    """A reference to an exercise renders "Exercise 8.3", so no "exercise" before it (the site
    and the PDF said "Exercise Exercise 8.3"), and never a hand-written number; a textual citation
    names its authors, so no name before a parenthetical one ("Williams [Williams, 1992]")."""
    import re

    doubled = []
    for name, text in _prose():
        doubled += [(name, m[0]) for m in re.finditer(r"[Ee]xercises?\s+\{ref\}`ex-", text)]
        doubled += [(name, m[0]) for m in re.finditer(r"\{ref\}`[^`]*<ex-[^`]*`", text)]
        for m in re.finditer(r"\{cite:p\}`([a-z]+)\d{4}[^`]*`", text):
            before = " ".join(text[max(0, m.start() - 40):m.start()].split())
            if re.search(rf"\b{m[1]}\b[^.;:]*?(?:et al\.)?\s*\(?$", before, re.I):
                doubled.append((name, before[-30:] + m[0]))
    assert not doubled, doubled
