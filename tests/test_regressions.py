"""Defects found by using the plugin as a new user would, and single-point mutations of the
code that no other test caught. Each test here failed on the code before its fix (or with the
mutation named in its docstring applied)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from pytest_compressguard import Comparison, CompressGuardWarning, assert_label_loyalty
from pytest_compressguard.attacks.search import AttackSettings, Parts, attack_example
from pytest_compressguard.attacks.stopwords import STOPWORDS
from pytest_compressguard.data.texts import load_dataset
from pytest_compressguard.metrics import kl_divergence, slices
from pytest_compressguard.metrics.distribution import deep_knn
from pytest_compressguard.models.base import softmax64
from tests import reference
from tests.test_plugin import run_gate

# -- mutations no test caught ----------------------------------------------------------------


def test_error_overlap_replicates_are_one_when_neither_model_errs():
    """Mutation: the resampled Jaccard returns 0.0 instead of 1.0 for an empty union."""
    p = np.tile([[0.9, 0.1], [0.2, 0.8]], (40, 1))
    labels = p.argmax(axis=1)
    guard = Comparison.from_arrays(p, 0.5 * p + 0.25, labels, bootstrap=50)
    assert guard.error_overlap() == 1.0
    np.testing.assert_array_equal(guard.replicates("error_overlap"), np.ones(50))
    assert guard.interval("error_overlap") == (1.0, 1.0)


def test_a_candidate_scoring_exactly_the_threshold_is_in_distribution():
    """Mutation: Deep-KNN flags ``score >= threshold`` instead of ``score > threshold``.

    Duplicated rows give exact ties: every held-out row is the same vector, so the threshold
    (the 95th percentile of identical scores) equals the score of a candidate equal to them."""
    rng = np.random.default_rng(0)
    direction = rng.normal(size=(1, 4))
    bank = direction + 0.1 * rng.normal(size=(30, 4))
    held_out = np.tile(direction, (20, 1))
    candidates = np.vstack([held_out[:1], -held_out[:1]])
    found = deep_knn(bank, held_out, candidates, k=3)
    assert found.ood_scores[0] == found.threshold
    assert found.flagged.tolist() == [False, True]
    assert found.flagged.tolist() == reference.ood_flags(bank, held_out, candidates, 3).tolist()


def test_a_confidence_on_a_bin_edge_belongs_to_the_lower_bin():
    """Mutation: ECE bins taken as [lo, hi) instead of (lo, hi].

    Confidence 0.6 = 9/15 lies on an edge: in (8/15, 9/15] it is alone in its bin, in
    [9/15, 10/15) it shares a bin with 0.65."""
    probs = np.array([[0.6, 0.4], [0.65, 0.35]])
    labels = np.array([0, 1])  # right at 0.6, wrong at 0.65
    assert slices.confidence_bins(probs).tolist() == [8, 9]
    expected = (abs(0.6 - 1) + abs(0.65 - 0)) / 2  # one example in each bin
    assert slices.expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-15)
    guard = Comparison.from_arrays(probs, probs, labels, bootstrap=0)
    assert guard.teacher_ece() == pytest.approx(0.525, abs=1e-15)


def test_softmax_is_float64_so_tiny_probabilities_survive():
    """Mutation: softmax computed in float32 (row sums off by ~1e-7; e**-110 underflows to 0
    and KL becomes inf)."""
    logits = np.array([[0.0, 100.0], [0.0, 110.0]], dtype=np.float32)
    p = softmax64(logits)
    assert p.dtype == np.float64
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    three = softmax64(np.array([[0.1, 0.7, -1.3], [3.0, 2.9, 2.8]], dtype=np.float32))
    np.testing.assert_allclose(three.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    kl = kl_divergence(p[:1], p[1:2])
    assert np.isfinite(kl)
    # KL = e^-100 * 10 + O(e^-200): the first class carries it all
    assert kl == pytest.approx(10 * np.exp(-100.0), rel=1e-6)


def test_max_examples_draws_without_replacement(tmp_path):
    """Mutation: the --max-examples sample drawn with replacement (repeats, fewer distinct)."""
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(100)))
    for seed in range(5):
        sample = load_dataset(str(path), max_examples=90, seed=seed)
        assert len(set(sample.texts)) == len(sample.texts) == 90


class OffersStopwordsFirst:
    """A substitute source whose best candidates are stopwords."""

    mask_token = "[MASK]"

    def substitutes(self, text, spans, k):
        return [["not", "the", "no", "bad"][:k] for _ in spans]


def test_stopwords_are_never_substitutes():
    """Mutation: stopwords allowed as substitutes (only the replaced words were checked)."""

    def target(texts):
        return np.array([[0.1, 0.9] if "good" in t.split() else [0.9, 0.1] for t in texts])

    result = attack_example(
        target,
        Parts(OffersStopwordsFirst()),
        "a good film",
        1,
        AttackSettings(recipe="bert-attack", min_similarity=0, antonyms=False),  # bad: antonym
    )
    assert result.success
    assert result.changes == (("good", "bad"),) or list(result.changes) == [("good", "bad")]
    assert all(new.lower() not in STOPWORDS for _, new in result.changes)


@pytest.mark.parametrize("changed", ["--pooling=mean", "--max-length=6"])
def test_output_cache_key_includes_the_input_settings(pytester, tiny_models, encode_calls, changed):
    """Mutation: the output cache key ignores --pooling or --max-length; a second run on the
    same cache directory would then read the first run's outputs."""
    source = "def test_knn(guard):\n    guard.assert_knn_agreement(min=0.0, k=3)\n"
    cache = pytester.path / "shared-cache"
    out = [pytester.path / "a.json", pytester.path / "b.json"]
    common = [f"--compressguard-cache-dir={cache}"]
    first = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        source=source,
        extra=[*common, f"--compressguard-json={out[0]}"],
    )
    assert first.ret == 0 and len(encode_calls) == 2
    encode_calls.clear()
    second = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        source=source,
        extra=[*common, changed, f"--compressguard-json={out[1]}"],
    )
    assert second.ret == 0
    assert sorted(encode_calls) == sorted([str(tiny_models.teacher), str(tiny_models.student)])
    metrics = [json.loads(p.read_text())["comparisons"][0]["metrics"] for p in out]
    assert metrics[0]["cka"] != metrics[1]["cka"]


