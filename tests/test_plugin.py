"""The plugin end to end, with pytest run inside pytest on tiny models."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy
from transformers import AutoModelForSequenceClassification, AutoTokenizer

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


def run_gate(pytester, tiny_models, *students, extra=(), source=GATE):
    pytester.makepyfile(test_gate=source)
    # --opt=value: pytest picks its rootdir before plugin options exist, so a space-separated
    # path value would count as a test path there (pytest's behaviour, documented in the README)
    args = [
        f"--teacher={tiny_models.teacher}",
        f"--eval-data={tiny_models.dev}",
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


def reference_onnx_probs(onnx_dir, texts):
    tok = AutoTokenizer.from_pretrained(onnx_dir)
    session = ort.InferenceSession(str(onnx_dir / "model.onnx"))
    enc = tok(texts, padding=True, return_tensors="np")
    feed = {i.name: enc[i.name].astype(np.int64) for i in session.get_inputs()}
    logits = session.run(["logits"], feed)[0].astype(np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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
        # scipy gives nan where rounding makes JSD a hair below 0 (identical rows): that is 0
        "probability_loyalty": float(
            np.mean(
                [
                    1 - np.nan_to_num(jensenshannon(a, b, base=2))
                    for a, b in zip(pt, ps, strict=True)
                ]
            )
        ),
        "kl_divergence": float(np.mean([entropy(a, b) for a, b in zip(pt, ps, strict=True)])),
        "flips": len(wrong_t ^ wrong_s) / len(y),
        "error_overlap": len(wrong_t & wrong_s) / len(union) if union else 1.0,
    }


def test_json_metrics_equal_an_independent_computation(pytester, tiny_models, tmp_path):
    out = tmp_path / "out.json"
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        str(tiny_models.onnx),
        extra=[f"--compressguard-json={out}"],
    )
    result.assert_outcomes(passed=6)
    report = json.loads(out.read_text())
    assert report["version"] == 1
    texts = [t for t, _ in tiny_models.dev_rows]
    y = np.array([label for _, label in tiny_models.dev_rows])
    pt = reference_probs(tiny_models.teacher, texts)
    references = {
        str(tiny_models.student): reference_probs(tiny_models.student, texts),
        str(tiny_models.onnx): reference_onnx_probs(tiny_models.onnx, texts),
    }
    assert [c["student"] for c in report["comparisons"]] == list(references)
    for comparison in report["comparisons"]:
        assert set(comparison) == {"teacher", "student", "dataset", "n", "metrics", "checks"}
        assert comparison["teacher"] == str(tiny_models.teacher)
        assert comparison["dataset"] == str(tiny_models.dev)
        assert comparison["n"] == len(texts)
        expected = expected_metrics(pt, references[comparison["student"]], y)
        assert set(comparison["metrics"]) == set(expected)
        for name, value in expected.items():
            assert comparison["metrics"][name] == pytest.approx(value, abs=1e-6), name
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


def test_each_model_runs_over_the_data_once(pytester, tiny_models, monkeypatch):
    from pytest_compressguard.models.base import BatchedClassifier

    calls = []
    original = BatchedClassifier.predict_proba

    def counting(self, texts):
        calls.append(self.spec.text)
        return original(self, texts)

    monkeypatch.setattr(BatchedClassifier, "predict_proba", counting)
    source = GATE + "\n".join(
        f"def test_more_{i}(guard):\n"
        "    guard.assert_flips(max=1.0)\n"
        "    guard.assert_kl_divergence(max=1e9)\n"
        for i in range(3)
    )
    result = run_gate(
        pytester, tiny_models, str(tiny_models.student), str(tiny_models.onnx), source=source
    )
    result.assert_outcomes(passed=12)
    assert sorted(calls) == sorted(
        [str(tiny_models.teacher), str(tiny_models.student), str(tiny_models.onnx)]
    )


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
            "E * AssertionError: compressguard: label_loyalty = 0.* is below the minimum 0.9990",
            f"E *  teacher: {tiny_models.teacher}",
            f"E *  student: {tiny_models.student}",
            f"E *  data:    {tiny_models.dev} (n=120)",
            "E *  * of 120 examples get different labels",
            "E *  * of them:",
            "E *    [[]*[]] '*'  gold=*  teacher=* (0.*)  student=* (0.*)",
            "*compressguard: accuracy_drop = * is above the maximum -0.5000",
            "*the student gets * examples wrong that the teacher gets right*",
            f"FAILED {tiny_models.student}: label_loyalty = 0.*, needs >= 0.999 "
            "(test_gate.py::test_strict[[]student[]])",
        ]
    )
    # the helpers hide their own frames: the traceback points at the test's line
    assert "def _check" not in result.stdout.str()
    assert "__tracebackhide__" not in result.stdout.str()


def test_no_teacher_skips_the_plugin_fixtures_only(pytester):
    pytester.makepyfile(test_gate=GATE)
    result = pytester.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*compressguard: no teacher model (pass --teacher*"])
    assert "= compressguard =" not in result.stdout.str()


def test_ini_values_apply_and_the_command_line_wins(pytester, tiny_models, tmp_path):
    out_ini, out_cli = tmp_path / "ini.json", tmp_path / "cli.json"
    pytester.makeini(f"""
