"""Causal-LM pairs through the plugin on tiny Llamas: the task is found from the teacher, a
documents set and a multiple-choice set gate in one session, every token and choice metric
of the JSON equals an independent computation (tests.lm_reference), an identical student
scores KL 0 and no flips, a failure shows the worst positions in context, and bad inputs
are one sentence."""

from __future__ import annotations

import html
import json
import os

import numpy as np
import pytest

from pytest_compressguard.models.causal_lm import CausalLM
from pytest_compressguard.report import html as report_html
from tests import browser, tiny
from tests import lm_reference as ref

GATE = """
import pytest

@pytest.mark.compressguard(data="docs")
def test_tokens(guard):
    guard.assert_token_kl(max=100.0)
    guard.assert_token_kl_p99(max=100.0)
    guard.assert_top1_agreement(min=0.0)
    guard.assert_perplexity_ratio(max=100.0)
    guard.assert_generation_agreement(min=0.0)
    guard.assert_cka(min=0.0)

@pytest.mark.compressguard(data="mc")
def test_choices(guard):
    guard.assert_label_loyalty(min=0.0)
    guard.assert_flips(max=1.0)
    guard.assert_accuracy_drop(max=1.0)
"""


def run(pytester, lms, *extra, source=GATE, students=None):
    pytester.makepyfile(test_gate=source)
    students = students or (lms["copy"], lms["noisy"], f"int8:{lms['teacher']}")
    return pytester.runpytest_inprocess(
        f"--teacher={lms['teacher']}",
        *(f"--student={s}" for s in students),
        f"--eval-data=docs={lms['docs']}",
        f"--eval-data=mc={lms['mc']}",
        *ref.OPTIONS,
        "-p",
        "no:randomly",
        *extra,
    )


def test_documents_and_choices_equal_an_independent_computation(pytester, lms, tmp_path):
    out = tmp_path / "report.json"
    result = run(pytester, lms, f"--compressguard-json={out}", "--compressguard-bootstrap=200")
    result.assert_outcomes(passed=6)
    document = json.loads(out.read_text())
    texts = [line.split(",")[0] for line in lms["docs"].read_text().splitlines()[1:]]
    rows = [json.loads(line) for line in lms["mc"].read_text().splitlines()]
    tok = tiny.tokenizer(lms["teacher"])
    teacher = ref.load(lms["teacher"])
    p_teacher = ref.choice_probabilities(teacher, tok, rows)
    by_pair = {(c["student"], c["eval_set"]): c for c in document["comparisons"]}
    assert len(by_pair) == 6 and {c["task"] for c in by_pair.values()} == {"causal-lm"}
    for student, folder, int8 in (
        (str(lms["copy"]), lms["copy"], False),
        (str(lms["noisy"]), lms["noisy"], False),
        (f"int8:{lms['teacher']}", lms["teacher"], True),
    ):
        model = ref.load(folder, int8=int8)
        docs = by_pair[(student, "docs")]
        want = ref.document_metrics(teacher, model, tok, texts)
        for name, value in want.items():
            assert docs["metrics"][name] == pytest.approx(value, rel=2e-3, abs=1e-9), (
                student,
                name,
            )
            lo, hi = docs["ci"][name]
            assert lo - 1e-9 <= docs["metrics"][name] <= hi + 1e-9, (student, name)
        assert docs["n"] == len(texts) and docs["tokens"]["documents"] == len(texts)
        lengths = [
            len(tok(t, truncation=True, max_length=ref.MAX_LENGTH)["input_ids"]) for t in texts
        ]
        assert docs["tokens"]["positions"] == sum(n - 1 for n in lengths)
        assert ref.PROMPT in lengths  # a text of exactly --prompt-tokens tokens is continued
        assert docs["tokens"]["generation"]["eligible"] == sum(n >= ref.PROMPT for n in lengths)
        mc = by_pair[(student, "mc")]
        p_student = ref.choice_probabilities(model, tok, rows)
        labels = [r["label"] for r in rows]
        for name, value in ref.choice_metrics(p_teacher, p_student, labels).items():
            assert mc["metrics"][name] == pytest.approx(value, abs=1e-12), (student, name)
        assert "token_kl" not in mc["metrics"] and "accuracy_drop" not in docs["metrics"]
    copy = by_pair[(str(lms["copy"]), "docs")]["metrics"]
    assert copy["token_kl"] == 0.0 and copy["top1_agreement"] == 1.0
    assert copy["perplexity_ratio"] == 1.0 and copy["generation_agreement"] == 1.0
    assert by_pair[(str(lms["copy"]), "mc")]["metrics"]["flips"] == 0.0
    assert by_pair[(str(lms["noisy"]), "docs")]["metrics"]["token_kl"] > 1e-3


