"""`make assignments`: every chapter becomes an otter-grader assignment whose tests are the
book's checkers. Every chapter's autograder is built and its tests are run against the stubs;
the whole grading flow (`otter run` executing a notebook) runs on chapter 7, the fastest."""
import json
import re
import zipfile
from pathlib import Path

import nbformat
import pytest
from otter.test_files import ExceptionTestFile

from utils.assignments import (grading_requirements, implement_exercises, main, otter_tests,
                               write_assignments)
from utils.sphinx_book import chapter_exercises
from utils.student_edition import CHAPTERS, student_notebook

PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def assignments(tmp_path_factory):
    out = tmp_path_factory.mktemp("assignments")
    return out, write_assignments(out)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write this function")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_every_chapter_builds_its_assignment(assignments, path):
    out, folders = assignments
    folder = out / path.stem
    assert folder in folders
    exercises = implement_exercises(path)
    assert len(exercises) == sum(ex["kind"] == "implement" for ex in chapter_exercises(path)) >= 1
    student = nbformat.read(folder / "student" / path.name, as_version=4)
    expected = student_notebook(nbformat.read(path, as_version=4))
    assert [c.source for c in student.cells] == [c.source for c in expected.cells]
    with zipfile.ZipFile(folder / "autograder" / "autograder.zip") as zf:
        names = set(zf.namelist())
        environment = zf.read("environment.yml").decode()
    tests = {f"tests/{ex['name']}.py" for ex in exercises}
    assert tests <= names and "files/utils/checks/__init__.py" in names
    assert not any("__pycache__" in n for n in names)
    assert "torch==2.13.0" in environment and "otter-grader" in environment
    for ex in exercises:                      # each test calls its checker on the student's stub
        source = (folder / "student" / "tests" / f"{ex['name']}.py").read_text()
        test = ExceptionTestFile.from_string(source, path=f"{ex['name']}.py")
        assert test.name == ex["name"] and sum(tc.points for tc in test.test_cases) == \
            ex["points"]
        test.run({ex["function"]: stub})
        result = test.test_case_results[0]
        assert not result.passed and "is not implemented yet" in result.message, result.message


def test_points_and_requirements():
    tests = otter_tests(CHAPTERS / "07_self_attention.ipynb", points=2.5)
    assert "points = 2.5" in tests["ex_ch7_sdpa.py"] and "check_scaled_attention(" in \
        tests["ex_ch7_sdpa.py"]
    requirements = grading_requirements()
    assert "torch==2.13.0" in requirements and "jupyter-book" not in requirements


