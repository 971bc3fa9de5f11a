"""Every metric for every pair among the teacher and the students (Xu et al. 2021, Table 2).

Pure numpy over outputs already computed: the session hands in each model's probabilities
(in the teacher's label order) and embeddings; nothing is loaded or run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pytest_compressguard.core.types import Answer
from pytest_compressguard.metrics.catalogue import METRICS, PAIR_METRICS
from pytest_compressguard.metrics.representation import knn_sets, linear_cka, set_jaccard
from pytest_compressguard.metrics.stats import mcnemar
from pytest_compressguard.tasks import DEFAULT
from pytest_compressguard.tasks.base import Task
from pytest_compressguard.tasks.classification import CLASSIFICATION
from pytest_compressguard.tasks.classification import pairs_of as classifier_pairs
from pytest_compressguard.tasks.qa import QUESTION_ANSWERING
from pytest_compressguard.tasks.qa import pairs_of as qa_pairs

__all__ = ["PAIR_METRICS", "pair_metrics", "pairwise"]

#: The pair metrics that are a statistic of the two models' predictions (or answers).
_STATISTICS = tuple(
    name for name in PAIR_METRICS if METRICS[name].statistic is not None or METRICS[name].qa
)


def pair_metrics(task: str = DEFAULT.name) -> tuple[str, ...]:
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
    task: Task
    if golds is not None:  # question answerers' answers
        task, (pair_of, missing) = QUESTION_ANSWERING, qa_pairs(answers, golds, error)
    else:
        task, (pair_of, missing) = CLASSIFICATION, classifier_pairs(probabilities, labels)
    m = len(models)
    pairs = [(i, j) for i in range(m) for j in range(m) if i != j]
    names = pair_metrics(task.name)
    from_statistics = [n for n in names if n != "mcnemar_p_value" and n in _STATISTICS]
    metrics: dict[str, list[list[float | None]]] = {
        name: [[None] * m for _ in range(m)] for name in names
    }
    per_model: dict[str, list[float | None]] = {name: [None] * m for name in task.own_metrics}
    unavailable: dict[str, str] = {}
    if pair_of is None:
        for name in (*from_statistics, "mcnemar_p_value", *task.own_metrics):
            unavailable[name] = missing
    else:
        outcomes = {(i, j): pair_of(i, j) for i, j in pairs}
        for i in range(m if m > 1 else 0):  # model i's own scores: its teacher side
            for name, value in outcomes[(i, 1 if i == 0 else 0)].own().items():
                per_model[name][i] = value
        for (i, j), o in outcomes.items():
            stats = o.statistics()
            for name in from_statistics:
                metrics[name][i][j] = stats[name].value()
            metrics["mcnemar_p_value"][i][j] = mcnemar(*o.right()).p_value
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
