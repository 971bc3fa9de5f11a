"""Per-question outcomes of a teacher/student pair of extractive-QA models: the columns from
which the prediction metrics (their means, their bootstrap intervals) are computed.

- exact match and F1 of each model's answer: the official SQuAD 2.0 scores (:mod:`.squad`);
- right: exact match = 1 (or, with ``error="f1"``, F1 >= 0.5); an error is not right;
- same: both answers have the same normalised text (both abstaining counts as the same);
- agreement F1: the SQuAD token F1 between the teacher's and the student's answers;
- answer distributions: each model's n-best candidates and null answer with run_qa's softmax
  probabilities, merged by normalised text (the null answer is ""), compared on the union of
  both models' texts. A text a model does not list scores below its whole n-best, so it gets
  that model's smallest listed probability (an upper bound), and the distribution is
  renormalised; JSD (base 2) and KL(teacher || student) (nats) are taken on those, so KL is a
  lower bound of the divergence the full span distributions would give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pytest_compressguard.core.types import Answer
from pytest_compressguard.metrics import squad
from pytest_compressguard.metrics.stats import MeanStatistic

ERRORS = ("exact", "f1")


@dataclass(frozen=True)
class QAColumns:
    """One row per question (float64 arrays, 0/1 for the indicators)."""

    teacher_exact: np.ndarray
    student_exact: np.ndarray
    teacher_f1: np.ndarray
    student_f1: np.ndarray
    teacher_right: np.ndarray
    student_right: np.ndarray
    has_answer: np.ndarray
    same: np.ndarray
    agreement_f1: np.ndarray
    jsd: np.ndarray
    kl: np.ndarray


def merged(candidates: Sequence[tuple[str, float]]) -> dict[str, float]:
    """A model's candidates as a distribution on normalised answer texts."""
    out: dict[str, float] = {}
    for text, probability in candidates:
        key = squad.normalize_answer(text)
        out[key] = out.get(key, 0.0) + probability
    return out


