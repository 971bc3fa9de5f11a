"""Every metric for every pair among the teacher and the students (Xu et al. 2021, Table 2).

Pure numpy over outputs already computed: the session hands in each model's probabilities
(in the teacher's label order) and embeddings; nothing is loaded or run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_compressguard.core.types import Answer
from pytest_compressguard.metrics.catalogue import (
    METRICS,
    PAIR_METRICS,
    prediction_statistics,
    qa_statistics,
)
from pytest_compressguard.metrics.qa import answer_columns
from pytest_compressguard.metrics.representation import knn_sets, linear_cka, set_jaccard
from pytest_compressguard.metrics.slices import expected_calibration_error
from pytest_compressguard.metrics.stats import mcnemar

__all__ = ["MODEL_METRICS", "PAIR_METRICS", "QA_MODEL_METRICS", "pair_metrics", "pairwise"]

#: The pair metrics that are a statistic of the two models' predictions (or answers).
_STATISTICS = tuple(
    name for name in PAIR_METRICS if METRICS[name].statistic is not None or METRICS[name].qa
)

#: Metrics of one model, listed beside the matrices.
MODEL_METRICS = ("accuracy", "ece")
#: The same for question answerers: exact match and F1.
QA_MODEL_METRICS = ("accuracy", "f1")


def pair_metrics(task: str = "classification") -> tuple[str, ...]:
    """The pair metrics defined for ``task``, in catalogue order."""
    return tuple(name for name in PAIR_METRICS if task in METRICS[name].tasks)


def pairwise(
    models: Sequence[str],
    probabilities: Sequence[np.ndarray] | None,
    labels: np.ndarray | None,
    embeddings: Sequence[np.ndarray] | None,
    k: int = 10,
    *,
    answers: Sequence[Sequence[Answer]] | None = None,
    golds: Sequence[Sequence[str]] | None = None,
    error: str = "exact",
) -> dict[str, Any]:
    """The pairwise table of ``models`` (the teacher first).

    ``metrics[name][i][j]`` is the metric with model i in the teacher's role and model j in
    the student's; the diagonal is None. Prediction metrics need every model's
    ``probabilities`` (in one label order) and gold ``labels`` or, for question answerers,
    every model's ``answers`` and the ``golds``; kNN agreement and CKA need every model's
    ``embeddings``. A metric that cannot be computed stays None and ``unavailable`` says why.
    """
    qa = golds is not None
    m = len(models)
    pairs = [(i, j) for i in range(m) for j in range(m) if i != j]
    names = pair_metrics("qa" if qa else "classification")
    from_statistics = [n for n in names if n != "mcnemar_p_value" and n in _STATISTICS]
    metrics: dict[str, list[list[float | None]]] = {
        name: [[None] * m for _ in range(m)] for name in names
    }
    own = QA_MODEL_METRICS if qa else MODEL_METRICS
    per_model: dict[str, list[float | None]] = {name: [None] * m for name in own}
    unavailable: dict[str, str] = {}
    if qa and answers is not None:
        outcomes = {
            (i, j): answer_columns(golds, answers[i], answers[j], error=error)  # type: ignore[arg-type]
            for i, j in pairs
        }
        for i in range(m if m > 1 else 0):  # model i's scores: its teacher-side columns
            c = outcomes[(i, 1 if i == 0 else 0)]
            per_model["accuracy"][i] = float(c.teacher_exact.mean())
            per_model["f1"][i] = float(c.teacher_f1.mean())
        for (i, j), c in outcomes.items():
            stats = qa_statistics(c)
            for name in from_statistics:
                metrics[name][i][j] = stats[name].value()
            metrics["mcnemar_p_value"][i][j] = mcnemar(
                c.teacher_right > 0, c.student_right > 0
            ).p_value
    elif probabilities is None or labels is None or qa:
        for name in (*from_statistics, "mcnemar_p_value", *own):
            unavailable[name] = (
                "needs every model's answers"
                if qa
                else "needs every model's probabilities and gold labels"
            )
    else:
        right = [p.argmax(axis=1) == labels for p in probabilities]
        for i, p in enumerate(probabilities):
            per_model["accuracy"][i] = float(right[i].mean())
            per_model["ece"][i] = expected_calibration_error(p, labels)
        for i, j in pairs:
            stats = prediction_statistics(probabilities[i], probabilities[j], labels)
            for name in from_statistics:
                metrics[name][i][j] = stats[name].value()
            metrics["mcnemar_p_value"][i][j] = mcnemar(right[i], right[j]).p_value
    if embeddings is None:
        for name in ("knn_agreement", "cka"):
            unavailable[name] = "needs every model's embeddings"
    else:
        for i, j in pairs:
            metrics["cka"][i][j] = linear_cka(embeddings[i], embeddings[j])
        if k >= len(embeddings[0]) - 1:
            unavailable["knn_agreement"] = f"k={k} needs more than {k + 1} examples"
        else:
            neighbours = [knn_sets(e, k) for e in embeddings]
            for i, j in pairs:
                jaccard = set_jaccard(neighbours[i], neighbours[j])
                metrics["knn_agreement"][i][j] = float(jaccard.mean())
    table: dict[str, Any] = {
        "models": list(models),
        "k": k,
        "per_model": per_model,
        "metrics": metrics,
    }
    if unavailable:
        table["unavailable"] = unavailable
    return table
