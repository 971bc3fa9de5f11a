"""Intervals, McNemar, per-class accuracy and calibration against independent computations."""

from __future__ import annotations

import json
import math
import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy.stats import binomtest

from pytest_compressguard import Comparison, CompressGuardWarning, metrics
from pytest_compressguard.metrics import slices, stats
from pytest_compressguard.metrics.catalogue import METRICS, names, prediction_statistics
from tests.test_metrics import random_probs

#: For unit tests on small made-up data (the warning itself is tested on its own).
quiet = pytest.mark.filterwarnings("ignore::pytest_compressguard.CompressGuardWarning")

#: A classifier pair's prediction metrics with an interval.
PREDICTION_METRICS = [
    n for n in names("prediction", interval=True) if "classification" in METRICS[n].tasks
]


def loop_ece(probs, labels, bins=15):
    """ECE with explicit bin edges: bin b holds confidences in (b/bins, (b+1)/bins]."""
    total = 0.0
    conf = [max(row) for row in probs]
    right = [int(np.argmax(row)) == y for row, y in zip(probs, labels, strict=True)]
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [i for i, c in enumerate(conf) if (lo < c <= hi) or (b == 0 and c == 0)]
        if inside:
            accuracy = sum(right[i] for i in inside) / len(inside)
            confidence = sum(conf[i] for i in inside) / len(inside)
            total += len(inside) / len(probs) * abs(accuracy - confidence)
    return total


def loop_class_accuracy(probs, labels, c):
    rows = [i for i, y in enumerate(labels) if y == c]
    if not rows:
        return None
    return sum(int(np.argmax(probs[i])) == c for i in rows) / len(rows)


def direct(name, pt, ps, y):
    """Each interval metric from the metric functions themselves."""
    classes = pt.shape[1]
    if name == "teacher_accuracy":
        return metrics.accuracy(pt, y)
    if name == "student_accuracy":
        return metrics.accuracy(ps, y)
    if name == "accuracy_drop":
        return metrics.accuracy(pt, y) - metrics.accuracy(ps, y)
    if name in ("teacher_ece", "student_ece"):
        return slices.expected_calibration_error(pt if name == "teacher_ece" else ps, y)
    if name == "ece_increase":
        return slices.expected_calibration_error(ps, y) - slices.expected_calibration_error(pt, y)
    if name == "worst_class_drop":
        drops = [
            loop_class_accuracy(pt, y, c) - loop_class_accuracy(ps, y, c)
            for c in range(classes)
            if loop_class_accuracy(pt, y, c) is not None
        ]
        return max(drops)
    if name == "negative_flip_rate":  # Yan et al. 2021: right before, wrong after
        pairs = zip(pt.argmax(1), ps.argmax(1), y, strict=True)
        return sum(int(t == g and s != g) for t, s, g in pairs) / len(y)
    if name in ("backward_trust_compatibility", "backward_error_compatibility"):
        pairs = list(zip(pt.argmax(1) == y, ps.argmax(1) == y, strict=True))
        if name == "backward_trust_compatibility":  # Bansal et al. 2019: of the trusted ...
            trusted = [s for t, s in pairs if t]
            return sum(trusted) / len(trusted) if trusted else 1.0
        errors = [not t for t, s in pairs if not s]  # ... and of the new model's errors
        return sum(errors) / len(errors) if errors else 1.0
    if name in ("label_loyalty", "probability_loyalty", "kl_divergence"):
        return getattr(metrics, name)(pt, ps)
    return getattr(metrics, name)(pt, ps, y)


@pytest.fixture(params=[(60, 2, 1), (150, 4, 2), (40, 6, 3)])
def case(request):
    n, c, seed = request.param
    rng = np.random.default_rng(seed)
    pt, ps = random_probs(rng, n, c), random_probs(rng, n, c)
    y = rng.integers(0, c - 1 if c > 2 else c, size=n)  # with c > 2 the last class is absent
    return pt, ps, y


# -- the metrics --------------------------------------------------------------------------


