"""Why a check failed: the examples behind a metric, in words a reviewer can act on.

Each explanation reads only the outputs the failed metric itself read: a size or speed check
never runs a model over the eval data, an attack check reads the attack results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import ExampleResult, short
from pytest_compressguard.metrics.catalogue import DEFAULT_K, INTERVAL_METRICS, METRICS

if TYPE_CHECKING:
    from pytest_compressguard.engine.comparison import Comparison

MAX_EXAMPLES_SHOWN = 5


def failure_message(
    c: Comparison,
    metric: str,
    threshold: float,
    value: float,
    k: int | str | None,
    confidence: float | None = None,
    bounds: tuple[float, float] | None = None,
) -> str:
    """The message of a failed check: the metric, its value and interval, the bound, the
    pair, n, a one-line account and a few examples that explain it."""
    op = METRICS[metric].op
    bound = "minimum" if op == ">=" else "maximum"
    side = "below" if op == ">=" else "above"
    summary, lines_ = _explain(c, metric, k)
    name = metric if k is None else f"{metric} (k={k})"
    if metric == "speedup":
        name = f"speedup at batch {k}"
    n = c.n
    if METRICS[metric].group == "robustness":
        attack = c.attack_results_for(k if isinstance(k, str) else None)
        n = len(attack.teacher)
        name = f"{metric} under {attack.settings['recipe']}"
    if metric == "mcnemar_p_value":
        test = c.mcnemar()
        head = (
            f"compressguard: the student is significantly less accurate (McNemar's exact "
            f"test: p = {value:.4g} < alpha = {threshold:g}; the student loses "
            f"{test.n10} examples the teacher gets right and gains {test.n01})"
        )
    elif bounds is not None:
        end = "lower" if op == ">=" else "upper"
        head = (
            f"compressguard: {name} = {value:.4f}, {confidence:.0%} interval "
            f"[{bounds[0]:.4f}, {bounds[1]:.4f}]: its {end} bound is {side} the {bound} "
            f"{threshold:.4f}"
        )
    else:
        head = f"compressguard: {name} = {value:.4f} is {side} the {bound} {threshold:.4f}"
        if metric in INTERVAL_METRICS and c.bootstrap > 0:
            try:
                lo, hi = c.interval(metric, k=k or DEFAULT_K)
                head += f" (95% interval [{lo:.4f}, {hi:.4f}])"
            except (CompressGuardError, ValueError):
                pass
    lines = [
        head,
        f"  teacher: {c.teacher}",
        f"  student: {c.student}",
        f"  data:    {c.dataset} (n={n})",
        f"  {summary}",
    ]
    if lines_:
        shown = lines_[:MAX_EXAMPLES_SHOWN]
        lines.append(f"  {len(shown)} of them:")
        lines.extend("    " + line for line in shown)
    return "\n".join(lines)


def _explain(c: Comparison, metric: str, k: int | str | None) -> tuple[str, list[str]]:
    """A one-line account of the metric and lines describing the examples behind it."""
    if metric in ("knn_agreement", "cka"):
        return _explain_representation(c, metric, k or DEFAULT_K)
    if metric == "ood_agreement":
        return _explain_ood(c, k)
    if METRICS[metric].group == "robustness":
        return _explain_attack(c, metric, k if isinstance(k, str) else None)
    if metric in ("size_ratio", "speedup"):
        return _explain_efficiency(c, metric, k or 1), []
    o = c.outputs  # the task's predictions say which examples explain the failure
    summary, indices = o.explain(c, metric)
    return summary, [o.describe(c, int(i)) for i in indices[:MAX_EXAMPLES_SHOWN]]


def _explain_representation(c: Comparison, metric: str, k: int) -> tuple[str, list[str]]:
    e = c.embeddings
    if metric == "cka":
        summary = (
            f"linear CKA compares the whole geometry of the embeddings (teacher H="
            f"{e.teacher.shape[1]}, student H={e.student.shape[1]})"
        )
        if k >= len(e.texts) - 1:
            return summary, []
        return (
            f"{summary}; kNN agreement at k={k} is {c.knn_agreement(k):.4f}, and the "
            "examples whose neighbours differ most",
            _knn_lines(c, k),
        )
    jac = c.knn_jaccard(k)
    return (
        f"{int((jac == 0).sum())} examples share no neighbour between the models, "
        f"{int((jac == 1).sum())} share all {k}; the examples whose neighbours differ most",
        _knn_lines(c, k),
    )


def _knn_lines(c: Comparison, k: int) -> list[str]:
    """The examples with the lowest Jaccard index, each with the nearest neighbour that only
    the teacher has and the one that only the student has."""
    texts = c.embeddings.texts
    jac = c.knn_jaccard(k)
    teacher, student = c.knn_lists("teacher", k), c.knn_lists("student", k)
    lines = []
    for i in np.argsort(jac, kind="stable")[:MAX_EXAMPLES_SHOWN]:
        t_only = [j for j in teacher[i] if j not in set(student[i])]
        s_only = [j for j in student[i] if j not in set(teacher[i])]
        line = f"[{i}] {short(texts[i], 70)!r}  jaccard={jac[i]:.2f}"
        if t_only and s_only:
            line += (
                f"\n      teacher's, not student's: {short(texts[t_only[0]], 45)!r}"
                f"\n      student's, not teacher's: {short(texts[s_only[0]], 45)!r}"
            )
        lines.append(line)
    return lines


def _explain_ood(c: Comparison, k: int | None) -> tuple[str, list[str]]:
    t, s = c.deep_knn("teacher", k), c.deep_knn("student", k)
    texts = c.ood_inputs.ood_texts
    one = np.flatnonzero(t.flagged != s.flagged)
    margin = np.abs((t.ood_scores - t.threshold) - (s.ood_scores - s.threshold))
    one = one[np.argsort(-margin[one], kind="stable")]
    lines = [
        f"[{i}] {short(texts[i], 70)!r}  teacher {t.ood_scores[i]:.3f} "
        f"({'OOD' if t.flagged[i] else 'in'}, threshold {t.threshold:.3f})  student "
        f"{s.ood_scores[i]:.3f} ({'OOD' if s.flagged[i] else 'in'}, threshold "
        f"{s.threshold:.3f})"
        for i in one[:MAX_EXAMPLES_SHOWN]
    ]
    return (
        f"of {len(texts)} candidates in {c.ood_inputs.ood_spec}, the teacher flags "
        f"{int(t.flagged.sum())}, the student {int(s.flagged.sum())}, both "
        f"{int((t.flagged & s.flagged).sum())}; {len(one)} are flagged by one model only",
        lines,
    )


def _explain_efficiency(c: Comparison, metric: str, batch: int) -> str:
    t, s_ = c.footprint("teacher"), c.footprint("student")
    if metric == "size_ratio":
        return (
            f"teacher {t.size_bytes / 2**20:.1f} MiB ({t.parameters:,} parameters, from "
            f"{t.measured_from}), student {s_.size_bytes / 2**20:.1f} MiB "
            f"({s_.parameters:,} parameters, from {s_.measured_from})"
        )
    lt, ls = c.latency("teacher", batch), c.latency("student", batch)
    return (
        f"one call on {batch} texts: teacher {lt.median_ms:.2f} ms ({lt.runtime}, "
        f"{lt.threads} threads), student {ls.median_ms:.2f} ms ({ls.runtime}, {ls.threads} "
        f"threads); medians of {lt.runs} and {ls.runs} timed calls after warm-up"
    )


def _explain_attack(c: Comparison, metric: str, recipe: str | None) -> tuple[str, list[str]]:
    a = c.attack_results_for(recipe)
    t, s = a.arrays("teacher"), a.arrays("student")
    counts = (
        f"the attack broke {int(s['success'].sum())} of the {int(s['attacked'].sum())} "
        f"examples the student gets right, and {int(t['success'].sum())} of the "
        f"{int(t['attacked'].sum())} the teacher gets right"
    )
    if metric == "transfer_rate":
        fooled = [
            i
            for i, e in enumerate(a.teacher)
            if e.success and s["before"][i] == e.label and a.transferred[i] != e.label
        ]
        return (
            f"{counts}; {len(fooled)} of the teacher's adversarial texts also fool the student",
            [
                _adversarial_line(c, a.teacher[i], "teacher")
                + f"\n      student on it: {c.label_name(int(a.transferred[i]))}"
                for i in fooled
            ],
        )
    if metric.startswith("teacher_"):
        return counts, [_adversarial_line(c, e, "teacher") for e in a.teacher if e.success]
    held = [i for i, e in enumerate(a.student) if e.success and not a.teacher[i].success]
    rest = [i for i, e in enumerate(a.student) if e.success and a.teacher[i].success]
    return (
        f"{counts}; {len(held)} of the student's broken examples resist the teacher's attack",
        [_adversarial_line(c, a.student[i], "student") for i in held + rest],
    )


def _adversarial_line(c: Comparison, e: ExampleResult, model: str) -> str:
    changes = ", ".join(f"{old}->{new}" for old, new in e.changes)
    return (
        f"[{e.index}] {short(e.whole(e.original), 80)!r}\n"
        f"      -> {short(e.whole(e.adversarial), 80)!r}"
        f"\n      {e.words_changed} of {e.words} words changed ({changes}); gold="
        f"{c.label_name(e.label)}, {model} {c.label_name(e.before)} -> {c.label_name(e.after)}"
    )
