"""Prediction-level fidelity metrics.

Every function takes class-probability matrices of shape (N, C), rows summing to 1, and/or
gold label indices of shape (N,). The label order must be the same for teacher and student.
"""

from __future__ import annotations

import numpy as np

from pytest_compressguard.metrics.stats import MeanStatistic

#: Equal-width confidence bins of the expected calibration error.
ECE_BINS = 15


def _check(p: np.ndarray, q: np.ndarray | None = None) -> None:
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError(f"expected a non-empty (N, C) probability matrix, got shape {p.shape}")
    if q is not None and q.shape != p.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {q.shape}")


def _first(means: np.ndarray) -> np.ndarray:
    return means[..., 0]


def _column(x: np.ndarray) -> MeanStatistic:
    """The mean of one per-example value."""
    return MeanStatistic(np.asarray(x, dtype=np.float64)[:, None], _first)


def _right(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return (probs.argmax(axis=1) == labels).astype(np.float64)


def _ratio(means: np.ndarray) -> np.ndarray:
    """mean of column 0 / mean of column 1 (a share of the examples column 1 counts); 1 when
    column 1 counts none (nothing to share)."""
    part, whole = means[..., 0], means[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, part / np.where(whole > 0, whole, 1), 1.0)


#: |A ∩ B| / |A ∪ B| from the means of the two indicator columns; 1 for an empty union.
_jaccard = _ratio


# Each metric below is a MeanStatistic of (p_teacher, p_student, labels): its point value and
# every bootstrap replicate come from the same per-example columns.


def teacher_accuracy_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Share of examples the teacher labels correctly."""
    return _column(_right(p_teacher, labels))


def student_accuracy_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Share of examples the student labels correctly."""
    return _column(_right(p_student, labels))


def accuracy_drop_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Teacher accuracy − student accuracy."""
    return _column(_right(p_teacher, labels) - _right(p_student, labels))


def label_loyalty_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray | None = None
) -> MeanStatistic:
    """Share of examples where teacher and student predict the same label."""
    return _column(p_teacher.argmax(axis=1) == p_student.argmax(axis=1))


def probability_loyalty_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray | None = None
) -> MeanStatistic:
    """Mean over examples of 1 − sqrt(JSD₂(p_t, p_s))."""
    return _column(1.0 - np.sqrt(jensen_shannon(p_teacher, p_student)))


def kl_divergence_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray | None = None
) -> MeanStatistic:
    """Mean over examples of KL(p_t ‖ p_s) in nats."""
    return _column(kl_per_example(p_teacher, p_student))


def flips_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Share of examples whose correctness differs between teacher and student."""
    return _column(np.abs(_right(p_teacher, labels) - _right(p_student, labels)))


def negative_flip_rate_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Share of examples the teacher gets right and the student wrong (Yan et al. 2021)."""
    return _column(_right(p_teacher, labels) * (1 - _right(p_student, labels)))


def backward_trust_compatibility_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Of the examples the teacher (the reference) gets right, the share the student also
    gets right (Bansal et al. 2019, BTC); 1 when the teacher gets none right."""
    right_t, right_s = _right(p_teacher, labels), _right(p_student, labels)
    return MeanStatistic(np.stack([right_t * right_s, right_t], 1), _ratio)


def backward_error_compatibility_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Of the examples the student gets wrong, the share the teacher (the reference) also got
    wrong (Bansal et al. 2019, BEC); 1 when the student gets none wrong."""
    wrong_t, wrong_s = 1 - _right(p_teacher, labels), 1 - _right(p_student, labels)
    return MeanStatistic(np.stack([wrong_t * wrong_s, wrong_s], 1), _ratio)


def error_overlap_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Jaccard index of the error sets (1 when neither model errs)."""
    wrong_t, wrong_s = 1 - _right(p_teacher, labels), 1 - _right(p_student, labels)
    return MeanStatistic(np.stack([wrong_t * wrong_s, np.maximum(wrong_t, wrong_s)], 1), _jaccard)


def confidence_bins(probs: np.ndarray, bins: int = ECE_BINS) -> np.ndarray:
    """Bin index of each example's confidence (its top probability) among ``bins``
    equal-width bins of [0, 1]: bin b holds (b/bins, (b+1)/bins], bin 0 also holds 0."""
    confidence = probs.max(axis=1)
    return np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)