def test_ece_per_class_and_confusion_match_loops(case):
    pt, ps, y = case
    c = pt.shape[1]
    for p in (pt, ps):
        assert slices.expected_calibration_error(p, y) == pytest.approx(loop_ece(p, y), abs=1e-12)
        got = slices.per_class_accuracy(p, y, c)
        for k in range(c):
            want = loop_class_accuracy(p, y, k)
            assert np.isnan(got[k]) if want is None else got[k] == pytest.approx(want)
    table = slices.confusion(pt, ps)
    for a in range(c):
        for b in range(c):
            count = sum(
                int(np.argmax(u)) == a and int(np.argmax(v)) == b
                for u, v in zip(pt, ps, strict=True)
            )
            assert table[a, b] == count


def test_ece_of_a_calibrated_and_an_overconfident_model():
    y = np.array([0] * 8 + [1] * 2)
    calibrated = np.tile([0.8, 0.2], (10, 1))  # confidence 0.8, accuracy 0.8
    assert slices.expected_calibration_error(calibrated, y) == pytest.approx(0.0, abs=1e-12)
    overconfident = np.tile([0.99, 0.01], (10, 1))
    assert slices.expected_calibration_error(overconfident, y) == pytest.approx(0.19)


def test_every_statistic_equals_its_metric(case):
    pt, ps, y = case
    found = prediction_statistics(pt, ps, y)
    assert set(found) == set(PREDICTION_METRICS)
    for name, statistic in found.items():
        assert statistic.value() == pytest.approx(direct(name, pt, ps, y), abs=1e-12), name


def test_the_bootstrap_is_the_metric_on_resampled_examples(case, monkeypatch):
    """Each replicate equals the metric function applied to the resampled examples; the draws
    are numpy's default_rng(seed) integers in (B, N) order, split into several chunks here."""
    pt, ps, y = case
    n, replicates, seed = len(y), 40, 7
    monkeypatch.setattr(stats, "_CHUNK_CELLS", n * 3)  # chunks of 3 replicates
    guard = Comparison.from_arrays(pt, ps, y, bootstrap=replicates, seed=seed)
    draws = np.random.default_rng(seed).integers(0, n, size=(replicates, n))
    for name in prediction_statistics(pt, ps, y):
        want = [direct(name, pt[d], ps[d], y[d]) for d in draws]
        assert guard.replicates(name) == pytest.approx(want, abs=1e-12), name


def test_the_interval_is_the_percentile_interval():
    values = np.array([5.0, 1.0, 3.0, 2.0, 4.0, np.nan])
    assert stats.interval(values, 0.5) == (2.0, 4.0)
    with pytest.raises(ValueError, match="confidence"):
        stats.interval(values, 1.0)
    with pytest.raises(ValueError, match="undefined on every"):
        stats.interval(np.array([np.nan]), 0.9)


def test_ninety_five_percent_intervals_cover_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(200):
        right = rng.random(400) < 0.8
        columns = right[:, None].astype(float)
        lo, hi = stats.interval(stats.bootstrap_means(columns, 500, trial)[:, 0], 0.95)
        covered += lo <= 0.8 <= hi
    assert 0.90 <= covered / 200 <= 0.99


def test_knn_agreement_has_an_interval_from_its_per_example_jaccard():
    rng = np.random.default_rng(1)
    t, s = rng.normal(size=(80, 8)), rng.normal(size=(80, 8))
    guard = Comparison.from_arrays(
        None, None, None, teacher_embeddings=t, student_embeddings=s, bootstrap=300, seed=4
    )
    jaccard = guard.knn_jaccard(10)
    draws = np.random.default_rng(4).integers(0, 80, size=(300, 80))
    assert guard.replicates("knn_agreement") == pytest.approx(jaccard[draws].mean(axis=1))
    lo, hi = guard.interval("knn_agreement")
    assert lo <= guard.knn_agreement() <= hi
    assert set(guard.intervals()) == {"knn_agreement"}


# -- McNemar ------------------------------------------------------------------------------


def exact_mcnemar(n01, n10):
    n, k = n01 + n10, min(n01, n10)
    tail = sum(Fraction(math.comb(n, i), 2**n) for i in range(k + 1))
    return float(min(Fraction(1), 2 * tail))


