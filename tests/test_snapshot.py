"""Teacher snapshots: the round trip gives the live teacher's metrics, bad snapshots and
sessions get one sentence, and a session of snapshots never imports torch."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from pytest_compressguard.core.errors import ModelLoadError, ModelSpecError
from pytest_compressguard.models.snapshot import Snapshot, open_snapshot
from pytest_compressguard.models.spec import parse_spec

GATE = """
def test_predictions(guard):
    guard.assert_error_overlap(min=0.0)
    guard.assert_label_loyalty(min=0.0)
    guard.assert_negative_flip_rate(max=1.0)
    guard.assert_backward_trust_compatibility(min=0.0)

def test_representations(guard):
    guard.assert_knn_agreement(min=0.0)
    guard.assert_cka(min=0.0)
    guard.assert_ood_agreement(min=0.0)

def test_size(guard):
    guard.assert_size_ratio(max=100.0)
"""

ATTACK = """
def test_attack(guard):
    guard.assert_attack_drop(max=1.0)
    guard.assert_transfer_rate(max=1.0)
"""


def gate(pytester, teacher, student, data, *extra, source=GATE):
    pytester.makepyfile(test_gate=source)
    return pytester.runpytest_inprocess(
        f"--teacher={teacher}",
        f"--student={student}",
        f"--eval-data={data}",
        "-p",
        "no:randomly",
        *extra,
    )


def metrics(path):
    """Every comparison's metrics, by (student, eval set)."""
    document = json.loads(path.read_text())
    return {(c["student"], c.get("eval_set")): c["metrics"] for c in document["comparisons"]}


def close(live, stored, tolerance):
    """The metrics of the two runs (by pair, or of one pair) agree within ``tolerance``;
    return the largest gap."""
    assert live.keys() == stored.keys()
    if not isinstance(next(iter(live)), tuple):
        live, stored = {(): live}, {(): stored}
    largest = 0.0
    for pair, values in live.items():
        assert values.keys() == stored[pair].keys(), pair
        for name, value in values.items():
            other = stored[pair][name]
            if isinstance(value, dict):
                assert value.keys() == other.keys()
                gaps = [abs(value[k] - other[k]) for k in value]
            else:
                gaps = [abs(value - other)]
            assert max(gaps) <= tolerance, (pair, name, value, other)
            largest = max(largest, *gaps)
    return largest


def live_run(pytester, tiny_models, tmp_path, *extra, source=GATE):
    snap, out = tmp_path / "teacher.cgsnap", tmp_path / "live.json"
    result = gate(
        pytester,
        tiny_models.teacher,
        tiny_models.student,
        tiny_models.dev,
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-cache-dir={tiny_models.cache}",
        f"--compressguard-snapshot-update={snap}",
        f"--compressguard-json={out}",
        *extra,
        source=source,
    )
    return result, snap, out


def test_a_snapshot_gives_the_live_teachers_metrics(pytester, tiny_models, tmp_path):
    result, snap, live = live_run(pytester, tiny_models, tmp_path)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([f"compressguard: teacher snapshot written to {snap} (*"])
    stored = tmp_path / "stored.json"
    again = gate(
        pytester,
        f"snapshot:{snap}",
        tiny_models.student,
        tiny_models.dev,
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-cache-dir={tmp_path / 'empty'}",
        f"--compressguard-json={stored}",
    )
    again.assert_outcomes(passed=3)
    a, b = metrics(live), metrics(stored)
    # float32 probabilities: a relative error of 2**-24 per value; embeddings exact
    assert close(a, b, 1e-6) < 1e-6
    for name in ("error_overlap", "knn_agreement", "cka", "ood_agreement", "size_ratio"):
        assert name in a[(str(tiny_models.student), None)]
    manifest = open_snapshot(snap).manifest
    assert manifest["model"]["spec"] == str(tiny_models.teacher)
    assert [d["role"] for d in manifest["datasets"]] == ["eval", "train", "ood"]
    assert manifest["settings"] == {
        "task": "classification",
        "max_length": 128,
        "pooling": "cls",
        "embedding_output": "last_hidden_state",
        "tokenizer": None,
    }


