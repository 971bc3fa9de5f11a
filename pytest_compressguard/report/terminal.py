"""The terminal summary: one row per teacher/student pair."""

from __future__ import annotations

from typing import Any

from ..comparison import PREDICTION_METRICS

_SHORT = {
    "teacher_accuracy": "t_acc",
    "student_accuracy": "s_acc",
    "accuracy_drop": "acc_drop",
    "label_loyalty": "label_loy",
    "probability_loyalty": "prob_loy",
    "kl_divergence": "kl",
    "flips": "flips",
    "error_overlap": "err_overlap",
}


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def lines(records: list[dict[str, Any]]) -> list[str]:
    """The summary as text lines: a table per teacher and dataset, then the failed checks."""
    out: list[str] = []
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["teacher"], record["dataset"]), []).append(record)
    for (teacher, dataset), rows in groups.items():
        n = next((r["n"] for r in rows if r.get("n") is not None), None)
        out.append(f"teacher: {teacher}   data: {dataset} (n={n if n is not None else '?'})")
        names = [k for k in PREDICTION_METRICS if any(k in r["metrics"] for r in rows)]
        extra = sorted({k for r in rows for k in r["metrics"]} - set(PREDICTION_METRICS))
        names += extra
        header = ["student", *(_SHORT.get(k, k) for k in names), "checks"]
        table = [header]
        for r in rows:
            passed = sum(c["passed"] for c in r["checks"])
            failed = len(r["checks"]) - passed
            checks = (
                ", ".join(
                    part
                    for part in (
                        f"{failed} failed" if failed else "",
                        f"{passed} passed" if passed else "",
                    )
                    if part
                )
                or "none"
            )
            if r.get("error"):
                checks = "error: " + r["error"]
            table.append([r["student"], *(_cell(r["metrics"].get(k)) for k in names), checks])
        widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
        for row in table:
            cells = [row[0].ljust(widths[0])]
            cells += [c.rjust(w) for c, w in zip(row[1:-1], widths[1:], strict=True)]
            out.append("  ".join([*cells, row[-1]]).rstrip())
        for r in rows:
            for c in r["checks"]:
                if not c["passed"]:
                    out.append(
                        f"FAILED {r['student']}: {c['metric']} = {c['value']:.4f}, needs "
                        f"{c['op']} {c['threshold']:g} ({c['test'] or 'outside a test'})"
                    )
        out.append("")
    return out[:-1] if out else out
