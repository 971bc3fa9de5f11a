"""Extractive question answering (SQuAD 2.0): answers to questions against gold answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError, ModelLoadError
from pytest_compressguard.core.types import Answer, Question, Text, short
from pytest_compressguard.metrics.catalogue import qa_statistics
from pytest_compressguard.metrics.qa import QAColumns
from pytest_compressguard.metrics.stats import MeanStatistic
from pytest_compressguard.models.base import Model
from pytest_compressguard.models.qa import QA_MAX_LENGTH
from pytest_compressguard.models.resolve import Signature
from pytest_compressguard.tasks.base import NEGATIVE_FLIPS, PairView, Store, Task


@dataclass(frozen=True)
class QAPairOutputs:
    """Aligned answers of a question-answering pair, the gold answers and the per-question
    outcome columns (:class:`~pytest_compressguard.metrics.qa.QAColumns`)."""

    teacher: tuple[Answer, ...]
    student: tuple[Answer, ...]
    golds: tuple[tuple[str, ...], ...]
    questions: tuple[Question, ...]
    columns: QAColumns
    ids: tuple[str, ...] = ()
    #: Question answerers have no classes.
    label_names = None

    @classmethod
    def build(
        cls,
        golds: Sequence[Sequence[str]],
        teacher: Sequence[Answer],
        student: Sequence[Answer],
        questions: Sequence[Question],
        *,
        error: str = "exact",
        ids: Sequence[str] = (),
    ) -> QAPairOutputs:
        """The aligned answers of a pair and their outcome columns."""
        from pytest_compressguard.metrics.qa import answer_columns

        return cls(
            tuple(teacher),
            tuple(student),
            tuple(tuple(g) for g in golds),
            tuple(questions),
            answer_columns(golds, teacher, student, error=error),
            tuple(ids),
        )

    @property
    def texts(self) -> tuple[Text, ...]:
        """The questions' texts (what a report shows of an example)."""
        return tuple(q.question for q in self.questions)

    def statistics(self) -> dict[str, MeanStatistic]:
        """Every prediction statistic of the pair's outcome columns (see the catalogue)."""
        return qa_statistics(self.columns)

    def defines(self, metric: Any) -> bool:
        """Every prediction metric of the task (the catalogue's ``tasks`` says which)."""
        return True

    def right(self) -> tuple[np.ndarray, np.ndarray]:
        """Whether each model is right on each question (see ``--qa-error``)."""
        return self.columns.teacher_right > 0, self.columns.student_right > 0

    def own(self) -> dict[str, float]:
        """The teacher side's own exact match and F1 (the pairwise table's per-model column)."""
        return {
            "accuracy": float(self.columns.teacher_exact.mean()),
            "f1": float(self.columns.teacher_f1.mean()),
        }

    def per_class(self, label_name: Callable[[int], str]) -> dict[str, Any]:
        """The HasAns and NoAns questions' support and each model's exact match (None: empty)."""
        from pytest_compressguard.metrics.qa import SLICES, slice_masks

        masks = slice_masks(self.columns)
        table: dict[str, Any] = {
            "labels": list(SLICES),
            "support": [],
            "teacher": [],
            "student": [],
        }
        for name in SLICES:
            inside = masks[name] > 0
            table["support"].append(int(inside.sum()))
            for model in ("teacher", "student"):
                exact = getattr(self.columns, f"{model}_exact")[inside]
                table[model].append(float(exact.mean()) if inside.any() else None)
        return table

    def confusion(self) -> list[list[int]]:
        """Question answerers have no classes to confuse."""
        raise CompressGuardError("question answerers have no classes to confuse")

    def missing(self, metric: str, dataset: str) -> str:
        """Why a HasAns/NoAns figure has no value: its slice of the data is empty."""
        part = "answerable" if "_has_ans_" in metric else "unanswerable"
        return f"{metric}: {dataset} has no {part} question"

    def squad(self) -> dict[str, dict[str, Any]]:
        """Each model's official SQuAD 2.0 evaluation (percentages; ``best_*`` thresholds on
        its null odds)."""
        from pytest_compressguard.metrics.squad import evaluate

        return {
            model: evaluate(self.golds, [a.text for a in answers], [a.null_odds for a in answers])
            for model, answers in (("teacher", self.teacher), ("student", self.student))
        }

    def disagreements(self, limit: int = 50) -> dict[str, Any]:
        """How often the answers differ, and up to ``limit`` of the questions where they do
        (largest F1 gap first): the report's answer-agreement table."""
        c = self.columns
        differ = np.flatnonzero(c.same == 0)
        differ = differ[np.argsort(-np.abs(c.teacher_f1 - c.student_f1)[differ], kind="stable")]
        rows = [
            {
                "index": int(i),
                "id": self.ids[i] if self.ids else str(i),
                "question": self.questions[i].question,
                "golds": list(self.golds[i]),
                "teacher": self.teacher[i].text,
                "student": self.student[i].text,
                "teacher_f1": float(c.teacher_f1[i]),
                "student_f1": float(c.student_f1[i]),
            }
            for i in differ[:limit]
        ]
        abstain_t = np.array([a.text == "" for a in self.teacher])
        abstain_s = np.array([a.text == "" for a in self.student])
        return {
            "same": int(c.same.sum()),
            "different": len(differ),
            "both_abstain": int((abstain_t & abstain_s).sum()),
            "only_teacher_abstains": int((abstain_t & ~abstain_s).sum()),
            "only_student_abstains": int((~abstain_t & abstain_s).sum()),
            "examples": rows,
        }

    def record(self, c: Any) -> dict[str, Any]:
        """The JSON record's question-answering blocks: exact match on HasAns and NoAns,
        McNemar's test, SQuAD scores and answer agreement."""
        return {
            "per_class": c.per_class(),
            "mcnemar": c.mcnemar().to_json(),
            "squad": c.squad_scores(),
            "answers": c.answer_disagreements(),
        }

    def describe(self, c: PairView, i: int) -> str:
        """A question, a window of its context, the gold answers and both models' answers."""
        return describe_answer(self, i)

    def explain(self, c: PairView, metric: str) -> tuple[str, np.ndarray]:
        """The account of a failed prediction metric and the questions behind it."""
        return explain_answers(self, c, metric)


