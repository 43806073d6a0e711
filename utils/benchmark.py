"""The book's budgets, measured: ``python -m utils.benchmark`` prints one table.

Each chapter's execution time and the total, the time to rebuild the site, the speed of the
book's multi-head attention against PyTorch's, the key-value cache's speed-up, the memory of
ordinary against tiled attention, and chapter 14's decoding time with fewer key-value heads and
the time of sliding-window attention (the measurements themselves live in ``utils.measure``).
Tests never time anything; this command does.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from .measure import (ATTENTION_METHODS, attention_peak_memory_mib, kv_cache_speed,
                      kv_heads_decode_speed, multihead_speed, window_attention_speed)


ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"chapter": 120.0, "all chapters": 1200.0, "rebuild": 30.0, "mha": 1.3}


def notebook_seconds(path: Path, timeout: int = 600) -> float:
    """Wall-clock seconds to execute a copy of the notebook at ``path`` in a fresh kernel
    (kernel start included), from its own folder, without progress bars."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["ATTENTION_BOOK_QUIET"] = "1"
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def site_rebuild_seconds(root: Path = ROOT) -> float:
    """Seconds for ``jupyter-book build`` (the README's command) when nothing has changed: one
    build brings the site up to date, the second is timed."""
    import subprocess

    command = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(root), "-W",
               "-n", "--keep-going", "-q"]
    env = {**os.environ, "ATTENTION_BOOK_QUIET": "1"}
    subprocess.run(command, check=True, capture_output=True, env=env)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def _row(label: str, value: str, target: str = "") -> None:
    print(f"{label:<66} {value:>12} {target:>10}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the book's pinned setting)")
    parser.add_argument("--skip-notebooks", action="store_true",
                        help="do not execute the chapters (they take about 12 minutes)")
    parser.add_argument("--notebook", action="append", default=None, metavar="NAME",
                        help="execute only this notebook (e.g. 14_modern_attention; repeatable)")
    parser.add_argument("--skip-site", action="store_true", help="do not time the site build")
    args = parser.parse_args(argv)
    from utils.setup import BOOK_THREADS

    torch.set_num_threads(args.threads or BOOK_THREADS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s) for the measurements "
          f"below the notebooks; {os.cpu_count()} CPU cores")
    _row("measurement", "value", "target")
    if not args.skip_notebooks:
        total = 0.0
        notebooks = sorted((ROOT / "chapters").glob("*.ipynb"))
        if args.notebook:
            notebooks = [p for p in notebooks if p.stem in args.notebook or p.name in args.notebook]
            if not notebooks:
                parser.error(f"no notebook named {args.notebook} in chapters/")
        for path in notebooks:
            seconds = notebook_seconds(path)
            total += seconds
            _row(f"execute {path.name}", f"{seconds:.0f} s", f"≤ {TARGETS['chapter']:.0f} s")
        if not args.notebook:
            _row(f"execute all {len(notebooks)} notebooks", f"{total:.0f} s",
                 f"≤ {TARGETS['all chapters']:.0f} s")
    if not args.skip_site:
        _row("rebuild the site with nothing changed (jupyter-book build)",
             f"{site_rebuild_seconds():.1f} s", f"≤ {TARGETS['rebuild']:.0f} s")
    for need_weights in (False, True):
        r = multihead_speed(need_weights=need_weights)
        _row(f"multi-head attention time / PyTorch's, need_weights={need_weights}",
             f"{r['ratio']:.2f}×", f"≤ {TARGETS['mha']}×")
    kv = kv_cache_speed()
    _row("KV-cache speed-up, 256 tokens after 32 (chapter 10's model size)",
         f"{kv['speedup']:.1f}×")
    for L in (1024, 4096, 8192):
        mib = {m: attention_peak_memory_mib(m, L) for m in ATTENTION_METHODS}
        _row(f"peak memory naive / tiled attention, L = {L} "
             f"({mib['naive']:.1f} / {mib['tiled']:.1f} MiB)",
             f"{mib['naive'] / mib['tiled']:.0f}×")
    decode = kv_heads_decode_speed()
    _row("time per generated token, 1 / 8 key-value heads (1,024 cached)",
         f"{decode[1] / decode[8]:.2f}×")
    window = window_attention_speed()
    _row("tiled attention time, window of 128 / full causal, L = 4096", f"{window['ratio']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
