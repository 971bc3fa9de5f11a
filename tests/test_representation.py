"""kNN agreement, CKA and Deep-KNN OOD agreement against brute-force computations."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_compressguard import Comparison
from pytest_compressguard.engine.inputs import OodInputs
from pytest_compressguard.metrics.distribution import auroc, deep_knn, knn_distance, ood_agreement
from pytest_compressguard.metrics.neighbours import nearest
from pytest_compressguard.metrics.representation import knn_sets, linear_cka, set_jaccard
from tests import reference


def knn_jaccard(t, s, k):
    """The package's per-example kNN Jaccard (what every report and check reads)."""
    guard = Comparison.from_arrays(None, None, None, teacher_embeddings=t, student_embeddings=s)
    return guard.knn_jaccard(k)


def knn_agreement(t, s, k):
    return float(knn_jaccard(t, s, k).mean())


def random_embeddings(n, h, seed):
    return np.random.default_rng(seed).normal(size=(n, h)).astype(np.float32)


def as_sets(indices):
    return [set(row) for row in indices.tolist()]


@pytest.mark.parametrize("n,h,k", [(200, 16, 10), (60, 3, 1), (120, 32, 50)])
def test_knn_sets_equal_brute_force_on_random_embeddings(n, h, k):
    x = random_embeddings(n, h, seed=n + h)
    found = knn_sets(x, k)
    assert found.shape == (n, k) and not (found == np.arange(n)[:, None]).any()
    assert as_sets(found) == reference.knn_sets(x, k)


def test_ranking_is_by_cosine_then_index_with_duplicates_and_ties():
    rng = np.random.default_rng(3)
    # integer vectors from a few patterns: many exact duplicates, so ties at every boundary
    patterns = rng.integers(-2, 3, size=(6, 4)).astype(np.float32)
    patterns[patterns.sum(axis=1) == 0, 0] = 1.0
    x = patterns[rng.integers(0, 6, size=90)]
    x[np.abs(x).sum(axis=1) == 0] = 1.0
    for k in (1, 7, 30, 88):
        indices, sims = nearest(x, None, k)
        cos = reference.cosine_matrix(x, x)
        for i in range(len(x)):
            expected = sorted((j for j in range(len(x)) if j != i), key=lambda j: (-cos[i, j], j))
            assert indices[i].tolist() == expected[:k]
        assert (np.diff(sims, axis=1) <= 0).all()


