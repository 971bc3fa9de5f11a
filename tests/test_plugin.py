"""The plugin end to end, with pytest run inside pytest on tiny models."""

from __future__ import annotations

import csv
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from scipy.stats import entropy
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

from pytest_compressguard.metrics.catalogue import METRICS, names
from tests import reference
from tests.test_stats import exact_mcnemar, loop_class_accuracy, loop_ece

GATE = """
def test_overlap(guard):
    guard.assert_error_overlap(min=0.0)

def test_loyal(guard):
    guard.assert_label_loyalty(min=0.0)
    guard.assert_probability_loyalty(min=0.0)
    guard.assert_accuracy_drop(max=1.0)

def test_teacher_alone(teacher):
    assert teacher.num_labels == 2

def test_unrelated():
    assert True
"""

#: A classifier pair's prediction metrics with an interval.
PREDICTION_METRICS = [
    n for n in names("prediction", interval=True) if "classification" in METRICS[n].tasks
]


def run_gate(pytester, tiny_models, *students, extra=(), source=GATE, data=None):
    pytester.makepyfile(test_gate=source)
    # --opt=value: pytest picks its rootdir before plugin options exist, so a space-separated
    # path value would count as a test path there (pytest's behaviour, documented in the README)
    args = [
        f"--teacher={tiny_models.teacher}",
        f"--eval-data={data or tiny_models.dev}",  # a second --eval-data adds an eval set
        f"--compressguard-cache-dir={tiny_models.cache}",
        "-p",
        "no:randomly",
    ]
    args += [f"--student={s}" for s in students]
    return pytester.runpytest_inprocess(*args, *extra)


def reference_probs(model_dir, texts):
    """Probabilities computed directly with transformers, not through the plugin."""
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        logits = model(**tok(texts, padding=True, return_tensors="pt")).logits
    return torch.softmax(logits.double(), dim=1).numpy()


def reference_footprint(model_dir):
    """(bytes of the weight files, parameter count), read without the plugin's code."""
    if (model_dir / "model.onnx").is_file():
        import onnx

        graph = onnx.load(str(model_dir / "model.onnx")).graph
        count = sum(int(np.prod(init.dims)) for init in graph.initializer)
        return (model_dir / "model.onnx").stat().st_size, count
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    count = sum(p.numel() for p in model.parameters())
    return sum(f.stat().st_size for f in model_dir.glob("*.safetensors")), count


def reference_onnx_probs(onnx_dir, texts):
    tok = AutoTokenizer.from_pretrained(onnx_dir)
    session = ort.InferenceSession(str(onnx_dir / "model.onnx"))
    enc = tok(texts, padding=True, return_tensors="np")
    feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    logits = session.run(["logits"], feed)[0].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def reference_embeddings(model_dir, texts, onnx_dir=None):
    """[CLS] vectors of the last hidden state, computed directly (transformers or onnxruntime)."""
    tok = AutoTokenizer.from_pretrained(onnx_dir or model_dir)
    if onnx_dir is not None:
        session = ort.InferenceSession(str(onnx_dir / "model.onnx"))
        enc = tok(texts, padding=True, return_tensors="np")
        feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
        return session.run(["last_hidden_state"], feed)[0][:, 0]
    model = AutoModel.from_pretrained(model_dir).eval()
    with torch.no_grad():
        return (
            model(**tok(texts, padding=True, return_tensors="pt")).last_hidden_state[:, 0].numpy()
        )


