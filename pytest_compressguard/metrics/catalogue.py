"""Every metric of the plugin, once, as data.

The terminal tables, the HTML groups, the pairwise matrices, the JSON record, the interval
list, the ``Comparison.assert_*`` methods and the package-level helpers are all derived from
:data:`CATALOGUE`, assembled here from the entries of each group in report order
(:mod:`~pytest_compressguard.metrics.prediction_entries`,
:mod:`~pytest_compressguard.metrics.entries`): a new metric is one entry there plus its
function. :mod:`~pytest_compressguard.metrics.entry` says what an entry holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pytest_compressguard.metrics.entries import (
    DISTRIBUTION,
    EFFICIENCY,
    REPRESENTATION,
    ROBUSTNESS,
)
from pytest_compressguard.metrics.entry import (
    BATCH,
    DEFAULT_K,
    GROUPS,
    OOD_K,
    RECIPE,
    TASKS,
    Assertion,
    K,
    Metric,
    Param,
    Statistic,
)
from pytest_compressguard.metrics.prediction_entries import PREDICTION
from pytest_compressguard.metrics.stats import MeanStatistic
from pytest_compressguard.metrics.token_entries import TOKENS

__all__ = [
    "ASSERTIONS",
    "BATCH",
    "CATALOGUE",
    "DEFAULT_K",
    "GROUPS",
    "INTERVAL_METRICS",
    "METRICS",
    "OOD_K",
    "PAIR_METRICS",
    "RECIPE",
    "TASKS",
    "Assertion",
    "K",
    "Metric",
    "Param",
    "Statistic",
    "names",
    "prediction_statistics",
    "qa_statistics",
]

#: Every metric, in report order: the groups in the order of :data:`GROUPS`.
CATALOGUE: tuple[Metric, ...] = (
    *PREDICTION,
    *TOKENS,
    *REPRESENTATION,
    *DISTRIBUTION,
    *ROBUSTNESS,
    *EFFICIENCY,
)


#: The catalogue by name.
METRICS: dict[str, Metric] = {m.name: m for m in CATALOGUE}


def names(group: str | None = None, **where: Any) -> list[str]:
    """The names of the metrics of ``group`` (all groups: None) whose fields equal ``where``,
    in catalogue order: ``names("prediction", interval=True)``."""
    return [
        m.name
        for m in CATALOGUE
        if (group is None or m.group == group)
        and all(getattr(m, field) == value for field, value in where.items())
    ]


#: Metrics with a bootstrap interval.
INTERVAL_METRICS: tuple[str, ...] = tuple(names(interval=True))
#: Metrics of an ordered pair in --compressguard-pairwise.
PAIR_METRICS: tuple[str, ...] = tuple(names(pairwise=True))


#: Each assert_* helper and the metric it checks, in catalogue order.
ASSERTIONS: tuple[tuple[Assertion, Metric], ...] = tuple(
    (m.assertion, m) for m in CATALOGUE if m.assertion is not None
)


def qa_statistics(columns: Any) -> dict[str, MeanStatistic]:
    """The statistic of every prediction metric of a QA pair, by name, from its
    :class:`~pytest_compressguard.metrics.qa.QAColumns` (a HasAns/NoAns figure of an empty
    slice is left out)."""
    from pytest_compressguard.metrics import qa

    return qa.statistics(columns)


def prediction_statistics(
    p_teacher: np.ndarray, p_student: np.ndarray, labels: np.ndarray
) -> dict[str, MeanStatistic]:
    """The statistic of every prediction metric with an interval, by name."""
    return {
        m.name: m.statistic(p_teacher, p_student, labels)
        for m in CATALOGUE
        if m.statistic is not None
    }