def test_sweeps_equal_the_reference_at_every_k():
    """ood_sweep and knn_sweep were checked against the methods they call: k = 1 OOD agreement
    never met the reference."""
    from tests.test_representation import make_guard

    guard, t, s, ood = make_guard()
    for k in (1, 2, 5):
        expected = reference.ood_metrics(
            {"bank": ood.teacher_bank, "eval": t, "ood": ood.teacher_ood},
            {"bank": ood.student_bank, "eval": s, "ood": ood.student_ood},
            k=k,
        )["ood_agreement"]
        assert guard.ood_sweep((1, 2, 5))[k] == pytest.approx(expected, abs=1e-15), k
    small, t8, s8, _ = make_guard(n=8)
    assert small.embeddings is not None  # what a test's check would load
    assert small.metrics()["knn_sweep"] == {
        str(k): pytest.approx(reference.knn_jaccard(t8, s8, k).mean(), abs=1e-15) for k in (1, 5)
    }


# -- defects ---------------------------------------------------------------------------------

HEADLESS_STUDENT = """
def test_size(guard):
    guard.assert_size_ratio(max=0.001)

def test_speed(guard):
    guard.assert_speedup(min=1000.0, batch=2)

def test_attack(guard):
    guard.assert_attack_drop(max=0.5)
"""


def test_size_and_speed_failures_run_no_model_the_check_did_not_need(
    pytester, tiny_models, tmp_path, encode_calls
):
    """The failure message computed n by running both models: with a head-less student it
    raised MissingOutputError (a traceback) instead of failing with its sentence."""
    from transformers import AutoTokenizer, BertModel

    bare = tmp_path / "bare"
    BertModel.from_pretrained(tiny_models.teacher).save_pretrained(bare)
    AutoTokenizer.from_pretrained(tiny_models.teacher).save_pretrained(bare)
    result = run_gate(pytester, tiny_models, str(bare), source=HEADLESS_STUDENT)
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert "Traceback" not in out and "MissingOutputError" not in out
    result.stdout.fnmatch_lines(
        [
            "*compressguard: size_ratio = * is above the maximum 0.0010",
            f"*data:    {tiny_models.dev} (n=120)",
            "*compressguard: speedup at batch 2 = * is below the minimum 1000.0000",
            f"*compressguard: student_attack_drop could not be measured: {bare} has no trained "
            "classification head*",
        ]
    )
    assert set(encode_calls) <= {str(tiny_models.teacher), str(bare)}
    assert len(encode_calls) >= 4  # the timing calls alone: no pass over the whole eval data