def expected_representation(teacher, student, tiny_models):
    """kNN, CKA and OOD metrics by brute force from directly computed embeddings."""
    texts = [t for t, _ in tiny_models.dev_rows]
    train = [row[0] for row in csv.reader(tiny_models.train.open())][1:]
    embed = {
        role: (teacher(data), student(data))
        for role, data in (("eval", texts), ("bank", train), ("ood", tiny_models.ood_texts))
    }
    t, s = embed["eval"]
    out = {
        "knn_agreement": reference.knn_jaccard(t, s, 10).mean(),
        "knn_agreement_variance": reference.knn_jaccard(t, s, 10).var(),
        "knn_sweep": {str(k): reference.knn_jaccard(t, s, k).mean() for k in (1, 5, 10, 20, 50)},
        "cka": reference.cka_hsic(t, s),
    }
    out.update(
        reference.ood_metrics(
            {role: pair[0] for role, pair in embed.items()},
            {role: pair[1] for role, pair in embed.items()},
            k=10,
        )
    )
    return out


def expected_metrics(pt, ps, y):
    wrong_t = set(np.flatnonzero(pt.argmax(1) != y))
    wrong_s = set(np.flatnonzero(ps.argmax(1) != y))
    acc_t, acc_s = 1 - len(wrong_t) / len(y), 1 - len(wrong_s) / len(y)
    union = wrong_t | wrong_s
    return {
        "teacher_accuracy": acc_t,
        "student_accuracy": acc_s,
        "accuracy_drop": acc_t - acc_s,
        "label_loyalty": float(np.mean(pt.argmax(1) == ps.argmax(1))),
        "probability_loyalty": float(
            np.mean([1 - reference.js_distance(a, b) for a, b in zip(pt, ps, strict=True)])
        ),
        "kl_divergence": float(np.mean([entropy(a, b) for a, b in zip(pt, ps, strict=True)])),
        "flips": len(wrong_t ^ wrong_s) / len(y),
        "negative_flip_rate": len(wrong_s - wrong_t) / len(y),  # teacher right, student wrong
        # of the teacher's right answers, the share kept; of the student's errors, the old share
        "backward_trust_compatibility": (len(y) - len(wrong_t | wrong_s)) / (len(y) - len(wrong_t)),
        "backward_error_compatibility": len(wrong_t & wrong_s) / len(wrong_s),
        "error_overlap": len(wrong_t & wrong_s) / len(union) if union else 1.0,
        "worst_class_drop": max(
            loop_class_accuracy(pt, y, c) - loop_class_accuracy(ps, y, c)
            for c in range(pt.shape[1])
            if loop_class_accuracy(pt, y, c) is not None
        ),
        "teacher_ece": loop_ece(pt, y),
        "student_ece": loop_ece(ps, y),
        "ece_increase": loop_ece(ps, y) - loop_ece(pt, y),
    }