@pytest.mark.parametrize(
    ("n01", "n10"), [(0, 0), (0, 1), (3, 3), (2, 9), (10, 1), (40, 61), (300, 250), (0, 25)]
)
def test_mcnemar_matches_exact_fractions_and_scipy(n01, n10):
    right_t = np.array([False] * n01 + [True] * n10 + [True] * 5 + [False] * 2)
    right_s = np.array([True] * n01 + [False] * n10 + [True] * 5 + [False] * 2)
    found = stats.mcnemar(right_t, right_s)
    assert (found.n01, found.n10) == (n01, n10)
    assert found.p_value == pytest.approx(exact_mcnemar(n01, n10), rel=1e-9)
    if n01 + n10:
        assert found.p_value == pytest.approx(binomtest(n10, n01 + n10).pvalue, rel=1e-9)


def pair_losing(loss: int, gain: int, same: int = 200):
    """Probabilities where the student loses ``loss`` examples and gains ``gain``."""
    y = np.zeros(loss + gain + same, dtype=int)
    right, wrong = [0.9, 0.1], [0.2, 0.8]
    pt = np.array([right] * loss + [wrong] * gain + [right] * same)
    ps = np.array([wrong] * loss + [right] * gain + [right] * same)
    return pt, ps, y


@quiet
def test_a_significant_loss_fails_and_a_significant_gain_passes():
    pt, ps, y = pair_losing(20, 4)
    guard = Comparison.from_arrays(pt, ps, y, texts=tuple(f"text {i}" for i in range(len(y))))
    with pytest.raises(AssertionError) as failed:
        guard.assert_no_significant_accuracy_loss(alpha=0.05)
    message = str(failed.value)
    assert "significantly less accurate" in message and "loses 20" in message
    assert "gains 4" in message and f"p = {exact_mcnemar(4, 20):.4g}" in message
    assert "[0] 'text 0'" in message
    guard.assert_no_significant_accuracy_loss(alpha=0.0001)  # not significant at that level
    better = Comparison.from_arrays(*pair_losing(4, 20))
    better.assert_no_significant_accuracy_loss(alpha=0.05)
    assert better.checks[-1]["passed"] and better.checks[-1]["value"] < 0.05


# -- confidence= in assertions ------------------------------------------------------------


def straddling_guard():
    rng = np.random.default_rng(5)
    pt, ps = random_probs(rng, 400, 3), random_probs(rng, 400, 3)
    same = rng.random(400) < 0.9
    ps[same] = pt[same]
    return Comparison.from_arrays(pt, ps, rng.integers(0, 3, 400), bootstrap=500)


def test_confidence_gates_on_the_bound_and_the_failure_shows_the_interval():
    guard = straddling_guard()
    value = guard.label_loyalty()
    lo, hi = guard.interval("label_loyalty")
    assert lo < value < hi
    threshold = (lo + value) / 2  # the point passes, the lower bound does not
    guard.assert_label_loyalty(min=threshold)
    with pytest.raises(AssertionError) as failed:
        guard.assert_label_loyalty(min=threshold, confidence=0.95)
    first = str(failed.value).splitlines()[0]
    assert first == (
        f"compressguard: label_loyalty = {value:.4f}, 95% interval [{lo:.4f}, {hi:.4f}]: its "
        f"lower bound is below the minimum {threshold:.4f}"
    )
    check = guard.checks[-1]
    assert check["confidence"] == 0.95 and check["interval"] == [lo, hi]
    assert not check["passed"]
    guard.assert_label_loyalty(min=lo - 0.01, confidence=0.95)
    # for max=, the upper bound decides
    flips, (f_lo, f_hi) = guard.flips(), guard.interval("flips")
    guard.assert_flips(max=(flips + f_hi) / 2)
    with pytest.raises(AssertionError, match="its upper bound is above the maximum"):
        guard.assert_flips(max=(flips + f_hi) / 2, confidence=0.95)
    # a wider confidence gives a wider interval
    w_lo, w_hi = guard.interval("flips", 0.99)
    assert w_lo <= f_lo and w_hi >= f_hi


