"""SQuAD 2.0 scoring: hand-made cases, and the official evaluation script's logic (transcribed
below in its own dict-by-question-id style) on random predictions."""

from __future__ import annotations

import collections
import random
import re
import string

import pytest

from pytest_compressguard.metrics import squad

# -- the official evaluate-v2.0.py, as written there (question ids, dicts) ------------------


def official_normalize(s):
    def remove_articles(text):
        return re.sub(re.compile(r"\b(a|an|the)\b", re.UNICODE), " ", text)

    def white_space_fix(text):
        return " ".join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def official_tokens(s):
    return official_normalize(s).split() if s else []


def official_f1(a_gold, a_pred):
    gold_toks, pred_toks = official_tokens(a_gold), official_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


def official_evaluate(dataset, preds, na_probs):
    """dataset: {qid: [answer texts]}; preds, na_probs: {qid: ...}."""
    qid_to_has_ans = {
        q: any(official_normalize(a) for a in answers) for q, answers in dataset.items()
    }
    exact_scores, f1_scores = {}, {}
    for qid, answers in dataset.items():
        gold_answers = [a for a in answers if official_normalize(a)]
        if not gold_answers:
            gold_answers = [""]
        a_pred = preds[qid]
        exact_scores[qid] = max(
            int(official_normalize(a) == official_normalize(a_pred)) for a in gold_answers
        )
        f1_scores[qid] = max(official_f1(a, a_pred) for a in gold_answers)

    def make_eval_dict(qid_list):
        total = len(qid_list)
        return {
            "exact": 100.0 * sum(exact_scores[k] for k in qid_list) / total,
            "f1": 100.0 * sum(f1_scores[k] for k in qid_list) / total,
            "total": total,
        }

    out = make_eval_dict(list(dataset))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [k for k, v in qid_to_has_ans.items() if v == wanted]
        if qids:
            for key, value in make_eval_dict(qids).items():
                out[f"{prefix}_{key}"] = value

    def find_best_thresh(scores):
        num_no_ans = sum(1 for k in qid_to_has_ans if not qid_to_has_ans[k])
        cur_score = best_score = num_no_ans
        best_thresh = 0.0
        for qid in sorted(na_probs, key=lambda k: na_probs[k]):
            if qid_to_has_ans[qid]:
                diff = scores[qid]
            else:
                diff = -1 if preds[qid] else 0
            cur_score += diff
            if cur_score > best_score:
                best_score, best_thresh = cur_score, na_probs[qid]
        return 100.0 * best_score / len(scores), best_thresh

    out["best_exact"], out["best_exact_thresh"] = find_best_thresh(exact_scores)
    out["best_f1"], out["best_f1_thresh"] = find_best_thresh(f1_scores)
    return out


# -- hand-made cases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normal"),
    [
        ("The  Denver Broncos!", "denver broncos"),
        ("an apple, a pear", "apple pear"),
        ("the", ""),
        ("Theatre", "theatre"),  # articles are whole words only
        ("U.S.-based", "usbased"),
        # punctuation goes before the articles: "the-end" is one word "theend", not "end"
        ("the-end", "theend"),
        ("An.apple", "anapple"),
        ("the end", "end"),
    ],
)
def test_normalisation(text, normal):
    """The official order: lower case, punctuation removed, then articles, then white space."""
    assert squad.normalize_answer(text) == normal
    assert squad.normalize_answer(text) == official_normalize(text)


def test_several_gold_answers_take_the_best():
    golds = ["Denver Broncos", "The Broncos", "Broncos"]
    assert squad.scores(golds, "broncos") == (1, 1.0)
    e, f = squad.scores(golds, "Denver")
    assert e == 0 and f == pytest.approx(2 * 1 * 0.5 / 1.5)  # against "Denver Broncos"
    assert squad.scores(golds, "the Denver team") == (0, pytest.approx(2 * 0.5 * 0.5 / 1.0))


def test_unanswerable_questions_score_only_the_empty_answer():
    assert squad.scores([], "") == (1, 1.0)
    assert squad.scores([], "Paris") == (0, 0.0)
    assert squad.scores(["the"], "") == (1, 1.0)  # a gold that normalises to nothing is dropped
    assert squad.scores(["the", "Paris"], "paris") == (1, 1.0)
    assert squad.scores(["Paris"], "") == (0, 0.0)
    assert squad.scores(["Paris"], "a") == (0, 0.0)  # "a" normalises to no tokens


def test_the_best_threshold_on_a_small_case():
    # q0 answerable, right; q1 unanswerable, answered; q2 unanswerable, abstained
    raw, has, preds = [1.0, 0.0, 1.0], [True, False, False], ["x", "y", ""]
    score, threshold = squad.best_threshold(raw, has, preds, [0.2, 0.9, 0.5])
    # abstaining above 0.2 keeps q0's right answer and abstains on q2 and q1: 3 of 3, reached
    # first at q0's probability (a later tie does not move the threshold)
    assert (score, threshold) == (100.0, 0.2)


def test_evaluate_matches_the_official_script_on_random_predictions():
    rng = random.Random(0)
    words = ["the", "Denver", "Broncos", "a", "team", "Paris", "France", ",", "an", "city"]
    for trial in range(30):
        n = rng.randint(1, 25)
        answers = [
            [" ".join(rng.choices(words, k=rng.randint(1, 3))) for _ in range(rng.randint(0, 3))]
            for _ in range(n)
        ]
        predictions = [
            rng.choice([*a, " ".join(rng.choices(words, k=rng.randint(1, 3))), ""])
            if a
            else rng.choice(["", "Paris"])
            for a in answers
        ]
        probabilities = [rng.choice([0.1, 0.5, 0.5, 0.9, rng.random()]) for _ in range(n)]  # ties
        qids = [f"q{i}" for i in range(n)]
        want = official_evaluate(
            dict(zip(qids, answers, strict=True)),
            dict(zip(qids, predictions, strict=True)),
            dict(zip(qids, probabilities, strict=True)),
        )
        got = squad.evaluate(answers, predictions, probabilities)
        assert got.keys() == want.keys(), trial
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-12), (trial, key)


def test_evaluate_needs_one_prediction_per_question():
    with pytest.raises(ValueError, match="2 questions but 1 predictions"):
        squad.evaluate([["a"], ["b"]], ["a"])
