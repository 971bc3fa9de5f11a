"""The terminal summary: tables with one row per teacher/student pair."""

from __future__ import annotations

from typing import Any

from pytest_compressguard.core.check import Check
from pytest_compressguard.metrics.catalogue import CATALOGUE

#: Each metric's column label.
_SHORT = {m.name: m.label for m in CATALOGUE}
#: The tables, each a list of scalar metrics; a table is shown when a row has one of them.
_TABLES = tuple(
    [m.name for m in CATALOGUE if m.table == i]
    for i in sorted({m.table for m in CATALOGUE if m.table is not None})
)


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.4f}"


def metric_value(record: dict[str, Any], name: str) -> Any:
    """A record's value of a metric, or None. McNemar's p lives in its own block; the speedup
    is batch 1's, else the first batch timed."""
    if name == "mcnemar_p_value":
        return (record.get("mcnemar") or {}).get("p_value")
    if name == "speedup":
        speedups = (record.get("efficiency") or {}).get("speedup") or {}
        return speedups.get("1", next(iter(speedups.values()), None))
    return record["metrics"].get(name)


def _checks(record: dict[str, Any]) -> str:
    if record.get("error"):
        return "error: " + record["error"]
    passed = sum(c.passed for c in record["checks"])
    failed = len(record["checks"]) - passed
    not_run = len(record.get("not_run") or ())
    parts = [f"{failed} failed" if failed else "", f"{passed} passed" if passed else ""]
    parts.append(f"{not_run} not run" if not_run else "")
    return ", ".join(p for p in parts if p) or "none"


