"""Representation-level agreement of two models' embeddings of the same examples.

- kNN agreement, Rai et al., *Compressed models are NOT miniature versions of large models*
  (CIKM 2023), section 4.
- Linear CKA, Kornblith et al., *Similarity of Neural Network Representations Revisited*
  (ICML 2019).
"""

from __future__ import annotations

import numpy as np

from pytest_compressguard.metrics.neighbours import nearest


def knn_sets(embeddings: np.ndarray, k: int) -> np.ndarray:
    """(N, k) indices: each example's k nearest *other* examples by cosine similarity.

    Ranked by descending similarity, ties broken by ascending index; see
    :func:`pytest_compressguard.metrics.neighbours.nearest`. Needs k <= N - 2 (with k = N - 1
    every set is "all the others" and agreement is 1 whatever the models).
    """
    n = len(embeddings)
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= n - 1 >= 0:
        raise ValueError(
            f"kNN agreement needs k < N - 1, got k={k} with N={n} examples "
            "(every other example would be a neighbour)"
        )
    return nearest(embeddings, None, k)[0]


def set_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Jaccard index of two (N, k) index arrays whose rows hold distinct values.

    >>> set_jaccard(np.array([[1, 2], [3, 4]]), np.array([[2, 1], [3, 5]]))
    array([1.        , 0.33333333])
    """
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    both = np.sort(np.concatenate([a, b], axis=1), axis=1)
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return shared / (a.shape[1] + b.shape[1] - shared)


def _centred(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"expected an (N, H) matrix with N >= 2, got shape {x.shape}")
    return x - x.mean(axis=0, keepdims=True)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred X, Y.

    Kornblith et al. 2019, eq. for linear kernels; computed with (H x H') feature-space
    matrices, never N x N. Invariant to orthogonal transforms and isotropic scaling; 1 for
    identical representations.

    >>> x = np.array([[1.0, 2.0], [3.0, 1.0], [0.0, 5.0], [2.0, 2.0]])
    >>> round(linear_cka(x, 3.0 * x[:, ::-1]), 12)
    1.0
    """
    xc, yc = _centred(x), _centred(y)
    if len(xc) != len(yc):
        raise ValueError(f"the models embedded {len(xc)} and {len(yc)} examples")
    cross = np.linalg.norm(yc.T @ xc) ** 2
    scale = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    if scale == 0:
        raise ValueError("CKA is undefined: one model gives the same embedding for every example")
    return float(cross / scale)