def test_scaled_copies_are_exact_ties_broken_by_index():
    x = np.array([[1.0, 0.0], [2.0, 0.0], [4.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    assert knn_sets(x, 2).tolist() == [[1, 2], [0, 2], [0, 1], [4, 0], [0, 1]]


def test_queries_against_a_separate_bank():
    bank, queries = random_embeddings(150, 8, 1), random_embeddings(40, 8, 2)
    indices, sims = nearest(queries, bank, 5)
    cos = reference.cosine_matrix(queries, bank)
    expected = np.argsort(-cos, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(sims, np.take_along_axis(cos, expected, axis=1), atol=1e-12)


def test_too_large_or_bad_k_is_a_clear_error():
    x = random_embeddings(12, 4, 0)
    with pytest.raises(ValueError, match=r"needs k < N - 1, got k=11 with N=12"):
        knn_sets(x, 11)
    with pytest.raises(ValueError, match="positive integer"):
        knn_sets(x, 0)
    with pytest.raises(ValueError, match="all zeros"):
        knn_sets(np.vstack([x, np.zeros((1, 4), np.float32)]), 3)
    with pytest.raises(ValueError, match="fewer than k=20"):
        knn_distance(x, x, 20)
    assert knn_sets(x, 10).shape == (12, 10)  # k = N - 2 is the largest allowed


def test_knn_agreement_and_jaccard_equal_brute_force():
    t, s = random_embeddings(150, 12, 4), random_embeddings(150, 20, 5)
    s[:75] = np.hstack([t[:75], t[:75, :8]])  # the student sees half the data like the teacher
    for k in (1, 5, 10):
        expected = reference.knn_jaccard(t, s, k)
        np.testing.assert_allclose(knn_jaccard(t, s, k), expected, atol=1e-15)
        assert knn_agreement(t, s, k) == pytest.approx(expected.mean(), abs=1e-15)
    rotation = np.linalg.qr(np.random.default_rng(6).normal(size=(12, 12)))[0]
    assert knn_agreement(t, (t @ rotation).astype(np.float32), 5) == 1.0


def test_set_jaccard_equals_python_sets():
    rng = np.random.default_rng(7)
    a = np.array([rng.choice(30, 6, replace=False) for _ in range(50)])
    b = np.array([rng.choice(30, 6, replace=False) for _ in range(50)])
    expected = [len(set(x) & set(y)) / len(set(x) | set(y)) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(set_jaccard(a, b), expected, atol=1e-15)


def test_linear_cka_equals_the_gram_matrix_form():
    x, y = random_embeddings(80, 6, 8), random_embeddings(80, 10, 9)
    y[:, :6] += 2 * x
    assert linear_cka(x, y) == pytest.approx(reference.cka_hsic(x, y), abs=1e-12)
    rotation = np.linalg.qr(np.random.default_rng(10).normal(size=(6, 6)))[0]
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-12)
    assert 0.0 <= linear_cka(x, random_embeddings(80, 6, 11)) < 0.3
    with pytest.raises(ValueError, match="same embedding for every example"):
        linear_cka(x, np.ones((80, 4)))


def test_deep_knn_ood_equals_brute_force():
    rng = np.random.default_rng(12)
    centre = rng.normal(size=16)
    bank = (centre + 0.6 * rng.normal(size=(300, 16))).astype(np.float32)
    held_out = (centre + 0.6 * rng.normal(size=(100, 16))).astype(np.float32)
    candidates = np.vstack(
        [centre + 0.6 * rng.normal(size=(40, 16)), rng.normal(size=(40, 16))]
    ).astype(np.float32)
    for k in (1, 10):
        found = deep_knn(bank, held_out, candidates, k)
        np.testing.assert_allclose(
            found.in_scores, reference.kth_distance(held_out, bank, k), atol=1e-12
        )
        np.testing.assert_array_equal(
            found.flagged, reference.ood_flags(bank, held_out, candidates, k)
        )
        assert (found.in_scores > found.threshold).mean() == pytest.approx(0.05, abs=0.011)
        assert found.auroc == pytest.approx(
            reference.auroc(found.in_scores, found.ood_scores), abs=1e-12
        )
        assert 0.3 < found.ood_rate < 0.8 and found.auroc > 0.7


def test_ood_agreement_and_auroc_edge_cases():
    none = np.zeros(5, bool)
    assert ood_agreement(none, none) == 1.0
    assert ood_agreement(none, np.array([1, 0, 0, 0, 0], bool)) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    assert auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    with pytest.raises(ValueError, match="one example of each kind"):
        auroc(np.array([]), np.array([1.0]))


def make_guard(n=60, seed=13):
    rng = np.random.default_rng(seed)
    t = rng.normal(size=(n, 8)).astype(np.float32)
    s = (t + rng.normal(scale=1.5, size=(n, 8))).astype(np.float32)
    p = rng.dirichlet([1, 1], size=n)
    ood = OodInputs(
        teacher_bank=rng.normal(size=(120, 8)).astype(np.float32),
        student_bank=rng.normal(size=(120, 8)).astype(np.float32),
        teacher_ood=(3 * rng.normal(size=(30, 8))).astype(np.float32),
        student_ood=(3 * rng.normal(size=(30, 8))).astype(np.float32),
        ood_texts=tuple(f"odd text {i}" for i in range(30)),
    )
    guard = Comparison.from_arrays(
        p,
        p,
        p.argmax(1),
        tuple(f"text {i}" for i in range(n)),
        teacher_embeddings=t,
        student_embeddings=s,
        ood=ood,
        ood_k=5,
    )
    return guard, t, s, ood


def test_comparison_representation_and_ood_metrics():
    guard, t, s, ood = make_guard()
    # k=10 first searches 10 deep; the sweep then slices a 50-deep search for the other k:
    # both rankings are exact, so the sweep is one curve whichever k was asked first
    guard.knn_agreement(10)
    sweep = guard.knn_sweep((1, 5, 10, 20, 50))
    for k, value in sweep.items():
        assert value == pytest.approx(reference.knn_jaccard(t, s, k).mean(), abs=1e-15)
    assert guard.knn_agreement_variance(10) == pytest.approx(
        reference.knn_jaccard(t, s, 10).var(), abs=1e-15
    )
    assert guard.cka() == pytest.approx(reference.cka_hsic(t, s), abs=1e-12)
    expected = reference.ood_metrics(
        {"bank": ood.teacher_bank, "eval": t, "ood": ood.teacher_ood},
        {"bank": ood.student_bank, "eval": s, "ood": ood.student_ood},
        k=5,
    )
    metrics = guard.metrics()
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-12), name
    assert set(metrics["knn_sweep"]) == {"1", "5", "10", "20", "50"}
    assert guard.ood_sweep((1, 5)) == {1: guard.ood_agreement(1), 5: expected["ood_agreement"]}


@pytest.mark.filterwarnings("ignore::pytest_compressguard.CompressGuardWarning")  # 60 examples
def test_failed_representation_checks_explain_themselves():
    guard, *_ = make_guard()
    with pytest.raises(AssertionError) as info:
        guard.assert_knn_agreement(min=0.99, k=5)
    message = str(info.value)
    assert "knn_agreement (k=5) = 0." in message and "is below the minimum 0.9900" in message
    assert "(n=60)" in message and "share no neighbour" in message
    assert "jaccard=0.00" in message and "teacher's, not student's: 'text " in message
    with pytest.raises(AssertionError, match=r"(?s)cka = .*teacher H=8, student H=8"):
        guard.assert_cka(min=0.999)
    with pytest.raises(AssertionError) as info:
        guard.assert_ood_agreement(min=1.01)
    assert "ood_agreement (k=5)" in str(info.value) and "of 30 candidates" in str(info.value)
    assert [c["metric"] for c in guard.checks] == ["knn_agreement", "cka", "ood_agreement"]
    assert guard.checks[0]["k"] == 5 and guard.checks[2]["k"] == 5


def test_unmeasurable_metrics_fail_with_one_sentence():
    p = np.full((4, 2), 0.5)
    guard = Comparison.from_arrays(p, p, np.zeros(4, int))
    with pytest.raises(pytest.fail.Exception, match="knn_agreement could not be measured: no emb"):
        guard.assert_knn_agreement(min=0.1)
    with pytest.raises(pytest.fail.Exception, match=r"needs in-distribution training data .*--ood"):
        guard.assert_ood_agreement(min=0.1)
    small, *_ = make_guard(n=8)
    with pytest.raises(pytest.fail.Exception, match=r"needs k < N - 1, got k=10 with N=8"):
        small.assert_knn_agreement(min=0.1)
    assert small.metrics()["knn_sweep"] == {
        "1": small.knn_agreement(1),
        "5": small.knn_agreement(5),
    }
    assert "knn_agreement" in small.unavailable()
    assert guard.checks == []
