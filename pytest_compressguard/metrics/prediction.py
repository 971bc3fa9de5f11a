"""Prediction-level fidelity metrics.

Every function takes class-probability matrices of shape (N, C), rows summing to 1, and/or
gold label indices of shape (N,). The label order must be the same for teacher and student.
"""

from __future__ import annotations

import numpy as np


def _check(p: np.ndarray, q: np.ndarray | None = None) -> None:
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, C) probability matrix, got shape {p.shape}")
    if q is not None and q.shape != p.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of examples whose argmax class equals the gold label.

    >>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    _check(probs)
    return float(np.mean(probs.argmax(axis=1) == labels))


def label_loyalty(p_teacher: np.ndarray, p_student: np.ndarray) -> float:
    """Share of examples where teacher and student predict the same label (Xu et al. 2021).

    >>> label_loyalty(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.7, 0.3]]))
    0.5
    """
    _check(p_teacher, p_student)
    return float(np.mean(p_teacher.argmax(axis=1) == p_student.argmax(axis=1)))


def _xlogy_ratio(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Elementwise p * ln(p / q), with 0 * ln(0 / q) = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-example Jensen-Shannon divergence in bits: JSD₂(p, q) = ½ KL₂(p‖m) + ½ KL₂(q‖m),
    m = ½ (p + q); it lies in [0, 1].

    >>> jensen_shannon(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]))
    array([1.])
    """
    m = 0.5 * (p + q)
    jsd = 0.5 * (_xlogy_ratio(p, m).sum(axis=1) + _xlogy_ratio(q, m).sum(axis=1)) / np.log(2)
    return np.clip(jsd, 0.0, 1.0)


def probability_loyalty(p_teacher: np.ndarray, p_student: np.ndarray) -> float:
    """Mean over examples of 1 − sqrt(JSD₂(p_t, p_s)), in [0, 1] (Xu et al. 2021).

    1 means identical distributions on every example.

    >>> probability_loyalty(np.array([[0.5, 0.5], [1.0, 0.0]]), np.array([[0.5, 0.5], [0.0, 1.0]]))
    0.5
    """
    _check(p_teacher, p_student)
    return float(np.mean(1.0 - np.sqrt(jensen_shannon(p_teacher, p_student))))


def kl_per_example(p_teacher: np.ndarray, p_student: np.ndarray) -> np.ndarray:
    """Per-example KL(p_t ‖ p_s) = Σ_c p_t,c ln(p_t,c / p_s,c), in nats."""
    return _xlogy_ratio(p_teacher, p_student).sum(axis=1)


def kl_divergence(p_teacher: np.ndarray, p_student: np.ndarray) -> float:
    """Mean over examples of KL(p_t ‖ p_s) in nats (Dutta et al. 2024).

    >>> round(kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]])), 6)
    0.510826
    """
    _check(p_teacher, p_student)
    return float(np.mean(kl_per_example(p_teacher, p_student)))


def flips(p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray) -> float:
    """Share of examples whose correctness differs between teacher and student
    (right→wrong or wrong→right; Dutta et al. 2024, *Accuracy is Not All You Need*).

    >>> flips(np.array([[0.9, 0.1], [0.9, 0.1]]),
    ...       np.array([[0.1, 0.9], [0.9, 0.1]]), np.array([0, 1]))
    0.5
    """
    _check(p_teacher, p_student)
    right_t = p_teacher.argmax(axis=1) == labels
    right_s = p_student.argmax(axis=1) == labels
    return float(np.mean(right_t != right_s))


def error_overlap(p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray) -> float:
    """Jaccard index of the error sets, |E_t ∩ E_s| / |E_t ∪ E_s| (Rai et al.);
    1.0 when neither model makes an error.

    >>> error_overlap(np.array([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1]]),
    ...               np.array([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9]]), np.array([0, 0, 0]))
    0.3333333333333333
    """
    _check(p_teacher, p_student)
    wrong_t = p_teacher.argmax(axis=1) != labels
    wrong_s = p_student.argmax(axis=1) != labels
    union = int(np.sum(wrong_t | wrong_s))
    if union == 0:
        return 1.0
    return float(np.sum(wrong_t & wrong_s) / union)
