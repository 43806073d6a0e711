"""Write the student edition of the book: solutions become stubs, outputs are cleared.

    python -m utils.student_edition --out student_edition [--force]
    python -m utils.student_edition --site _build/student_source [--force]

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

``--site`` writes the book's source with these chapters instead (``make book-student`` builds
it into a website without solutions): there the chapters keep their outputs — figures, tables,
numbers — up to the first exercise, and lose them from there on (a check cell would show the
book's solution passing); the instructor guide, with its rubrics, is left out.
"""
from __future__ import annotations

import argparse
import ast
import re
import shutil
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


def _stubbed_functions(node) -> list:
    """The functions whose bodies become stubs: top-level functions, and the methods of a
    top-level class (whose body may hold only a docstring and methods)."""
    if isinstance(node, ast.FunctionDef):
        return [node]
    for item in node.body:
        docstring = isinstance(item, ast.Expr) and isinstance(getattr(item, "value", None),
                                                               ast.Constant)
        if not (isinstance(item, ast.FunctionDef) or docstring):
            raise ValueError(f"line {item.lineno} of solution class {node.name} is neither a "
                             "docstring nor a method: the student writes the whole class")
    return [item for item in node.body if isinstance(item, ast.FunctionDef)]


def stub_code(source: str) -> str:
    """Replace the body of every top-level function, and of every method of a top-level class,
    in ``source`` by a NotImplementedError stub.

    A cell with functions or classes may hold only imports besides them: a statement that runs
    the solution would call the stub (a traceback as soon as the cell runs) or give away the
    rest of the exercise, so it is refused with ValueError."""
    tree = ast.parse(source)
    defined = [node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))]
    if not defined:
        return EXPERIMENT_STUB
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            raise ValueError(f"line {node.lineno} of a solution cell that defines "
                             f"{defined[0].name} is neither an import, a function nor a class: "
                             f"move code that uses it into its own cell: "
                             f"{ast.get_source_segment(source, node).splitlines()[0]!r}")
    functions = [fn for node in defined for fn in _stubbed_functions(node)]
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


def student_notebook(nb: nbformat.NotebookNode,
                     keep_outputs: bool = False) -> nbformat.NotebookNode:
    """A copy of ``nb`` with solutions stubbed and outputs cleared (with ``keep_outputs``, the
    outputs of the cells before the first exercise are kept)."""
    cells, inside, region, kind = [], False, [], None
    exercises_begun = False
    for cell in nb.cells:
        text = cell.source
        exercises_begun |= cell.cell_type == "markdown" and bool(_EXERCISE.match(text))
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
            cells.append(nbformat.from_dict(dict(cell)) if keep_outputs and not exercises_begun
                         else _cleared(cell))
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


# ---- what would give a solution away (the tests and the student site check for it) -----------
_HEADERS = re.compile(r"^\s*(from |import |with |for |if |elif |else|try|except|def |class |"
                      r"@|print\()")
# Fragments that occur in a solution and, as ordinary code, on the page: they give nothing away.
GENERIC = {"torch.softmax(scores, dim=-1)", "tokenizer.get_vocab()",
           "encoder(ids, attention_mask)", "masked_scores(mlm, rate)",
           # parts the exercise statements name (chapters 9 and 10)
           "nn.LayerNorm(d_model), nn.LayerNorm(d_model)", "nn.Embedding(max_len, E)"}


def squeeze(text: str) -> str:
    """``text`` without any whitespace (to find code however it is laid out)."""
    return re.sub(r"\s+", "", text)


def solution_regions(nb) -> list:
    """The cells between each {solution-start} and {solution-end}."""
    out, inside = [], False
    for cell in nb.cells:
        if cell.cell_type == "markdown" and _START.match(cell.source):
            inside, region = True, []
        elif cell.cell_type == "markdown" and _END.match(cell.source):
            inside = False
            out.append(region)
        elif inside:
            region.append(cell)
    return out


def solution_fragments(region) -> list:
    """What would give a solution away: each statement line of every function or method body
    (after its docstring) and of every code cell without a function, without its assignment target,
    `return` or comment, if at least 20 characters long; and every line of a worked answer in
    words at least 40 characters long. Control-flow headers, imports, prints and calls of the
    region's own functions (whose signatures the stubs keep) are left out."""
    fragments, names = [], {n.name for c in region if c.cell_type == "code"
                            for n in ast.parse(c.source).body
                            if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for cell in region:
        if "remove-cell" in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "markdown":
            fragments += [line.strip() for line in cell.source.splitlines()
                          if len(line.strip()) >= 40]
            continue
        tree = ast.parse(cell.source)
        lines = cell.source.splitlines()
        functions = [fn for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
                     for fn in ([n] if isinstance(n, ast.FunctionDef) else
                                [m for m in n.body if isinstance(m, ast.FunctionDef)])]
        kept = []
        for fn in functions:
            body = fn.body[1:] if ast.get_docstring(fn) else fn.body
            kept += lines[body[0].lineno - 1:fn.end_lineno] if body else []
        for line in kept if functions else lines:
            line = re.split(r"\s#\s|\s\s#", line)[0]
            if _HEADERS.match(line) or any(line.strip().startswith(f"{n}(") for n in names):
                continue
            line = re.sub(r"^\s*(return\s+|[\w\s,.\[\]]+?\s*[-+*/]?=(?!=)\s*)", "", line).strip()
            if len(squeeze(line)) >= 20 and line not in GENERIC and not any(
                    re.search(rf"\b{n}\(", line) for n in names):
                fragments.append(line)
    return fragments


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


SITE_FILES = ("_config.yml", "_toc.yml", "index.md", "references.bib", "_static", "chapters")


def write_student_site(out: Path, force: bool = False) -> Path:
    """Write the book's source into ``out`` with every chapter's solutions removed (outputs
    kept up to the first exercise), configured not to execute anything; returns ``out``."""
    out = Path(out).resolve()
    if out == CHAPTERS.resolve() or CHAPTERS.resolve() in out.parents or out == ROOT:
        raise ValueError(f"refusing to write into {out}: choose a folder such as "
                         "_build/student_source")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ValueError(f"{out} is not empty; pass --force to replace it")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in SITE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        else:
            shutil.copy(source, out / name)
    for path in sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.write(student_notebook(nb, keep_outputs=True), out / "chapters" / path.name)
    (out / "chapters" / "instructor_guide.ipynb").unlink()     # rubrics and model answers
    for page in (out / "chapters").glob("*.md"):                # links to it become plain text
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("The {doc}`instructor_guide`", "The instructor guide (in "
                                     "the book's full edition)"), encoding="utf-8")
    toc = (out / "_toc.yml").read_text(encoding="utf-8")
    (out / "_toc.yml").write_text(toc.replace("      - file: chapters/instructor_guide\n", ""),
                                  encoding="utf-8")
    config = (out / "_config.yml").read_text(encoding="utf-8")
    config = config.replace('title: "Attention, Step by Step"',
                            'title: "Attention, Step by Step (student edition)"')
    config = re.sub(r"execute_notebooks: \w+", "execute_notebooks: \"off\"", config)
    (out / "_config.yml").write_text(config, encoding="utf-8")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", help="folder for the student notebooks")
    target.add_argument("--site", help="folder for the book's source without solutions")
    parser.add_argument("--force", action="store_true", help="write into a non-empty folder")
    args = parser.parse_args(argv)
    if args.site:
        try:
            print(f"wrote {write_student_site(Path(args.site), args.force)}")
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 0
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
