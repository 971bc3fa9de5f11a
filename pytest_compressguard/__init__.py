"""pytest-compressguard: behavioural-fidelity gates for compressed models."""

from __future__ import annotations

from .comparison import Comparison
from .errors import (
    CompressGuardError,
    CompressGuardWarning,
    DataError,
    LabelMismatchError,
    MissingOutputError,
    ModelLoadError,
    ModelSpecError,
)

__version__ = "0.1.0"

__all__ = [
    "Comparison",
    "CompressGuardError",
    "CompressGuardWarning",
    "DataError",
    "LabelMismatchError",
    "MissingOutputError",
    "ModelLoadError",
    "ModelSpecError",
    "__version__",
    "assert_accuracy_drop",
    "assert_attack_drop",
    "assert_attack_drop_gap",
    "assert_cka",
    "assert_ece_increase",
    "assert_error_overlap",
    "assert_flips",
    "assert_kl_divergence",
    "assert_knn_agreement",
    "assert_label_loyalty",
    "assert_no_significant_accuracy_loss",
    "assert_ood_agreement",
    "assert_probability_loyalty",
    "assert_size_ratio",
    "assert_speedup",
    "assert_transfer_rate",
    "assert_worst_class_drop",
]


def assert_error_overlap(guard: Comparison, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the Jaccard index of teacher and student error sets is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_error_overlap(min=min, confidence=confidence)


def assert_label_loyalty(guard: Comparison, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the share of examples with the same predicted label is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_label_loyalty(min=min, confidence=confidence)


def assert_probability_loyalty(
    guard: Comparison, *, min: float, confidence: float | None = None
) -> None:
    """Fail unless mean 1 - sqrt(JSD2(p_t, p_s)) is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_probability_loyalty(min=min, confidence=confidence)


def assert_accuracy_drop(guard: Comparison, *, max: float, confidence: float | None = None) -> None:
    """Fail unless teacher accuracy minus student accuracy is at most ``max``."""
    __tracebackhide__ = True
    guard.assert_accuracy_drop(max=max, confidence=confidence)


def assert_flips(guard: Comparison, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the share of examples whose correctness flips is at most ``max``."""
    __tracebackhide__ = True
    guard.assert_flips(max=max, confidence=confidence)


def assert_kl_divergence(guard: Comparison, *, max: float, confidence: float | None = None) -> None:
    """Fail unless mean KL(teacher || student) is at most ``max`` nats."""
    __tracebackhide__ = True
    guard.assert_kl_divergence(max=max, confidence=confidence)


def assert_knn_agreement(
    guard: Comparison, *, min: float, k: int = 10, confidence: float | None = None
) -> None:
    """Fail unless the mean Jaccard index of teacher and student k-NN sets is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_knn_agreement(min=min, k=k, confidence=confidence)


def assert_worst_class_drop(
    guard: Comparison, *, max: float, confidence: float | None = None
) -> None:
    """Fail unless no class loses more than ``max`` accuracy from teacher to student."""
    __tracebackhide__ = True
    guard.assert_worst_class_drop(max=max, confidence=confidence)


def assert_ece_increase(guard: Comparison, *, max: float, confidence: float | None = None) -> None:
    """Fail unless student ECE minus teacher ECE is at most ``max``."""
    __tracebackhide__ = True
    guard.assert_ece_increase(max=max, confidence=confidence)


def assert_size_ratio(guard: Comparison, *, max: float) -> None:
    """Fail unless student size / teacher size is at most ``max``."""
    __tracebackhide__ = True
    guard.assert_size_ratio(max=max)


def assert_speedup(guard: Comparison, *, min: float, batch: int = 1) -> None:
    """Fail unless teacher latency / student latency at ``batch`` is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_speedup(min=min, batch=batch)


def assert_no_significant_accuracy_loss(guard: Comparison, *, alpha: float = 0.05) -> None:
    """Fail when McNemar's exact test finds the student significantly less accurate."""
    __tracebackhide__ = True
    guard.assert_no_significant_accuracy_loss(alpha=alpha)


def assert_cka(guard: Comparison, *, min: float) -> None:
    """Fail unless the linear CKA of teacher and student embeddings is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_cka(min=min)


def assert_ood_agreement(guard: Comparison, *, min: float, k: int | None = None) -> None:
    """Fail unless the Jaccard index of the two Deep-KNN OOD sets is at least ``min``."""
    __tracebackhide__ = True
    guard.assert_ood_agreement(min=min, k=k)


def assert_attack_drop(guard: Comparison, *, max: float) -> None:
    """Fail unless the student's relative accuracy drop under BERT-Attack is at most ``max``."""
    __tracebackhide__ = True
    guard.assert_attack_drop(max=max)


def assert_attack_drop_gap(guard: Comparison, *, max: float) -> None:
    """Fail unless student attack drop minus teacher attack drop is at most ``max``."""
    __tracebackhide__ = True
    guard.assert_attack_drop_gap(max=max)


def assert_transfer_rate(guard: Comparison, *, max: float) -> None:
    """Fail unless at most ``max`` of the teacher's adversarial examples fool the student."""
    __tracebackhide__ = True
    guard.assert_transfer_rate(max=max)
