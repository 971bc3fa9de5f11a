"""Several eval sets per gate: the guard runs on every (student, eval set), the marker
restricts a test to some sets, each model runs over each set once, every report shows every
set, and xdist writes the same JSON."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from pytest_compressguard.report import html
from tests import browser
from tests.test_pairs import direct, onnx_direct, pairs_of
from tests.test_plugin import expected_metrics
from tests.test_plugin_xdist import COUNT_ENCODES

GATE = """
import pytest

def test_loyal_everywhere(guard):
    guard.assert_label_loyalty(min=0.0)

@pytest.mark.compressguard(data="challenge")
def test_only_on_the_challenge(guard):
    assert guard.eval_set == "challenge"
    guard.assert_accuracy_drop(max=1.0)

@pytest.mark.compressguard(data=["dev", "challenge"])
def test_both_by_name(guard):
    guard.assert_flips(max=1.0)
"""


def run(pytester, pair_models, *extra, source=GATE, students=None):
    pytester.makepyfile(test_gate=source)
    students = students or (pair_models.student, pair_models.onnx)
    return pytester.runpytest_inprocess(
        f"--teacher={pair_models.teacher}",
        *(f"--student={s}" for s in students),
        f"--eval-data=dev={pair_models.dev}",
        f"--eval-data={pair_models.challenge}",  # named after its stem: challenge
        "--text-column=premise",
        "--text-pair-column=hypothesis",
        "-p",
        "no:randomly",
        *extra,
    )


def test_every_student_on_every_set_and_the_marker_restricts(
    pytester, pair_models, tmp_path, monkeypatch
):
    out, calls = tmp_path / "report.json", tmp_path / "calls.txt"
    monkeypatch.setenv("COMPRESSGUARD_TEST_CALLS", str(calls))
    pytester.makeconftest(COUNT_ENCODES.replace("time.sleep(0.5)", "pass"))
    result = run(
        pytester,
        pair_models,
        f"--compressguard-json={out}",
        f"--compressguard-cache-dir={tmp_path / 'cache'}",
        "-v",
    )
    result.assert_outcomes(passed=10)  # 2 students x (2 sets + 1 set + 2 sets)
    passed = {
        line.split("::")[1].split()[0] for line in result.outlines if line.endswith("%]")
    }  # pytest orders session-scoped parameters its own way: compare as a set
    assert passed == {
        f"test_loyal_everywhere[{s}-{d}]" for s in ("student", "onnx") for d in ("dev", "challenge")
    } | {f"test_only_on_the_challenge[{s}-challenge]" for s in ("student", "onnx")} | {
        f"test_both_by_name[{s}-{d}]" for s in ("student", "onnx") for d in ("dev", "challenge")
    }
    # each model runs over each set once: 3 models x 2 sets
    assert sorted(calls.read_text().split()) == sorted(
        2 * [str(pair_models.teacher), str(pair_models.student), str(pair_models.onnx)]
    )
    document = json.loads(out.read_text())
    found = [(c["student"], c["eval_set"], c["dataset"]) for c in document["comparisons"]]
    assert found == [
        (str(pair_models.student), "dev", str(pair_models.dev)),
        (str(pair_models.student), "challenge", str(pair_models.challenge)),
        (str(pair_models.onnx), "dev", str(pair_models.dev)),
        (str(pair_models.onnx), "challenge", str(pair_models.challenge)),
    ]
    for rows, name in ((pair_models.dev_rows, "dev"), (pair_models.challenge_rows, "challenge")):
        pairs, y = pairs_of(rows), np.array([label for *_, label in rows])
        pt, _ = direct(pair_models.teacher, pairs)
        references = {
            str(pair_models.student): direct(pair_models.student, pairs)[0],
            str(pair_models.onnx): onnx_direct(pair_models.onnx, pairs),
        }
        for c in document["comparisons"]:
            if c["eval_set"] != name:
                continue
            assert c["n"] == len(rows)
            for metric, value in expected_metrics(pt, references[c["student"]], y).items():
                assert c["metrics"][metric] == pytest.approx(value, abs=1e-6), (name, metric)
            checks = {check["metric"] for check in c["checks"]}
            want = {"label_loyalty", "flips"} | (
                {"accuracy_drop"} if name == "challenge" else set()
            )
            assert checks == want
    text = "\n".join(result.outlines)
    assert f"data: dev = {pair_models.dev}" in text
    assert f"data: challenge = {pair_models.challenge}" in text


def test_reports_show_every_set(pytester, pair_models, tmp_path):
    out, page = tmp_path / "report.json", tmp_path / "report.html"
    run(
        pytester,
        pair_models,
        f"--compressguard-json={out}",
        f"--compressguard-html={page}",
        "--compressguard-pairwise",
        "--junitxml=junit.xml",
        "-p",
        "no:cacheprovider",
    ).assert_outcomes(passed=10)
    document = json.loads(out.read_text())
    assert [t["eval_set"] for t in document["pairwise"]] == ["dev", "challenge"]
    assert [t["n"] for t in document["pairwise"]] == [90, 60]
    text = page.read_text()
    assert html.render(document["comparisons"], document["pairwise"]) == text
    for name in ("dev", "challenge"):
        assert f"<code>{pair_models.student} [{name}]</code>" in text
        assert f"<h3>on {name}</h3>" in text
    assert text.count('<div class="card ') == 2  # one verdict per student, over both sets
    junit = (pytester.path / "junit.xml").read_text()
    assert f'name="compressguard[{pair_models.onnx}][challenge].label_loyalty"' in junit
    if browser.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium and playwright (scripts/test.sh installs them)")
        return
    shown_sections = tuple(k for k, _ in html.sections(document["comparisons"]))
    found = browser.inspect(page, shown_sections, tmp_path / "page.png")
    assert found["console_errors"] == []
    assert all(s["visible"] for s in found["sections"].values())
    shown = len(html._pairwise(document["pairwise"][0])[0]["figures"])
    assert len(found["plots"]["pairwise"]) == 2 * shown > 0  # each set's heatmaps, drawn
    assert all(w > 100 and h > 60 and marks > 0 for w, h, marks in found["plots"]["pairwise"])
    assert found["page_width"] <= browser.LAPTOP["width"]


def test_xdist_gives_the_same_json_with_several_sets(pytester, pair_models, tmp_path):
    pytest.importorskip("xdist")
    plain, spread = tmp_path / "plain.json", tmp_path / "xdist.json"
    for target, extra in ((plain, []), (spread, ["-n", "2"])):
        run(
            pytester,
            pair_models,
            f"--compressguard-json={target}",
            f"--compressguard-cache-dir={tmp_path / target.stem}",
            "--compressguard-pairwise",
            *extra,
        ).assert_outcomes(passed=10)
    a, b = json.loads(plain.read_text()), json.loads(spread.read_text())
    assert a["pairwise"] == b["pairwise"]
    assert a["comparisons"] == b["comparisons"]


def test_a_marker_naming_no_eval_set_is_a_usage_error(pytester, pair_models):
    source = GATE + '\n@pytest.mark.compressguard(data="advglue")\ndef test_x(guard):\n    pass\n'
    result = run(pytester, pair_models, source=source)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*test_gate.py::test_x* is marked for eval set 'advglue', but the eval sets are 'dev', "
            "'challenge'*"
        ]
    )


def test_two_sets_of_one_name_are_a_usage_error(pytester, pair_models):
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={pair_models.teacher}",
        f"--student={pair_models.student}",
        f"--eval-data={pair_models.dev}",
        f"--eval-data=dev={pair_models.challenge}",
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*two --eval-data sets are named dev; name them apart*"])


def test_one_eval_set_keeps_todays_ids_and_json(pytester, pair_models, tmp_path):
    out = tmp_path / "report.json"
    pytester.makepyfile(
        test_gate="import pytest\n\n@pytest.mark.compressguard(data='dev')\n"
        "def test_loyal(guard):\n    guard.assert_label_loyalty(min=0.0)\n"
    )
    result = pytester.runpytest_inprocess(
        f"--teacher={pair_models.teacher}",
        f"--student={pair_models.student}",
        f"--eval-data={pair_models.dev}",  # named dev after its stem: the marker accepts it
        "--text-column=premise",
        "--text-pair-column=hypothesis",
        f"--compressguard-json={out}",
        "--compressguard-pairwise",
        "-v",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_loyal?student? PASSED*"])
    document = json.loads(out.read_text())
    assert "eval_set" not in document["comparisons"][0]
    assert isinstance(document["pairwise"], dict)


def test_each_set_is_attacked_on_its_own_examples(pytester, pair_models, tiny_models, tmp_path):
    out = tmp_path / "report.json"
    run(
        pytester,
        pair_models,
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        "--attack-recipe=bert-attack",
        "--attack-examples=12",
        f"--compressguard-json={out}",
        "-p",
        "no:cacheprovider",
        source="def test_attack(guard):\n    guard.assert_attack_drop(max=1.0)\n",
        students=(pair_models.student,),
    ).assert_outcomes(passed=2)
    rows = {"dev": pair_models.dev_rows, "challenge": pair_models.challenge_rows}
    for c in json.loads(out.read_text())["comparisons"]:
        assert c["adversarial_examples"], c["eval_set"]
        for e in c["adversarial_examples"]:
            assert e["original"] == list(rows[c["eval_set"]][e["index"]][:2])


@pytest.mark.parametrize(
    ("value", "name", "spec"),
    [
        ("dev=data/sick_test.tsv", "dev", "data/sick_test.tsv"),
        ("data/sick_test.tsv", "sick_test", "data/sick_test.tsv"),
        # a path with "=" in it is a path: what comes before the "=" is no plain name
        ("runs/lr=3e-5/dev.csv", "dev", "runs/lr=3e-5/dev.csv"),
        ("best=runs/lr=3e-5/dev.csv", "best", "runs/lr=3e-5/dev.csv"),
        ("my set=dev.csv", "my set=dev", "my set=dev.csv"),
        ("hf:nyu-mll/glue:mnli:validation_matched", "mnli-validation_matched", None),
        ("hf:stanfordnlp/imdb:test", "imdb-test", None),
        (
            "mm=hf:nyu-mll/glue:mnli:validation_mismatched",
            "mm",
            "hf:nyu-mll/glue:mnli:validation_mismatched",
        ),
    ],
)
def test_eval_sets_are_named(value, name, spec):
    from pytest_compressguard.options import EvalSet

    assert EvalSet.parse(value) == EvalSet(name, spec or value)


def test_a_named_set_that_is_no_file_is_a_usage_error(pytester):
    result = pytester.runpytest_inprocess("--eval-data=dev=nowhere.tsv")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*argument --eval-data: no such file: 'nowhere.tsv'*"])
