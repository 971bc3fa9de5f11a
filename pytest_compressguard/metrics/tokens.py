"""Token-level fidelity of a causal language model to its original, on documents.

Every next-token prediction of a document is a *position*: a text of n tokens has n - 1. At
each position both models give a distribution over the whole vocabulary (float64
log-softmax of their logits); :func:`position_scores` reduces one batch of positions to four
numbers each, so no (positions x vocabulary) array outlives its batch:

- ``kl``: KL(P_teacher || P_student) in nats;
- ``same_top1``: whether both models' most likely token is the same (ties: the lowest id);
- ``nll_teacher``, ``nll_student``: each model's negative log-likelihood of the text's own
  next token.

The metrics pool every position of every document. Their intervals resample *documents*
(positions of one text are not independent): per document the sums of the four columns and
its number of positions are the rows of a :class:`~pytest_compressguard.metrics.stats.
MeanStatistic`, so a replicate's pooled mean is a ratio of resampled means. The 99th
percentile of KL is not a function of means; its replicates are the weighted percentile of
the same resamples (:func:`kl_quantile_replicates`, the draws of
:func:`~pytest_compressguard.metrics.stats.bootstrap_counts`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pytest_compressguard.metrics.stats import MeanStatistic, bootstrap_counts

#: The percentile ``token_kl_p99`` reports.
KL_PERCENTILE = 99.0


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``logits`` (..., V) as float64 log-probabilities over the last axis."""
    x = np.array(logits, dtype=np.float64)  # a copy, changed in place below
    x -= x.max(axis=-1, keepdims=True)
    x -= np.log(np.exp(x).sum(axis=-1, keepdims=True))
    return x