def test_a_point_failure_shows_the_interval_too():
    guard = straddling_guard()
    lo, hi = guard.interval("kl_divergence")
    with pytest.raises(AssertionError, match=rf"\(95% interval \[{lo:.4f}, {hi:.4f}\]\)"):
        guard.assert_kl_divergence(max=0.0)


@quiet
def test_confidence_misuse_is_a_clear_error():
    guard = straddling_guard()
    with pytest.raises(ValueError, match="confidence must be a number in"):
        guard.assert_label_loyalty(min=0.5, confidence=95)
    with pytest.raises(ValueError, match="not available for cka"):
        guard._check("cka", 0.5, confidence=0.95)
    off = Comparison.from_arrays(*pair_losing(1, 1), bootstrap=0)
    with pytest.raises(pytest.fail.Exception, match="intervals are off"):
        off.assert_flips(max=0.5, confidence=0.9)
    off.assert_flips(max=0.5)
    assert off.intervals() == {}


def test_a_small_eval_set_warns_once_that_the_gate_is_noisy():
    guard = Comparison.from_arrays(*pair_losing(2, 2, same=50))
    with pytest.warns(CompressGuardWarning, match=r"only 54 examples; below 300 a gate is noisy"):
        guard.assert_flips(max=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guard.assert_label_loyalty(min=0.5)  # once per comparison
        Comparison.from_arrays(*pair_losing(2, 2, same=400)).assert_flips(max=0.5)


@quiet
def test_worst_class_and_ece_gates_explain_themselves():
    y = np.repeat([0, 1, 2], 60)
    pt = np.eye(3)[y] * 0.7 + 0.1
    ps = pt.copy()
    hurt = np.flatnonzero(y == 2)[:30]
    ps[hurt] = [0.99, 0.005, 0.005]  # the student loses half of class 2, confidently
    names = ("neg", "neu", "pos")
    guard = Comparison.from_arrays(pt, ps, y, label_names=names, bootstrap=200)
    assert guard.worst_class_drop() == pytest.approx(0.5)
    with pytest.raises(AssertionError) as failed:
        guard.assert_worst_class_drop(max=0.1)
    message = str(failed.value)
    assert (
        "on class pos (60 examples) the teacher is right on 1.0000 and the student on 0.5000"
        in message
    )
    assert f"[{hurt[0]}]" in message and "gold=pos" in message
    assert guard.per_class() == {
        "labels": ["neg", "neu", "pos"],
        "support": [60, 60, 60],
        "teacher": [1.0, 1.0, 1.0],
        "student": [1.0, 1.0, 0.5],
    }
    assert guard.ece_increase() == pytest.approx(loop_ece(ps, y) - loop_ece(pt, y), abs=1e-12)
    with pytest.raises(AssertionError, match="the student's most confident errors"):
        guard.assert_ece_increase(max=0.0)


# -- through the plugin ---------------------------------------------------------------------


def test_a_straddling_confidence_check_fails_through_the_plugin(pytester, tiny_models, tmp_path):
    from tests.test_plugin import run_gate

    out = tmp_path / "out.json"
    source = """
def test_point(guard):
    lo, hi = guard.interval("label_loyalty")
    guard.assert_label_loyalty(min=(lo + guard.label_loyalty()) / 2)

def test_bound(guard):
    lo, hi = guard.interval("label_loyalty")
    guard.assert_label_loyalty(min=(lo + guard.label_loyalty()) / 2, confidence=0.95)

def test_mcnemar(guard):
    guard.assert_no_significant_accuracy_loss()
"""
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        source=source,
        extra=[f"--compressguard-json={out}", "--compressguard-bootstrap=400"],
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: compressguard: label_loyalty = 0.*, 95% interval [[]0.*, *[]]: "
            "its lower bound is below the minimum 0.*",
            "*CompressGuardWarning: compressguard: * is evaluated on only 120 examples; below 300 "
            "a gate is noisy (label_loyalty's 95% interval: [[]0.*, *[]])*",
            f"FAILED {tiny_models.student}: label_loyalty = 0.* (95% interval [[]0.*, *[]]), "
            "needs >= 0.* (test_gate.py::test_bound[[]student[]])",
        ]
    )
    record = json.loads(out.read_text())["comparisons"][0]
    checks = {c["test"].split("::")[1].split("[")[0]: c for c in record["checks"]}
    bound = checks["test_bound"]
    assert bound["confidence"] == 0.95 and bound["passed"] is False
    assert bound["interval"] == record["ci"]["label_loyalty"]
    assert bound["interval"][0] < bound["threshold"] < bound["value"]
    assert "confidence" not in checks["test_point"] and checks["test_point"]["passed"]
    assert checks["test_mcnemar"]["metric"] == "mcnemar_p_value"
    assert checks["test_mcnemar"]["value"] == record["mcnemar"]["p_value"]


