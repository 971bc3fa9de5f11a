"""Every metric of the plugin, once, as data.

An entry says what a metric is called, what it means, how it is shown, which way is better,
whether it has a bootstrap interval, its parameter, and how it is computed. The terminal
tables, the HTML groups, the pairwise matrices, the JSON record, the interval list, the
``Comparison.assert_*`` methods and the package-level helpers are all derived from
:data:`CATALOGUE`: a new metric is one entry here plus its function.

``compute(comparison, param)`` reads a :class:`~pytest_compressguard.comparison.Comparison`
(``param`` is the entry's ``k`` or ``batch``, or None); a prediction metric instead names its
``statistic``, a :class:`~pytest_compressguard.metrics.stats.MeanStatistic` of
``(p_teacher, p_student, labels)`` that gives its value and its bootstrap replicates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_compressguard.metrics import prediction as p
from pytest_compressguard.metrics.stats import MeanStatistic

#: The tasks a comparison can be of (see ``--task``).
TASKS = ("classification", "qa")

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
    """One metric: see the module docstring."""

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
        statistic of, an attack metric for classifiers, every other metric for both."""
        if self.statistic is not None or self.qa:
            return tuple(
                task
                for task, defined in (("classification", self.statistic), ("qa", self.qa))
                if defined
            )
        if self.group == "robustness":
            return ("classification",)
        return TASKS

    @property
    def op(self) -> str:
        """The comparison an assertion makes: ``>=`` for a minimum, ``<=`` for a maximum."""
        return ">=" if self.higher_is_better else "<="


