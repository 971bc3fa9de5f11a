"""``compressguard merge``: the reports of a CI matrix (one student per job) give what one job
gating every student gives, and reports that measure different things are refused."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pytest_compressguard.cli import main
from tests.test_snapshot import close

GATE = """
def test_loyal(guard):
    guard.assert_label_loyalty(min=0.5)
    guard.assert_negative_flip_rate(max=0.5)
    guard.assert_knn_agreement(min=0.0)
"""


def job(pytester, teacher, students, data, report, *extra):
    pytester.makepyfile(test_gate=GATE)
    return pytester.runpytest_inprocess(
        f"--teacher={teacher}",
        *(f"--student={s}" for s in students),
        f"--eval-data={data}",
        f"--compressguard-json={report}",
        "-p",
        "no:randomly",
        *extra,
    )


@pytest.fixture
def matrix(pytester, tiny_models, tmp_path):
    """One job per student against the teacher's snapshot, and one job with both."""
    snap = tmp_path / "teacher.cgsnap"
    students = (str(tiny_models.student), str(tiny_models.onnx))
    cache = f"--compressguard-cache-dir={tiny_models.cache}"
    both = tmp_path / "both.json"
    job(
        pytester,
        tiny_models.teacher,
        students,
        tiny_models.dev,
        both,
        cache,
        f"--compressguard-snapshot-update={snap}",
    ).assert_outcomes(passed=2)
    reports = []
    for i, student in enumerate(students):
        reports.append(tmp_path / f"job{i}.json")
        job(
            pytester, f"snapshot:{snap}", [student], tiny_models.dev, reports[-1], cache
        ).assert_outcomes(passed=1)
    return snap, both, reports


def test_a_matrix_merges_into_what_one_job_gives(matrix, tmp_path, capsys):
    snap, both, reports = matrix
    merged, page = tmp_path / "all.json", tmp_path / "all.html"
    code = main(
        [
            "merge",
            *map(str, reports),
            f"--compressguard-json={merged}",
            f"--compressguard-html={page}",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "compressguard merge: 2 comparisons from 2 reports, 0 failed checks" in out
    assert f"teacher: snapshot:{snap}" in out
    one = json.loads(both.read_text())["comparisons"]
    two = json.loads(merged.read_text())["comparisons"]
    assert [c["student"] for c in two] == [c["student"] for c in one]
    for live, stored in zip(one, two, strict=True):
        assert live["fingerprints"] == stored["fingerprints"]  # the snapshot's teacher is its own
        close(live["metrics"], stored["metrics"], 1e-6)
        assert [c["metric"] for c in stored["checks"]] == [c["metric"] for c in live["checks"]]
    assert "<html" in page.read_text()


def test_python_m_merge_and_its_exit_codes(matrix):
    _, _, reports = matrix
    done = subprocess.run(
        [sys.executable, "-m", "pytest_compressguard", "merge", *map(str, reports)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "2 comparisons from 2 reports" in done.stdout
    # merging needs no model library: a summary job installs none
    page = reports[0].parent / "all.html"
    script = (
        "import sys; from pytest_compressguard.cli import main; "
        f"code = main(['merge', *{list(map(str, reports))!r}, '--compressguard-html={page}']); "
        "print('HEAVY', [m for m in ('torch', 'transformers', 'onnxruntime', 'faiss') "
        "if m in sys.modules]); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout
    # a failed check anywhere: exit 1
    failing = json.loads(reports[0].read_text())
    failing["comparisons"][0]["checks"][0]["passed"] = False
    reports[0].write_text(json.dumps(failing))
    assert main(["merge", *map(str, reports)]) == 1


def refused(capsys, *paths):
    assert main(["merge", *map(str, paths)]) == 2
    return capsys.readouterr().err


def test_reports_that_measure_different_things_are_refused(
    matrix, tiny_models, pytester, tmp_path, capsys
):
    snap, _, reports = matrix
    # another teacher: the student gated against the student
    other = tmp_path / "other.json"
    job(pytester, tiny_models.student, [tiny_models.onnx], tiny_models.dev, other).assert_outcomes(
        passed=1
    )
    err = refused(capsys, reports[0], other)
    assert (
        f"{reports[0]} and {other} gate against different teachers: snapshot:{snap} "
        f"(fingerprint " in err
    )
    assert f"and {tiny_models.student} (fingerprint" in err
    # the same eval set name with other content
    data = tmp_path / "dev.csv"
    rows = tiny_models.dev.read_text().splitlines()
    data.write_text("\n".join(rows) + "\n")
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    job(pytester, f"snapshot:{snap}", [tiny_models.student], tiny_models.dev, first)
    job(pytester, tiny_models.teacher, [tiny_models.onnx], data, second).assert_outcomes(passed=1)
    data.write_text("\n".join(rows[:-1]) + "\n")
    third = tmp_path / "third.json"
    job(pytester, tiny_models.teacher, [tiny_models.student], data, third).assert_outcomes(passed=1)
    err = refused(capsys, second, third)
    assert f"{second} and {third} hold different eval data named {data}: fingerprint" in err
    # not a report, an older report, a missing file
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert f"{bad} is not a JSON report" in refused(capsys, bad)
    older = json.loads(reports[0].read_text())
    del older["comparisons"][0]["fingerprints"]
    bad.write_text(json.dumps(older))
    assert "records no fingerprints" in refused(capsys, bad)
    bad.write_text(json.dumps({"version": 99, "comparisons": []}))
    assert "is a version 99 report" in refused(capsys, bad)
    assert f"no such report: {tmp_path / 'none.json'}" in refused(capsys, tmp_path / "none.json")


def test_a_comparison_is_merged_once(matrix, tmp_path, capsys):
    """A report given twice, or two reports holding the same comparison, would count its
    checks twice: one sentence, exit 2."""
    _, _, reports = matrix
    err = refused(capsys, reports[0], reports[1], reports[0])
    assert err.strip() == f"compressguard merge: {reports[0]} is given twice; give each report once"
    copy = tmp_path / "copy.json"
    copy.write_text(reports[0].read_text())
    rec = json.loads(copy.read_text())["comparisons"][0]
    err = refused(capsys, reports[0], copy)
    assert err.strip() == (
        f"compressguard merge: {reports[0]} and {copy} both hold the comparison of "
        f"{rec['student']} with {rec['teacher']} on {rec['dataset']}; merge each comparison "
        "once (one job per student)"
    )


def test_each_baseline_is_checked_on_its_own(tmp_path):
    """A report's teacher and its --baseline differ by design; two reports must agree on each
    of them separately."""
    from pytest_compressguard.core.errors import CompressGuardError
    from pytest_compressguard.merge import check_same

    def rec(teacher, fingerprint, baseline=False):
        out = {
            "teacher": teacher,
            "student": "s",
            "dataset": "dev.csv",
            "fingerprints": {"teacher": fingerprint, "student": "f-s", "eval_data": "f-d"},
        }
        return {**out, "reference": "baseline"} if baseline else out

    a, b = tmp_path / "a.json", tmp_path / "b.json"
    job = [rec("t", "f-t"), rec("v1", "f-v1", baseline=True)]
    check_same([(a, job), (b, job)])  # teacher and baseline differ within a report: fine
    other = [rec("t", "f-t"), rec("v1", "f-v1-rebuilt", baseline=True)]
    with pytest.raises(CompressGuardError, match="gate against different teachers: v1"):
        check_same([(a, job), (b, other)])
