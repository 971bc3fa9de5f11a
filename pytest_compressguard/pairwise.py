"""Every metric for every pair among the teacher and the students (Xu et al. 2021, Table 2).

Pure numpy over outputs already computed: the session hands in each model's probabilities
(in the teacher's label order) and embeddings; nothing is loaded or run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics.catalogue import METRICS, PAIR_METRICS, prediction_statistics
from .metrics.representation import knn_sets, linear_cka, set_jaccard
from .metrics.slices import expected_calibration_error
from .metrics.stats import mcnemar

__all__ = ["MODEL_METRICS", "PAIR_METRICS", "pairwise"]

#: Metrics of one model, listed beside the matrices.
MODEL_METRICS = ("accuracy", "ece")
#: The pair metrics that are a statistic of the two models' predictions.
_FROM_STATISTICS = tuple(name for name in PAIR_METRICS if METRICS[name].statistic is not None)


def pairwise(
    models: Sequence[str],
    probabilities: Sequence[np.ndarray] | None,
    labels: np.ndarray | None,
    embeddings: Sequence[np.ndarray] | None,
    k: int = 10,
) -> dict[str, Any]:
    """The pairwise table of ``models`` (the teacher first).

    ``metrics[name][i][j]`` is the metric with model i in the teacher's role and model j in
    the student's; the diagonal is None. Prediction metrics need every model's
    ``probabilities`` (in one label order) and gold ``labels``; kNN agreement and CKA need
    every model's ``embeddings``. A metric that cannot be computed stays None and
    ``unavailable`` says why.
    """
    m = len(models)
    pairs = [(i, j) for i in range(m) for j in range(m) if i != j]
    metrics: dict[str, list[list[float | None]]] = {
        name: [[None] * m for _ in range(m)] for name in PAIR_METRICS
    }
    per_model: dict[str, list[float | None]] = {name: [None] * m for name in MODEL_METRICS}
    unavailable: dict[str, str] = {}
    if probabilities is None or labels is None:
        for name in (*_FROM_STATISTICS, "mcnemar_p_value", *MODEL_METRICS):
            unavailable[name] = "needs every model's probabilities and gold labels"
    else:
        right = [p.argmax(axis=1) == labels for p in probabilities]
        for i, p in enumerate(probabilities):
            per_model["accuracy"][i] = float(right[i].mean())
            per_model["ece"][i] = expected_calibration_error(p, labels)
        for i, j in pairs:
            stats = prediction_statistics(probabilities[i], probabilities[j], labels)
            for name in _FROM_STATISTICS:
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
