"""Load a real parallel corpus in the tab-separated format of Tatoeba / manythings.org (deu.txt).

Each line is ``English<TAB>German[<TAB>attribution]``. Download such a file yourself and pass
its path; the book never downloads anything.

>>> corpus = load_tsv_pairs("deu.txt", max_len=20)          # doctest: +SKIP
>>> len(corpus.pairs), corpus.skipped                        # doctest: +SKIP
(240512, {'blank': 0, 'empty side': 3, 'too long': 1277})
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..validation import whole_number
from .pair import Pair

_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def tokenize(text: str) -> tuple:
    """Lower-case words and punctuation marks: "Hi, Tom!" -> ("hi", ",", "tom", "!")."""
    return tuple(_TOKEN.findall(text.lower()))


@dataclass
class Corpus:
    """The pairs read from a file, and how many lines were skipped, by reason."""

    pairs: list
    skipped: dict = field(default_factory=lambda: {"blank": 0, "empty side": 0, "too long": 0})

    def __len__(self) -> int:
        return len(self.pairs)

    def __iter__(self):
        return iter(self.pairs)

    def __getitem__(self, index):
        return self.pairs[index]


def _check_limit(name: str, value) -> None:
    if value is not None:
        whole_number(name, value)


def load_tsv_pairs(path, max_pairs: int | None = None, max_len: int | None = None) -> Corpus:
    """Sentence pairs from a tab-separated UTF-8 file, tokenized; pairs have no gold alignment.

    ``max_len`` skips pairs whose English side has more tokens; ``max_pairs`` stops early.
    A byte-order mark at the start of the file is ignored. Skipped lines are counted in
    ``Corpus.skipped``; a line without a tab, or with bytes that are not UTF-8, is an error
    that names the file and the line.
    """
    _check_limit("max_pairs", max_pairs)
    _check_limit("max_len", max_len)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no corpus file at {path}; download one (e.g. deu.txt) first")
    corpus = Corpus([])
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid UTF-8 (byte {error.start} of the "
                                 "line); save the file as UTF-8") from None
            if not line.strip():
                corpus.skipped["blank"] += 1
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(f"{path}:{number}: expected 'English<TAB>German', got {line!r}")
            src, tgt = tokenize(fields[0]), tokenize(fields[1])
            if not src or not tgt:
                corpus.skipped["empty side"] += 1
            elif max_len is not None and len(src) > max_len:
                corpus.skipped["too long"] += 1
            else:
                corpus.pairs.append(Pair(src, tgt, ()))
                if max_pairs is not None and len(corpus.pairs) >= max_pairs:
                    break
    return corpus
