"""Comparison: the lazy, cached metrics of one teacher/student pair on one dataset, and the
assertion helpers over them."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import pytest

from . import metrics as m
from .attacks.bert_attack import ExampleResult
from .efficiency import Footprint, Latency
from .errors import CompressGuardError, CompressGuardWarning, MissingOutputError
from .metrics import robustness as r
from .metrics import slices
from .metrics.columns import prediction_statistics
from .metrics.distribution import DeepKnn, deep_knn, ood_agreement
from .metrics.prediction import jensen_shannon, kl_per_example
from .metrics.representation import knn_sets, linear_cka, set_jaccard
from .metrics.stats import McNemar, MeanStatistic, bootstrap_means, interval, mcnemar

#: Prediction metrics in report order, each with a one-line meaning.
PREDICTION_METRICS: dict[str, str] = {
    "teacher_accuracy": "teacher accuracy",
    "student_accuracy": "student accuracy",
    "accuracy_drop": "teacher accuracy - student accuracy",
    "label_loyalty": "share of examples with the same predicted label",
    "probability_loyalty": "mean of 1 - sqrt(JSD2(p_t, p_s))",
    "kl_divergence": "mean KL(p_t || p_s) in nats",
    "flips": "share of examples whose correctness differs",
    "error_overlap": "Jaccard index of the two error sets",
    "worst_class_drop": "largest per-class accuracy drop (teacher - student)",
    "teacher_ece": "teacher expected calibration error (15 bins)",
    "student_ece": "student expected calibration error (15 bins)",
    "ece_increase": "student ECE - teacher ECE",
}

#: Representation metrics of the eval embeddings (kNN at the default k).
REPRESENTATION_METRICS: dict[str, str] = {
    "knn_agreement": "mean Jaccard of the teacher's and student's k-NN sets (k=10)",
    "knn_agreement_variance": "variance over examples of that Jaccard index",
    "knn_sweep": "kNN agreement for each k of (1, 5, 10, 20, 50) below N - 1",
    "cka": "linear CKA of the two models' embeddings",
}

#: Deep-KNN out-of-distribution metrics (need --train-data and --ood-data).
OOD_METRICS: dict[str, str] = {
    "ood_agreement": "Jaccard index of the two models' OOD sets",
    "teacher_ood_rate": "share of --ood-data the teacher flags",
    "student_ood_rate": "share of --ood-data the student flags",
    "teacher_ood_auroc": "teacher AUROC, eval (in) vs --ood-data (out)",
    "student_ood_auroc": "student AUROC, eval (in) vs --ood-data (out)",
}

#: Adversarial-robustness metrics (BERT-Attack on both models over the same examples).
ATTACK_METRICS: dict[str, str] = {
    f"{who}_attack_{name}": f"{who}: {meaning}"
    for who in ("teacher", "student")
    for name, meaning in (
        ("accuracy_before", "accuracy on the attacked examples before the attack"),
        ("accuracy_after", "accuracy on them after the attack"),
        ("drop", "(before - after) / before"),
        ("drop_absolute", "before - after"),
        ("success_rate", "share of correctly classified examples the attack breaks"),
        ("perturbed_words", "mean share of words changed by a successful attack"),
        ("queries", "mean model calls per attacked example"),
    )
}
ATTACK_METRICS.update(
    {
        "attack_drop_gap": "student attack drop - teacher attack drop",
        "transfer_rate": "share of the teacher's adversarial examples that fool the student",
        "attack_success_rate": "the student's attack success rate",
    }
)

#: Size and parameter counts (latency is measured only when a test asks: see ``speedup``).
EFFICIENCY_METRICS: dict[str, str] = {
    "teacher_size_bytes": "bytes of the teacher's weights",
    "student_size_bytes": "bytes of the student's weights",
    "size_ratio": "student size / teacher size",
    "teacher_parameters": "elements of the teacher's weight tensors",
    "student_parameters": "elements of the student's weight tensors",
    "parameter_ratio": "student parameters / teacher parameters",
}

T = TypeVar("T")
DEFAULT_K = 10
DEFAULT_KS = (1, 5, 10, 20, 50)
MAX_EXAMPLES_SHOWN = 5
#: Points of the probability scatter kept in the record (a seeded sample beyond this).
SAMPLE_POINTS = 1000
#: Below this many eval examples an assertion warns that the gate is noisy.
NOISY_BELOW = 300
#: Metrics with a bootstrap interval: the prediction metrics and kNN agreement.
INTERVAL_METRICS = (*PREDICTION_METRICS, "knn_agreement")


@dataclass(frozen=True)
class PairOutputs:
    """Aligned outputs of a pair: probabilities in the teacher's label order, gold labels."""

    teacher: np.ndarray
    student: np.ndarray
    labels: np.ndarray
    texts: tuple[str, ...]
    label_names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PairEmbeddings:
    """Both models' (N, H) embeddings of the eval texts (H may differ between the models)."""

    teacher: np.ndarray
    student: np.ndarray
    texts: tuple[str, ...]


@dataclass(frozen=True)
class PairAttack:
    """Both models' attacks on the same examples, every label in the teacher's label order.

    ``transferred[i]`` is the student's prediction on the teacher's adversarial text of example
    ``i`` where the teacher's attack succeeded, -1 elsewhere.
    """

    teacher: tuple[ExampleResult, ...]
    student: tuple[ExampleResult, ...]
    transferred: np.ndarray
    settings: dict[str, Any]
    cached: dict[str, bool]
    report_max: int = 50
    label_names: tuple[str, ...] | None = None

    def arrays(self, model: str) -> dict[str, np.ndarray]:
        examples = self.teacher if model == "teacher" else self.student
        return {
            name: np.array([getattr(e, name) for e in examples])
            for name in ("label", "before", "after", "words", "words_changed", "queries")
        } | {
            "success": np.array([e.success for e in examples], dtype=bool),
            "attacked": np.array([e.status != "skipped" for e in examples], dtype=bool),
        }


