"""The catalogue entries of the prediction group, in report order (see
:mod:`pytest_compressguard.metrics.entry` for what an entry says)."""

from __future__ import annotations

from pytest_compressguard.metrics import prediction as p
from pytest_compressguard.metrics.entry import Assertion, Metric, prediction_entry

#: The prediction metrics: a classifier's statistics, the QA figures, calibration, McNemar.
PREDICTION: tuple[Metric, ...] = (
    prediction_entry(
        "teacher_accuracy",
        "teacher accuracy",
        "t_acc",
        True,
        p.teacher_accuracy_statistic,
        pairwise=False,
    ),
    prediction_entry(
        "student_accuracy",
        "student accuracy",
        "s_acc",
        True,
        p.student_accuracy_statistic,
        pairwise=False,
    ),
    prediction_entry(
        "accuracy_drop",
        "teacher accuracy - student accuracy",
        "acc_drop",
        False,
        p.accuracy_drop_statistic,
        assertion="teacher accuracy minus student accuracy",
    ),
    prediction_entry(
        "label_loyalty",
        "share of examples with the same predicted label",
        "label_loy",
        True,
        p.label_loyalty_statistic,
        figure=True,
        assertion="the share of examples with the same predicted label",
    ),
    prediction_entry(
        "probability_loyalty",
        "mean of 1 - sqrt(JSD2(p_t, p_s))",
        "prob_loy",
        True,
        p.probability_loyalty_statistic,
        figure=True,
        assertion="mean 1 - sqrt(JSD2(p_t, p_s))",
    ),
    prediction_entry(
        "kl_divergence",
        "mean KL(p_t || p_s) in nats",
        "kl",
        False,
        p.kl_divergence_statistic,
        assertion="the mean KL(teacher || student) in nats",
    ),
    prediction_entry(
        "flips",
        "share of examples whose correctness differs",
        "flips",
        False,
        p.flips_statistic,
        figure=True,
        assertion="the share of examples whose correctness flips",
    ),
    prediction_entry(
        "negative_flip_rate",
        "share of examples the teacher gets right and the student wrong",
        "nfr",
        False,
        p.negative_flip_rate_statistic,
        table=None,
        assertion="the share of examples the teacher gets right and the student gets wrong",
    ),
    prediction_entry(
        "backward_trust_compatibility",
        "of the examples the teacher gets right, the share the student also gets right",
        "btc",
        True,
        p.backward_trust_compatibility_statistic,
        table=None,
        assertion="the share of the examples the teacher gets right that the student also "
        "gets right (BTC)",
    ),
    prediction_entry(
        "backward_error_compatibility",
        "of the examples the student gets wrong, the share the teacher also gets wrong",
        "bec",
        True,
        p.backward_error_compatibility_statistic,
        table=None,
        assertion="the share of the student's errors that the teacher also makes (BEC)",
    ),
    prediction_entry(
        "error_overlap",
        "Jaccard index of the two error sets",
        "err_overlap",
        True,
        p.error_overlap_statistic,
        figure=True,
        assertion="the Jaccard index of the teacher's and student's error sets",
    ),
    prediction_entry(
        "teacher_f1",
        "teacher mean SQuAD token F1 (question answering)",
        "t_f1",
        True,
        None,
        table=4,
        pairwise=False,
    ),
    prediction_entry(
        "student_f1",
        "student mean SQuAD token F1 (question answering)",
        "s_f1",
        True,
        None,
        table=4,
        pairwise=False,
    ),
    prediction_entry(
        "f1_drop",
        "teacher F1 - student F1 (question answering)",
        "f1_drop",
        False,
        None,
        table=4,
        assertion="teacher mean F1 minus student mean F1 (question answering)",
    ),
    prediction_entry(
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
        prediction_entry(
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
    prediction_entry(
        "worst_class_drop",
        "largest per-class accuracy drop (teacher - student)",
        "worst_cls",
        False,
        p.worst_class_drop_statistic,
        table=1,
        assertion="the largest per-class accuracy drop from teacher to student",
    ),
    prediction_entry(
        "teacher_ece",
        "teacher expected calibration error (15 bins)",
        "t_ece",
        False,
        p.teacher_ece_statistic,
        qa=False,
        table=1,
        pairwise=False,
    ),
    prediction_entry(
        "student_ece",
        "student expected calibration error (15 bins)",
        "s_ece",
        False,
        p.student_ece_statistic,
        qa=False,
        table=1,
        pairwise=False,
    ),
    prediction_entry(
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
)