[pytest]
compressguard_teacher = {tiny_models.teacher}
compressguard_student =
    {tiny_models.student}
compressguard_eval_data = {tiny_models.dev}
compressguard_max_examples = 30
compressguard_json = {out_ini}
""")
    pytester.makepyfile(test_gate=GATE)
    pytester.runpytest_inprocess().assert_outcomes(passed=4)
    report = json.loads(out_ini.read_text())
    assert report["comparisons"][0]["n"] == 30
    result = pytester.runpytest_inprocess(
        "--max-examples=50", f"--student={tiny_models.onnx}", f"--compressguard-json={out_cli}"
    )
    result.assert_outcomes(passed=4)
    assert not json.loads(out_ini.read_text()) != report  # the ini file's JSON is untouched
    cli = json.loads(out_cli.read_text())["comparisons"]
    assert [(c["student"], c["n"]) for c in cli] == [(str(tiny_models.onnx), 50)]


def test_help_lists_the_option_group(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(
        [
            "compressguard: behavioural checks of compressed models:",
            "*--teacher=SPEC*",
            "*--student=SPEC*",
            "*--eval-data=PATH*",
            "*--batch-size=N*",
            "*--compressguard-json=PATH*",
            "*compressguard_teacher (string):*",
            "*compressguard_student (linelist):*",
        ]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "*argument --batch-size: expected a positive integer, got '0'"),
        (["--max-length", "ten"], "*argument --max-length: expected a positive integer*"),
        (["--device", "tpu"], "*argument --device: expected cpu or cuda, got 'tpu'"),
        (["--seed", "-1"], "*argument --seed: expected an integer >= 0*"),
        (["--teacher", "./nowhere"], "*argument --teacher: model spec './nowhere' is neither*"),
        (["--student", "fp16:x"], "*argument --student: unknown prefix 'fp16:'*"),
        (["--eval-data", "missing.csv"], "*argument --eval-data: no such file: 'missing.csv'"),
        (["--eval-data", "data.parquet"], "*unknown data format .parquet*"),
        (["--eval-data", "hf:glue"], "*expected hf:DATASET:SPLIT or hf:DATASET:CONFIG:SPLIT*"),
        (["--teacher", "bert-base"], "*--teacher needs at least one --student"),
        (["--teacher", "bert-base", "--student", "distilbert"], "*--teacher needs --eval-data"),
        (["--student", "distilbert"], "*--student and --eval-data need --teacher"),
    ],
)
def test_bad_options_are_usage_errors(pytester, args, message):
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_bad_ini_value_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\ncompressguard_batch_size = many\n")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*compressguard_batch_size = 'many' in the ini file: expected a positive integer*"]
    )


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
    result = run_gate(pytester, tiny_models, str(tiny_models.student), extra=[f"--eval-data={bad}"])
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*has no column 'text' (columns: sentence, label)*"])


def test_xdist_gives_the_same_json(pytester, tiny_models, tmp_path):
    pytest.importorskip("xdist")
    plain, spread = tmp_path / "plain.json", tmp_path / "xdist.json"
    run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        str(tiny_models.onnx),
        extra=[f"--compressguard-json={plain}"],
    ).assert_outcomes(passed=6)
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.student),
        str(tiny_models.onnx),
        extra=[f"--compressguard-json={spread}", "-n", "2"],
    )
    result.assert_outcomes(passed=6)
    a, b = json.loads(plain.read_text()), json.loads(spread.read_text())
    key = lambda c: c["student"]  # noqa: E731
    for x, y in zip(
        sorted(a["comparisons"], key=key), sorted(b["comparisons"], key=key), strict=True
    ):
        assert x["metrics"] == pytest.approx(y["metrics"], abs=1e-9)
        assert [c["metric"] for c in x["checks"]] == [c["metric"] for c in y["checks"]]
    result.stdout.fnmatch_lines(["*= compressguard =*"])
