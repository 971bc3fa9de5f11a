"""Antonym and synonym pairs for word-substitution attacks (see NOTICE for their sources).

Pairs are read case-folded and made symmetric; a word paired with itself is dropped. A word's
synonyms keep the order in which the file first lists them, so every search over them is
deterministic.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

ANTONYM_FILES = ("wordnet_antonyms.txt.gz", "ppdb_antonyms.txt.gz")
SYNONYM_FILES = ("ppdb_synonyms.txt.gz",)


def pairs(lines: Iterable[str]) -> dict[str, dict[str, None]]:
    """Each word's partners (an insertion-ordered set) from lines ``word other``."""
    found: dict[str, dict[str, None]] = {}
    for line in lines:
        parts = line.split()
        if len(parts) != 2:
            continue
        a, b = parts[0].lower(), parts[1].lower()
        if a == b:
            continue
        found.setdefault(a, {})[b] = None
        found.setdefault(b, {})[a] = None
    return found


def _read(names: tuple[str, ...]) -> dict[str, dict[str, None]]:
    lines: list[str] = []
    folder = resources.files(__name__)
    for name in names:
        with gzip.open(folder.joinpath(name).open("rb"), "rt", encoding="utf-8") as f:
            lines += f.read().splitlines()
    return pairs(lines)


@dataclass(frozen=True)
class Lexicon:
    """Symmetric antonym and synonym relations over lower-case words."""

    antonyms: Mapping[str, Mapping[str, None]]
    synonyms: Mapping[str, Mapping[str, None]]

    def antonym(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are a known antonym pair (any case)."""
        return b.lower() in self.antonyms.get(a.lower(), {})

    def synonym(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` are a known synonym pair (any case)."""
        return b.lower() in self.synonyms.get(a.lower(), {})

    def synonyms_of(self, word: str) -> list[str]:
        """The known synonyms of ``word`` (any case), in the order the data lists them."""
        return list(self.synonyms.get(word.lower(), {}))


class SynonymSource:
    """The ``synonym`` recipe's substitutes: each word's known synonyms, in the data's order."""

    def __init__(self, lexicon: Lexicon) -> None:
        self.lexicon = lexicon

    def substitutes(self, text: str, spans: Sequence[tuple[int, int]], k: int) -> list[list[str]]:
        """Up to ``k`` known synonyms of each word (character span) of ``text``."""
        return [self.lexicon.synonyms_of(text[a:b])[:k] for a, b in spans]


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon, read once per process (~0.2 s)."""
    return Lexicon(antonyms=_read(ANTONYM_FILES), synonyms=_read(SYNONYM_FILES))
