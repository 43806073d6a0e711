"""Speed measurements that back the book's budgets; run as ``python -m utils.benchmark``.

Timings are reported as ratios measured in one run, with the two contenders interleaved so that
a noisy machine slows both alike. Tests never time anything; this command does.
"""
from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: the book's pinned setting)")
    args = parser.parse_args(argv)
    from utils.setup import BOOK_THREADS

    torch.set_num_threads(args.threads or BOOK_THREADS)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'measurement':<72} {'book':>9} {'PyTorch':>9} {'ratio':>7}")
    for need_weights in (False, True):
        r = multihead_speed(need_weights=need_weights)
        label = (f"multi-head attention fwd+bwd, B=16 L=128 E=256 H=8, "
                 f"need_weights={need_weights}")
        print(f"{label:<72} {1e3 * r['book']:7.2f}ms {1e3 * r['torch']:7.2f}ms {r['ratio']:6.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
