"""The website: it builds without warnings, and every page works in a real, offline browser.

The site is built from the notebooks' stored outputs (which nbval verifies), not re-executed.
The browser test needs Debian's Chromium (/usr/bin/chromium); it skips, saying so, if absent.
"""
import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def site():
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, env={**os.environ,
                                                                 "ATTENTION_BOOK_QUIET": "1"})
    return result


def pages():
    """The book's built pages (not the theme's template leftovers under _static/)."""
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.relative_to(HTML).parts)


def toc_pages() -> list:
    """Pages the site must have, from _toc.yml: known before the site is built, so a clean
    checkout still tests every page."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [f"{f}.html" for f in files] + ["search.html", "genindex.html"]


def test_site_builds_without_warnings(site):
    log = site.stdout + site.stderr
    assert site.returncode == 0, log[-3000:]
    assert "WARNING" not in log, [line for line in log.splitlines() if "WARNING" in line]
    assert (HTML / "index.html").is_file()
    assert (HTML / "chapters" / "01_fixed_context_bottleneck.html").is_file()
    assert (HTML / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    built = {p.relative_to(HTML).as_posix() for p in pages()}
    assert set(toc_pages()) == built, set(toc_pages()) ^ built


def test_no_page_loads_scripts_styles_or_images_from_the_network(site):
    remote = re.compile(r"<(?:script|img)[^>]*\ssrc=\"https?:|<link[^>]*stylesheet[^>]*href=\"https?:")
    for page in pages():
        found = remote.findall(page.read_text(encoding="utf-8"))
        assert not found, (page.name, found)


def test_every_chapter_figure_has_alt_text(site):
    from html.parser import HTMLParser

    class Images(HTMLParser):
        def __init__(self):
            super().__init__()
            self.missing = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "img" and not (attrs.get("alt") or "").strip():
                self.missing.append(attrs.get("src"))

    for page in pages():
        parser = Images()
        parser.feed(page.read_text(encoding="utf-8"))
        assert not parser.missing, (page.name, parser.missing)


@pytest.fixture(scope="module")
def browser(site):
    if CHROMIUM is None:
        pytest.skip("no Chromium installed: `apt-get install chromium` to run the browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def open_page(browser, path):
    page = browser.new_page()
    problems, requests = [], []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems, requests


@functools.lru_cache(maxsize=None)
def element_ids(path: Path) -> frozenset:
    return frozenset(re.findall(r'\sid="([^"]+)"', path.read_text(encoding="utf-8")))


def broken_internal_links(urls: list) -> list:
    """The file: links among ``urls`` whose file, or whose #fragment in that file, is missing."""
    broken = []
    for url in urls:
        parts = urlparse(url)
        if parts.scheme != "file":
            continue
        target = Path(unquote(parts.path))
        if not target.is_file():
            broken.append(url)
        elif parts.fragment and target.suffix == ".html" and \
                unquote(parts.fragment) not in element_ids(target):
            broken.append(url)
    return broken


def heading_levels(page) -> list:
    return page.evaluate("() => Array.from(document.querySelectorAll("
                         "'article.bd-article :is(h1, h2, h3, h4, h5, h6)'))"
                         ".map(h => Number(h.tagName[1]))")


@pytest.mark.parametrize("name", toc_pages())
def test_page_in_browser(browser, name):
    page, problems, requests = open_page(browser, HTML / name)
    has_math = page.locator(".math").count() > 0
    if has_math:
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                               timeout=20_000)
        page.evaluate("() => MathJax.startup.promise")
        assert page.locator("mjx-container").count() >= page.locator(".math").count()
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    images = page.evaluate("() => Array.from(document.images).map(i => [i.src, i.complete && "
                           "i.naturalWidth > 0, i.alt])")
    assert all(ok for _, ok, _ in images), [src for src, ok, _ in images if not ok]
    assert all(alt.strip() for _, _, alt in images), "an image has no alt text"
    assert not problems, problems
    remote = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert not remote, remote
    links = page.evaluate("() => Array.from(document.querySelectorAll('a[href]'), a => a.href)")
    assert not broken_internal_links(links), broken_internal_links(links)
    levels = heading_levels(page)
    if name not in ("search.html", "genindex.html"):      # the theme's pages, not the book's
        assert levels[:1] == [1] and levels.count(1) == 1, levels
        assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), f"heading skips a level: {levels}"
    page.close()