#: Characters of context shown on each side of an answer.
CONTEXT_SIDE = 60


def _context_window(context: str, anchors: list[str]) -> str:
    """The part of ``context`` around the first anchor found in it (a gold answer, else
    either model's answer), else its beginning; cuts marked with ``...``."""
    for anchor in anchors:
        at = context.find(anchor) if anchor else -1
        if at >= 0:
            begin, end = (
                max(0, at - CONTEXT_SIDE),
                min(len(context), at + len(anchor) + CONTEXT_SIDE),
            )
            break
    else:
        begin, end = 0, min(len(context), 2 * CONTEXT_SIDE)
    return ("..." if begin else "") + context[begin:end] + ("..." if end < len(context) else "")


def _said(answer: Any, exact: float, f1: float) -> str:
    """A model's answer with its probability (or its null odds when it abstains) and scores."""
    if answer.text == "":
        head = f"abstains (null odds {answer.null_odds:+.2f})"
    else:
        p = next((p for t, p in answer.candidates if t == answer.text), None)
        head = f"{answer.text!r}" + (f" (p={p:.2f})" if p is not None else "")
    return f"{head}  EM {exact:.0f}  F1 {f1:.2f}"


def describe_answer(o: QAPairOutputs, i: int) -> str:
    """A question, a window of its context, the gold answers and both models' answers."""
    col = o.columns
    q = o.questions[i]
    golds = [g for g in o.golds[i] if g]
    t, s = o.teacher[i], o.student[i]
    gold = " | ".join(repr(g) for g in dict.fromkeys(golds)) if golds else "unanswerable"
    return (
        f"[{i}] {short(q.question, 80)!r}  gold: {gold}"
        f"\n      context: {_context_window(q.context, [*golds, t.text, s.text])!r}"
        f"\n      teacher: {_said(t, col.teacher_exact[i], col.teacher_f1[i])}"
        f"\n      student: {_said(s, col.student_exact[i], col.student_f1[i])}"
    )


