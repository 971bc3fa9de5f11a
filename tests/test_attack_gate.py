"""The attack through the plugin: every JSON key, the cache, failures that show examples,
bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from pytest_compressguard.attacks.search import (
    words,
)

ATTACK_GATE = """
def test_attack(guard):
    guard.assert_attack_drop(max=1.0)
    guard.assert_attack_drop_gap(max=1.0)
    guard.assert_transfer_rate(max=1.0)
"""


def run_attack_gate(
    pytester, tiny_models, *extra, source=ATTACK_GATE, cache=None, recipe="bert-attack"
):
    pytester.makepyfile(test_gate=source)
    return pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={tiny_models.student}",
        f"--eval-data={tiny_models.dev}",
        f"--attack-recipe={recipe}",
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        f"--compressguard-cache-dir={cache or tiny_models.cache}",
        "--attack-examples=40",
        "-p",
        "no:randomly",
        *extra,
    )


def predictions(model_dir, texts):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return model(**tok(texts, padding=True, return_tensors="pt")).logits.argmax(1).numpy()


def test_gate_reports_every_key_and_each_success_flips_on_rerun(pytester, tiny_models, tmp_path):
    out = tmp_path / "report.json"
    result = run_attack_gate(
        pytester, tiny_models, f"--compressguard-json={out}", cache=tmp_path / "cache"
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    metrics = record["metrics"]
    for key in (
        "teacher_attack_accuracy_before",
        "teacher_attack_accuracy_after",
        "teacher_attack_drop",
        "student_attack_accuracy_before",
        "student_attack_accuracy_after",
        "student_attack_drop",
        "attack_drop_gap",
        "transfer_rate",
        "attack_success_rate",
    ):
        assert key in metrics
    examples = record["adversarial_examples"]
    assert {e["model"] for e in examples} == {"teacher", "student"}
    assert set(examples[0]) >= {
        "model",
        "original",
        "adversarial",
        "label",
        "before",
        "after",
        "words_changed",
        "success",
    }
    rows = dict(tiny_models.dev_rows)
    for model in ("teacher", "student"):
        mine = [e for e in examples if e["model"] == model]
        successes = [e for e in mine if e["success"]]
        assert successes
        folder = getattr(tiny_models, model)
        again = predictions(folder, [e["adversarial"] for e in successes])
        assert list(again) == [e["after"] for e in successes]
        assert all(e["after"] != e["label"] == e["before"] for e in successes)
        assert all(rows[e["original"]] == e["label"] for e in mine)
        assert all(e["words_changed"] <= 0.4 * len(words(e["original"])) for e in mine)
        before = metrics[f"{model}_attack_accuracy_before"]
        after = metrics[f"{model}_attack_accuracy_after"]
        assert metrics[f"{model}_attack_drop"] == pytest.approx((before - after) / before)
        # the report lists every attacked example (40 examples, cap 50): recount from it
        assert len(mine) == round(before * 40)
        assert metrics[f"{model}_attack_success_rate"] == pytest.approx(len(successes) / len(mine))
        assert metrics[f"{model}_attack_perturbed_words"] == pytest.approx(
            np.mean([e["words_changed"] / len(words(e["original"])) for e in successes])
        )
    assert metrics["attack_drop_gap"] == pytest.approx(
        metrics["student_attack_drop"] - metrics["teacher_attack_drop"]
    )
    # transfer: re-run the student on the teacher's adversarial texts
    teacher_hits = [e for e in examples if e["model"] == "teacher" and e["success"]]
    student_on_original = predictions(tiny_models.student, [e["original"] for e in teacher_hits])
    student_on_adv = predictions(tiny_models.student, [e["adversarial"] for e in teacher_hits])
    usable = [i for i, e in enumerate(teacher_hits) if student_on_original[i] == e["label"]]
    expected = np.mean([student_on_adv[i] != teacher_hits[i]["label"] for i in usable])
    assert metrics["transfer_rate"] == pytest.approx(expected)


def test_report_cap_and_perturbation_share_reach_the_attack(pytester, tiny_models, tmp_path):
    out = tmp_path / "capped.json"
    result = run_attack_gate(
        pytester,
        tiny_models,
        f"--compressguard-json={out}",
        "--attack-report-max=3",
        "--attack-max-perturb=0.2",
        cache=tmp_path / "cache",
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    assert record["attack"]["max_perturb"] == 0.2
    for model in ("teacher", "student"):
        mine = [e for e in record["adversarial_examples"] if e["model"] == model]
        assert len(mine) == 3
        assert all(e["success"] for e in mine)  # successes come first
        assert all(e["words_changed"] <= math.floor(0.2 * len(words(e["original"]))) for e in mine)


def test_a_rerun_reads_the_cache_and_gives_identical_results(pytester, tiny_models, tmp_path):
    cache = tmp_path / "cache"
    reports = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.json"
        result = run_attack_gate(pytester, tiny_models, f"--compressguard-json={out}", cache=cache)
        result.assert_outcomes(passed=1)
        reports.append((result.stdout.str(), json.loads(out.read_text())["comparisons"][0]))
    (first_out, first), (second_out, second) = reports
    assert "read from the cache" not in first_out
    assert first_out.count("compressguard: attack on ") == 2
    for role, model in (("teacher", tiny_models.teacher), ("student", tiny_models.student)):
        # the line names the eval set the attack runs on
        assert f"attack on {role} {model} (bert-attack) on {tiny_models.dev}: " in first_out
    assert second_out.count(": read from the cache (") == 2
    assert first["attack"]["cached"] == {"teacher": False, "student": False}
    assert second["attack"]["cached"] == {"teacher": True, "student": True}
    assert first["metrics"] == second["metrics"]
    assert first["adversarial_examples"] == second["adversarial_examples"]
    # another setting is another key: attacked again
    result = run_attack_gate(pytester, tiny_models, "--attack-candidates=8", cache=cache)
    assert "read from the cache" not in result.stdout.str()


def test_a_damaged_cache_entry_is_ignored_and_rebuilt(pytester, tiny_models, tmp_path):
    cache = tmp_path / "cache"
    out = tmp_path / "a.json"
    run_attack_gate(pytester, tiny_models, f"--compressguard-json={out}", cache=cache)
    entries = sorted((cache / "attacks").glob("*.json"))
    assert len(entries) == 2
    entry = json.loads(entries[0].read_text())
    entry["payload"]["examples"][0]["adversarial"] = "tampered"
    entries[0].write_text(json.dumps(entry))
    result = run_attack_gate(pytester, tiny_models, f"--compressguard-json={out}", cache=cache)
    result.assert_outcomes(passed=1)
    assert "ignoring the damaged attack cache entry" in result.stdout.str()
    assert result.stdout.str().count(": read from the cache (") == 1
    assert "tampered" not in out.read_text()


def test_no_attack_runs_unless_a_test_asks(pytester, tiny_models, tmp_path):
    source = "def test_loyal(guard):\n    guard.assert_label_loyalty(min=0.0)\n"
    out = tmp_path / "r.json"
    result = run_attack_gate(
        pytester,
        tiny_models,
        f"--compressguard-json={out}",
        source=source,
        cache=tmp_path / "cache",
    )
    result.assert_outcomes(passed=1)
    record = json.loads(out.read_text())["comparisons"][0]
    assert not any("attack" in k or k == "transfer_rate" for k in record["metrics"])
    assert "adversarial_examples" not in record
    assert not (tmp_path / "cache" / "attacks").exists()


def test_a_failed_attack_check_shows_adversarial_examples(pytester, tiny_models):
    source = """
