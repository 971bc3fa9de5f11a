"""Uncertainty: a paired bootstrap over examples, and McNemar's exact test.

Every metric with an interval is written as a function of column means: per-example values
``X`` of shape (N, D) and a ``reduce`` that maps the (D,) means to the metric (accuracy is the
mean of a 0/1 column; the error-overlap Jaccard index is the ratio of two means). One
bootstrap replicate draws N example indices with replacement, the same draw for teacher and
student (paired), and applies ``reduce`` to the resampled means. The interval is the
percentile interval of the replicates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

#: Bootstrap replicates drawn at once; bounds the (replicates, N) count matrix.
_CHUNK_CELLS = 1 << 22


@dataclass(frozen=True)
class MeanStatistic:
    """A metric as ``reduce(mean of each column of columns)``.

    ``reduce`` takes an array of shape (..., D) and returns shape (...): it is applied to the
    full-data means for the point value and to every replicate's means at once.
    """

    columns: np.ndarray
    reduce: Callable[[np.ndarray], np.ndarray]

    def value(self) -> float:
        """The metric on the full data."""
        return float(self.reduce(self.columns.mean(axis=0)))


def bootstrap_counts(n: int, replicates: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """The bootstrap's draws as counts: chunks ``(start, counts)`` where row r of the
    (rows, n) ``counts`` is how often each of the n rows was drawn in replicate start + r.

    Replicate b draws n row indices uniformly with replacement from
    ``numpy.random.default_rng(seed)``; the draws depend only on (n, replicates, seed), so
    every statistic bootstrapped with the same seed on the same examples sees the same
    resamples.
    """
    rng = np.random.default_rng(seed)
    step = max(1, _CHUNK_CELLS // n)
    for start in range(0, replicates, step):
        rows = min(step, replicates - start)
        draws = rng.integers(0, n, size=(rows, n))
        counts = np.bincount(
            (draws + n * np.arange(rows)[:, None]).ravel(), minlength=rows * n
        ).reshape(rows, n)
        yield start, counts


def bootstrap_means(columns: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """(replicates, D) column means of ``replicates`` resamples of the N rows of ``columns``
    (the draws of :func:`bootstrap_counts`)."""
    columns = np.asarray(columns, dtype=np.float64)
    if columns.ndim != 2 or len(columns) == 0:
        raise ValueError(f"expected a non-empty (N, D) matrix, got shape {columns.shape}")
    n = len(columns)
    out = np.empty((replicates, columns.shape[1]), dtype=np.float64)
    for start, counts in bootstrap_counts(n, replicates, seed):
        out[start : start + len(counts)] = counts @ columns / n
    return out


def interval(replicates: np.ndarray, confidence: float) -> tuple[float, float]:
    """The percentile interval of bootstrap replicates: the (1 - c)/2 and (1 + c)/2 quantiles.

    Replicates where the metric is undefined (NaN) are left out.

    >>> [round(x, 9) for x in interval(np.arange(101.0), 0.9)]
    [5.0, 95.0]
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    values = np.asarray(replicates, dtype=np.float64)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("the metric is undefined on every bootstrap resample")
    tail = (1 - confidence) / 2
    lo, hi = np.quantile(values, [tail, 1 - tail])
    return float(lo), float(hi)


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test on paired correctness.

    ``n10``: examples the teacher gets right and the student wrong (the student's losses);
    ``n01``: the teacher wrong and the student right (its gains). Under the null hypothesis
    that both models are equally accurate, each discordant example is a loss with probability
    ½, so p = min(1, 2 · P[Binomial(n01 + n10, ½) ≤ min(n01, n10)]); p = 1 with no
    discordant example.
    """

    n01: int
    n10: int
    p_value: float

    def to_json(self) -> dict[str, float | int]:
        return {"n01": self.n01, "n10": self.n10, "p_value": self.p_value}


def binomial_half_cdf(k: int, n: int) -> float:
    """P[Binomial(n, ½) ≤ k], summed in log space (exact to float precision for any n).

    >>> round(binomial_half_cdf(1, 3), 12)  # (1 + 3) / 8
    0.5
    """
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)
    ]
    top = max(log_terms)
    log_sum = top + math.log(math.fsum(math.exp(t - top) for t in log_terms))
    return min(1.0, math.exp(log_sum - n * math.log(2)))


def mcnemar(right_teacher: np.ndarray, right_student: np.ndarray) -> McNemar:
    """McNemar's exact test on two boolean correctness vectors over the same examples.

    >>> mcnemar(np.array([1, 1, 1, 0], bool), np.array([0, 0, 1, 0], bool))
    McNemar(n01=0, n10=2, p_value=0.5)
    """
    right_teacher = np.asarray(right_teacher, dtype=bool)
    right_student = np.asarray(right_student, dtype=bool)
    n10 = int(np.sum(right_teacher & ~right_student))
    n01 = int(np.sum(~right_teacher & right_student))
    p = min(1.0, 2 * binomial_half_cdf(min(n01, n10), n01 + n10))
    return McNemar(n01=n01, n10=n10, p_value=p)
