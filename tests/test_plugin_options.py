"""The plugin's options end to end: ini values, --help, usage errors, defaults, the
README's table."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from tests import reference
from tests.test_plugin import GATE, run_gate


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
            "*--attack-mlm=SPEC*",
            "*--attack-examples=N*",
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
        (["--attack-side", "middle"], "*argument --attack-side: expected first or second, got*"),
        (["--seed", "-1"], "*argument --seed: expected an integer >= 0*"),
        (["--teacher", "./nowhere"], "*argument --teacher: model spec './nowhere' is neither*"),
        (["--student", "fp16:x"], "*argument --student: unknown prefix 'fp16:'*"),
        (["--eval-data", "missing.csv"], "*argument --eval-data: no such file: 'missing.csv'"),
        (["--eval-data", "data.parquet"], "*unknown data format .parquet*"),
        (["--eval-data", "hf:glue"], "*expected hf:DATASET:SPLIT or hf:DATASET:CONFIG:SPLIT*"),
        (["--teacher", "bert-base"], "*--teacher needs at least one --student"),
        (["--teacher", "bert-base", "--student", "distilbert"], "*--teacher needs --eval-data"),
        (
            ["--student", "distilbert"],
            "*--student, --baseline, --eval-data, --train-data and --ood-data need --teacher",
        ),
        (["--ood-k", "0"], "*argument --ood-k: expected a positive integer, got '0'"),
        (["--pooling", "max"], "*argument --pooling: expected cls or mean, got 'max'"),
        (["--ood-data", "missing.csv"], "*argument --ood-data: no such file: 'missing.csv'"),
        (["--attack-max-perturb", "0"], "*--attack-max-perturb: expected a number in (0, 1]*"),
        (["--attack-max-perturb", "1.5"], "*--attack-max-perturb: expected a number in (0, 1]*"),
        (["--attack-candidates", "0"], "*--attack-candidates: expected a positive integer*"),
        (["--attack-max-queries", "x"], "*--attack-max-queries: expected a positive integer*"),
        (["--attack-report-max", "-1"], "*--attack-report-max: expected an integer >= 0*"),
        (["--attack-mlm", "./nowhere"], "*--attack-mlm: model spec './nowhere' is neither*"),
        (["--attack-mlm", "int8:bert-base"], "*--attack-mlm 'int8:bert-base': expected a dir*"),
    ],
)
def test_bad_options_are_usage_errors(pytester, args, message):
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_pooling_and_embedding_output_options_reach_the_models(pytester, tiny_models, tmp_path):
    texts = [t for t, _ in tiny_models.dev_rows]

    def mean_embeddings(folder):
        tok = AutoTokenizer.from_pretrained(folder)
        batch = tok(texts, padding=True, return_tensors="pt")
        with torch.no_grad():
            state = AutoModel.from_pretrained(folder).eval()(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return ((state * mask).sum(1) / mask.sum(1)).numpy()

    out = tmp_path / "mean.json"
    source = "def test_cka(guard):\n    guard.assert_cka(min=0.0)\n"
    extra = ["--pooling=mean", f"--compressguard-json={out}"]
    result = run_gate(pytester, tiny_models, str(tiny_models.student), source=source, extra=extra)
    result.assert_outcomes(passed=1)
    cka = json.loads(out.read_text())["comparisons"][0]["metrics"]["cka"]
    expected = reference.cka_hsic(
        mean_embeddings(tiny_models.teacher), mean_embeddings(tiny_models.student)
    )
    assert cka == pytest.approx(expected, abs=1e-6)
    result = run_gate(
        pytester,
        tiny_models,
        str(tiny_models.onnx),
        source=source,
        extra=["--embedding-output=pooled"],
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*cka could not be measured: ONNX model * has no output 'pooled'*"]
    )


def test_ood_data_needs_train_data_and_the_other_way_round(pytester, tiny_models):
    base = [f"--teacher={tiny_models.teacher}", f"--student={tiny_models.student}"]
    base.append(f"--eval-data={tiny_models.dev}")
    result = pytester.runpytest_inprocess(*base, f"--ood-data={tiny_models.ood}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ood-data needs --train-data (the in-distribution bank*"])
    result = pytester.runpytest_inprocess(*base, f"--train-data={tiny_models.train}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--train-data is used only with --ood-data*"])


def test_bad_ini_value_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\ncompressguard_batch_size = many\n")
    result = pytester.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*compressguard_batch_size = 'many' in the ini file: expected a positive integer*"]
    )


def test_the_readme_option_table_agrees_with_the_options():
    """Every option is in the README's table with its ini twin and the default that
    ``Settings`` (the one place defaults are written) gives it."""
    from pathlib import Path

    from pytest_compressguard.options import OPTIONS, Settings

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [c.strip() for c in line.replace("\\|", "/").strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`--"):
            flag = cells[0].strip("`").split("=")[0].split("`")[0]
            rows[flag] = (cells[1].split("`")[1], cells[2].strip("`"))
    assert set(rows) == {o.flag for o in OPTIONS}
    for option in OPTIONS:
        ini, default = rows[option.flag]
        assert ini == option.ini, option.flag
        assert getattr(Settings(), option.dest) == option.default
        if option.default not in (None, (), False):
            assert default == str(option.default), option.flag
        else:
            assert default == (option.default_text or ""), option.flag


def test_an_option_given_nowhere_takes_its_default(pytester):
    pytester.makeconftest("""
from pytest_compressguard.options import Settings, resolve

def pytest_configure(config):
    assert resolve(config) == Settings()
""")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    pytester.runpytest_inprocess().assert_outcomes(passed=1)
