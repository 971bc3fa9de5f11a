"""Each metric against an independent computation (scipy, plain Python) on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy

from pytest_compressguard import metrics
from tests import reference


def random_probs(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    logits = rng.normal(size=(n, c)) * 3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


@pytest.fixture(params=[(50, 2), (200, 5)])
def case(request):
    n, c = request.param
    rng = np.random.default_rng(n + c)
    return random_probs(rng, n, c), random_probs(rng, n, c), rng.integers(0, c, size=n)


def test_accuracy_and_label_loyalty(case):
    pt, ps, y = case
    assert metrics.accuracy(pt, y) == sum(
        int(np.argmax(r) == g) for r, g in zip(pt, y, strict=False)
    ) / len(y)
    same = [int(np.argmax(a) == np.argmax(b)) for a, b in zip(pt, ps, strict=False)]
    assert metrics.label_loyalty(pt, ps) == pytest.approx(sum(same) / len(y), abs=1e-12)


def test_probability_loyalty_matches_scipy(case):
    pt, ps, _ = case
    expected = np.mean([1 - reference.js_distance(a, b) for a, b in zip(pt, ps, strict=False)])
    assert metrics.probability_loyalty(pt, ps) == pytest.approx(expected, abs=1e-9)


def test_kl_matches_scipy(case):
    pt, ps, _ = case
    expected = np.mean([entropy(a, b) for a, b in zip(pt, ps, strict=False)])
    assert metrics.kl_divergence(pt, ps) == pytest.approx(expected, abs=1e-9)


def test_flips_and_error_overlap_match_sets(case):
    pt, ps, y = case
    wrong_t = {i for i in range(len(y)) if np.argmax(pt[i]) != y[i]}
    wrong_s = {i for i in range(len(y)) if np.argmax(ps[i]) != y[i]}
    assert metrics.flips(pt, ps, y) == pytest.approx(len(wrong_t ^ wrong_s) / len(y), abs=1e-12)
    jaccard = len(wrong_t & wrong_s) / len(wrong_t | wrong_s)
    assert metrics.error_overlap(pt, ps, y) == pytest.approx(jaccard, abs=1e-12)


def test_hand_computed_values():
    pt = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    ps = np.array([[0.8, 0.2], [0.7, 0.3], [0.3, 0.7], [0.5, 0.5]])
    y = np.array([0, 1, 1, 0])
    # teacher predicts 0,1,0,0 -> wrong on {2}; student predicts 0,0,1,0 -> wrong on {1}
    assert metrics.accuracy(pt, y) == 0.75
    assert metrics.accuracy(ps, y) == 0.75
    assert metrics.label_loyalty(pt, ps) == 0.5
    assert metrics.flips(pt, ps, y) == 0.5
    assert metrics.error_overlap(pt, ps, y) == 0.0
    # KL of the first row by hand: 0.9 ln(0.9/0.8) + 0.1 ln(0.1/0.2)
    first = 0.9 * np.log(0.9 / 0.8) + 0.1 * np.log(0.1 / 0.2)
    assert metrics.kl_divergence(pt[:1], ps[:1]) == pytest.approx(first, abs=1e-12)


def test_edge_cases():
    p = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 1])
    assert metrics.error_overlap(p, p, y) == 1.0  # neither model errs
    assert metrics.probability_loyalty(p, p) == 1.0
    assert metrics.kl_divergence(p, p) == 0.0
    assert metrics.probability_loyalty(p, p[::-1]) == 0.0  # disjoint supports: JSD = 1 bit
    assert metrics.kl_divergence(p, p[::-1]) == np.inf
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.label_loyalty(p, np.ones((3, 2)) / 2)
    with pytest.raises(ValueError, match="non-empty"):
        metrics.accuracy(np.zeros((0, 2)), np.zeros(0))


def test_docstring_examples():
    import doctest

    from pytest_compressguard.metrics import (
        distribution,
        neighbours,
        prediction,
        representation,
        robustness,
        slices,
        stats,
    )

    for module, examples in (
        (prediction, 7),
        (representation, 3),
        (distribution, 4),
        (neighbours, 1),
        (robustness, 5),
        (slices, 4),
        (stats, 3),
    ):
        result = doctest.testmod(module)
        assert result.attempted >= examples and result.failed == 0, module.__name__
