"""Teacher snapshots of causal LMs: the top-k KL is a lower bound of the full KL and equals
it when k is the vocabulary; a snapshot written by --compressguard-snapshot-update gates the
same students with top-1, perplexity, greedy and multiple-choice metrics equal to the live
teacher's, without the teacher's weights."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pytest_compressguard.metrics import tokens
from tests.test_lm_plugin import GATE, run


def distributions(rng, p, v, sharp=3.0):
    return tokens.log_softmax(rng.normal(size=(p, v)) * sharp)


def full_kl(logp_t, logp_s):
    return (np.exp(logp_t) * (logp_t - logp_s)).sum(axis=1)


@pytest.mark.parametrize("k", [1, 3, 10, 49])
def test_top_k_kl_never_exceeds_the_full_kl_and_equals_it_at_the_vocabulary(k):
    rng = np.random.default_rng(k)
    logp_t, logp_s = distributions(rng, 200, 50), distributions(rng, 200, 50)
    ids, top = tokens.top_k(logp_t, k)
    bound = tokens.top_k_kl(top, ids, logp_s)
    full = full_kl(logp_t, logp_s)
    assert (bound <= full + 1e-12).all()
    assert (bound >= 0).all()
    exact = tokens.top_k_kl(*reversed(tokens.top_k(logp_t, 50)), logp_s)
    np.testing.assert_allclose(exact, full, rtol=1e-9, atol=1e-12)
    if k < 49:  # two or more tokens merged into the rest: a real coarsening loses something
        assert (bound < full - 1e-9).any()


def test_top_k_orders_by_probability_then_id():
    logp = np.log(np.array([[0.1, 0.3, 0.3, 0.2, 0.1]]))
    ids, values = tokens.top_k(logp, 3)
    assert ids.tolist() == [[1, 2, 3]]
    np.testing.assert_allclose(values, np.log([[0.3, 0.3, 0.2]]))
    ids, _ = tokens.top_k(logp, 5)
    assert ids.tolist() == [[1, 2, 3, 0, 4]]


def metrics_of(path):
    document = json.loads(path.read_text())
    return {(c["student"], c["eval_set"]): c["metrics"] for c in document["comparisons"]}


@pytest.mark.parametrize("k", [4, 1000])
def test_a_snapshot_gates_the_students_as_the_live_teacher_does(pytester, lms, tmp_path, k):
    snap, live, stored = tmp_path / "t.snapshot", tmp_path / "live.json", tmp_path / "snap.json"
    students = (lms["noisy"], f"int8:{lms['teacher']}")
    run(
        pytester,
        lms,
        f"--compressguard-json={live}",
        f"--compressguard-snapshot-update={snap}",
        f"--snapshot-top-k={k}",
        students=students,
    ).assert_outcomes(passed=4)
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher=snapshot:{snap}",
        *(f"--student={s}" for s in students),
        f"--eval-data=docs={lms['docs']}",
        f"--eval-data=mc={lms['mc']}",
        "--max-length=40",
        "--prompt-tokens=6",
        "--generate-tokens=4",
        f"--compressguard-json={stored}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=4)
    want, got = metrics_of(live), metrics_of(stored)
    for (student, eval_set), values in want.items():
        found = got[(student, eval_set)]
        for name, value in values.items():
            if name in ("size_ratio", "parameter_ratio"):
                continue
            if name == "token_kl" and k < 1000:
                assert 0 < found[name] <= value * (1 + 1e-9), student
            elif name == "token_kl_p99" and k < 1000:
                assert found[name] <= value * (1 + 1e-6), student
            elif name.startswith("token_kl"):  # k is the vocabulary: float32 log-probabilities
                assert found[name] == pytest.approx(value, rel=1e-4, abs=1e-6), (student, name)
            else:
                assert found[name] == pytest.approx(value, rel=1e-6, abs=1e-9), (student, name)
    # at most about 8 k + 8 bytes per scored position (k capped at the vocabulary), plus
    # the token ids, the embeddings and the choices: the archive compresses them
    docs = next(c for c in json.loads(live.read_text())["comparisons"] if c["eval_set"] == "docs")
    per_position = 8 * min(k, 50) + 8
    assert snap.stat().st_size < docs["tokens"]["positions"] * per_position + 100_000
