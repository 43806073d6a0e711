"""Sphinx extension for the book's site (a build tool; nothing in the book imports it).

1. Offline math: copies MathJax 3 (from the PyPI package ``django-static-mathjax``, which
   ships the plain MathJax files and needs no Django) into ``_static/mathjax/`` of the built
   site; ``_config.yml`` points ``mathjax_path`` there, so no page loads math from a CDN.
2. Stored outputs are used: MyST-NB's ``auto`` mode executes a notebook when *any* code
   cell lacks outputs, and cells that only define a class never have one. In ``auto`` mode we
   therefore exclude from execution every notebook that carries stored outputs (nbval proves
   they are current); a notebook saved without any outputs is still executed.
3. No duplicate scripts: sphinx-thebe registers its inline configuration script
   (``const THEBE_JS_URL = ...``) with ``app.add_js_file`` while documents are being read;
   it reaches the page twice (once with filename None, once with "") and the browser logs
   "Identifier 'THEBE_JS_URL' has already been declared". We drop repeated script entries.
4. Execution times without re-executing: MyST-NB's ``nb-exec-table`` lists only notebooks the
   build itself executed. For a notebook rendered from stored outputs we record, in MyST-NB's
   own metadata, the time its cells took when the outputs were made (the per-cell timestamps
   nbconvert stores), with the method "stored outputs".
5. ``{exercise-table}``: a table of every exercise of the numbered chapters — its kind
   (the exercise's ``:class: kind-…``) and, for implement-exercises, the checker its check cell
   calls with the first paragraph of that checker's docstring (for the instructor guide).
6. Launch buttons follow the repository: they stay off while ``repository.url`` in
   ``_config.yml`` is empty (the site works offline), and setting it is enough to get Binder and
   Colab buttons on every notebook page (their URLs can still be set explicitly).
7. Exercise numbers restart in every chapter: sphinx-exercise numbers exercises through the
   whole book (Exercise 40); after Sphinx assigns the numbers, the exercises of
   ``chapters/NN_*`` become NN.1, NN.2, … in page order (Exercise 3.2), in titles and references.
8. ``{pdf-download}`` on the front page: a link to the book as a PDF once ``make pdf`` has built
   it (``utils.pdf``; the student site links the student edition's), copied beside the page.
"""
from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

MATHJAX_FILES = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions",
                 "ui", "a11y", "adaptors", "sre")


def mathjax_source() -> Path:
    """Folder of the MathJax 3 ``es5`` bundle inside the installed package."""
    try:
        import mathjax  # the package django-static-mathjax
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError("MathJax is missing: pip install django-static-mathjax==3.2.2.1") from err
    folder = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (folder / "tex-mml-chtml.js").is_file():
        raise RuntimeError(f"no tex-mml-chtml.js under {folder}; reinstall django-static-mathjax")
    return folder


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    for name in MATHJAX_FILES:
        src, dst = source / name, target / name
        if dst.exists() or not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copy2(src, dst)


def has_stored_outputs(path: Path) -> bool:
    """True when at least one code cell of the notebook at ``path`` has an output."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    return any(c.get("cell_type") == "code" and c.get("outputs") for c in cells)


def render_stored_outputs(app, config) -> None:
    if config.nb_execution_mode != "auto":
        return
    root = Path(app.srcdir)
    skip = {"_build", ".venv", "venv", "student_edition", ".ipynb_checkpoints"}
    for path in sorted(root.rglob("*.ipynb")):
        rel = path.relative_to(root)
        if skip.isdisjoint(rel.parts) and has_stored_outputs(path):
            config.nb_execution_excludepatterns = [*config.nb_execution_excludepatterns,
                                                   rel.as_posix()]


def stored_execution(path: Path) -> dict | None:
    """Seconds the notebook's code cells took when its stored outputs were computed, and when
    that finished: {"runtime": s, "mtime": POSIX time}, or None without timing metadata."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    runtime, last = 0.0, None
    for cell in cells:
        timing = cell.get("metadata", {}).get("execution", {})
        if cell.get("cell_type") != "code" or "iopub.execute_input" not in timing:
            continue
        start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
        runtime += (end - start).total_seconds()
        last = end if last is None else max(last, end)
    return None if last is None else {"runtime": runtime, "mtime": last.timestamp()}


