"""The shape of a catalogue entry: :class:`Metric`, its :class:`Param` and :class:`Assertion`,
and the builders of the prediction and attack entries.

An entry says what a metric is called, what it means, how it is shown, which way is better,
whether it has a bootstrap interval, its parameter, and how it is computed:
``compute(comparison, param)`` reads a
:class:`~pytest_compressguard.engine.comparison.Comparison` (``param`` is the entry's ``k``,
``batch`` or ``recipe``, or None); a prediction metric instead names its ``statistic``, a
:class:`~pytest_compressguard.metrics.stats.MeanStatistic` of ``(p_teacher, p_student,
labels)`` that gives its value and its bootstrap replicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_compressguard.metrics.stats import MeanStatistic

#: The tasks a comparison can be of (see ``--task``).
TASKS = ("classification", "qa", "causal-lm")

#: Group -> the title the reports give it, in report order.
GROUPS: dict[str, str] = {
    "prediction": "prediction",
    "representation": "representation",
    "distribution": "out of distribution",
    "robustness": "attack",
    "efficiency": "size and speed",
}

Statistic = Callable[[np.ndarray, np.ndarray, np.ndarray], MeanStatistic]


@dataclass(frozen=True)
class Param:
    """A metric's parameter: ``k`` (neighbours), ``batch`` (texts per timed call) or
    ``recipe`` (the attack)."""

    name: str
    default: int | str | None
    doc: str


#: The k of kNN agreement when a check or report names none.
DEFAULT_K = 10
K = Param("k", DEFAULT_K, "neighbours per example")
OOD_K = Param("k", None, "Deep-KNN neighbours (default: --ood-k)")
BATCH = Param("batch", 1, "texts per timed call")
RECIPE = Param("recipe", None, "the attack recipe (default: the first --attack-recipe)")


@dataclass(frozen=True)
class Assertion:
    """An ``assert_*`` helper: its name, the keyword of its bound and the bound's sense."""

    name: str
    keyword: str  # "min", "max" or "alpha"
    doc: str
    default: float | None = None  # a bound with a default (McNemar's alpha)


@dataclass(frozen=True)
class Metric:
    """One metric of the catalogue: see the module docstring."""

    name: str
    group: str
    meaning: str
    label: str
    higher_is_better: bool
    compute: Callable[[Any, int | None], Any] | None = None
    statistic: Statistic | None = None
    #: defined on a question-answering pair: a statistic of its outcome columns
    #: (:func:`pytest_compressguard.metrics.qa.statistics` gives it by this name)
    qa: bool = False
    #: defined on a causal-LM pair's documents only: a statistic of its token scores (the
    #: task's pair outputs give it by this name); the classification statistics are defined
    #: on its multiple-choice sets
    lm: bool = False
    interval: bool = False
    param: Param | None = None
    #: how a value is shown: "ratio" (0.1234), "bytes", "count", "times" (2.00x), "queries"
    display: str = "ratio"
    #: the terminal table it is a column of (None: not in a table)
    table: int | None = None
    #: a matrix of --compressguard-pairwise
    pairwise: bool = False
    #: drawn as a heatmap in the HTML's pairwise section
    pairwise_figure: bool = False
    #: in the JSON record's "metrics" (McNemar's p has its own block, latency "efficiency")
    recorded: bool = True
    #: a row of the HTML metric table
    shown: bool = True
    assertion: Assertion | None = None

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks the metric is defined for: a prediction statistic for those it has a
        statistic of (a classification statistic is a causal LM's on multiple choice), an
        attack metric for classifiers, every other metric for all."""
        if self.statistic is not None or self.qa or self.lm:
            defined = {
                "classification": self.statistic is not None,
                "qa": self.qa,
                "causal-lm": self.statistic is not None or self.lm,
            }
            return tuple(task for task in TASKS if defined[task])
        if self.group == "robustness":
            return ("classification",)
        return TASKS

    @property
    def op(self) -> str:
        """The comparison an assertion makes: ``>=`` for a minimum, ``<=`` for a maximum."""
        return ">=" if self.higher_is_better else "<="


def prediction_entry(
    name: str,
    meaning: str,
    label: str,
    higher: bool,
    statistic: Statistic | None,
    *,
    qa: bool = True,
    table: int | None = 0,
    pairwise: bool = True,
    figure: bool = False,
    assertion: str | None = None,
) -> Metric:
    """A prediction metric with a bootstrap interval, computed from its statistic (a
    classifier's) and, with ``qa``, from a QA pair's outcome columns."""
    keyword = "min" if higher else "max"
    return Metric(
        name,
        "prediction",
        meaning,
        label,
        higher,
        statistic=statistic,
        qa=qa,
        interval=True,
        table=table,
        pairwise=pairwise,
        pairwise_figure=figure,
        assertion=Assertion(f"assert_{name}", keyword, assertion) if assertion else None,
    )


def attack_entry(
    name: str,
    meaning: str,
    label: str | None,
    higher: bool,
    display: str = "ratio",
    assertion: Assertion | None = None,
) -> Metric:
    """An attack metric of one recipe (its ``param``), read from the comparison's attack
    results by name; with a ``label``, a column of the terminal attack table (3)."""
    return Metric(
        name,
        "robustness",
        meaning,
        label or name,
        higher,
        compute=lambda c, recipe: c.attack_metric(name, recipe),
        table=3 if label else None,
        display=display,
        assertion=assertion,
        param=RECIPE,
    )
