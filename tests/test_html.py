"""The HTML report: self-contained, every section filled from a real gate, and rendered by a
real browser (headless Chromium) without a console error."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape  # the escaping of the Jinja2 template (&#39; for a quote)

from pytest_compressguard.report import html
from tests import browser

GATE = """
def test_loyal(guard):
    guard.assert_label_loyalty(min=0.9, confidence=0.95)
    guard.assert_accuracy_drop(max=0.05)

def test_strict(guard):
    guard.assert_error_overlap(min=0.99)

def test_representation(guard):
    guard.assert_knn_agreement(min=0.0, k=5)

def test_attack(guard):
    guard.assert_attack_drop(max=1.0)
"""


@pytest.fixture(scope="module")
def report(tiny_models, tmp_path_factory):
    """The HTML and JSON of a gate with two students, a failed check, an attack and the
    pairwise table, written by a pytest run inside pytest."""
    work = tmp_path_factory.mktemp("html-gate")
    (work / "test_gate.py").write_text(GATE)
    target, data = work / "report.html", work / "report.json"
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(work / "test_gate.py"),
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        f"--teacher={tiny_models.teacher}",
        f"--student={tiny_models.student}",
        f"--student={tiny_models.onnx}",
        f"--eval-data={tiny_models.dev}",
        f"--compressguard-cache-dir={tiny_models.cache}",
        f"--attack-mlm={tiny_models.mlm}",
        f"--attack-sentence-encoder={tiny_models.mlm}",
        "--attack-recipe=bert-attack",
        "--attack-examples=12",
        "--compressguard-pairwise",
        f"--compressguard-html={target}",
        f"--compressguard-json={data}",
    ]
    done = subprocess.run(args, cwd=work, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]  # test_strict fails
    assert "compressguard: HTML report written to" in done.stdout
    return target, json.loads(data.read_text())


def test_the_report_is_self_contained_and_has_every_section(report):
    path, document = report
    text = path.read_text()
    assert "<script" not in text and "<link" not in text and " src=" not in text
    addresses = set(re.findall(r"https?://[^\"' <>]+", text))
    assert addresses == {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched
    shown = html.sections(document["comparisons"])
    expected = [key for key, _ in html.SECTIONS if key not in ("answers", "tokens", "search")]
    assert [key for key, _ in shown] == expected
    for key, title in shown:  # a classifier report has no answer-agreement section; a student
        # not written by the search, no search section
        assert f'<section id="{key}"><h2>{title}</h2>' in text
    for record in document["comparisons"]:
        assert f"<code>{record['student']}</code>" in text
        for check in record["checks"]:
            if not check["passed"]:  # the examples behind each failed check
                assert escape(check["message"]) in text
    assert "REJECT" in text and "Not asked for" not in text and "No attack ran" not in text


def test_the_report_is_rendered_from_records_alone(report):
    path, document = report
    assert html.render(document["comparisons"], document["pairwise"]) == path.read_text()


def test_sections_without_data_say_why():
    text = html.render([])
    assert "No comparison was made in this session." in text
    assert "No attack ran in this session" in text
    assert "Not asked for: pass <code>--compressguard-pairwise</code>" in text


def test_chromium_renders_every_section_without_console_errors(report, tmp_path):
    if browser.chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium and playwright (scripts/test.sh installs them)")
        pytest.skip("needs Debian's chromium and the playwright package")
    path, document = report
    shot = Path(os.environ.get("COMPRESSGUARD_SCREENSHOT", tmp_path / "report.png"))
    shown = html.sections(document["comparisons"])
    found = browser.inspect(path, tuple(key for key, _ in shown), shot)
    assert found["console_errors"] == []
    for key, title in shown:
        section = found["sections"][key]
        assert section["visible"] and section["title"] == title, key
        assert section["height"] > 40, key
    for key in browser.FIGURES:  # every plot drew marks at a real size
        assert found["plots"][key], key
        for width, height, marks in found["plots"][key]:
            assert width > 100 and height > 60 and marks > 0, key
    assert found["page_width"] <= browser.LAPTOP["width"]  # no sideways scrolling
    assert found["pdf_pages"] >= 2  # printable, and paginated
    assert shot.stat().st_size > 10_000


def test_the_scatter_keeps_a_seeded_sample_of_large_data():
    import numpy as np

    from pytest_compressguard import Comparison

    rng = np.random.default_rng(1)
    pt, ps = rng.dirichlet([1, 1, 1], 50), rng.dirichlet([1, 1, 1], 50)
    y = rng.integers(0, 3, 50)
    guard = Comparison.from_arrays(pt, ps, y, seed=4)
    sample = guard.probability_sample(limit=10)
    index = sample["index"]
    assert len(set(index)) == 10 and index == sorted(index)
    assert guard.probability_sample(limit=10) == sample  # seeded: the same points each run
    assert Comparison.from_arrays(pt, ps, y, seed=5).probability_sample(limit=10) != sample
    assert sample["student"] == [round(float(ps[i, y[i]]), 4) for i in index]
    assert sample["teacher_right"] == [int(pt[i].argmax() == y[i]) for i in index]


def test_text_from_users_is_escaped_everywhere():
    """Model specs, label names and example texts reach the page as text, never as markup:
    the template autoescapes them and the figures escape what they draw."""
    import numpy as np

    from pytest_compressguard import Comparison
    from pytest_compressguard.report.record import record

    hostile = "<script>alert(1)</script>"
    rng = np.random.default_rng(0)
    pt, ps = rng.dirichlet([1, 1], 40), rng.dirichlet([1, 1], 40)
    y = rng.integers(0, 2, 40)
    guard = Comparison.from_arrays(
        pt,
        ps,
        y,
        tuple(f"{hostile} {i}" for i in range(40)),
        student=f"student{hostile}",
        label_names=(f"neg{hostile}", "pos"),
    )
    with pytest.raises(AssertionError), pytest.warns(UserWarning, match="noisy"):
        guard.assert_label_loyalty(min=1.0)  # a failed check: its message shows the texts
    text = html.render([record(guard)])
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # shown, as text
    assert 'id="failures"' in text and "&lt;script&gt;alert(1)&lt;/script&gt; " in text
