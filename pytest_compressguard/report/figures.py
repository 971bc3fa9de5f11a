"""The HTML report's figures: SVG drawn by our own code (no JavaScript, no network).

Each function takes plain numbers and returns ``Markup`` (the template inserts it as is);
every piece of text that reaches the SVG passes through ``escape``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from markupsafe import Markup, escape

#: Okabe-Ito colours (distinguishable with colour-blindness); the teacher is grey.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
TEACHER = "#7a7a7a"
#: The colour of an asserted threshold, and how its comparison reads.
THRESHOLD = "#b3261e"
SYMBOLS = {">=": "\u2265", "<=": "\u2264"}
#: Outcome colours of the scatter: both right, both wrong, only the teacher right, only the
#: student right.
OUTCOMES = (
    ("both right", "#9ab7d3"),
    ("both wrong", "#555555"),
    ("student loses", "#D55E00"),
    ("student gains", "#009E73"),
)


def knn_curves(
    series: list[tuple[str, str, dict[int, float]]],
    thresholds: tuple[tuple[str, float, int], ...] = (),
) -> Markup:
    """kNN agreement against k (log x axis): one line per (name, colour, {k: value}), and a
    dashed line for each asserted (op, threshold, k), marked at its k."""
    ks = sorted({k for _, _, points in series for k in points} | {k for *_, k in thresholds})
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
    for i, (op, value, k) in enumerate(thresholds):
        y = _y(value, h, top, bottom)
        text = f"asserted {SYMBOLS.get(op, op)} {value:g} at k={k}"
        parts.append(
            f'<g class="threshold"><line x1="{left}" y1="{y:.1f}" x2="{w - right}" '
            f'y2="{y:.1f}" stroke="{THRESHOLD}" stroke-width="1.5" stroke-dasharray="6 4"/>'
            f'<path d="M{xs[k]:.1f} {y - 5:.1f}l5 5l-5 5l-5 -5z" fill="{THRESHOLD}">'
            f"<title>{escape(text)}</title></path>"
            f'<text x="{w - right - 4}" y="{y - 5 - 13 * i:.1f}" text-anchor="end" '
            f'font-size="11" style="fill:{THRESHOLD}">{escape(text)}</text></g>'
        )
    legend = _legend([(name, colour) for name, colour, _ in series])
    return _svg(w, h, "".join(parts), "kNN agreement against k") + legend


def probability_scatter(sample: dict[str, list[Any]]) -> Markup:
    """Teacher against student P(gold) for each sampled example, coloured by outcome."""
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
    return _svg(w, h, "".join(parts), "probability scatter") + legend


def class_bars(
    rows: list[tuple[str, float, float, int]],
    student: str,
    colour: str,
    allowed: float | None = None,
) -> Markup:
    """Teacher and student accuracy per class: rows of (label, teacher, student, support);
    with an asserted largest drop ``allowed``, a dash on each student bar where it must reach
    (the teacher's accuracy minus ``allowed``)."""
    bar, gap, left = 9, 8, 130
    w = 520  # two abreast in the page's column
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
            f'font-size="11">{escape(clip(label, 20))} ({n})</text>'
        )
        for j, (value, fill) in enumerate(((t, TEACHER), (s, colour))):
            parts.append(
                f'<rect x="{left}" y="{y + j * bar}" width="{scale * value:.1f}" '
                f'height="{bar - 1}" fill="{fill}"><title>{escape(label)}: '
                f"{'teacher' if j == 0 else 'student'} {value:.4f}</title></rect>"
                f'<text x="{left + scale * value + 4:.1f}" y="{y + j * bar + bar - 2}" '
                f'font-size="10">{value:.3f}</text>'
            )
        if allowed is not None:
            floor = max(0.0, min(1.0, t - allowed))
            parts.append(_dash(left + scale * floor, y + bar - 2, y + 2 * bar + 1, t - allowed))
    entries = [("teacher", TEACHER), (student, colour)]
    if allowed is not None:
        entries.append((f"the least worst_class_drop \u2264 {allowed:g} allows", THRESHOLD))
    return _svg(w, h, "".join(parts), "per-class accuracy") + _legend(entries)


def _dash(x: float, y1: float, y2: float, value: float) -> str:
    """A vertical threshold mark at ``x`` from ``y1`` to ``y2`` (its ``value`` on hover)."""
    return (
        f'<line class="threshold" x1="{x:.1f}" y1="{y1:.1f}" x2="{x:.1f}" y2="{y2:.1f}" '
        f'stroke="{THRESHOLD}" stroke-width="2"><title>needs {SYMBOLS[">="]} {value:.4f}'
        "</title></line>"
    )


