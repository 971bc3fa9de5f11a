"""Comparison: the lazy, cached metrics of one teacher/student pair on one dataset, and the
assertion helpers over them."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from . import metrics as m
from .errors import CompressGuardError
from .metrics.prediction import jensen_shannon, kl_per_example

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
}

MAX_EXAMPLES_SHOWN = 5


@dataclass(frozen=True)
class PairOutputs:
    """Aligned outputs of a pair: probabilities in the teacher's label order, gold labels."""

    teacher: np.ndarray
    student: np.ndarray
    labels: np.ndarray
    texts: tuple[str, ...]
    label_names: tuple[str, ...] | None = None


class Comparison:
    """The behavioural comparison of a student with its teacher on one dataset.

    Outputs are loaded on first use and every metric is computed at most once. Each
    ``assert_*`` call is recorded in :attr:`checks`, passed or not.
    """

    def __init__(
        self,
        teacher: str,
        student: str,
        dataset: str,
        load: Callable[[], PairOutputs],
        current_test: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.teacher = teacher
        self.student = student
        self.dataset = dataset
        self._load = load
        self._outputs: PairOutputs | None = None
        self._error: CompressGuardError | None = None
        self._values: dict[str, float] = {}
        self._current_test = current_test
        self.checks: list[dict[str, Any]] = []

    @classmethod
    def from_arrays(
        cls,
        p_teacher: np.ndarray,
        p_student: np.ndarray,
        labels: np.ndarray,
        texts: tuple[str, ...] | None = None,
        *,
        teacher: str = "teacher",
        student: str = "student",
        dataset: str = "data",
        label_names: tuple[str, ...] | None = None,
    ) -> Comparison:
        """A comparison of precomputed probabilities (teacher label order) and gold labels."""
        outputs = PairOutputs(
            np.asarray(p_teacher, dtype=np.float64),
            np.asarray(p_student, dtype=np.float64),
            np.asarray(labels, dtype=np.int64),
            tuple(texts) if texts is not None else tuple("" for _ in range(len(labels))),
            label_names,
        )
        return cls(teacher, student, dataset, lambda: outputs)

    # -- outputs and metrics -------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether the outputs have been computed."""
        return self._outputs is not None

    @property
    def outputs(self) -> PairOutputs:
        """The pair's outputs, computed on first access (errors are kept and raised again)."""
        if self._outputs is None:
            if self._error is not None:
                raise self._error
            try:
                self._outputs = self._load()
            except CompressGuardError as exc:
                self._error = exc
                raise
        return self._outputs

    @property
    def n(self) -> int:
        """Number of evaluation examples."""
        return len(self.outputs.labels)

    def _value(self, name: str, compute: Callable[[PairOutputs], float]) -> float:
        if name not in self._values:
            self._values[name] = float(compute(self.outputs))
        return self._values[name]

    def teacher_accuracy(self) -> float:
        """Share of examples the teacher labels correctly."""
        return self._value("teacher_accuracy", lambda o: m.accuracy(o.teacher, o.labels))

    def student_accuracy(self) -> float:
        """Share of examples the student labels correctly."""
        return self._value("student_accuracy", lambda o: m.accuracy(o.student, o.labels))

    def accuracy_drop(self) -> float:
        """Teacher accuracy minus student accuracy."""
        return self._value(
            "accuracy_drop", lambda o: self.teacher_accuracy() - self.student_accuracy()
        )

    def label_loyalty(self) -> float:
        """See :func:`pytest_compressguard.metrics.label_loyalty`."""
        return self._value("label_loyalty", lambda o: m.label_loyalty(o.teacher, o.student))

    def probability_loyalty(self) -> float:
        """See :func:`pytest_compressguard.metrics.probability_loyalty`."""
        return self._value(
            "probability_loyalty", lambda o: m.probability_loyalty(o.teacher, o.student)
        )

    def kl_divergence(self) -> float:
        """See :func:`pytest_compressguard.metrics.kl_divergence`."""
        return self._value("kl_divergence", lambda o: m.kl_divergence(o.teacher, o.student))

    def flips(self) -> float:
        """See :func:`pytest_compressguard.metrics.flips`."""
        return self._value("flips", lambda o: m.flips(o.teacher, o.student, o.labels))

    def error_overlap(self) -> float:
        """See :func:`pytest_compressguard.metrics.error_overlap`."""
        return self._value(
            "error_overlap", lambda o: m.error_overlap(o.teacher, o.student, o.labels)
        )

    def metrics(self) -> dict[str, float]:
        """Every prediction metric, by name."""
        return {name: getattr(self, name)() for name in PREDICTION_METRICS}

    # -- assertions ----------------------------------------------------------------------

    def assert_error_overlap(self, *, min: float) -> None:
        """Fail unless the Jaccard index of the error sets is at least ``min``."""
        __tracebackhide__ = True
        self._check("error_overlap", ">=", min)

    def assert_label_loyalty(self, *, min: float) -> None:
        """Fail unless the share of identical predicted labels is at least ``min``."""
        __tracebackhide__ = True
        self._check("label_loyalty", ">=", min)

    def assert_probability_loyalty(self, *, min: float) -> None:
        """Fail unless the probability loyalty is at least ``min``."""
        __tracebackhide__ = True
        self._check("probability_loyalty", ">=", min)

    def assert_accuracy_drop(self, *, max: float) -> None:
        """Fail unless teacher accuracy minus student accuracy is at most ``max``."""
        __tracebackhide__ = True
        self._check("accuracy_drop", "<=", max)

    def assert_flips(self, *, max: float) -> None:
        """Fail unless the share of examples whose correctness flips is at most ``max``."""
        __tracebackhide__ = True
        self._check("flips", "<=", max)

    def assert_kl_divergence(self, *, max: float) -> None:
        """Fail unless the mean KL(teacher || student) is at most ``max`` nats."""
        __tracebackhide__ = True
        self._check("kl_divergence", "<=", max)

    def _check(self, metric: str, op: str, threshold: float) -> None:
        __tracebackhide__ = True
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or not (math.isfinite(threshold))
        ):
            raise TypeError(f"the threshold of {metric} must be a finite number, got {threshold!r}")
        try:
            value = getattr(self, metric)()
        except CompressGuardError as exc:
            problem = str(exc)
        else:
            problem = None
        if problem is not None:  # failed outside the except block: no chained traceback
            pytest.fail(f"compressguard: {metric} could not be measured: {problem}", pytrace=False)
        passed = value >= threshold if op == ">=" else value <= threshold
        self.checks.append(
            {
                "metric": metric,
                "op": op,
                "threshold": float(threshold),
                "value": value,
                "passed": bool(passed),
                "test": self._current_test(),
            }
        )
        if not passed:
            raise AssertionError(self._failure_message(metric, op, threshold, value))

    # -- failure messages ----------------------------------------------------------------

    def _failure_message(self, metric: str, op: str, threshold: float, value: float) -> str:
        bound = "minimum" if op == ">=" else "maximum"
        side = "below" if op == ">=" else "above"
        summary, indices = self._explain(metric)
        lines = [
            f"compressguard: {metric} = {value:.4f} is {side} the {bound} {threshold:.4f}",
            f"  teacher: {self.teacher}",
            f"  student: {self.student}",
            f"  data:    {self.dataset} (n={self.n})",
            f"  {summary}",
        ]
        if len(indices):
            shown = indices[:MAX_EXAMPLES_SHOWN]
            lines.append(f"  {len(shown)} of them:")
            lines.extend("    " + self._describe(int(i)) for i in shown)
        return "\n".join(lines)

    def _name(self, index: int) -> str:
        names = self.outputs.label_names
        return names[index] if names is not None else str(index)

    def _describe(self, i: int) -> str:
        o = self.outputs
        text = o.texts[i] if len(o.texts[i]) <= 80 else o.texts[i][:77] + "..."
        t, s = int(o.teacher[i].argmax()), int(o.student[i].argmax())
        return (
            f"[{i}] {text!r}  gold={self._name(int(o.labels[i]))}  "
            f"teacher={self._name(t)} ({o.teacher[i, t]:.2f})  "
            f"student={self._name(s)} ({o.student[i, s]:.2f})"
        )

    def _explain(self, metric: str) -> tuple[str, np.ndarray]:
        """A one-line account of the metric and the indices of the examples behind it."""
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
        if metric == "accuracy_drop":
            lost = np.flatnonzero(~wrong_t & wrong_s)
            gained = int((wrong_t & ~wrong_s).sum())
            return (
                f"the student gets {len(lost)} examples wrong that the teacher gets right "
                f"(and {gained} right that the teacher gets wrong)",
                lost,
            )
        changed = np.flatnonzero(wrong_t != wrong_s)
        return f"{len(changed)} of {self.n} examples flip between right and wrong", changed

    # -- record --------------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        """The comparison as the JSON report writes it; all metrics once outputs exist."""
        out: dict[str, Any] = {
            "teacher": self.teacher,
            "student": self.student,
            "dataset": self.dataset,
            "n": self.n if self.loaded else None,
            "metrics": self.metrics() if self.loaded else {},
            "checks": list(self.checks),
        }
        if self._error is not None:
            out["error"] = str(self._error)
        return out
