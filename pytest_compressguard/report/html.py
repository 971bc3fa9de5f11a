"""The HTML report: one self-contained file (inline CSS and SVG; no script, no network).

Rendered from the same records as the JSON report (and the pairwise table), so an xdist
controller that never loaded a model writes the same page. The page is the Jinja2 template
``templates/report.html`` (autoescaped) with the stylesheet ``templates/report.css``
inlined; the figures come from ``figures.py``. Sections: verdict, metrics, kNN agreement by
k, probability scatter, confusion matrix, per-class accuracy, attack, pairwise (when asked
for), the failed checks with the examples behind them, and for a student that
``compressguard search`` wrote, how the search found it.
"""

from __future__ import annotations

import functools
import math
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pytest_compressguard.core.version import __version__
from pytest_compressguard.metrics.catalogue import CATALOGUE, GROUPS, METRICS
from pytest_compressguard.report import figures, terminal, tokens_section
from pytest_compressguard.report.terminal import metric_value, summary
from pytest_compressguard.tasks import DEFAULT, TASKS, Task

#: At most this many classes are drawn in the per-class and confusion figures.
MAX_CLASSES = 20
SECTIONS = (
    ("verdict", "Verdict"),
    ("metrics", "Metrics"),
    ("knn", "kNN agreement by k"),
    ("scatter", "Teacher vs student probabilities"),
    ("confusion", "Confusion matrices"),
    ("per-class", "Per-class accuracy"),
    ("answers", "Answer agreement"),
    ("tokens", "Token fidelity"),
    ("attack", "Adversarial attack"),
    ("pairwise", "Pairwise"),
    ("failures", "Failed checks"),
    ("search", "How the student was found"),
)
_GROUPS = tuple(
    (title, [m.name for m in CATALOGUE if m.group == group and m.shown])
    for group, title in GROUPS.items()
)
_PAIRWISE_SHOWN = tuple(m.name for m in CATALOGUE if m.pairwise_figure)


Pairwise = dict[str, Any] | list[dict[str, Any]]


def write(
    path: str | Path, records: list[dict[str, Any]], pairwise: Pairwise | None = None
) -> Path:
    """Write the report (creating parent directories) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(records, pairwise), encoding="utf-8")
    return target


def render(records: list[dict[str, Any]], pairwise: Pairwise | None = None) -> str:
    """The report as one HTML document (records as the session or the JSON report holds
    them). With several eval sets each record is shown as ``student [set]``, and the verdict
    of a student covers all its sets."""
    from pytest_compressguard.report.record import from_json

    records = [{**from_json(r), "label": _label(r)} for r in records]
    colours = {
        r["student"]: figures.PALETTE[i % len(figures.PALETTE)] for i, r in enumerate(records)
    }
    return _template().render(
        css=Markup(resources.files(__package__).joinpath("templates/report.css").read_text()),
        version=__version__,
        sections=sections(records),
        teachers=sorted({r["teacher"] for r in records}),
        datasets=sorted({f"{r['dataset']} (n={r['n']})" for r in records}),
        students=len(records),
        verdict=_verdict(records),
        metrics=_metric_table(records),
        knn=_knn(records, colours),
        scatter=_scatter(records),
        confusion=_confusion(records),
        per_class=_per_class(records, colours),
        attack=_attack(records, colours),
        pairwise=_pairwise(pairwise),
        failures=_failures(records),
        answers=_answers(records),
        tokens=tokens_section.rows(records, colours),
        searched=_searched(records),
    )


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["metric"] = _format
    environment.filters["pct"] = lambda x: "–" if x is None else f"{x:.2f}"
    return environment.get_template("report.html")


# -- what each section shows ---------------------------------------------------------------


def sections(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The sections the records have content for: answer agreement with a question-answering
    pair, the probability scatter and confusion matrices with a classifier pair."""
    own = {key for t in TASKS.values() for key in t.report_sections}
    present = set().union(*(_task(r).report_sections for r in records)) if records else None
    left_out = own - (present if present is not None else DEFAULT.report_sections)
    if not any(r.get("search") for r in records):
        left_out.add("search")
    return [(key, title) for key, title in SECTIONS if key not in left_out]


def _task(record: dict[str, Any]) -> Task:
    """The task of a record's pair."""
    return TASKS.get(record.get("task", DEFAULT.name), DEFAULT)


def _searched(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The search's section of each student a search wrote, once per student."""
    from pytest_compressguard.report.search_section import section

    found: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("search") and r["student"] not in found:
            found[r["student"]] = {"student": r["student"], "section": section(r["search"])}
    return list(found.values())


def _answers(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each QA pair's official scores per model, answer agreement and disagreements."""
    return [
        {
            "student": r["label"],
            "n": r["n"],
            "scores": list(r["squad"].items()),
            "agreement": r["answers"],
            "rows": r["answers"]["examples"][:20],
        }
        for r in records
        if r.get("squad") and r.get("answers")
    ]


def _status(record: dict[str, Any]) -> str:
    if record.get("error") or any(not c.passed for c in record["checks"]):
        return "fail"
    return "pass" if record["checks"] else "none"


def _label(record: dict[str, Any]) -> str:
    """The student, and its eval set's name when the session had several."""
    name = record.get("eval_set")
    return f"{record['student']} [{name}]" if name else record["student"]


def _verdict(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
                        "checks": len(r["checks"]),
                        "error": r.get("error"),
                        "failed": [c for c in r["checks"] if not c.passed],
                    }
                    for r in rows
                ],
            }
        )
    return cards


