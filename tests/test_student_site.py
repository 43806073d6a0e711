"""`make book-student`: the website without solutions, for courses that hand out graded work.
Built like the main site (from stored outputs, nothing executed), checked for every fragment
of every solution, and opened in the browser."""
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from utils.student_edition import (ANSWER_STUB, CHAPTERS, solution_fragments, solution_regions,
                                   squeeze, write_student_site)

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PATHS = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def student_site(tmp_path_factory):
    """Build the student site as `make book-student` does; returns its html folder."""
    base = tmp_path_factory.mktemp("student")
    source = write_student_site(base / "source")
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(source), "-W", "-n", "--keep-going",
                             "--path-output", str(base / "site")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "WARNING" not in result.stderr, result.stderr[-3000:]
    return base / "site" / "_build" / "html"


def page_text(path: Path) -> str:
    """A page's text without tags or whitespace (code is split into highlighted spans)."""
    return squeeze(html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.stem)
def test_no_solution_on_the_student_site(student_site, path):
    """No fragment of any solution appears on the chapter's page of the student site, and the
    main site shows them (so the test can fail)."""
    fragments = [f for region in solution_regions(nbformat.read(path, as_version=4))
                 for f in solution_fragments(region)]
    page = student_site / "chapters" / f"{path.stem}.html"
    text = page_text(page)
    leaks = [f for f in fragments if squeeze(html.unescape(f)) in text]
    assert not leaks, f"{page.name} shows solution fragments: {leaks}"
    assert "class=\"solution" not in page.read_text(encoding="utf-8")
    main = ROOT / "_build" / "html" / "chapters" / f"{path.stem}.html"
    if main.is_file() and fragments:
        assert any(squeeze(html.unescape(f)) in page_text(main) for f in fragments)


def test_the_student_site_keeps_the_teaching_and_drops_what_follows_the_exercises(student_site):
    page = (student_site / "chapters" / "07_self_attention.html").read_text(encoding="utf-8")
    assert page.count("<img") >= 3                              # the chapter's figures
    assert "Attention, Step by Step (student edition)" in page
    assert "Your answer:" in html.unescape(page) and ANSWER_STUB.startswith("**Your answer:**")
    assert "NotImplementedError" in page
    assert "✓" not in page                   # no check output: it showed the solution passing
    assert re.search(r"Exercise 7\.1\b", page) and re.search(r"Exercise 7\.2\b", page)
    # the instructor guide (rubrics, model answers, checker messages) is not part of it
    assert not (student_site / "chapters" / "instructor_guide.html").exists()
    assert "instructor_guide" not in (student_site / "index.html").read_text(encoding="utf-8")


def test_write_student_site_refuses_the_book_itself(tmp_path):
    with pytest.raises(ValueError, match="refusing to write"):
        write_student_site(ROOT)
    (tmp_path / "x").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        write_student_site(tmp_path)


@pytest.mark.parametrize("stem", ["02_attention_step_by_step", "07_self_attention",
                                  "13_efficient_attention", "faq"])
def test_student_pages_in_the_browser(student_site, stem):
    """Pages load without errors or network requests, math renders, images load."""
    if CHROMIUM is None:
        pytest.skip("no Chromium installed: `apt-get install chromium` to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox",
                                                                    "--disable-gpu"])
        page = browser.new_page()
        problems, requests = [], []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto((student_site / "chapters" / f"{stem}.html").as_uri(), wait_until="load")
        if page.locator(".math").count():
            page.wait_for_function("() => window.MathJax && MathJax.startup", timeout=20_000)
            page.evaluate("() => MathJax.startup.promise")
            assert page.locator("mjx-merror").count() == 0
        images = page.evaluate("() => Array.from(document.images).map(i => i.complete && "
                               "i.naturalWidth > 0)")
        assert all(images) and not problems, problems
        assert not [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
        assert page.locator("div.solution").count() == 0
        if stem != "faq":
            assert page.locator("div.exercise").count() >= 4
        browser.close()