def attack_bars(
    models: list[tuple[str, str, float, float]], floors: dict[str, float] | None = None
) -> Markup:
    """Accuracy before and after the attack: (name, colour, before, after) per model; a
    model's floor (the lowest accuracy after that its asserted drop allows) is a dashed line
    across its after bar."""
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
        floor = (floors or {}).get(name)
        if floor is not None:
            y = _y(floor, h, top, bottom)
            x0 = x + bar + 6
            parts.append(
                f'<line class="threshold" x1="{x0 - 4}" y1="{y:.1f}" x2="{x0 + bar + 4}" '
                f'y2="{y:.1f}" stroke="{THRESHOLD}" stroke-width="2" stroke-dasharray="5 3">'
                f"<title>{escape(name)}: the asserted drop needs after "
                f"{SYMBOLS['>=']} {floor:.4f}</title></line>"
            )
        drop = (before - after) / before if before else 0.0
        parts.append(
            f'<text x="{x + bar + 3}" y="{h - bottom + 30}" text-anchor="middle" '
            f'font-size="11">{escape(clip(name, 22, keep_end=True))}</text>'
            f'<text x="{x + bar + 3}" y="{h - bottom + 44}" text-anchor="middle" '
            f'font-size="10" fill="#666">drop {drop:.0%}</text>'
        )
    return _svg(w, h, "".join(parts), "accuracy before and after the attack")


def sensitivity_bars(rows: list[tuple[str, bool, list[float]]], requirements: list[str]) -> Markup:
    """Each group's gain on each requirement when it alone is kept in float32: rows of
    (group, kept in the result, [gain per requirement]); a gain is in the requirement's
    units, positive toward passing. Bars of a kept group are drawn solid, others faded."""
    bar, gap, left, w = 8, 10, 300, 780
    per = max(1, len(requirements))
    h = len(rows) * (per * bar + gap) + 40
    largest = max((abs(g) for _, _, gains in rows for g in gains), default=0.0) or 1.0
    zero = left + (w - left - 70) / 2
    scale = (w - left - 70) / 2 / largest
    parts = [
        f'<line x1="{zero:.1f}" y1="2" x2="{zero:.1f}" y2="{h - 30}" stroke="#999"/>'
        f'<text x="{zero:.1f}" y="{h - 16}" text-anchor="middle" font-size="11">0</text>'
        f'<text x="{w - 70:.1f}" y="{h - 16}" text-anchor="end" font-size="11">'
        f"+{largest:.3g} (toward passing)</text>"
    ]
    for i, (group, kept, gains) in enumerate(rows):
        y = 4 + i * (per * bar + gap)
        weight = ' font-weight="bold"' if kept else ""
        parts.append(
            f'<text x="{left - 6}" y="{y + per * bar / 2 + 4:.1f}" text-anchor="end" '
            f'font-size="11"{weight}>{escape(clip(group, 34))}'
            f"{' (kept)' if kept else ''}</text>"
        )
        for j, gain in enumerate(gains):
            x = zero if gain >= 0 else zero + gain * scale
            colour = PALETTE[j % len(PALETTE)]
            parts.append(
                f'<rect x="{x:.1f}" y="{y + j * bar}" width="{abs(gain) * scale:.1f}" '
                f'height="{bar - 1}" fill="{colour}" fill-opacity="{1.0 if kept else 0.45}">'
                f"<title>{escape(group)}, {escape(requirements[j])}: {gain:+.4f}</title></rect>"
            )
    legend = _legend([(r, PALETTE[j % len(PALETTE)]) for j, r in enumerate(requirements)])
    return _svg(w, h, "".join(parts), "sensitivity of each group") + legend


def heatmap(
    matrix: list[list[Any]], rows: list[str], columns: list[str], scale: float | None = None
) -> Markup:
    """Cells shaded by value (by the largest value when ``scale`` is None), numbers inside."""
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
            f"{escape(clip(column, 12))}</text>"
        )
    for i, row in enumerate(rows):
        y = top + size * i
        parts.append(
            f'<text x="{left - 6}" y="{y + size / 2 + 4:.1f}" text-anchor="end" font-size="11">'
            f"{escape(clip(row, 16))}</text>"
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


def clip(text: str, width: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``width`` characters (keeping its end: a path's last parts)."""
    if len(text) <= width:
        return text
    return "\u2026" + text[-(width - 1) :] if keep_end else text[: width - 1] + "\u2026"


# -- drawing -------------------------------------------------------------------------------


def _svg(w: int, h: int, body: str, label: str) -> Markup:
    """A figure drawn at its own size (``w`` CSS px wide), narrower only in a narrower column
    (the stylesheet's ``max-width: 100%``): its text is as large as drawn wherever it fits."""
    return Markup(
        f'<svg class="plot" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def width(figure: Markup) -> int:
    """The width (CSS px) a figure of this module is drawn at: its first SVG's."""
    found = re.search(r'<svg class="plot" width="(\d+)"', figure)
    return int(found.group(1)) if found else 0


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


def _legend(entries: list[tuple[str, str]]) -> Markup:
    return Markup(
        '<div class="legend">'
        + "".join(
            f'<span class="swatch" style="background:{colour}"></span>{escape(name)}'
            for name, colour in entries
        )
        + "</div>"
    )
