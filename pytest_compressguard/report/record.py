"""The JSON record of a comparison, and the merging of records from xdist workers.

A record is a plain dict (the JSON report's ``comparisons`` entries) whose ``checks`` are
:class:`~pytest_compressguard.checks.Check` objects until :func:`to_json`, and whose
``not_run`` (present when a test stopped before some of its assertions; older records have
none) lists :class:`~pytest_compressguard.core.check.NotRun` objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_compressguard.core.check import Check, NotRun
from pytest_compressguard.core.errors import MissingOutputError
from pytest_compressguard.core.types import ExampleResult, Text
from pytest_compressguard.metrics.catalogue import CATALOGUE
from pytest_compressguard.report import provenance

if TYPE_CHECKING:
    from pytest_compressguard.engine.inputs import PairAttack
    from pytest_compressguard.guard import Guard

#: Record parts that are the same wherever the pair was measured: the first copy is kept.
FIRST_WINS = (
    "attack",
    "adversarial_examples",
    "error",
    "per_class",
    "confusion_matrix",
    "mcnemar",
    "probability_sample",
    "efficiency",
    "squad",
    "answers",
    "tokens",
    "search",
)


def record(c: Guard) -> dict[str, Any]:
    """The comparison as the JSON report writes it: every metric of the outputs its tests
    loaded, and why each other metric of them could not be measured."""
    out: dict[str, Any] = {
        "teacher": c.teacher,
        "student": c.student,
        "dataset": c.dataset,
        "task": c.task,
        "n": None,
        "metrics": {},
        "checks": list(c.checks),
    }
    if c.not_run:
        out["not_run"] = list(c.not_run)
    if c.eval_set is not None:
        out["eval_set"] = c.eval_set
    if c.fingerprints is not None:
        out["fingerprints"] = dict(c.fingerprints)
    if c.reference != "teacher":
        out["reference"] = c.reference
    searched = provenance.read(c.student)
    if searched is not None:
        out["search"] = searched
    inputs = c.inputs
    if inputs.attack.loaded:
        a = c.attack_results
        out["attack"] = _attack_json(a)
        out["adversarial_examples"] = _examples_json(a)
    others = [r for r, lazy in list(inputs.attacks.items())[1:] if lazy.loaded]
    if others:  # recipes beyond the first, each with its own metrics and examples
        out["attacks"] = {r: _recipe_json(c, r) for r in others}
    if c.loaded or inputs.attack.loaded or inputs.efficiency.loaded:
        values, reasons = c.measure()
        out["n"] = c.n
        out["metrics"] = values
        if reasons:
            out["unavailable"] = reasons
        ci = c.intervals()
        if ci:
            out["ci"] = ci
        batches = c.timed_batches()
        if batches:
            out["efficiency"] = {
                "latency": {
                    model: {str(b): c.latency(model, b).to_json() for b in batches}
                    for model in ("teacher", "student")
                },
                "speedup": {str(b): c.speedup(b) for b in batches},
            }
        if inputs.predictions.loaded:
            out |= c.task_record()
    error = inputs.predictions.error or inputs.embeddings.error or inputs.attack.error
    if error is not None and not isinstance(error, MissingOutputError):
        out["error"] = str(error)
    return out


def pair_key(rec: dict[str, Any]) -> tuple[str, str, str, str | None]:
    """What makes a record one comparison: its reference, student, data and eval set."""
    return (rec["teacher"], rec["student"], rec["dataset"], rec.get("eval_set"))


def merge(
    records: list[dict[str, Any]], students: tuple[str, ...], eval_sets: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Records of the same pair on the same eval set (from this process and xdist workers)
    merged into one, in the students' command-line order and then the eval sets', however the
    workers finished."""
    merged: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}
    for rec in records:
        key = pair_key(rec)
        if key not in merged:
            merged[key] = {**rec, "metrics": dict(rec["metrics"]), "checks": list(rec["checks"])}
            if "not_run" in rec:
                merged[key]["not_run"] = list(rec["not_run"])
            if "unavailable" in rec:
                merged[key]["unavailable"] = dict(rec["unavailable"])
            continue
        into = merged[key]
        for extra in FIRST_WINS:
            if extra in rec and extra not in into:
                into[extra] = rec[extra]
        if "ci" in rec:
            into["ci"] = {**into.get("ci", {}), **rec["ci"]}
        into["metrics"].update(rec["metrics"])
        into["checks"].extend(rec["checks"])
        if "not_run" in rec:
            into.setdefault("not_run", []).extend(rec["not_run"])
        if "unavailable" in rec:
            into.setdefault("unavailable", {}).update(rec["unavailable"])
        if into.get("n") is None:
            into["n"] = rec.get("n")
    for rec in merged.values():
        rec["checks"].sort(key=lambda check: check.test or "")  # stable: call order
        if "not_run" in rec:
            rec["not_run"].sort(key=lambda assertion: assertion.test or "")
        unavailable = rec.pop("unavailable", {})
        unavailable = {k: v for k, v in unavailable.items() if k not in rec["metrics"]}
        if unavailable:
            rec["unavailable"] = unavailable
    order = {spec: i for i, spec in enumerate(students)}
    sets = {name: i for i, name in enumerate(eval_sets)}
    return sorted(
        merged.values(),
        key=lambda r: (
            order.get(r["student"], len(order)),
            r["student"],
            "reference" in r,  # the teacher's comparison before a baseline's
            sets.get(r.get("eval_set"), len(sets)),
        ),
    )


