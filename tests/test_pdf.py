"""`make pdf`: the whole book as one PDF (Jupyter Book's LaTeX builder, XeLaTeX). Built once here,
then read with poppler's tools: every chapter and exercise is in it, every figure, every
reference resolved, every font embedded, and nothing runs far into the margin."""
import html
import json
import re
import shutil
import subprocess

import pytest

from utils.pdf import NAME, OUT, ROOT, build, exercise_numbers, mend_tex, overfull_boxes
from utils.sphinx_book import chapter_exercises

CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
TOOLS = ("xelatex", "latexmk", "pdftotext", "pdffonts", "pdfimages")
needs_tex = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                               reason="needs TeX Live and poppler-utils (see the README)")


@pytest.fixture(scope="module")
def pdf():
    path = build()
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout
    return path, text, path.with_suffix(".log").read_text(encoding="utf-8", errors="replace")


def test_cross_references_to_exercises_get_their_numbers():
    tex = (r"see \hyperref[\detokenize{chapters/09_transformer:ex-ch9-encoder-layer}]"
           r"{Exercise \ref{\detokenize{chapters/09_transformer:ex-ch9-encoder-layer}}} now")
    numbers = exercise_numbers(ROOT / "chapters")
    assert numbers["ex-ch9-encoder-layer"] == "9.5"
    head = "\\sphinxtableofcontents\n\\chapter{9. The Transformer}\n"
    out = mend_tex(head + tex, numbers)
    assert r"\hyperref[exercise:ex-ch9-encoder-layer]{Exercise 9.5}" in out
    assert r"\setcounter{chapter}{8}\chapter{The Transformer}" in out
    with pytest.raises(ValueError, match="no exercise"):
        mend_tex(head + tex.replace("encoder-layer", "missing"), numbers)
    box = "\\label{exercise:ex-ch9-params}\n\\begin{sphinxadmonition}{note}{Exercise 9.2 (Parameters)}\n"
    assert r"Exercise 9.2 (Parameters) \hfill{\normalfont\itshape explain}}" in \
        mend_tex(head + box, numbers, {"ex-ch9-params": "explain"})   # the kind, as on the site
    answer = r"\sphinxstylestrong{Your answer:} \sphinxstyleemphasis{write it here.}"
    assert answer + r"\par\vspace{8\baselineskip}" in mend_tex(head + answer, numbers)
    assert r"\needspace{10\baselineskip}\sphinxAtStartPar" in \
        mend_tex(head + "\\sphinxAtStartPar\n" + answer, numbers)   # room on the same page
    solution = r"\begin{sphinxadmonition}{note}{Solution}code\end{sphinxadmonition}after"
    unboxed = mend_tex(head + solution, numbers)             # a box of code cannot break pages
    assert "sphinxadmonition" not in unboxed and "Solution}" in unboxed and "codeafter" not in \
        unboxed and unboxed.endswith("after")


def test_explorers_get_a_note_and_bold_lines_keep_their_tables():
    head = "\\sphinxtableofcontents\n\\chapter{2. Attention}\n"
    cell = ("\\PYG{n}{AttentionExplorer}\\PYG{p}{(}\\PYG{l+s+s2}{ch2}\n\\end{sphinxVerbatim}\n\n"
            "\\end{sphinxuseclass}\n\\begin{sphinxuseclass}{cell_output}\n"
            "\\noindent\\sphinxincludegraphics{{3b66a}.png}\n\n\\end{sphinxuseclass}\n"
            "\\end{sphinxuseclass}\n")
    other = cell.replace("AttentionExplorer", "plot_attention")         # not an explorer
    out = mend_tex(head + cell + other, {})
    assert out.count("In print, the explorer’s first example") == 1
    assert out.index("{3b66a}.png}") < out.index("In print, the explorer’s first example")
    table = ("\\sphinxAtStartPar\n\\sphinxstylestrong{2. Attention}\n\n\n"
             "\\begin{savenotes}\\sphinxattablestart\n")
    assert "\\sphinxstylestrong{2. Attention}\n\\bookkeepwithnext\n" in mend_tex(head + table, {})
    lead = "\\sphinxAtStartPar\nThe letters are:\n\n\\begin{savenotes}\\sphinxattablestart\n"
    assert "The letters are:\n\\bookkeepwithnext\n" in mend_tex(head + lead, {})
    cell = "\\sphinxAtStartPar\n\\sphinxstylestrong{10.6}\n&\n"      # a table cell: no heading
    assert "bookkeepwithnext" not in mend_tex(head + cell, {})


