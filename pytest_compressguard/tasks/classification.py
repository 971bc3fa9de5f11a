"""Classification of single texts and sentence pairs: class probabilities against gold labels."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError, DataError, MissingOutputError
from pytest_compressguard.core.types import Text, short
from pytest_compressguard.metrics import slices
from pytest_compressguard.metrics.catalogue import prediction_statistics
from pytest_compressguard.metrics.prediction import jensen_shannon, kl_per_example
from pytest_compressguard.metrics.stats import MeanStatistic
from pytest_compressguard.models.base import MAX_LENGTH, Model, label_order
from pytest_compressguard.models.resolve import Signature
from pytest_compressguard.tasks.base import NEGATIVE_FLIPS, PairView, Store, Task

#: Points of the report's probability scatter at most.
SAMPLE_POINTS = 1000


@dataclass(frozen=True)
class PairOutputs:
    """Aligned outputs of a pair: probabilities in the teacher's label order, gold labels."""

    teacher: np.ndarray
    student: np.ndarray
    labels: np.ndarray
    texts: tuple[Text, ...]
    label_names: tuple[str, ...] | None = None

    def statistics(self) -> dict[str, MeanStatistic]:
        """Every prediction statistic of the pair (see the catalogue)."""
        return prediction_statistics(self.teacher, self.student, self.labels)

    def defines(self, metric: Any) -> bool:
        """Every prediction metric but a causal LM's token metrics (of documents)."""
        return not metric.lm

    def right(self) -> tuple[np.ndarray, np.ndarray]:
        """Whether each model's top class is the gold label, per example."""
        return (
            self.teacher.argmax(axis=1) == self.labels,
            self.student.argmax(axis=1) == self.labels,
        )

    def own(self) -> dict[str, float]:
        """The teacher side's own accuracy and ECE (the pairwise table's per-model column)."""
        return {
            "accuracy": float(self.right()[0].mean()),
            "ece": slices.expected_calibration_error(self.teacher, self.labels),
        }

    def per_class(self, label_name: Callable[[int], str]) -> dict[str, Any]:
        """Each gold class's support and both models' accuracy on it (None: no example)."""
        classes = self.teacher.shape[1]

        def listed(a: np.ndarray) -> list[float | None]:
            return [None if np.isnan(x) else float(x) for x in a]

        return {
            "labels": [label_name(c) for c in range(classes)],
            "support": np.bincount(self.labels, minlength=classes).tolist(),
            "teacher": listed(slices.per_class_accuracy(self.teacher, self.labels, classes)),
            "student": listed(slices.per_class_accuracy(self.student, self.labels, classes)),
        }

    def confusion(self) -> list[list[int]]:
        """Counts of (teacher's predicted class, student's predicted class), as rows."""
        return slices.confusion(self.teacher, self.student).tolist()  # type: ignore[no-any-return]

    def missing(self, metric: str, dataset: str) -> str:
        """Why ``metric`` has no statistic here (every classification statistic has one)."""
        return f"{metric} has no value on {dataset}"

    def squad(self) -> dict[str, Any]:
        """Classifiers have no SQuAD evaluation."""
        raise CompressGuardError("the SQuAD scores are defined for question answerers")

    def disagreements(self, limit: int = 50) -> dict[str, Any]:
        """Classifiers give no answers to disagree on (see ``confusion``)."""
        raise CompressGuardError("answer disagreements are defined for question answerers")

    def probability_sample(self, seed: int, limit: int = SAMPLE_POINTS) -> dict[str, list[Any]]:
        """Each model's probability of the gold label on up to ``limit`` examples (all of them,
        or a sample seeded with ``seed``), with whether each model is right: the points of the
        report's teacher-vs-student scatter."""
        n = len(self.labels)
        if n <= limit:
            index = np.arange(n)
        else:
            index = np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
        gold = self.labels[index]
        return {
            "index": index.tolist(),
            "teacher": np.round(self.teacher[index, gold], 4).tolist(),
            "student": np.round(self.student[index, gold], 4).tolist(),
            "teacher_right": (self.teacher[index].argmax(axis=1) == gold).astype(int).tolist(),
            "student_right": (self.student[index].argmax(axis=1) == gold).astype(int).tolist(),
        }

    def record(self, c: Any) -> dict[str, Any]:
        """The JSON record's classification blocks: per-class accuracy, McNemar's test, the
        confusion matrix and the scatter."""
        return {
            "per_class": c.per_class(),
            "mcnemar": c.mcnemar().to_json(),
            "confusion_matrix": c.confusion(),
            "probability_sample": c.probability_sample(),
        }

    def describe(self, c: PairView, i: int) -> str:
        """An example, its gold label and both models' top class with its probability."""
        t, s = int(self.teacher[i].argmax()), int(self.student[i].argmax())
        return (
            f"[{i}] {short(self.texts[i], 80)!r}  gold={c.label_name(int(self.labels[i]))}  "
            f"teacher={c.label_name(t)} ({self.teacher[i, t]:.2f})  "
            f"student={c.label_name(s)} ({self.student[i, s]:.2f})"
        )

    def explain(self, c: PairView, metric: str) -> tuple[str, np.ndarray]:
        """The account of a failed prediction metric and the examples behind it, first first."""
        pred_t, pred_s = self.teacher.argmax(axis=1), self.student.argmax(axis=1)
        wrong_t, wrong_s = pred_t != self.labels, pred_s != self.labels
        jsd = jensen_shannon(self.teacher, self.student)
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
            return f"{len(differ)} of {c.n} examples get different labels", differ
        if metric == "probability_loyalty":
            order = np.argsort(-jsd, kind="stable")
            return "the examples whose distributions differ most (largest JSD)", order
        if metric == "kl_divergence":
            order = np.argsort(-kl_per_example(self.teacher, self.student), kind="stable")
            return "the examples with the largest KL(teacher || student)", order
        if metric == "worst_class_drop":
            table = c.per_class()
            drops = [
                (t - s_, k)
                for k, (t, s_) in enumerate(zip(table["teacher"], table["student"], strict=True))
                if t is not None and s_ is not None
            ]
            worst = max(drops, key=lambda d: (d[0], -d[1]))[1]  # ties: the first class
            lost = np.flatnonzero((self.labels == worst) & ~wrong_t & wrong_s)
            return (
                f"on class {table['labels'][worst]} ({table['support'][worst]} examples) the "
                f"teacher is right on {table['teacher'][worst]:.4f} and the student on "
                f"{table['student'][worst]:.4f}; the student gets {len(lost)} of them wrong "
                "that the teacher gets right",
                lost,
            )
        if metric in ("teacher_ece", "student_ece", "ece_increase"):
            model = "teacher" if metric == "teacher_ece" else "student"
            probs = self.teacher if model == "teacher" else self.student
            wrong = wrong_t if model == "teacher" else wrong_s
            confident = np.flatnonzero(wrong)
            confident = confident[np.argsort(-probs[confident].max(axis=1), kind="stable")]
            b = int(np.abs(slices.calibration_gaps(probs, self.labels)).argmax())
            inside = slices.confidence_bins(probs) == b
            return (
                f"ECE: teacher {c.value('teacher_ece'):.4f}, student "
                f"{c.value('student_ece'):.4f}; the {model}'s largest gap is in the confidence "
                f"bin ({b / slices.ECE_BINS:.3f}, {(b + 1) / slices.ECE_BINS:.3f}]: "
                f"{int(inside.sum())} examples, accuracy {float(np.mean(~wrong[inside])):.4f} "
                f"at mean confidence {float(probs[inside].max(axis=1).mean()):.4f}; the "
                f"{model}'s most confident errors",
                confident,
            )
        if metric in ("accuracy_drop", "mcnemar_p_value", *NEGATIVE_FLIPS):
            lost = np.flatnonzero(~wrong_t & wrong_s)
            gained = int((wrong_t & ~wrong_s).sum())
            return (
                f"the student gets {len(lost)} examples wrong that the teacher gets right "
                f"(and {gained} right that the teacher gets wrong)",
                lost,
            )
        changed = np.flatnonzero(wrong_t != wrong_s)
        return f"{len(changed)} of {c.n} examples flip between right and wrong", changed