def softmax_pair(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`log_softmax` of ``logits`` and its exponential (the probabilities), from one
    pass of exponentials."""
    x = np.array(logits, dtype=np.float64)
    x -= x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    total = e.sum(axis=-1, keepdims=True)
    x -= np.log(total)
    e /= total
    return x, e


def top_k(logp: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most likely ids of each row of (P, V) ``logp``, most likely first (ties: the
    lower id first; which of several ids tied at the k-th place are kept is unspecified), and
    their values; a partition, not a sort of the vocabulary."""
    k = min(k, logp.shape[1])
    if k < logp.shape[1]:
        chosen = np.argpartition(-logp, k - 1, axis=1)[:, :k]
    else:
        chosen = np.broadcast_to(np.arange(logp.shape[1]), logp.shape)
    values = np.take_along_axis(logp, chosen, axis=1)
    order = np.lexsort((chosen, -values), axis=1)
    return np.take_along_axis(chosen, order, axis=1), np.take_along_axis(values, order, axis=1)


@dataclass(frozen=True)
class PositionScores:
    """Per-position scores of a pair, positions of one document contiguous; ``document[i]``
    is the index of position i's text (non-decreasing)."""

    kl: np.ndarray
    same_top1: np.ndarray
    nll_teacher: np.ndarray
    nll_student: np.ndarray
    document: np.ndarray
    documents: int

    def __post_init__(self) -> None:
        sizes = {len(a) for a in (self.same_top1, self.nll_teacher, self.nll_student)}
        if sizes | {len(self.document)} != {len(self.kl)}:
            raise ValueError("every per-position array needs one entry per position")
        if len(self.kl) == 0:
            raise ValueError("no scored position: every text has fewer than two tokens")

    @property
    def positions(self) -> int:
        """The number of scored positions."""
        return len(self.kl)

    def per_document(self) -> np.ndarray:
        """(documents, 5) sums per document: positions, KL, same top-1, NLL of the teacher,
        NLL of the student (a text with no position has a row of zeros)."""
        columns = (
            np.ones(self.positions),
            self.kl,
            self.same_top1.astype(np.float64),
            self.nll_teacher,
            self.nll_student,
        )
        return np.stack(
            [np.bincount(self.document, weights=c, minlength=self.documents) for c in columns],
            axis=1,
        )


def position_scores(
    logp_teacher: np.ndarray,
    logp_student: np.ndarray,
    targets: np.ndarray,
    p_teacher: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KL, same top-1, and both NLLs of ``targets`` at P positions, from (P, V) float64
    log-probabilities (:func:`log_softmax`; ``p_teacher``: the teacher's probabilities when
    already computed)."""
    if logp_teacher.shape != logp_student.shape:
        raise ValueError(
            f"teacher and student give {logp_teacher.shape[-1]} and {logp_student.shape[-1]} "
            "log-probabilities per position: token metrics need one vocabulary"
        )
    p = np.exp(logp_teacher) if p_teacher is None else p_teacher
    kl = np.maximum(np.einsum("ij,ij->i", p, logp_teacher - logp_student), 0.0)
    same = logp_teacher.argmax(axis=1) == logp_student.argmax(axis=1)
    rows = np.arange(len(targets))
    return kl, same, -logp_teacher[rows, targets], -logp_student[rows, targets]


def _pooled(column: int, exp: bool = False) -> Callable[[np.ndarray], np.ndarray]:
    """The reduce of a pooled per-position mean: column ``column`` of the per-document sums
    over column 0 (their positions), exponentiated when ``exp``; NaN where no position was
    drawn."""

    def reduce(means: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = means[..., column] / means[..., 0]
        return np.exp(ratio) if exp else ratio

    return reduce


def statistics(scores: PositionScores) -> dict[str, MeanStatistic]:
    """``token_kl``, ``top1_agreement`` and ``perplexity_ratio`` as statistics of per-document
    sums: their values pool every position, their bootstrap resamples documents."""
    sums = scores.per_document()
    nll_gap = np.column_stack([sums[:, 0], sums[:, 4] - sums[:, 3]])
    return {
        "token_kl": MeanStatistic(sums[:, :2], _pooled(1)),
        "top1_agreement": MeanStatistic(sums[:, [0, 2]], _pooled(1)),
        "perplexity_ratio": MeanStatistic(nll_gap, _pooled(1, exp=True)),
    }


def kl_percentile(scores: PositionScores, q: float = KL_PERCENTILE) -> float:
    """The ``q``-th percentile of KL over every position (linear interpolation)."""
    return float(np.percentile(scores.kl, q))


def weighted_percentile(sorted_values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """``np.percentile(np.repeat(sorted_values, weights), q)`` (linear) without the repeat;
    ``sorted_values`` ascending, ``weights`` non-negative integers, not all zero."""
    cumulative = np.cumsum(weights)
    total = int(cumulative[-1])
    h = q / 100.0 * (total - 1)
    lo = int(np.floor(h))
    hi = min(lo + 1, total - 1)
    at_lo, at_hi = np.searchsorted(cumulative, [lo, hi], side="right")
    v_lo, v_hi = sorted_values[at_lo], sorted_values[at_hi]
    return float(v_lo + (h - lo) * (v_hi - v_lo))


def kl_quantile_replicates(
    scores: PositionScores, replicates: int, seed: int, q: float = KL_PERCENTILE
) -> np.ndarray:
    """The ``q``-th KL percentile of each bootstrap resample of the documents: a position
    counts as often as its document was drawn (the draws of ``bootstrap_counts``, so the
    resamples are those of the pooled means' intervals with the same seed)."""
    order = np.argsort(scores.kl, kind="stable")
    values, doc_of = scores.kl[order], scores.document[order]
    out = np.empty(replicates, dtype=np.float64)
    for start, counts in bootstrap_counts(scores.documents, replicates, seed):
        for r, row in enumerate(counts):
            weights = row[doc_of]
            out[start + r] = weighted_percentile(values, weights, q) if weights.any() else np.nan
    return out


def generation_agreement(eligible: np.ndarray, same: np.ndarray) -> MeanStatistic:
    """The share of eligible documents whose greedy continuations are the same token for
    token, as a statistic of one row per document (``eligible`` and ``same``: one boolean
    each; an ineligible document is a row of zeros, so a resample of documents resamples
    the eligible ones)."""
    eligible = np.asarray(eligible, dtype=bool)
    if not eligible.any():
        raise ValueError("no text has enough tokens for a prompt and a continuation")
    same = np.asarray(same, dtype=bool) & eligible
    columns = np.column_stack([eligible, same]).astype(np.float64)
    return MeanStatistic(columns, _pooled(1))


@dataclass(frozen=True)
class PercentileStatistic:
    """``token_kl_p99``: a percentile of KL over every position, whose bootstrap resamples
    documents with the draws the pooled means' intervals use (same seed, same documents)."""

    scores: PositionScores
    q: float = KL_PERCENTILE

    def value(self) -> float:
        """The percentile over every position."""
        return kl_percentile(self.scores, self.q)

    def bootstrap(self, replicates: int, seed: int) -> np.ndarray:
        """The percentile of each of ``replicates`` resamples of the documents."""
        return kl_quantile_replicates(self.scores, replicates, seed, self.q)


def choice_probabilities(logliks: list[np.ndarray] | tuple[np.ndarray, ...]) -> np.ndarray:
    """Each row's class distribution over its choices: the softmax of the choices' summed
    log-probabilities, as an (N, C) float64 array padded with zero probabilities where a row
    has fewer than C (the most) choices; a padded choice is never the top class."""
    width = max(len(row) for row in logliks)
    out = np.zeros((len(logliks), width), dtype=np.float64)
    for i, row in enumerate(logliks):
        scores = np.asarray(row, dtype=np.float64)
        out[i, : len(scores)] = np.exp(log_softmax(scores))
    return out


def top_k_kl(
    teacher_top_logp: np.ndarray, teacher_top_ids: np.ndarray, logp_student: np.ndarray
) -> np.ndarray:
    """KL(P_teacher || P_student) at P positions over the teacher's top k tokens plus one
    bucket for the rest of each distribution's mass, from the teacher's (P, k) top
    log-probabilities and ids and the student's (P, V) log-probabilities: a lower bound of
    the full KL (merging outcomes never increases KL), exact when k is the vocabulary."""
    logp = np.asarray(teacher_top_logp, dtype=np.float64)
    p = np.exp(logp)
    logq = np.take_along_axis(logp_student, teacher_top_ids.astype(np.int64), axis=1)
    rest_p = np.clip(1.0 - p.sum(axis=1), 0.0, 1.0)
    rest_q = np.clip(1.0 - np.exp(logq).sum(axis=1), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rest = np.where(rest_p > 0, rest_p * (np.log(rest_p) - np.log(rest_q)), 0.0)
    rest = np.where(np.isfinite(rest), rest, 0.0)  # rounding left the student no rest mass
    kl = (p * (logp - logq)).sum(axis=1) + rest
    return np.maximum(kl, 0.0)  # type: ignore[no-any-return]