def test_json_metrics_equal_an_independent_computation(pytester, tiny_models, tmp_path):
    out = tmp_path / "out.json"
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        str(tiny_models.onnx),
        extra=[
            f"--compressguard-json={out}",
            f"--train-data={tiny_models.train}",
            f"--ood-data={tiny_models.ood}",
        ],
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "student * knn@10 * knn_var * cka * ood_agree * t_ood_rate * s_ood_rate * t_auroc *",
            "kNN agreement by k, *student: k=1 0.* k=5 0.* k=10 0.* k=20 0.* k=50 0.*",
        ]
    )
    report = json.loads(out.read_text())
    assert report["version"] == 1
    texts = [t for t, _ in tiny_models.dev_rows]
    y = np.array([label for _, label in tiny_models.dev_rows])
    pt = reference_probs(tiny_models.teacher, texts)
    references = {
        str(tiny_models.student): reference_probs(tiny_models.student, texts),
        str(tiny_models.onnx): reference_onnx_probs(tiny_models.onnx, texts),
    }
    teacher = lambda x: reference_embeddings(tiny_models.teacher, x)  # noqa: E731
    representation = {
        str(tiny_models.student): expected_representation(
            teacher, lambda x: reference_embeddings(tiny_models.student, x), tiny_models
        ),
        str(tiny_models.onnx): expected_representation(
            teacher, lambda x: reference_embeddings(None, x, tiny_models.onnx), tiny_models
        ),
    }
    assert [c["student"] for c in report["comparisons"]] == list(references)
    footprints = {
        str(path): reference_footprint(path)
        for path in (tiny_models.teacher, tiny_models.student, tiny_models.onnx)
    }
    for comparison in report["comparisons"]:
        assert set(comparison) == {
            "teacher",
            "student",
            "dataset",
            "task",
            "n",
            "metrics",
            "checks",
            "ci",
            "per_class",
            "confusion_matrix",
            "mcnemar",
            "probability_sample",
            "fingerprints",
        }
        found = comparison["fingerprints"]
        assert set(found) == {"teacher", "student", "eval_data"}
        assert found["teacher"] == report["comparisons"][0]["fingerprints"]["teacher"]
        assert found["student"] != found["teacher"]
        assert comparison["teacher"] == str(tiny_models.teacher)
        assert comparison["dataset"] == str(tiny_models.dev)
        assert comparison["task"] == "classification"
        assert comparison["n"] == len(texts)
        expected = expected_metrics(pt, references[comparison["student"]], y)
        expected.update(representation[comparison["student"]])
        (t_size, t_params), (s_size, s_params) = (
            footprints[comparison["teacher"]],
            footprints[comparison["student"]],
        )
        expected.update(
            teacher_size_bytes=t_size,
            student_size_bytes=s_size,
            size_ratio=s_size / t_size,
            teacher_parameters=t_params,
            student_parameters=s_params,
            parameter_ratio=s_params / t_params,
        )
        assert set(comparison["metrics"]) == set(expected)
        for name, value in expected.items():
            assert comparison["metrics"][name] == pytest.approx(value, abs=1e-6), name
        ps = references[comparison["student"]]
        assert set(comparison["ci"]) == {*PREDICTION_METRICS, "knn_agreement"}
        for name, (lo, hi) in comparison["ci"].items():
            assert (
                lo <= comparison["metrics"][name] + 1e-12
                and comparison["metrics"][name] <= hi + 1e-12
            )
        assert comparison["per_class"] == {
            "labels": ["negative", "positive"],
            "support": [int((y == 0).sum()), int((y == 1).sum())],
            "teacher": [loop_class_accuracy(pt, y, 0), loop_class_accuracy(pt, y, 1)],
            "student": [loop_class_accuracy(ps, y, 0), loop_class_accuracy(ps, y, 1)],
        }
        assert comparison["confusion_matrix"] == [
            [int(((pt.argmax(1) == a) & (ps.argmax(1) == b)).sum()) for b in (0, 1)] for a in (0, 1)
        ]
        right_t, right_s = pt.argmax(1) == y, ps.argmax(1) == y
        n01, n10 = int((~right_t & right_s).sum()), int((right_t & ~right_s).sum())
        assert comparison["mcnemar"] == {
            "n01": n01,
            "n10": n10,
            "p_value": pytest.approx(exact_mcnemar(n01, n10), rel=1e-9),
        }
        sample = comparison["probability_sample"]  # 120 examples: every one of them
        assert sample["index"] == list(range(len(y)))
        assert sample["teacher"] == pytest.approx([pt[i, y[i]] for i in range(len(y))], abs=6e-5)
        assert sample["student"] == pytest.approx([ps[i, y[i]] for i in range(len(y))], abs=6e-5)
        assert sample["teacher_right"] == right_t.astype(int).tolist()
        assert sample["student_right"] == right_s.astype(int).tolist()
        checks = comparison["checks"]
        assert [c["metric"] for c in checks] == [
            "label_loyalty",
            "probability_loyalty",
            "accuracy_drop",
            "error_overlap",
        ]
        first = checks[0]
        assert set(first) == {"metric", "op", "threshold", "value", "passed", "test"}
        assert first["op"] == ">=" and first["passed"] is True
        assert first["test"] == f"test_gate.py::test_loyal[{comparison['student'].split('/')[-1]}]"
    # the student the teacher was exported from agrees with it almost exactly
    onnx = report["comparisons"][1]["metrics"]
    assert onnx["label_loyalty"] == 1.0 and onnx["kl_divergence"] < 1e-9
    assert onnx["knn_agreement"] == 1.0 and onnx["cka"] > 0.999999
    assert report["comparisons"][0]["metrics"]["knn_agreement"] < 0.9


