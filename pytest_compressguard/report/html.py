"""The HTML report: one self-contained file (inline CSS and SVG; no script, no network).

Rendered from the same records as the JSON report (and the pairwise table), so an xdist
controller that never loaded a model writes the same page. The page is the Jinja2 template
``templates/report.html`` (autoescaped) with the stylesheet ``templates/report.css``
inlined; the figures come from ``figures.py``, the verdict cards, the metric table and the
failed checks from ``checks_section.py``. Sections: verdict, metrics, kNN agreement by
k, probability scatter, confusion matrix, per-class accuracy, attack, pairwise (when asked
for), the failed checks with the examples behind them, and for a student that
``compressguard search`` wrote, how the search found it.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from pytest_compressguard.core.version import __version__
from pytest_compressguard.metrics.catalogue import CATALOGUE
from pytest_compressguard.report import checks_section, figures, terminal, tokens_section
from pytest_compressguard.tasks import DEFAULT, TASKS, Task

#: At most this many classes are drawn in the per-class and confusion figures.
MAX_CLASSES = 20
#: The narrowest column of a grid of figures (CSS px); a grid's columns are as wide as its
#: widest figure, so that no figure is drawn smaller than its own size where the page allows.
COLUMN = 340
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
    content = {
        "verdict": checks_section.verdict(records),
        "metrics": checks_section.metric_table(records),
        "knn": _knn(records, colours),
        "scatter": _scatter(records),
        "confusion": _confusion(records),
        "per_class": _per_class(records, colours),
        "attack": _attack(records, colours),
        "pairwise": _pairwise(pairwise),
        "failures": checks_section.failures(records),
        "answers": _answers(records),
        "tokens": tokens_section.rows(records, colours),
        "searched": _searched(records),
    }
    shown = sections(records)
    return _template().render(
        css=Markup(resources.files(__package__).joinpath("templates/report.css").read_text()),
        version=__version__,
        sections=shown,
        menu=menu(shown, content),
        teachers=sorted({r["teacher"] for r in records}),
        datasets=sorted({f"{r['dataset']} (n={r['n']})" for r in records}),
        students=len(records),
        columns={
            key: column([item["figure"] for item in content[key]])
            for key in ("scatter", "confusion", "per_class")
        },
        **content,
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
    environment.filters["metric"] = checks_section.format_metric
    environment.filters["model"] = checks_section.model_name
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


#: The content each section shows (a key of :func:`render`'s ``content``).
_CONTENT = {"per-class": "per_class", "search": "searched"}


def menu(shown: list[tuple[str, str]], content: dict[str, Any]) -> list[tuple[str, str]]:
    """The sections of ``shown`` that have content (the menu lists no empty section: one
    that only says why it is empty stays on the page, out of the menu)."""
    full = [(key, title) for key, title in shown if content[_CONTENT.get(key, key)]]
    return full if full else shown[:1]


def column(shown: list[Markup | None]) -> int:
    """The narrowest column (CSS px) a grid of these figures needs: its widest figure's."""
    return max([COLUMN, *(figures.width(f) for f in shown if f is not None)])


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


def _label(record: dict[str, Any]) -> str:
    """The student, and its eval set's name when the session had several."""
    name = record.get("eval_set")
    return f"{record['student']} [{name}]" if name else record["student"]


def _knn(records: list[dict[str, Any]], colours: dict[str, str]) -> Markup | None:
    series = [
        (r["label"], colours[r["student"]], {int(k): v for k, v in sweep.items()})
        for r in records
        if (sweep := r["metrics"].get("knn_sweep"))
    ]
    asserted = [
        found
        for r in records
        for found in _asserted(r, "knn_agreement")
        if isinstance(found[2], int)
    ]
    return figures.knn_curves(series, tuple(dict.fromkeys(asserted))) if series else None


def _asserted(record: dict[str, Any], metric: str) -> list[tuple[str, float, Any]]:
    """The (op, threshold, param) of each assertion of ``metric`` on the record, run or not."""
    return [
        (c.op, c.threshold, c.param)
        for c in (*record["checks"], *(record.get("not_run") or ()))
        if c.metric == metric and c.threshold is not None
    ]


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
        allowed = [t for op, t, _ in _asserted(r, "worst_class_drop")]
        shown.append(
            {
                "figure": figures.class_bars(
                    rows, r["label"], colours[r["student"]], min(allowed, default=None)
                ),
                "clipped": MAX_CLASSES if clipped else None,
                "caption": caption,
            }
        )
    return shown


def _attack(records: list[dict[str, Any]], colours: dict[str, str]) -> dict[str, Any] | None:
    models: list[tuple[str, str, float, float]] = []
    floors: dict[str, float] = {}
    for r in records:
        m = r["metrics"]
        if "student_attack_accuracy_before" not in m:
            continue
        if not models and "teacher_attack_accuracy_before" in m:
            before, after = m["teacher_attack_accuracy_before"], m["teacher_attack_accuracy_after"]
            models.append(("teacher", figures.TEACHER, before, after))
        before, after = m["student_attack_accuracy_before"], m["student_attack_accuracy_after"]
        models.append((r["label"], colours[r["student"]], before, after))
        teacher_drop = m.get("teacher_attack_drop")
        first = (None, (r.get("attack") or {}).get("recipe"))  # the figure's recipe
        allowed = [t for _, t, recipe in _asserted(r, "student_attack_drop") if recipe in first]
        allowed += [
            teacher_drop + t
            for _, t, recipe in _asserted(r, "attack_drop_gap")
            if recipe in first and teacher_drop is not None
        ]
        if allowed:
            floors[r["label"]] = before * (1 - min(allowed))
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
        "figure": figures.attack_bars(models, floors),
        "floors": bool(floors),
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
                "column": column([f["figure"] for f in shown]),
            }
        )
    return views
