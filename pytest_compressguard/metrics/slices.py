"""Per-class accuracy, the confusion of the two models, and calibration.

Probabilities are (N, C) matrices in one label order, labels are (N,) class indices.
"""

from __future__ import annotations

import numpy as np

#: Equal-width confidence bins of the expected calibration error.
ECE_BINS = 15


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
    classes = p_teacher.shape[1]
    drop = per_class_accuracy(p_teacher, labels, classes) - per_class_accuracy(
        p_student, labels, classes
    )
    return float(np.nanmax(drop))


def confidence_bins(probs: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Bin index of each example's confidence (its top probability) among ``bins``
    equal-width bins of [0, 1]: bin b holds (b/bins, (b+1)/bins], bin 0 also holds 0."""
    confidence = probs.max(axis=1)
    return np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)


def calibration_gaps(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """(bins,) Σ over the examples of bin b of (confidence − correct), divided by N: bin b's
    share of the examples times its mean confidence minus its accuracy."""
    b = confidence_bins(probs, bins)
    gap = probs.max(axis=1) - (probs.argmax(axis=1) == labels)
    return np.bincount(b, weights=gap, minlength=bins) / len(labels)


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE = Σ_b (|B_b| / N) · |accuracy(B_b) − mean confidence(B_b)| over ``bins``
    equal-width confidence bins (Guo et al. 2017); confidence is the top probability.

    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
    0.4
    """
    return float(np.abs(calibration_gaps(probs, labels, bins)).sum())


def confusion(p_teacher: np.ndarray, p_student: np.ndarray) -> np.ndarray:
    """(C, C) counts: row = the teacher's predicted class, column = the student's.

    >>> confusion(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.9, 0.1], [0.9, 0.1]]))
    array([[1, 0],
           [1, 0]])
    """
    classes = p_teacher.shape[1]
    t, s = p_teacher.argmax(axis=1), p_student.argmax(axis=1)
    return np.bincount(t * classes + s, minlength=classes * classes).reshape(classes, classes)