def _prediction(
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


def _attack(
    name: str,
    meaning: str,
    label: str | None,
    higher: bool,
    display: str = "ratio",
    assertion: Assertion | None = None,
) -> Metric:
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


_ATTACK_PER_MODEL = (
    ("accuracy_before", "accuracy on the attacked examples before the attack", "acc_before", True),
    ("accuracy_after", "accuracy on them after the attack", "acc_after", True),
    ("drop", "(before - after) / before", "drop", False),
    ("drop_absolute", "before - after", None, False),
    ("success_rate", "share of correctly classified examples the attack breaks", None, False),
    ("perturbed_words", "mean share of words changed by a successful attack", None, True),
    ("queries", "mean model calls per attacked example", None, False),
)

CATALOGUE: tuple[Metric, ...] = (
    # -- prediction ---------------------------------------------------------------------
    _prediction(
        "teacher_accuracy",
        "teacher accuracy",
        "t_acc",
        True,
        p.teacher_accuracy_statistic,
        pairwise=False,
    ),
    _prediction(
        "student_accuracy",
        "student accuracy",
        "s_acc",
        True,
        p.student_accuracy_statistic,
        pairwise=False,
    ),
    _prediction(
        "accuracy_drop",
        "teacher accuracy - student accuracy",
        "acc_drop",
        False,
        p.accuracy_drop_statistic,
        assertion="teacher accuracy minus student accuracy",
    ),
    _prediction(
        "label_loyalty",
        "share of examples with the same predicted label",
        "label_loy",
        True,
        p.label_loyalty_statistic,
        figure=True,
        assertion="the share of examples with the same predicted label",
    ),
    _prediction(
        "probability_loyalty",
        "mean of 1 - sqrt(JSD2(p_t, p_s))",
        "prob_loy",
        True,
        p.probability_loyalty_statistic,
        figure=True,
        assertion="mean 1 - sqrt(JSD2(p_t, p_s))",
    ),
    _prediction(
        "kl_divergence",
        "mean KL(p_t || p_s) in nats",
        "kl",
        False,
        p.kl_divergence_statistic,
        assertion="the mean KL(teacher || student) in nats",
    ),
    _prediction(
        "flips",
        "share of examples whose correctness differs",
        "flips",
        False,
        p.flips_statistic,
        figure=True,
        assertion="the share of examples whose correctness flips",
    ),
    _prediction(
        "negative_flip_rate",
        "share of examples the teacher gets right and the student wrong",
        "nfr",
        False,
        p.negative_flip_rate_statistic,
        table=None,
        assertion="the share of examples the teacher gets right and the student gets wrong",
    ),
    _prediction(
        "backward_trust_compatibility",
        "of the examples the teacher gets right, the share the student also gets right",
        "btc",
        True,
        p.backward_trust_compatibility_statistic,
        table=None,
        assertion="the share of the examples the teacher gets right that the student also "
        "gets right (BTC)",
    ),
    _prediction(
        "backward_error_compatibility",
        "of the examples the student gets wrong, the share the teacher also gets wrong",
        "bec",
        True,
        p.backward_error_compatibility_statistic,
        table=None,
        assertion="the share of the student's errors that the teacher also makes (BEC)",
    ),
    _prediction(
        "error_overlap",
        "Jaccard index of the two error sets",
        "err_overlap",
        True,
        p.error_overlap_statistic,
        figure=True,
        assertion="the Jaccard index of the teacher's and student's error sets",
    ),
    _prediction(
        "teacher_f1",
        "teacher mean SQuAD token F1 (question answering)",
        "t_f1",
        True,
        None,
        table=4,
        pairwise=False,
    ),
    _prediction(
        "student_f1",
        "student mean SQuAD token F1 (question answering)",
        "s_f1",
        True,
        None,
        table=4,
        pairwise=False,
    ),
    _prediction(
        "f1_drop",
        "teacher F1 - student F1 (question answering)",
        "f1_drop",
        False,
        None,
        table=4,
        assertion="teacher mean F1 minus student mean F1 (question answering)",
    ),
    _prediction(
        "answer_agreement_f1",
        "mean token F1 between the teacher's and the student's answers",
        "agree_f1",
        True,
        None,
        table=4,
        assertion="the mean token F1 between the teacher's and the student's answers "
        "(question answering)",
    ),
    *(
        _prediction(
            f"{who}_{part}_{score}",
            f"{who} {'exact match' if score == 'exact' else 'F1'} on the "
            f"{'answerable' if part == 'has_ans' else 'unanswerable'} questions",
            f"{who[0]}_{part.replace('_ans', '')}_{'em' if score == 'exact' else 'f1'}",
            True,
            None,
            table=5 if score == "exact" else None,
            pairwise=False,
        )
        for part in ("has_ans", "no_ans")
        for score in ("exact", "f1")
        for who in ("teacher", "student")
    ),
    _prediction(
        "worst_class_drop",
        "largest per-class accuracy drop (teacher - student)",
        "worst_cls",
        False,
        p.worst_class_drop_statistic,
        table=1,
        assertion="the largest per-class accuracy drop from teacher to student",
    ),
    _prediction(
        "teacher_ece",
        "teacher expected calibration error (15 bins)",
        "t_ece",
        False,
        p.teacher_ece_statistic,
        qa=False,
        table=1,
        pairwise=False,
    ),
    _prediction(
        "student_ece",
        "student expected calibration error (15 bins)",
        "s_ece",
        False,
        p.student_ece_statistic,
        qa=False,
        table=1,
        pairwise=False,
    ),
    _prediction(
        "ece_increase",
        "student ECE - teacher ECE",
        "ece_inc",
        False,
        p.ece_increase_statistic,
        qa=False,
        table=1,
        assertion="student ECE minus teacher ECE",
    ),
    Metric(
        "mcnemar_p_value",
        "prediction",
        "McNemar's exact test on the two models' correctness",
        "mcnemar_p",
        True,
        compute=lambda c, _: c.mcnemar().p_value,
        table=1,
        pairwise=True,
        recorded=False,
        assertion=Assertion(
            "assert_no_significant_accuracy_loss",
            "alpha",
            "Fail when McNemar's exact test rejects equal accuracy at level ``alpha`` and the "
            "student is the one that loses (more teacher-right/student-wrong examples than the "
            "reverse).",
            default=0.05,
        ),
    ),
    # -- representation -----------------------------------------------------------------
    Metric(
        "knn_agreement",
        "representation",
        "mean Jaccard of the teacher's and student's k-NN sets (k=10)",
        "knn@10",
        True,
        compute=lambda c, k: c.knn_agreement(k),
        interval=True,
        param=K,
        table=2,
        pairwise=True,
        pairwise_figure=True,
        assertion=Assertion(
            "assert_knn_agreement", "min", "the mean Jaccard index of the k-NN sets"
        ),
    ),
    Metric(
        "knn_agreement_variance",
        "representation",
        "variance over examples of that Jaccard index",
        "knn_var",
        False,
        compute=lambda c, _: c.knn_agreement_variance(),
        table=2,
    ),
    Metric(
        "knn_sweep",
        "representation",
        "kNN agreement for each k of (1, 5, 10, 20, 50) below N - 1",
        "knn_sweep",
        True,
        compute=lambda c, _: c.recorded_knn_sweep(),
        display="sweep",
        shown=False,
    ),
    Metric(
        "cka",
        "representation",
        "linear CKA of the two models' embeddings",
        "cka",
        True,
        compute=lambda c, _: c.cka(),
        table=2,
        pairwise=True,
        pairwise_figure=True,
        assertion=Assertion(
            "assert_cka", "min", "the linear CKA of the teacher's and student's embeddings"
        ),
    ),
    # -- out of distribution ------------------------------------------------------------
    Metric(
        "ood_agreement",
        "distribution",
        "Jaccard index of the two models' OOD sets",
        "ood_agree",
        True,
        compute=lambda c, k: c.ood_agreement(k),
        param=OOD_K,
        table=2,
        assertion=Assertion(
            "assert_ood_agreement", "min", "the Jaccard index of the two Deep-KNN OOD sets"
        ),
    ),
    Metric(
        "teacher_ood_rate",
        "distribution",
        "share of --ood-data the teacher flags",
        "t_ood_rate",
        False,
        compute=lambda c, _: c.teacher_ood_rate(),
        table=2,
    ),
    Metric(
        "student_ood_rate",
        "distribution",
        "share of --ood-data the student flags",
        "s_ood_rate",
        False,
        compute=lambda c, _: c.student_ood_rate(),
        table=2,
    ),
    Metric(
        "teacher_ood_auroc",
        "distribution",
        "teacher AUROC, eval (in) vs --ood-data (out)",
        "t_auroc",
        True,
        compute=lambda c, _: c.teacher_ood_auroc(),
        table=2,
    ),
    Metric(
        "student_ood_auroc",
        "distribution",
        "student AUROC, eval (in) vs --ood-data (out)",
        "s_auroc",
        True,
        compute=lambda c, _: c.student_ood_auroc(),
        table=2,
    ),
    # -- robustness ---------------------------------------------------------------------
    *(
        _attack(
            f"{who}_attack_{name}",
            f"{who}: {meaning}",
            f"{who[0]}_{label}" if label else None,
            higher,
            "queries" if name == "queries" else "ratio",
            Assertion(
                "assert_attack_drop",
                "max",
                "the student's relative accuracy drop under the attack",
            )
            if (who, name) == ("student", "drop")
            else None,
        )
        for who in ("teacher", "student")
        for name, meaning, label, higher in _ATTACK_PER_MODEL
    ),
    Metric(
        "attack_drop_gap",
        "robustness",
        "student attack drop - teacher attack drop",
        "drop_gap",
        False,
        compute=lambda c, recipe: c.attack_metric("attack_drop_gap", recipe),
        param=RECIPE,
        table=3,
        assertion=Assertion(
            "assert_attack_drop_gap", "max", "student attack drop minus teacher attack drop"
        ),
    ),
    Metric(
        "transfer_rate",
        "robustness",
        "share of the teacher's adversarial examples that fool the student",
        "transfer",
        False,
        compute=lambda c, recipe: c.attack_metric("transfer_rate", recipe),
        param=RECIPE,
        table=3,
        assertion=Assertion(
            "assert_transfer_rate",
            "max",
            "the share of the teacher's adversarial examples that fool the student",
        ),
    ),
    Metric(
        "attack_success_rate",
        "robustness",
        "the student's attack success rate",
        "s_success",
        False,
        compute=lambda c, recipe: c.attack_metric("attack_success_rate", recipe),
        param=RECIPE,
        table=3,
    ),
    # -- efficiency ---------------------------------------------------------------------
    Metric(
        "teacher_size_bytes",
        "efficiency",
        "bytes of the teacher's weights",
        "t_bytes",
        False,
        compute=lambda c, _: c.teacher_size_bytes(),
        display="bytes",
    ),
    Metric(
        "student_size_bytes",
        "efficiency",
        "bytes of the student's weights",
        "s_bytes",
        False,
        compute=lambda c, _: c.student_size_bytes(),
        display="bytes",
    ),
    Metric(
        "size_ratio",
        "efficiency",
        "student size / teacher size",
        "size_ratio",
        False,
        compute=lambda c, _: c.size_ratio(),
        assertion=Assertion("assert_size_ratio", "max", "student size / teacher size"),
    ),
    Metric(
        "teacher_parameters",
        "efficiency",
        "elements of the teacher's weight tensors",
        "t_params",
        False,
        compute=lambda c, _: c.teacher_parameters(),
        display="count",
    ),
    Metric(
        "student_parameters",
        "efficiency",
        "elements of the student's weight tensors",
        "s_params",
        False,
        compute=lambda c, _: c.student_parameters(),
        display="count",
    ),
    Metric(
        "parameter_ratio",
        "efficiency",
        "student parameters / teacher parameters",
        "param_ratio",
        False,
        compute=lambda c, _: c.parameter_ratio(),
    ),
    Metric(
        "speedup",
        "efficiency",
        "teacher latency / student latency at a batch size",
        "speedup",
        True,
        compute=lambda c, batch: c.speedup(batch),
        param=BATCH,
        display="times",
        recorded=False,
        assertion=Assertion("assert_speedup", "min", "teacher latency / student latency"),
    ),
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
