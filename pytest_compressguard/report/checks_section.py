"""The HTML report's parts about checks: the verdict cards, the metric table and the failed
checks, with the assertions that tests never reached; and how a model's name is shown."""

from __future__ import annotations

import math
import re
from typing import Any

from markupsafe import Markup, escape

from pytest_compressguard.metrics.catalogue import CATALOGUE, GROUPS, METRICS
from pytest_compressguard.report.terminal import metric_value, summary

#: A part of a model's name longer than this is shortened in the middle (whole name on hover).
NAME_PART = 28
_GROUPS = tuple(
    (title, [m.name for m in CATALOGUE if m.group == group and m.shown])
    for group, title in GROUPS.items()
)


def model_name(name: str) -> Markup:
    """A model's name as the page shows it: breakable only after ``/`` and ``:`` (never
    inside a word or after a hyphen), a part longer than :data:`NAME_PART` characters
    shortened in the middle, the whole name on hover."""
    parts = []
    for part in re.split(r"(?<=[/:])", name):
        if len(part) > NAME_PART:
            half = (NAME_PART - 1) // 2
            part = part[:half] + "\u2026" + part[-(NAME_PART - 1 - half) :]
        parts.append(f"<span>{escape(part)}</span>")
    return Markup(f'<code class="model" title="{escape(name)}">{"<wbr>".join(parts)}</code>')


def _status(record: dict[str, Any]) -> str:
    if record.get("error") or any(not c.passed for c in record["checks"]):
        return "fail"
    return "pass" if record["checks"] else "none"


def verdict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One card per student: rejected when any of its eval sets fails."""
    students: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        students.setdefault(r["student"], []).append(r)
    cards = []
    for student, rows in students.items():
        statuses = [_status(r) for r in rows]
        status = "fail" if "fail" in statuses else "pass" if "pass" in statuses else "none"
        cards.append(
            {
                "status": status,
                "badge": {"fail": "REJECT", "pass": "ACCEPT", "none": "NO CHECKS"}[status],
                "student": student,
                "sets": [
                    {
                        "name": r.get("eval_set"),
                        "headline": summary(r) or "no metrics measured",
                        "passed": sum(c.passed for c in r["checks"]),
                        "checks": len(r["checks"]) + len(r.get("not_run") or ()),
                        "error": r.get("error"),
                        "failed": [c for c in r["checks"] if not c.passed],
                        "not_run": _not_run(r),
                        "skipped": len(r.get("not_run") or ()),
                    }
                    for r in rows
                ],
            }
        )
    return cards


def _not_run(record: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The assertions a record's tests never reached: (why, their labels) per reason."""
    found: dict[str, list[str]] = {}
    for n in record.get("not_run") or ():
        found.setdefault(n.reason, []).append(n.label)
    return list(found.items())


def format_metric(value: Any, name: str) -> str:
    """``value`` of metric ``name`` as its catalogue entry displays it."""
    if value is None:
        return "\u2013"
    display = METRICS[name].display
    if display == "bytes":
        exponent = min(3, max(0, int(math.log(max(value, 1), 1024))))
        return f"{value / 1024**exponent:,.1f} {('B', 'KiB', 'MiB', 'GiB')[exponent]}"
    if display == "count":
        exponent = min(3, max(0, int(math.log10(max(value, 1)) // 3)))
        return f"{value / 1000**exponent:,.{1 if exponent else 0}f}{('', 'k', 'M', 'G')[exponent]}"
    if display == "times":
        return f"{value:.2f}\u00d7"
    if display == "queries":
        return f"{value:.1f}"
    return f"{value:.4f}"


def _mark(c: Any) -> str:
    """A check (or an assertion not run) as the metric table's cell notes it:
    ``>= 0.9 (95% CI) k=5``."""
    text = c.op if c.threshold is None else f"{c.op} {c.threshold:g}"
    if c.confidence is not None:
        text += f" ({c.confidence:.0%} CI)"
    if c.param_name is not None:
        text += f" batch {c.param}" if c.param_name == "batch" else f" {c.param_name}={c.param}"
    return text


def metric_table(records: list[dict[str, Any]]) -> dict[str, Any]:
    groups = []
    for group, names in _GROUPS:
        rows = []
        for name in names:
            asserted = any(n.metric == name for r in records for n in r.get("not_run") or ())
            if not asserted and all(metric_value(r, name) is None for r in records):
                continue
            cells = []
            for r in records:
                checks = [c for c in r["checks"] if c.metric == name]
                unreached = [n for n in r.get("not_run") or () if n.metric == name]
                marks = [("ok" if c.passed else "bad", _mark(c), None) for c in checks]
                cells.append(
                    {
                        "value": metric_value(r, name),
                        "ci": (r.get("ci") or {}).get(name),
                        "state": ""
                        if not checks
                        else "failed"
                        if any(not c.passed for c in checks)
                        else "passed",
                        "marks": marks + [("skip", _mark(n), n.reason) for n in unreached],
                    }
                )
            rows.append({"name": name, "cells": cells})
        if rows:
            groups.append({"title": group, "rows": rows})
    unavailable = []
    for r in records:
        reasons: dict[str, list[str]] = {}
        for metric, why in (r.get("unavailable") or {}).items():
            reasons.setdefault(why, []).append(metric)
        unavailable += [(r["label"], ", ".join(ms), why) for why, ms in reasons.items()]
    return {
        "students": [r["label"] for r in records],
        "groups": groups,
        "unavailable": unavailable,
    }


def failures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "student": r["label"],
            "label": c.label,
            "test": c.test or "outside a test",
            "message": c.message or f"{c.label} = {c.value:.4f}, needs {c.op} {c.threshold:g}",
        }
        for r in records
        for c in r["checks"]
        if not c.passed
    ]