def note_stored_execution(app, doctree) -> None:
    from myst_nb.sphinx_ import NbMetadataCollector

    env = app.env
    path = Path(env.doc2path(env.docname))
    if path.suffix != ".ipynb" or NbMetadataCollector.get_exec_data(env, env.docname):
        return
    stored = stored_execution(path)
    if stored is not None:
        NbMetadataCollector.set_exec_data(env, env.docname, {
            **stored, "method": "stored outputs", "succeeded": True, "error": None,
            "traceback": None})


KINDS = ("implement", "experiment", "explain")
_EXERCISE = re.compile(r"^```\{exercise\} (?P<title>.*)\n:label: (?P<label>\S+)\n"
                       r"(?::class: kind-(?P<kind>\w+)(?: points-(?P<points>\d+))?\n)?")
_CHECK = re.compile(r"\b(check_\w+)\(")


def chapter_exercises(path: Path) -> list:
    """[{title, label, kind, points, checker}] for each exercise of a notebook, in order;
    points (for grading) come from a ``points-N`` class beside the kind (1 when there is none);
    checker is the ``check_*`` function called by a code cell before the next exercise (or
    None)."""
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    found = []
    for cell in cells:
        source = "".join(cell.get("source", ""))
        match = _EXERCISE.match(source) if cell.get("cell_type") == "markdown" else None
        if match:
            found.append({**match.groupdict(), "points": int(match["points"] or 1),
                          "checker": None})
        elif found and cell.get("cell_type") == "code" and _CHECK.search(source):
            found[-1]["checker"] = _CHECK.search(source).group(1)
    return found


def check_summary(doc: str) -> str:
    """What a checker tests: its docstring's first paragraph, without the leading "Check"."""
    text = " ".join((doc or "").strip().split("\n\n")[0].split())
    return text[len("Check "):] if text.startswith("Check ") else text


class ExerciseTable(SphinxDirective):
    """``{exercise-table}``: every exercise of ``chapters/NN_*.ipynb``, one table per chapter."""

    def run(self):
        from utils import checks

        chapters = Path(self.env.srcdir) / "chapters"
        lines = []
        for path in sorted(chapters.glob("[0-9][0-9]_*.ipynb")):
            self.env.note_dependency(str(path))
            lines += [f"**{{doc}}`{path.stem}`**", "",
                      # column widths for the PDF, ragged right (\R in _config.yml; the site ignores them)
                      "```{tabularcolumns} \\R{0.30}\\R{0.15}\\R{0.55}", "```", "",
                      "| Exercise | Kind | The automatic check: the function's signature, and what is "
                      "tested |", "|---|---|---|"]
            for ex in chapter_exercises(path):
                check = ""
                if ex["checker"]:
                    check = f"`{ex['checker']}`: " + check_summary(
                        getattr(checks, ex["checker"]).__doc__)
                title, check = (text.replace("|", "\\|") for text in (ex["title"], check))
                kind = ex["kind"] or "?"
                if ex["points"] > 1:
                    kind += f" ({ex['points']} points)"
                lines.append(f"| {{ref}}`{ex['label']}`: {title} | {kind} | {check} |")
            lines.append("")
        container = nodes.container(classes=["exercise-table"])
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return [container]


def stored_machine(path: Path) -> dict:
    """The settings ``setup_book()`` returned when the notebook's stored outputs were computed
    (its first code cell's output): seed, threads, torch, kernels and, since the outputs are
    computed with it, cpu. Empty when the notebook has no stored output there."""
    import ast

    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    first = next((c for c in cells if c.get("cell_type") == "code"), {})
    for output in first.get("outputs", []):
        text = "".join(output.get("data", {}).get("text/plain", ""))
        try:
            settings = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue
        if isinstance(settings, dict):
            return settings
    return {}


