"""The HTML report: self-contained, every section filled from a real gate, and rendered by a
real browser (headless Chromium) without a console error."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape  # the escaping of the Jinja2 template (&#39; for a quote)

from pytest_compressguard.report import checks_section, html
from tests import browser

GATE = """
from pytest_compressguard import assert_kl_divergence

def test_loyal(guard):
    guard.assert_label_loyalty(min=0.9, confidence=0.95)
    guard.assert_accuracy_drop(max=0.05)

def test_strict(guard):
    guard.assert_error_overlap(min=0.99)
    guard.assert_flips(max=1.0)  # never reached: the test stops at the check above
    assert_kl_divergence(guard, max=10.0)

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
        assert checks_section.model_name(record["student"]) in text
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
    assert all(found["fonts"][key] for key in browser.FIGURES)
    _readable(found)
    # three students with long specs, as the demo's: three figures a row, narrow cards
    demo = copy.deepcopy(document["comparisons"])
    demo.append(copy.deepcopy(demo[-1]))
    for r, name in zip(demo, DEMO_NAMES, strict=True):
        r["student"] = name
    (tmp_path / "demo.html").write_text(html.render(demo))
    found = browser.inspect(tmp_path / "demo.html", (), tmp_path / "demo.png")
    assert found["console_errors"] == [] and len(found["plots"]["per-class"]) == 3
    _readable(found)


DEMO_NAMES = (
    "onnx-int8:examples/demo/build/teacher",
    "int8:examples/demo/build/teacher",
    "examples/demo/build/a-distilled-student-of-six-layers-for-sst2",
)


def _readable(found: dict) -> None:
    """Every figure's smallest text is at least 10 px at the default width, and each verdict
    card breaks its model name only after a separator, inside the card."""
    for key, fonts in found["fonts"].items():
        assert all(px >= 10 for px in fonts), (key, fonts)
    assert found["names"]
    for name in found["names"]:
        assert set(name["before"]) <= {"/", ":"} and not name["overflows"], name


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


def test_assertions_after_a_failed_check_are_shown_as_not_run(report):
    """test_strict stops at its first failed assertion for the int8-free student (the ONNX
    copy of the teacher passes it): the two assertions after it are recorded as not run, with
    why, and the card and the metric table show them."""
    path, document = report
    text = path.read_text()
    why = "not reached: the test stopped at its first failed assertion (error_overlap)"
    stopped, whole = document["comparisons"]
    assert [(n["metric"], n["op"], n["threshold"], n["reason"]) for n in stopped["not_run"]] == [
        ("flips", "<=", 1.0, why),
        ("kl_divergence", "<=", 10.0, why),
    ]
    assert {n["test"] for n in stopped["not_run"]} == {"test_gate.py::test_strict[student]"}
    assert "not_run" not in whole and len(whole["checks"]) == len(stopped["checks"]) + 2
    passed = sum(c["passed"] for c in stopped["checks"])
    assert f"{passed} of {len(whole['checks'])} checks passed, 2 not run" in text
    assert f"&#8211; not run: flips, kl_divergence ({why})" in text  # the card
    assert f'<span class="check skip" title="{why}">&#8211; not run: &lt;= 1</span>' in text
    assert html.render(document["comparisons"], document["pairwise"]) == text
    older = [{k: v for k, v in r.items() if k != "not_run"} for r in document["comparisons"]]
    before = html.render(older)  # a report written before: read as it was
    assert "checks passed, " not in before and 'class="check skip"' not in before


def test_every_plot_of_an_asserted_metric_draws_its_threshold(report):
    """kNN agreement's threshold is a dashed line marked at its k; the asserted attack drop
    is the lowest accuracy after the attack it allows; the worst-class drop, a dash on each
    class's student bar."""
    _, document = report
    records = copy.deepcopy(document["comparisons"])
    for r in records:
        for c in r["checks"]:
            c["threshold"] = {"knn_agreement": 0.7, "student_attack_drop": 0.5}.get(
                c["metric"], c["threshold"]
            )
    worst = {"metric": "worst_class_drop", "op": "<=", "threshold": 0.05, "value": 0.0}
    records[0]["checks"].append({**worst, "passed": True, "test": "t"})
    text = html.render(records)
    figure = text.split('<section id="knn">')[1].split("</section>")[0]
    assert figure.count('<g class="threshold">') == 1  # both students asserted the same
    assert "asserted \u2265 0.7 at k=5" in figure
    attack = text.split('<section id="attack">')[1].split("</section>")[0]
    before = [r["metrics"]["student_attack_accuracy_before"] for r in records]
    assert attack.count('<line class="threshold"') == 2
    for b in before:
        assert f"the asserted drop needs after \u2265 {b * 0.5:.4f}" in attack
    bars = text.split('<section id="per-class">')[1].split("</section>")[0].split("<figure>")
    classes = len(records[0]["per_class"]["teacher"])
    assert bars[1].count('<line class="threshold"') == classes  # the asserting student's
    assert '<line class="threshold"' not in bars[2]


def test_the_menu_lists_only_sections_with_content():
    """A gate of precomputed predictions ran no attack, compared no embeddings and failed no
    check: those sections say why on the page and stay out of the menu."""
    import numpy as np

    from pytest_compressguard import Comparison
    from pytest_compressguard.report.record import record

    rng = np.random.default_rng(3)
    pt = rng.dirichlet([1, 1], 40)
    guard = Comparison.from_arrays(pt, pt, pt.argmax(axis=1))
    text = html.render([record(guard)])
    menu = re.findall(r'<a href="#([\w-]+)">', text.split("<nav>")[1].split("</nav>")[0])
    assert menu == ["verdict", "metrics", "scatter", "confusion", "per-class"]
    assert "No attack ran in this session" in text and 'id="knn"' in text  # still on the page


def test_model_names_break_only_after_separators():
    name = "onnx-int8:examples/demo/build/teacher"
    shown = str(checks_section.model_name(name))
    assert re.sub(r"<[^>]+>", "", shown) == name  # the whole name, as copied
    assert shown.count("<wbr>") == name.count("/") + name.count(":")
    assert all(part.endswith(("/", ":</span>", "/</span>")) for part in shown.split("<wbr>")[:-1])
    long = "models/" + "x" * 60
    shown = str(checks_section.model_name(long))
    assert f'title="{long}"' in shown and "\u2026" in shown
    assert max(len(p) for p in re.sub(r"<[^>]+>", " ", shown).split()) <= checks_section.NAME_PART


def test_no_figure_draws_text_under_10_px(report):
    """At its own size (which the page keeps wherever it fits), every figure's text is at
    least 10 px: the report's figures, the token-fidelity bars and the search's bars."""
    from pytest_compressguard.report import figures, tokens_section

    path, _ = report
    drawn = [
        path.read_text(),
        tokens_section.kl_histogram([("a", "#000", [5, 3, 1, 1, 0])], [0, 0.01, 0.1, 1, 5]),
        figures.sensitivity_bars([("encoder.layer.0", True, [0.1, -0.02])], ["a", "b"]),
    ]
    sizes = [float(x) for page in drawn for x in re.findall(r'font-size="([\d.]+)"', page)]
    assert sizes and min(sizes) >= 10
