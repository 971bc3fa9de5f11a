"""The per-question outcome columns of a QA pair against a computation written from the
definitions with Python dicts, scipy and the official script's F1 (test_squad.py)."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy.stats import entropy

from pytest_compressguard.metrics import qa
from tests.reference import js_distance
from tests.test_squad import official_f1, official_normalize

WORDS = ["Denver", "the Broncos", "Broncos", "Paris", "France", "a city", ""]


def random_answer(rng):
    """(answer text, candidates with probabilities summing to 1, the null "" included)."""
    texts = [*rng.sample(WORDS[:-1], rng.randint(1, 4)), ""]
    weights = [rng.random() + 1e-3 for _ in texts]
    total = sum(weights)
    candidates = [(t, w / total) for t, w in zip(texts, weights, strict=True)]
    return rng.choice(texts), candidates


def reference(golds, teacher, student, error):
    rows = []
    for answers, (t, tc), (s, sc) in zip(golds, teacher, student, strict=True):
        kept = [a for a in answers if official_normalize(a)] or [""]
        t_em = max(int(official_normalize(a) == official_normalize(t)) for a in kept)
        s_em = max(int(official_normalize(a) == official_normalize(s)) for a in kept)
        t_f1 = max(official_f1(a, t) for a in kept)
        s_f1 = max(official_f1(a, s) for a in kept)
        dists = []
        for cands in (tc, sc):
            d = {}
            for text, p in cands:
                d[official_normalize(text)] = d.get(official_normalize(text), 0) + p
            dists.append(d)
        union = sorted(set(dists[0]) | set(dists[1]))
        filled = []
        for d in dists:
            floor = min(d.values())
            row = [d.get(x, floor) for x in union]
            filled.append([v / sum(row) for v in row])
        rows.append(
            {
                "teacher_exact": t_em,
                "student_exact": s_em,
                "teacher_f1": t_f1,
                "student_f1": s_f1,
                "teacher_right": t_em if error == "exact" else int(t_f1 >= 0.5),
                "student_right": s_em if error == "exact" else int(s_f1 >= 0.5),
                "has_answer": int(kept != [""]),
                "same": int(official_normalize(t) == official_normalize(s)),
                "agreement_f1": official_f1(t, s),
                "jsd": js_distance(filled[0], filled[1]) ** 2,
                "kl": entropy(filled[0], filled[1]),
            }
        )
    return rows


@pytest.mark.parametrize("error", ["exact", "f1"])
def test_columns_equal_the_definitions(error):
    rng = random.Random(1)
    golds = [rng.sample(WORDS[:-1], rng.randint(0, 2)) for _ in range(200)]
    teacher = [random_answer(rng) for _ in golds]
    student = [random_answer(rng) for _ in golds]
    got = qa.columns(golds, teacher, student, error=error)
    for i, row in enumerate(reference(golds, teacher, student, error)):
        for name, value in row.items():
            assert getattr(got, name)[i] == pytest.approx(value, abs=1e-12), (i, name)
    assert set(got.same) == {0.0, 1.0} and set(got.has_answer) == {0.0, 1.0}


def test_identical_answers_have_no_divergence_and_differing_candidates_do():
    cands = [("Paris", 0.7), ("the city", 0.2), ("", 0.1)]
    same = qa.columns([["Paris"]], [("Paris", cands)], [("paris", cands)])
    assert same.jsd[0] == 0.0 and same.kl[0] == 0.0 and same.same[0] == 1.0
    # merged by normalised text: "the city" and "city" are one answer
    merged = qa.merged([("the city", 0.2), ("City!", 0.3), ("", 0.5)])
    assert merged == {"city": pytest.approx(0.5), "": 0.5}
    # a text the student does not list gets its smallest listed probability
    p, q = qa.on_union({"paris": 0.9, "": 0.1}, {"france": 0.6, "": 0.4})
    assert q.tolist() == pytest.approx([0.4 / 1.4, 0.6 / 1.4, 0.4 / 1.4])  # "", france, paris
    assert p.tolist() == pytest.approx([0.1 / 1.1, 0.1 / 1.1, 0.9 / 1.1])
    assert math.isfinite(
        qa.columns(
            [[]], [("Paris", [("Paris", 0.9), ("", 0.1)])], [("", [("France", 0.6), ("", 0.4)])]
        ).kl[0]
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match="error must be one of"):
        qa.columns([["a"]], [("a", [("a", 1.0)])], [("a", [("a", 1.0)])], error="em")
    with pytest.raises(ValueError, match="2 questions, 1 teacher and 1 student answers"):
        qa.columns([["a"], ["b"]], [("a", [("a", 1.0)])], [("a", [("a", 1.0)])])
    np.testing.assert_array_equal(
        qa.columns([["a"]], [("a", [("a", 1.0)])], [("b", [("b", 1.0)])]).agreement_f1, [0.0]
    )


def test_an_f1_of_exactly_one_half_is_right_under_the_f1_rule():
    cands = [("Paris Lyon", 1.0)]
    got = qa.columns([["Paris France"]], [("Paris Lyon", cands)], [("Lyon", cands)], error="f1")
    assert got.teacher_f1[0] == 0.5 and got.teacher_right[0] == 1.0  # F1 >= 0.5 is right
    assert got.student_f1[0] == 0.0 and got.student_right[0] == 0.0
