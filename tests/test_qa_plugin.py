"""Question-answering pairs through the plugin: the task is found from the teacher, every
prediction metric of the JSON equals an independent computation (run_qa transcribed, the
official SQuAD 2.0 logic transcribed, the outcome columns from their definitions), failure
messages show questions with both answers, and bad inputs are one sentence."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.metrics.catalogue import METRICS
from pytest_compressguard.report import html
from tests import browser
from tests.reference import knn_jaccard as reference_knn_jaccard
from tests.test_qa_metrics import reference
from tests.test_qa_models import MAX_LENGTH, STRIDE, direct
from tests.test_squad import official_evaluate, official_normalize

WINDOW = (f"--max-length={MAX_LENGTH}", f"--doc-stride={STRIDE}")

GATE = """
def test_answers_like_the_teacher(guard):
    guard.assert_error_overlap(min=0.0)
    guard.assert_label_loyalty(min=0.0)
    guard.assert_accuracy_drop(max=1.0)
    guard.assert_f1_drop(max=1.0)
    guard.assert_answer_agreement_f1(min=0.0)
    guard.assert_probability_loyalty(min=0.0)
    guard.assert_kl_divergence(max=100.0)
    guard.assert_flips(max=1.0)
    guard.assert_negative_flip_rate(max=1.0)
    guard.assert_worst_class_drop(max=1.0)
    guard.assert_no_significant_accuracy_loss(alpha=0.0)
    guard.assert_knn_agreement(min=0.0, k=5)
    guard.assert_cka(min=0.0)