class Classification(Task):
    """Texts or sentence pairs into classes (``*ForSequenceClassification``, ONNX logits)."""

    name = "classification"
    does = "classifies texts"
    #: Metrics of one model, listed beside the pairwise matrices.
    own_metrics = ("accuracy", "ece")
    #: The HTML report's sections of the task's own (see ``report.html.SECTIONS``).
    report_sections = frozenset({"scatter", "confusion"})
    per_class_caption = "Accuracy on each class (its number of eval examples in brackets)."
    max_length_default = MAX_LENGTH
    undefined = "{metric} is defined for question answering only (--task qa)"
    not_attacked = None

    def detects(self, signature: Signature) -> bool:
        return True  # a model that is not of another task classifies

    def output_settings(self, settings: Any) -> dict[str, Any]:
        return {}

    def load(self, spec: str, settings: Any, cache_dir: Path | None) -> Model:
        from pytest_compressguard.models.resolve import load_model

        s = settings
        return load_model(
            spec,
            batch_size=s.batch_size,
            max_length=self.max_length(s),
            device=s.device,
            tokenizer=s.tokenizer,
            cache_dir=cache_dir,
            pooling=s.pooling,
            embedding_output=s.embedding_output,
        )

    def read(self, role: str, spec: str, settings: Any) -> Any:
        from pytest_compressguard.data.texts import load_dataset

        s = settings
        try:
            return load_dataset(
                spec,
                text_column=s.text_column,
                pair_column=s.text_pair_column,
                label_column=s.label_column,
                max_examples=s.max_examples if role == "eval" else None,
                seed=s.seed,
                labels="optional" if role == "eval" else "ignored",
            )
        except DataError as exc:
            from pytest_compressguard.data.questions import looks_like_qa

            if looks_like_qa(spec):
                raise DataError(
                    f"{spec} holds question-answering examples, but the teacher {s.teacher} "
                    "is a classifier (give a *ForQuestionAnswering teacher and students, or "
                    f"--task qa): {exc}"
                ) from None
            raise

    def vectors(
        self, store: Store, model: Model, data: Any, settings: Any, *, eval_data: bool = False
    ) -> np.ndarray:
        return store.embeddings(model, data, with_probabilities=eval_data)  # type: ignore[no-any-return]

    def predictions(
        self, store: Store, teacher: Model, student: Model, data: Any, settings: Any
    ) -> PairOutputs:
        return PairOutputs(
            teacher=store.probabilities(teacher, data),
            student=store.probabilities(student, data)[:, label_order(teacher, student)],
            labels=data.label_indices(teacher.labels, teacher.num_labels),
            texts=data.texts,
            label_names=teacher.labels,
        )

    def snapshot_entry(
        self, store: Store, model: Model, role: str, data: Any, settings: Any
    ) -> dict[str, Any]:
        found = store.encoded(model, data, probabilities=role == "eval")
        return {"fingerprint": data.texts_fingerprint, "encoded": found}

    def pairwise_inputs(
        self, store: Store, models: Sequence[Model], data: Any, settings: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        teacher = models[0]
        given: dict[str, Any] = {"probabilities": None, "labels": None, "embeddings": None}
        reasons: dict[str, str] = {}
        try:
            given["labels"] = data.label_indices(teacher.labels, teacher.num_labels)
            given["probabilities"] = [
                store.probabilities(m, data)[:, label_order(teacher, m)] for m in models
            ]
        except (DataError, MissingOutputError) as exc:
            reasons["predictions"] = str(exc)
        try:
            given["embeddings"] = [store.embeddings(m, data) for m in models]
        except MissingOutputError as exc:
            reasons["embeddings"] = str(exc)
        return given, reasons


def pairs_of(
    probabilities: Sequence[np.ndarray] | None, labels: np.ndarray | None
) -> tuple[Callable[[int, int], PairOutputs] | None, str]:
    """The pairwise table's pair outputs of classifiers (None, and why, without them)."""
    if probabilities is None or labels is None:
        return None, "needs every model's probabilities and gold labels"
    return (lambda i, j: PairOutputs(probabilities[i], probabilities[j], labels, ())), ""


CLASSIFICATION = Classification()
