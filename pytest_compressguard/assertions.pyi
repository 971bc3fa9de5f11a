"""Generated from the metric catalogue (pytest_compressguard.assertions): do not edit."""

from __future__ import annotations

from .guard import Guard

__all__ = [
    "assert_accuracy_drop",
    "assert_answer_agreement_f1",
    "assert_attack_drop",
    "assert_attack_drop_gap",
    "assert_backward_error_compatibility",
    "assert_backward_trust_compatibility",
    "assert_cka",
    "assert_ece_increase",
    "assert_error_overlap",
    "assert_f1_drop",
    "assert_flips",
    "assert_generation_agreement",
    "assert_kl_divergence",
    "assert_knn_agreement",
    "assert_label_loyalty",
    "assert_negative_flip_rate",
    "assert_no_significant_accuracy_loss",
    "assert_ood_agreement",
    "assert_perplexity_ratio",
    "assert_probability_loyalty",
    "assert_size_ratio",
    "assert_speedup",
    "assert_token_kl",
    "assert_token_kl_p99",
    "assert_top1_agreement",
    "assert_transfer_rate",
    "assert_worst_class_drop",
]


class Assertions:
    """Value methods and assertion helpers."""

    def teacher_accuracy(self) -> float:
        """Teacher accuracy."""
        ...

    def student_accuracy(self) -> float:
        """Student accuracy."""
        ...

    def accuracy_drop(self) -> float:
        """Teacher accuracy - student accuracy."""
        ...

    def label_loyalty(self) -> float:
        """Share of examples with the same predicted label."""
        ...

    def probability_loyalty(self) -> float:
        """Mean of 1 - sqrt(JSD2(p_t, p_s))."""
        ...

    def kl_divergence(self) -> float:
        """Mean KL(p_t || p_s) in nats."""
        ...

    def flips(self) -> float:
        """Share of examples whose correctness differs."""
        ...

    def negative_flip_rate(self) -> float:
        """Share of examples the teacher gets right and the student wrong."""
        ...

    def backward_trust_compatibility(self) -> float:
        """Of the examples the teacher gets right, the share the student also gets right."""
        ...

    def backward_error_compatibility(self) -> float:
        """Of the examples the student gets wrong, the share the teacher also gets wrong."""
        ...

    def error_overlap(self) -> float:
        """Jaccard index of the two error sets."""
        ...

    def worst_class_drop(self) -> float:
        """Largest per-class accuracy drop (teacher - student)."""
        ...

    def teacher_ece(self) -> float:
        """Teacher expected calibration error (15 bins)."""
        ...

    def student_ece(self) -> float:
        """Student expected calibration error (15 bins)."""
        ...

    def ece_increase(self) -> float:
        """Student ECE - teacher ECE."""
        ...

    def assert_accuracy_drop(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless teacher accuracy minus student accuracy is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_label_loyalty(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the share of examples with the same predicted label is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_probability_loyalty(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless mean 1 - sqrt(JSD2(p_t, p_s)) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_kl_divergence(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the mean KL(teacher || student) in nats is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_flips(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the share of examples whose correctness flips is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_negative_flip_rate(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the share of examples the teacher gets right and the student gets wrong is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_backward_trust_compatibility(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the share of the examples the teacher gets right that the student also gets right (BTC) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_backward_error_compatibility(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the share of the student's errors that the teacher also makes (BEC) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_error_overlap(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the Jaccard index of the teacher's and student's error sets is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_f1_drop(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless teacher mean F1 minus student mean F1 (question answering) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_answer_agreement_f1(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the mean token F1 between the teacher's and the student's answers (question answering) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_worst_class_drop(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the largest per-class accuracy drop from teacher to student is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_ece_increase(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless student ECE minus teacher ECE is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_no_significant_accuracy_loss(self, *, alpha: float = 0.05) -> None:
        """Fail when McNemar's exact test rejects equal accuracy at level ``alpha`` and the student is the one that loses (more teacher-right/student-wrong examples than the reverse)."""
        ...

    def assert_token_kl(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the mean per-position KL(teacher || student) in nats (causal LMs) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_token_kl_p99(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the 99th percentile of the per-position KL in nats (causal LMs) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_top1_agreement(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the share of positions with the same most likely next token (causal LMs) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_perplexity_ratio(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the student's perplexity over the teacher's on the documents (causal LMs) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
        ...

    def assert_generation_agreement(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the share of documents with the same greedy continuation (causal LMs) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_knn_agreement(self, *, min: float, k: int = 10, confidence: float | None = None) -> None:
        """Fail unless the mean Jaccard index of the k-NN sets is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
        ...

    def assert_cka(self, *, min: float) -> None:
        """Fail unless the linear CKA of the teacher's and student's embeddings is at least ``min``."""
        ...

    def assert_ood_agreement(self, *, min: float, k: int | None = None) -> None:
        """Fail unless the Jaccard index of the two Deep-KNN OOD sets is at least ``min``."""
        ...

    def assert_attack_drop(self, *, max: float, recipe: str | None = None) -> None:
        """Fail unless the student's relative accuracy drop under the attack is at most ``max``."""
        ...

    def assert_attack_drop_gap(self, *, max: float, recipe: str | None = None) -> None:
        """Fail unless student attack drop minus teacher attack drop is at most ``max``."""
        ...

    def assert_transfer_rate(self, *, max: float, recipe: str | None = None) -> None:
        """Fail unless the share of the teacher's adversarial examples that fool the student is at most ``max``."""
        ...

    def assert_size_ratio(self, *, max: float) -> None:
        """Fail unless student size / teacher size is at most ``max``."""
        ...

    def assert_speedup(self, *, min: float, batch: int = 1) -> None:
        """Fail unless teacher latency / student latency at ``batch`` is at least ``min``."""
        ...


def assert_accuracy_drop(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless teacher accuracy minus student accuracy is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_label_loyalty(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the share of examples with the same predicted label is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_probability_loyalty(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless mean 1 - sqrt(JSD2(p_t, p_s)) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_kl_divergence(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the mean KL(teacher || student) in nats is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_flips(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the share of examples whose correctness flips is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_negative_flip_rate(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the share of examples the teacher gets right and the student gets wrong is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_backward_trust_compatibility(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the share of the examples the teacher gets right that the student also gets right (BTC) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_backward_error_compatibility(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the share of the student's errors that the teacher also makes (BEC) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_error_overlap(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the Jaccard index of the teacher's and student's error sets is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_f1_drop(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless teacher mean F1 minus student mean F1 (question answering) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_answer_agreement_f1(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the mean token F1 between the teacher's and the student's answers (question answering) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_worst_class_drop(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the largest per-class accuracy drop from teacher to student is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_ece_increase(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless student ECE minus teacher ECE is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_no_significant_accuracy_loss(guard: Guard, *, alpha: float = 0.05) -> None:
    """Fail when McNemar's exact test rejects equal accuracy at level ``alpha`` and the student is the one that loses (more teacher-right/student-wrong examples than the reverse)."""
    ...

def assert_token_kl(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the mean per-position KL(teacher || student) in nats (causal LMs) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_token_kl_p99(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the 99th percentile of the per-position KL in nats (causal LMs) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_top1_agreement(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the share of positions with the same most likely next token (causal LMs) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_perplexity_ratio(guard: Guard, *, max: float, confidence: float | None = None) -> None:
    """Fail unless the student's perplexity over the teacher's on the documents (causal LMs) is at most ``max`` (with ``confidence``: unless the upper bound of its interval is)."""
    ...

def assert_generation_agreement(guard: Guard, *, min: float, confidence: float | None = None) -> None:
    """Fail unless the share of documents with the same greedy continuation (causal LMs) is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_knn_agreement(guard: Guard, *, min: float, k: int = 10, confidence: float | None = None) -> None:
    """Fail unless the mean Jaccard index of the k-NN sets is at least ``min`` (with ``confidence``: unless the lower bound of its interval is)."""
    ...

def assert_cka(guard: Guard, *, min: float) -> None:
    """Fail unless the linear CKA of the teacher's and student's embeddings is at least ``min``."""
    ...

def assert_ood_agreement(guard: Guard, *, min: float, k: int | None = None) -> None:
    """Fail unless the Jaccard index of the two Deep-KNN OOD sets is at least ``min``."""
    ...

def assert_attack_drop(guard: Guard, *, max: float, recipe: str | None = None) -> None:
    """Fail unless the student's relative accuracy drop under the attack is at most ``max``."""
    ...

def assert_attack_drop_gap(guard: Guard, *, max: float, recipe: str | None = None) -> None:
    """Fail unless student attack drop minus teacher attack drop is at most ``max``."""
    ...

def assert_transfer_rate(guard: Guard, *, max: float, recipe: str | None = None) -> None:
    """Fail unless the share of the teacher's adversarial examples that fool the student is at most ``max``."""
    ...

def assert_size_ratio(guard: Guard, *, max: float) -> None:
    """Fail unless student size / teacher size is at most ``max``."""
    ...

def assert_speedup(guard: Guard, *, min: float, batch: int = 1) -> None:
    """Fail unless teacher latency / student latency at ``batch`` is at least ``min``."""
    ...
