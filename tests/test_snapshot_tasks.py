"""Teacher snapshots of sentence pairs (several eval sets, xdist) and of question answering."""

from __future__ import annotations

import pytest

from pytest_compressguard.models.snapshot import open_snapshot
from tests.test_snapshot import GATE, close, gate, metrics


def test_pairs_on_several_eval_sets_under_xdist(pytester, pair_models, tmp_path):
    """Sentence pairs, two eval sets and OOD data: a snapshot written by xdist workers'
    controller gives the live metrics, read by workers too."""
    pytest.importorskip("xdist")
    from tests.test_eval_sets import run

    snap, live, stored = tmp_path / "t.cgsnap", tmp_path / "live.json", tmp_path / "stored.json"
    ood = (f"--train-data={pair_models.train}", f"--ood-data={pair_models.ood}")
    run(
        pytester,
        pair_models,
        *ood,
        f"--compressguard-cache-dir={tmp_path / 'cache'}",
        f"--compressguard-snapshot-update={snap}",
        f"--compressguard-json={live}",
        "-n",
        "2",
        source=GATE,
        students=(pair_models.student,),
    ).assert_outcomes(passed=6)
    assert [d["name"] for d in open_snapshot(snap).manifest["datasets"]] == [
        "dev",
        "challenge",
        "train",
        "ood",
    ]
    pytester.makepyfile(test_gate=GATE)
    pytester.runpytest_inprocess(
        f"--teacher=snapshot:{snap}",
        f"--student={pair_models.student}",
        f"--eval-data=dev={pair_models.dev}",
        f"--eval-data={pair_models.challenge}",
        "--text-column=premise",
        "--text-pair-column=hypothesis",
        *ood,
        f"--compressguard-json={stored}",
        "-p",
        "no:randomly",
        "-n",
        "2",
    ).assert_outcomes(passed=6)
    assert len(metrics(live)) == 2
    close(metrics(live), metrics(stored), 1e-6)


QA_GATE = """
def test_answers(guard):
    guard.assert_error_overlap(min=0.0)
    guard.assert_answer_agreement_f1(min=0.0)
    guard.assert_negative_flip_rate(max=1.0)
    guard.assert_backward_error_compatibility(min=0.0)
    guard.assert_knn_agreement(min=0.0, k=5)
    guard.assert_cka(min=0.0)
    guard.assert_ood_agreement(min=0.0, k=5)
"""


def test_question_answering_round_trip(pytester, qa_models, tmp_path):
    from tests.test_qa_plugin import run

    snap, live, stored = tmp_path / "t.cgsnap", tmp_path / "live.json", tmp_path / "stored.json"
    common = (f"--train-data={qa_models.train}", f"--ood-data={qa_models.ood}")
    run(
        pytester,
        qa_models,
        *common,
        f"--compressguard-cache-dir={qa_models.cache}",
        f"--compressguard-snapshot-update={snap}",
        f"--compressguard-json={live}",
        source=QA_GATE,
        students=(qa_models.student,),
    ).assert_outcomes(passed=1)
    settings = open_snapshot(snap).settings
    assert settings["task"] == "qa" and {"doc_stride", "n_best", "null_threshold"} <= set(settings)
    pytester.makepyfile(test_gate=QA_GATE)
    from tests.test_qa_plugin import WINDOW

    pytester.runpytest_inprocess(
        f"--teacher=snapshot:{snap}",
        f"--student={qa_models.student}",
        f"--eval-data={qa_models.dev}",
        *WINDOW,
        *common,
        f"--compressguard-json={stored}",
        "-p",
        "no:randomly",
    ).assert_outcomes(passed=1)
    close(metrics(live), metrics(stored), 1e-9)  # answers and scores are kept exactly
    again = gate(
        pytester,
        f"snapshot:{snap}",
        qa_models.student,
        qa_models.dev,
        *WINDOW,
        "--null-threshold=2.5",
        source=QA_GATE,
    )
    assert again.ret == pytest.ExitCode.USAGE_ERROR  # known before any test runs
    again.stderr.fnmatch_lines(["*--null-threshold 0.0 in the snapshot, 2.5 in this session*"])