def on_union(teacher: dict[str, float], student: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Both distributions on the union of their texts (sorted), each text a model does not
    list given that model's smallest listed probability, then renormalised."""
    texts = sorted(teacher.keys() | student.keys())
    out = []
    for own in (teacher, student):
        floor = min(own.values())
        p = np.array([own.get(t, floor) for t in texts], dtype=np.float64)
        out.append(p / p.sum())
    return out[0], out[1]


def _kl(p: np.ndarray, q: np.ndarray, log: np.ufunc = np.log) -> float:
    """Sum of p log(p / q) over p > 0 (inf where q = 0 < p)."""
    inside = p > 0
    with np.errstate(divide="ignore"):
        return float(np.sum(p[inside] * log(p[inside] / q[inside])))


def _jsd_bits(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    return 0.5 * _kl(p, m, np.log2) + 0.5 * _kl(q, m, np.log2)


def columns(
    golds: Sequence[Sequence[str]],
    teacher: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    student: Sequence[tuple[str, Sequence[tuple[str, float]]]],
    *,
    error: str = "exact",
) -> QAColumns:
    """The outcome columns of a pair: ``teacher`` and ``student`` give each question's
    (answer text, candidates with probabilities)."""
    if error not in ERRORS:
        raise ValueError(f"error must be one of {ERRORS}, got {error!r}")
    if not (len(golds) == len(teacher) == len(student)) or not golds:
        raise ValueError(
            f"{len(golds)} questions, {len(teacher)} teacher and {len(student)} student answers"
        )
    rows = []
    for answers, (t_text, t_cands), (s_text, s_cands) in zip(golds, teacher, student, strict=True):
        t_exact, t_f1 = squad.scores(answers, t_text)
        s_exact, s_f1 = squad.scores(answers, s_text)
        p, q = on_union(merged(t_cands), merged(s_cands))
        rows.append(
            (
                t_exact,
                s_exact,
                t_f1,
                s_f1,
                float(t_exact if error == "exact" else t_f1 >= 0.5),
                float(s_exact if error == "exact" else s_f1 >= 0.5),
                float(bool(squad.gold_answers(answers)[0])),
                float(squad.normalize_answer(t_text) == squad.normalize_answer(s_text)),
                squad.f1(t_text, s_text),
                _jsd_bits(p, q),
                _kl(p, q),
            )
        )
    table = np.array(rows, dtype=np.float64)
    return QAColumns(*(table[:, i].copy() for i in range(table.shape[1])))


def answer_columns(
    golds: Sequence[Sequence[str]],
    teacher: Sequence[Answer],
    student: Sequence[Answer],
    *,
    error: str = "exact",
) -> QAColumns:
    """:func:`columns` of two models' :class:`~pytest_compressguard.models.qa.Answer` lists."""
    return columns(
        golds,
        [(a.text, a.candidates) for a in teacher],
        [(a.text, a.candidates) for a in student],
        error=error,
    )


# -- the prediction metrics of a QA pair: each a MeanStatistic of the columns ---------------

#: The per-question slices that stand in for a classifier's classes.
SLICES = ("HasAns", "NoAns")


def _ratio(means: np.ndarray) -> np.ndarray:
    """mean(x * in_slice) / mean(in_slice): the mean of x over the slice."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return means[..., 0] / means[..., 1]


def _slice_mean(x: np.ndarray, inside: np.ndarray) -> MeanStatistic:
    return MeanStatistic(np.stack([x * inside, inside], 1), _ratio)


def slice_masks(c: QAColumns) -> dict[str, np.ndarray]:
    """Each slice's 0/1 column: HasAns (a gold answer exists), NoAns (unanswerable)."""
    return {"HasAns": c.has_answer, "NoAns": 1 - c.has_answer}


def statistics(c: QAColumns) -> dict[str, MeanStatistic]:
    """Every prediction metric of a QA pair, by its catalogue name (see the module
    docstring for the columns). A HasAns/NoAns figure of an empty slice is left out."""
    from pytest_compressguard.metrics.prediction import _column, _jaccard, _ratio, _WorstClass

    wrong_t, wrong_s = 1 - c.teacher_right, 1 - c.student_right
    drop = c.teacher_exact - c.student_exact
    masks = slice_masks(c)
    out = {
        "teacher_accuracy": _column(c.teacher_exact),
        "student_accuracy": _column(c.student_exact),
        "accuracy_drop": _column(drop),
        "teacher_f1": _column(c.teacher_f1),
        "student_f1": _column(c.student_f1),
        "f1_drop": _column(c.teacher_f1 - c.student_f1),
        "label_loyalty": _column(c.same),
        "answer_agreement_f1": _column(c.agreement_f1),
        "probability_loyalty": _column(1.0 - np.sqrt(np.clip(c.jsd, 0.0, 1.0))),
        "kl_divergence": _column(c.kl),
        "flips": _column(np.abs(c.teacher_right - c.student_right)),
        "negative_flip_rate": _column(c.teacher_right * wrong_s),
        "backward_trust_compatibility": MeanStatistic(
            np.stack([c.teacher_right * c.student_right, c.teacher_right], 1), _ratio
        ),
        "backward_error_compatibility": MeanStatistic(
            np.stack([wrong_t * wrong_s, wrong_s], 1), _ratio
        ),
        "error_overlap": MeanStatistic(
            np.stack([wrong_t * wrong_s, np.maximum(wrong_t, wrong_s)], 1), _jaccard
        ),
        "worst_class_drop": MeanStatistic(
            np.stack([*(drop * m for m in masks.values()), *masks.values()], 1),
            _WorstClass(len(SLICES)),
        ),
    }
    for name, mask in masks.items():
        if not mask.any():
            continue
        key = "has_ans" if name == "HasAns" else "no_ans"
        for model in ("teacher", "student"):
            for score in ("exact", "f1"):
                column = getattr(c, f"{model}_{score}")
                out[f"{model}_{key}_{score}"] = _slice_mean(column, mask)
    return out