def explain_answers(o: QAPairOutputs, c: PairView, metric: str) -> tuple[str, np.ndarray]:
    """The account of a failed prediction metric of a QA pair and the questions behind it."""
    col = o.columns
    right_t, right_s = col.teacher_right > 0, col.student_right > 0
    differ = np.flatnonzero(col.same == 0)
    if metric == "error_overlap":
        only = np.flatnonzero(right_t != right_s)
        return (
            f"errors: teacher {int((~right_t).sum())}, student {int((~right_s).sum())}, "
            f"shared {int((~right_t & ~right_s).sum())}; {len(only)} questions are errors of "
            "one model only",
            only,
        )
    if metric in ("label_loyalty", "answer_agreement_f1"):
        differ = differ[np.argsort(col.agreement_f1[differ], kind="stable")]
        return (
            f"the models answer {len(differ)} of {c.n} questions differently (mean answer "
            f"agreement F1 {col.agreement_f1.mean():.4f})",
            differ,
        )
    if metric in ("probability_loyalty", "kl_divergence"):
        score = col.jsd if metric == "probability_loyalty" else col.kl
        what = "JSD" if metric == "probability_loyalty" else "KL(teacher || student)"
        return (
            f"the questions whose answer distributions differ most (largest {what})",
            np.argsort(-score, kind="stable"),
        )
    if metric == "f1_drop":
        gap = col.teacher_f1 - col.student_f1
        lost = np.flatnonzero(gap > 0)
        lost = lost[np.argsort(-gap[lost], kind="stable")]
        return (
            f"mean F1: teacher {col.teacher_f1.mean():.4f}, student {col.student_f1.mean():.4f}; "
            f"the student scores lower on {len(lost)} questions and higher on "
            f"{int((gap < 0).sum())}",
            lost,
        )
    if metric == "worst_class_drop":
        table = c.per_class()
        drops = [
            (t - s_, k)
            for k, (t, s_) in enumerate(zip(table["teacher"], table["student"], strict=True))
            if t is not None and s_ is not None
        ]
        worst = max(drops, key=lambda d: (d[0], -d[1]))[1]
        inside = (col.has_answer > 0) if worst == 0 else (col.has_answer == 0)
        lost = np.flatnonzero(inside & (col.teacher_exact > 0) & (col.student_exact == 0))
        return (
            f"on the {table['labels'][worst]} questions ({table['support'][worst]}) the teacher's "
            f"exact match is {table['teacher'][worst]:.4f} and the student's "
            f"{table['student'][worst]:.4f}; the student misses {len(lost)} of them that the "
            "teacher gets",
            lost,
        )
    if metric == "accuracy_drop":
        lost = np.flatnonzero((col.teacher_exact > 0) & (col.student_exact == 0))
        gained = int(((col.teacher_exact == 0) & (col.student_exact > 0)).sum())
        return (
            f"the student misses {len(lost)} exact matches the teacher gets (and gets {gained} "
            "the teacher misses)",
            lost,
        )
    if metric in ("mcnemar_p_value", *NEGATIVE_FLIPS):
        lost = np.flatnonzero(right_t & ~right_s)
        return (
            f"the student gets {len(lost)} questions wrong that the teacher gets right (and "
            f"{int((~right_t & right_s).sum())} right that the teacher gets wrong)",
            lost,
        )
    changed = np.flatnonzero(right_t != right_s)
    return f"{len(changed)} of {c.n} questions flip between right and wrong", changed


