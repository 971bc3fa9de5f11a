"""A causal-LM pair's outputs on documents: the per-position token scores, both models'
greedy continuations, and how a failed token metric shows the positions behind it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.metrics import tokens
from pytest_compressguard.tasks.base import PairView
from pytest_compressguard.tasks.lm_scoring import DocumentScores

#: Tokens of context shown before a scored position.
CONTEXT_TOKENS = 12
#: Positions (and documents) the JSON record lists as the worst.
RECORD_WORST = 20
#: Bin edges of the record's histogram of per-position KL, in nats (the last bin is open).
KL_BINS = (0.0, 1e-4, 1e-3, 1e-2, 0.03, 0.1, 0.3, 1.0, 3.0)

NO_LABELS = (
    "{metric} is measured on a multiple-choice eval set (one with a --choices-column); "
    "{dataset} holds documents"
)


@dataclass(frozen=True)
class DocumentPairOutputs:
    """A pair's token scores on documents (``ids``: the shared token ids of each text) and
    each model's greedy continuation of the ``eligible`` texts (rows of -1 elsewhere)."""

    scores: DocumentScores
    ids: tuple[np.ndarray, ...]
    texts: tuple[str, ...]
    eligible: np.ndarray
    teacher_generated: np.ndarray
    student_generated: np.ndarray
    decode: Callable[[Sequence[int]], str]
    prompt_tokens: int
    #: Documents have no classes.
    label_names = None

    @property
    def positions(self) -> tokens.PositionScores:
        """The per-position scores."""
        return self.scores.scores

    def same_generation(self) -> np.ndarray:
        """Per text: eligible, and both continuations the same token for token."""
        same = (self.teacher_generated == self.student_generated).all(axis=1)
        return same & self.eligible  # type: ignore[no-any-return]

    def statistics(self) -> dict[str, Any]:
        """``token_kl``, ``token_kl_p99``, ``top1_agreement``, ``perplexity_ratio`` and (when
        a text is long enough) ``generation_agreement``, each resampled by documents."""
        found: dict[str, Any] = dict(tokens.statistics(self.positions))
        found["token_kl_p99"] = tokens.PercentileStatistic(self.positions)
        if self.eligible.any():
            found["generation_agreement"] = tokens.generation_agreement(
                self.eligible, self.same_generation()
            )
        return found

    def defines(self, metric: Any) -> bool:
        """The token metrics only (the others are of multiple-choice sets)."""
        return bool(metric.lm)

    def missing(self, metric: str, dataset: str) -> str:
        """Why ``metric`` has no value on documents."""
        if metric == "generation_agreement":
            return (
                f"generation_agreement: no text of {dataset} has --prompt-tokens "
                f"({self.prompt_tokens}) tokens to continue"
            )
        return NO_LABELS.format(metric=metric, dataset=dataset)

    def right(self) -> tuple[np.ndarray, np.ndarray]:
        """Documents have no gold answer to be right on."""
        raise CompressGuardError(NO_LABELS.format(metric="correctness", dataset="the eval set"))

    def own(self) -> dict[str, float]:
        """The teacher side's perplexity on the documents."""
        return {"perplexity": float(np.exp(self.positions.nll_teacher.mean()))}

    def per_class(self, label_name: Callable[[int], str]) -> dict[str, Any]:
        """Documents have no classes."""
        raise CompressGuardError(NO_LABELS.format(metric="per-class accuracy", dataset="it"))

    def confusion(self) -> list[list[int]]:
        """Documents have no classes to confuse."""
        raise CompressGuardError(NO_LABELS.format(metric="the confusion matrix", dataset="it"))

    # -- positions in context --------------------------------------------------------------

    def locate(self, position: int) -> tuple[int, int]:
        """The document of a scored position and the offset in its ids of the token it
        predicts."""
        document = int(self.positions.document[position])
        first = int(np.searchsorted(self.positions.document, document, side="left"))
        return document, position - first + 1

    def _top(self, model: str, position: int) -> list[list[Any]]:
        ids = getattr(self.scores, f"{model}_top")[position]
        probs = getattr(self.scores, f"{model}_top_p")[position]
        return [
            [self.decode([int(t)]), round(float(p), 4)] for t, p in zip(ids, probs, strict=True)
        ]

    def position_record(self, position: int) -> dict[str, Any]:
        """A scored position: its document, the context before it, the actual next token,
        its KL and both models' top tokens with probabilities."""
        document, at = self.locate(position)
        ids = self.ids[document]
        return {
            "position": int(position),
            "document": document,
            "token_index": at,
            "context": self.decode(ids[max(0, at - CONTEXT_TOKENS) : at].tolist()),
            "token": self.decode([int(ids[at])]),
            "kl": float(self.positions.kl[position]),
            "teacher_top": self._top("teacher", position),
            "student_top": self._top("student", position),
        }

    def describe(self, c: PairView, index: int) -> str:
        """A scored position in context with both models' top tokens; an index past the
        positions is a document whose greedy continuations differ (generation_agreement)."""
        if index >= self.positions.positions:
            d = index - self.positions.positions
            prompt = self.decode(self.ids[d][: self.prompt_tokens].tolist())
            return (
                f"[text {d}] ...{prompt[-80:]!r}"
                f"\n      teacher continues: {self.decode(self.teacher_generated[d].tolist())!r}"
                f"\n      student continues: {self.decode(self.student_generated[d].tolist())!r}"
            )
        r = self.position_record(index)

        def top(pairs: list[list[Any]]) -> str:
            return ", ".join(f"{t!r} {p:.2f}" for t, p in pairs)

        cut = "..." if r["token_index"] > CONTEXT_TOKENS else ""
        return (
            f"[text {r['document']}, token {r['token_index']}] {cut}{r['context']!r} -> "
            f"{r['token']!r}  KL {r['kl']:.3f}"
            f"\n      teacher: {top(r['teacher_top'])}"
            f"\n      student: {top(r['student_top'])}"
        )

    def explain(self, c: PairView, metric: str) -> tuple[str, np.ndarray]:
        """The account of a failed token metric and the positions (or texts) behind it."""
        p = self.positions
        by_kl = np.argsort(-p.kl, kind="stable")
        if metric == "top1_agreement":
            differ = by_kl[~p.same_top1[by_kl]]
            return (
                f"the most likely next token differs at {len(differ)} of {p.positions} "
                "positions; those with the largest KL",
                differ,
            )
        if metric == "perplexity_ratio":
            gap = p.nll_student - p.nll_teacher
            worse = np.argsort(-gap, kind="stable")
            return (
                f"mean NLL of the texts' own tokens: teacher {p.nll_teacher.mean():.4f}, "
                f"student {p.nll_student.mean():.4f} nats over {p.positions} positions; the "
                "positions the student finds most surprising next to the teacher",
                worse,
            )
        if metric == "generation_agreement":
            differ = np.flatnonzero(self.eligible & ~self.same_generation())
            return (
                f"{len(differ)} of {int(self.eligible.sum())} texts with {self.prompt_tokens} "
                "tokens continue differently under greedy decoding",
                differ + p.positions,
            )
        return (
            f"KL over {p.positions} positions of {p.documents} texts: mean {p.kl.mean():.4f}, "
            f"99th percentile {tokens.kl_percentile(p):.4f}, max {p.kl.max():.4f} nats; the "
            "positions with the largest KL",
            by_kl,
        )

    def record(self, c: Any) -> dict[str, Any]:
        """The JSON record's ``tokens`` block: counts, the KL histogram, the worst positions
        in context, and the texts whose greedy continuations differ."""
        p = self.positions
        edges = np.asarray(KL_BINS)
        counts = np.bincount(np.searchsorted(edges, p.kl, side="right") - 1, minlength=len(edges))
        differ = np.flatnonzero(self.eligible & ~self.same_generation())
        return {
            "tokens": {
                "documents": p.documents,
                "positions": p.positions,
                "kl_histogram": {"edges": list(KL_BINS), "counts": counts.tolist()},
                "worst_positions": [
                    self.position_record(int(i))
                    for i in np.argsort(-p.kl, kind="stable")[:RECORD_WORST]
                ],
                "generation": {
                    "eligible": int(self.eligible.sum()),
                    "same": int(self.same_generation().sum()),
                    "different": [
                        {
                            "document": int(d),
                            "prompt": self.decode(self.ids[d][: self.prompt_tokens].tolist()),
                            "teacher": self.decode(self.teacher_generated[d].tolist()),
                            "student": self.decode(self.student_generated[d].tolist()),
                        }
                        for d in differ[:RECORD_WORST]
                    ],
                },
            }
        }
