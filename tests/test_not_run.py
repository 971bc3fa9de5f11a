"""The assertions a test never reached: read from its source when that is sure, recorded in
the JSON record as not run, merged across workers, and absent from older records."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from pytest_compressguard import Comparison, assert_kl_divergence
from pytest_compressguard.core.check import NotRun
from pytest_compressguard.engine.unreached import unreached
from pytest_compressguard.report import html, terminal
from pytest_compressguard.report.record import from_json, merge, record, to_json

WHY = "not reached: the test stopped at its first failed assertion (error_overlap)"


def straight(guard):
    guard.assert_error_overlap(min=0.99)
    guard.assert_knn_agreement(min=0.7, k=10)
    assert_kl_divergence(guard, max=0.05)  # the package-level twin
    guard.assert_no_significant_accuracy_loss()  # its bound has a default


def branching(guard):
    guard.assert_error_overlap(min=0.99)
    for bound in (0.1, 0.2):
        guard.assert_flips(max=bound)


def computed(guard, bound=0.3):
    guard.assert_error_overlap(min=0.99)
    guard.assert_flips(max=bound)


def _guard():
    rng = np.random.default_rng(0)
    pt, ps = rng.dirichlet([1, 1], 40), rng.dirichlet([1, 1], 40)
    return Comparison.from_arrays(pt, ps, pt.argmax(axis=1))


def test_the_assertions_after_the_failed_one_are_read_from_the_source():
    found = unreached(straight, ["error_overlap"])
    assert [(p.metric, p.op, p.threshold, p.param) for p in found] == [
        ("knn_agreement", ">=", 0.7, 10),
        ("kl_divergence", "<=", 0.05, None),
        ("mcnemar_p_value", ">=", 0.05, None),
    ]
    assert unreached(straight, ["flips"]) == []  # not how its calls begin: nothing said
    assert unreached(branching, ["error_overlap"]) == []  # a loop: the order is unknown
    assert [p.threshold for p in unreached(computed, ["error_overlap"])] == [None]
    namespace: dict = {}
    exec("def hidden(guard):\n    guard.assert_error_overlap(min=0.99)\n", namespace)
    assert unreached(namespace["hidden"], ["error_overlap"]) == []  # no source to read


def test_a_stopped_test_records_its_unreached_assertions():
    guard = _guard()
    view = guard.for_test("test_x.py::straight")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError) as failed:
            straight(view)
    view.stopped("test_x.py::straight", straight, failed.value)
    assert [(n.label, n.reason) for n in guard.not_run] == [
        ("knn_agreement (k=10)", WHY),
        ("kl_divergence", WHY),
        ("mcnemar_p_value", WHY),
    ]
    view.stopped("test_x.py::straight", straight, ValueError("another failure"))
    assert len(guard.not_run) == 3  # an error that is not the check's: nothing added
    rec = record(guard)
    assert from_json(to_json(rec))["not_run"] == rec["not_run"]
    assert to_json(rec)["not_run"][0] == {
        "metric": "knn_agreement",
        "op": ">=",
        "threshold": 0.7,
        "test": "test_x.py::straight",
        "reason": WHY,
        "k": 10,
    }
    assert terminal._checks({**rec, "error": None}) == "1 failed, 3 not run"
    text = html.render([to_json(rec)])
    assert "0 of 4 checks passed, 3 not run" in text


def test_not_run_merges_across_workers_and_older_records_have_none():
    one = NotRun("flips", "<=", 0.1, WHY, "t.py::b")
    other = NotRun("cka", ">=", 0.9, WHY, "t.py::a")
    base = {"teacher": "t", "student": "s", "dataset": "d", "n": 4, "metrics": {}, "checks": []}
    merged = merge([{**base, "not_run": [one]}, {**base, "not_run": [other]}, base], ("s",))
    assert merged[0]["not_run"] == [other, one]  # in test order
    assert "not_run" not in from_json(base) and "not_run" not in merge([base], ("s",))[0]
    assert "not run" not in terminal._checks(from_json(base))
