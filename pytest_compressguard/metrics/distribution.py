"""Out-of-distribution agreement with Deep Nearest Neighbors (Sun et al., ICML 2022), as
used by Rai et al. (CIKM 2023, section 5).

Each model's embeddings are L2-normalised. The bank is the model's embeddings of in-distribution
training data. A point's score is the Euclidean distance to its k-th nearest bank row. The
threshold is the 95th percentile (linear interpolation) of the scores of held-out
in-distribution data, so that 95% of it is kept; a point scoring above it is out of
distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytest_compressguard.metrics.neighbours import nearest

#: Percentile of held-out in-distribution scores used as the threshold (keeps 95% of them).
PERCENTILE = 95.0


def knn_distance(queries: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    """Euclidean distance of each L2-normalised query to its k-th nearest normalised bank row.

    For unit vectors ``|u - v| = sqrt(2 - 2 cos(u, v))``, computed from the float64 cosine.

    >>> bank = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> knn_distance(np.array([[2.0, 0.0]]), bank, 2).round(6)
    array([1.414214])
    """
    if len(bank) < k:
        raise ValueError(f"the OOD bank has {len(bank)} examples, fewer than k={k}")
    sims = nearest(queries, bank, k)[1][:, -1]
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * sims))


@dataclass(frozen=True)
class DeepKnn:
    """One model's Deep-KNN scores of in-distribution (held-out) and candidate OOD data."""

    in_scores: np.ndarray
    ood_scores: np.ndarray
    threshold: float

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask of the OOD candidates scoring above the threshold."""
        return self.ood_scores > self.threshold

    @property
    def ood_rate(self) -> float:
        """Share of the OOD candidates flagged as out of distribution."""
        return float(self.flagged.mean())

    @property
    def auroc(self) -> float:
        """AUROC of the score separating OOD candidates (positive) from in-distribution data."""
        return auroc(self.in_scores, self.ood_scores)


def deep_knn(bank: np.ndarray, held_out: np.ndarray, candidates: np.ndarray, k: int) -> DeepKnn:
    """Score held-out in-distribution data and OOD candidates against a training bank."""
    in_scores = knn_distance(held_out, bank, k)
    return DeepKnn(
        in_scores=in_scores,
        ood_scores=knn_distance(candidates, bank, k),
        threshold=float(np.percentile(in_scores, PERCENTILE)),
    )


def ood_agreement(teacher_flagged: np.ndarray, student_flagged: np.ndarray) -> float:
    """Jaccard index of the two models' OOD sets; 1.0 when both are empty.

    >>> ood_agreement(np.array([True, True, False]), np.array([True, False, False]))
    0.5
    >>> ood_agreement(np.zeros(3, bool), np.zeros(3, bool))
    1.0
    """
    t, s = np.asarray(teacher_flagged, bool), np.asarray(student_flagged, bool)
    if t.shape != s.shape:
        raise ValueError(f"shapes differ: {t.shape} vs {s.shape}")
    union = int((t | s).sum())
    return 1.0 if union == 0 else int((t & s).sum()) / union


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties counting one half (Mann-Whitney U).

    >>> auroc(np.array([0.1, 0.4]), np.array([0.4, 0.9]))
    0.875
    """
    neg, pos = np.asarray(negatives, np.float64), np.asarray(positives, np.float64)
    if len(neg) == 0 or len(pos) == 0:
        raise ValueError("AUROC needs at least one example of each kind")
    scores = np.concatenate([neg, pos])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)  # 1-based rank of the last member of each group of equal scores
    ranks = (upper - (counts - 1) / 2.0)[inverse]  # average ranks
    u = ranks[len(neg) :].sum() - len(pos) * (len(pos) + 1) / 2.0
    return float(u / (len(pos) * len(neg)))