class StoredMachines(SphinxDirective):
    """``{stored-machines}``: for each chapter, the processor, kernels and PyTorch its stored
    outputs were computed with."""

    def run(self):
        chapters = Path(self.env.srcdir) / "chapters"
        # column widths for the PDF (LaTeX's own choice squeezed "AVX512" and "2.13.0+cpu")
        lines = ["```{tabularcolumns} \\R{0.45}\\R{0.18}\\R{0.12}\\R{0.14}\\R{0.11}", "```", "",
                 "| Chapter | Processor | Kernels | PyTorch | Threads |", "|---|---|---|---|---|"]
        for path in sorted(chapters.glob("[0-9][0-9]_*.ipynb")):
            self.env.note_dependency(str(path))
            found = stored_machine(path)
            lines.append(f"| {{doc}}`{path.stem}` | {found.get('cpu', 'not recorded')} | "
                         f"{found.get('kernels', '?')} | {found.get('torch', '?')} | "
                         f"{found.get('threads', '?')} |")
        container = nodes.container(classes=["stored-machines"])
        self.state.nested_parse(StringList(lines), self.content_offset, container)
        return [container]


LAUNCH_DEFAULTS = {"binderhub_url": "https://mybinder.org",
                   "colab_url": "https://colab.research.google.com"}


def launch_buttons_with_repository(app, config) -> None:
    options = config.html_theme_options
    launch = options.get("launch_buttons") or {}
    chosen = ("binderhub_url", "jupyterhub_url", "colab_url", "jupyterlite_url", "deepnote_url")
    if not options.get("repository_url") or any(launch.get(k) for k in chosen):
        return
    options["launch_buttons"] = {**launch, **LAUNCH_DEFAULTS}


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # Inline scripts come as filename None or "" depending on who registered them.
        key = (str(getattr(script, "filename", script) or ""),
               tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


_CHAPTER = re.compile(r"(^|/)chapters/(?P<number>\d\d)_[^/]*$")


def number_exercises_by_chapter(app, env) -> list:
    """Renumber every numbered chapter's exercises as (chapter, k), k = 1, 2, … in page order.

    Runs on ``env-get-updated`` after Sphinx's own TocTreeCollector has assigned the numbers
    (a later priority); sphinx-exercise reads them from ``env.toc_fignumbers`` when it writes
    titles and references."""
    for docname, numbers in env.toc_fignumbers.items():
        match = _CHAPTER.search(docname)
        exercises = numbers.get("exercise")
        if match and exercises:
            in_order = sorted(exercises, key=lambda ident: exercises[ident])
            for k, ident in enumerate(in_order, start=1):
                exercises[ident] = (int(match["number"]), k)
    return []


PDF_FOLDER = Path(__file__).resolve().parent.parent / "_build" / "pdf"


def built_pdf(srcdir) -> Path | None:
    """The PDF `make pdf` built for this site, or None: the student site (no instructor guide)
    links the student edition's."""
    student = not (Path(srcdir) / "chapters" / "instructor_guide.ipynb").exists()
    path = PDF_FOLDER / f"attention-step-by-step{'-student' if student else ''}.pdf"
    return path if path.exists() else None


class PdfDownload(SphinxDirective):
    """``{pdf-download}``: on the website, a link to the book as one PDF when ``make pdf`` (or
    ``make pdf-student``) has built it; nothing in the PDF itself, or when none is built."""

    def run(self):
        pdf = built_pdf(self.env.srcdir)
        if self.env.app.builder.format != "html" or pdf is None:
            return []
        self.env.note_dependency(str(pdf))
        size = pdf.stat().st_size / 2 ** 20
        paragraph = nodes.paragraph()
        paragraph += nodes.Text("Offline or on paper: ")
        paragraph += nodes.reference("", "the whole book as one PDF", refuri=pdf.name)
        paragraph += nodes.Text(f" ({size:.1f} MB), built from the same notebooks.")
        return [nodes.container("", paragraph, classes=["pdf-download"])]


def copy_pdf(app, exception) -> None:
    """Put the PDF the front page links to beside it."""
    pdf = built_pdf(app.srcdir)
    if exception is None and app.builder.format == "html" and pdf is not None:
        shutil.copyfile(pdf, Path(app.outdir) / pdf.name)


def setup(app):
    app.connect("env-get-updated", number_exercises_by_chapter, priority=900)
    app.connect("config-inited", render_stored_outputs)
    app.connect("config-inited", launch_buttons_with_repository)
    app.connect("build-finished", copy_mathjax)
    app.connect("doctree-read", note_stored_execution)
    app.add_directive("exercise-table", ExerciseTable)
    app.add_directive("stored-machines", StoredMachines)
    app.add_directive("pdf-download", PdfDownload)
    app.connect("build-finished", copy_pdf)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
