"""Each metric that has a bootstrap interval, written as a :class:`MeanStatistic`.

``statistic.value()`` equals the metric function's result on the full data (tested); the
bootstrap resamples the rows.
"""

from __future__ import annotations

import numpy as np

from .prediction import jensen_shannon, kl_per_example
from .slices import ECE_BINS, confidence_bins
from .stats import MeanStatistic


def _first(means: np.ndarray) -> np.ndarray:
    return means[..., 0]


def _ece(probs: np.ndarray, right: np.ndarray) -> np.ndarray:
    """(N, bins) per-example (confidence − correct) in the example's bin, 0 elsewhere: the ECE
    is the sum over bins of the absolute column means."""
    gap = probs.max(axis=1) - right
    out = np.zeros((len(probs), ECE_BINS))
    out[np.arange(len(probs)), confidence_bins(probs)] = gap
    return out


def prediction_statistics(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> dict[str, MeanStatistic]:
    """The prediction-level metrics, calibration and the worst per-class drop, by name."""
    right_t = (p_teacher.argmax(axis=1) == labels).astype(np.float64)
    right_s = (p_student.argmax(axis=1) == labels).astype(np.float64)
    same = (p_teacher.argmax(axis=1) == p_student.argmax(axis=1)).astype(np.float64)
    wrong_t, wrong_s = 1 - right_t, 1 - right_s

    def column(x: np.ndarray) -> MeanStatistic:
        return MeanStatistic(x[:, None], _first)

    def jaccard(means: np.ndarray) -> np.ndarray:
        both, either = means[..., 0], means[..., 1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(either > 0, both / np.where(either > 0, either, 1), 1.0)

    ece_t, ece_s = _ece(p_teacher, right_t), _ece(p_student, right_s)

    def ece(means: np.ndarray) -> np.ndarray:
        return np.abs(means).sum(axis=-1)

    def ece_increase(means: np.ndarray) -> np.ndarray:
        return ece(means[..., ECE_BINS:]) - ece(means[..., :ECE_BINS])

    classes = p_teacher.shape[1]
    onehot = np.zeros((len(labels), classes))
    onehot[np.arange(len(labels)), labels] = 1.0

    def worst(means: np.ndarray) -> np.ndarray:
        drop, support = means[..., :classes], means[..., classes:]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(support > 0, drop / np.where(support > 0, support, 1), -np.inf)
        return per_class.max(axis=-1)

    return {
        "teacher_accuracy": column(right_t),
        "student_accuracy": column(right_s),
        "accuracy_drop": column(right_t - right_s),
        "label_loyalty": column(same),
        "probability_loyalty": column(1.0 - np.sqrt(jensen_shannon(p_teacher, p_student))),
        "kl_divergence": column(kl_per_example(p_teacher, p_student)),
        "flips": column(np.abs(right_t - right_s)),
        "error_overlap": MeanStatistic(
            np.stack([wrong_t * wrong_s, np.maximum(wrong_t, wrong_s)], axis=1), jaccard
        ),
        "teacher_ece": MeanStatistic(ece_t, ece),
        "student_ece": MeanStatistic(ece_s, ece),
        "ece_increase": MeanStatistic(np.hstack([ece_t, ece_s]), ece_increase),
        "worst_class_drop": MeanStatistic(
            np.hstack([onehot * (right_t - right_s)[:, None], onehot]), worst
        ),
    }