def test_each_student_is_a_test_id_and_summary_row(pytester, tiny_models):
    result = run_gate(
        pytester, tiny_models, str(tiny_models.student), f"int8:{tiny_models.teacher}", extra=["-v"]
    )
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(
        [
            "*test_overlap[[]student[]] PASSED*",
            "*test_overlap[[]int8:teacher[]] PASSED*",
            "*test_unrelated PASSED*",
            "*= compressguard =*",
            f"teacher: {tiny_models.teacher}   data: {tiny_models.dev} (n=120)",
            "student*t_acc*s_acc*acc_drop*label_loy*prob_loy*kl*flips*err_overlap*checks",
            f"{tiny_models.student} *0.* 4 passed",
            f"int8:{tiny_models.teacher} *0.* 4 passed",
        ]
    )


def test_each_model_runs_over_the_data_once(pytester, tiny_models, encode_calls):
    calls = encode_calls
    source = GATE + "\n".join(
        f"def test_more_{i}(guard):\n"
        "    guard.assert_flips(max=1.0)\n"
        "    guard.assert_kl_divergence(max=1e9)\n"
        "    guard.assert_knn_agreement(min=0.0, k=3)\n"
        "    guard.assert_cka(min=0.0)\n"
        "    guard.assert_ood_agreement(min=0.0)\n"
        for i in range(3)
    )
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        str(tiny_models.onnx),
        source=source,
        extra=[
            f"--train-data={tiny_models.train}",
            f"--ood-data={tiny_models.ood}",
            f"--compressguard-cache-dir={pytester.path / 'fresh-cache'}",  # no outputs on disk
        ],
    )
    result.assert_outcomes(passed=12)
    # once per model and dataset (eval, train, OOD); the teacher's passes serve both students
    models = [str(tiny_models.teacher), str(tiny_models.student), str(tiny_models.onnx)]
    assert sorted(calls) == sorted(models * 3)


def test_outputs_are_read_back_from_the_disk_cache(pytester, tiny_models, encode_calls):
    calls = encode_calls
    cache = pytester.path / "outputs-cache"
    json_paths = [pytester.path / f"run{i}.json" for i in range(3)]

    def run(i):
        extra = [f"--compressguard-cache-dir={cache}", f"--compressguard-json={json_paths[i]}"]
        result = run_gate(pytester, tiny_models, str(tiny_models.onnx), extra=extra)
        assert result.ret == 0
        return result, json.loads(json_paths[i].read_text())["comparisons"][0]["metrics"]

    _, first = run(0)
    assert sorted(calls) == sorted([str(tiny_models.teacher), str(tiny_models.onnx)])
    calls.clear()
    assert run(1)[1] == first and calls == []  # both models' outputs came from the disk
    entries = sorted((cache / "outputs").glob("*.npz"))
    assert len(entries) == 2
    entries[0].write_bytes(entries[0].read_bytes()[:-7] + b"damaged")
    result, third = run(2)
    result.stdout.fnmatch_lines(["*ignoring the damaged output cache entry*"])
    assert third == first and len(calls) == 1  # the damaged entry was computed again


