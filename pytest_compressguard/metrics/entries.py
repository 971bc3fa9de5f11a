"""The catalogue entries of the representation, out-of-distribution, attack and efficiency
groups, in report order (see :mod:`pytest_compressguard.metrics.entry` for what an entry says)."""

from __future__ import annotations

from pytest_compressguard.metrics.entry import (
    BATCH,
    OOD_K,
    RECIPE,
    Assertion,
    K,
    Metric,
    attack_entry,
)

#: The representation metrics: kNN agreement and linear CKA of the embeddings.
REPRESENTATION: tuple[Metric, ...] = (
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
)

#: The out-of-distribution metrics of --ood-data.
DISTRIBUTION: tuple[Metric, ...] = (
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
)

#: The per-model attack metrics: (name, meaning, table label or None, higher is better).
_ATTACK_PER_MODEL = (
    ("accuracy_before", "accuracy on the attacked examples before the attack", "acc_before", True),
    ("accuracy_after", "accuracy on them after the attack", "acc_after", True),
    ("drop", "(before - after) / before", "drop", False),
    ("drop_absolute", "before - after", None, False),
    ("success_rate", "share of correctly classified examples the attack breaks", None, False),
    ("perturbed_words", "mean share of words changed by a successful attack", None, True),
    ("queries", "mean model calls per attacked example", None, False),
)

#: The attack metrics: per model (teacher, then student), then of the pair.
ROBUSTNESS: tuple[Metric, ...] = (
    *(
        attack_entry(
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
)

#: The size and speed metrics.
EFFICIENCY: tuple[Metric, ...] = (
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