"""


def run(pytester, qa_models, *extra, source=GATE, students=None):
    pytester.makepyfile(test_gate=source)
    students = students or (qa_models.student, f"int8:{qa_models.teacher}")
    return pytester.runpytest_inprocess(
        f"--teacher={qa_models.teacher}",
        *(f"--student={s}" for s in students),
        f"--eval-data={qa_models.dev}",
        *WINDOW,
        "-p",
        "no:randomly",
        *extra,
    )


def independent(qa_models, int8: bool, model=None, **settings):
    """Answers run directly (transformers, run_qa's features and post-processing);
    ``settings``: :func:`tests.test_qa_models.direct`'s answer settings."""
    texts, odds, nbest, cls = direct(
        model or qa_models.teacher, qa_models.dev_rows, int8=int8, **settings
    )
    n = len(qa_models.dev_rows)
    return (
        [texts[i] for i in range(n)],
        [odds[i] for i in range(n)],
        [nbest[i] for i in range(n)],
        cls,
    )


def expected(golds, teacher, student, error="exact"):
    """Every prediction metric of a QA pair from the reference rows, by its definition
    (``teacher``, ``student``: answer texts, null odds, candidates)."""
    rows = reference(
        golds,
        [(t, c) for t, c in zip(teacher[0], teacher[2], strict=True)],
        [(s, c) for s, c in zip(student[0], student[2], strict=True)],
        error,
    )

    def mean(key, where=lambda r: True):
        chosen = [r[key] for r in rows if where(r)]
        return sum(chosen) / len(chosen)

    wrong_t = [1 - r["teacher_right"] for r in rows]
    wrong_s = [1 - r["student_right"] for r in rows]
    both = sum(a * b for a, b in zip(wrong_t, wrong_s, strict=True))
    either = sum(max(a, b) for a, b in zip(wrong_t, wrong_s, strict=True))
    out = {
        "teacher_accuracy": mean("teacher_exact"),
        "student_accuracy": mean("student_exact"),
        "accuracy_drop": mean("teacher_exact") - mean("student_exact"),
        "teacher_f1": mean("teacher_f1"),
        "student_f1": mean("student_f1"),
        "f1_drop": mean("teacher_f1") - mean("student_f1"),
        "label_loyalty": mean("same"),
        "answer_agreement_f1": mean("agreement_f1"),
        "probability_loyalty": sum(1 - np.sqrt(r["jsd"]) for r in rows) / len(rows),
        "kl_divergence": mean("kl"),
        "flips": sum(a != b for a, b in zip(wrong_t, wrong_s, strict=True)) / len(rows),
        "negative_flip_rate": sum(r["teacher_right"] and not r["student_right"] for r in rows)
        / len(rows),
        "error_overlap": both / either if either else 1.0,
        "backward_trust_compatibility": (
            sum(r["teacher_right"] * r["student_right"] for r in rows)
            / sum(r["teacher_right"] for r in rows)
            if any(r["teacher_right"] for r in rows)
            else 1.0
        ),
        "backward_error_compatibility": both / sum(wrong_s) if sum(wrong_s) else 1.0,
    }
    drops = []
    for key, has in (("has_ans", 1), ("no_ans", 0)):
        if not any(r["has_answer"] == has for r in rows):
            continue
        for model in ("teacher", "student"):
            for score in ("exact", "f1"):
                out[f"{model}_{key}_{score}"] = mean(
                    f"{model}_{score}", lambda r, h=has: r["has_answer"] == h
                )
        drops.append(out[f"teacher_{key}_exact"] - out[f"student_{key}_exact"])
    out["worst_class_drop"] = max(drops)
    return out


#: Answers whose EM and F1 >= 0.5 disagree ("Broncos" against "Denver Broncos").
PHRASES = ["Denver Broncos", "Broncos", "Denver", "Paris France", "Paris", "the city", ""]


@pytest.mark.parametrize("error", ["exact", "f1"])
def test_every_qa_statistic_equals_its_definition_on_made_up_answers(error):
    import random

    from pytest_compressguard import Comparison
    from pytest_compressguard.core.types import Answer
    from pytest_compressguard.metrics.catalogue import CATALOGUE

    rng = random.Random(3)

    def answer():
        texts = [*rng.sample(PHRASES[:-1], rng.randint(1, 4)), ""]
        weights = [rng.random() + 1e-3 for _ in texts]
        total = sum(weights)
        candidates = tuple((t, w / total) for t, w in zip(texts, weights, strict=True))
        return Answer(rng.choice(texts), rng.uniform(-5, 5), candidates)

    golds = [rng.sample(PHRASES[:-1], rng.randint(0, 2)) for _ in range(300)]
    teacher = [answer() for _ in golds]
    student = [answer() for _ in golds]
    c = Comparison.from_answers(golds, teacher, student, error=error, bootstrap=50)

    def as_tuple(answers):
        return (
            [a.text for a in answers],
            [a.null_odds for a in answers],
            [a.candidates for a in answers],
        )

    want = expected(golds, as_tuple(teacher), as_tuple(student), error)
    rows = reference(
        golds,
        [(a.text, a.candidates) for a in teacher],
        [(a.text, a.candidates) for a in student],
        error,
    )
    assert any(r["teacher_exact"] != r["teacher_right"] for r in rows) == (error == "f1")
    qa_metrics = [m.name for m in CATALOGUE if m.statistic is not None or m.qa]
    assert {n for n in qa_metrics if "qa" in METRICS[n].tasks} == set(want)
    for name, value in want.items():
        assert c.value(name) == pytest.approx(value, abs=1e-12), name
        lo, hi = c.interval(name)
        assert lo <= value + 1e-12 and value <= hi + 1e-12, name
    for name in ("teacher_ece", "ece_increase"):
        with pytest.raises(CompressGuardError, match="defined for classifiers only"):
            c.value(name)
    right_t = [r["teacher_right"] for r in rows]
    right_s = [r["student_right"] for r in rows]
    test = c.mcnemar()
    assert (test.n10, test.n01) == (
        sum(a and not b for a, b in zip(right_t, right_s, strict=True)),
        sum(b and not a for a, b in zip(right_t, right_s, strict=True)),
    )


def test_a_slice_without_questions_has_no_figure():
    from pytest_compressguard import Comparison
    from pytest_compressguard.core.types import Answer

    said = Answer("Paris", -1.0, (("Paris", 0.7), ("", 0.3)))
    c = Comparison.from_answers([["Paris"], ["Paris France"]], [said, said], [said, said])
    assert c.value("teacher_has_ans_exact") == 0.5
    with pytest.raises(CompressGuardError, match="has no unanswerable question"):
        c.value("teacher_no_ans_exact")
    assert "teacher_no_ans_exact" in c.unavailable()
    assert c.per_class()["support"] == [2, 0] and c.per_class()["teacher"] == [0.5, None]
    # the worst slice is the one slice with questions: the empty one never wins
    wrong = Answer("", 1.0, (("", 0.6), ("Paris", 0.4)))
    c = Comparison.from_answers([["Paris"], ["Paris France"]], [said, said], [wrong, said])
    assert c.value("worst_class_drop") == 0.5 and c.value("accuracy_drop") == 0.5


@pytest.mark.parametrize("error", ["exact", "f1"])
def test_json_equals_an_independent_computation(pytester, qa_models, tmp_path, error):
    out = tmp_path / "report.json"
    result = run(
        pytester,
        qa_models,
        f"--compressguard-json={out}",
        f"--compressguard-cache-dir={tmp_path / 'cache'}",
        f"--qa-error={error}",
    )
    result.assert_outcomes(passed=2)
    document = json.loads(out.read_text())
    golds = [[a] if a else [] for _, _, a in qa_models.dev_rows]
    teacher = independent(qa_models, int8=False)
    references = {
        str(qa_models.student): independent(qa_models, int8=False, model=qa_models.student),
        f"int8:{qa_models.teacher}": independent(qa_models, int8=True),
    }
    assert [c["student"] for c in document["comparisons"]] == list(references)
    for comparison in document["comparisons"]:
        assert comparison["task"] == "qa" and comparison["n"] == len(golds)
        student = references[comparison["student"]]
        want = expected(golds, teacher, student, error)
        got = comparison["metrics"]
        for name, value in want.items():
            assert got[name] == pytest.approx(value, abs=1e-7), name
        # no classifier-only metric is listed for a QA pair, measured or not
        assert not {"teacher_ece", "ece_increase"} & {*got, *comparison.get("unavailable", {})}
        for name, (lo, hi) in comparison["ci"].items():
            assert lo - 1e-12 <= got[name] <= hi + 1e-12, name
        assert "f1_drop" in comparison["ci"] and "teacher_ece" not in comparison["ci"]
        # the official script's figures, null odds as the no-answer probabilities
        dataset = {f"q{i}": g for i, g in enumerate(golds)}
        for model, answers in (("teacher", teacher), ("student", student)):
            preds = {f"q{i}": t for i, t in enumerate(answers[0])}
            na = {f"q{i}": o for i, o in enumerate(answers[1])}
            official = official_evaluate(dataset, preds, na)
            assert comparison["squad"][model] == pytest.approx(official, rel=1e-6, abs=1e-7), model
        has = [any(official_normalize(a) for a in g) for g in golds]
        table = comparison["per_class"]
        assert table["labels"] == ["HasAns", "NoAns"]
        assert table["support"] == [sum(has), len(has) - sum(has)]
        assert table["teacher"][0] == pytest.approx(got["teacher_has_ans_exact"])
        differ = [i for i in range(len(golds)) if teacher[0][i] != student[0][i]]
        assert comparison["answers"]["different"] >= 0
        shown = {row["index"] for row in comparison["answers"]["examples"]}
        assert shown <= set(differ)
        # kNN agreement and CKA on the [CLS] vectors of each question's first window
        assert got["knn_agreement"] == pytest.approx(
            reference_knn_jaccard(teacher[3], student[3], 10).mean(), abs=1e-9
        )


#: Answer settings away from their defaults, as options and as run_qa's arguments.
SETTINGS = {
    "--doc-stride=4": {"stride": 4},
    "--n-best=3": {"n_best": 3},
    "--max-answer-length=1": {"max_answer_length": 1},
}


def test_the_answer_options_reach_the_answers(pytester, qa_models, tmp_path):
    """--doc-stride, --n-best, --max-answer-length and --null-threshold give run_qa's answers
    under the same arguments; each of them changes some figure, so none can be dropped."""
    golds = [[a] if a else [] for _, _, a in qa_models.dev_rows]
    settings = {k: v for option in SETTINGS.values() for k, v in option.items()}
    # a null threshold between the teacher's middle two null odds turns answers into abstentions
    odds = sorted(independent(qa_models, int8=False, **settings)[1])
    middle = len(odds) // 2
    settings["threshold"] = (odds[middle - 1] + odds[middle]) / 2
    threshold = settings["threshold"]
    options = {**SETTINGS, f"--null-threshold={threshold!r}": {"threshold": threshold}}
    out = tmp_path / "report.json"
    result = run(
        pytester,
        qa_models,
        f"--compressguard-json={out}",
        *options,
        source="def test_gate(guard):\n    guard.assert_f1_drop(max=1.0)\n",
        students=(qa_models.student,),
    )
    result.assert_outcomes(passed=1)
    got = json.loads(out.read_text())["comparisons"][0]["metrics"]

    def figures(**chosen):
        teacher = independent(qa_models, int8=False, **chosen)
        student = independent(qa_models, int8=False, model=qa_models.student, **chosen)
        return expected(golds, teacher, student)

    want = figures(**settings)
    for name, value in want.items():  # n_best=3 leaves tiny probabilities: KL of ~4
        assert got[name] == pytest.approx(value, rel=1e-6, abs=1e-7), name
    for option, chosen in options.items():
        default = figures(**{k: v for k, v in settings.items() if k not in chosen})
        assert any(
            default[name] != pytest.approx(value, abs=1e-7) for name, value in want.items()
        ), f"{option} changes no figure on this data"


def test_a_violated_threshold_shows_questions_with_both_answers(pytester, qa_models):
    source = """
def test_gate(guard):
    guard.assert_label_loyalty(min=1.0)
"""
    result = run(pytester, qa_models, source=source, students=(qa_models.student,))
    result.assert_outcomes(failed=1)
    text = result.stdout.str()
    assert "compressguard: label_loyalty = " in text
    assert "the models answer" in text and "questions differently" in text
    assert "context: " in text and "teacher: " in text and "student: " in text
    assert "gold: " in text
    # the student's answers are shown with their probability or null odds and scores
    assert " EM " in text and " F1 " in text


def test_qa_gate_reports_everywhere(pytester, qa_models, tmp_path):
    junit, html_path = tmp_path / "junit.xml", tmp_path / "report.html"
    result = run(
        pytester,
        qa_models,
        f"--junitxml={junit}",
        f"--compressguard-html={html_path}",
        "--compressguard-pairwise",
        f"--train-data={qa_models.train}",
        f"--ood-data={qa_models.ood}",
        source=GATE + "    guard.assert_ood_agreement(min=0.0)\n",
    )
    result.assert_outcomes(passed=2)
    text = result.stdout.str()
    assert "t_f1" in text and "f1_drop" in text and "agree_f1" in text
    assert "t_has_em" in text
    assert "pairwise" in text
    xml = junit.read_text()
    assert f"compressguard[{qa_models.student}].f1_drop" in xml
    assert "compressguard.answer_agreement_f1" in xml
    page = html_path.read_text()
    assert "HasAns" in page and "NoAns" in page and "Answer agreement" in page
    keys = [key for key, _ in html.sections([{"task": "qa"}])]
    assert "answers" in keys and "scatter" not in keys and "confusion" not in keys
    if browser.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium and playwright (scripts/test.sh installs them)")
        return
    found = browser.inspect(html_path, tuple(keys), tmp_path / "qa.png")
    assert found["console_errors"] == []
    for key in keys:
        assert found["sections"][key]["visible"] and found["sections"][key]["height"] > 40, key
    assert found["plots"]["per-class"] and all(marks for _, _, marks in found["plots"]["per-class"])
    assert found["page_width"] <= browser.LAPTOP["width"]


def test_an_attack_on_a_qa_pair_fails_with_one_sentence(pytester, qa_models):
    source = """
def test_attack(guard):
    guard.assert_attack_drop(max=0.5)
"""
    result = run(pytester, qa_models, source=source, students=(qa_models.student,))
    result.assert_outcomes(failed=1)
    assert "the attack metrics are defined for classifiers" in result.stdout.str()


def test_bad_qa_inputs_are_one_sentence(pytester, qa_models, tiny_models, tmp_path):
    checks = """
def test_gate(guard):
    guard.assert_accuracy_drop(max=1.0)
"""
    # a classifier student beside a QA teacher
    result = run(pytester, qa_models, source=checks, students=(tiny_models.student,))
    result.assert_outcomes(errors=1)
    assert "answers questions but the student" in result.stdout.str()
    # a QA teacher given a CSV
    pytester.makepyfile(test_gate=checks)
    result = pytester.runpytest_inprocess(
        f"--teacher={qa_models.teacher}",
        f"--student={qa_models.student}",
        f"--eval-data={tiny_models.dev}",
        "-p",
        "no:randomly",
    )
    assert "question-answering data must be SQuAD JSON" in result.stdout.str()
    # a classifier given QA data
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={tiny_models.student}",
        f"--eval-data={qa_models.dev}",
        "-p",
        "no:randomly",
    )
    assert "holds question-answering examples, but the teacher" in result.stdout.str()
    # SQuAD JSON without answers
    document = json.loads(qa_models.dev.read_text())
    for paragraph in document["data"][0]["paragraphs"]:
        for qa in paragraph["qas"]:
            del qa["answers"]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(document))
    result = pytester.runpytest_inprocess(
        f"--teacher={qa_models.teacher}",
        f"--student={qa_models.student}",
        f"--eval-data={bare}",
        "-p",
        "no:randomly",
    )
    assert "is not SQuAD JSON: a question or paragraph lacks 'answers'" in result.stdout.str()
    # a bad --task or --qa-error is a usage error
    for flag in ("--task=ner", "--qa-error=bleu", "--null-threshold=nan"):
        result = pytester.runpytest_inprocess(flag)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, flag
    # a stride as long as the window
    result = run(
        pytester, qa_models, "--doc-stride=64", source=checks, students=(qa_models.student,)
    )
    assert "must be below the max length" in result.stdout.str()


