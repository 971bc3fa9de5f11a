"""BERT-Attack (Li et al., EMNLP 2020), over any model that gives class probabilities.

For one example the target classifies correctly:

1. *Word importance*: each word is replaced by the masked LM's mask token, and its importance
   is the drop of the target's gold-label probability (all words in one batched call).
2. Words are visited by descending importance (ties: leftmost first). Stopwords and words that
   are not alphabetic are not replaced.
3. *Candidates*: the masked LM's top-K words at the word's position in the unmasked sentence
   (see :class:`~pytest_compressguard.attacks.mlm.MaskedLM`), without the word itself,
   sub-word pieces, non-alphabetic tokens and stopwords.
4. *Greedy*: the word's candidates are scored in chunks of growing size (1, 2, 4, ...). The
   first candidate, in the masked LM's order, that changes the predicted label ends the attack
   (success); otherwise the candidate that lowers the gold probability most is kept if it
   lowers it. Queries are counted as a one-by-one loop would count them.
5. At most ``floor(max_perturb * words)`` words change, and at most ``max_queries`` target
   calls are made (counted one per text, including the 1 + ``words`` importance texts); the
   attack fails when either budget runs out.

Many examples are attacked in lockstep: each round, the texts that every running attack needs
scored go to the target in one call, so the per-call cost is shared across examples.

A text pair (NLI, paraphrase) is attacked on one side (``AttackSettings.side``): the words
and the masked LM's candidates come from that text alone, the target always sees the whole
pair, and the other text is never changed.

Examples the target already gets wrong are not attacked ("skipped"): they count as errors of
the model before and after, as in TextAttack's accounting. Everything is deterministic: the
same models and texts give the same adversarial texts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from ..models.base import Text
from .stopwords import STOPWORDS

RECIPES = ("bert-attack",)
#: The texts of a pair the attack may change.
SIDES = ("first", "second")
#: A word's candidates are scored in growing chunks (1, 2, 4, ...): the first flip ends
#: the attack with few texts scored past it, and a word with no flip still takes few rounds.
_FIRST_CHUNK = 1
#: At most this many attacks run in lockstep, their texts joined into one target call per round.
_WINDOW = 64
_TOKEN = re.compile(r"\S+")
_CORE = re.compile(r"[^\W_](?:.*[^\W_])?", re.DOTALL)

Predict = Callable[[Sequence[str]], np.ndarray]


class SubstituteSource(Protocol):
    """Where candidates come from: the masked LM (BERT-Attack)."""

    mask_token: str

    def substitutes(self, text: str, spans: Sequence[tuple[int, int]], k: int) -> list[list[str]]:
        """Up to ``k`` ranked replacement words for each character span of ``text``."""
        ...


@dataclass(frozen=True)
class AttackSettings:
    """The knobs of the attack; all of them are part of the cache key."""

    recipe: str = "bert-attack"
    candidates: int = 48
    max_perturb: float = 0.4
    max_queries: int | None = None
    #: the text of a pair that may change ("first" or "second"; the hypothesis by default)
    side: str = "second"

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ValueError(f"unknown attack recipe {self.recipe!r}; expected one of {RECIPES}")
        if self.side not in SIDES:
            raise ValueError(f"side must be first or second, got {self.side!r}")
        if self.candidates < 1:
            raise ValueError("the number of candidates must be at least 1")
        if not 0 < self.max_perturb <= 1:
            raise ValueError("max_perturb must be in (0, 1]")
        if self.max_queries is not None and self.max_queries < 1:
            raise ValueError("max_queries must be at least 1")


@dataclass(frozen=True)
class ExampleResult:
    """The attack on one example. Labels are class indices of the attacked model."""

    index: int
    original: str
    adversarial: str
    label: int
    before: int
    after: int
    words: int
    words_changed: int
    queries: int
    status: str  # "success" | "failed" | "skipped"
    changes: tuple[tuple[str, str], ...] = field(default=())
    #: For a text pair: the text that was not attacked, and which side was ("first"/"second").
    context: str | None = None
    side: str | None = None

    @property
    def success(self) -> bool:
        return self.status == "success"

    def whole(self, text: str) -> Text:
        """``text`` (the original or the adversarial) as the model's input: with a pair's
        untouched text on its side."""
        return joined(text, self.context, self.side)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["changes"] = [list(c) for c in self.changes]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExampleResult:
        return cls(**{**data, "changes": tuple(tuple(c) for c in data["changes"])})


def joined(text: str, context: str | None, side: str | None) -> Text:
    """The model's input for an attacked ``text``: the text itself, or with a pair's
    untouched ``context``, the pair with ``text`` on ``side``."""
    if context is None:
        return text
    return (context, text) if side == "second" else (text, context)


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


def attack_example(
    predict: Predict,
    source: SubstituteSource,
    text: str,
    label: int,
    settings: AttackSettings,
    index: int = 0,
) -> ExampleResult:
    """BERT-Attack on one text whose gold label is ``label`` (see the module docstring)."""
    return attack(predict, source, [text], [label], settings, indices=[index])[0]


def attack(
    predict: Predict,
    source: SubstituteSource,
    texts: Sequence[str],
    labels: Sequence[int],
    settings: AttackSettings,
    *,
    indices: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    contexts: Sequence[str] | None = None,
) -> list[ExampleResult]:
    """Attack every text; ``progress(done, successes)`` is called as each attack ends.

    With ``contexts``, ``texts[n]`` is one side of a pair (``settings.side``) and
    ``contexts[n]`` the other, untouched side: ``predict`` is given whole pairs.

    Up to :data:`_WINDOW` attacks run in lockstep: each round joins the texts every running
    attack asks for into one ``predict`` call, so the per-call cost is shared. Each attack is
    the same sequence of steps as on its own; results come back in input order.
    """
    labels = [int(y) for y in labels]
    if len(labels) != len(texts) or (contexts is not None and len(contexts) != len(texts)):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels (or contexts)")

    def whole(n: int, text: str) -> Text:
        return joined(text, None if contexts is None else contexts[n], settings.side)

    results: list[ExampleResult | None] = [None] * len(texts)
    running: dict[int, tuple[_Steps, list[str]]] = {}
    waiting = iter(range(len(texts)))
    done = successes = 0

    def advance(n: int, steps: _Steps, reply: np.ndarray | None) -> None:
        nonlocal done, successes
        try:
            request = next(steps) if reply is None else steps.send(reply)
        except StopIteration as stop:
            running.pop(n, None)
            results[n] = stop.value
            done, successes = done + 1, successes + stop.value.success
            if progress is not None:
                progress(done, successes)
        else:
            running[n] = (steps, request)

    while True:
        while len(running) < _WINDOW and (n := next(waiting, None)) is not None:
            index = int(indices[n]) if indices is not None else n
            context = None if contexts is None else contexts[n]
            advance(n, _steps(source, texts[n], labels[n], settings, index, context), None)
        if not running:
            break
        order = sorted(running)
        batch = [whole(n, t) for n in order for t in running[n][1]]
        scores = np.asarray(predict(batch))
        start = 0
        for n in order:
            steps, request = running[n]
            advance(n, steps, scores[start : start + len(request)])
            start += len(request)
    return [r for r in results if r is not None]


_Steps = Generator[list[str], np.ndarray, ExampleResult]


def _steps(
    source: SubstituteSource,
    text: str,
    label: int,
    settings: AttackSettings,
    index: int,
    context: str | None = None,
) -> _Steps:
    """The attack on one text as a generator: it yields the texts it needs scored and is sent
    their class probabilities (one row per text); it returns the result."""
    spans = words(text)
    original = [text[a:b] for a, b in spans]

    def result(
        adversarial: str, after: int, status: str, changed: dict[int, str], queries: int
    ) -> ExampleResult:
        return ExampleResult(
            index=index,
            original=text,
            adversarial=adversarial,
            label=label,
            before=before,
            after=after,
            words=len(spans),
            words_changed=len(changed),
            queries=queries,
            status=status,
            changes=tuple((original[i], changed[i]) for i in sorted(changed)),
            context=context,
            side=None if context is None else settings.side,
        )

    probs = (yield [text])[0]
    before = int(probs.argmax())
    queries = 1
    if before != label:
        return result(text, before, "skipped", {}, queries)
    budget = math.floor(settings.max_perturb * len(spans) + 1e-9)
    if budget < 1 or not any(attackable(w) for w in original):
        return result(text, before, "failed", {}, queries)
    masked = [render(text, spans, {i: source.mask_token}) for i in range(len(spans))]
    importance = probs[label] - (yield masked)[:, label]
    queries += len(masked)
    order = np.argsort(-importance, kind="stable")
    candidates = source.substitutes(text, spans, settings.candidates)
    current = float(probs[label])
    changed: dict[int, str] = {}
    for i in order:
        if len(changed) >= budget:
            break
        word = original[i]
        if not attackable(word):
            continue
        options = [_cased(c, word) for c in candidates[i] if usable(c, word)]
        options = list(dict.fromkeys(options))
        if settings.max_queries is not None:
            options = options[: max(settings.max_queries - queries, 0)]
        if not options:
            if settings.max_queries is not None and queries >= settings.max_queries:
                break
            continue
        trial = [render(text, spans, {**changed, int(i): c}) for c in options]
        parts, start, size = [], 0, _FIRST_CHUNK
        while start < len(trial):
            scores = yield trial[start : start + size]
            predicted = scores.argmax(axis=1)
            fooled = np.flatnonzero(predicted != label)
            if len(fooled):
                first = int(fooled[0])
                queries += start + first + 1
                changed[int(i)] = options[start + first]
                return result(
                    trial[start + first], int(predicted[first]), "success", changed, queries
                )
            parts.append(scores)
            start, size = start + size, 2 * size
        scores = np.concatenate(parts)
        queries += len(options)
        best = int(np.argmin(scores[:, label]))
        if scores[best, label] < current:
            current = float(scores[best, label])
            changed[int(i)] = options[best]
    return result(render(text, spans, changed), label, "failed", changed, queries)


@dataclass(frozen=True)
class AttackRun:
    """One model's attack over the attack examples."""

    model: str
    examples: tuple[ExampleResult, ...]
    seconds: float
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "seconds": self.seconds,
            "examples": [e.to_json() for e in self.examples],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, cached: bool) -> AttackRun:
        return cls(
            model=data["model"],
            examples=tuple(ExampleResult.from_json(e) for e in data["examples"]),
            seconds=float(data["seconds"]),
            cached=cached,
        )