@dataclass(frozen=True)
class PairEfficiency:
    """Both models' footprints, and a way to time either model at a batch size."""

    teacher: Footprint
    student: Footprint
    latency: Callable[[str, int], Latency]


@dataclass(frozen=True)
class OodInputs:
    """Both models' embeddings of the in-distribution bank and of the candidate OOD texts."""

    teacher_bank: np.ndarray
    student_bank: np.ndarray
    teacher_ood: np.ndarray
    student_ood: np.ndarray
    ood_texts: tuple[str, ...]
    ood_spec: str = "ood data"


class _Lazy(Generic[T]):
    """A value loaded on first use; a CompressGuardError is kept and raised again."""

    def __init__(self, load: Callable[[], T] | None, absent: str) -> None:
        self._load = load
        self._absent = absent
        self._value: T | None = None
        self.error: CompressGuardError | None = None

    @property
    def loaded(self) -> bool:
        return self._value is not None

    @property
    def configured(self) -> bool:
        return self._load is not None

    def get(self) -> T:
        if self._value is None:
            if self.error is None and self._load is None:
                self.error = CompressGuardError(self._absent)
            if self.error is not None:
                raise self.error
            try:
                self._value = self._load()  # type: ignore[misc]
            except CompressGuardError as exc:
                self.error = exc
                raise
        return self._value


