"""Comparison: the lazy, cached metrics of one teacher/student pair on one dataset and their
intervals (the checks made of them are a :class:`~pytest_compressguard.guard.Guard`'s)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.lazy import Lazy
from pytest_compressguard.core.types import Answer, Question, Text
from pytest_compressguard.engine.inputs import OodInputs, PairEmbeddings, PairInputs
from pytest_compressguard.engine.neighbours import NeighbourMetrics
from pytest_compressguard.metrics import robustness as r
from pytest_compressguard.metrics.catalogue import (
    CATALOGUE,
    DEFAULT_K,
    INTERVAL_METRICS,
    METRICS,
    Metric,
)
from pytest_compressguard.metrics.stats import (
    McNemar,
    MeanStatistic,
    bootstrap_means,
    interval,
    mcnemar,
)
from pytest_compressguard.tasks.classification import PairOutputs
from pytest_compressguard.tasks.qa import QUESTION_ANSWERING, QAPairOutputs

T = TypeVar("T")


class Comparison(NeighbourMetrics):
    """The behavioural comparison of a student with its teacher on one dataset.

    Each kind of output (predictions, eval embeddings, OOD embeddings, attacks) is read from
    its :class:`~pytest_compressguard.engine.inputs.PairInputs` on first use and every metric
    is computed at most once. A metric whose outputs a model cannot give raises
    :class:`CompressGuardError` saying why.
    """

    def __init__(
        self,
        teacher: str,
        student: str,
        dataset: str,
        inputs: PairInputs,
        *,
        ood_k: int = DEFAULT_K,
        bootstrap: int = 1000,
        seed: int = 0,
        eval_set: str | None = None,
        fingerprints: dict[str, str] | None = None,
        reference: str = "teacher",
    ) -> None:
        self.teacher = teacher
        self.student = student
        self.dataset = dataset
        #: The eval set's name when a session has several (None with one).
        self.eval_set = eval_set
        #: The content hashes of the teacher, the student and the eval data (``teacher``,
        #: ``student``, ``eval_data``): what ``compressguard merge`` checks; None when the
        #: comparison was built from arrays.
        self.fingerprints = fingerprints
        #: What ``teacher`` is: ``"teacher"``, or ``"baseline"`` for a ``--baseline`` (a
        #: released model the student must stay compatible with).
        self.reference = reference
        self.inputs = inputs
        self.ood_k = ood_k
        self.bootstrap = bootstrap
        self.seed = seed
        self._warned: set[str] = set()
        self._values: dict[str, Any] = {}
        self._replicates: dict[str, np.ndarray] = {}
        self._neighbours: dict[str, np.ndarray] = {}
        self._latency: dict[tuple[str, int], Any] = {}

    @classmethod
    def from_arrays(
        cls,
        p_teacher: np.ndarray | None,
        p_student: np.ndarray | None,
        labels: np.ndarray | None,
        texts: tuple[Text, ...] | None = None,
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
        inputs = PairInputs(n)
        if p_teacher is not None and p_student is not None and labels is not None:
            outputs = PairOutputs(
                np.asarray(p_teacher, dtype=np.float64),
                np.asarray(p_student, dtype=np.float64),
                np.asarray(labels, dtype=np.int64),
                shown,
                label_names,
            )
            inputs = replace(inputs, predictions=Lazy.of(outputs, ""))
        if teacher_embeddings is not None and student_embeddings is not None:
            vectors = PairEmbeddings(
                np.asarray(teacher_embeddings), np.asarray(student_embeddings), shown
            )
            inputs = replace(inputs, embeddings=Lazy.of(vectors, ""))
        if ood is not None:
            inputs = replace(inputs, ood=Lazy.of(ood, ""))
        return cls(teacher, student, dataset, inputs, ood_k=ood_k, bootstrap=bootstrap, seed=seed)

    @classmethod
    def from_answers(
        cls,
        golds: Sequence[Sequence[str]],
        teacher_answers: Sequence[Answer],
        student_answers: Sequence[Answer],
        questions: Sequence[Question] | None = None,
        *,
        error: str = "exact",
        teacher: str = "teacher",
        student: str = "student",
        dataset: str = "data",
        teacher_embeddings: np.ndarray | None = None,
        student_embeddings: np.ndarray | None = None,
        bootstrap: int = 1000,
        seed: int = 0,
    ) -> Comparison:
        """A comparison of two question answerers' precomputed answers to the same questions
        (an empty gold list: unanswerable)."""
        n = len(golds)
        shown = (
            tuple(questions) if questions is not None else tuple(Question("", "") for _ in golds)
        )
        outputs = QAPairOutputs.build(golds, teacher_answers, student_answers, shown, error=error)
        inputs = PairInputs(n, predictions=Lazy.of(outputs, ""), task=QUESTION_ANSWERING)
        if teacher_embeddings is not None and student_embeddings is not None:
            texts = outputs.texts
            vectors = PairEmbeddings(
                np.asarray(teacher_embeddings), np.asarray(student_embeddings), texts
            )
            inputs = replace(inputs, embeddings=Lazy.of(vectors, ""))
        return cls(teacher, student, dataset, inputs, bootstrap=bootstrap, seed=seed)

    # -- outputs -------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether any model output has been computed."""
        return self.inputs.predictions.loaded or self.inputs.embeddings.loaded

    @property
    def task(self) -> str:
        """The name of the pair's task (see :data:`pytest_compressguard.tasks.TASKS`)."""
        return self.inputs.task.name

    @property
    def outputs(self) -> Any:
        """The pair's predictions, computed on first access (errors are kept and raised): the
        task's pair outputs (:class:`~pytest_compressguard.tasks.base.PairPredictions`), of
        probabilities for classifiers and of answers for question answering."""
        return self.inputs.predictions.get()

    @property
    def embeddings(self) -> PairEmbeddings:
        """Both models' eval embeddings, computed on first access."""
        return self.inputs.embeddings.get()

    @property
    def ood_inputs(self) -> OodInputs:
        """Both models' embeddings of the training bank and the OOD candidates."""
        return self.inputs.ood.get()

    @property
    def attack_results(self) -> Any:
        """Both models' attack results (:class:`~pytest_compressguard.inputs.PairAttack`)
        under the session's first recipe, computed or read from the cache on first access:
        what makes an attack test slow."""
        return self.inputs.attack.get()

    def attack_results_for(self, recipe: str | None = None) -> Any:
        """The attack results under ``recipe`` (None: the session's first recipe)."""
        attacks = self.inputs.attacks
        if recipe is None:
            return self.attack_results
        if recipe not in attacks:
            ran = ", ".join(attacks) or "none"
            raise CompressGuardError(
                f"the {recipe} attack is not run in this session (recipes: {ran}); pass "
                f"--attack-recipe={recipe} (the option may be given several times)"
            )
        return attacks[recipe].get()

    def _first_recipe(self) -> str | None:
        return next(iter(self.inputs.attacks), None)

    @property
    def n(self) -> int:
        """Number of evaluation examples (known without running a model)."""
        return self.inputs.n

    def _value(self, name: str, compute: Callable[[], T]) -> T:
        if name not in self._values:
            self._values[name] = compute()
        return self._values[name]

    def value(self, metric: str, param: int | str | None = None) -> Any:
        """A catalogue metric's value (``param``: its ``k``, ``batch`` or ``recipe``)."""
        entry = METRICS[metric]
        if entry.statistic is not None or entry.qa or entry.lm:
            return self.statistic_value(metric)
        assert entry.compute is not None
        return entry.compute(self, param)

    # -- prediction metrics --------------------------------------------------------------

    def _statistics(self) -> dict[str, Any]:
        return self._value("statistics", lambda: self.outputs.statistics())

    def statistic_value(self, metric: str) -> float:
        """The point value of a prediction metric (see the catalogue)."""
        if self.task not in METRICS[metric].tasks:
            raise CompressGuardError(self.inputs.task.undefined.format(metric=metric))
        stats = self._statistics()
        if metric not in stats:  # e.g. a HasAns/NoAns figure of an empty slice
            raise CompressGuardError(self.outputs.missing(metric, self.dataset))
        return self._value(metric, lambda: stats[metric].value())

    def _right(self) -> tuple[np.ndarray, np.ndarray]:
        """Whether each model is right on each example (for QA: see ``--qa-error``)."""
        return self.outputs.right()  # type: ignore[no-any-return]

    def per_class(self) -> dict[str, Any]:
        """Each gold class's support and both models' accuracy on it (None: no example); for
        question answering, the HasAns and NoAns questions' and both models' exact match."""
        return self._value("per_class", lambda: self.outputs.per_class(self.label_name))

    def confusion(self) -> list[list[int]]:
        """Counts of (teacher's predicted class, student's predicted class), as rows."""
        return self._value("confusion", lambda: self.outputs.confusion())

    def mcnemar(self) -> McNemar:
        """McNemar's exact test on the two models' correctness (see
        :class:`~pytest_compressguard.metrics.stats.McNemar`)."""
        return self._value("mcnemar", lambda: mcnemar(*self._right()))

    def mcnemar_p_value(self) -> float:
        """The p-value of :meth:`mcnemar`."""
        return self.mcnemar().p_value

    def squad_scores(self) -> dict[str, dict[str, Any]]:
        """Each model's official SQuAD 2.0 evaluation (percentages; ``best_*`` thresholds
        on its null odds) of a QA pair."""
        return self._value("squad", lambda: self.outputs.squad())

    def answer_disagreements(self, limit: int = 50) -> dict[str, Any]:
        """How often a QA pair's answers differ, and up to ``limit`` of the questions where
        they do (largest F1 gap first): the report's answer-agreement table."""
        return self.outputs.disagreements(limit)  # type: ignore[no-any-return]

    def task_record(self) -> dict[str, Any]:
        """The JSON record's blocks of the pair's task (a classifier pair's confusion matrix
        and probability scatter, a QA pair's SQuAD scores and answer agreement)."""
        return self.outputs.record(self)  # type: ignore[no-any-return]

    def label_name(self, index: int) -> str:
        """A class index of the teacher's label order as its name, when known."""
        names = None
        if self.inputs.predictions.loaded:
            names = self.outputs.label_names
        elif self.inputs.attack.loaded:
            names = self.attack_results.label_names
        return names[index] if names is not None else str(index)

    # -- intervals -----------------------------------------------------------------------

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
                means_of = {n: st for n, st in stats.items() if isinstance(st, MeanStatistic)}
                means = bootstrap_means(
                    np.hstack([st.columns for st in means_of.values()]), self.bootstrap, self.seed
                )
                start = 0
                for name, st in means_of.items():
                    width = st.columns.shape[1]
                    self._replicates[name] = st.reduce(means[:, start : start + width])
                    start += width
                for name, st in stats.items():  # a percentile: the same draws of its rows
                    if name not in means_of:
                        self._replicates[name] = st.bootstrap(self.bootstrap, self.seed)
        if key not in self._replicates:
            self.statistic_value(metric)  # says why it has no value
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
        loaded = {
            "prediction": self.inputs.predictions.loaded,
            "representation": self.inputs.embeddings.loaded,
        }
        out = {}
        for name in INTERVAL_METRICS:
            if not loaded[METRICS[name].group] or self.task not in METRICS[name].tasks:
                continue
            try:
                out[name] = list(self.interval(name, confidence))
            except (CompressGuardError, ValueError):
                continue
        return out

    # -- robustness metrics --------------------------------------------------------------

    def attack_metric(self, name: str, recipe: str | None = None) -> float:
        """An attack metric of the catalogue under ``recipe`` (None: the session's first;
        runs the attacks on first use)."""
        if name not in METRICS or METRICS[name].group != "robustness":
            raise KeyError(f"unknown attack metric {name!r}")
        key = name if recipe is None or recipe == self._first_recipe() else f"{name}@{recipe}"
        return self._value(key, lambda: r.pair_attack_metric(self.attack_results_for(recipe), name))

    def attack_drop(self, model: str = "student", recipe: str | None = None) -> float:
        """(accuracy before - accuracy after) / accuracy before, under the attack."""
        return self.attack_metric(f"{model}_attack_drop", recipe)

    def attack_drop_gap(self, recipe: str | None = None) -> float:
        """Student attack drop minus teacher attack drop."""
        return self.attack_metric("attack_drop_gap", recipe)

    def transfer_rate(self, recipe: str | None = None) -> float:
        """Share of the teacher's successful adversarial examples (on texts the student gets
        right) whose adversarial text the student also gets wrong."""
        return self.attack_metric("transfer_rate", recipe)

    # -- efficiency ----------------------------------------------------------------------

    def footprint(self, model: str) -> Any:
        """The :class:`~pytest_compressguard.efficiency.Footprint` of ``"teacher"`` or
        ``"student"``."""
        e = self.inputs.efficiency.get()
        return e.teacher if model == "teacher" else e.student

    def teacher_size_bytes(self) -> int:
        """Bytes of the teacher's weights (see :mod:`pytest_compressguard.efficiency`)."""
        return self.footprint("teacher").size_bytes

    def student_size_bytes(self) -> int:
        """Bytes of the student's weights."""
        return self.footprint("student").size_bytes

    def size_ratio(self) -> float:
        """Student size / teacher size: 0.25 reads "4x smaller"."""
        return self.student_size_bytes() / self.teacher_size_bytes()

    def teacher_parameters(self) -> int:
        """Elements of the teacher's weight tensors."""
        return self.footprint("teacher").parameters

    def student_parameters(self) -> int:
        """Elements of the student's weight tensors."""
        return self.footprint("student").parameters

    def parameter_ratio(self) -> float:
        """Student parameters / teacher parameters."""
        return self.student_parameters() / self.teacher_parameters()

    def latency(self, model: str, batch: int = 1) -> Any:
        """The median time (:class:`~pytest_compressguard.efficiency.Latency`) of one call of
        ``"teacher"`` or ``"student"`` on ``batch`` eval texts, measured once per session."""
        if (model, batch) not in self._latency:
            self._latency[(model, batch)] = self.inputs.efficiency.get().latency(model, batch)
        return self._latency[(model, batch)]

    def timed_batches(self) -> list[int]:
        """The batch sizes at which both models were timed, ascending."""
        return sorted(
            {b for m, b in self._latency if m == "teacher"}
            & {b for m, b in self._latency if m == "student"}
        )

    def speedup(self, batch: int = 1) -> float:
        """Teacher latency / student latency at ``batch``: 2.0 reads "2x faster"."""
        return self.latency("teacher", batch).median_ms / self.latency("student", batch).median_ms

    def probability_sample(self, limit: int = 1000) -> dict[str, list[Any]]:
        """The points of the report's teacher-vs-student scatter of a classifier pair (see
        :meth:`~pytest_compressguard.tasks.classification.PairOutputs.probability_sample`)."""
        return self.outputs.probability_sample(self.seed, limit)  # type: ignore[no-any-return]

    def preload_ood(self) -> None:
        """Embed the OOD bank and candidates now (a load error is kept for the OOD checks)."""
        try:
            self.inputs.ood.get()
        except CompressGuardError:
            pass

    # -- all metrics ---------------------------------------------------------------------

    def metrics(self) -> dict[str, Any]:
        """Every metric measured so far or measurable from loaded outputs, by name (see
        :meth:`unavailable` for the rest)."""
        return self.measure()[0]

    def unavailable(self) -> dict[str, str]:
        """Why each metric that cannot be measured cannot, by name."""
        return self.measure()[1]

    def measure(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Every recorded metric of the groups whose outputs a test loaded, by name, and why
        each one that cannot be measured cannot. Nothing is loaded here that no test asked
        for, except what the loaded outputs already hold (predictions and embeddings come
        from one pass)."""
        groups: set[str] = set()
        if self.loaded:
            groups |= {"prediction", "representation"}
        if self.inputs.efficiency.loaded or (self.loaded and self.inputs.efficiency.configured):
            groups.add("efficiency")  # sizes are read from files: no model pass
        if self.inputs.ood.loaded:  # the OOD bank and candidates: passes of their own
            groups.add("distribution")
        if self.inputs.attack.loaded:  # attacks are slow: measured only when a test asked
            groups.add("robustness")
        wanted = [
            m
            for m in CATALOGUE
            if m.recorded and m.group in groups and self.task in m.tasks and self._defines(m)
        ]
        return self.measured(wanted)

    def _defines(self, metric: Metric) -> bool:
        """Whether the pair's predictions define ``metric`` (a causal LM's documents define
        the token metrics, its multiple-choice sets the others); True until they are loaded."""
        if metric.group != "prediction" or not self.inputs.predictions.loaded:
            return True
        try:
            return bool(self.outputs.defines(metric))
        except CompressGuardError:  # the predictions failed: each metric says why
            return True

    def measured(
        self, metrics: list[Metric], recipe: str | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Each metric's value at its default parameter (an attack metric's under ``recipe``),
        and why each one that cannot be measured cannot."""
        values: dict[str, Any] = {}
        reasons: dict[str, str] = {}
        for metric in metrics:
            param = recipe if metric.group == "robustness" else None
            if param is None and metric.param is not None:
                param = metric.param.default
            try:
                values[metric.name] = self.value(metric.name, param)
            except (CompressGuardError, ValueError) as exc:
                reasons[metric.name] = str(exc)
        return values, reasons
