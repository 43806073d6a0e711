"""One call at the top of every notebook: seeds, a pinned thread count and the plot style."""
from __future__ import annotations

import os
import random

# Chapter 1's training, measured on the book's 2-core machine: 2 threads were only 1.19x
# (hidden 64) and 1.22x (hidden 128) faster than 1, and two busy threads slow to a crawl when
# another process holds a core. One thread it is; results also depend on this number.
BOOK_THREADS = 1
# Results also depend on the processor's vector instructions: AVX-512 kernels add numbers in a
# different order from AVX2 kernels, and MKL takes other paths on AMD than on Intel processors; a
# training run of a thousand steps amplifies the last bit into the second decimal. Pinning the
# kernels (ATEN_CPU_CAPABILITY=avx2, MKL_CBWR=AVX2, ONEDNN_MAX_CPU_ISA=AVX2) made a training step
# of chapter 10's GPT 35 % slower (84 -> 115 ms) on an AVX-512 machine, and would still not
# reproduce Apple's ARM processors, so the book does not pin them. Instead every number measured
# from training is stated as the range it takes over seeds and kernels (utils.variants measures
# it), and setup_book reports the processor and kernels a run used.
_STYLE = {
    "figure.figsize": (6.4, 3.6), "figure.dpi": 100, "savefig.dpi": 100,
    "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
    "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9, "legend.frameon": False,
    "image.cmap": "viridis", "font.family": "DejaVu Sans",
}


# Maintainers: every seed the book sets is shifted by this number, so that a whole chapter can
# be run as "another seed" (``python -m utils.variants --seed-offset 1``) to measure the spread
# its trained numbers have. Readers leave it unset.
SEED_OFFSET_ENV = "ATTENTION_BOOK_SEED_OFFSET"


def seed_everything(seed: int = 0) -> None:
    """Seed Python's, NumPy's and PyTorch's random number generators."""
    import numpy as np
    import torch

    seed += int(os.environ.get(SEED_OFFSET_ENV, "0"))
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup_book(seed: int = 0, threads: int = BOOK_THREADS) -> dict:
    """Seeds, torch thread count, deterministic algorithms, matplotlib style.

    Returns the settings, so the notebook can show them, with the vector instructions PyTorch's
    kernels use ("AVX512", "AVX2", ...) and the processor's name: the two things besides the
    seed that move a trained number (the chapters state such numbers as ranges over both). Results differ with the number of threads
    (floating-point sums are split differently), so it is pinned; they also differ with the
    kernels, which depend on the processor.
    """
    import matplotlib
    import matplotlib.pyplot as plt
    import torch

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)
    plt.rcParams.update(_STYLE)
    matplotlib.rcParams["figure.max_open_warning"] = 0
    return {"seed": seed, "threads": torch.get_num_threads(), "torch": torch.__version__,
            "kernels": torch.backends.cpu.get_cpu_capability(), "cpu": processor_name()}


def processor_name() -> str:
    """The processor's model name ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8488C", "Apple M2"),
    or the machine's architecture where the name cannot be read."""
    import platform
    import subprocess

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], text=True,
                                  capture_output=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            pass
    return platform.processor() or platform.machine()