def test_the_front_page_links_the_pdf_of_its_edition(tmp_path, monkeypatch):
    from utils import sphinx_book

    monkeypatch.setattr(sphinx_book, "PDF_FOLDER", tmp_path)
    assert sphinx_book.built_pdf(ROOT) is None                   # not built: no link
    (tmp_path / f"{NAME}.pdf").write_bytes(b"%PDF")
    (tmp_path / f"{NAME}-student.pdf").write_bytes(b"%PDF")
    assert sphinx_book.built_pdf(ROOT) == tmp_path / f"{NAME}.pdf"
    student_source = tmp_path / "student_source" / "chapters"  # no instructor guide
    student_source.mkdir(parents=True)
    assert sphinx_book.built_pdf(student_source.parent) == tmp_path / f"{NAME}-student.pdf"


def test_overfull_boxes_are_read_from_the_log():
    log = "Overfull \\hbox (3.5pt too wide) in paragraph\nOverfull \\hbox (12pt too wide) detected"
    assert overfull_boxes(log) == [3.5, 12.0] and overfull_boxes(log, 5) == [12.0]


@needs_tex
def test_the_pdf_builds_with_every_reference_resolved(pdf):
    path, text, log = pdf
    assert path == OUT / f"{NAME}.pdf" and path.stat().st_size > 1_000_000
    assert "! " not in "\n".join(line[:2] for line in log.splitlines())      # no LaTeX error
    assert not re.search(r"(Reference|Citation) `[^']*' .*undefined", log)
    assert "There were undefined references" not in log
    assert "Missing character" not in log                                # no missing glyph
    assert "??" not in text


@needs_tex
def test_every_chapter_title_and_exercise_number_is_in_the_pdf(pdf):
    _, text, _ = pdf
    flat = " ".join(text.replace("’", "'").split())
    for path in CHAPTERS:
        title = json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"][0]
        title = re.sub(r"^# \d+\. ", "", title).strip()
        assert " ".join(title.split()) in flat, path.name
        chapter = int(path.name[:2])
        for k, ex in enumerate(chapter_exercises(path), start=1):
            assert f"Exercise {chapter}.{k} ({ex['title']})" in flat or \
                f"Exercise {chapter}.{k}" in flat, (path.name, k)
    for page in ("Instructor guide", "Glossary", "Frequently asked questions", "References"):
        assert page in flat
    assert flat.count("Solution") >= 60                     # solutions are in the full edition
    assert "Offline or on paper" not in flat                # the site's PDF link stays on the site


