"""Measurements the chapters make: interleaved timings, peak memory, a quiet profiler.

Timings are medians of calls made in turn (``interleaved_seconds``), so that a noisy machine
slows every contender alike, and are reported as ratios from one run. Memory is the peak of
what PyTorch holds allocated during a call, read from the profiler. The command-line table of
the book's budgets, ``python -m utils.benchmark``, is built from these.
"""
from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time

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


def decode_seconds_per_token(models: dict, prompt_length: int = 1024, steps: int = 16,
                             rounds: int = 3) -> dict:
    """Seconds per generated token of each model (``GPT``s), greedy, with the key-value cache
    filled by a random prompt first (not timed); the models take turns, round after round."""
    prompt = torch.randint(next(iter(models.values())).config.vocab, (1, prompt_length),
                           generator=torch.Generator().manual_seed(0))
    times = {name: [] for name in models}
    with torch.no_grad():
        for _ in range(rounds):
            for name, model in models.items():
                model.eval()
                cache = model.new_cache()
                logits, _ = model(prompt, cache)
                start = time.perf_counter()
                for _ in range(steps):
                    logits, _ = model(logits[:, -1:].argmax(-1), cache)
                times[name].append((time.perf_counter() - start) / steps)
    return {name: statistics.median(t) for name, t in times.items()}


def kv_heads_decode_speed(kv_heads=(1, 8), prompt_length: int = 1024, steps: int = 16,
                          rounds: int = 3, d_model: int = 512, heads: int = 8) -> dict:
    """Seconds per generated token of chapter 14's random Llama-style decoders (2 layers) with
    each number of key-value heads, after ``prompt_length`` cached positions."""
    from utils.models.gpt import GPT, GPTConfig

    models = {}
    for kv in kv_heads:
        torch.manual_seed(0)
        models[kv] = GPT(GPTConfig.llama(103, d_model=d_model, heads=heads, layers=2,
                                         d_ff=2 * d_model, kv_heads=kv))
    return decode_seconds_per_token(models, prompt_length, steps, rounds)


def window_attention_speed(L: int = 4096, window: int = 128, block: int = 128, E: int = 64,
                           rounds: int = 3) -> dict:
    """Seconds of tiled causal attention over L positions (one head, width E) without and with
    a sliding window (chapter 14), interleaved, and their ratio window / full."""
    from utils.attention import tiled_attention

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, L, E, generator=generator) for _ in range(3))
    with torch.no_grad():
        seconds = interleaved_seconds(
            {"full": lambda: tiled_attention(q, k, v, True, block),
             "window": lambda: tiled_attention(q, k, v, True, block, window)}, rounds, warmup=1)
    return {**seconds, "ratio": seconds["window"] / seconds["full"]}


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
