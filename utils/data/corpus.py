"""Load a real parallel corpus in the tab-separated format of Tatoeba / manythings.org (deu.txt).

Each line is ``English<TAB>German[<TAB>attribution]``. Download such a file yourself and pass
its path; the book never downloads anything.
"""
from __future__ import annotations

import re
from pathlib import Path

from .minigerman import Pair

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> tuple:
    """Lower-case words and punctuation marks: "Hi, Tom!" -> ("hi", ",", "tom", "!")."""
    return tuple(_TOKEN.findall(text.lower()))


def load_tsv_pairs(path, max_pairs: int | None = None, max_len: int | None = None) -> list:
    """Sentence pairs from a tab-separated file, tokenized; pairs have no gold alignment.

    ``max_len`` drops pairs whose English side is longer; ``max_pairs`` stops early.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no corpus file at {path}; download one (e.g. deu.txt) first")
    pairs = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"{path}:{number}: expected 'English<TAB>German', got {line!r}")
            src, tgt = tokenize(fields[0]), tokenize(fields[1])
            if not src or not tgt or (max_len is not None and len(src) > max_len):
                continue
            pairs.append(Pair(src, tgt, ()))
            if max_pairs is not None and len(pairs) >= max_pairs:
                break
    return pairs