def to_json(rec: dict[str, Any]) -> dict[str, Any]:
    """A record with its checks (and its assertions not run) as JSON objects."""
    out = {**rec, "checks": [check.to_json() for check in rec["checks"]]}
    if "not_run" in rec:
        out["not_run"] = [n.to_json() for n in rec["not_run"]]
    return out


def from_json(rec: dict[str, Any]) -> dict[str, Any]:
    """A record read back from :func:`to_json` (an xdist worker's, a JSON report's, an older
    report's without ``not_run``); a record whose checks are typed already is returned as it
    is."""
    checks = [c if isinstance(c, Check) else Check.from_json(c) for c in rec["checks"]]
    out = {**rec, "checks": checks}
    if "not_run" in rec:
        out["not_run"] = [
            n if isinstance(n, NotRun) else NotRun.from_json(n) for n in rec["not_run"]
        ]
    return out


def _attack_json(a: PairAttack) -> dict[str, Any]:
    return {**a.settings, "cached": dict(a.cached), "validity": a.validity()}


def _examples_json(a: PairAttack) -> list[dict[str, Any]]:
    return [
        _adversarial_json(e, model)
        for model, examples in (("teacher", a.teacher), ("student", a.student))
        for e in _reported(examples, a.report_max)
    ]


def _recipe_json(c: Guard, recipe: str) -> dict[str, Any]:
    """A further recipe's block: settings, validity, its attack metrics and examples."""
    a = c.attack_results_for(recipe)
    robustness = [m for m in CATALOGUE if m.group == "robustness" and m.recorded]
    metrics, unavailable = c.measured(robustness, recipe)
    out = {**_attack_json(a), "metrics": metrics, "adversarial_examples": _examples_json(a)}
    if unavailable:
        out["unavailable"] = unavailable
    return out


def _reported(examples: tuple[ExampleResult, ...], limit: int) -> list[ExampleResult]:
    """The examples the JSON lists: successes first, then failed attacks, in data order."""
    attacked = [e for e in examples if e.status != "skipped"]
    return sorted(attacked, key=lambda e: not e.success)[:limit]


def _adversarial_json(e: ExampleResult, model: str) -> dict[str, Any]:
    return {
        "model": model,
        "index": e.index,
        "original": _both(e.whole(e.original)),
        "adversarial": _both(e.whole(e.adversarial)),
        "label": e.label,
        "before": e.before,
        "after": e.after,
        "words_changed": e.words_changed,
        "changes": [list(c) for c in e.changes],
        "similarity": e.similarity,
        "success": e.success,
    }


def _both(text: Text) -> str | list[str]:
    """A text, or a pair's two texts as a list (the JSON has no tuples)."""
    return list(text) if isinstance(text, tuple) else text
