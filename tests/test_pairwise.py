"""The pairwise table against loops written from the definitions, and through the plugin."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import entropy

from pytest_compressguard.engine.pairwise import pair_metrics, pairwise
from tests import reference
from tests.test_plugin import run_gate
from tests.test_stats import exact_mcnemar, loop_class_accuracy, loop_ece

#: A classifier pair's metrics (the QA-only ones are left out).
PAIR_METRICS = pair_metrics("classification")


def loop_pair(pa, pb, y, ea, eb, k):
    """Every pair metric of (a in the teacher's role, b in the student's), one example at a
    time."""
    n = len(y)
    ra = [int(np.argmax(pa[i])) == y[i] for i in range(n)]
    rb = [int(np.argmax(pb[i])) == y[i] for i in range(n)]
    wrong_a = {i for i in range(n) if not ra[i]}
    wrong_b = {i for i in range(n) if not rb[i]}
    either = wrong_a | wrong_b
    drops = [
        loop_class_accuracy(pa, y, c) - loop_class_accuracy(pb, y, c)
        for c in range(pa.shape[1])
        if loop_class_accuracy(pa, y, c) is not None
    ]
    return {
        "accuracy_drop": (sum(ra) - sum(rb)) / n,
        "label_loyalty": sum(np.argmax(pa[i]) == np.argmax(pb[i]) for i in range(n)) / n,
        "probability_loyalty": float(
            np.mean([1 - reference.js_distance(pa[i], pb[i]) for i in range(n)])
        ),
        "kl_divergence": float(np.mean([entropy(pa[i], pb[i]) for i in range(n)])),
        "flips": sum(ra[i] != rb[i] for i in range(n)) / n,
        "negative_flip_rate": sum(ra[i] and not rb[i] for i in range(n)) / n,
        "backward_trust_compatibility": sum(ra[i] and rb[i] for i in range(n)) / sum(ra),
        "backward_error_compatibility": len(wrong_a & wrong_b) / len(wrong_b),
        "error_overlap": len(wrong_a & wrong_b) / len(either) if either else 1.0,
        "worst_class_drop": max(drops),
        "ece_increase": loop_ece(pb, y) - loop_ece(pa, y),
        "mcnemar_p_value": exact_mcnemar(
            sum(not ra[i] and rb[i] for i in range(n)), sum(ra[i] and not rb[i] for i in range(n))
        ),
        "knn_agreement": float(reference.knn_jaccard(ea, eb, k).mean()),
        "cka": reference.cka_hsic(ea, eb),
    }


def test_every_ordered_pair_matches_the_definitions():
    rng = np.random.default_rng(3)
    n, classes, k = 90, 3, 5
    y = rng.integers(0, classes, n)
    base = rng.dirichlet(np.ones(classes), n)
    probs = [base, *(0.6 * base + 0.4 * rng.dirichlet(np.ones(classes), n) for _ in range(2))]
    vectors = [rng.normal(size=(n, 8)) for _ in range(3)]
    vectors[1] = vectors[0] + 0.3 * vectors[1]
    table = pairwise(["t", "a", "b"], probs, y, vectors, k=k)
    assert table["models"] == ["t", "a", "b"] and "unavailable" not in table
    for i in range(3):
        assert table["per_model"]["accuracy"][i] == pytest.approx(
            np.mean(probs[i].argmax(axis=1) == y)
        )
        assert table["per_model"]["ece"][i] == pytest.approx(loop_ece(probs[i], y), abs=1e-12)
        for j in range(3):
            if i == j:
                assert all(table["metrics"][name][i][j] is None for name in PAIR_METRICS)
                continue
            want = loop_pair(probs[i], probs[j], y, vectors[i], vectors[j], k)
            for name in PAIR_METRICS:
                assert table["metrics"][name][i][j] == pytest.approx(want[name], abs=1e-9), (
                    name,
                    i,
                    j,
                )
    # the asymmetric metrics really are: a drop one way is a gain the other way
    drop = table["metrics"]["accuracy_drop"]
    assert drop[1][2] == pytest.approx(-drop[2][1])


def test_missing_outputs_leave_metrics_unmeasured_with_a_reason():
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=(6, 4)) for _ in range(2)]
    table = pairwise(["t", "s"], None, None, vectors, k=10)
    assert table["metrics"]["label_loyalty"] == [[None, None], [None, None]]
    assert "probabilities" in table["unavailable"]["label_loyalty"]
    assert table["unavailable"]["knn_agreement"] == "k=10 needs more than 11 examples"
    assert table["metrics"]["cka"][0][1] is not None


def test_pairwise_option_adds_the_matrix_to_summary_and_json(pytester, tiny_models):
    report = pytester.path / "report.json"
    students = (str(tiny_models.student), str(tiny_models.onnx))
    result = run_gate(
        pytester,
        tiny_models,
        *students,
        extra=["--compressguard-pairwise", f"--compressguard-json={report}"],
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "pairwise, data: *",
            f"*0] teacher {tiny_models.teacher}  (accuracy *",
            f"*1] student {tiny_models.student}  (accuracy *",
            "*pair*acc_drop*label_loy*knn@10*cka",
            "*0-1 *",
            "*0-2 *",
            "*1-2 *",
        ]
    )
    document = json.loads(report.read_text())
    table = document["pairwise"]
    assert table["models"] == [str(tiny_models.teacher), *students]
    assert table["n"] == len(tiny_models.dev_rows)
    for j, record in enumerate(document["comparisons"], start=1):  # row 0 is the teacher's
        assert record["student"] == students[j - 1]
        for name in ("label_loyalty", "error_overlap", "kl_divergence", "cka"):
            assert table["metrics"][name][0][j] == pytest.approx(record["metrics"][name])
    loyalty = table["metrics"]["label_loyalty"]
    assert loyalty[1][2] == pytest.approx(loyalty[2][1])


def test_pairwise_without_a_teacher_is_a_usage_error(pytester):
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess("--compressguard-pairwise")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--compressguard-pairwise needs --teacher and --student*"])


def test_pairwise_from_the_ini_file(pytester, tiny_models):
    pytester.makeini("[pytest]\ncompressguard_pairwise = true\n")
    result = run_gate(pytester, tiny_models, str(tiny_models.onnx))
    assert result.ret == 0
    result.stdout.fnmatch_lines(["pairwise, data: *", "*0-1 *"])
    pytester.makeini("[pytest]\ncompressguard_pairwise = maybe\n")
    result = run_gate(pytester, tiny_models, str(tiny_models.onnx))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*compressguard_pairwise = 'maybe' in the ini file: expected true or false*"]
    )
