"""The words of a text as character spans, and the texts an attack builds from them:
replaced, deleted or windowed words, and which words and substitutes qualify."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from pytest_compressguard.attacks.stopwords import STOPWORDS

_TOKEN = re.compile(r"\S+")
_CORE = re.compile(r"[^\W_](?:.*[^\W_])?", re.DOTALL)


def words(text: str) -> list[tuple[int, int]]:
    """Character spans of the words of ``text``: each whitespace-separated token without its
    leading and trailing punctuation; tokens with no letter or digit are not words."""
    spans = []
    for token in _TOKEN.finditer(text):
        core = _CORE.search(token.group())
        if core is not None:
            spans.append((token.start() + core.start(), token.start() + core.end()))
    return spans


def render(text: str, spans: Sequence[tuple[int, int]], replace: dict[int, str]) -> str:
    """``text`` with the words at the given span indices replaced."""
    out, last = [], 0
    for i in sorted(replace):
        start, end = spans[i]
        out += [text[last:start], replace[i]]
        last = end
    out.append(text[last:])
    return "".join(out)


def attackable(word: str) -> bool:
    """Whether a word may be replaced: alphabetic and not a stopword."""
    return word.isalpha() and word.lower() not in STOPWORDS


def usable(candidate: str, word: str) -> bool:
    """Whether a substitute may replace ``word``: a whole alphabetic word, not a stopword,
    not the word itself."""
    return (
        not candidate.startswith("##")
        and candidate.isalpha()
        and candidate.lower() not in STOPWORDS
        and candidate.lower() != word.lower()
    )


def _cased(candidate: str, word: str) -> str:
    return candidate.capitalize() if word[:1].isupper() and word[1:].islower() else candidate


def window(text: str, spans: Sequence[tuple[int, int]], at: int, size: int | None) -> str:
    """The part of ``text`` from the first to the last of the ``size`` words around word
    ``at`` (TextAttack's window: ``(size - 1) / 2`` words before, the rest after, shifted
    inside the text at its ends); the whole text when ``size`` is None or the text shorter."""
    if size is None or len(spans) <= size:
        return text
    half = (size - 1) / 2
    if at - half < 0:
        first, last = 0, size
    elif at + half >= len(spans):
        first, last = len(spans) - size, len(spans)
    else:
        first, last = at - math.ceil(half), at + math.floor(half) + 1
    return text[spans[first][0] : spans[last - 1][1]]


def deleted(text: str, spans: Sequence[tuple[int, int]], at: int) -> str:
    """``text`` without word ``at`` (and one of the spaces around it)."""
    start, end = spans[at]
    before, after = text[:start], text[end:]
    if before.endswith(" ") and (after.startswith(" ") or not after):
        before = before[:-1]
    elif not before and after.startswith(" "):
        after = after[1:]
    return before + after