def test_task_qa_can_be_forced_and_the_window_defaults_to_384(pytester, qa_models, tmp_path):
    out = tmp_path / "report.json"
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={qa_models.teacher}",
        f"--student={qa_models.student}",
        f"--eval-data={qa_models.dev}",
        "--task=qa",
        f"--compressguard-json={out}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(passed=1)
    assert json.loads(out.read_text())["comparisons"][0]["task"] == "qa"
    from pytest_compressguard.options import Settings

    assert Settings().length("qa") == 384 and Settings().length("classification") == 128
    assert Settings(max_length=50).length("qa") == 50


def test_the_answer_cache_keys_on_the_window_and_the_answer_settings(qa_models, tmp_path):
    """A cached entry is reused only for the same model, questions, window and settings."""
    from pytest_compressguard.data.questions import load_questions
    from pytest_compressguard.engine.outputs import OutputStore
    from pytest_compressguard.models.qa_models import load_qa_model

    questions = load_questions(str(qa_models.dev))
    calls = []

    def answered(stride, settings):
        model = load_qa_model(str(qa_models.teacher), max_length=MAX_LENGTH, doc_stride=stride)
        original = model.answer
        model.answer = lambda *a, **k: calls.append(stride) or original(*a, **k)
        store = OutputStore(tmp_path, [128])  # a new session: only the disk is shared
        return store.answers(model, questions, settings)

    base = {"n_best": 20, "max_answer_length": 30, "null_threshold": 0.0}
    first = answered(STRIDE, base)
    again = answered(STRIDE, base)
    assert calls == [STRIDE]  # read back from the disk
    assert [a.text for a in again.answers] == [a.text for a in first.answers]
    assert [a.candidates for a in again.answers] == [a.candidates for a in first.answers]
    np.testing.assert_array_equal(again.embeddings, first.embeddings)
    answered(STRIDE + 4, base)
    answered(STRIDE, {**base, "null_threshold": 1.0})
    assert calls == [STRIDE, STRIDE + 4, STRIDE]
