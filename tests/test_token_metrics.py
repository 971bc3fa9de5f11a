"""Token-level metrics of causal LMs against independent computations: scipy's and torch's
KL, np.percentile of explicitly resampled documents, and pooled means by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import log_softmax as scipy_log_softmax
from scipy.special import rel_entr, softmax

from pytest_compressguard.metrics import tokens
from pytest_compressguard.metrics.stats import bootstrap_means


def scores_of(lengths, seed=0, vocab=7):
    """Random logits for documents of ``lengths`` positions, scored position by position."""
    rng = np.random.default_rng(seed)
    parts = []
    for d, n in enumerate(lengths):
        lt = rng.normal(size=(n, vocab)) * 2
        ls = lt + rng.normal(size=(n, vocab)) * (0.2 + d % 3)
        targets = rng.integers(0, vocab, size=n)
        parts.append((lt, ls, targets, np.full(n, d)))
    lt, ls, targets, doc = (np.concatenate([p[i] for p in parts]) for i in range(4))
    found = tokens.position_scores(tokens.log_softmax(lt), tokens.log_softmax(ls), targets)
    return tokens.PositionScores(*found, document=doc, documents=len(lengths)), lt, ls, targets


def test_log_softmax_is_scipys_and_survives_large_logits():
    x = np.array([[1000.0, 999.0, -5.0], [0.0, 0.0, 0.0]], dtype=np.float32)
    got = tokens.log_softmax(x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, scipy_log_softmax(x.astype(np.float64), axis=1), atol=1e-12)


def test_position_scores_equal_scipy_torch_and_a_loop():
    scores, lt, ls, targets = scores_of([5, 3, 8])
    pt, ps = softmax(lt, axis=1), softmax(ls, axis=1)
    np.testing.assert_allclose(scores.kl, rel_entr(pt, ps).sum(axis=1), rtol=1e-9)
    by_torch = torch.nn.functional.kl_div(
        torch.log_softmax(torch.tensor(ls), 1),
        torch.log_softmax(torch.tensor(lt), 1),
        log_target=True,
        reduction="none",
    ).sum(1)
    np.testing.assert_allclose(scores.kl, by_torch.numpy(), rtol=1e-9)
    for i, t in enumerate(targets):
        assert scores.same_top1[i] == (int(np.argmax(pt[i])) == int(np.argmax(ps[i])))
        assert scores.nll_teacher[i] == pytest.approx(-np.log(pt[i, t]), rel=1e-9)
        assert scores.nll_student[i] == pytest.approx(-np.log(ps[i, t]), rel=1e-9)


def test_identical_models_give_zero_kl_and_full_agreement_even_on_ties():
    logits = np.array([[2.0, 2.0, 0.0], [1.0, 3.0, 3.0]])
    lp = tokens.log_softmax(logits)
    kl, same, nll_t, nll_s = tokens.position_scores(lp, lp.copy(), np.array([0, 2]))
    assert kl.tolist() == [0.0, 0.0]
    assert same.all()
    np.testing.assert_array_equal(nll_t, nll_s)


def test_different_vocabularies_are_one_sentence():
    with pytest.raises(ValueError, match="need one vocabulary"):
        tokens.position_scores(np.zeros((2, 5)), np.zeros((2, 6)), np.array([0, 1]))


def test_pooled_metrics_weight_positions_not_documents():
    scores, lt, ls, targets = scores_of([1, 9, 2, 30])
    stats = tokens.statistics(scores)
    pt, ps = softmax(lt, axis=1), softmax(ls, axis=1)
    kl = rel_entr(pt, ps).sum(axis=1)
    assert stats["token_kl"].value() == pytest.approx(kl.mean(), rel=1e-9)
    mean_of_docs = np.mean([kl[scores.document == d].mean() for d in range(4)])
    assert abs(stats["token_kl"].value() - mean_of_docs) > 1e-3  # the two readings differ
    same = pt.argmax(1) == ps.argmax(1)
    assert stats["top1_agreement"].value() == pytest.approx(same.mean())
    rows = np.arange(len(targets))
    gap = np.mean(-np.log(ps[rows, targets])) - np.mean(-np.log(pt[rows, targets]))
    assert stats["perplexity_ratio"].value() == pytest.approx(np.exp(gap), rel=1e-9)
    assert tokens.kl_percentile(scores) == pytest.approx(np.percentile(kl, 99), rel=1e-12)


def resampled(scores, replicates, seed):
    """Each replicate's positions, drawn as the bootstrap draws its documents."""
    draws = np.random.default_rng(seed).integers(
        0, scores.documents, size=(replicates, scores.documents)
    )
    return [np.concatenate([np.flatnonzero(scores.document == d) for d in row]) for row in draws]


def test_bootstrap_resamples_documents_with_the_pooled_mean():
    scores, *_ = scores_of([4, 1, 7, 2, 5, 3])
    stat = tokens.statistics(scores)["token_kl"]
    got = stat.reduce(bootstrap_means(stat.columns, 50, seed=3))
    expected = [scores.kl[i].mean() for i in resampled(scores, 50, seed=3)]
    np.testing.assert_allclose(got, expected, rtol=1e-9)


def test_kl_percentile_replicates_equal_np_percentile_of_the_resample():
    scores, *_ = scores_of([4, 1, 7, 2, 5, 3, 6])
    # ties across documents and a document with no position
    kl = scores.kl.copy()
    kl[::3] = 0.25
    doc = np.where(scores.document == 1, 2, scores.document)  # document 1 has no position now
    scores = tokens.PositionScores(
        kl, scores.same_top1, scores.nll_teacher, scores.nll_student, doc, scores.documents
    )
    for q in (99.0, 50.0, 0.0, 100.0):
        got = tokens.kl_quantile_replicates(scores, 40, seed=5, q=q)
        expected = [
            np.percentile(scores.kl[i], q) if len(i) else np.nan
            for i in resampled(scores, 40, seed=5)
        ]
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_weighted_percentile_at_bin_edges():
    values = np.array([1.0, 2.0, 4.0])
    for weights in ([1, 1, 1], [3, 0, 1], [0, 0, 2], [2, 5, 1]):
        expanded = np.repeat(values, weights)
        for q in (0, 25, 50, 62.5, 99, 100):
            assert tokens.weighted_percentile(values, np.array(weights), q) == pytest.approx(
                np.percentile(expanded, q), abs=1e-12
            ), (weights, q)


def test_generation_agreement_is_the_share_of_same_continuations():
    eligible = np.array([True, True, False, True, True])
    same = np.array([True, False, True, True, True])  # the ineligible one counts for nothing
    assert tokens.generation_agreement(eligible, same).value() == pytest.approx(0.75, abs=1e-15)
    with pytest.raises(ValueError, match="enough tokens"):
        tokens.generation_agreement(np.zeros(3, bool), np.ones(3, bool))


def test_no_position_is_an_error():
    empty = np.array([])
    with pytest.raises(ValueError, match="fewer than two tokens"):
        tokens.PositionScores(empty, empty, empty, empty, empty.astype(int), 1)