@pytest.mark.parametrize("value", ["-1", "many"])
def test_a_bad_bootstrap_count_is_a_usage_error(pytester, value):
    result = pytester.runpytest_inprocess(f"--compressguard-bootstrap={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--compressguard-bootstrap: expected an integer >= 0*"])


def test_junitxml_carries_the_metrics_and_each_test_s_checks(pytester, tiny_models, tmp_path):
    import xml.etree.ElementTree as ET

    from tests.test_plugin import run_gate

    junit = tmp_path / "junit.xml"
    source = """
def test_loyal(guard):
    guard.assert_label_loyalty(min=0.5)
    guard.assert_flips(max=0.5, confidence=0.9)
"""
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        source=source,
        extra=[f"--junitxml={junit}"],
    )
    result.assert_outcomes(passed=1)
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    suite_props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    pair = f"compressguard[{tiny_models.student}]"
    assert float(suite_props[f"{pair}.label_loyalty"]) > 0.5
    assert {f"{pair}.student_ece", f"{pair}.size_ratio", f"{pair}.knn_agreement"} <= set(
        suite_props
    )
    case = suite.find("testcase")
    props = [(p.get("name"), p.get("value")) for p in case.find("properties")]
    assert [name for name, _ in props] == [
        "compressguard.label_loyalty",
        "compressguard.label_loyalty.threshold",
        "compressguard.flips",
        "compressguard.flips.threshold",
    ]
    assert props[1][1] == ">= 0.5" and props[3][1] == "<= 0.5"
    assert float(props[0][1]) == pytest.approx(float(suite_props[f"{pair}.label_loyalty"]))


def test_knn_confidence_checks_use_the_interval_at_their_own_k():
    rng = np.random.default_rng(3)
    t = rng.normal(size=(60, 6))
    s = t + rng.normal(scale=0.5, size=t.shape)
    guard = Comparison.from_arrays(
        None, None, None, teacher_embeddings=t, student_embeddings=s, bootstrap=300
    )
    lo, hi = guard.interval("knn_agreement", 0.9, k=5)
    assert (lo, hi) != guard.interval("knn_agreement", 0.9, k=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompressGuardWarning)
        guard.assert_knn_agreement(min=lo, k=5, confidence=0.9)
        with pytest.raises(AssertionError, match=r"knn_agreement \(k=5\) = .*90% interval"):
            guard.assert_knn_agreement(min=(lo + hi) / 2, k=5, confidence=0.9)
    assert guard.checks[-1]["interval"] == [lo, hi] and guard.checks[-1]["k"] == 5


@quiet
def test_the_package_level_helpers_reach_the_new_checks():
    import pytest_compressguard as cg

    pt, ps, y = pair_losing(20, 4)
    guard = Comparison.from_arrays(pt, ps, y)
    cg.assert_worst_class_drop(guard, max=0.1)
    cg.assert_ece_increase(guard, max=1.0, confidence=0.9)
    with pytest.raises(AssertionError, match="significantly less accurate"):
        cg.assert_no_significant_accuracy_loss(guard, alpha=0.05)
    assert [c["metric"] for c in guard.checks] == [
        "worst_class_drop",
        "ece_increase",
        "mcnemar_p_value",
    ]
    assert guard.checks[1]["confidence"] == 0.9
