"""The HTML report: one self-contained file (inline CSS and SVG; no script, no network).

Rendered from the same records as the JSON report (and the pairwise table), so an xdist
controller that never loaded a model writes the same page. Sections: verdict, metrics,
kNN agreement by k, probability scatter, confusion matrix, per-class accuracy, attack,
pairwise (when asked for) and the failed checks with the examples behind them.
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path
from typing import Any

from .. import __version__
from ..metrics.catalogue import CATALOGUE, GROUPS, METRICS
from .terminal import metric_value, summary

#: Okabe-Ito colours (distinguishable with colour-blindness); the teacher is grey.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
TEACHER = "#7a7a7a"
#: Outcome colours of the scatter: both right, both wrong, only the teacher right, only the
#: student right.
OUTCOMES = (
    ("both right", "#9ab7d3"),
    ("both wrong", "#555555"),
    ("student loses", "#D55E00"),
    ("student gains", "#009E73"),
)
#: At most this many classes are drawn in the per-class and confusion figures.
MAX_CLASSES = 20
SECTIONS = (
    ("verdict", "Verdict"),
    ("metrics", "Metrics"),
    ("knn", "kNN agreement by k"),
    ("scatter", "Teacher vs student probabilities"),
    ("confusion", "Confusion matrices"),
    ("per-class", "Per-class accuracy"),
    ("attack", "Adversarial attack"),
    ("pairwise", "Pairwise"),
    ("failures", "Failed checks"),
)
_GROUPS = tuple(
    (title, [m.name for m in CATALOGUE if m.group == group and m.shown])
    for group, title in GROUPS.items()
)
_PAIRWISE_SHOWN = tuple(m.name for m in CATALOGUE if m.pairwise_figure)

CSS = """
:root { color-scheme: light; --ink: #1d1d1f; --muted: #5f6368; --line: #d9d9de;
  --fail: #b3261e; --pass: #1e7b34; --fail-bg: #fdecea; --pass-bg: #e8f5ea; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1180px; padding: 24px 28px 48px; color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 12px 0 6px; }
p, li { max-width: 78ch; }
.muted { color: var(--muted); }
.mono, code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
code { font-size: 12.5px; word-break: break-all; }
nav { margin: 10px 0 0; font-size: 13px; }
nav a { margin-right: 12px; color: #0b57d0; text-decoration: none; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px;
  }
.card { border: 1px solid var(--line); border-left-width: 6px; border-radius: 6px;
  padding: 10px 14px; }
.card.fail { border-left-color: var(--fail); } .card.pass { border-left-color: var(--pass); }
.card.none { border-left-color: var(--line); }
.badge { display: inline-block; font-weight: 700; font-size: 12px; letter-spacing: .04em;
  padding: 2px 8px; border-radius: 10px; margin-right: 6px; }
.fail .badge, .badge.fail { background: var(--fail-bg); color: var(--fail); }
.pass .badge, .badge.pass { background: var(--pass-bg); color: var(--pass); }
.none .badge { background: #f1f1f4; color: var(--muted); }
.headline { font-size: 16px; font-weight: 600; margin: 6px 0 2px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: right;
  vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
thead th { position: sticky; top: 0; background: #fff; font-weight: 600; }
tr.group td { background: #f6f6f8; font-weight: 600; text-align: left; }
td.failed { background: var(--fail-bg); } td.passed { background: var(--pass-bg); }
.ci { display: block; color: var(--muted); font-size: 11.5px; white-space: nowrap; }
.check { display: block; font-size: 11.5px; white-space: nowrap; }
.check.ok { color: var(--pass); } .check.bad { color: var(--fail); font-weight: 600; }
.scroll { overflow-x: auto; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr));
  gap: 16px; }
figure { margin: 0; } figcaption { font-size: 12.5px; color: var(--muted); margin-top: 4px; }
svg.plot { width: 100%; height: auto; display: block; }
svg text { font-family: system-ui, sans-serif; fill: #333; }
.legend { font-size: 12.5px; margin: 4px 0; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin: 0 4px 0 10px; }
pre.message { background: #f6f6f8; border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 12px; font-size: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, .card, pre.message, tr { break-inside: avoid; }
  thead th { position: static; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def write(
    path: str | Path, records: list[dict[str, Any]], pairwise: dict[str, Any] | None = None
) -> Path:
    """Write the report (creating parent directories) and return its path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(records, pairwise), encoding="utf-8")
    return target


def render(records: list[dict[str, Any]], pairwise: dict[str, Any] | None = None) -> str:
    """The report as one HTML document (records as the session or the JSON report holds
    them)."""
    from .record import from_json

    records = [from_json(r) for r in records]
    colours = {r["student"]: PALETTE[i % len(PALETTE)] for i, r in enumerate(records)}
    sections = {
        "verdict": _verdict(records),
        "metrics": _metric_table(records),
        "knn": _knn(records, colours),
        "scatter": _scatter(records),
        "confusion": _confusion(records),
        "per-class": _per_class(records, colours),
        "attack": _attack(records, colours),
        "pairwise": _pairwise(pairwise),
        "failures": _failures(records),
    }
    teachers = sorted({r["teacher"] for r in records})
    datasets = sorted({f"{r['dataset']} (n={r['n']})" for r in records})
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title in SECTIONS)
    body = "".join(
        f'<section id="{key}"><h2>{escape(title)}</h2>{sections[key]}</section>'
        for key, title in SECTIONS
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>compressguard report</title>"
        f"<style>{CSS}</style></head><body>"
        "<header><h1>compressguard report</h1>"
        f'<div class="muted">teacher: <code>{_join(teachers)}</code> &nbsp; data: '
        f"<code>{_join(datasets)}</code> &nbsp; students: {len(records)}</div>"
        f"<nav>{nav}</nav></header>{body}"
        f"<footer>pytest-compressguard {escape(__version__)}</footer></body></html>\n"
    )


# -- sections ------------------------------------------------------------------------------


def _status(record: dict[str, Any]) -> str:
    if record.get("error") or any(not c.passed for c in record["checks"]):
        return "fail"
    return "pass" if record["checks"] else "none"


def _verdict(records: list[dict[str, Any]]) -> str:
    if not records:
        return "<p>No comparison was made in this session.</p>"
    cards = []
    for r in records:
        status = _status(r)
        failed = [c for c in r["checks"] if not c.passed]
        passed = len(r["checks"]) - len(failed)
        badge = {"fail": "REJECT", "pass": "ACCEPT", "none": "NO CHECKS"}[status]
        lines = [
            f'<div class="card {status}"><span class="badge">{badge}</span>'
            f"<code>{escape(r['student'])}</code>",
            f'<div class="headline">{escape(summary(r) or "no metrics measured")}</div>',
            f'<div class="muted">{passed} of {len(r["checks"])} checks passed</div>',
        ]
        if r.get("error"):
            lines.append(f'<div class="check bad">error: {escape(r["error"])}</div>')
        for c in failed:
            lines.append(
                f'<div class="check bad">&#10007; {escape(c.label)} = '
                f"{c.value:.4f}, needs {escape(c.op)} {c.threshold:g}</div>"
            )
        cards.append("".join(lines) + "</div>")
    return f'<div class="cards">{"".join(cards)}</div>'


def _format(name: str, value: Any) -> str:
    if value is None:
        return "&ndash;"
    display = METRICS[name].display
    if display == "bytes":
        exponent = min(3, max(0, int(math.log(max(value, 1), 1024))))
        return f"{value / 1024**exponent:,.1f} {('B', 'KiB', 'MiB', 'GiB')[exponent]}"
    if display == "count":
        exponent = min(3, max(0, int(math.log10(max(value, 1)) // 3)))
        return f"{value / 1000**exponent:,.{1 if exponent else 0}f}{('', 'k', 'M', 'G')[exponent]}"
    if display == "times":
        return f"{value:.2f}&times;"
    if display == "queries":
        return f"{value:.1f}"
    return f"{value:.4f}"


def _metric_table(records: list[dict[str, Any]]) -> str:
    if not records:
        return "<p>No metrics.</p>"
    head = "".join(f"<th><code>{escape(r['student'])}</code></th>" for r in records)
    rows = []
    for group, names in _GROUPS:
        shown = [n for n in names if any(metric_value(r, n) is not None for r in records)]
        if not shown:
            continue
        rows.append(f'<tr class="group"><td colspan="{len(records) + 1}">{group}</td></tr>')
        for name in shown:
            cells = []
            for r in records:
                checks = [c for c in r["checks"] if c.metric == name]
                marks = "".join(
                    f'<span class="check {"ok" if c.passed else "bad"}">'
                    f"{'&#10003;' if c.passed else '&#10007;'} {escape(c.op)} "
                    f"{c.threshold:g}"
                    + (f" ({c.confidence:.0%} CI)" if c.interval is not None else "")
                    + (f" {_param(c)}" if c.param_name is not None else "")
                    + "</span>"
                    for c in checks
                )
                ci = (r.get("ci") or {}).get(name)
                interval = f'<span class="ci">[{ci[0]:.4f}, {ci[1]:.4f}]</span>' if ci else ""
                state = (
                    ""
                    if not checks
                    else ' class="failed"'
                    if any(not c.passed for c in checks)
                    else ' class="passed"'
                )
                cells.append(
                    f"<td{state}>{_format(name, metric_value(r, name))}{interval}{marks}</td>"
                )
            rows.append(f"<tr><td><code>{escape(name)}</code></td>{''.join(cells)}</tr>")
    unavailable = []
    for r in records:
        reasons: dict[str, list[str]] = {}
        for metric, why in (r.get("unavailable") or {}).items():
            reasons.setdefault(why, []).append(metric)
        for why, metrics in reasons.items():
            unavailable.append(
                f"<li><code>{escape(r['student'])}</code>: {escape(', '.join(metrics))}: "
                f"{escape(why)}</li>"
            )
    note = (
        '<p class="muted">Intervals: 95% paired-bootstrap percentile intervals. '
        "&#10003;/&#10007;: the thresholds the tests asserted.</p>"
    )
    missing = f"<h3>Not measured</h3><ul>{''.join(unavailable)}</ul>" if unavailable else ""
    return (
        f'{note}<div class="scroll"><table><thead><tr><th>metric</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>{missing}"
    )


def _knn(records: list[dict[str, Any]], colours: dict[str, str]) -> str:
    series = [
        (r["student"], colours[r["student"]], {int(k): v for k, v in sweep.items()})
        for r in records
        if (sweep := r["metrics"].get("knn_sweep"))
    ]
    if not series:
        return "<p>No embeddings were compared in this session.</p>"
    ks = sorted({k for _, _, points in series for k in points})
    w, h, left, right, top, bottom = 640, 300, 48, 16, 14, 40
    xs = {
        k: left + (w - left - right) * (math.log(k) / math.log(max(ks)) if max(ks) > 1 else 0)
        for k in ks
    }
    parts = _axes(
        w,
        h,
        left,
        right,
        top,
        bottom,
        "k (nearest neighbours, log scale)",
        "mean Jaccard of the k-NN sets",
    )
    for k in ks:
        parts.append(
            f'<text x="{xs[k]:.1f}" y="{h - bottom + 16}" text-anchor="middle" '
            f'font-size="11">{k}</text>'
        )
    for name, colour, points in series:
        coords = [(xs[k], _y(v, h, top, bottom)) for k, v in sorted(points.items())]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            + '"/>'
        )
        for (k, v), (x, y) in zip(sorted(points.items()), coords, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}">'
                f"<title>{escape(name)}: k={k}, {v:.4f}</title></circle>"
            )
    legend = _legend([(name, colour) for name, colour, _ in series])
    return (
        f"<figure>{_svg(w, h, ''.join(parts), 'kNN agreement against k')}{legend}"
        "<figcaption>How many of each example's nearest neighbours (cosine, eval embeddings) "
        "the student shares with the teacher, for each k (Rai et al., Figure 1). 1 = the same "
        "neighbourhoods.</figcaption></figure>"
    )


def _scatter(records: list[dict[str, Any]]) -> str:
    figures = []
    for r in records:
        sample = r.get("probability_sample")
        if not sample:
            continue
        w = h = 320
        left, right, top, bottom = 44, 12, 12, 40
        parts = _axes(
            w,
            h,
            left,
            right,
            top,
            bottom,
            "teacher P(gold label)",
            "student P(gold label)",
            x_ticks=True,
        )
        x0, x1 = left, w - right
        parts.append(
            f'<line x1="{x0}" y1="{_y(0, h, top, bottom):.1f}" x2="{x1}" '
            f'y2="{_y(1, h, top, bottom):.1f}" stroke="#bbb" stroke-dasharray="4 3"/>'
        )
        counts = [0, 0, 0, 0]
        points = zip(
            sample["teacher"],
            sample["student"],
            sample["teacher_right"],
            sample["student_right"],
            strict=True,
        )
        for t, s, tr, sr in points:
            outcome = 0 if tr and sr else 1 if not (tr or sr) else 2 if tr else 3
            counts[outcome] += 1
            x = x0 + (x1 - x0) * t
            parts.append(
                f'<circle cx="{x:.1f}" cy="{_y(s, h, top, bottom):.1f}" r="2.4" '
                f'fill="{OUTCOMES[outcome][1]}" fill-opacity="{0.45 if outcome < 2 else 0.9}"/>'
            )
        legend = _legend(
            [(f"{name} ({n})", colour) for (name, colour), n in zip(OUTCOMES, counts, strict=True)]
        )
        shown = len(sample["teacher"])
        figures.append(
            f"<figure>{_svg(w, h, ''.join(parts), 'probability scatter')}{legend}"
            f"<figcaption><code>{escape(r['student'])}</code>: {shown} of {r['n']} examples"
            f"{' (a seeded sample)' if shown < (r['n'] or 0) else ''}. Points off the "
            "diagonal are examples the models are not equally sure of.</figcaption></figure>"
        )
    if not figures:
        return "<p>No predictions were compared in this session.</p>"
    return f'<div class="figures">{"".join(figures)}</div>'


def _labels(record: dict[str, Any]) -> list[str]:
    per_class = record.get("per_class") or {}
    labels = per_class.get("labels")
    count = len(record.get("confusion_matrix") or per_class.get("teacher") or [])
    return [str(x) for x in labels] if labels else [str(i) for i in range(count)]


def _confusion(records: list[dict[str, Any]]) -> str:
    figures = []
    for r in records:
        matrix = r.get("confusion_matrix")
        if not matrix:
            continue
        labels = _labels(r)
        caption = (
            f"<figcaption><code>{escape(r['student'])}</code>: rows are the teacher's "
            "predicted labels, columns the student's; off-diagonal cells are disagreements."
            "</figcaption>"
        )
        if len(labels) > MAX_CLASSES:
            cells = sorted(
                (
                    (matrix[i][j], i, j)
                    for i in range(len(labels))
                    for j in range(len(labels))
                    if i != j and matrix[i][j]
                ),
                reverse=True,
            )[:15]
            rows = "".join(
                f"<tr><td>{escape(labels[i])}</td><td>{escape(labels[j])}</td><td>{n}</td></tr>"
                for n, i, j in cells
            )
            figures.append(
                f"<figure><table><thead><tr><th>teacher says</th><th>student says</th>"
                f"<th>examples</th></tr></thead><tbody>{rows}</tbody></table>{caption}"
                "</figure>"
            )
            continue
        figures.append(f"<figure>{_heatmap(matrix, labels, labels)}{caption}</figure>")
    if not figures:
        return "<p>No predictions were compared in this session.</p>"
    return f'<div class="figures">{"".join(figures)}</div>'


def _per_class(records: list[dict[str, Any]], colours: dict[str, str]) -> str:
    figures = []
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
        note = ""
        if len(rows) > MAX_CLASSES:
            rows = sorted(rows, key=lambda row: row[1] - row[2], reverse=True)[:MAX_CLASSES]
            note = f" The {MAX_CLASSES} classes with the largest drop."
        bar, gap, left = 9, 8, 130
        w = 560
        h = len(rows) * (2 * bar + gap) + 34
        scale = w - left - 60
        parts = []
        for tick in (0, 0.25, 0.5, 0.75, 1):
            x = left + scale * tick
            parts.append(
                f'<line x1="{x:.1f}" y1="4" x2="{x:.1f}" y2="{h - 26}" stroke="#eee"/>'
                f'<text x="{x:.1f}" y="{h - 12}" text-anchor="middle" font-size="11">'
                f"{tick:g}</text>"
            )
        for i, (label, t, s, n) in enumerate(rows):
            y = 6 + i * (2 * bar + gap)
            parts.append(
                f'<text x="{left - 6}" y="{y + bar + 3}" text-anchor="end" '
                f'font-size="11">{escape(_clip(label, 20))} ({n})</text>'
            )
            for j, (value, colour) in enumerate(((t, TEACHER), (s, colours[r["student"]]))):
                parts.append(
                    f'<rect x="{left}" y="{y + j * bar}" width="{scale * value:.1f}" '
                    f'height="{bar - 1}" fill="{colour}"><title>{escape(label)}: '
                    f"{'teacher' if j == 0 else 'student'} {value:.4f}</title></rect>"
                    f'<text x="{left + scale * value + 4:.1f}" y="{y + j * bar + bar - 2}" '
                    f'font-size="10">{value:.3f}</text>'
                )
        legend = _legend([("teacher", TEACHER), (r["student"], colours[r["student"]])])
        figures.append(
            f"<figure>{_svg(w, h, ''.join(parts), 'per-class accuracy')}{legend}"
            f"<figcaption>Accuracy on each class (its number of eval examples in brackets)."
            f"{note}</figcaption></figure>"
        )
    if not figures:
        return "<p>No gold labels were compared in this session.</p>"
    return f'<div class="figures">{"".join(figures)}</div>'


def _attack(records: list[dict[str, Any]], colours: dict[str, str]) -> str:
    models: list[tuple[str, str, float, float]] = []
    for r in records:
        m = r["metrics"]
        if "student_attack_accuracy_before" not in m:
            continue
        if not models and "teacher_attack_accuracy_before" in m:
            models.append(
                (
                    "teacher",
                    TEACHER,
                    m["teacher_attack_accuracy_before"],
                    m["teacher_attack_accuracy_after"],
                )
            )
        models.append(
            (
                r["student"],
                colours[r["student"]],
                m["student_attack_accuracy_before"],
                m["student_attack_accuracy_after"],
            )
        )
    if not models:
        return (
            "<p>No attack ran in this session: BERT-Attack runs only when a test asks for an "
            "attack metric (<code>assert_attack_drop</code>, ...).</p>"
        )
    group, bar = 150, 44
    w, h, left, top, bottom = max(360, 60 + group * len(models)), 280, 48, 16, 64
    parts = _axes(w, h, left, 12, top, bottom, "", "accuracy on the attacked examples")
    for i, (name, colour, before, after) in enumerate(models):
        x = left + 20 + i * group
        for j, (value, label) in enumerate(((before, "before"), (after, "after"))):
            y = _y(value, h, top, bottom)
            opacity = 1.0 if j == 0 else 0.45
            parts.append(
                f'<rect x="{x + j * (bar + 6)}" y="{y:.1f}" width="{bar}" '
                f'height="{h - bottom - y:.1f}" fill="{colour}" fill-opacity="{opacity}">'
                f"<title>{escape(name)} {label}: {value:.4f}</title></rect>"
                f'<text x="{x + j * (bar + 6) + bar / 2}" y="{y - 4:.1f}" text-anchor="middle" '
                f'font-size="11">{value:.2f}</text>'
                f'<text x="{x + j * (bar + 6) + bar / 2}" y="{h - bottom + 14}" '
                f'text-anchor="middle" font-size="10">{label}</text>'
            )
        drop = (before - after) / before if before else 0.0
        parts.append(
            f'<text x="{x + bar + 3}" y="{h - bottom + 30}" text-anchor="middle" '
            f'font-size="11">{escape(_clip(name, 22, keep_end=True))}</text>'
            f'<text x="{x + bar + 3}" y="{h - bottom + 44}" text-anchor="middle" '
            f'font-size="10" fill="#666">drop {drop:.0%}</text>'
        )
    settings = next((r["attack"] for r in records if r.get("attack")), {})
    detail = (
        f" {escape(str(settings.get('recipe', 'BERT-Attack')))} on {settings.get('examples')} "
        f"eval examples, masked LM <code>{escape(str(settings.get('mlm')))}</code>."
        if settings
        else ""
    )
    return (
        f"<figure>{_svg(w, h, ''.join(parts), 'accuracy before and after the attack')}"
        f"<figcaption>Accuracy on the attacked examples before (solid) and after (pale) the "
        f"attack, and the relative drop.{detail}</figcaption></figure>"
    )


def _pairwise(table: dict[str, Any] | None) -> str:
    if table is None:
        return (
            "<p>Not asked for: pass <code>--compressguard-pairwise</code> with several "
            "<code>--student</code>.</p>"
        )
    if "error" in table:
        return f"<p>Not computed: {escape(table['error'])}</p>"
    models = table["models"]
    legend = "".join(
        f"<li>[{i}] {'teacher' if i == 0 else 'student'} <code>{escape(spec)}</code></li>"
        for i, spec in enumerate(models)
    )
    numbers = [str(i) for i in range(len(models))]
    figures = []
    for name in _PAIRWISE_SHOWN:
        matrix = table["metrics"].get(name)
        if not matrix or all(v is None for row in matrix for v in row):
            continue
        label = name + (f" (k={table['k']})" if name == "knn_agreement" else "")
        figures.append(
            f"<figure>{_heatmap(matrix, numbers, numbers, scale=1.0)}"
            f"<figcaption><code>{escape(label)}</code>: row = the model in the teacher's "
            "role</figcaption></figure>"
        )
    return (
        f"<p>Every pair among the teacher and the students on {escape(str(table['dataset']))} "
        f"(n={table['n']}); every metric's full matrix is in the JSON report.</p>"
        f'<ul class="mono">{legend}</ul><div class="figures">{"".join(figures)}</div>'
    )


def _failures(records: list[dict[str, Any]]) -> str:
    blocks = []
    for r in records:
        for c in r["checks"]:
            if c.passed:
                continue
            message = c.message or (f"{c.label} = {c.value:.4f}, needs {c.op} {c.threshold:g}")
            blocks.append(
                f'<h3><span class="badge fail">FAILED</span><code>{escape(r["student"])}'
                f"</code>: {escape(c.label)}</h3>"
                f'<div class="muted">in <code>{escape(c.test or "outside a test")}'
                f'</code></div><pre class="message">{escape(message)}</pre>'
            )
    if not blocks:
        return "<p>No check failed.</p>"
    return "".join(blocks)


def _param(c: Any) -> str:
    return f"batch {c.param}" if c.param_name == "batch" else f"{c.param_name}={c.param}"


# -- drawing -------------------------------------------------------------------------------


def _svg(w: int, h: int, body: str, label: str) -> str:
    return (
        f'<svg class="plot" viewBox="0 0 {w} {h}" style="max-width:{w}px" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _y(value: float, h: int, top: int, bottom: int) -> float:
    return top + (h - top - bottom) * (1 - max(0.0, min(1.0, value)))


def _axes(
    w: int,
    h: int,
    left: int,
    right: int,
    top: int,
    bottom: int,
    x_label: str,
    y_label: str,
    *,
    x_ticks: bool = False,
) -> list[str]:
    """Grid lines and labels of a [0, 1] y axis (and x axis with ``x_ticks``)."""
    parts = []
    for tick in (0, 0.25, 0.5, 0.75, 1):
        y = _y(tick, h, top, bottom)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{tick:g}</text>"
        )
        if x_ticks:
            x = left + (w - left - right) * tick
            parts.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{h - bottom}" stroke="#eee"/>'
                f'<text x="{x:.1f}" y="{h - bottom + 15}" text-anchor="middle" '
                f'font-size="11">{tick:g}</text>'
            )
    parts.append(
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#999"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#999"/>'
        f'<text x="{(left + w - right) / 2}" y="{h - 6}" text-anchor="middle" font-size="12">'
        f"{escape(x_label)}</text>"
        f'<text transform="translate(13 {(top + h - bottom) / 2}) rotate(-90)" '
        f'text-anchor="middle" font-size="12">{escape(y_label)}</text>'
    )
    return parts


def _heatmap(
    matrix: list[list[Any]], rows: list[str], columns: list[str], scale: float | None = None
) -> str:
    """Cells shaded by value (by the largest count when ``scale`` is None), numbers inside."""
    size = max(26, min(56, 420 // max(1, len(columns))))
    left = 12 + 7 * min(16, max(len(r) for r in rows))
    top = 12 + 7 * min(12, max(len(c) for c in columns))
    w, h = left + size * len(columns) + 8, top + size * len(rows) + 8
    values = [v for row in matrix for v in row if v is not None]
    top_value = scale or max(values, default=1) or 1
    parts = []
    for j, column in enumerate(columns):
        x = left + size * j + size / 2
        parts.append(
            f'<text transform="translate({x:.1f} {top - 6}) rotate(-40)" font-size="11">'
            f"{escape(_clip(column, 12))}</text>"
        )
    for i, row in enumerate(rows):
        y = top + size * i
        parts.append(
            f'<text x="{left - 6}" y="{y + size / 2 + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(_clip(row, 16))}</text>"
        )
        for j, value in enumerate(matrix[i]):
            x = left + size * j
            if value is None:
                parts.append(
                    f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="#f6f6f8" '
                    'stroke="#fff"/>'
                )
                continue
            share = max(0.0, min(1.0, value / top_value))
            fill = f"rgb({int(255 - 200 * share)},{int(255 - 140 * share)},{int(255 - 60 * share)})"
            ink = "#fff" if share > 0.6 else "#222"
            text = f"{value:.2f}" if isinstance(value, float) else f"{value}"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{fill}" '
                f'stroke="#fff"><title>{escape(row)} / {escape(columns[j])}: {text}</title></rect>'
                f'<text x="{x + size / 2}" y="{y + size / 2 + 4}" text-anchor="middle" '
                f'font-size="{10 if size < 40 else 11}" fill="{ink}" style="fill:{ink}">{text}'
                "</text>"
            )
    return _svg(w, h, "".join(parts), "heatmap")


def _legend(entries: list[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span class="swatch" style="background:{colour}"></span>{escape(name)}'
            for name, colour in entries
        )
        + "</div>"
    )


def _clip(text: str, width: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``width`` characters (keeping its end: a path's last parts)."""
    if len(text) <= width:
        return text
    return "\u2026" + text[-(width - 1) :] if keep_end else text[: width - 1] + "\u2026"


def _join(items: list[str]) -> str:
    return ", ".join(escape(item) for item in items) or "&ndash;"