def test_fragile(guard):
    guard.assert_attack_drop(max=0.01)

def test_gap(guard):
    from pytest_compressguard import assert_attack_drop_gap
    assert_attack_drop_gap(guard, max=-1.5)

def test_transfer(guard):
    from pytest_compressguard import assert_transfer_rate
    assert_transfer_rate(guard, max=-0.5)
"""
    result = run_attack_gate(pytester, tiny_models, source=source)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "*student_attack_drop under bert-attack = * is above the maximum 0.0100",
            f"*teacher: {tiny_models.teacher}",
            f"*student: {tiny_models.student}",
            "*n=40)",
            "*the attack broke * of the * examples the student gets right*",
            "*      -> '*",
            "*1 of * words changed (*->*); gold=*, student * -> *",
            "*attack_drop_gap under bert-attack = * is above the maximum -1.5000",
            "*of the student's broken examples resist the teacher's attack",
            "*transfer_rate under bert-attack = * is above the maximum -0.5000",
            "*of the teacher's adversarial texts also fool the student",
            "*words changed (*->*); gold=*, teacher * -> *",
            "*student on it: *",
        ]
    )


def test_bad_attack_mlm_fails_with_one_sentence(pytester, tiny_models):
    result = run_attack_gate(pytester, tiny_models, f"--attack-mlm={tiny_models.teacher}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*could not be measured: --attack-mlm *no trained masked-LM head*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_unlabelled_eval_data_cannot_be_attacked(pytester, tiny_models, tmp_path):
    data = tmp_path / "texts.csv"
    data.write_text("text\n" + "\n".join(t for t, _ in tiny_models.dev_rows) + "\n")
    pytester.makepyfile(test_gate=ATTACK_GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        f"--student={tiny_models.student}",
        f"--eval-data={data}",
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*student_attack_drop could not be measured*label*"])