@needs_tex
def test_no_page_ends_with_a_heading_and_explorers_say_what_they_show(pdf):
    """A heading, a paragraph of one bold line over a table or a list, an exercise's title or a
    "Solution" label never stands alone at the foot of a page (a review found five chapter names
    of the instructor guide's tables and rubrics there, two exercise titles and four "Solution"
    labels); a line under every explorer's picture says what it shows (the first example,
    every row, heads averaged); the bibliography is alphabetical and unnumbered, as the text
    cites author and year."""
    path, text, _ = pdf
    tex = (path.parent / "full" / "_build" / "latex" / f"{NAME}.tex").read_text(encoding="utf-8")
    plain = lambda t: re.sub(r"\\[a-zA-Z]+\{|\\[a-zA-Z]+|[{}]", "", t).strip()
    headings = {plain(m) for m in re.findall(r"^\\(?:sub)*section\*?\{(.*)\}$", tex, re.M)}
    headings |= {plain(m) for m in re.findall(r"^\\sphinxstylestrong\{(.*)\}\n\\bookkeepwithnext$",
                                              tex, re.M)}
    layout = subprocess.run(["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True,
                            text=True, check=True).stdout
    stranded = []
    for number, page in enumerate(re.findall(r"<page .*?</page>", layout, re.S), start=1):
        height = float(re.search(r'height="([\d.]+)"', page)[1])
        lines = [(float(y), " ".join(re.findall(r">([^<]*)</word>", words)))
                 for y, words in re.findall(r'<line xMin="[\d.]+" yMin="([\d.]+)"[^>]*>(.*?)</line>',
                                            page, re.S)]
        body = [line for line in lines if 70 < line[0] < height - 70]      # no head, no foot
        if not body:
            continue
        last_row = [html.unescape(t) for y, t in body if y > max(y for y, _ in body) - 2]
        if any(t in headings or t == "Solution" or re.match(r"Exercise \d+\.\d+ \(", t)
               for t in last_row):
            stranded.append((number, last_row))
    assert len(headings) > 100 and not stranded, stranded
    explorers = sum("AttentionExplorer(" in "".join(cell["source"])
                    for path in CHAPTERS for cell in json.loads(path.read_text())["cells"]
                    if cell["cell_type"] == "code")
    assert " ".join(text.split()).count("In print, the explorer’s first example") == explorers >= 7
    bibliography = text[text.index("Joshua Ainslie"):]        # its first entry, on to the end
    assert "Ashish Vaswani" in bibliography
    assert not re.search(r"^\s*\[\d+\] ", bibliography, re.M)


@needs_tex
def test_every_figure_of_the_notebooks_is_in_the_pdf(pdf):
    path, _, _ = pdf
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True,
                             check=True).stdout.splitlines()[2:]
    images = sum(line.split()[2] == "image" for line in listing)
    figures = 0
    for notebook in sorted((ROOT / "chapters").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            tags = cell.get("metadata", {}).get("tags", [])
            if cell["cell_type"] == "code" and "remove-cell" not in tags:
                figures += sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
    assert images == figures > 50


@needs_tex
def test_every_font_is_embedded(pdf):
    path, _, _ = pdf
    rows = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[2:]
    # columns: name, type (may hold spaces), encoding, emb, sub, uni, object, generation
    assert rows and all(row.split()[-5] == "yes" for row in rows), rows


@needs_tex
def test_little_runs_into_the_margin(pdf):
    """Overfull boxes: the first build had 128, 9 of them more than 10 pt too wide (the widest
    41 pt: math in the notation table's narrow first column, inline code in tables, two display
    equations of three formulas on one line). Tables now get LaTeX column widths
    (`{tabularcolumns}`, every generated table and the instructor guide's too) and the equations
    two lines: 7 remain, the widest 3 pt (1 mm), which the eye does not see. The bound keeps it
    so: none more than 5 pt too wide, at most 15 in all."""
    _, _, log = pdf
    boxes = overfull_boxes(log)
    assert max(boxes, default=0) <= 5 and len(boxes) <= 15, boxes


@needs_tex
def test_the_student_edition_has_no_solution_and_room_for_every_answer():
    """`make pdf-student`: the student edition's PDF (the same source as `make book-student`)
    has no solution and no instructor guide, and under every "Your answer" there are eight
    empty lines on the same page."""
    path = build(student=True)
    assert path == OUT / f"{NAME}-student.pdf"
    log = path.with_suffix(".log").read_text(encoding="utf-8", errors="replace")
    assert "! " not in "\n".join(line[:2] for line in log.splitlines())
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = " ".join(text.split())
    assert "Solution" not in flat and "Instructor guide" not in flat and "Rubrics" not in flat
    tex = (OUT / "student" / "_build" / "latex" / f"{NAME}.tex").read_text(encoding="utf-8")
    answers = tex.count(r"\sphinxstylestrong{Your answer:}")
    assert flat.count("Your answer: write it here.") == answers > 30
    layout = subprocess.run(["pdftotext", "-bbox-layout", str(path), "-"], capture_output=True,
                            text=True, check=True).stdout
    cramped = []
    for number, page in enumerate(re.findall(r"<page .*?</page>", layout, re.S), start=1):
        height = float(re.search(r'height="([\d.]+)"', page)[1])
        for y, words in re.findall(r'<line xMin="[\d.]+" yMin="[\d.]+" xMax="[\d.]+" '
                                   r'yMax="([\d.]+)">(.*?)</line>', page, re.S):
            if "Your answer:" in " ".join(re.findall(r">([^<]*)</word>", words)):
                if float(y) + 8 * 12 > height - 70:        # eight 12-pt lines above the foot
                    cramped.append(number)
    assert not cramped, cramped
