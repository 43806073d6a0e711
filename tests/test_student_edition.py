"""The student edition: solutions become stubs, outputs are cleared, chapters/ is untouched,
and no solution survives anywhere in a student notebook."""
import ast
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from utils.student_edition import (ANSWER_STUB, EXPERIMENT_STUB, main, solution_fragments,
                                   solution_regions, squeeze, stub_code, student_notebook,
                                   write_student_edition)

CHAPTER_PATHS = sorted((Path(__file__).resolve().parent.parent / "chapters").glob(
    "[0-9][0-9]_*.ipynb"))

SOLUTION = '''import torch


def last_state(outputs, lengths):
    """Pick the state after the last real word."""
    index = lengths - 1
    return outputs[torch.arange(len(lengths)), index]


def helper(x):
    return x + 1
'''


def test_stub_code_keeps_signatures_and_docstrings():
    stubbed = stub_code(SOLUTION)
    tree = ast.parse(stubbed)
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert set(functions) == {"last_state", "helper"}
    assert ast.get_docstring(functions["last_state"]) == "Pick the state after the last real word."
    assert "import torch" in stubbed
    assert "arange" not in stubbed and "x + 1" not in stubbed
    namespace = {}
    exec(stubbed, namespace)
    with pytest.raises(NotImplementedError):
        namespace["last_state"](None, None)
    assert stub_code("print(1 + 1)\n") == EXPERIMENT_STUB



CLASS_SOLUTION = '''from torch import nn


class Layer(nn.Module):
    """A layer; x (B, E) -> (B, E)."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)

    def forward(self, x):
        """Apply it."""
        return x + self.linear(x).relu()
'''


def test_stub_code_keeps_a_class_with_its_method_signatures():
    stubbed = stub_code(CLASS_SOLUTION)
    layer = ast.parse(stubbed).body[1]
    assert isinstance(layer, ast.ClassDef) and ast.get_docstring(layer).startswith("A layer")
    assert [f.name for f in layer.body if isinstance(f, ast.FunctionDef)] == ["__init__",
                                                                              "forward"]
    assert "relu" not in stubbed and "nn.Linear" not in stubbed
    namespace = {}
    exec(stubbed, namespace)
    with pytest.raises(NotImplementedError):
        namespace["Layer"](3)
    with pytest.raises(ValueError, match="neither a docstring nor a method"):
        stub_code(CLASS_SOLUTION.replace('    """A layer', '    size = 3\n    """A layer'))

def notebook():
    cells = [
        new_markdown_cell("# Title"),
        new_code_cell("x = 1", outputs=[new_output("stream", name="stdout", text="1\n")],
                      execution_count=1),
        new_markdown_cell("```{exercise} Do it\n:label: ex-a\n```"),
        new_markdown_cell("```{solution-start} ex-a\n:class: dropdown\n```"),
        new_code_cell(SOLUTION, execution_count=2),
        new_code_cell("assert last_state(1) == 2", metadata={"tags": ["remove-cell"]}),
        new_markdown_cell("Because reasons."),
        new_markdown_cell("```{solution-end}\n```"),
        new_code_cell("check(last_state)", execution_count=3),
        new_markdown_cell("```{exercise} Explain\n:label: ex-b\n```"),
        new_markdown_cell("```{solution-start} ex-b\n:class: dropdown\n```"),
        new_markdown_cell("The answer is 42."),
        new_markdown_cell("```{solution-end}\n```"),
    ]
    return new_notebook(cells=cells)


def test_student_notebook():
    student = student_notebook(notebook())
    sources = [c.source for c in student.cells]
    assert sources[0] == "# Title" and sources[2].startswith("```{exercise}")
    assert not any("solution-start" in s or "solution-end" in s for s in sources)
    assert "Because reasons." not in sources and "The answer is 42." not in sources
    assert ANSWER_STUB in sources
    assert "check(last_state)" in sources
    assert not any("assert last_state" in s for s in sources)  # the book's own assertion
    assert sum(c.cell_type == "code" for c in student.cells) == 3
    stubbed = next(c for c in student.cells if "def last_state" in c.source)
    assert "NotImplementedError" in stubbed.source
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_unclosed_solution_is_an_error():
    nb = notebook()
    del nb.cells[7]
    with pytest.raises(ValueError, match="before the previous one is closed"):
        student_notebook(nb)
    nb = notebook()
    del nb.cells[12]
    with pytest.raises(ValueError, match="has no matching"):
        student_notebook(nb)
    nb = notebook()
    del nb.cells[3]
    with pytest.raises(ValueError, match="no matching {solution-start}"):
        student_notebook(nb)


def test_write_refuses_chapters_and_non_empty_folders(tmp_path, root):
    with pytest.raises(ValueError, match="refusing to write into"):
        write_student_edition(root / "chapters" / "students")
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        write_student_edition(tmp_path)
    assert main(["--out", str(tmp_path)]) == 2