def test_the_build_exercises_are_worth_more_and_graded_by_their_checks():
    """Chapter 9's layer exercises are worth 2 and 3 points: otter's test gives them to a
    correct layer (written with chapter 8's attention) and none to a layer without its first
    residual, whose feedback names that tensor."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_checks_layers import BookStyleEncoder, TorchStyleEncoder, with_mistake

    tests = {ex["name"]: ex for ex in implement_exercises(CHAPTERS / "09_transformer.ipynb")}
    assert (tests["ex_ch9_encoder_layer"]["points"], tests["ex_ch9_decoder_layer"]["points"]) == \
        (2, 3)
    assert tests["ex_ch9_beam"]["points"] == 1
    source = otter_tests(CHAPTERS / "09_transformer.ipynb")["ex_ch9_encoder_layer.py"]
    for answer, passed in ((BookStyleEncoder, True),
                           (with_mistake(TorchStyleEncoder, "no residual 1"), False)):
        test = ExceptionTestFile.from_string(source, path="ex_ch9_encoder_layer.py")
        test.run({"EncoderLayer": answer})
        result = test.test_case_results[0]
        assert result.passed == passed and test.score == 2 * passed
        if not passed:
            assert "the input of `norm2` is the first tensor that differs: the first residual " \
                "connection is missing" in result.message


def test_refuses_chapters_and_non_empty_folders(tmp_path):
    with pytest.raises(ValueError, match="refusing to write into"):
        write_assignments(CHAPTERS / "grading")
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        write_assignments(tmp_path)
    assert main(["--out", str(tmp_path)]) == 2


def otter_run(autograder, notebook, tmp_path):
    """Grade one notebook as `otter run` does: (score, max score, feedback per test)."""
    from otter.run import main as run

    out = tmp_path / f"graded_{len(list(tmp_path.glob('graded_*')))}"
    out.mkdir()
    run(str(notebook), autograder=str(autograder), output_dir=str(out), no_logo=True)
    results = json.loads((out / "results.json").read_text())
    scored = [t for t in results["tests"] if "score" in t]
    return (sum(t["score"] for t in scored), sum(t["max_score"] for t in scored),
            {t["name"]: t["output"] for t in scored})


def test_otter_grades_the_stub_the_solution_and_one_wrong_answer(assignments, tmp_path):
    """Chapter 7 with otter run: the student edition scores 0, the chapter with its solutions
    full marks, and a chapter with one wrong answer loses exactly that exercise's point, with
    the checker's sentence as its feedback."""
    out, _ = assignments
    folder = out / "07_self_attention"
    autograder = folder / "autograder" / "autograder.zip"
    chapter = CHAPTERS / "07_self_attention.ipynb"
    assert otter_run(autograder, folder / "student" / chapter.name, tmp_path)[:2] == (0, 3)
    assert otter_run(autograder, chapter, tmp_path)[:2] == (3, 3)
    nb = nbformat.read(chapter, as_version=4)
    solution = "return torch.ones(L, L, dtype=torch.bool).tril()"
    cell = next(c for c in nb.cells if solution in c.source)
    cell.source = cell.source.replace(solution, solution.replace("tril", "triu"))
    wrong = tmp_path / "wrong" / chapter.name
    wrong.parent.mkdir()
    nbformat.write(nb, wrong)
    score, total, feedback = otter_run(autograder, wrong, tmp_path)
    assert (score, total) == (2, 3)
    assert "that is the upper triangle" in feedback["ex_ch7_causal"]
    assert all("All test cases passed" in feedback[n] for n in ("ex_ch7_sdpa", "ex_ch7_sinusoids"))


def test_the_course_recipe_of_the_instructor_guide_works_from_a_fresh_clone(tmp_path):
    """The guide's steps, literally, in a fresh clone (the book's environment stands in for
    the `.venv` that `make setup` would install); then a student notebook of the course folder
    runs from top to bottom with the course's own `utils`."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from nbclient import NotebookClient

    root = Path(__file__).resolve().parent.parent
    venv = Path(sys.executable).parent.parent
    guide = nbformat.read(root / "chapters" / "instructor_guide.ipynb", as_version=4)
    text = "\n".join(c.source for c in guide.cells)
    recipe = re.search(r"  ```bash\n(  make student-edition\n.*?)  ```", text, re.S)[1]
    steps = [line.strip() for line in recipe.splitlines()]
    assert steps[0] == "make student-edition" and "make setup" in text
    clone = tmp_path / "book"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True)
    # `-o STAMP`: never re-install into the book's environment (its editable install of utils
    # would then point into this temporary clone)
    keep = f"VENV={venv} -o {venv}/.installed"
    for step in steps:
        command = step.replace("make student-edition", f"make student-edition {keep}")
        subprocess.run(command, shell=True, cwd=clone, check=True, capture_output=True)
    course = clone / "course"
    subprocess.run(f"make setup {keep}", shell=True, cwd=course, check=True,
                   capture_output=True)                                     # the target exists
    plan = subprocess.run(["make", "-n", "setup", "VENV=.venv"], cwd=course, check=True,
                          capture_output=True, text=True).stdout
    assert "-m venv .venv" in plan and "pip install" in plan and "requirements.txt" in plan
    notebook = course / "chapters" / "02_attention_step_by_step.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    os.environ["PYTHONPATH"] = str(course)   # the kernel imports the course's utils
    try:
        NotebookClient(nb, timeout=300, resources={"metadata": {"path": str(notebook.parent)}}
                       ).execute()
    finally:
        del os.environ["PYTHONPATH"]
    outputs = "\n".join(o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
                        for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "is not implemented yet" in outputs
    installed = subprocess.run([sys.executable, "-c", "import utils; print(utils.__file__)"],
                               cwd=tmp_path, capture_output=True, text=True).stdout
    assert Path(installed.strip()).resolve().parent == root / "utils"   # install untouched
    assert str(course / "utils") in subprocess.run(
        [sys.executable, "-c", "import utils; print(utils.__file__)"], cwd=course / "chapters",
        env={**os.environ, "PYTHONPATH": str(course)}, capture_output=True, text=True).stdout