class QuestionAnswering(Task):
    """Extractive question answering (``*ForQuestionAnswering``, ONNX start/end logits)."""

    name = "qa"
    does = "answers questions"
    #: Metrics of one model, listed beside the pairwise matrices: exact match and F1.
    own_metrics = ("accuracy", "f1")
    #: The HTML report's sections of the task's own (see ``report.html.SECTIONS``).
    report_sections = frozenset({"answers"})
    per_class_caption = (
        "Exact match on the answerable (HasAns) and unanswerable (NoAns) questions (their "
        "number in brackets)."
    )
    max_length_default = QA_MAX_LENGTH
    undefined = (
        "{metric} is defined for classifiers only: it needs class probabilities, and a "
        "question answerer's are over answer texts"
    )
    not_attacked = (
        "the attack metrics are defined for classifiers: the attacks of the papers this plugin "
        "follows change a text until a class flips, and a question answerer has no class"
    )

    def answer_settings(self, settings: Any) -> dict[str, Any]:
        """The keyword arguments of ``QuestionAnswerer.answer`` the options give."""
        s = settings
        return {
            "n_best": s.n_best,
            "max_answer_length": s.max_answer_length,
            "null_threshold": s.null_threshold,
        }

    def detects(self, signature: Signature) -> bool:
        return (
            any(a.endswith("ForQuestionAnswering") for a in signature.architectures)
            or {
                "start_logits",
                "end_logits",
            }
            <= signature.outputs
        )

    def output_settings(self, settings: Any) -> dict[str, Any]:
        return {"doc_stride": settings.doc_stride, **self.answer_settings(settings)}

    def load(self, spec: str, settings: Any, cache_dir: Path | None) -> Model:
        from pytest_compressguard.models.qa_models import load_qa_model

        s = settings
        try:
            return load_qa_model(
                spec,
                batch_size=s.batch_size,
                max_length=self.max_length(s),
                doc_stride=s.doc_stride,
                device=s.device,
                tokenizer=s.tokenizer,
                cache_dir=cache_dir,
                pooling=s.pooling,
            )
        except ValueError as exc:  # a stride too long for the window
            raise ModelLoadError(f"{spec}: {exc}") from None

    def read(self, role: str, spec: str, settings: Any) -> Any:
        from pytest_compressguard.data.questions import load_questions

        return load_questions(
            spec,
            max_examples=settings.max_examples if role == "eval" else None,
            seed=settings.seed,
            answers=role == "eval",
        )

    def shown(self, data: Any) -> tuple[Text, ...]:
        return tuple(q.question for q in data.questions)

    def timed(self, data: Any) -> Sequence[Any]:
        return data.questions  # type: ignore[no-any-return]

    def answers(self, store: Store, model: Model, questions: Any, settings: Any) -> Any:
        """A question answerer's answers and embeddings (:class:`QAOutputs`), computed once."""
        return store.answers(model, questions, self.answer_settings(settings))

    def vectors(
        self, store: Store, model: Model, data: Any, settings: Any, *, eval_data: bool = False
    ) -> np.ndarray:
        return self.answers(store, model, data, settings).embeddings  # type: ignore[no-any-return]

    def predictions(
        self, store: Store, teacher: Model, student: Model, data: Any, settings: Any
    ) -> QAPairOutputs:
        return QAPairOutputs.build(
            data.answers,
            self.answers(store, teacher, data, settings).answers,
            self.answers(store, student, data, settings).answers,
            data.questions,
            error=settings.qa_error,
            ids=data.ids,
        )

    def snapshot_entry(
        self, store: Store, model: Model, role: str, data: Any, settings: Any
    ) -> dict[str, Any]:
        found = self.answers(store, model, data, settings)
        return {"fingerprint": data.fingerprint, "answers": found}

    def pairwise_inputs(
        self, store: Store, models: Sequence[Model], data: Any, settings: Any
    ) -> tuple[dict[str, Any], dict[str, str]]:
        found = [self.answers(store, m, data, settings) for m in models]
        given = {
            "probabilities": None,
            "labels": None,
            "embeddings": [f.embeddings for f in found],
            "answers": [f.answers for f in found],
            "golds": data.answers,
            "error": settings.qa_error,
        }
        return given, {}


def pairs_of(
    answers: Sequence[Sequence[Answer]] | None, golds: Sequence[Sequence[str]], error: str
) -> tuple[Callable[[int, int], QAPairOutputs] | None, str]:
    """The pairwise table's pair outputs of question answerers (None, and why, without them)."""
    if answers is None:
        return None, "needs every model's answers"
    return (lambda i, j: QAPairOutputs.build(golds, answers[i], answers[j], (), error=error)), ""


QUESTION_ANSWERING = QuestionAnswering()