def test_float16_embeddings_stay_within_their_error(pytester, tiny_models, tmp_path):
    result, snap, live = live_run(pytester, tiny_models, tmp_path, "--snapshot-embeddings=float16")
    result.assert_outcomes(passed=3)
    stored = tmp_path / "stored.json"
    gate(
        pytester,
        f"snapshot:{snap}",
        tiny_models.student,
        tiny_models.dev,
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-json={stored}",
    ).assert_outcomes(passed=3)
    close(metrics(live), metrics(stored), 1e-2)
    manifest = open_snapshot(snap).manifest
    member = next(d["member"] for d in manifest["datasets"] if d["role"] == "eval")
    with zipfile.ZipFile(snap) as archive:
        with np.load(archive.open(member)) as arrays:
            assert arrays["embeddings"].dtype == np.float16
            assert arrays["probabilities"].dtype == np.float32


def test_no_embeddings_leaves_representation_metrics_unavailable(pytester, tiny_models, tmp_path):
    result, snap, _ = live_run(pytester, tiny_models, tmp_path, "--snapshot-embeddings=none")
    result.assert_outcomes(passed=3)
    again = gate(pytester, f"snapshot:{snap}", tiny_models.student, tiny_models.dev)
    again.assert_outcomes(passed=2, failed=1)
    again.stdout.fnmatch_lines(["*was written without embeddings (--snapshot-embeddings none)*"])


def test_the_teachers_attack_comes_from_the_snapshot(pytester, tiny_models, tmp_path):
    attack = [
        "--attack-recipe=bert-attack",
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        "--attack-examples=20",
    ]
    result, snap, live = live_run(pytester, tiny_models, tmp_path, *attack, source=ATTACK)
    result.assert_outcomes(passed=1)
    stored = tmp_path / "stored.json"
    again = gate(
        pytester,
        f"snapshot:{snap}",
        tiny_models.student,
        tiny_models.dev,
        *attack,
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-cache-dir={tmp_path / 'empty'}",
        f"--compressguard-json={stored}",
        source=ATTACK,
    )
    again.assert_outcomes(passed=1)
    again.stdout.fnmatch_lines(["*attack on teacher snapshot:*read from the snapshot*"])
    (held,) = open_snapshot(snap).manifest["attacks"]
    assert held["recipe"] == "bert-attack" and held["settings"]["examples"] == 20
    assert set(held["settings"]["parts"]) == {"lexicon", "mlm", "encoder"}
    assert close(metrics(live), metrics(stored), 0.0) == 0.0  # the student's run is recomputed
    other = gate(
        pytester,
        f"snapshot:{snap}",
        tiny_models.student,
        tiny_models.dev,
        *attack,
        "--attack-candidates=7",
        source=ATTACK,
    )
    other.assert_outcomes(failed=1)
    other.stdout.fnmatch_lines(
        [
            f"*snapshot {snap} holds no attack on {tiny_models.teacher} with these settings "
            "(recipe bert-attack, candidates 7, 20 examples of*); it holds: bert-attack "
            "(candidates 48, 20 examples of*An attack with new settings needs the live model*"
        ]
    )


def test_what_the_snapshot_cannot_answer_fails_with_one_sentence(pytester, tiny_models, tmp_path):
    result, snap, _ = live_run(pytester, tiny_models, tmp_path)
    result.assert_outcomes(passed=3)
    stored = f"snapshot:{snap}"
    # the teacher's latency needs the live teacher
    source = "def test_speed(guard):\n    guard.assert_speedup(min=0.0)\n"
    again = gate(pytester, stored, tiny_models.student, tiny_models.dev, source=source)
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*latency needs the live model*size and parameter count*"])
    assert "Traceback" not in again.stdout.str()
    # data the snapshot holds no outputs for
    other = tmp_path / "other.csv"
    rows = tiny_models.dev.read_text().splitlines()
    other.write_text("\n".join(rows[:-1]) + "\n")  # one example fewer
    again = gate(pytester, stored, tiny_models.student, other)
    again.assert_outcomes(failed=2, passed=1)  # the size comes from the snapshot
    again.stdout.fnmatch_lines(
        [
            f"*snapshot {snap} holds no outputs for {other} (119 examples, texts fingerprint "
            f"*): it holds {tiny_models.dev} (120 examples), {tiny_models.train} (300 "
            f"examples), {tiny_models.ood} (40 examples)*"
        ]
    )
    # other output settings
    again = gate(
        pytester, stored, tiny_models.student, tiny_models.dev, "--max-length=64", "--pooling=mean"
    )
    assert again.ret == pytest.ExitCode.USAGE_ERROR  # said once, before any test runs
    said = f"*snapshot {snap} was written with other output settings*"
    again.stderr.fnmatch_lines(
        [
            f"ERROR: compressguard: snapshot {snap} was written with other output settings: "
            "--max-length 128 in the snapshot, 64 in this session; --pooling 'cls' in the "
            "snapshot, 'mean' in this session*"
        ]
    )
    assert len(fnmatch.filter((again.stdout.str() + again.stderr.str()).splitlines(), said)) == 1