def test_failure_shows_metric_value_threshold_pair_n_and_examples(pytester, tiny_models):
    source = """
def test_strict(guard):
    guard.assert_label_loyalty(min=0.999)

def test_drop(guard):
    from pytest_compressguard import assert_accuracy_drop
    assert_accuracy_drop(guard, max=-0.5)
"""
    result = run_gate(pytester, tiny_models, str(tiny_models.student), source=source)
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: compressguard: label_loyalty = 0.* is below the minimum 0.9990 "
            "(95% interval [[]0.*, *[]])",
            f"E *  teacher: {tiny_models.teacher}",
            f"E *  student: {tiny_models.student}",
            f"E *  data:    {tiny_models.dev} (n=120)",
            "E *  * of 120 examples get different labels",
            "E *  * of them:",
            "E *    [[]*[]] '*'  gold=*  teacher=* (0.*)  student=* (0.*)",
            "*compressguard: accuracy_drop = * is above the maximum -0.5000 (95% interval *)",
            "*the student gets * examples wrong that the teacher gets right*",
            f"FAILED {tiny_models.student}: label_loyalty = 0.*, needs >= 0.999 "
            "(test_gate.py::test_strict[[]student[]])",
        ]
    )
    # the helpers hide their own frames: the traceback points at the test's line
    assert "def _check" not in result.stdout.str()
    assert "__tracebackhide__" not in result.stdout.str()


HEADLESS = """
def test_neighbours(guard):
    guard.assert_knn_agreement(min=0.0, k=5)
    guard.assert_cka(min=0.0)
    guard.assert_ood_agreement(min=0.0)

def test_labels(guard):
    guard.assert_label_loyalty(min=0.0)
"""


def test_models_without_heads_give_representation_metrics_only(pytester, tiny_models, tmp_path):
    from transformers import BertModel

    bare = tmp_path / "bare"
    BertModel.from_pretrained(tiny_models.teacher).save_pretrained(bare)
    AutoTokenizer.from_pretrained(tiny_models.teacher).save_pretrained(bare)
    unlabelled = tmp_path / "texts.csv"
    unlabelled.write_text("text\n" + "\n".join(t for t, _ in tiny_models.dev_rows) + "\n")
    out = tmp_path / "out.json"
    pytester.makepyfile(test_gate=HEADLESS)
    result = pytester.runpytest_inprocess(
        f"--teacher={bare}",
        f"--student=onnx-int8:{bare}",
        f"--eval-data={unlabelled}",
        f"--train-data={tiny_models.train}",
        f"--ood-data={tiny_models.ood}",
        "--ood-k=3",
        f"--compressguard-cache-dir={tmp_path / 'cache'}",
        f"--compressguard-json={out}",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*compressguard: label_loyalty could not be measured: {bare} has no trained "
            "classification head (weights missing: classifier.bias, classifier.weight); "
            "prediction metrics need a fine-tuned sequence-classification checkpoint",
            f"NOT MEASURED onnx-int8:{bare}: teacher_accuracy, student_accuracy, "
            f"accuracy_drop, ...: {bare} has no trained classification head*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    record = json.loads(out.read_text())["comparisons"][0]
    assert record["n"] == 120 and "error" not in record
    assert {"knn_agreement", "cka", "ood_agreement", "teacher_ood_auroc"} <= set(record["metrics"])
    assert set(record["unavailable"]) == set(PREDICTION_METRICS)
    assert set(record["ci"]) == {"knn_agreement"}
    assert [c["metric"] for c in record["checks"]] == ["knn_agreement", "cka", "ood_agreement"]
    assert record["checks"][2]["k"] == 3
    # quantization moves the embeddings a little: neighbours mostly survive
    assert 0.5 < record["metrics"]["knn_agreement"] <= 1.0 and record["metrics"]["cka"] > 0.9


def test_load_errors_fail_the_tests_with_one_sentence(pytester, tiny_models, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,label\nx,positive\n")
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess(
        f"--teacher={tiny_models.teacher}",
        "--student=bert-tiny",
        f"--eval-data={bad}",
    )
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*compressguard: cannot load model 'bert-tiny': it is no local path, and the Hugging "
            "Face Hub model 'google/bert_uncased_L-2_H-128_A-2' could not be fetched*"
        ]
    )
    result = run_gate(pytester, tiny_models, str(tiny_models.student), data=bad)
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*has no column 'text' (columns: sentence, label)*"])
