"""Every metric for every pair among the teacher and the students (Xu et al. 2021, Table 2).

Pure numpy over outputs already computed: the session hands in each model's probabilities
(in the teacher's label order) and embeddings; nothing is loaded or run here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .metrics.columns import prediction_statistics
from .metrics.representation import knn_sets, linear_cka, set_jaccard
from .metrics.slices import expected_calibration_error
from .metrics.stats import mcnemar

#: Metrics of an ordered pair (row = the reference in the teacher's role, column = the model
#: compared with it), in report order.
PAIR_METRICS: dict[str, str] = {
    "accuracy_drop": "row accuracy - column accuracy",
    "label_loyalty": "share of examples with the same predicted label",
    "probability_loyalty": "mean of 1 - sqrt(JSD2(p_row, p_column))",
    "kl_divergence": "mean KL(p_row || p_column) in nats",
    "flips": "share of examples whose correctness differs",
    "error_overlap": "Jaccard index of the two error sets",
    "worst_class_drop": "largest per-class accuracy drop (row - column)",
    "ece_increase": "column ECE - row ECE",
    "mcnemar_p_value": "McNemar's exact test on the two models' correctness",
    "knn_agreement": "mean Jaccard of the two models' k-NN sets",
    "cka": "linear CKA of the two models' embeddings",
}
#: Metrics of one model, listed beside the matrices.
MODEL_METRICS = ("accuracy", "ece")
#: The pair metrics that prediction_statistics gives (all but the test and the embeddings').
_FROM_COLUMNS = tuple(
    name for name in PAIR_METRICS if name not in ("mcnemar_p_value", "knn_agreement", "cka")
)


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
        for name in (*_FROM_COLUMNS, "mcnemar_p_value", *MODEL_METRICS):
            unavailable[name] = "needs every model's probabilities and gold labels"
    else:
        right = [p.argmax(axis=1) == labels for p in probabilities]
        for i, p in enumerate(probabilities):
            per_model["accuracy"][i] = float(right[i].mean())
            per_model["ece"][i] = expected_calibration_error(p, labels)
        for i, j in pairs:
            stats = prediction_statistics(probabilities[i], probabilities[j], labels)
            for name in _FROM_COLUMNS:
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