class Comparison:
    """The behavioural comparison of a student with its teacher on one dataset.

    Each kind of output (predictions, eval embeddings, OOD embeddings) is loaded on first use
    and every metric is computed at most once. Each ``assert_*`` call is recorded in
    :attr:`checks`, passed or not. A metric whose outputs a model cannot give raises
    :class:`CompressGuardError` saying why; its assertion fails with that sentence.
    """

    def __init__(
        self,
        teacher: str,
        student: str,
        dataset: str,
        load: Callable[[], PairOutputs] | None,
        current_test: Callable[[], str | None] = lambda: None,
        *,
        embeddings: Callable[[], PairEmbeddings] | None = None,
        ood: Callable[[], OodInputs] | None = None,
        ood_k: int = DEFAULT_K,
        attack: Callable[[], PairAttack] | None = None,
        bootstrap: int = 1000,
        seed: int = 0,
        efficiency: Callable[[], PairEfficiency] | None = None,
    ) -> None:
        self.teacher = teacher
        self.student = student
        self.dataset = dataset
        self._predictions = _Lazy(load, "no predictions were given")
        self._embeddings = _Lazy(embeddings, "no embeddings were given")
        self._ood = _Lazy(
            ood,
            "OOD agreement needs in-distribution training data and candidate OOD data "
            "(--train-data and --ood-data)",
        )
        self.ood_configured = ood is not None
        self._attack = _Lazy(attack, "no attack was configured")
        self._efficiency = _Lazy(efficiency, "sizes and latencies need the loaded models")
        self._latency: dict[tuple[str, int], Latency] = {}
        self.ood_k = ood_k
        self.bootstrap = bootstrap
        self.seed = seed
        self._current_test = current_test
        self._warned = False
        self._replicates: dict[str, np.ndarray] = {}
        self._values: dict[str, Any] = {}
        self._neighbours: dict[str, np.ndarray] = {}
        self._deep_knn: dict[tuple[str, int], DeepKnn] = {}
        self.checks: list[dict[str, Any]] = []

    @classmethod
    def from_arrays(
        cls,
        p_teacher: np.ndarray | None,
        p_student: np.ndarray | None,
        labels: np.ndarray | None,
        texts: tuple[str, ...] | None = None,
        *,
        teacher: str = "teacher",
        student: str = "student",
        dataset: str = "data",
        label_names: tuple[str, ...] | None = None,
        teacher_embeddings: np.ndarray | None = None,
        student_embeddings: np.ndarray | None = None,
        ood: OodInputs | None = None,
        ood_k: int = DEFAULT_K,
        bootstrap: int = 1000,
        seed: int = 0,
    ) -> Comparison:
        """A comparison of precomputed outputs: probabilities in the teacher's label order and
        gold labels, and/or (N, H) eval embeddings of each model, and/or OOD inputs."""
        n = next(len(x) for x in (labels, teacher_embeddings, p_teacher, ()) if x is not None)
        shown = tuple(texts) if texts is not None else tuple("" for _ in range(n))
        predictions = embeddings = None
        if p_teacher is not None and p_student is not None and labels is not None:
            outputs = PairOutputs(
                np.asarray(p_teacher, dtype=np.float64),
                np.asarray(p_student, dtype=np.float64),
                np.asarray(labels, dtype=np.int64),
                shown,
                label_names,
            )
            predictions = lambda: outputs  # noqa: E731
        if teacher_embeddings is not None and student_embeddings is not None:
            vectors = PairEmbeddings(
                np.asarray(teacher_embeddings), np.asarray(student_embeddings), shown
            )
            embeddings = lambda: vectors  # noqa: E731
        return cls(
            teacher,
            student,
            dataset,
            predictions,
            embeddings=embeddings,
            ood=(lambda: ood) if ood is not None else None,
            ood_k=ood_k,
            bootstrap=bootstrap,
            seed=seed,
        )

    # -- outputs -------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether any model output has been computed."""
        return self._predictions.loaded or self._embeddings.loaded

    @property
    def outputs(self) -> PairOutputs:
        """The pair's predictions, computed on first access (errors are kept and raised)."""
        return self._predictions.get()

    @property
    def embeddings(self) -> PairEmbeddings:
        """Both models' eval embeddings, computed on first access."""
        return self._embeddings.get()

    @property
    def ood_inputs(self) -> OodInputs:
        """Both models' embeddings of the training bank and the OOD candidates."""
        return self._ood.get()

    @property
    def attack_results(self) -> PairAttack:
        """Both models' BERT-Attack results, computed (or read from the cache) on first
        access: this is what makes a test that asks for an attack metric slow."""
        return self._attack.get()

    @property
    def n(self) -> int:
        """Number of evaluation examples."""
        if self._embeddings.loaded or self._predictions.error is not None:
            return len(self.embeddings.texts)
        return len(self.outputs.labels)

    def _value(self, name: str, compute: Callable[[], T]) -> T:
        if name not in self._values:
            self._values[name] = compute()
        return self._values[name]

    # -- prediction metrics --------------------------------------------------------------

    def teacher_accuracy(self) -> float:
        """Share of examples the teacher labels correctly."""
        o = self.outputs
        return self._value("teacher_accuracy", lambda: m.accuracy(o.teacher, o.labels))

    def student_accuracy(self) -> float:
        """Share of examples the student labels correctly."""
        o = self.outputs
        return self._value("student_accuracy", lambda: m.accuracy(o.student, o.labels))

    def accuracy_drop(self) -> float:
        """Teacher accuracy minus student accuracy."""
        return self._value(
            "accuracy_drop", lambda: self.teacher_accuracy() - self.student_accuracy()
        )

    def label_loyalty(self) -> float:
        """See :func:`pytest_compressguard.metrics.label_loyalty`."""
        o = self.outputs
        return self._value("label_loyalty", lambda: m.label_loyalty(o.teacher, o.student))

    def probability_loyalty(self) -> float:
        """See :func:`pytest_compressguard.metrics.probability_loyalty`."""
        o = self.outputs
        return self._value(
            "probability_loyalty", lambda: m.probability_loyalty(o.teacher, o.student)
        )

    def kl_divergence(self) -> float:
        """See :func:`pytest_compressguard.metrics.kl_divergence`."""
        o = self.outputs
        return self._value("kl_divergence", lambda: m.kl_divergence(o.teacher, o.student))

    def flips(self) -> float:
        """See :func:`pytest_compressguard.metrics.flips`."""
        o = self.outputs
        return self._value("flips", lambda: m.flips(o.teacher, o.student, o.labels))

    def error_overlap(self) -> float:
        """See :func:`pytest_compressguard.metrics.error_overlap`."""
        o = self.outputs
        return self._value("error_overlap", lambda: m.error_overlap(o.teacher, o.student, o.labels))

    def worst_class_drop(self) -> float:
        """See :func:`pytest_compressguard.metrics.slices.worst_class_drop`."""
        o = self.outputs
        return self._value(
            "worst_class_drop", lambda: slices.worst_class_drop(o.teacher, o.student, o.labels)
        )

    def teacher_ece(self) -> float:
        """The teacher's expected calibration error (15 equal-width bins)."""
        o = self.outputs
        return self._value(
            "teacher_ece", lambda: slices.expected_calibration_error(o.teacher, o.labels)
        )

    def student_ece(self) -> float:
        """The student's expected calibration error (15 equal-width bins)."""
        o = self.outputs
        return self._value(
            "student_ece", lambda: slices.expected_calibration_error(o.student, o.labels)
        )

    def ece_increase(self) -> float:
        """Student ECE minus teacher ECE."""
        return self._value("ece_increase", lambda: self.student_ece() - self.teacher_ece())

    def per_class(self) -> dict[str, Any]:
        """Each gold class's support and both models' accuracy on it (None: no example)."""
        o = self.outputs
        classes = o.teacher.shape[1]

        def table() -> dict[str, Any]:
            def listed(a: np.ndarray) -> list[float | None]:
                return [None if np.isnan(x) else float(x) for x in a]

            return {
                "labels": [self._name(c) for c in range(classes)],
                "support": np.bincount(o.labels, minlength=classes).tolist(),
                "teacher": listed(slices.per_class_accuracy(o.teacher, o.labels, classes)),
                "student": listed(slices.per_class_accuracy(o.student, o.labels, classes)),
            }

        return self._value("per_class", table)

    def confusion(self) -> list[list[int]]:
        """Counts of (teacher's predicted class, student's predicted class), as rows."""
        o = self.outputs
        return self._value("confusion", lambda: slices.confusion(o.teacher, o.student).tolist())

    def mcnemar(self) -> McNemar:
        """McNemar's exact test on the two models' correctness (see
        :class:`~pytest_compressguard.metrics.stats.McNemar`)."""
        o = self.outputs
        return self._value(
            "mcnemar",
            lambda: mcnemar(
                o.teacher.argmax(axis=1) == o.labels, o.student.argmax(axis=1) == o.labels
            ),
        )

    def mcnemar_p_value(self) -> float:
        """The p-value of :meth:`mcnemar`."""
        return self.mcnemar().p_value

    # -- intervals -----------------------------------------------------------------------

    def _statistics(self) -> dict[str, MeanStatistic]:
        o = self.outputs
        return self._value(
            "statistics", lambda: prediction_statistics(o.teacher, o.student, o.labels)
        )

    def replicates(self, metric: str, k: int = DEFAULT_K) -> np.ndarray:
        """The metric on each of the ``bootstrap`` paired resamples of the eval examples.

        Every metric is resampled with the same seeded draws. kNN agreement resamples the
        per-example Jaccard indices; the neighbour sets are those of the full data.
        """
        if metric not in INTERVAL_METRICS:
            raise ValueError(f"{metric} has no bootstrap interval")
        if self.bootstrap < 1:
            raise ValueError("intervals are off (--compressguard-bootstrap 0)")
        key = metric if metric != "knn_agreement" else f"knn_agreement@{k}"
        if key not in self._replicates:
            if metric == "knn_agreement":
                columns = self.knn_jaccard(k)[:, None]
                self._replicates[key] = bootstrap_means(columns, self.bootstrap, self.seed)[:, 0]
            else:  # one draw for every prediction metric
                stats = self._statistics()
                means = bootstrap_means(
                    np.hstack([st.columns for st in stats.values()]), self.bootstrap, self.seed
                )
                start = 0
                for name, st in stats.items():
                    width = st.columns.shape[1]
                    self._replicates[name] = st.reduce(means[:, start : start + width])
                    start += width
        return self._replicates[key]

    def interval(
        self, metric: str, confidence: float = 0.95, *, k: int = DEFAULT_K
    ) -> tuple[float, float]:
        """The paired-bootstrap percentile interval of a metric at ``confidence``."""
        return interval(self.replicates(metric, k), confidence)

    def intervals(self, confidence: float = 0.95) -> dict[str, list[float]]:
        """``[lo, hi]`` of every metric with an interval whose outputs are loaded."""
        if self.bootstrap < 1:
            return {}
        names: list[str] = []
        if self._predictions.loaded:
            names += list(PREDICTION_METRICS)
        if self._embeddings.loaded:
            names.append("knn_agreement")
        out = {}
        for name in names:
            try:
                out[name] = list(self.interval(name, confidence))
            except (CompressGuardError, ValueError):
                continue
        return out

    # -- representation metrics ----------------------------------------------------------

    def _knn(self, model: str, k: int) -> np.ndarray:
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
            lambda: set_jaccard(self._knn("teacher", k), self._knn("student", k)),
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
            self._knn("teacher", max(ks))
            self._knn("student", max(ks))
        return {int(k): self.knn_agreement(k) for k in ks}

    def cka(self) -> float:
        """Linear CKA (Kornblith et al. 2019) of the teacher's and student's eval embeddings."""
        e = self.embeddings
        return self._value("cka", lambda: linear_cka(e.teacher, e.student))

    # -- out-of-distribution metrics -----------------------------------------------------

    def deep_knn(self, model: str, k: int | None = None) -> DeepKnn:
        """The Deep-KNN scores and threshold of ``"teacher"`` or ``"student"`` (Sun et al. 2022)."""
        k = self.ood_k if k is None else k
        if (model, k) not in self._deep_knn:
            o, e = self.ood_inputs, self.embeddings
            if model == "teacher":
                found = deep_knn(o.teacher_bank, e.teacher, o.teacher_ood, k)
            else:
                found = deep_knn(o.student_bank, e.student, o.student_ood, k)
            self._deep_knn[(model, k)] = found
        return self._deep_knn[(model, k)]

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

    # -- robustness metrics --------------------------------------------------------------

    def attack_metric(self, name: str) -> float:
        """One of :data:`ATTACK_METRICS` (runs the attacks on first use)."""
        if name not in ATTACK_METRICS:
            raise KeyError(f"unknown attack metric {name!r}")
        return self._value(name, lambda: self._attack_metric(name))

    def _attack_metric(self, name: str) -> float:
        if name == "attack_success_rate":
            return self.attack_metric("student_attack_success_rate")
        if name == "attack_drop_gap":
            return self.attack_metric("student_attack_drop") - self.attack_metric(
                "teacher_attack_drop"
            )
        a = self.attack_results
        if name == "transfer_rate":
            t = a.arrays("teacher")
            return r.transfer_rate(
                t["label"], t["success"], a.arrays("student")["before"], a.transferred
            )
        model, _, what = name.partition("_attack_")
        x = a.arrays(model)
        before = r.attack_accuracy(x["label"], x["before"])
        after = r.attack_accuracy(x["label"], x["after"])
        if what == "accuracy_before":
            return before
        if what == "accuracy_after":
            return after
        if what == "drop":
            return r.attack_drop(before, after)
        if what == "drop_absolute":
            return before - after
        if what == "success_rate":
            return r.success_rate(x["label"], x["before"], x["success"])
        if what == "perturbed_words":
            return r.perturbed_share(x["words_changed"], x["words"], x["success"])
        if not x["attacked"].any():
            raise ValueError(f"the {model} gets no attacked example right: nothing was attacked")
        return float(x["queries"][x["attacked"]].mean())

    def attack_drop(self, model: str = "student") -> float:
        """(accuracy before - accuracy after) / accuracy before, under BERT-Attack."""
        return self.attack_metric(f"{model}_attack_drop")

    def attack_drop_gap(self) -> float:
        """Student attack drop minus teacher attack drop."""
        return self.attack_metric("attack_drop_gap")

    def transfer_rate(self) -> float:
        """Share of the teacher's successful adversarial examples (on texts the student gets
        right) whose adversarial text the student also gets wrong."""
        return self.attack_metric("transfer_rate")

    # -- efficiency ----------------------------------------------------------------------

    def _footprint(self, model: str) -> Footprint:
        e = self._efficiency.get()
        return e.teacher if model == "teacher" else e.student

    def teacher_size_bytes(self) -> int:
        """Bytes of the teacher's weights (see :mod:`pytest_compressguard.efficiency`)."""
        return self._footprint("teacher").size_bytes

    def student_size_bytes(self) -> int:
        """Bytes of the student's weights."""
        return self._footprint("student").size_bytes

    def size_ratio(self) -> float:
        """Student size / teacher size: 0.25 reads "4x smaller"."""
        return self.student_size_bytes() / self.teacher_size_bytes()

    def teacher_parameters(self) -> int:
        """Elements of the teacher's weight tensors."""
        return self._footprint("teacher").parameters

    def student_parameters(self) -> int:
        """Elements of the student's weight tensors."""
        return self._footprint("student").parameters

    def parameter_ratio(self) -> float:
        """Student parameters / teacher parameters."""
        return self.student_parameters() / self.teacher_parameters()

    def latency(self, model: str, batch: int = 1) -> Latency:
        """The median time of one call of ``"teacher"`` or ``"student"`` on ``batch`` eval
        texts, measured once per model and batch size in the session."""
        if (model, batch) not in self._latency:
            self._latency[(model, batch)] = self._efficiency.get().latency(model, batch)
        return self._latency[(model, batch)]

    def speedup(self, batch: int = 1) -> float:
        """Teacher latency / student latency at ``batch``: 2.0 reads "2x faster"."""
        return self.latency("teacher", batch).median_ms / self.latency("student", batch).median_ms

    # -- all metrics ---------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Every metric that can be measured, by name (see :meth:`unavailable` for the rest)."""
        return self._measure()[0]

    def unavailable(self) -> dict[str, str]:
        """Why each metric that cannot be measured cannot, by name."""
        return self._measure()[1]

    def _measure(self) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        groups: list[dict[str, str]] = []
        if self.loaded:
            groups += [PREDICTION_METRICS, REPRESENTATION_METRICS]
            if self.ood_configured:
                groups.append(OOD_METRICS)
            if self._efficiency.configured:
                groups.append(EFFICIENCY_METRICS)
        if self._attack.loaded:  # measured only when a test asked for it: attacks are slow
            groups.append(ATTACK_METRICS)
        for group in groups:
            for name in group:
                try:
                    if name in ATTACK_METRICS:
                        value: Any = self.attack_metric(name)
                    elif name == "knn_sweep":
                        n = len(self.embeddings.texts)
                        value = {
                            str(k): v
                            for k, v in self.knn_sweep(
                                tuple(k for k in DEFAULT_KS if k < n - 1)
                            ).items()
                        }
                    else:
                        value = getattr(self, name)()
                except (CompressGuardError, ValueError) as exc:
                    reasons[name] = str(exc)
                else:
                    values[name] = value
        return values, reasons

    # -- assertions ----------------------------------------------------------------------

    def assert_error_overlap(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the Jaccard index of the error sets is at least ``min`` (with
        ``confidence``: unless the lower bound of its interval is)."""
        __tracebackhide__ = True
        self._check("error_overlap", ">=", min, confidence=confidence)

    def assert_label_loyalty(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the share of identical predicted labels is at least ``min``."""
        __tracebackhide__ = True
        self._check("label_loyalty", ">=", min, confidence=confidence)

    def assert_probability_loyalty(self, *, min: float, confidence: float | None = None) -> None:
        """Fail unless the probability loyalty is at least ``min``."""
        __tracebackhide__ = True
        self._check("probability_loyalty", ">=", min, confidence=confidence)

    def assert_accuracy_drop(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless teacher accuracy minus student accuracy is at most ``max`` (with
        ``confidence``: unless the upper bound of its interval is)."""
        __tracebackhide__ = True
        self._check("accuracy_drop", "<=", max, confidence=confidence)

    def assert_flips(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the share of examples whose correctness flips is at most ``max``."""
        __tracebackhide__ = True
        self._check("flips", "<=", max, confidence=confidence)

    def assert_kl_divergence(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless the mean KL(teacher || student) is at most ``max`` nats."""
        __tracebackhide__ = True
        self._check("kl_divergence", "<=", max, confidence=confidence)

    def assert_worst_class_drop(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless no class loses more than ``max`` accuracy from teacher to student."""
        __tracebackhide__ = True
        self._check("worst_class_drop", "<=", max, confidence=confidence)

    def assert_ece_increase(self, *, max: float, confidence: float | None = None) -> None:
        """Fail unless student ECE minus teacher ECE is at most ``max``."""
        __tracebackhide__ = True
        self._check("ece_increase", "<=", max, confidence=confidence)

    def assert_no_significant_accuracy_loss(self, *, alpha: float = 0.05) -> None:
        """Fail when McNemar's exact test rejects equal accuracy at level ``alpha`` and the
        student is the one that loses (more teacher-right/student-wrong examples than the
        reverse)."""
        __tracebackhide__ = True
        self._check("mcnemar_p_value", ">=", alpha)

    def assert_knn_agreement(
        self, *, min: float, k: int = DEFAULT_K, confidence: float | None = None
    ) -> None:
        """Fail unless the mean Jaccard index of the k-NN sets is at least ``min``."""
        __tracebackhide__ = True
        self._check("knn_agreement", ">=", min, k=k, confidence=confidence)

    def assert_size_ratio(self, *, max: float) -> None:
        """Fail unless student size / teacher size is at most ``max``."""
        __tracebackhide__ = True
        self._check("size_ratio", "<=", max)

    def assert_speedup(self, *, min: float, batch: int = 1) -> None:
        """Fail unless teacher latency / student latency at ``batch`` is at least ``min``."""
        __tracebackhide__ = True
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, got {batch!r}")
        self._check("speedup", ">=", min, k=batch)

    def assert_cka(self, *, min: float) -> None:
        """Fail unless the linear CKA of the eval embeddings is at least ``min``."""
        __tracebackhide__ = True
        self._check("cka", ">=", min)

    def assert_ood_agreement(self, *, min: float, k: int | None = None) -> None:
        """Fail unless the Jaccard index of the two Deep-KNN OOD sets is at least ``min``."""
        __tracebackhide__ = True
        self._check("ood_agreement", ">=", min, k=self.ood_k if k is None else k)

    def assert_attack_drop(self, *, max: float) -> None:
        """Fail unless the student's relative accuracy drop under BERT-Attack is at most
        ``max``."""
        __tracebackhide__ = True
        self._check("student_attack_drop", "<=", max)

    def assert_attack_drop_gap(self, *, max: float) -> None:
        """Fail unless student attack drop minus teacher attack drop is at most ``max``."""
        __tracebackhide__ = True
        self._check("attack_drop_gap", "<=", max)

    def assert_transfer_rate(self, *, max: float) -> None:
        """Fail unless at most ``max`` of the teacher's adversarial examples fool the
        student."""
        __tracebackhide__ = True
        self._check("transfer_rate", "<=", max)

    def _check(
        self,
        metric: str,
        op: str,
        threshold: float,
        *,
        k: int | None = None,
        confidence: float | None = None,
    ) -> None:
        __tracebackhide__ = True
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not (math.isfinite(threshold))
        ):
            raise TypeError(f"the threshold of {metric} must be a finite number, got {threshold!r}")
        if confidence is not None:
            if metric not in INTERVAL_METRICS:
                raise ValueError(f"confidence= is not available for {metric}: it has no interval")
            if (
                isinstance(confidence, bool)
                or not isinstance(confidence, (int, float))
                or not (0 < confidence < 1)
            ):
                raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
        if metric in ATTACK_METRICS:
            measure: Callable[..., float] = lambda: self.attack_metric(metric)  # noqa: E731
        else:
            measure = getattr(self, metric)
        bounds: tuple[float, float] | None = None
        try:
            value = float(measure() if k is None else measure(k))
            if confidence is not None:
                bounds = self.interval(metric, confidence, k=k or DEFAULT_K)
        except (CompressGuardError, ValueError) as exc:
            problem = str(exc)
        else:
            problem = None
        if problem is not None:  # failed outside the except block: no chained traceback
            pytest.fail(f"compressguard: {metric} could not be measured: {problem}", pytrace=False)
        if metric not in ATTACK_METRICS and metric not in ("size_ratio", "speedup"):
            self._warn_if_noisy()
        decisive = value if bounds is None else (bounds[0] if op == ">=" else bounds[1])
        passed = decisive >= threshold if op == ">=" else decisive <= threshold
        if metric == "mcnemar_p_value":  # only a significant loss fails, not a gain
            test = self.mcnemar()
            passed = not (test.p_value < threshold and test.n10 > test.n01)
        check: dict[str, Any] = {
            "metric": metric,
            "op": op,
            "threshold": float(threshold),
            "value": value,
            "passed": bool(passed),
            "test": self._current_test(),
        }
        if k is not None:
            check["batch" if metric == "speedup" else "k"] = int(k)
        if bounds is not None:
            check["confidence"] = float(confidence)  # type: ignore[arg-type]
            check["interval"] = [bounds[0], bounds[1]]
        if not passed:
            check["message"] = self._failure_message(
                metric, op, threshold, value, k, confidence, bounds
            )
        self.checks.append(check)
        if not passed:
            raise AssertionError(check["message"])

    def _warn_if_noisy(self) -> None:
        """Warn once per comparison when the eval data is too small to trust a gate."""
        n = self.n
        if self._warned or n >= NOISY_BELOW:
            return
        self._warned = True
        shown = ""
        try:
            if self._predictions.loaded and self.bootstrap > 0:
                lo, hi = self.interval("label_loyalty")
                shown = f" (label_loyalty's 95% interval: [{lo:.3f}, {hi:.3f}])"
        except (CompressGuardError, ValueError):
            pass
        warnings.warn(
            CompressGuardWarning(
                f"compressguard: {self.student} vs {self.teacher} is evaluated on only {n} "
                f"examples; below {NOISY_BELOW} a gate is noisy{shown}: use more data or "
                "assert with confidence=0.95"
            ),
            stacklevel=4,
        )

    # -- failure messages ----------------------------------------------------------------

    def _failure_message(
        self,
        metric: str,
        op: str,
        threshold: float,
        value: float,
        k: int | None,
        confidence: float | None = None,
        bounds: tuple[float, float] | None = None,
    ) -> str:
        bound = "minimum" if op == ">=" else "maximum"
        side = "below" if op == ">=" else "above"
        summary, lines_ = self._explain(metric, k)
        name = metric if k is None else f"{metric} (k={k})"
        if metric == "speedup":
            name = f"speedup at batch {k}"
        n = self.n
        if metric in ATTACK_METRICS:
            n = len(self.attack_results.teacher)
            name += f" under {self.attack_results.settings['recipe']}"
        if metric == "mcnemar_p_value":
            test = self.mcnemar()
            head = (
                f"compressguard: the student is significantly less accurate (McNemar's exact "
                f"test: p = {value:.4g} < alpha = {threshold:g}; the student loses "
                f"{test.n10} examples the teacher gets right and gains {test.n01})"
            )
        elif bounds is not None:
            end = "lower" if op == ">=" else "upper"
            head = (
                f"compressguard: {name} = {value:.4f}, {confidence:.0%} interval "
                f"[{bounds[0]:.4f}, {bounds[1]:.4f}]: its {end} bound is {side} the {bound} "
                f"{threshold:.4f}"
            )
        else:
            head = f"compressguard: {name} = {value:.4f} is {side} the {bound} {threshold:.4f}"
            if metric in INTERVAL_METRICS and self.bootstrap > 0:
                try:
                    lo, hi = self.interval(metric, k=k or DEFAULT_K)
                    head += f" (95% interval [{lo:.4f}, {hi:.4f}])"
                except (CompressGuardError, ValueError):
                    pass
        lines = [
            head,
            f"  teacher: {self.teacher}",
            f"  student: {self.student}",
            f"  data:    {self.dataset} (n={n})",
            f"  {summary}",
        ]
        if lines_:
            shown = lines_[:MAX_EXAMPLES_SHOWN]
            lines.append(f"  {len(shown)} of them:")
            lines.extend("    " + line for line in shown)
        return "\n".join(lines)

    def _name(self, index: int) -> str:
        if self._predictions.loaded:
            names = self.outputs.label_names
        else:
            names = self.attack_results.label_names if self._attack.loaded else None
        return names[index] if names is not None else str(index)

    def _describe(self, i: int) -> str:
        o = self.outputs
        t, s = int(o.teacher[i].argmax()), int(o.student[i].argmax())
        return (
            f"[{i}] {_short(o.texts[i], 80)!r}  gold={self._name(int(o.labels[i]))}  "
            f"teacher={self._name(t)} ({o.teacher[i, t]:.2f})  "
            f"student={self._name(s)} ({o.student[i, s]:.2f})"
        )

    def _explain(self, metric: str, k: int | None) -> tuple[str, list[str]]:
        """A one-line account of the metric and lines describing the examples behind it."""
        if metric in ("knn_agreement", "cka"):
            return self._explain_representation(metric, k or DEFAULT_K)
        if metric == "ood_agreement":
            return self._explain_ood(k)
        if metric in ATTACK_METRICS:
            return self._explain_attack(metric)
        if metric in ("size_ratio", "speedup"):
            return self._explain_efficiency(metric, k or 1), []
        summary, indices = self._explain_prediction(metric)
        return summary, [self._describe(int(i)) for i in indices[:MAX_EXAMPLES_SHOWN]]

    def _explain_representation(self, metric: str, k: int) -> tuple[str, list[str]]:
        e = self.embeddings
        if metric == "cka":
            summary = (
                f"linear CKA compares the whole geometry of the embeddings (teacher H="
                f"{e.teacher.shape[1]}, student H={e.student.shape[1]})"
            )
            if k >= len(e.texts) - 1:
                return summary, []
            return (
                f"{summary}; kNN agreement at k={k} is {self.knn_agreement(k):.4f}, and the "
                "examples whose neighbours differ most",
                self._knn_lines(k),
            )
        jac = self.knn_jaccard(k)
        return (
            f"{int((jac == 0).sum())} examples share no neighbour between the models, "
            f"{int((jac == 1).sum())} share all {k}; the examples whose neighbours differ most",
            self._knn_lines(k),
        )

    def _knn_lines(self, k: int) -> list[str]:
        """The examples with the lowest Jaccard index, each with the nearest neighbour that only
        the teacher has and the one that only the student has."""
        texts = self.embeddings.texts
        jac = self.knn_jaccard(k)
        teacher, student = self._knn("teacher", k), self._knn("student", k)
        lines = []
        for i in np.argsort(jac, kind="stable")[:MAX_EXAMPLES_SHOWN]:
            t_only = [j for j in teacher[i] if j not in set(student[i])]
            s_only = [j for j in student[i] if j not in set(teacher[i])]
            line = f"[{i}] {_short(texts[i], 70)!r}  jaccard={jac[i]:.2f}"
            if t_only and s_only:
                line += (
                    f"\n      teacher's, not student's: {_short(texts[t_only[0]], 45)!r}"
                    f"\n      student's, not teacher's: {_short(texts[s_only[0]], 45)!r}"
                )
            lines.append(line)
        return lines

    def _explain_ood(self, k: int | None) -> tuple[str, list[str]]:
        t, s = self.deep_knn("teacher", k), self.deep_knn("student", k)
        texts = self.ood_inputs.ood_texts
        one = np.flatnonzero(t.flagged != s.flagged)
        margin = np.abs((t.ood_scores - t.threshold) - (s.ood_scores - s.threshold))
        one = one[np.argsort(-margin[one], kind="stable")]
        lines = [
            f"[{i}] {_short(texts[i], 70)!r}  teacher {t.ood_scores[i]:.3f} "
            f"({'OOD' if t.flagged[i] else 'in'}, threshold {t.threshold:.3f})  student "
            f"{s.ood_scores[i]:.3f} ({'OOD' if s.flagged[i] else 'in'}, threshold "
            f"{s.threshold:.3f})"
            for i in one[:MAX_EXAMPLES_SHOWN]
        ]
        return (
            f"of {len(texts)} candidates in {self.ood_inputs.ood_spec}, the teacher flags "
            f"{int(t.flagged.sum())}, the student {int(s.flagged.sum())}, both "
            f"{int((t.flagged & s.flagged).sum())}; {len(one)} are flagged by one model only",
            lines,
        )

    def _explain_efficiency(self, metric: str, batch: int) -> str:
        t, s_ = self._footprint("teacher"), self._footprint("student")
        if metric == "size_ratio":
            return (
                f"teacher {t.size_bytes / 2**20:.1f} MiB ({t.parameters:,} parameters, from "
                f"{t.measured_from}), student {s_.size_bytes / 2**20:.1f} MiB "
                f"({s_.parameters:,} parameters, from {s_.measured_from})"
            )
        lt, ls = self.latency("teacher", batch), self.latency("student", batch)
        return (
            f"one call on {batch} texts: teacher {lt.median_ms:.2f} ms ({lt.runtime}, "
            f"{lt.threads} threads), student {ls.median_ms:.2f} ms ({ls.runtime}, {ls.threads} "
            f"threads); medians of {lt.runs} and {ls.runs} timed calls after warm-up"
        )

    def _explain_attack(self, metric: str) -> tuple[str, list[str]]:
        a = self.attack_results
        t, s = a.arrays("teacher"), a.arrays("student")
        counts = (
            f"the attack broke {int(s['success'].sum())} of the {int(s['attacked'].sum())} "
            f"examples the student gets right, and {int(t['success'].sum())} of the "
            f"{int(t['attacked'].sum())} the teacher gets right"
        )
        if metric == "transfer_rate":
            fooled = [
                i
                for i, e in enumerate(a.teacher)
                if e.success and s["before"][i] == e.label and a.transferred[i] != e.label
            ]
            return (
                f"{counts}; {len(fooled)} of the teacher's adversarial texts also fool the student",
                [
                    self._adversarial_line(a.teacher[i], "teacher")
                    + f"\n      student on it: {self._name(int(a.transferred[i]))}"
                    for i in fooled
                ],
            )
        if metric.startswith("teacher_"):
            return counts, [self._adversarial_line(e, "teacher") for e in a.teacher if e.success]
        held = [i for i, e in enumerate(a.student) if e.success and not a.teacher[i].success]
        rest = [i for i, e in enumerate(a.student) if e.success and a.teacher[i].success]
        return (
            f"{counts}; {len(held)} of the student's broken examples resist the teacher's attack",
            [self._adversarial_line(a.student[i], "student") for i in held + rest],
        )

    def _adversarial_line(self, e: ExampleResult, model: str) -> str:
        changes = ", ".join(f"{old}->{new}" for old, new in e.changes)
        return (
            f"[{e.index}] {_short(e.original, 80)!r}\n      -> {_short(e.adversarial, 80)!r}"
            f"\n      {e.words_changed} of {e.words} words changed ({changes}); gold="
            f"{self._name(e.label)}, {model} {self._name(e.before)} -> {self._name(e.after)}"
        )

    def _explain_prediction(self, metric: str) -> tuple[str, np.ndarray]:
        o = self.outputs
        pred_t, pred_s = o.teacher.argmax(axis=1), o.student.argmax(axis=1)
        wrong_t, wrong_s = pred_t != o.labels, pred_s != o.labels
        jsd = jensen_shannon(o.teacher, o.student)
        if metric == "error_overlap":
            only = np.flatnonzero(wrong_t != wrong_s)
            return (
                f"errors: teacher {wrong_t.sum()}, student {wrong_s.sum()}, shared "
                f"{(wrong_t & wrong_s).sum()}; {len(only)} examples are errors of one model only",
                only,
            )
        if metric == "label_loyalty":
            differ = np.flatnonzero(pred_t != pred_s)
            differ = differ[np.argsort(-jsd[differ], kind="stable")]
            return f"{len(differ)} of {self.n} examples get different labels", differ
        if metric == "probability_loyalty":
            order = np.argsort(-jsd, kind="stable")
            return "the examples whose distributions differ most (largest JSD)", order
        if metric == "kl_divergence":
            order = np.argsort(-kl_per_example(o.teacher, o.student), kind="stable")
            return "the examples with the largest KL(teacher || student)", order
        if metric == "worst_class_drop":
            table = self.per_class()
            drops = [
                (t - s_, c)
                for c, (t, s_) in enumerate(zip(table["teacher"], table["student"], strict=True))
                if t is not None and s_ is not None
            ]
            worst = max(drops, key=lambda d: (d[0], -d[1]))[1]  # ties: the first class
            lost = np.flatnonzero((o.labels == worst) & ~wrong_t & wrong_s)
            return (
                f"on class {table['labels'][worst]} ({table['support'][worst]} examples) the "
                f"teacher is right on {table['teacher'][worst]:.4f} and the student on "
                f"{table['student'][worst]:.4f}; the student gets {len(lost)} of them wrong "
                "that the teacher gets right",
                lost,
            )
        if metric in ("teacher_ece", "student_ece", "ece_increase"):
            model = "teacher" if metric == "teacher_ece" else "student"
            probs = o.teacher if model == "teacher" else o.student
            wrong = wrong_t if model == "teacher" else wrong_s
            confident = np.flatnonzero(wrong)
            confident = confident[np.argsort(-probs[confident].max(axis=1), kind="stable")]
            b = int(np.abs(slices.calibration_gaps(probs, o.labels)).argmax())
            inside = slices.confidence_bins(probs) == b
            return (
                f"ECE: teacher {self.teacher_ece():.4f}, student {self.student_ece():.4f}; the "
                f"{model}'s largest gap is in the confidence bin ({b / slices.ECE_BINS:.3f}, "
                f"{(b + 1) / slices.ECE_BINS:.3f}]: {int(inside.sum())} examples, accuracy "
                f"{float(np.mean(~wrong[inside])):.4f} at mean confidence "
                f"{float(probs[inside].max(axis=1).mean()):.4f}; the {model}'s most confident "
                "errors",
                confident,
            )
        if metric in ("accuracy_drop", "mcnemar_p_value"):
            lost = np.flatnonzero(~wrong_t & wrong_s)
            gained = int((wrong_t & ~wrong_s).sum())
            return (
                f"the student gets {len(lost)} examples wrong that the teacher gets right "
                f"(and {gained} right that the teacher gets wrong)",
                lost,
            )
        changed = np.flatnonzero(wrong_t != wrong_s)
        return f"{len(changed)} of {self.n} examples flip between right and wrong", changed

    def probability_sample(self, limit: int = SAMPLE_POINTS) -> dict[str, list[Any]]:
        """Each model's probability of the gold label on up to ``limit`` examples (all of
        them, or a sample seeded with ``seed``), with whether each model is right: the
        points of the report's teacher-vs-student scatter."""
        o = self.outputs
        n = len(o.labels)
        if n <= limit:
            index = np.arange(n)
        else:
            index = np.sort(np.random.default_rng(self.seed).choice(n, limit, replace=False))
        gold = o.labels[index]
        return {
            "index": index.tolist(),
            "teacher": np.round(o.teacher[index, gold], 4).tolist(),
            "student": np.round(o.student[index, gold], 4).tolist(),
            "teacher_right": (o.teacher[index].argmax(axis=1) == gold).astype(int).tolist(),
            "student_right": (o.student[index].argmax(axis=1) == gold).astype(int).tolist(),
        }

    # -- record --------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """The comparison as the JSON report writes it: every measurable metric once any
        output exists, and why each other metric could not be measured."""
        out: dict[str, Any] = {
            "teacher": self.teacher,
            "student": self.student,
            "dataset": self.dataset,
            "n": None,
            "metrics": {},
            "checks": list(self.checks),
        }
        if self._attack.loaded:
            a = self.attack_results
            out["attack"] = {**a.settings, "cached": dict(a.cached)}
            out["adversarial_examples"] = [
                _adversarial_json(e, model)
                for model, examples in (("teacher", a.teacher), ("student", a.student))
                for e in _reported(examples, a.report_max)
            ]
        if self.loaded or self._attack.loaded:
            values, reasons = self._measure()
            out["n"] = self.n if self.loaded else None
            out["metrics"] = values
            if reasons:
                out["unavailable"] = reasons
            ci = self.intervals()
            if ci:
                out["ci"] = ci
            if self._latency:
                out["efficiency"] = {
                    "latency": {
                        model: {
                            str(b): lat.to_json()
                            for (m_, b), lat in self._latency.items()
                            if m_ == model
                        }
                        for model in ("teacher", "student")
                    },
                    "speedup": {
                        str(b): self.speedup(b)
                        for b in sorted({b for _, b in self._latency})
                        if ("teacher", b) in self._latency and ("student", b) in self._latency
                    },
                }
            if self._predictions.loaded:
                out["per_class"] = self.per_class()
                out["confusion_matrix"] = self.confusion()
                out["mcnemar"] = self.mcnemar().to_json()
                out["probability_sample"] = self.probability_sample()
        error = self._predictions.error or self._embeddings.error or self._attack.error
        if error is not None and not isinstance(error, MissingOutputError):
            out["error"] = str(error)
        return out


def _reported(examples: tuple[ExampleResult, ...], limit: int) -> list[ExampleResult]:
    """The examples the JSON lists: successes first, then failed attacks, in data order."""
    attacked = [e for e in examples if e.status != "skipped"]
    return sorted(attacked, key=lambda e: not e.success)[:limit]


def _adversarial_json(e: ExampleResult, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "index": e.index,
        "original": e.original,
        "adversarial": e.adversarial,
        "label": e.label,
        "before": e.before,
        "after": e.after,
        "words_changed": e.words_changed,
        "success": e.success,
    }


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."