def _table(rows: list[dict[str, Any]], names: list[str], checks: bool) -> list[str]:
    header = ["student", *(_SHORT.get(k, k) for k in names)] + (["checks"] if checks else [])
    table = [header]
    for r in rows:
        cells = [r["student"], *(_cell(metric_value(r, k)) for k in names)]
        table.append(cells + ([_checks(r)] if checks else []))
    aligned = len(header) - (1 if checks else 0)
    widths = [max(len(row[i]) for row in table) for i in range(aligned)]
    out = []
    for row in table:
        cells = [row[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(row[1:aligned], widths[1:], strict=True)]
        out.append("  ".join(cells + row[aligned:]).rstrip())
    return out


def failed_line(c: Check) -> str:
    """A failed check in one line: value, interval, bound and test."""
    ci = (
        f" ({c.confidence:.0%} interval [{c.interval[0]:.4f}, {c.interval[1]:.4f}])"
        if c.interval is not None and c.confidence is not None
        else ""
    )
    return (
        f"{c.label} = {c.value:.4f}{ci}, needs {c.op} {c.threshold:g} "
        f"({c.test or 'outside a test'})"
    )


def summary(record: dict[str, Any]) -> str:
    """The pair in a few words: "3.9x smaller, 2.6x faster at batch 1, 96% loyal"."""
    metrics, parts = record["metrics"], []
    if metrics.get("size_ratio"):
        parts.append(f"{1 / metrics['size_ratio']:.1f}x smaller")
    speedup = (record.get("efficiency") or {}).get("speedup") or {}
    for batch, value in speedup.items():
        parts.append(f"{value:.1f}x faster at batch {batch}")
    if "label_loyalty" in metrics:
        parts.append(f"{metrics['label_loyalty']:.0%} loyal")
    return ", ".join(parts)


def lines(records: list[dict[str, Any]]) -> list[str]:
    """The summary as text lines: tables per teacher and dataset, then what could not be
    measured and the failed checks."""
    from pytest_compressguard.report.record import from_json

    records = [from_json(r) for r in records]
    out: list[str] = []
    groups: dict[tuple[str, str, str | None], list[dict[str, Any]]] = {}
    for record in records:  # one group per teacher and eval set, as merge keys them
        key = (record["teacher"], record["dataset"], record.get("eval_set"))
        groups.setdefault(key, []).append(record)
    for (teacher, dataset, eval_set), rows in groups.items():
        n = next((r["n"] for r in rows if r.get("n") is not None), None)
        name = f"{eval_set} = " if eval_set is not None else ""
        role = rows[0].get("reference", "teacher")
        out.append(f"{role}: {teacher}   data: {name}{dataset} (n={n if n is not None else '?'})")
        first = True
        for table in _TABLES:
            names = [k for k in table if any(metric_value(r, k) is not None for r in rows)]
            if names or (first and not any(r["metrics"] for r in rows)):
                out.extend(_table(rows, names, checks=first))
                first = False
        for r in rows:
            headline = summary(r)
            if headline:
                out.append(f"{r['student']}: {headline}")
        for r in rows:
            for a in attack_blocks(r):
                cached = [who for who, hit in a["cached"].items() if hit]
                out.append(
                    f"attack, {r['student']}: {a['recipe']} on {a['examples']} examples, "
                    f"{attack_source(a)}, {a['candidates']} candidates, at most "
                    f"{a['max_perturb']:g} of the words"
                    + (f", {a['max_queries']} queries" if a["max_queries"] else "")
                    + (f"; read from the cache: {', '.join(cached)}" if cached else "")
                )
                if a.get("validity"):
                    out.append(
                        f"attack validity, {r['student']}, {a['recipe']}: "
                        + validity_line(a["validity"])
                    )
                if a is not r.get("attack") and "metrics" in a:
                    m = a["metrics"]
                    drops = ", ".join(
                        f"{who} drop {m[f'{who}_attack_drop']:.4f}"
                        for who in ("teacher", "student")
                        if f"{who}_attack_drop" in m
                    )
                    out.append(f"attack, {r['student']}, {a['recipe']}: {drops}")
        for r in rows:
            sweep = r["metrics"].get("knn_sweep")
            if sweep:
                cells = "  ".join(f"k={k} {v:.4f}" for k, v in sweep.items())
                out.append(f"kNN agreement by k, {r['student']}: {cells}")
        for r in rows:
            reasons: dict[str, list[str]] = {}
            for metric, reason in r.get("unavailable", {}).items():
                reasons.setdefault(reason, []).append(metric)
            for reason, metrics in reasons.items():
                shown = ", ".join(metrics[:3]) + (", ..." if len(metrics) > 3 else "")
                out.append(f"NOT MEASURED {r['student']}: {shown}: {reason}")
        for r in rows:
            for c in r["checks"]:
                if not c.passed:
                    out.append(f"FAILED {r['student']}: {failed_line(c)}")
        out.append("")
    return out[:-1] if out else out


def pairwise_lines(table: dict[str, Any] | list[dict[str, Any]]) -> list[str]:
    """The --compressguard-pairwise table (one per eval set when there are several): the
    models numbered, then one row per pair i-j (i in the teacher's role) with every pair
    metric."""
    if isinstance(table, list):
        return [line for one in table for line in pairwise_lines(one)]
    if "error" in table:
        return [f"pairwise: not computed: {table['error']}"]
    models, per_model = table["models"], table["per_model"]
    name = f"{table['eval_set']} = " if "eval_set" in table else ""
    out = [
        f"pairwise, data: {name}{table['dataset']} (n={table['n']}); in pair i-j, model i "
        "takes the teacher's role"
    ]
    roles = table.get("roles") or ["teacher"] + ["student"] * (len(models) - 1)
    for i, spec in enumerate(models):
        own = "  ".join(
            f"{name} {per_model[name][i]:.4f}"
            for name in per_model
            if per_model[name][i] is not None
        )
        role = roles[i]
        out.append(f"  [{i}] {role} {spec}" + (f"  ({own})" if own else ""))
    names = [
        n for n, rows in table["metrics"].items() if any(v is not None for r in rows for v in r)
    ]
    header = ["pair", *(_SHORT.get(n, n).replace("@10", f"@{table['k']}") for n in names)]
    rows = [header]
    for i in range(len(models)):
        for j in range(i + 1, len(models)):
            rows.append([f"{i}-{j}", *(_cell(table["metrics"][n][i][j]) for n in names)])
    widths = [max(len(r[c]) for r in rows) for c in range(len(header))]
    for r in rows:
        out.append("  " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)))
    for name, why in table.get("unavailable", {}).items():
        out.append(f"  NOT MEASURED pairwise {name}: {why}")
    return out


def attack_blocks(record: dict[str, Any]) -> list[dict[str, Any]]:
    """A record's attack blocks: the first recipe's (``attack``), then each further one's."""
    first = [record["attack"]] if record.get("attack") else []
    return first + list((record.get("attacks") or {}).values())


def attack_source(block: dict[str, Any]) -> str:
    """Where an attack block's substitutes came from."""
    if "mlm" in block:
        return f"masked LM {block['mlm']}"
    if "word_vectors" in block:
        return f"word vectors {block['word_vectors']}"
    return "PPDB 2.0 synonyms"


def validity_line(validity: dict[str, dict[str, Any]]) -> str:
    """Per model: mean similarity of successes, synonym share of swaps, antonyms rejected."""

    def share(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    parts = []
    for model, v in validity.items():
        sim = "-" if v["similarity"] is None else f"{v['similarity']:.3f}"
        parts.append(
            f"{model} similarity {sim} over {v['successes']} successes, "
            f"{share(v['synonym_share'])} of {v['swaps']} swaps known synonyms, "
            f"{share(v['antonym_rejected_share'])} of candidates rejected as antonyms"
        )
    return "; ".join(parts)
