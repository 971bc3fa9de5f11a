"""Open an HTML report in headless Chromium (Debian's, driven by playwright) and say what
rendered: used by tests/test_html.py and bench/html_report.py."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

FIGURES = ("knn", "scatter", "confusion", "per-class", "attack", "pairwise")
LAPTOP = {"width": 1366, "height": 768}
#: The smallest rendered font (CSS px) of each plot of a section: each SVG text's computed
#: font size times the scale its SVG is drawn at (from the screen transform).
SMALLEST_FONT = """key => [...document.querySelectorAll(`section#${key} svg.plot`)].map(svg =>
  Math.min(...[...svg.querySelectorAll('text')].map(t => {
    const m = t.getScreenCTM();
    return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b);
  })))"""
#: Each verdict card's model name: its text, the character before each line break (found from
#: the boxes of its characters, via Range.getClientRects) and whether it overflows its card.
NAME_BREAKS = """() => [...document.querySelectorAll('.card > code')].map(code => {
  const before = []; let top = null, last = '';
  const walk = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
  for (let node = walk.nextNode(); node; node = walk.nextNode()) {
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange(); range.setStart(node, i); range.setEnd(node, i + 1);
      const box = [...range.getClientRects()].find(r => r.width > 0);
      if (!box) continue;
      if (top !== null && box.top > top + 2) before.push(last);
      top = box.top; last = node.data[i];
    }
  }
  const card = code.closest('.card').getBoundingClientRect();
  return {name: code.textContent, before,
          overflows: code.getBoundingClientRect().right > card.right + 0.5};
})"""


def chromium() -> str | None:
    """The Chromium binary ($COMPRESSGUARD_CHROMIUM or chromium on PATH) when playwright is
    installed too, else None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return None
    return os.environ.get("COMPRESSGUARD_CHROMIUM") or shutil.which("chromium")


def inspect(
    report: Path,
    sections: tuple[str, ...],
    screenshot: Path,
    *,
    full_page: bool = True,
    height: int = LAPTOP["height"],
) -> dict[str, Any]:
    """Load ``report`` at a laptop's width (the report's default) and return console errors,
    each section's title and height, the plots of each figure section and each section asked
    for as (width, height, marks) and their smallest rendered fonts, how the verdict cards
    break their model names (:data:`NAME_BREAKS`), the page width, the printed PDF's page
    count; a screenshot (of the whole page, or of the first ``height`` pixels) goes to
    ``screenshot``."""
    from playwright.sync_api import sync_playwright

    binary = chromium()
    if binary is None:
        raise RuntimeError("needs Debian's chromium and the playwright package")
    problems: list[str] = []
    found: dict[str, Any] = {"sections": {}, "plots": {}, "fonts": {}}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=binary,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": LAPTOP["width"], "height": height})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.goto(report.resolve().as_uri())
        page.wait_for_load_state("load")
        for key in sections:
            section = page.locator(f"section#{key}")
            box = section.bounding_box() if section.count() else None
            found["sections"][key] = {
                "visible": section.count() == 1 and section.is_visible(),
                "title": section.locator("h2").inner_text() if section.count() else None,
                "height": box["height"] if box else 0,
            }
        for key in dict.fromkeys((*FIGURES, *sections)):
            plots = page.locator(f"section#{key} svg.plot")
            shapes = []
            for i in range(plots.count()):
                box = plots.nth(i).bounding_box() or {"width": 0, "height": 0}
                marks = plots.nth(i).locator("rect, circle, polyline").count()
                shapes.append((box["width"], box["height"], marks))
            found["plots"][key] = shapes
            found["fonts"][key] = page.evaluate(SMALLEST_FONT, key)
        found["names"] = page.evaluate(NAME_BREAKS)
        found["page_width"] = page.evaluate("document.documentElement.scrollWidth")
        page.screenshot(path=str(screenshot), full_page=full_page)
        page.emulate_media(media="print")
        pdf = page.pdf(format="A4")
        browser.close()
    found["console_errors"] = problems
    found["pdf_pages"] = len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf)) if pdf[:4] == b"%PDF" else 0
    return found
