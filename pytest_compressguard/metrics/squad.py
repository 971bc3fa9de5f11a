"""SQuAD 2.0 scoring exactly as the official evaluation script (``evaluate-v2.0.py``) does it.

- An answer is normalised: lower case, punctuation removed, the articles a/an/the removed,
  white space collapsed.
- Exact match and token F1 of a prediction are each the maximum over the gold answers whose
  normalised text is not empty; a question without such an answer (unanswerable) has the one
  gold answer ``""``, and then only the empty prediction scores 1.
- F1 between two answers when one of them has no tokens: 1 when both have none, else 0.
- ``best_exact``/``best_f1``: the best score reachable by abstaining on every question whose
  no-answer probability is above a threshold, and that threshold (``find_best_thresh``).
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Sequence
from typing import Any

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official normalisation)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def answer_tokens(text: str) -> list[str]:
    """The normalised answer's tokens ([] for an empty answer)."""
    return normalize_answer(text).split() if text else []


def exact(gold: str, prediction: str) -> int:
    """1 when the normalised texts are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(prediction))


def f1(gold: str, prediction: str) -> float:
    """Token F1 of the normalised texts; with an empty side, 1 when both are empty, else 0."""
    gold_tokens, predicted = answer_tokens(gold), answer_tokens(prediction)
    if not gold_tokens or not predicted:
        return float(gold_tokens == predicted)
    same = sum((collections.Counter(gold_tokens) & collections.Counter(predicted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def gold_answers(answers: Sequence[str]) -> list[str]:
    """The gold answers scored against: those with a non-empty normalised text, or ``[""]``
    for an unanswerable question."""
    kept = [a for a in answers if normalize_answer(a)]
    return kept or [""]


def scores(answers: Sequence[str], prediction: str) -> tuple[int, float]:
    """(exact match, F1) of a prediction: each the maximum over the gold answers."""
    golds = gold_answers(answers)
    return max(exact(g, prediction) for g in golds), max(f1(g, prediction) for g in golds)


def best_threshold(
    raw: Sequence[float],
    has_answer: Sequence[bool],
    predictions: Sequence[str],
    no_answer_probability: Sequence[float],
) -> tuple[float, float]:
    """(best score in percent, its threshold): questions are visited by increasing no-answer
    probability, each adding its raw score if answerable, else -1 for a non-empty prediction;
    the official ``find_best_thresh``, ties kept at the first."""
    current = best = float(sum(not h for h in has_answer))
    threshold = 0.0
    for i in sorted(range(len(raw)), key=lambda i: no_answer_probability[i]):
        if has_answer[i]:
            current += raw[i]
        elif predictions[i]:
            current -= 1
        if current > best:
            best, threshold = current, no_answer_probability[i]
    return 100.0 * best / len(raw), threshold


def evaluate(
    answers: Sequence[Sequence[str]],
    predictions: Sequence[str],
    no_answer_probability: Sequence[float] | None = None,
) -> dict[str, Any]:
    """The official script's output (percentages): ``exact``, ``f1``, ``total``, the
    ``HasAns_``/``NoAns_`` breakdowns when there are such questions, and with no-answer
    probabilities ``best_exact``, ``best_exact_thresh``, ``best_f1``, ``best_f1_thresh``."""
    if len(answers) != len(predictions) or not answers:
        raise ValueError(f"{len(answers)} questions but {len(predictions)} predictions")
    pairs = [scores(a, p) for a, p in zip(answers, predictions, strict=True)]
    has = [bool(gold_answers(a)[0]) for a in answers]
    out: dict[str, Any] = {
        "exact": 100.0 * sum(e for e, _ in pairs) / len(pairs),
        "f1": 100.0 * sum(f for _, f in pairs) / len(pairs),
        "total": len(pairs),
    }
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        chosen = [p for p, h in zip(pairs, has, strict=True) if h == wanted]
        if chosen:
            out[f"{prefix}_exact"] = 100.0 * sum(e for e, _ in chosen) / len(chosen)
            out[f"{prefix}_f1"] = 100.0 * sum(f for _, f in chosen) / len(chosen)
            out[f"{prefix}_total"] = len(chosen)
    if no_answer_probability is not None:
        for name, column in (("exact", 0), ("f1", 1)):
            raw = [float(p[column]) for p in pairs]
            score, threshold = best_threshold(raw, has, predictions, no_answer_probability)
            out[f"best_{name}"], out[f"best_{name}_thresh"] = score, threshold
    return out
