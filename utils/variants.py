"""How far a chapter's numbers move with the seed and the CPU's kernels, measured.

Maintainers run every chapter under other settings and compare what comes out:

    python -m utils.variants run --out _build/variants/avx2 --kernels avx2
    python -m utils.variants run --out _build/variants/seed1 --seed-offset 1
    python -m utils.variants bands _build/variants/avx2 _build/variants/seed1
    python -m utils.variants tolerances _build/variants/avx2 _build/variants/seed1 [--write]

``run`` executes copies of the chapters (two at a time, one torch thread each) with the kernels
forced (``--kernels``: PyTorch's, MKL's and oneDNN's together) and every seed shifted
(``--seed-offset``, read by ``utils.setup.seed_everything``), and writes the executed notebooks
into the folder and every claimed number, with its cell and line, into ``NN_slug.claims.jsonl``.
``bands`` proposes for each claim that moved a range and the ``measured=`` spread it rests on
(``claim(v, "74–83 %", measured="75.9–81.3 %")``); ``tolerances`` declares on each output cell
whose numbers moved twice the largest change between any two runs (``utils.outputs``), and lists
cells whose words moved; ``env`` prints the exports of a kernel setting (``.ci/run`` uses it).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


def chapter_paths(names=None) -> list:
    paths = sorted(CHAPTERS.glob("[0-9][0-9]_*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.stem[:2] in names]
    return paths


# One name, one setting for each library that picks its kernels by CPU: PyTorch's own (ATen),
# MKL (matrix products; its "conditional numerical reproducibility" mode) and oneDNN.
KERNELS = {
    "default": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                "ONEDNN_MAX_CPU_ISA": "SSE41"},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx512": {"ATEN_CPU_CAPABILITY": "avx512", "MKL_CBWR": "AVX512",
               "ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
}


def run_one(path: Path, out: Path, kernels: str | None, seed_offset: int) -> tuple:
    env = {**os.environ, "ATTENTION_BOOK_QUIET": "1", "ATTENTION_BOOK_CLAIMS": "report",
           "ATTENTION_BOOK_CLAIMS_LOG": str(out / f"{path.stem}.claims.jsonl"),
           "ATTENTION_BOOK_SEED_OFFSET": str(seed_offset)}
    env.update(KERNELS.get(kernels, {}))
    (out / f"{path.stem}.claims.jsonl").unlink(missing_ok=True)
    command = [str(Path(sys.executable).with_name("jupyter")), "nbconvert", "--to", "notebook",
               "--execute", "--ExecutePreprocessor.timeout=900", "--allow-errors",
               "--output-dir", str(out), str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=CHAPTERS)
    return path.stem, done.returncode, done.stderr[-2000:]


def run(args) -> int:
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text(json.dumps(
        {"kernels": args.kernels or "machine default", "seed_offset": args.seed_offset}))
    with ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(run_one, p, out, args.kernels, args.seed_offset)
                for p in chapter_paths(args.chapter)]
        failed = 0
        for job in jobs:
            stem, code, err = job.result()
            print(f"{stem}: {'ok' if code == 0 else 'FAILED ' + err}", flush=True)
            failed += code != 0
    return 1 if failed else 0


def claims_of(folder: Path, stem: str) -> list:
    path = folder / f"{stem}.claims.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def propose_band(stated: str, values: list) -> tuple:
    """(band, measured) for a claim stated as ``stated`` that took ``values`` in the runs (the
    stated number itself is the stored run): the measured range, widened on each side by half
    its width and rounded outwards to a step no larger than that width, nor coarser than the
    second significant digit, nor finer than the stated number's last digit; (None, None) when every
    run gave the stated number (a deterministic result stays a single number)."""
    from .claims import _read, canonical, decimals_of, holds

    unit = "%" if canonical(stated).endswith("%") else ("×" if canonical(stated).endswith("×") else "")
    scale = 100 if unit == "%" else 1
    shown = [v * scale for v in values] + [_read(stated) * scale]
    if all(holds(v, stated)[0] for v in values):
        return None, None
    low, high = min(shown), max(shown)
    spread = high - low
    stated_decimals = decimals_of(stated)
    two_digits = 10.0 ** (math.floor(math.log10(max(abs(low), abs(high)))) - 1)
    step = max(min(10.0 ** math.floor(math.log10(spread)), two_digits), 10.0 ** -stated_decimals)
    decimals = max(0, -int(round(math.log10(step))))
    pad = spread / 2
    band_low = math.floor((low - pad) / step) * step
    band_high = math.ceil((high + pad) / step) * step
    if unit in ("%", "×") or low >= 0:
        band_low = max(band_low, 0.0)
    if unit == "%":
        band_high = min(band_high, 100.0)

    def text(x, d):
        return f"{x:.{d}f}".replace("-", "−")

    space = " " if re.search(r"\s[%×]$", stated.strip()) else ""
    measured_decimals = decimals + 1
    band = f"{text(band_low, decimals)}–{text(band_high, decimals)}{space}{unit}"
    measured = f"{text(math.floor(low * 10 ** measured_decimals) / 10 ** measured_decimals, measured_decimals)}–" \
               f"{text(math.ceil(high * 10 ** measured_decimals) / 10 ** measured_decimals, measured_decimals)}{space}{unit}"
    return band, measured


def proposals(logs: list) -> list:
    """(index, stated, proposed band or None, measured or None, values) for every number claimed
    in the first log (the stored run), from every log that claims it: matched by what is stated
    and which occurrence of it this is, so that a run whose code logged more or fewer claims does
    not shift the rest. A claim already written as a range is re-proposed from its values (at the
    precision of its more precise end); statements (claim_that) and bounds are left out."""
    from .claims import _STATED_BOUND, band, decimals_of, written_like

    out = []
    for index, entry in enumerate(logs[0]):
        stated = entry["stated"]
        if stated.startswith("that:") or _STATED_BOUND.match(stated.strip()):
            continue
        occurrence = sum(e["stated"] == stated for e in logs[0][:index])
        values = []
        for log in logs:
            same = [e["value"] for e in log if e["stated"] == stated]
            if occurrence < len(same):
                values.append(same[occurrence])
        ends = band(stated)
        written = written_like(values[0], max(ends, key=decimals_of)) if ends else stated
        proposed, measured = propose_band(written, values)
        out.append((index, stated, proposed or written, measured, values))
    return out


def bands(args) -> int:
    folders = [Path(f) for f in args.folders]
    for path in chapter_paths(args.chapter):
        logs = [claims_of(f, path.stem) for f in folders]
        if not logs or not logs[0]:
            continue
        print(f"## {path.stem}")
        for index, stated, proposed, measured, values in proposals(logs):
            print(f"{index:3d} {stated!r:>14} -> {proposed!r}"
                  + (f", measured={measured!r}" if measured else " (exact)")
                  + "   " + " ".join(f"{v:.4g}" for v in values))
    return 0


def _round_up(x: float) -> float:
    """Up to one significant digit: 1.74 -> 2, 0.0062 -> 0.007."""
    step = 10.0 ** math.floor(math.log10(x))
    return round(math.ceil(x / step - 1e-9) * step, 12)


def tolerances(args) -> int:
    """For every compared cell whose numbers moved between the stored notebook and the runs:
    the largest change between any two of them, and a tolerance of twice that (rounded up to
    one digit), written into the cell's metadata with ``--write``. Cells whose words moved are
    listed: no tolerance fixes them."""
    import nbformat

    from .outputs import differences

    folders = [Path(f) for f in args.folders]
    for path in chapter_paths(args.chapter):
        stored = nbformat.read(path, as_version=4)
        code = [c for c in stored.cells if c.cell_type == "code"]
        runs = [[c for c in nbformat.read(f / path.name, as_version=4).cells
                 if c.cell_type == "code"] for f in folders if (f / path.name).exists()]
        changed = False
        for number, cell in enumerate(code):
            tags = cell.metadata.get("tags", [])
            if "nbval-ignore-output" in tags or ("remove-cell" in tags and not cell.outputs):
                continue  # ignored, or a hidden claim cell (its claims are compared by `bands`)
            versions = [cell.outputs] + [run[number].outputs for run in runs
                                         if number < len(run)]
            largest = {"percent": 0.0, "other": 0.0}
            words = []
            for a in range(len(versions)):
                for b in range(a + 1, len(versions)):
                    found = differences(versions[a], versions[b])
                    if found["words"]:
                        words.append(found["words"])
                    for key in largest:
                        largest[key] = max(largest[key], found[key])
            if words:  # a pair whose words differ adds nothing to the tolerance: listed
                print(f"{path.stem} cell {number}: WORDS in {len(words)} pair(s): "
                      f"{words[0][:300]}")
            if largest["percent"] or largest["other"]:
                wanted = {}
                if largest["other"]:
                    wanted["atol"] = _round_up(2 * largest["other"])
                if largest["percent"]:
                    wanted["atol_percent"] = _round_up(2 * largest["percent"])
                    wanted.setdefault("atol", 0.0)
                old = cell.metadata.get("tolerance", {})
                print(f"{path.stem} cell {number}: max |Δ| {largest['other']:.3g}, of a "
                      f"percentage {largest['percent']:.3g} -> {wanted}"
                      + (f" (declared {old})" if old else ""))
                if args.write and any(float(old.get(k, 0)) < v for k, v in wanted.items()):
                    cell.metadata["tolerance"] = {**wanted, "why": (
                        f"numbers moved by at most {largest['other']:.3g} (percentages by "
                        f"{largest['percent']:.3g} points) between the stored run and "
                        f"{len(runs)} runs of utils.variants ({', '.join(f.name for f in folders)}"
                        "); twice that")}
                    changed = True
        if changed:
            nbformat.write(stored, path)
    return 0


def other_kernels() -> str:
    """A kernel setting that differs from this machine's own: AVX2 on an AVX-512 machine, the
    portable kernels elsewhere."""
    import torch

    return "avx2" if torch.backends.cpu.get_cpu_capability() == "AVX512" else "default"


def env(args) -> int:
    """Shell lines that force a kernel setting: ``eval "$(python -m utils.variants env --other)"``
    (what ``.ci/run`` does for its second pass)."""
    name = other_kernels() if args.other else args.kernels
    print(f"# kernels: {name}")
    for key, value in KERNELS[name].items():
        print(f"export {key}={value}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    runner = commands.add_parser("run", help="execute the chapters under other settings")
    runner.add_argument("--out", required=True)
    runner.add_argument("--kernels", choices=["default", "avx2", "avx512"], default=None,
                        help="force ATEN_CPU_CAPABILITY (default: the machine's own)")
    runner.add_argument("--seed-offset", type=int, default=0)
    runner.add_argument("--jobs", type=int, default=2)
    runner.add_argument("--chapter", action="append", help="e.g. 01 or 01_fixed_context_bottleneck")
    proposer = commands.add_parser("bands", help="a band for every claim that moved")
    proposer.add_argument("folders", nargs="+")
    proposer.add_argument("--chapter", action="append")
    writer = commands.add_parser("tolerances", help="a tolerance for every cell that moved")
    writer.add_argument("folders", nargs="+")
    writer.add_argument("--chapter", action="append")
    writer.add_argument("--write", action="store_true", help="into the chapters' metadata")
    shell = commands.add_parser("env", help="export lines that force a kernel setting")
    shell.add_argument("--kernels", choices=sorted(KERNELS), default="avx2")
    shell.add_argument("--other", action="store_true", help="one that differs from the machine's")
    args = parser.parse_args(argv)
    return {"run": run, "bands": bands, "tolerances": tolerances,
            "env": env}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
