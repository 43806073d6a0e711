"""Write the student edition of the book: solutions become stubs, outputs are cleared.

    python -m utils.student_edition --out student_edition [--force]

For every chapter notebook (``chapters/NN_*.ipynb``), the cells between a ``{solution-start}``
and a ``{solution-end}`` markdown cell are rewritten:

* a code cell that defines functions holds nothing but imports and those functions (anything
  else is refused: driver code belongs in its own cell, or after the check); each function
  keeps its signature and docstring and raises ``NotImplementedError`` (so the stub cell runs,
  and the check cell after it reports "not implemented yet" until the student writes the
  body); a code cell with no function becomes a comment asking for the student's code;
* markdown inside the solution (worked answers) is replaced by one "Your answer" cell, after
  the code cells; an experiment or explain exercise (``:class: kind-experiment`` or
  ``kind-explain``) always gets one, for the prediction or the explanation;
* hidden cells inside the solution (tag ``remove-cell``: the book's assertions about the
  solution's results) are dropped;
* the solution-start / solution-end markers themselves are dropped.

Everything else is copied unchanged, and every output is cleared. The tool never writes
into ``chapters/``.
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"
_START = re.compile(r"^\s*(```+|:::+)\{solution-start\}")
_END = re.compile(r"^\s*(```+|:::+)\{solution-end\}")
_EXERCISE = re.compile(r"^\s*(```+|:::+)\{exercise\}")
_KIND = re.compile(r"^\s*(```+|:::+)\{exercise\}[^\n]*\n(:\w+:[^\n]*\n)*?:class:[^\n]*"
                   r"\bkind-(?P<kind>\w+)")
STUB_MESSAGE = "Exercise: write this function"
EXPERIMENT_STUB = "# Your code for this exercise goes here.\n"
ANSWER_STUB = "**Your answer:** _write it here._"


def stub_code(source: str) -> str:
    """Replace the body of every top-level function in ``source`` by a NotImplementedError stub.

    A cell with functions may hold only imports besides them: a statement that runs the
    solution would call the stub (a traceback as soon as the cell runs) or give away the rest
    of the exercise, so it is refused with ValueError."""
    tree = ast.parse(source)
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    if not functions:
        return EXPERIMENT_STUB
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.Import, ast.ImportFrom)):
            raise ValueError(f"line {node.lineno} of a solution cell that defines "
                             f"{functions[0].name}() is neither an import nor a function: move "
                             f"code that uses the function into its own cell: "
                             f"{ast.get_source_segment(source, node).splitlines()[0]!r}")
    lines = source.splitlines()
    out, cursor = [], 0
    for fn in functions:
        body = fn.body
        has_doc = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None),
                                                                ast.Constant) \
            and isinstance(body[0].value.value, str)
        keep_until = body[0].end_lineno if has_doc else body[0].lineno - 1
        indent = re.match(r"\s*", lines[body[0].lineno - 1]).group(0) or "    "
        out += lines[cursor:keep_until]
        out.append(f'{indent}raise NotImplementedError("{STUB_MESSAGE}")')
        cursor = fn.end_lineno
    out += lines[cursor:]
    return "\n".join(out).rstrip() + "\n"


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions stubbed and outputs cleared."""
    cells, inside, region, kind = [], False, [], None
    for cell in nb.cells:
        text = cell.source
        if cell.cell_type == "markdown" and _EXERCISE.match(text):
            kind = _KIND.match(text)["kind"] if _KIND.match(text) else None
        if cell.cell_type == "markdown" and _START.match(text):
            if inside:
                raise ValueError("a {solution-start} opens before the previous one is closed")
            inside, region = True, []
            continue
        if cell.cell_type == "markdown" and _END.match(text):
            if not inside:
                raise ValueError("a {solution-end} has no matching {solution-start}")
            cells += _stub_region(region, answer_in_words=kind in ("experiment", "explain"))
            inside = False
            continue
        if inside:
            region.append(cell)
        else:
            cells.append(_cleared(cell))
    if inside:
        raise ValueError("a {solution-start} has no matching {solution-end}")
    out = nbformat.from_dict(dict(nb))
    out.cells = cells
    return out


def _stub_region(region: list, answer_in_words: bool = False) -> list:
    code = [c for c in region if c.cell_type == "code"
            and "remove-cell" not in c.get("metadata", {}).get("tags", [])]
    if not code:
        return [nbformat.v4.new_markdown_cell(ANSWER_STUB)]
    stubbed = []
    for cell in code:
        new = _cleared(cell)
        new.source = stub_code(cell.source)
        stubbed.append(new)
    if answer_in_words or any(c.cell_type == "markdown" for c in region):   # words
        stubbed.append(nbformat.v4.new_markdown_cell(ANSWER_STUB))
    return stubbed


def _cleared(cell) -> nbformat.NotebookNode:
    new = nbformat.from_dict(dict(cell))
    if new.cell_type == "code":
        new.outputs = []
        new.execution_count = None
    return new


def write_student_edition(out: Path, force: bool = False, chapters: Path = CHAPTERS) -> list:
    """Write every chapter ``chapters/NN_*.ipynb`` as a student notebook under ``out`` (the
    instructor guide is not a chapter); returns the paths."""
    out = Path(out).resolve()
    if out == chapters.resolve() or chapters.resolve() in out.parents:
        raise ValueError(f"refusing to write into {chapters}: choose a folder outside chapters/")
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} is not empty; pass --force to overwrite its notebooks")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(chapters.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        target = out / path.name
        try:
            student = student_notebook(nb)
        except ValueError as err:
            raise ValueError(f"{path.name}: {err}") from None
        nbformat.write(student, target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the student notebooks")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder")
    args = parser.parse_args(argv)
    try:
        written = write_student_edition(Path(args.out), args.force)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
