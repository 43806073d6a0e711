"""Speed measurements that back the book's budgets; run as ``python -m utils.benchmark``.

Timings are reported as ratios measured in one run, with the two contenders interleaved so that
a noisy machine slows both alike. Tests never time anything; this command does.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn


def interleaved_seconds(fns: dict, rounds: int = 15, warmup: int = 3) -> dict:
    """Median seconds per call of each function, calling them in turn, round after round."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def multihead_speed(B: int = 16, L: int = 128, E: int = 256, H: int = 8,
                    need_weights: bool = False, rounds: int = 15) -> dict:
    """Forward + backward of self-attention: the book's MultiHeadAttention against
    nn.MultiheadAttention with the same weights. Returns seconds per call and their ratio."""
    from utils.attention import MultiHeadAttention

    torch.manual_seed(0)
    reference = nn.MultiheadAttention(E, H, batch_first=True)
    ours = MultiHeadAttention.from_torch(reference)
    x = torch.randn(B, L, E, requires_grad=True)

    def step(module):
        def run():
            out, _ = module(x, x, x, need_weights=need_weights)
            out.sum().backward()
        return run

    seconds = interleaved_seconds({"book": step(ours), "torch": step(reference)}, rounds)
    return {**seconds, "ratio": seconds["book"] / seconds["torch"]}


def kv_cache_speed(model=None, prompt_length: int = 32, steps: int = 256,
                   rounds: int = 5) -> dict:
    """Seconds to sample ``steps`` tokens after a prompt with and without the key-value cache
    (``GPT.generate``), interleaved, and the speed-up uncached / cached. The default model is
    chapter 10's size with fresh weights: the cost of generation does not depend on them."""
    from utils.models.gpt import GPT, GPTConfig

    if model is None:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab=103, d_model=96, heads=4, layers=2, d_ff=384,
                              max_len=prompt_length + steps, dropout=0.0))
    model.eval()
    prompt = torch.randint(model.config.vocab, (1, prompt_length),
                           generator=torch.Generator().manual_seed(0))

    def generate(use_cache):
        return lambda: model.generate(prompt, steps, 1.0, use_cache=use_cache,
                                      generator=torch.Generator().manual_seed(1))

    seconds = interleaved_seconds({"cached": generate(True), "uncached": generate(False)},
                                  rounds, warmup=1)
    return {**seconds, "speedup": seconds["uncached"] / seconds["cached"]}


ATTENTION_METHODS = ("naive", "tiled", "pytorch")


@contextlib.contextmanager
def _silent_native_output():
    """Send the process's stdout and stderr file descriptors to /dev/null for a moment: the
    profiler's native library prints timestamped start/stop lines that Python cannot catch."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def profile_quietly(fn, **kwargs):
    """Run ``fn()`` under ``torch.profiler.profile(**kwargs)`` without its native log lines;
    returns the profiler, e.g. for ``.key_averages()`` or ``.events()``."""
    from torch.profiler import profile

    with _silent_native_output(), profile(**kwargs) as prof:
        fn()
    return prof


def peak_allocated_bytes(fn) -> int:
    """Peak of the bytes PyTorch holds allocated while ``fn()`` runs, beyond what was allocated
    before: allocations and frees recorded by the profiler, summed in time order."""
    prof = profile_quietly(fn, profile_memory=True)
    changes = []
    for event in prof.events():
        if event.name == "[memory]":                 # frees (and unattributed allocations)
            changes.append((event.time_range.start, event.cpu_memory_usage))
        elif event.self_cpu_memory_usage > 0:        # allocations made by an operator
            changes.append((event.time_range.start, event.self_cpu_memory_usage))
    total = peak = 0
    for _, change in sorted(changes):
        total += change
        peak = max(peak, total)
    return peak


def attention_peak_memory_mib(method: str, L: int, E: int = 64, block: int = 128) -> float:
    """Peak memory (MiB) that one attention call over L positions (one head, width E)
    allocates: naive (the book's function, which builds the L × L weights), tiled
    (``tiled_attention``) or pytorch (``F.scaled_dot_product_attention``)."""
    import torch.nn.functional as F

    from utils.attention import scaled_dot_product_attention, tiled_attention

    if method not in ATTENTION_METHODS:
        raise ValueError(f"method must be one of {ATTENTION_METHODS}, got {method!r}")
    run = {"naive": lambda q, k, v: scaled_dot_product_attention(q, k, v)[0],
           "tiled": lambda q, k, v: tiled_attention(q, k, v, block_size=block),
           "pytorch": lambda q, k, v: F.scaled_dot_product_attention(q, k, v)}[method]
    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, L, E, generator=generator) for _ in range(3))
    with torch.no_grad():
        return peak_allocated_bytes(lambda: run(q, k, v)) / 2**20


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
        for path in notebooks:
            seconds = notebook_seconds(path)
            total += seconds
            _row(f"execute {path.name}", f"{seconds:.0f} s", f"≤ {TARGETS['chapter']:.0f} s")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