def _format(value: Any, name: str) -> str:
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
    """A check as the metric table's cell notes it: ``>= 0.9 (95% CI) k=5``."""
    text = f"{c.op} {c.threshold:g}"
    if c.interval is not None:
        text += f" ({c.confidence:.0%} CI)"
    if c.param_name is not None:
        text += f" batch {c.param}" if c.param_name == "batch" else f" {c.param_name}={c.param}"
    return text


def _metric_table(records: list[dict[str, Any]]) -> dict[str, Any]:
    groups = []
    for group, names in _GROUPS:
        rows = []
        for name in names:
            if all(metric_value(r, name) is None for r in records):
                continue
            cells = []
            for r in records:
                checks = [c for c in r["checks"] if c.metric == name]
                cells.append(
                    {
                        "value": metric_value(r, name),
                        "ci": (r.get("ci") or {}).get(name),
                        "state": ""
                        if not checks
                        else "failed"
                        if any(not c.passed for c in checks)
                        else "passed",
                        "marks": [(c.passed, _mark(c)) for c in checks],
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


def _knn(records: list[dict[str, Any]], colours: dict[str, str]) -> Markup | None:
    series = [
        (r["label"], colours[r["student"]], {int(k): v for k, v in sweep.items()})
        for r in records
        if (sweep := r["metrics"].get("knn_sweep"))
    ]
    return figures.knn_curves(series) if series else None


def _scatter(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "figure": figures.probability_scatter(sample),
            "student": r["label"],
            "shown": len(sample["teacher"]),
            "n": r["n"],
            "sampled": len(sample["teacher"]) < (r["n"] or 0),
        }
        for r in records
        if (sample := r.get("probability_sample"))
    ]


def _labels(record: dict[str, Any]) -> list[str]:
    per_class = record.get("per_class") or {}
    labels = per_class.get("labels")
    count = len(record.get("confusion_matrix") or per_class.get("teacher") or [])
    return [str(x) for x in labels] if labels else [str(i) for i in range(count)]


def _confusion(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shown = []
    for r in records:
        matrix = r.get("confusion_matrix")
        if not matrix:
            continue
        labels = _labels(r)
        if len(labels) <= MAX_CLASSES:
            shown.append(
                {"student": r["student"], "figure": figures.heatmap(matrix, labels, labels)}
            )
            continue
        cells = sorted(
            (
                (matrix[i][j], i, j)
                for i in range(len(labels))
                for j in range(len(labels))
                if i != j and matrix[i][j]
            ),
            reverse=True,
        )[:15]
        shown.append(
            {
                "student": r["label"],
                "figure": None,
                "cells": [(labels[i], labels[j], n) for n, i, j in cells],
            }
        )
    return shown


def _per_class(records: list[dict[str, Any]], colours: dict[str, str]) -> list[dict[str, Any]]:
    shown = []
    for r in records:
        table = r.get("per_class")
        if not table:
            continue
        labels = _labels(r)
        rows = [
            (labels[c], t, s, n)
            for c, (t, s, n) in enumerate(
                zip(table["teacher"], table["student"], table["support"], strict=True)
            )
            if t is not None and s is not None
        ]
        clipped = len(rows) > MAX_CLASSES
        if clipped:
            rows = sorted(rows, key=lambda row: row[1] - row[2], reverse=True)[:MAX_CLASSES]
        caption = _task(r).per_class_caption
        shown.append(
            {
                "figure": figures.class_bars(rows, r["label"], colours[r["student"]]),
                "clipped": MAX_CLASSES if clipped else None,
                "caption": caption,
            }
        )
    return shown


def _attack(records: list[dict[str, Any]], colours: dict[str, str]) -> dict[str, Any] | None:
    models: list[tuple[str, str, float, float]] = []
    for r in records:
        m = r["metrics"]
        if "student_attack_accuracy_before" not in m:
            continue
        if not models and "teacher_attack_accuracy_before" in m:
            before, after = m["teacher_attack_accuracy_before"], m["teacher_attack_accuracy_after"]
            models.append(("teacher", figures.TEACHER, before, after))
        before, after = m["student_attack_accuracy_before"], m["student_attack_accuracy_after"]
        models.append((r["label"], colours[r["student"]], before, after))
    if not models:
        return None
    attacked = [r for r in records if r.get("attack")]
    settings = attacked[0]["attack"] if attacked else {}
    validity = [
        (f"{r['label']}, {a['recipe']}", terminal.validity_line(a["validity"]))
        for r in records
        for a in terminal.attack_blocks(r)
        if a.get("validity")
    ]
    return {
        "figure": figures.attack_bars(models),
        "recipe": str(settings.get("recipe")) if settings else None,
        "examples": settings.get("examples"),
        "source": terminal.attack_source(settings),
        "validity": validity,
    }


def _pairwise(table: Pairwise | None) -> list[dict[str, Any]] | None:
    """A view of each pairwise table (one per eval set when there are several)."""
    if table is None:
        return None
    views = []
    for one in table if isinstance(table, list) else [table]:
        if "error" in one:
            views.append({"eval_set": one.get("eval_set"), "error": one["error"]})
            continue
        numbers = [str(i) for i in range(len(one["models"]))]
        shown = []
        for name in _PAIRWISE_SHOWN:
            matrix = one["metrics"].get(name)
            if not matrix or all(v is None for row in matrix for v in row):
                continue
            shown.append(
                {
                    "figure": figures.heatmap(matrix, numbers, numbers, scale=1.0),
                    "label": name + (f" (k={one['k']})" if name == "knn_agreement" else ""),
                }
            )
        views.append(
            {
                "eval_set": one.get("eval_set"),
                "error": None,
                "dataset": one["dataset"],
                "n": one["n"],
                "models": one["models"],
                "roles": one.get("roles") or ["teacher"] + ["student"] * (len(one["models"]) - 1),
                "figures": shown,
            }
        )
    return views


def _failures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