def test_broken_links_are_detected(site):
    index = (HTML / "index.html").as_uri()
    assert broken_internal_links([index, "https://example.org/x"]) == []
    assert broken_internal_links([index + "#no-such-id", (HTML / "nope.html").as_uri()]) == [
        index + "#no-such-id", (HTML / "nope.html").as_uri()]


NOTEBOOK_PAGES = sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb"))


@pytest.mark.parametrize("stem", NOTEBOOK_PAGES)
def test_notebook_pages_offer_the_ipynb_download(site, stem):
    html = (HTML / "chapters" / f"{stem}.html").read_text(encoding="utf-8")
    assert f'href="../_sources/chapters/{stem}.ipynb"' in html
    assert (HTML / "_sources" / "chapters" / f"{stem}.ipynb").is_file()
    # launch buttons (Binder, Colab) are off until _config.yml names a repository
    assert "colab.research.google.com" not in html and "mybinder" not in html


def test_solution_dropdown_opens_on_click(browser):
    page, problems, _ = open_page(browser, HTML / "chapters" / "01_fixed_context_bottleneck.html")
    solutions = page.locator("div.solution.dropdown")
    assert solutions.count() >= 4
    first = solutions.first
    assert "toggle-hidden" in first.get_attribute("class")  # collapsed until clicked
    assert not first.locator(".highlight").first.is_visible()
    first.locator("button.toggle-button").click()
    page.wait_for_function("el => !el.classList.contains('toggle-hidden')",
                           arg=first.element_handle())
    assert first.locator(".highlight").first.is_visible()
    assert not problems, problems
    page.close()


