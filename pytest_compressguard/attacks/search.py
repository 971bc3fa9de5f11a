"""The greedy word-substitution search over any model that gives class probabilities (the
shape TextAttack uses, without its dependencies), run for many examples in lockstep, and what
it gives: one model's :class:`AttackRun` and its :func:`validity` figures. The recipes,
settings and parts are in :mod:`pytest_compressguard.attacks.recipes`, the word spans in
:mod:`pytest_compressguard.attacks.spans`; both are re-exported here.

For one example the target classifies correctly:

1. *Word importance*: each word is masked (or deleted), and its importance is the drop of the
   target's gold-label probability (all words in one batched call).
2. Words are visited by descending importance (ties: leftmost first). Stopwords and words that
   are not alphabetic are not replaced.
3. *Candidates*: the recipe's substitutes for the word, without the word itself, sub-word
   pieces, non-alphabetic tokens and stopwords, then the constraints in this order, each
   counting what it rejects: known antonyms of the word (WordNet, PPDB 2.0; on by default),
   anything but a known synonym (``synonyms_only``), texts whose sentence similarity is below
   the threshold.
4. *Greedy*: ``first`` search (bert-attack) scores the candidates in chunks of growing size (1,
   2, 4, ...) and the first that changes the predicted label ends the attack; ``best`` search
   scores them all and the flip with the highest sentence similarity (the first flip without
   an encoder threshold) ends it. Without a flip, the candidate that lowers the gold
   probability most is kept if it lowers it. Queries are counted as a one-by-one loop would
   count them.
5. At most ``floor(max_perturb * words)`` words change, and at most ``max_queries`` target
   calls are made (counted one per text, including the 1 + ``words`` importance texts); the
   attack fails when either budget runs out.

A success records the cosine similarity of the sentence encoder between the original and the
adversarial text, whatever the recipe, so recipes can be compared on one scale.

Many examples are attacked in lockstep: each round, the texts that every running attack needs
scored go to the target in one call (and the texts it needs compared to the encoder in one
call), so the per-call cost is shared across examples.

A text pair (NLI, paraphrase) is attacked on one side (``AttackSettings.side``): the words and
the candidates come from that text alone, the target always sees the whole pair, and the other
text is never changed.

Examples the target already gets wrong are not attacked ("skipped"): they count as errors of
the model before and after, as in TextAttack's accounting. Everything is deterministic: the
same models and texts give the same adversarial texts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from pytest_compressguard.attacks.recipes import (
    CONSTRAINTS,
    RECIPES,
    SIDES,
    AttackSettings,
    Lexical,
    Parts,
    Predict,
    Recipe,
    Similarity,
    SubstituteSource,
)
from pytest_compressguard.attacks.spans import (
    _cased,
    attackable,
    deleted,
    render,
    usable,
    window,
    words,
)
from pytest_compressguard.core.types import ExampleResult, Text, joined

__all__ = [
    "CONSTRAINTS",
    "RECIPES",
    "SIDES",
    "AttackRun",
    "AttackSettings",
    "Lexical",
    "Parts",
    "Predict",
    "Recipe",
    "Similarity",
    "SubstituteSource",
    "attack",
    "attack_example",
    "attackable",
    "deleted",
    "render",
    "usable",
    "validity",
    "window",
    "words",
]

#: A word's candidates are scored in growing chunks (1, 2, 4, ...): the first flip ends
#: the attack with few texts scored past it, and a word with no flip still takes few rounds.
_FIRST_CHUNK = 1
#: At most this many attacks run in lockstep, their texts joined into one target call per round.
_WINDOW = 64


def attack_example(
    predict: Predict,
    parts: Parts,
    text: str,
    label: int,
    settings: AttackSettings,
    index: int = 0,
) -> ExampleResult:
    """The attack on one text whose gold label is ``label`` (see the module docstring)."""
    return attack(predict, parts, [text], [label], settings, indices=[index])[0]


def attack(
    predict: Predict,
    parts: Parts,
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
    attack asks the target for into one ``predict`` call, and the pairs they ask the encoder
    for into one ``similarity`` call. Each attack is the same sequence of steps as on its own;
    results come back in input order.
    """
    labels = [int(y) for y in labels]
    if len(labels) != len(texts) or (contexts is not None and len(contexts) != len(texts)):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels (or contexts)")
    if parts.similarity is None and settings.threshold is not None:
        raise ValueError(f"the {settings.recipe} recipe needs a sentence encoder")
    if parts.lexicon is None and (settings.antonyms or settings.synonyms_only):
        from pytest_compressguard.attacks.lexicon import lexicon

        parts = replace(parts, lexicon=lexicon())

    def whole(n: int, text: str) -> Text:
        return joined(text, None if contexts is None else contexts[n], settings.side)

    results: list[ExampleResult | None] = [None] * len(texts)
    running: dict[int, tuple[_Steps, _Request]] = {}
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
            advance(n, _steps(parts, texts[n], labels[n], settings, index, context), None)
        if not running:
            break
        pending = {n: running[n] for n in sorted(running)}  # this round's requests
        for kind in ("similarity", "predict"):
            asking = [n for n, (_, request) in pending.items() if request[0] == kind]
            if not asking:
                continue
            payloads = [pending[n][1][1] for n in asking]
            if kind == "predict":
                batch = [
                    whole(n, t) for n, texts in zip(asking, payloads, strict=True) for t in texts
                ]
                scores = np.asarray(predict(batch))
            else:
                assert parts.similarity is not None
                scores = np.asarray(parts.similarity([p for pairs in payloads for p in pairs]))
            start = 0
            for n, payload in zip(asking, payloads, strict=True):
                advance(n, pending[n][0], scores[start : start + len(payload)])
                start += len(payload)
    return [r for r in results if r is not None]