def test_a_damaged_snapshot_is_refused(pytester, tiny_models, tmp_path):
    result, snap, _ = live_run(pytester, tiny_models, tmp_path)
    result.assert_outcomes(passed=3)
    with zipfile.ZipFile(snap) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    name = next(n for n in members if n.startswith("outputs/"))
    data = bytearray(members[name])
    data[-30] ^= 1
    for damaged, sentence in (
        ({**members, name: bytes(data)}, f"member {name} does not match its SHA-256"),
        (
            {**members, "manifest.json": members["manifest.json"].replace(b'"n": 120', b'"n": 12')},
            "its manifest does not match its SHA-256",
        ),
        ({k: v for k, v in members.items() if k != name}, f"member {name} is missing"),
    ):
        copy = tmp_path / "damaged.cgsnap"
        with zipfile.ZipFile(copy, "w") as archive:
            for member, content in damaged.items():
                archive.writestr(member, content)
        with pytest.raises(
            ModelLoadError, match=re.escape(f"snapshot {copy} is damaged: {sentence}")
        ):
            Snapshot(copy)
    copy.write_bytes(b"not a zip")
    with pytest.raises(ModelLoadError, match="cannot be read as a compressguard snapshot"):
        Snapshot(copy)
    again = gate(pytester, f"snapshot:{copy}", tiny_models.student, tiny_models.dev)
    again.assert_outcomes(errors=3)
    assert "Traceback" not in again.stdout.str()


def test_snapshot_specs(tmp_path):
    snap = tmp_path / "t.cgsnap"
    snap.write_bytes(b"")
    spec = parse_spec(f"snapshot:{snap}")
    assert (spec.kind, spec.source, spec.name) == ("snapshot", str(snap), "snapshot:t.cgsnap")
    with pytest.raises(ModelSpecError, match=r"no snapshot file 'missing\.cgsnap'"):
        parse_spec("snapshot:missing.cgsnap")
    with pytest.raises(ModelSpecError, match="compresses a snapshot, which holds outputs"):
        parse_spec(f"onnx-int8:snapshot:{snap}")


def test_snapshot_update_needs_a_teacher(pytester, tmp_path):
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest_inprocess(f"--compressguard-snapshot-update={tmp_path / 'x'}")
    result.stderr.fnmatch_lines(["*--compressguard-snapshot-update needs --teacher*"])
    result = pytester.runpytest_inprocess("--snapshot-embeddings=float8")
    result.stderr.fnmatch_lines(["*expected float32, float16 or none, got 'float8'*"])


NO_TORCH = """
import sys

import pytest

rc = pytest.main(sys.argv[1:])
heavy = sorted(
    m for m in ("torch", "transformers", "onnxruntime", "safetensors", "onnx") if m in sys.modules
)
print("HEAVY", heavy)
sys.exit(rc)
"""