def test_repository_url_switches_launch_buttons_on(tmp_path):
    """Setting only `repository.url` in _config.yml gives Binder and Colab buttons."""
    config = (ROOT / "_config.yml").read_text(encoding="utf-8")
    assert '\n  url: ""\n' in config                      # off by default
    (tmp_path / "_config.yml").write_text(config.replace(
        '\n  url: ""\n', '\n  url: "https://github.com/example/attention-book"\n'))
    jb = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run([str(jb), "build", str(ROOT), "--config", str(tmp_path / "_config.yml"),
                             "--path-output", str(tmp_path), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, env={**os.environ,
                                                                 "ATTENTION_BOOK_QUIET": "1"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    html = (tmp_path / "_build" / "html" / "chapters" / "10_gpt_decoder_only.html").read_text(
        encoding="utf-8")
    assert ("https://mybinder.org/v2/gh/example/attention-book/main?urlpath=tree/chapters/"
            "10_gpt_decoder_only.ipynb") in html
    assert ("https://colab.research.google.com/github/example/attention-book/blob/main/"
            "chapters/10_gpt_decoder_only.ipynb") in html


def explorer_data(stem: str) -> dict:
    """{element id: data} of the attention explorers in a notebook's stored outputs: the weights
    the chapter computed, which the page must show."""
    import json

    notebook = json.loads((ROOT / "chapters" / f"{stem}.ipynb").read_text(encoding="utf-8"))
    found = {}
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            markup = "".join(output.get("data", {}).get("text/html", ""))
            for element_id, data in re.findall(
                    r'id="(attention-explorer-[\w-]+)".*?<script type="application/json" '
                    r'class="ae-data">(.*?)</script>', markup, flags=re.S):
                found[element_id] = json.loads(data.replace("<\\/", "</"))
    return found


EXPLORER_CHAPTERS = [stem for stem in NOTEBOOK_PAGES if explorer_data(stem)]


def test_explorers_are_in_the_chapters_the_design_names():
    assert {"02_attention_step_by_step", "03_bahdanau_attention", "04_luong_attention",
            "09_transformer", "11_bert_and_real_attention",
            "12_vision_transformer"} <= set(EXPLORER_CHAPTERS)


@pytest.mark.parametrize("stem", EXPLORER_CHAPTERS)
def test_an_explorer_adds_less_than_a_megabyte_to_its_page(stem):
    notebook = (ROOT / "chapters" / f"{stem}.ipynb").read_text(encoding="utf-8")
    markup = sum(len(m) for m in re.findall(r'<div class=\\"attention-explorer.*?</script></div>',
                                            notebook, flags=re.S))
    assert 0 < markup < 1_000_000, markup


def shown_weights(explorer) -> list:
    return [float(w) for w in explorer.locator("[data-role=source]").evaluate_all(
        "els => els.map(e => e.dataset.weight)")]


@pytest.mark.parametrize("stem", EXPLORER_CHAPTERS)
def test_explorers_react_to_pointer_and_keyboard_and_show_the_chapters_weights(browser, stem):
    page, problems, requests = open_page(browser, HTML / "chapters" / f"{stem}.html")
    for element_id, data in explorer_data(stem).items():
        explorer = page.locator(f"#{element_id}")
        first = data["examples"][0]
        matrix = first["weights"][0][0]                                   # layer 0, head 0
        targets = explorer.locator("[data-role=target]")
        assert targets.count() == len(first["targets"]) == len(matrix)
        rows = []
        for j in sorted({0, len(matrix) - 1}):
            targets.nth(j).hover()
            rows.append(shown_weights(explorer))
            assert rows[-1] == pytest.approx(matrix[j], abs=1e-3), (element_id, j)
            if first["normalised"][0]:
                assert sum(rows[-1]) == pytest.approx(1.0, abs=0.01), (element_id, j)
        if len(matrix) > 1:
            assert rows[0] != rows[-1], element_id                        # the hover changed them
            targets.nth(0).focus()
            page.keyboard.press("Tab")                                    # Tab reaches the next
            assert page.evaluate("() => document.activeElement.dataset.index") == "1"
            assert shown_weights(explorer) == pytest.approx(matrix[1], abs=1e-3), element_id
        for kind in ("layer", "head", "example"):                         # the selectors switch
            select = explorer.locator(f"select.ae-{kind}")
            if select.count():
                select.select_option("1")
                targets.nth(0).hover()
                pick = {"example": 0, "layer": 0, "head": 0, kind: 1}
                expected = data["examples"][pick["example"]]["weights"][pick["layer"]][
                    pick["head"]][0]
                assert shown_weights(explorer) == pytest.approx(expected, abs=1e-3), (element_id,
                                                                                   kind)
                select.select_option("0")
    assert not problems, problems
    assert not [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    page.close()


def test_exercise_numbers_restart_in_every_chapter(site):
    """Exercise 3.2, not Exercise 40: each numbered chapter numbers its own exercises."""
    from utils.sphinx_book import chapter_exercises

    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        chapter = int(path.name[:2])
        html = (HTML / "chapters" / f"{path.stem}.html").read_text(encoding="utf-8")
        # a reference to another chapter's exercise keeps that chapter's number
        html = re.sub(r'<a [^>]*href="(?!' + path.stem + r')\d\d_[^"]*"[^>]*>.*?</a>', "", html,
                      flags=re.S)
        numbers = re.findall(r"Exercise (\d+)\.(\d+)", html)
        count = len(chapter_exercises(path))
        assert {(str(chapter), str(k)) for k in range(1, count + 1)} <= set(numbers), path.name
        assert all(int(c) == chapter and int(k) <= count for c, k in numbers), path.name
