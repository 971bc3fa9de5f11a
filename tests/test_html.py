"""The HTML report: self-contained, every section filled from a real gate, and rendered by a
real browser (headless Chromium) without a console error."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html import escape

import pytest

from pytest_compressguard.report import html

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
FIGURES = ("knn", "scatter", "confusion", "per-class", "attack", "pairwise")


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
    for key, title in html.SECTIONS:
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


def chromium_path():
    found = os.environ.get("COMPRESSGUARD_CHROMIUM") or shutil.which("chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        found = None
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium and playwright (scripts/test.sh installs them)")
        pytest.skip("needs Debian's chromium and the playwright package")
    return found


def test_chromium_renders_every_section_without_console_errors(report, tmp_path):
    from playwright.sync_api import sync_playwright

    path, _ = report
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1366, "height": 768})  # a laptop screen
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        for key, title in html.SECTIONS:
            section = page.locator(f"section#{key}")
            assert section.is_visible(), key
            assert section.locator("h2").inner_text() == title
            box = section.bounding_box()
            assert box is not None and box["height"] > 40, key
        for key in FIGURES:  # every plot drew marks with a real size
            plots = page.locator(f"section#{key} svg.plot")
            assert plots.count() >= 1, key
            for i in range(plots.count()):
                box = plots.nth(i).bounding_box()
                assert box is not None and box["width"] > 100 and box["height"] > 60, key
                marks = plots.nth(i).locator("rect, circle, polyline").count()
                assert marks > 0, key
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 1366  # no sideways scrolling on a laptop
        shot = os.environ.get("COMPRESSGUARD_SCREENSHOT", str(tmp_path / "report.png"))
        page.screenshot(path=shot, full_page=True)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4")
        browser.close()
    assert problems == []
    assert os.path.getsize(shot) > 10_000
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf))
    assert pdf.startswith(b"%PDF") and pages >= 2  # printable, and paginated


def test_the_scatter_keeps_a_seeded_sample_of_large_data():
    import numpy as np

    from pytest_compressguard.comparison import Comparison

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