_Request = tuple[str, list[Any]]
_Steps = Generator[_Request, np.ndarray, ExampleResult]


def _steps(
    parts: Parts,
    text: str,
    label: int,
    settings: AttackSettings,
    index: int,
    context: str | None = None,
) -> _Steps:
    """The attack on one text as a generator: it yields ``("predict", texts)`` and is sent
    their class probabilities (one row per text), or ``("similarity", pairs)`` and is sent
    their encoder cosine similarities; it returns the result."""
    recipe = settings.spec
    threshold = settings.threshold
    spans = words(text)
    original = [text[a:b] for a, b in spans]
    rejected = dict.fromkeys(CONSTRAINTS, 0)
    proposed = 0

    def result(
        adversarial: str,
        after: int,
        status: str,
        changed: dict[int, str],
        queries: int,
        similarity: float | None = None,
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
            similarity=similarity,
            proposed=proposed,
            rejected=tuple(rejected.items()),
        )

    probs = (yield ("predict", [text]))[0]
    before = int(probs.argmax())
    queries = 1
    if before != label:
        return result(text, before, "skipped", {}, queries)
    budget = math.floor(settings.max_perturb * len(spans) + 1e-9)
    if budget < 1 or not any(attackable(w) for w in original):
        return result(text, before, "failed", {}, queries)
    if recipe.importance == "mask":
        probes = [render(text, spans, {i: parts.mask_token}) for i in range(len(spans))]
    else:
        probes = [deleted(text, spans, i) for i in range(len(spans))]
    importance = probs[label] - (yield ("predict", probes))[:, label]
    queries += len(probes)
    order = np.argsort(-importance, kind="stable")
    candidates = parts.source.substitutes(text, spans, settings.k)
    current = float(probs[label])
    changed: dict[int, str] = {}
    for i in order:
        if len(changed) >= budget:
            break
        word = original[i]
        if not attackable(word):
            continue
        options = list(dict.fromkeys(_cased(c, word) for c in candidates[i] if usable(c, word)))
        proposed += len(options)
        if settings.antonyms and parts.lexicon is not None:
            kept = [c for c in options if not parts.lexicon.antonym(word, c)]
            rejected["antonym"] += len(options) - len(kept)
            options = kept
        if settings.synonyms_only and parts.lexicon is not None:
            kept = [c for c in options if parts.lexicon.synonym(word, c)]
            rejected["synonym"] += len(options) - len(kept)
            options = kept
        trial = [render(text, spans, {**changed, int(i): c}) for c in options]
        similar = np.ones(len(trial))
        if threshold is not None and trial:
            reference = text if recipe.against_original else render(text, spans, changed)
            ref = window(reference, spans, int(i), recipe.window)
            pairs = [(ref, window(t, words(t), int(i), recipe.window)) for t in trial]
            similar = np.asarray((yield ("similarity", pairs)), dtype=np.float64)
            if recipe.metric == "angular":
                from pytest_compressguard.attacks.semantics import angular

                similar = angular(similar)
            keep = np.flatnonzero(similar >= threshold)
            rejected["similarity"] += len(trial) - len(keep)
            options = [options[k] for k in keep]
            trial = [trial[k] for k in keep]
            similar = similar[keep]
        if settings.max_queries is not None:
            room = max(settings.max_queries - queries, 0)
            options, trial, similar = options[:room], trial[:room], similar[:room]
        if not options:
            if settings.max_queries is not None and queries >= settings.max_queries:
                break
            continue
        scored, start, size = [], 0, _FIRST_CHUNK if recipe.search == "first" else len(trial)
        flip = None
        while start < len(trial):
            scores = yield ("predict", trial[start : start + size])
            fooled = np.flatnonzero(scores.argmax(axis=1) != label)
            scored.append(scores)
            if len(fooled):
                if recipe.search == "first":
                    flip = start + int(fooled[0])
                    queries += flip + 1
                else:  # the most similar flip; ties: the first
                    flip = start + int(fooled[np.argmax(similar[start + fooled])])
                    queries += len(trial)
                break
            start, size = start + size, 2 * size
        if flip is not None:
            changed[int(i)] = options[flip]
            after = int(np.concatenate(scored)[flip].argmax())
            cosine = None
            if parts.similarity is not None:
                cosine = float((yield ("similarity", [(text, trial[flip])]))[0])
            return result(trial[flip], after, "success", changed, queries, cosine)
        scores = np.concatenate(scored)
        queries += len(options)
        best = int(np.argmin(scores[:, label]))
        if scores[best, label] < current:
            current = float(scores[best, label])
            changed[int(i)] = options[best]
    return result(render(text, spans, changed), label, "failed", changed, queries)


