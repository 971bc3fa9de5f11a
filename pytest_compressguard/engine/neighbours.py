"""The metrics of a comparison read from embeddings: kNN agreement, CKA and Deep-KNN OOD."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from pytest_compressguard.engine.inputs import OodInputs, PairEmbeddings
from pytest_compressguard.metrics.catalogue import DEFAULT_K
from pytest_compressguard.metrics.distribution import DeepKnn, deep_knn, ood_agreement
from pytest_compressguard.metrics.representation import knn_sets, linear_cka, set_jaccard

T = TypeVar("T")
#: The ks of the reports' kNN and OOD sweeps.
DEFAULT_KS = (1, 5, 10, 20, 50)


class NeighbourMetrics:
    """The embedding metrics of :class:`~pytest_compressguard.engine.comparison.Comparison`
    (a base class of it: it reads the comparison's outputs and memo)."""

    ood_k: int
    _neighbours: dict[str, np.ndarray]
    embeddings: PairEmbeddings
    ood_inputs: OodInputs

    def _value(self, name: str, compute: Callable[[], T]) -> T:
        raise NotImplementedError

    # -- representation metrics ----------------------------------------------------------

    def knn_lists(self, model: str, k: int) -> np.ndarray:
        """The model's ranked k-NN lists; one search at the largest k asked serves smaller k."""
        known = self._neighbours.get(model)
        if known is None or known.shape[1] < k:
            e = self.embeddings
            self._neighbours[model] = knn_sets(e.teacher if model == "teacher" else e.student, k)
        return self._neighbours[model][:, :k]

    def knn_jaccard(self, k: int = DEFAULT_K) -> np.ndarray:
        """Per-example Jaccard index of the teacher's and student's k-NN sets (Rai et al. §4)."""
        return self._value(
            f"knn_jaccard@{k}",
            lambda: set_jaccard(self.knn_lists("teacher", k), self.knn_lists("student", k)),
        )

    def knn_agreement(self, k: int = DEFAULT_K) -> float:
        """Mean over eval examples P of Jaccard(KNN_t(P), KNN_s(P)) (cosine, P excluded)."""
        return float(self.knn_jaccard(k).mean())

    def knn_agreement_variance(self, k: int = DEFAULT_K) -> float:
        """Population variance over eval examples of the k-NN Jaccard index."""
        return float(self.knn_jaccard(k).var())

    def knn_sweep(self, ks: tuple[int, ...] = DEFAULT_KS) -> dict[int, float]:
        """kNN agreement for each k (Rai et al., Figure 1)."""
        if ks:  # one search per model at the largest k serves every smaller one
            self.knn_lists("teacher", max(ks))
            self.knn_lists("student", max(ks))
        return {int(k): self.knn_agreement(k) for k in ks}

    def recorded_knn_sweep(self) -> dict[str, float]:
        """The sweep the reports show: each k of :data:`DEFAULT_KS` below N - 1."""
        n = len(self.embeddings.texts)
        return {
            str(k): v for k, v in self.knn_sweep(tuple(k for k in DEFAULT_KS if k < n - 1)).items()
        }

    def cka(self) -> float:
        """Linear CKA (Kornblith et al. 2019) of the teacher's and student's eval embeddings."""
        e = self.embeddings
        return self._value("cka", lambda: linear_cka(e.teacher, e.student))

    # -- out-of-distribution metrics -----------------------------------------------------

    def deep_knn(self, model: str, k: int | None = None) -> DeepKnn:
        """The Deep-KNN scores and threshold of ``"teacher"`` or ``"student"`` (Sun et al. 2022)."""
        k = self.ood_k if k is None else k

        def score() -> DeepKnn:
            o, e = self.ood_inputs, self.embeddings
            if model == "teacher":
                return deep_knn(o.teacher_bank, e.teacher, o.teacher_ood, k)
            return deep_knn(o.student_bank, e.student, o.student_ood, k)

        return self._value(f"deep_knn/{model}@{k}", score)

    def ood_agreement(self, k: int | None = None) -> float:
        """Jaccard index of the OOD sets the teacher and the student find (1.0 if both empty)."""
        return ood_agreement(
            self.deep_knn("teacher", k).flagged, self.deep_knn("student", k).flagged
        )

    def teacher_ood_rate(self) -> float:
        """Share of the OOD candidates the teacher flags."""
        return self.deep_knn("teacher").ood_rate

    def student_ood_rate(self) -> float:
        """Share of the OOD candidates the student flags."""
        return self.deep_knn("student").ood_rate

    def teacher_ood_auroc(self) -> float:
        """AUROC of the teacher's Deep-KNN score: eval data (in) against OOD candidates (out)."""
        return self.deep_knn("teacher").auroc

    def student_ood_auroc(self) -> float:
        """AUROC of the student's Deep-KNN score: eval data (in) against OOD candidates (out)."""
        return self.deep_knn("student").auroc

    def ood_sweep(self, ks: tuple[int, ...] = DEFAULT_KS) -> dict[int, float]:
        """OOD agreement for each Deep-KNN k."""
        return {int(k): self.ood_agreement(k) for k in ks}
