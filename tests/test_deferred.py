"""An unchanged rerun reads every output from the cache and loads no model: each model is
known from its cached description until it must run."""

from __future__ import annotations

import json
import os
import shutil

from tests.test_snapshot import close, metrics, run_heavy_counted

GATE = """
def test_predictions(guard):
    guard.assert_label_loyalty(min=0.0)
    guard.assert_knn_agreement(min=0.0)
    guard.assert_ood_agreement(min=0.0)

def test_size(guard):
    guard.assert_size_ratio(max=100.0)
"""


def args(tiny_models, teacher, cache, report):
    return [
        f"--teacher={teacher}",
        f"--student={tiny_models.onnx}",
        f"--student=int8:{teacher}",
        f"--eval-data={tiny_models.dev}",
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-cache-dir={cache}",
        f"--compressguard-json={report}",
        "-p",
        "no:randomly",
    ]


def test_an_unchanged_rerun_loads_no_model(pytester, tiny_models, tmp_path):
    pytester.makepyfile(test_gate=GATE)
    cache, first, second = tmp_path / "cache", tmp_path / "first.json", tmp_path / "second.json"
    pytester.runpytest_inprocess(
        *args(tiny_models, tiny_models.teacher, cache, first)
    ).assert_outcomes(passed=4)
    done = run_heavy_counted(
        pytester,
        tmp_path,
        *args(tiny_models, tiny_models.teacher, cache, second),
        f"--compressguard-snapshot-update={tmp_path / 'teacher.cgsnap'}",  # no load either
        cwd=pytester.path,  # the same rootdir: the same test ids
    )
    heavy = done.stdout.split("HEAVY ")[1].splitlines()[0]
    assert heavy == "['onnx']", done.stdout  # the ONNX student's task is read from its graph
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a == b  # sizes, parameters, fingerprints and metrics, all as the loaded models gave


def test_a_changed_model_is_loaded_again(pytester, tiny_models, tmp_path):
    """The description is keyed by the content of the model's files: new weights in the same
    directory are loaded, and give what a run with no cache gives."""
    pytester.makepyfile(test_gate=GATE)
    teacher, cache = tmp_path / "teacher", tmp_path / "cache"
    shutil.copytree(tiny_models.teacher, teacher)
    old, new, fresh = (tmp_path / f"{n}.json" for n in ("old", "new", "fresh"))
    pytester.runpytest_inprocess(*args(tiny_models, teacher, cache, old)).assert_outcomes(passed=4)
    for name in ("config.json", "model.safetensors"):  # the student's weights, same labels
        shutil.copy(tiny_models.student / name, teacher / name)
    pytester.runpytest_inprocess(*args(tiny_models, teacher, cache, new)).assert_outcomes(passed=4)
    pytester.runpytest_inprocess(
        *args(tiny_models, teacher, tmp_path / "empty", fresh)
    ).assert_outcomes(passed=4)
    assert metrics(old) != metrics(new)
    close(metrics(new), metrics(fresh), 1e-9)


def test_a_deferred_model_loads_when_it_must_run(pytester, tiny_models, tmp_path):
    source = GATE + "\ndef test_speed(guard):\n    guard.assert_speedup(min=0.0)\n"
    pytester.makepyfile(test_gate=source)
    cache = tmp_path / "cache"
    for report in ("a.json", "b.json"):  # the second run's models are deferred, then timed
        pytester.runpytest_inprocess(
            *args(tiny_models, tiny_models.teacher, cache, tmp_path / report)
        ).assert_outcomes(passed=6)
    record = json.loads((tmp_path / "b.json").read_text())["comparisons"][0]
    assert record["efficiency"]["latency"]["teacher"]["1"]["runtime"] == "torch"
    assert record["efficiency"]["latency"]["student"]["1"]["runtime"] == "onnxruntime"


def test_file_hashes_are_read_again_when_a_file_changes(tmp_path):
    """hash_files reads a file once per process while it is unchanged, and again when its
    content changes, even at the same size and path."""
    import hashlib

    from pytest_compressguard.core.fingerprints import hash_files

    def expected(data):
        return hashlib.sha256(b"w.bin\0" + data).hexdigest()

    path = tmp_path / "w.bin"
    path.write_bytes(b"aaaa")
    assert hash_files([path]) == expected(b"aaaa")
    before = path.stat().st_mtime_ns
    path.write_bytes(b"bbbb")  # same size, same inode
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert hash_files([path]) == expected(b"bbbb")
