"""Release history: a candidate gated against the teacher's snapshot and the released
student's snapshot in one run, one test file for both."""

from __future__ import annotations

import json

import numpy as np

from tests.test_plugin import reference_onnx_probs, reference_probs

GATE = """
import pytest

def test_no_regressions_for_users(guard):
    guard.assert_negative_flip_rate(max=0.5)
    guard.assert_backward_trust_compatibility(min=0.5)
    guard.assert_backward_error_compatibility(min=0.0)

@pytest.mark.compressguard(reference="teacher")
def test_like_the_teacher(guard):
    assert guard.reference == "teacher"
    guard.assert_label_loyalty(min=0.5)
"""


def snapshots(pytester, tiny_models, tmp_path):
    """The teacher's snapshot and the released student's (written by a session in which the
    student is the teacher and its own student, as the README shows)."""
    pytester.makepyfile(test_gate="def test_x(guard):\n    guard.assert_flips(max=1.0)\n")
    written = []
    for model, other, name in (
        (tiny_models.teacher, tiny_models.student, "teacher.cgsnap"),
        (tiny_models.student, tiny_models.student, "v1.cgsnap"),
    ):
        written.append(tmp_path / name)
        pytester.runpytest_inprocess(
            f"--teacher={model}",
            f"--student={other}",
            f"--eval-data={tiny_models.dev}",
            f"--compressguard-cache-dir={tiny_models.cache}",
            f"--compressguard-snapshot-update={written[-1]}",
        ).assert_outcomes(passed=1)
    return written


def test_a_candidate_against_the_teacher_and_the_released_student(pytester, tiny_models, tmp_path):
    teacher, released = snapshots(pytester, tiny_models, tmp_path)
    out = tmp_path / "report.json"
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher=snapshot:{teacher}",
        f"--baseline=snapshot:{released}",
        f"--student={tiny_models.onnx}",  # the candidate release
        f"--eval-data={tiny_models.dev}",
        f"--compressguard-json={out}",
        f"--compressguard-html={tmp_path / 'report.html'}",
        "--compressguard-pairwise",
        "-p",
        "no:randomly",
        "-v",
    )
    result.assert_outcomes(passed=3)  # the marked test runs against the teacher only
    result.stdout.fnmatch_lines(
        [
            "*test_no_regressions_for_users?onnx-teacher? PASSED*",  # ? for [ and ]
            "*test_like_the_teacher?onnx-teacher? PASSED*",
            "*test_no_regressions_for_users?onnx-vs-snapshot:v1.cgsnap? PASSED*",
            f"baseline: snapshot:{released}   data: {tiny_models.dev} (n=120)",
        ]
    )
    report = json.loads(out.read_text())
    first, second = report["comparisons"]
    assert first["teacher"] == f"snapshot:{teacher}" and "reference" not in first
    assert second["teacher"] == f"snapshot:{released}" and second["reference"] == "baseline"
    # the backward-compatibility metrics against the released student, computed directly
    texts = [t for t, _ in tiny_models.dev_rows]
    gold = np.array([y for _, y in tiny_models.dev_rows])
    old = reference_probs(tiny_models.student, texts).argmax(1) == gold
    new = reference_onnx_probs(tiny_models.onnx, texts).argmax(1) == gold
    metrics = second["metrics"]
    assert metrics["negative_flip_rate"] == np.mean(old & ~new)
    assert metrics["backward_trust_compatibility"] == np.sum(old & new) / np.sum(old)
    assert metrics["backward_error_compatibility"] == np.sum(~old & ~new) / np.sum(~new)
    # the pairwise table holds the baseline beside the teacher and the student
    assert report["pairwise"]["models"] == [
        f"snapshot:{teacher}",
        f"snapshot:{released}",
        str(tiny_models.onnx),
    ]
    assert report["pairwise"]["roles"] == ["teacher", "baseline", "student"]
    page = (tmp_path / "report.html").read_text()
    assert f"[1] baseline <code>snapshot:{released}</code>" in page
    result.stdout.fnmatch_lines([f"  ?1? baseline snapshot:{released}  (accuracy *"])


def test_bad_baselines_are_usage_errors(pytester, tiny_models):
    pytester.makepyfile(test_gate=GATE.replace('reference="teacher"', 'reference="prod"'))
    base = (f"--student={tiny_models.student}", f"--eval-data={tiny_models.dev}")
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}", f"--baseline={tiny_models.onnx}", *base
    )
    result.stderr.fnmatch_lines(["*is marked for reference 'prod'; a reference is 'teacher' or*"])
    result = pytester.runpytest_inprocess(f"--baseline={tiny_models.onnx}")
    result.stderr.fnmatch_lines(["*--baseline, --eval-data, --train-data and --ood-data need*"])
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}", f"--baseline={tiny_models.teacher}", *base
    )
    result.stderr.fnmatch_lines(["*--baseline * is the teacher; a baseline is another model*"])