def test_a_failed_token_gate_shows_the_worst_positions_in_context(pytester, lms, tmp_path):
    source = """
import pytest

@pytest.mark.compressguard(data="docs")
def test_kl(guard):
    guard.assert_token_kl(max=1e-9)

@pytest.mark.compressguard(data="docs")
def test_generation(guard):
    guard.assert_generation_agreement(min=1.0)
"""
    page, out = tmp_path / "report.html", tmp_path / "report.json"
    result = run(
        pytester,
        lms,
        f"--compressguard-html={page}",
        f"--compressguard-json={out}",
        source=source,
        students=[lms["noisy"]],
    )
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    # the terminal's token table, and the HTML's token-fidelity section
    assert "tok_kl" in text and "gen_agree" in text
    (record,) = json.loads(out.read_text())["comparisons"]
    worst = record["tokens"]["worst_positions"]
    assert [w["kl"] for w in worst] == sorted((w["kl"] for w in worst), reverse=True)
    assert sum(record["tokens"]["kl_histogram"]["counts"]) == record["tokens"]["positions"]
    html_text = page.read_text()
    assert "Token fidelity" in html_text and "KL per position" in html_text
    assert html.escape(worst[0]["context"]) in html_text
    keys = [key for key, _ in report_html.sections([record])]
    assert "tokens" in keys and "answers" not in keys
    assert "tokens" not in [key for key, _ in report_html.sections([{"task": "classification"}])]
    if browser.chromium() is not None:
        found = browser.inspect(page, tuple(keys), tmp_path / "lm.png")
        assert found["console_errors"] == [] and found["sections"]["tokens"]["visible"]
        assert found["plots"]["tokens"] and all(marks for _, _, marks in found["plots"]["tokens"])
        assert found["page_width"] <= browser.LAPTOP["width"]
    elif os.environ.get("CI"):
        pytest.fail("CI needs Chromium and playwright (scripts/test.sh installs them)")
    assert "compressguard: token_kl = " in text and "is above the maximum 0.0000" in text
    assert "the positions with the largest KL" in text
    # a position: its text and token index, the context, the token, both models' top 3
    line = next(x for x in text.splitlines() if "[text " in x and ", token " in x)
    assert "->" in line and "KL " in line
    teacher_line = next(x for x in text.splitlines() if "  teacher: '" in x)
    assert teacher_line.count("'") >= 6  # three tokens with their probabilities
    assert "continue differently under greedy decoding" in text
    assert "teacher continues:" in text and "student continues:" in text


def test_an_identical_student_passes_the_strictest_gate(pytester, lms):
    source = """
import pytest

@pytest.mark.compressguard(data="docs")
def test_tokens(guard):
    guard.assert_token_kl(max=0.0)
    guard.assert_top1_agreement(min=1.0)
    guard.assert_generation_agreement(min=1.0)

@pytest.mark.compressguard(data="mc")
def test_choices(guard):
    guard.assert_flips(max=0.0)
"""
    run(pytester, lms, source=source, students=[lms["copy"]]).assert_outcomes(passed=2)


def one_gate(pytester, teacher, student, data, *extra):
    pytester.makepyfile(test_gate="def test_gate(guard):\n    guard.assert_token_kl(max=1.0)\n")
    return pytester.runpytest_inprocess(
        f"--teacher={teacher}",
        f"--student={student}",
        f"--eval-data={data}",
        *ref.OPTIONS,
        *extra,
    )


def test_bad_lm_inputs_are_one_sentence(pytester, lms, tiny_models, tmp_path, monkeypatch):
    bad = {
        "empty.csv": "text,label\n,0\n",
        "short.csv": "text,label\ngood film,0\n",
    }
    for name, content in bad.items():
        (tmp_path / name).write_text(content)
    cases = [
        (tmp_path / "empty.csv", "text 0 is empty: a document needs tokens"),
        (tmp_path / "short.csv", "text 0 has 1 token: a document needs two"),
    ]
    for data, sentence in cases:
        result = one_gate(pytester, lms["teacher"], lms["noisy"], data)
        result.assert_outcomes(failed=1)
        assert sentence in result.stdout.str(), sentence
        assert "Traceback" not in result.stdout.str()
        # a tokenizer that adds no special token gives a one-word text one token
        monkeypatch.setattr(CausalLM, "token_ids", lambda self, texts: [np.array([7])] * len(texts))
    # a classifier student of a causal-LM teacher is refused in a sentence
    result = one_gate(pytester, lms["teacher"], tiny_models.student, lms["docs"])
    assert "is a causal language model but the student" in result.stdout.str()
    # a .gguf file without the extra, when it is missing
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    result = one_gate(pytester, tmp_path / "m.gguf", lms["noisy"], lms["docs"])
    assert "m.gguf" in result.stdout.str() and "Traceback" not in result.stdout.str()