def _gap_columns(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, bins) per-example (confidence − correct) in the example's bin, 0 elsewhere: column
    b's mean is bin b's share of the examples times (mean confidence − accuracy) in it."""
    gap = probs.max(axis=1) - _right(probs, labels)
    out = np.zeros((len(probs), ECE_BINS))
    out[np.arange(len(probs)), confidence_bins(probs)] = gap
    return out


def _ece(means: np.ndarray) -> np.ndarray:
    return np.abs(means).sum(axis=-1)


def ece_statistic(probs: np.ndarray, labels: np.ndarray) -> MeanStatistic:
    """ECE = Σ_b (|B_b| / N) · |accuracy(B_b) − mean confidence(B_b)| over 15 equal-width
    confidence bins (Guo et al. 2017); confidence is the top probability."""
    return MeanStatistic(_gap_columns(probs, labels), _ece)


def teacher_ece_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """The teacher's expected calibration error (15 bins)."""
    return ece_statistic(p_teacher, labels)


def student_ece_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """The student's expected calibration error (15 bins)."""
    return ece_statistic(p_student, labels)


def _ece_increase(means: np.ndarray) -> np.ndarray:
    return _ece(means[..., ECE_BINS:]) - _ece(means[..., :ECE_BINS])


def ece_increase_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """Student ECE − teacher ECE."""
    columns = np.hstack([_gap_columns(p_teacher, labels), _gap_columns(p_student, labels)])
    return MeanStatistic(columns, _ece_increase)


class _WorstClass:
    """max over classes of (per-class drop mean / per-class support mean); absent classes
    are left out."""

    def __init__(self, classes: int) -> None:
        self.classes = classes

    def __call__(self, means: np.ndarray) -> np.ndarray:
        drop, support = means[..., : self.classes], means[..., self.classes :]
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(support > 0, drop / np.where(support > 0, support, 1), -np.inf)
        return per_class.max(axis=-1)


def worst_class_drop_statistic(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> MeanStatistic:
    """max over gold classes c of (teacher accuracy on c − student accuracy on c)."""
    classes = p_teacher.shape[1]
    onehot = np.zeros((len(labels), classes))
    onehot[np.arange(len(labels)), labels] = 1.0
    drop = _right(p_teacher, labels) - _right(p_student, labels)
    return MeanStatistic(np.hstack([onehot * drop[:, None], onehot]), _WorstClass(classes))


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    """Share of examples whose argmax class equals the gold label.

    >>> accuracy(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    _check(probs)
    return teacher_accuracy_statistic(probs, probs, labels).value()


def label_loyalty(p_teacher: np.ndarray, p_student: np.ndarray) -> float:
    """Share of examples where teacher and student predict the same label (Xu et al. 2021).

    >>> label_loyalty(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.6, 0.4], [0.7, 0.3]]))
    0.5
    """
    _check(p_teacher, p_student)
    return label_loyalty_statistic(p_teacher, p_student).value()


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
    return probability_loyalty_statistic(p_teacher, p_student).value()


def kl_per_example(p_teacher: np.ndarray, p_student: np.ndarray) -> np.ndarray:
    """Per-example KL(p_t ‖ p_s) = Σ_c p_t,c ln(p_t,c / p_s,c), in nats."""
    return _xlogy_ratio(p_teacher, p_student).sum(axis=1)


def kl_divergence(p_teacher: np.ndarray, p_student: np.ndarray) -> float:
    """Mean over examples of KL(p_t ‖ p_s) in nats (Dutta et al. 2024).

    >>> round(kl_divergence(np.array([[0.5, 0.5]]), np.array([[0.9, 0.1]])), 6)
    0.510826
    """
    _check(p_teacher, p_student)
    return kl_divergence_statistic(p_teacher, p_student).value()


def flips(p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray) -> float:
    """Share of examples whose correctness differs between teacher and student
    (right→wrong or wrong→right; Dutta et al. 2024, *Accuracy is Not All You Need*).

    >>> flips(np.array([[0.9, 0.1], [0.9, 0.1]]),
    ...       np.array([[0.1, 0.9], [0.9, 0.1]]), np.array([0, 1]))
    0.5
    """
    _check(p_teacher, p_student)
    return flips_statistic(p_teacher, p_student, labels).value()


def error_overlap(p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray) -> float:
    """Jaccard index of the error sets, |E_t ∩ E_s| / |E_t ∪ E_s| (Rai et al.);
    1.0 when neither model makes an error.

    >>> error_overlap(np.array([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1]]),
    ...               np.array([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9]]), np.array([0, 0, 0]))
    0.3333333333333333
    """
    _check(p_teacher, p_student)
    return error_overlap_statistic(p_teacher, p_student, labels).value()