def test_real_chapters(tmp_path, root):
    written = write_student_edition(tmp_path / "edition")
    chapters = sorted((root / "chapters").glob("[0-9][0-9]_*.ipynb"))
    assert [p.name for p in written] == [p.name for p in chapters] and len(chapters) == 14
    for student_path, chapter_path in zip(written, chapters):
        student = nbformat.read(student_path, as_version=4)
        original = nbformat.read(chapter_path, as_version=4)
        assert all(not c.get("outputs") for c in student.cells if c.cell_type == "code")
        assert len(student.cells) < len(original.cells)
        text = "\n".join(c.source for c in student.cells)
        assert "solution-start" not in text and "NotImplementedError" in text
        for cell in student.cells:  # every stub tells the student its contract
            if cell.cell_type == "code" and "NotImplementedError" in cell.source:
                for node in ast.parse(cell.source).body:
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                        assert ast.get_docstring(node), (chapter_path.name, node.name)
                    if isinstance(node, ast.ClassDef):   # and the methods the student writes
                        for fn in node.body:
                            if isinstance(fn, ast.FunctionDef) and fn.name != "__init__":
                                assert ast.get_docstring(fn), (chapter_path.name, fn.name)
    assert main(["--out", str(tmp_path / "edition"), "--force"]) == 0


# ---- no solution survives in the student edition --------------------------------------------
@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.stem)
def test_no_solution_survives_in_the_student_notebook(path):
    """Nothing of a solution — code or worked answer — appears anywhere in the student notebook:
    not in the text or code above the exercise, a kept docstring or a stub cell."""
    nb = nbformat.read(path, as_version=4)
    student = squeeze("\n".join(c.source for c in student_notebook(nb).cells))
    leaks = [(k, fragment) for k, region in enumerate(solution_regions(nb))
             for fragment in solution_fragments(region) if squeeze(fragment) in student]
    assert not leaks, f"{path.name}: solution fragments in the student edition: {leaks}"


def test_the_leak_test_finds_a_leak():
    nb = notebook()
    nb.cells.insert(1, new_code_cell("state = outputs[torch.arange(len(lengths)), index]"))
    student = squeeze("\n".join(c.source for c in student_notebook(nb).cells))
    fragments = solution_fragments(solution_regions(nb)[0])
    assert "outputs[torch.arange(len(lengths)), index]" in fragments
    assert "x + 1" not in fragments and "lengths - 1" not in fragments   # too short to tell
    assert any(squeeze(f) in student for f in fragments)
    assert not any(squeeze(f) in squeeze("\n".join(
        c.source for c in student_notebook(notebook()).cells)) for f in fragments)


def test_experiment_and_explain_exercises_keep_a_place_for_the_answer():
    cells = [new_markdown_cell("```{exercise} Try it\n:label: ex-t\n:class: kind-experiment\n\n"
                               "Predict, then measure.\n```"),
             new_markdown_cell("```{solution-start} ex-t\n:class: dropdown\n```"),
             new_code_cell("print(2 + 2)"),
             new_markdown_cell("```{solution-end}\n```"),
             new_markdown_cell("```{exercise} Write it\n:label: ex-w\n:class: kind-implement\n\n"
                               "Write f.\n```"),
             new_markdown_cell("```{solution-start} ex-w\n:class: dropdown\n```"),
             new_code_cell("def f(x):\n    \"\"\"Double.\"\"\"\n    return 2 * x\n"),
             new_markdown_cell("```{solution-end}\n```")]
    sources = [c.source for c in student_notebook(new_notebook(cells=cells)).cells]
    assert sources[1:3] == [EXPERIMENT_STUB, ANSWER_STUB]        # code, then words
    assert ANSWER_STUB not in sources[3:]                         # implement: the stub suffices


@pytest.mark.parametrize("path", CHAPTER_PATHS, ids=lambda p: p.stem)
def test_every_stub_cell_runs_and_every_prose_exercise_has_an_answer_cell(path):
    """A stub cell holds only imports and stubbed functions (running it raises nothing), and
    after every experiment or explain exercise the student finds a "Your answer" cell."""
    from utils.sphinx_book import chapter_exercises

    student = student_notebook(nbformat.read(path, as_version=4))
    for cell in student.cells:
        if cell.cell_type == "code" and "NotImplementedError" in cell.source:
            assert all(isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import,
                                         ast.ImportFrom))
                       for node in ast.parse(cell.source).body), cell.source
    kinds = iter(ex["kind"] for ex in chapter_exercises(path))
    answers, kind = {}, None
    for cell in student.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("```{exercise}"):
            kind = next(kinds)
            answers[len(answers)] = (kind, False)
        elif cell.source == ANSWER_STUB:
            answers[len(answers) - 1] = (kind, True)
    missing = [k for k, (kind, has) in answers.items() if kind != "implement" and not has]
    assert not missing, f"{path.name}: exercises {missing} have no 'Your answer' cell"