def run_heavy_counted(pytester, tmp_path, *args, cwd=None):
    """Run the gate in a fresh interpreter (in ``cwd``, else ``tmp_path``); its stdout ends with
    the heavy modules it imported."""
    script = tmp_path / "run.py"
    script.write_text(NO_TORCH)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(
        [
            sys.executable,
            str(script),
            str(pytester.path / "test_gate.py"),
            *args,
            *("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:xdist"),
        ],
        capture_output=True,
        text=True,
        cwd=cwd or tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_a_session_of_snapshots_imports_no_torch(pytester, tiny_models, tmp_path):
    result, teacher, _ = live_run(pytester, tiny_models, tmp_path)
    result.assert_outcomes(passed=3)
    student = tmp_path / "student.cgsnap"
    gate(  # the student's snapshot: a session where it is the teacher
        pytester,
        tiny_models.student,
        tiny_models.teacher,
        tiny_models.dev,
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-cache-dir={tiny_models.cache}",
        f"--compressguard-snapshot-update={student}",
    ).assert_outcomes(passed=3)
    live = tmp_path / "live.json"
    gate(
        pytester,
        tiny_models.teacher,
        tiny_models.student,
        tiny_models.dev,
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-cache-dir={tiny_models.cache}",
        f"--compressguard-json={live}",
    ).assert_outcomes(passed=3)
    stored = tmp_path / "stored.json"
    done = run_heavy_counted(
        pytester,
        tmp_path,
        f"--teacher=snapshot:{teacher}",
        f"--student=snapshot:{student}",
        f"--eval-data={tiny_models.dev}",
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-json={stored}",
    )
    assert "HEAVY []" in done.stdout, done.stdout
    # the student's snapshot names the live student: the records match the live run's
    a = metrics(live)
    b = {(str(tiny_models.student), k[1]): v for k, v in metrics(stored).items()}
    close(a, b, 1e-6)


def test_a_snapshot_without_a_size_says_why(tmp_path):
    from pytest_compressguard.core.errors import CompressGuardError
    from pytest_compressguard.models.snapshot import SnapshotModel
    from pytest_compressguard.session.snapshot import write

    path = write(
        tmp_path / "t.cgsnap",
        model={
            "spec": "hub-model",
            "task": "classification",
            "fingerprint": "f",
            "labels": None,
            "num_labels": 2,
            "missing": {},
            "footprint_error": "its size is measured only for transformers and ONNX models",
        },
        settings={},
        entries=[],
    )
    model = SnapshotModel(parse_spec(f"snapshot:{path}"))
    with pytest.raises(CompressGuardError) as found:
        model.recorded_footprint()
    assert str(found.value) == (
        f"snapshot {path} holds no size: its size is measured only for transformers and ONNX models"
    )


def one_model_snapshot(path: Path, fingerprint: str) -> Path:
    """A snapshot of a model with no outputs, told apart by its fingerprint."""
    from pytest_compressguard.session.snapshot import write

    model = {"spec": "m", "task": "classification", "fingerprint": fingerprint, "labels": None}
    return write(path, model={**model, "num_labels": 2}, settings={}, entries=[])


def test_a_snapshot_rewritten_during_the_session_is_read_again(tmp_path):
    """``open_snapshot`` opens a file once while it is unchanged, and knows it changed by its
    modification time and its size: rewritten with the same size (another fingerprint as
    long) but a new time, or with the old time but another size, it is read again."""
    path = tmp_path / "t.cgsnap"

    def rewritten(fingerprint: str, mtime_ns: int) -> str:
        one_model_snapshot(path, fingerprint)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        return open_snapshot(path).model["fingerprint"]

    start = 1_700_000_000 * 10**9
    assert rewritten("f0", start) == "f0"
    assert open_snapshot(path) is open_snapshot(path)  # unchanged: opened once
    size = path.stat().st_size
    same = next(  # a fingerprint whose archive is exactly as long
        f
        for f in (f"f{i}" for i in range(1, 40))
        if one_model_snapshot(tmp_path / f"{f}.cgsnap", f).stat().st_size == size
    )
    assert rewritten(same, start + 10**9) == same and path.stat().st_size == size
    assert rewritten("a longer fingerprint", start + 10**9) == "a longer fingerprint"


def test_an_onnx_student_against_a_snapshot_teacher_imports_no_torch(
    pytester, tiny_models, tmp_path
):
    """The gate of an ONNX student against a snapshot of its teacher loads onnxruntime and a
    tokenizer, and never torch: a CI job of that kind needs no PyTorch model at all."""
    result, teacher, _ = live_run(pytester, tiny_models, tmp_path)
    result.assert_outcomes(passed=3)
    stored = tmp_path / "stored.json"
    done = run_heavy_counted(
        pytester,
        tmp_path,
        f"--teacher=snapshot:{teacher}",
        f"--student={tiny_models.onnx}",
        f"--eval-data={tiny_models.dev}",
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        f"--compressguard-json={stored}",
    )
    (heavy,) = [line for line in done.stdout.splitlines() if line.startswith("HEAVY")]
    assert "'onnxruntime'" in heavy and "'torch'" not in heavy, heavy
    (found,) = metrics(stored).values()  # the ONNX export of the teacher: the same labels
    assert found["label_loyalty"] == 1.0 and found["cka"] > 0.999
