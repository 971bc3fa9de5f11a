"""The search's HTML: its section (requirements, sensitivity bar chart, dropped layers), on a
page of its own (``compressguard search --compressguard-html``) and in the gate's report of a
student the search wrote (read from the summary written beside it)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from markupsafe import Markup

from pytest_compressguard.metrics.verdict import gain

_SECTION = """<p class="verdict {{ 'pass' if s.verified else 'fail' }}">{{ "A verified student: "
 ~ ("%.2f" | format(s.size_ratio_to_teacher)) ~ " of the teacher's size" if s.verified
 else "No student was verified" }}</p>
<div class="muted">teacher: <code>{{ s.teacher }}</code> &nbsp; data: <code>{{ s.data }}</code>
(n={{ s.n }}) &nbsp; {{ s.evaluations }} evaluations in {{ "%.0f" | format(s.seconds) }} s</div>
<h3>Requirements</h3>
<table><thead><tr><th>requirement</th><th>all-int8 (calibration)</th><th>result (calibration)</th>
<th>result (held out)</th></tr></thead><tbody>
{% for r in rows %}<tr><td><code>{{ r.name }}</code></td>{% for cell in r.cells %}
<td class="{{ cell.css }}">{{ cell.text }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table>
<p>A bound in brackets is the {{ "bootstrap interval's" }} bound that decides a requirement with a
confidence level. Kept in float32: {{ kept or "nothing" }}; size
{{ "%.2f" | format(s.size_ratio_to_teacher) }} of the teacher,
{{ "%.2f" | format(s.size_ratio_to_all_int8) }} of all-int8; weights
{{ "%.1f" | format(s.parameter_bytes / 1e6) }} MB,
{{ "%.2f" | format(s.parameter_ratio_to_teacher) }} of the teacher's,
{{ "%.2f" | format(s.parameter_ratio_to_all_int8) }} of all-int8's.</p>
{% for note in s.notes %}<p class="muted">{{ note }}</p>{% endfor %}
<h3>Sensitivity</h3>
{% if bars %}<figure>{{ bars }}<figcaption>What each group gives back on each requirement when
it alone is kept in float32 (the deciding value minus all-int8's, positive toward passing);
groups of the result in bold.</figcaption></figure>{% else %}
<p>All-int8 met every requirement: no group needed measuring.</p>{% endif %}
{% if moves %}<h3>Dropping layers</h3>
<table><thead><tr><th>layers</th><th>groups in float32</th><th>size</th>
{% for key in keys %}<th><code>{{ key }}</code> (calibration)</th>{% endfor %}</tr></thead><tbody>
{% for m in moves %}<tr><td>{{ m.layers }} of {{ s.layers }}</td><td>{{ m.kept }}</td>
<td>{{ m.size }}</td>{% for cell in m.cells %}<td class="{{ cell.css }}">{{ cell.text }}</td>
{% endfor %}</tr>{% endfor %}</tbody></table>
<p>The student keeps {{ s.kept_layers }} of {{ s.layers }} encoder layers. A dropped layer's
head is not re-trained: it reads what the remaining layers produce.</p>{% endif %}
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>compressguard search</title><style>{{ css }}</style></head><body>
<header><h1>compressguard search</h1></header>
<section id="search"><h2>How the student was found</h2>{{ section }}</section>
<footer>pytest-compressguard {{ version }}</footer></body></html>
"""


def _cell(part: dict[str, Any] | None, key: str) -> dict[str, str]:
    if part is None:
        return {"text": "–", "css": ""}
    point, decisive = part["point"][key], part["decisive"][key]
    bound = f" ({decisive:.4f})" if "@" in key else ""
    holds = part["holds"][key]
    return {
        "text": f"{point:.4f}{bound} {'holds' if holds else 'misses'}",
        "css": "" if holds else "fail",
    }


def _environment() -> Any:
    from jinja2 import Environment, StrictUndefined

    return Environment(autoescape=True, undefined=StrictUndefined)


def section(summary: dict[str, Any]) -> Markup:
    """The search's section for a summary (``tune.summary`` with ``teacher``, ``data`` and
    ``n``)."""
    from pytest_compressguard.report import figures

    keys = list(summary["all_int8"]["point"])
    rows = [
        {
            "name": key,
            "cells": [
                _cell(summary["all_int8"], key),
                _cell(summary["calibration"], key),
                _cell(summary["held_out"], key),
            ],
        }
        for key in keys
    ]
    base = summary["all_int8"]["decisive"]
    bars = None
    if summary["sensitivity"]:
        # a requirement reads METRIC>=VALUE or METRIC<=VALUE (see search.requirements)
        ops = {key: ">=" if ">=" in key else "<=" for key in keys}
        data = [
            (
                group,
                group in summary["kept_fp32"],
                [gain(ops[k], base[k], found["decisive"][k]) for k in keys],
            )
            for group, found in summary["sensitivity"].items()
        ]
        bars = figures.sensitivity_bars(data, keys)
    moves = [
        {
            "layers": move["layers"],
            "kept": len(move["kept_fp32"]),
            "size": f"{move['size_bytes'] / 1e6:.1f} MB",
            "cells": [_cell(move, key) for key in keys],
        }
        for move in summary["depth_moves"]
    ]
    return Markup(
        _environment()
        .from_string(_SECTION)
        .render(
            s=summary,
            rows=rows,
            kept=", ".join(summary["kept_fp32"]),
            bars=bars,
            keys=keys,
            moves=moves,
        )
    )


def render(summary: dict[str, Any]) -> str:
    """The search's own page for a summary."""
    from pytest_compressguard.core.version import __version__

    css = resources.files("pytest_compressguard.report").joinpath("templates/report.css")
    return (
        _environment()
        .from_string(_PAGE)
        .render(section=section(summary), css=Markup(css.read_text()), version=__version__)
    )


def write(path: str | Path, summary: dict[str, Any]) -> Path:
    """Write the page; return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(summary), encoding="utf-8")
    return target