def test_onnx_int8_without_a_cache_builds_once_in_the_session(pytester, tiny_models):
    """With -p no:cacheprovider and no --compressguard-cache-dir, onnx-int8: raised a
    ValueError shown as a traceback by every test, and the load was retried for each test."""
    pytester.makepyfile(
        test_gate="def test_a(guard):\n    guard.assert_label_loyalty(min=0.5)\n\n"
        "def test_b(guard):\n    guard.assert_cka(min=0.5)\n"
    )
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student=onnx-int8:{tiny_models.teacher}",
        f"--eval-data={tiny_models.dev}",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=2)
    assert "Traceback" not in result.stdout.str()


OOD_NOT_ASKED = """
def test_loyal(guard):
    guard.assert_label_loyalty(min=0.0)
"""


def test_no_model_pass_after_the_last_test(pytester, tiny_models, monkeypatch, tmp_path):
    """record() at the end of the session embedded --train-data and --ood-data: model passes
    after every test, whose errors belonged to no test. The OOD data is now embedded when the
    comparison is made, in the first test's setup."""
    import os

    from pytest_compressguard.models.base import BatchedModel

    phases = []
    original = BatchedModel.encode

    def recording(self, texts, **kwargs):
        phases.append((self.spec.text, os.environ.get("PYTEST_CURRENT_TEST")))
        return original(self, texts, **kwargs)

    monkeypatch.setattr(BatchedModel, "encode", recording)
    out = tmp_path / "out.json"
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        source=OOD_NOT_ASKED,
        extra=[
            f"--train-data={tiny_models.train}",
            f"--ood-data={tiny_models.ood}",
            f"--compressguard-cache-dir={tmp_path / 'cache'}",
            f"--compressguard-json={out}",
        ],
    )
    result.assert_outcomes(passed=1)
    assert len(phases) == 6  # two models over eval, train and OOD data
    assert all(test is not None and "test_loyal" in test for _, test in phases), phases
    record = json.loads(out.read_text())["comparisons"][0]
    assert {"label_loyalty", "knn_agreement", "ood_agreement"} <= set(record["metrics"])


def test_the_noise_warning_points_at_the_test_line_in_both_call_styles():
    """The warning's stacklevel pointed into __init__.py for the package-level helpers."""
    p = np.tile([[0.8, 0.2], [0.3, 0.7]], (20, 1))
    labels = p.argmax(axis=1)
    for style in ("method", "function"):
        guard = Comparison.from_arrays(p, p, labels, bootstrap=20)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if style == "method":
                guard.assert_label_loyalty(min=0.5)
            else:
                assert_label_loyalty(guard, min=0.5)
        found = [w for w in caught if issubclass(w.category, CompressGuardWarning)]
        assert len(found) == 1, style
        assert found[0].filename == __file__, (style, found[0].filename)


def test_the_type_stub_is_generated_from_the_current_catalogue():
    """assertions.pyi (what type checkers read) is the catalogue's helpers, regenerated with
    ``python -m pytest_compressguard.assertions``."""
    from pytest_compressguard import assertions

    assert assertions.STUB.read_text(encoding="utf-8") == assertions.source(stub=True)


def test_every_helper_has_a_real_signature_and_docstring():
    import inspect

    import pytest_compressguard as cg
    from pytest_compressguard.metrics.catalogue import ASSERTIONS

    for assertion, metric in ASSERTIONS:
        twin, method = getattr(cg, assertion.name), getattr(Comparison, assertion.name)
        assert twin.__doc__ == method.__doc__ and assertion.name in cg.__all__
        keywords = list(inspect.signature(twin).parameters)[1:]
        assert keywords == list(inspect.signature(method).parameters)[1:]
        assert keywords[0] == assertion.keyword
        assert ("confidence" in keywords) == metric.interval


SESSION_FIXTURE = """
import pytest

@pytest.fixture(scope="session")
def loyalty(compressguard_comparison):
    return compressguard_comparison.label_loyalty()

def test_uses_a_session_fixture(guard, loyalty):
    assert loyalty == guard.label_loyalty()
    guard.assert_label_loyalty(min=0.0)
"""


def test_session_fixtures_share_the_comparison_that_guard_binds_to_the_test(
    pytester, tiny_models, tmp_path
):
    """guard is function-scoped; compressguard_comparison is the same comparison for session
    fixtures, and a check made through guard names its test."""
    out = tmp_path / "out.json"
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        source=SESSION_FIXTURE,
        extra=[f"--compressguard-json={out}"],
    )
    result.assert_outcomes(passed=1)
    checks = json.loads(out.read_text())["comparisons"][0]["checks"]
    assert [c["test"] for c in checks] == ["test_gate.py::test_uses_a_session_fixture[student]"]
