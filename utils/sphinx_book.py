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
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

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


def setup(app):
    app.connect("config-inited", render_stored_outputs)
    app.connect("build-finished", copy_mathjax)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
