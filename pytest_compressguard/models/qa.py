"""Extractive question answering: context windows and answers, as transformers' ``run_qa``
example (``utils_qa.postprocess_qa_predictions`` with ``version_2_with_negative``) computes
them.

Windows: question and context are encoded as a pair (question first with right padding,
context first otherwise), the context truncated into windows of ``max_length`` tokens that
overlap by ``doc_stride`` tokens; each token's character offsets are kept for context tokens
and dropped (None) for the question, the special tokens and the padding.

Answers, per question over all its windows (logits over each window's own tokens: run_qa pads
every window to ``max_length`` and lets the padding compete for the n-best places, where it can
only crowd out real candidates; that is the one difference):

- candidates: in each window, every pair of the ``n_best`` highest start logits and the
  ``n_best`` highest end logits whose tokens are both in the context, with start <= end and at
  most ``max_answer_length`` tokens; a candidate's score is start logit + end logit, its text the
  context between the start token's first and the end token's last character;
- the null score is the smallest [CLS] start + end logit over the windows;
- the ``n_best`` best candidates and the null answer (text "") get probabilities by a softmax of
  their scores; run_qa's quirk is kept: when the null answer is the only one left, a
  placeholder ``"empty"`` of score 0 is added (and is answered unless the null odds against
  it exceed the threshold);
- ``null_odds`` = null score - the best non-null candidate's score; the answer is "" (the model
  abstains) when ``null_odds > null_threshold``, else the best non-null candidate's text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_compressguard.core.types import Answer, Question

#: The run_qa defaults.
QA_MAX_LENGTH = 384
DOC_STRIDE = 128
N_BEST = 20
MAX_ANSWER_LENGTH = 30
NULL_THRESHOLD = 0.0


@dataclass(frozen=True)
class Windows:
    """The windows of some questions: the tokenizer's features (one row per window), the
    question each window belongs to, and each token's context offsets (None off the context)."""

    features: dict[str, list[list[int]]]
    question: list[int]
    offsets: list[list[tuple[int, int] | None]]

    def __len__(self) -> int:
        return len(self.question)


def windows(
    tokenizer: Any,
    questions: Sequence[Question],
    *,
    max_length: int = QA_MAX_LENGTH,
    doc_stride: int = DOC_STRIDE,
) -> Windows:
    """Each question's context cut into overlapping windows, as run_qa prepares evaluation
    features (question stripped of leading white space)."""
    right = tokenizer.padding_side == "right"
    asked = [q.question.lstrip() for q in questions]
    contexts = [q.context for q in questions]
    encoded = tokenizer(
        asked if right else contexts,
        contexts if right else asked,
        truncation="only_second" if right else "only_first",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    context_id = 1 if right else 0
    offsets = []
    for i, row in enumerate(encoded["offset_mapping"]):
        ids = encoded.sequence_ids(i)
        offsets.append(
            [tuple(o) if s == context_id else None for o, s in zip(row, ids, strict=True)]
        )
    features = {
        name: encoded[name]
        for name in ("input_ids", "attention_mask", "token_type_ids")
        if name in encoded
    }
    return Windows(features, list(encoded["overflow_to_sample_mapping"]), offsets)


def answers(
    questions: Sequence[Question],
    found: Windows,
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    *,
    n_best: int = N_BEST,
    max_answer_length: int = MAX_ANSWER_LENGTH,
    null_threshold: float = NULL_THRESHOLD,
) -> list[Answer]:
    """Each question's answer from the start and end logits of its windows (each window's
    logits over its own tokens; see the module docstring)."""
    by_question: list[list[int]] = [[] for _ in questions]
    for w, q in enumerate(found.question):
        by_question[q].append(w)
    out = []
    for q, question in enumerate(questions):
        null: tuple[float, float, float] | None = None  # (score, start logit, end logit)
        candidates: list[tuple[float, float, float, tuple[int, int]]] = []
        for w in by_question[q]:
            starts = np.asarray(start_logits[w], dtype=np.float64)
            ends = np.asarray(end_logits[w], dtype=np.float64)
            offsets = found.offsets[w]
            score = starts[0] + ends[0]
            if null is None or null[0] > score:
                null = (score, starts[0], ends[0])
            best_starts = np.argsort(starts, kind="stable")[-1 : -n_best - 1 : -1]
            best_ends = np.argsort(ends, kind="stable")[-1 : -n_best - 1 : -1]
            for s in best_starts:
                for e in best_ends:
                    if s >= len(offsets) or e >= len(offsets):
                        continue
                    if offsets[s] is None or offsets[e] is None:
                        continue
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    span = (offsets[s][0], offsets[e][1])  # type: ignore[index]
                    candidates.append((starts[s] + ends[e], starts[s], ends[e], span))
        out.append(_answer(question.context, candidates, null, n_best, null_threshold))
    return out


def _answer(
    context: str,
    candidates: list[tuple[float, float, float, tuple[int, int]]],
    null: tuple[float, float, float] | None,
    n_best: int,
    null_threshold: float,
) -> Answer:
    """run_qa's choice among one question's candidates (see the module docstring)."""
    assert null is not None  # every question has at least one window
    null_answer = (null[0], null[1], null[2], "", True)
    ranked = [(score, a, b, context[s:e], False) for score, a, b, (s, e) in candidates]
    ranked = sorted([*ranked, null_answer], key=lambda c: c[0], reverse=True)[:n_best]
    if not any(c[4] for c in ranked):
        ranked.append(null_answer)
    if len(ranked) == 1 and ranked[0][3] == "":
        ranked.insert(0, (0.0, 0.0, 0.0, "empty", False))
    scores = np.array([c[0] for c in ranked])
    probabilities = np.exp(scores - scores.max())
    probabilities /= probabilities.sum()
    best = next(c for c in ranked if c[3] != "")
    null_odds = float(null[0] - best[1] - best[2])
    text = "" if null_odds > null_threshold else best[3]
    return Answer(
        text,
        null_odds,
        tuple((c[3], float(p)) for c, p in zip(ranked, probabilities, strict=True)),
    )