def validity(examples: Sequence[ExampleResult], lexicon: Lexical) -> dict[str, Any]:
    """Whether one model's adversarial examples keep the meaning of the originals:

    - ``similarity``: the mean over successes of the encoder's cosine similarity of the
      original and the adversarial text (None without a success that recorded one);
    - ``synonym_share``: the share of the words swapped by successes that are known synonyms
      of the word they replace (None without a swap);
    - ``antonym_rejected_share``: the share of the candidates proposed over all attacked
      examples that the antonym filter rejected (None without a candidate);
    - ``similarity_rejected_share``: the same for the sentence-similarity constraint;
    - ``successes`` and ``swaps``: the counts the shares are of.
    """
    won = [e for e in examples if e.success]
    sims = [e.similarity for e in won if e.similarity is not None]
    swaps = [pair for e in won for pair in e.changes]
    proposed = sum(e.proposed for e in examples)
    rejected: dict[str, int] = dict.fromkeys(CONSTRAINTS, 0)
    for e in examples:
        for name, n in e.rejected:
            rejected[name] += n
    return {
        "successes": len(won),
        "similarity": float(np.mean(sims)) if sims else None,
        "swaps": len(swaps),
        "synonym_share": (
            sum(lexicon.synonym(a, b) for a, b in swaps) / len(swaps) if swaps else None
        ),
        "antonym_rejected_share": rejected["antonym"] / proposed if proposed else None,
        "similarity_rejected_share": rejected["similarity"] / proposed if proposed else None,
    }


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
