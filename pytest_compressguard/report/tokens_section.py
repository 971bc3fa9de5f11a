"""The HTML report's token-fidelity section of causal-LM pairs on documents: the
distribution of the per-position KL, top-1 agreement, and the worst positions in context
(read from each record's ``tokens`` block)."""

from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

from pytest_compressguard.report import figures

#: Worst positions and different continuations shown per pair.
SHOWN = 10


def _bin_label(edges: list[float], i: int) -> str:
    if i + 1 < len(edges):
        return f"{edges[i]:g}–{edges[i + 1]:g}"
    return f"≥ {edges[i]:g}"


def kl_histogram(series: list[tuple[str, str, list[int]]], edges: list[float]) -> Markup:
    """The share of scored positions in each KL bin (nats), one bar per pair and bin."""
    bins = len(edges)
    group = max(48, 10 + 12 * len(series))
    w, h, left, top, bottom = max(420, 60 + group * bins), 260, 48, 16, 58
    parts = figures._axes(w, h, left, 12, top, bottom, "KL per position (nats)", "share")
    bar = (group - 10) / max(1, len(series))
    for j, (name, colour, counts) in enumerate(series):
        total = sum(counts) or 1
        for i, count in enumerate(counts):
            share = count / total
            y = figures._y(share, h, top, bottom)
            x = left + 8 + i * group + j * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 1:.1f}" '
                f'height="{h - bottom - y:.1f}" fill="{colour}"><title>{escape(name)}, KL '
                f"{_bin_label(edges, i)}: {count} positions ({share:.1%})</title></rect>"
            )
    for i in range(bins):
        parts.append(
            f'<text x="{left + 8 + i * group + (group - 10) / 2:.1f}" y="{h - bottom + 14}" '
            f'text-anchor="middle" font-size="10">{escape(_bin_label(edges, i))}</text>'
        )
    body = figures._svg(w, h, "".join(parts), "KL per position")
    return body + figures._legend([(name, colour) for name, colour, _ in series])


def _top(pairs: list[list[Any]]) -> str:
    return ", ".join(f"{token!r} {p:.2f}" for token, p in pairs)


def rows(records: list[dict[str, Any]], colours: dict[str, str]) -> list[dict[str, Any]]:
    """Each documents record's section: its figure, its figures, its worst positions."""
    out = []
    for r in records:
        block = r.get("tokens")
        if not block:
            continue
        metrics = r.get("metrics", {})
        generation = block["generation"]
        out.append(
            {
                "student": r["label"],
                "figure": kl_histogram(
                    [(r["label"], colours[r["student"]], block["kl_histogram"]["counts"])],
                    block["kl_histogram"]["edges"],
                ),
                "positions": block["positions"],
                "documents": block["documents"],
                "measured": [
                    (name, metrics[name])
                    for name in (
                        "token_kl",
                        "token_kl_p99",
                        "top1_agreement",
                        "perplexity_ratio",
                        "generation_agreement",
                    )
                    if name in metrics
                ],
                "worst": [
                    {
                        **p,
                        "teacher_top": _top(p["teacher_top"]),
                        "student_top": _top(p["student_top"]),
                    }
                    for p in block["worst_positions"][:SHOWN]
                ],
                "generation": generation,
                "different": generation["different"][:SHOWN],
            }
        )
    return out
