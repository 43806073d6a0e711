"""The book as one PDF, through Jupyter Book's LaTeX builder and XeLaTeX.

    python -m utils.pdf              # the full book   -> _build/pdf/attention-step-by-step.pdf
    python -m utils.pdf --student    # without solutions -> _build/pdf/attention-step-by-step-student.pdf

Sphinx writes the LaTeX source (from the notebooks' stored outputs, nothing is executed); this
module mends it (``mend_tex``: references to another chapter's exercise, which sphinx-exercise
points at labels LaTeX never sees; the book's own chapter numbers, part pages, unnumbered front
and back matter; exercise kinds; solutions that can break across pages; a line under each
explorer's picture saying what it shows; headings kept with what they head; room to answer in
the student edition), and latexmk runs XeLaTeX until every reference is resolved. The LaTeX log
is kept beside the PDF (``*.log``); ``overfull_boxes`` reads it. The LaTeX macros it inserts
(``\bookkeepwithnext``, ``\bookneedspace``) and the unnumbered bibliography are defined in
``_config.yml``'s preamble. Needs Debian's texlive-xetex, texlive-latex-extra,
texlive-fonts-recommended, tex-gyre, fonts-freefont-otf, fonts-dejavu-core and latexmk
(the README lists them).
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "attention-step-by-step"
OUT = ROOT / "_build" / "pdf"
_CROSS_REF = re.compile(r"\\hyperref\[\\detokenize\{(?P<doc>chapters/[\w.-]+):(?P<label>ex-[\w-]+)\}\]"
                        r"\{Exercise \\ref\{\\detokenize\{[^}]*\}\}\}")


def exercise_numbers(chapters: Path) -> dict:
    """{label: "9.5"} for every exercise of every numbered chapter."""
    from .sphinx_book import chapter_exercises

    return {ex["label"]: f"{int(path.name[:2])}.{k}"
            for path in sorted(chapters.glob("[0-9][0-9]_*.ipynb"))
            for k, ex in enumerate(chapter_exercises(path), start=1)}


_CHAPTER = re.compile(r"^\\chapter\{(?P<title>.*)\}$", re.M)
_EXERCISE_BOX = re.compile(r"(\\label\{exercise:(?P<label>ex-[\w-]+)\}\s*"
                           r"\\begin\{sphinxadmonition\}\{note\}\{)(?P<title>[^\n]*?)\}$", re.M)
# a paragraph of one bold line (over a table, a list of rubrics): a heading, kept with what follows
_BOLD_LINE = re.compile(r"(\\sphinxAtStartPar\n\\sphinxstylestrong\{[^\n]*\}\n)"
                        r"(?=\n|\\begin\{itemize\})")
# a sentence that ends with a colon and introduces a table stays with it
_LEAD_IN = re.compile(r"(:\n)(?=\n+\\begin\{savenotes\}\\sphinxattablestart)")
BACK_MATTER = "Glossary"                       # the first page of the back matter
ANSWER = r"\sphinxstylestrong{Your answer:} \sphinxstyleemphasis{write it here.}"  # student edition


def _part(title: str, heading: bool = True) -> str:
    """A part: an entry at part level in the contents and bookmarks, and (``heading``) an opening
    page whose heading is the part's title, with the part's introduction under it."""
    entry = rf"\cleardoublepage\phantomsection\addcontentsline{{toc}}{{part}}{{{title}}}"
    if not heading:
        return entry
    return entry + rf"\chapter*{{{title}}}\markboth{{{title}}}{{{title}}}"


def mend_tex(text: str, numbers: dict, kinds: dict | None = None) -> str:
    """Point references to another chapter's exercise at the label sphinx-exercise writes
    (``exercise:<label>``), with the exercise's number as its text; give the book's chapters
    their own numbers (chapter 1 is the third document), the parts opening pages with their
    introductions, front and back matter no number, exercises their kind (on the site a style
    sheet adds it), solutions a heading instead of a box, a line under each explorer's picture,
    no page break after a paragraph of one bold line (it heads a table or a list) or a sentence
    that introduces a table with a colon, exercises and solutions that start where a few of
    their lines fit, and (student edition) room under "Your answer"."""
    def fix(match):
        label = match["label"]
        if label not in numbers:
            raise ValueError(f"{match['doc']} has no exercise {label}")
        return rf"\hyperref[exercise:{label}]{{Exercise {numbers[label]}}}"

    def chapter(match):
        title = match["title"]
        numbered = re.match(r"(\d+)\. (.*)", title)
        if numbered:
            first = _part("Part I — Why attention") if numbered[1] == "1" else ""
            return (first + rf"\setcounter{{chapter}}{{{int(numbered[1]) - 1}}}"
                    rf"\chapter{{{numbered[2]}}}")
        if title.startswith("Part "):
            return _part(title)
        matter = ""
        if title == "Preface":
            matter = _part("Front matter", heading=False)
        elif title == BACK_MATTER:
            matter = _part("Back matter", heading=False)
        return matter + rf"\chapter*{{{title}}}\addcontentsline{{toc}}{{chapter}}{{{title}}}" \
            rf"\markboth{{{title}}}{{{title}}}"

    def kind(match):
        found = (kinds or {}).get(match["label"])
        start = match[1].replace(r"\begin{sphinxadmonition}",
                                 r"\bookneedspace{10\baselineskip}\begin{sphinxadmonition}")
        return start + match["title"] + (rf" \hfill{{\normalfont\itshape {found}}}}}"
                                         if found else "}")

    text = _CROSS_REF.sub(fix, text)
    text = _EXERCISE_BOX.sub(kind, text)
    text = _unboxed_solutions(text)
    text = _explorer_notes(text)
    text = _BOLD_LINE.sub(r"\1\\bookkeepwithnext\n", text)     # defined in _config.yml's preamble
    text = _LEAD_IN.sub(r"\1\\bookkeepwithnext\n", text)
    text = text.replace(ANSWER, ANSWER + r"\par\vspace{8\baselineskip}")   # room to write,
    text = text.replace("\\sphinxAtStartPar\n" + ANSWER,                      # on the same page
                        "\\needspace{10\\baselineskip}\\sphinxAtStartPar\n" + ANSWER)
    text = text.replace(r"\renewcommand{\contentsname}{Front matter}",
                        r"\renewcommand{\contentsname}{Contents}")
    head, body = text.split(r"\sphinxtableofcontents", 1)
    intro, rest = body.split("\n\\chapter{", 1)
    intro = re.sub(r"\\begin\{itemize\}.*\\end\{itemize\}", "", intro, flags=re.S)  # the site's toc
    intro = r"\chapter*{About this book}\markboth{About this book}{About this book}" + intro + \
        r"\par\sphinxAtStartPar This PDF is built from the same notebooks as the website. The " \
        r"website’s attention explorers are interactive: you point at a word to see where it " \
        r"looks. Here each explorer prints its first example in its first view or layer as one " \
        r"picture, every row of weights at once and the heads averaged, and a line under the " \
        r"picture says so." + "\n"
    return head + r"\sphinxtableofcontents" + intro + "\n" + _CHAPTER.sub(chapter, "\\chapter{" + rest)


def exercise_kinds(chapters: Path) -> dict:
    """{label: "implement"} for every exercise of every numbered chapter."""
    from .sphinx_book import chapter_exercises

    return {ex["label"]: ex["kind"] for path in sorted(chapters.glob("[0-9][0-9]_*.ipynb"))
            for ex in chapter_exercises(path) if ex["kind"]}


_SOLUTION = r"\begin{sphinxadmonition}{note}{Solution}"
_EXPLORER = re.compile(r"(\\PYG\{n\}\{AttentionExplorer\}\\PYG\{p\}\{\(\}"     # the call, then
                       r"(?:(?!\\end\{sphinxuseclass\}\s*\\end\{sphinxuseclass\}).)*?"  # its cell's
                       r"\\sphinxincludegraphics\{\{[0-9a-f]+\}\.png\})", re.S)            # picture
EXPLORER_NOTE = (r"\par\nobreak{\footnotesize\itshape In print, the explorer’s first example in its "
                 r"first view or layer: every row at once, its heads averaged where it has "
                 r"several. On the website and in Jupyter, point at a token to see its row, and "
                 r"choose among the examples, views, layers and heads the explorer offers.}\par")


def _explorer_notes(text: str) -> str:
    """Under each attention explorer's picture (its PNG fallback), a line saying what the
    picture is and what the interactive explorer adds."""
    return _EXPLORER.sub(lambda m: m[1] + EXPLORER_NOTE, text)


def _unboxed_solutions(text: str) -> str:
    """A solution as a heading and a closing rule instead of a box: a box holding a code block
    (itself framed) cannot break across pages, and long solutions ran into the footer."""
    parts = text.split(_SOLUTION)
    out = [parts[0]]
    for part in parts[1:]:
        body, end, rest = part.partition(r"\end{sphinxadmonition}")
        if not end:
            raise ValueError("a solution box is not closed")
        # \needspace itself: after an exercise box LaTeX still thinks it follows a heading
        out.append(r"\par\needspace{8\baselineskip}\medskip\noindent{\sffamily\bfseries Solution}"
                   r"\bookkeepwithnext\smallskip"                 # like a heading
                   + body + r"\par\nobreak\noindent\rule{\linewidth}{0.4pt}\par\medskip" + rest)
    return "".join(out)


def overfull_boxes(log: str, limit_pt: float = 0.0) -> list[float]:
    """How far each overfull \\hbox of a LaTeX log runs into the margin (pt), those above
    ``limit_pt``."""
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)", log)]
    return [w for w in widths if w > limit_pt]


def build(student: bool = False, quiet: bool = True) -> Path:
    """Build the PDF; return its path."""
    started = time.perf_counter()
    source = ROOT
    if student:
        source = ROOT / "_build" / "student_source"
        subprocess.run([sys.executable, "-m", "utils.student_edition", "--site", str(source),
                        "--force"], cwd=ROOT, check=True)
    work = OUT / ("student" if student else "full")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(source), "--builder", "latex",
                    "--path-output", str(work), "-n", "--keep-going"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL if quiet else None)
    latex = work / "_build" / "latex"
    tex = latex / f"{NAME}.tex"
    tex.write_text(mend_tex(tex.read_text(encoding="utf-8"), exercise_numbers(source / "chapters"),
                            exercise_kinds(source / "chapters")), encoding="utf-8")
    result = subprocess.run(["make", "-C", str(latex), "all-pdf",
                             "LATEXMKOPTS=-interaction=nonstopmode -halt-on-error"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode:
        sys.stdout.write(result.stdout[-3000:])
        raise RuntimeError(f"LaTeX failed; see {latex / (NAME + '.log')}")
    target = OUT / f"{NAME}{'-student' if student else ''}.pdf"
    shutil.copyfile(latex / f"{NAME}.pdf", target)
    shutil.copyfile(latex / f"{NAME}.log", target.with_suffix(".log"))
    seconds = time.perf_counter() - started
    print(f"The {'student edition' if student else 'book'} as a PDF is at {target} "
          f"({seconds:.0f} s)")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--student", action="store_true",
                        help="the student edition: solutions replaced by stubs")
    args = parser.parse_args(argv)
    build(student=args.student)
    return 0


if __name__ == "__main__":
    sys.exit(main())
