"""Per-class accuracy, the confusion of the two models, and calibration.

Probabilities are (N, C) matrices in one label order, labels are (N,) class indices.
"""

from __future__ import annotations

import numpy as np

from pytest_compressguard.metrics.prediction import (
    ECE_BINS,
    confidence_bins,
    ece_statistic,
    worst_class_drop_statistic,
)

__all__ = [
    "ECE_BINS",
    "calibration_gaps",
    "confidence_bins",
    "confusion",
    "expected_calibration_error",
    "per_class_accuracy",
    "worst_class_drop",
]


def per_class_accuracy(probs: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """(C,) accuracy on the examples of each gold class; NaN for a class with no example.

    >>> per_class_accuracy(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]), 3)
    array([1. , 0.5, nan])
    """
    right = probs.argmax(axis=1) == labels
    support = np.bincount(labels, minlength=classes).astype(np.float64)
    hits = np.bincount(labels, weights=right, minlength=classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / support, np.nan)


def worst_class_drop(p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray) -> float:
    """max over gold classes c of (teacher accuracy on c − student accuracy on c).

    Classes without examples are left out. Negative when the student is better on every class.

    >>> worst_class_drop(np.array([[0.9, 0.1], [0.1, 0.9], [0.1, 0.9]]),
    ...                  np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9]]), np.array([0, 1, 1]))
    0.5
    """
    return worst_class_drop_statistic(p_teacher, p_student, labels).value()


def calibration_gaps(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(15,) Σ over the examples of bin b of (confidence − correct), divided by N: bin b's
    share of the examples times its mean confidence minus its accuracy."""
    return ece_statistic(probs, labels).columns.mean(axis=0)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray) -> float:
    """ECE = Σ_b (|B_b| / N) · |accuracy(B_b) − mean confidence(B_b)| over 15 equal-width
    confidence bins (Guo et al. 2017); confidence is the top probability.

    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
    0.4
    """
    return ece_statistic(probs, labels).value()


def confusion(p_teacher: np.ndarray, p_student: np.ndarray) -> np.ndarray:
    """(C, C) counts: row = the teacher's predicted class, column = the student's.

    >>> confusion(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.9, 0.1], [0.9, 0.1]]))
    array([[1, 0],
           [1, 0]])
    """
    classes = p_teacher.shape[1]
    t, s = p_teacher.argmax(axis=1), p_student.argmax(axis=1)
    return np.bincount(t * classes + s, minlength=classes * classes).reshape(classes, classes)
