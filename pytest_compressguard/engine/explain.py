"""Why a check failed: the examples behind a metric, in words a reviewer can act on.

Each explanation reads only the outputs the failed metric itself read: a size or speed check
never runs a model over the eval data, an attack check reads the attack results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import ExampleResult, Text, show
from pytest_compressguard.metrics import slices
from pytest_compressguard.metrics.catalogue import DEFAULT_K, INTERVAL_METRICS, METRICS
from pytest_compressguard.metrics.prediction import jensen_shannon, kl_per_example

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


def _describe(c: Comparison, i: int) -> str:
    o = c.outputs
    t, s = int(o.teacher[i].argmax()), int(o.student[i].argmax())
    return (
        f"[{i}] {short(o.texts[i], 80)!r}  gold={c.label_name(int(o.labels[i]))}  "
        f"teacher={c.label_name(t)} ({o.teacher[i, t]:.2f})  "
        f"student={c.label_name(s)} ({o.student[i, s]:.2f})"
    )


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
    if c.task == "qa":
        summary, indices = _explain_answers(c, metric)
        return summary, [_describe_answer(c, int(i)) for i in indices[:MAX_EXAMPLES_SHOWN]]
    summary, indices = _explain_prediction(c, metric)
    return summary, [_describe(c, int(i)) for i in indices[:MAX_EXAMPLES_SHOWN]]


#: Characters of context shown on each side of an answer.
CONTEXT_SIDE = 60


def _context_window(context: str, anchors: list[str]) -> str:
    """The part of ``context`` around the first anchor found in it (a gold answer, else
    either model's answer), else its beginning; cuts marked with ``...``."""
    for anchor in anchors:
        at = context.find(anchor) if anchor else -1
        if at >= 0:
            begin, end = (
                max(0, at - CONTEXT_SIDE),
                min(len(context), at + len(anchor) + CONTEXT_SIDE),
            )
            break
    else:
        begin, end = 0, min(len(context), 2 * CONTEXT_SIDE)
    return ("..." if begin else "") + context[begin:end] + ("..." if end < len(context) else "")


def _said(answer: Any, exact: float, f1: float) -> str:
    """A model's answer with its probability (or its null odds when it abstains) and scores."""
    if answer.text == "":
        head = f"abstains (null odds {answer.null_odds:+.2f})"
    else:
        p = next((p for t, p in answer.candidates if t == answer.text), None)
        head = f"{answer.text!r}" + (f" (p={p:.2f})" if p is not None else "")
    return f"{head}  EM {exact:.0f}  F1 {f1:.2f}"


def _describe_answer(c: Comparison, i: int) -> str:
    """A question, a window of its context, the gold answers and both models' answers."""
    o = c.outputs
    col = o.columns
    q = o.questions[i]
    golds = [g for g in o.golds[i] if g]
    t, s = o.teacher[i], o.student[i]
    gold = " | ".join(repr(g) for g in dict.fromkeys(golds)) if golds else "unanswerable"
    return (
        f"[{i}] {short(q.question, 80)!r}  gold: {gold}"
        f"\n      context: {_context_window(q.context, [*golds, t.text, s.text])!r}"
        f"\n      teacher: {_said(t, col.teacher_exact[i], col.teacher_f1[i])}"
        f"\n      student: {_said(s, col.student_exact[i], col.student_f1[i])}"
    )


def _explain_answers(c: Comparison, metric: str) -> tuple[str, np.ndarray]:
    """The account of a failed prediction metric of a QA pair and the questions behind it."""
    col = c.outputs.columns
    right_t, right_s = col.teacher_right > 0, col.student_right > 0
    differ = np.flatnonzero(col.same == 0)
    if metric == "error_overlap":
        only = np.flatnonzero(right_t != right_s)
        return (
            f"errors: teacher {int((~right_t).sum())}, student {int((~right_s).sum())}, "
            f"shared {int((~right_t & ~right_s).sum())}; {len(only)} questions are errors of "
            "one model only",
            only,
        )
    if metric in ("label_loyalty", "answer_agreement_f1"):
        differ = differ[np.argsort(col.agreement_f1[differ], kind="stable")]
        return (
            f"the models answer {len(differ)} of {c.n} questions differently (mean answer "
            f"agreement F1 {col.agreement_f1.mean():.4f})",
            differ,
        )
    if metric in ("probability_loyalty", "kl_divergence"):
        score = col.jsd if metric == "probability_loyalty" else col.kl
        what = "JSD" if metric == "probability_loyalty" else "KL(teacher || student)"
        return (
            f"the questions whose answer distributions differ most (largest {what})",
            np.argsort(-score, kind="stable"),
        )
    if metric == "f1_drop":
        gap = col.teacher_f1 - col.student_f1
        lost = np.flatnonzero(gap > 0)
        lost = lost[np.argsort(-gap[lost], kind="stable")]
        return (
            f"mean F1: teacher {col.teacher_f1.mean():.4f}, student {col.student_f1.mean():.4f}; "
            f"the student scores lower on {len(lost)} questions and higher on "
            f"{int((gap < 0).sum())}",
            lost,
        )
    if metric == "worst_class_drop":
        table = c.per_class()
        drops = [
            (t - s_, k)
            for k, (t, s_) in enumerate(zip(table["teacher"], table["student"], strict=True))
            if t is not None and s_ is not None
        ]
        worst = max(drops, key=lambda d: (d[0], -d[1]))[1]
        inside = (col.has_answer > 0) if worst == 0 else (col.has_answer == 0)
        lost = np.flatnonzero(inside & (col.teacher_exact > 0) & (col.student_exact == 0))
        return (
            f"on the {table['labels'][worst]} questions ({table['support'][worst]}) the teacher's "
            f"exact match is {table['teacher'][worst]:.4f} and the student's "
            f"{table['student'][worst]:.4f}; the student misses {len(lost)} of them that the "
            "teacher gets",
            lost,
        )
    if metric == "accuracy_drop":
        lost = np.flatnonzero((col.teacher_exact > 0) & (col.student_exact == 0))
        gained = int(((col.teacher_exact == 0) & (col.student_exact > 0)).sum())
        return (
            f"the student misses {len(lost)} exact matches the teacher gets (and gets {gained} "
            "the teacher misses)",
            lost,
        )
    if metric in ("mcnemar_p_value", *NEGATIVE_FLIPS):
        lost = np.flatnonzero(right_t & ~right_s)
        return (
            f"the student gets {len(lost)} questions wrong that the teacher gets right (and "
            f"{int((~right_t & right_s).sum())} right that the teacher gets wrong)",
            lost,
        )
    changed = np.flatnonzero(right_t != right_s)
    return f"{len(changed)} of {c.n} questions flip between right and wrong", changed


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


def _explain_prediction(c: Comparison, metric: str) -> tuple[str, np.ndarray]:
    o = c.outputs
    pred_t, pred_s = o.teacher.argmax(axis=1), o.student.argmax(axis=1)
    wrong_t, wrong_s = pred_t != o.labels, pred_s != o.labels
    jsd = jensen_shannon(o.teacher, o.student)
    if metric == "error_overlap":
        only = np.flatnonzero(wrong_t != wrong_s)
        return (
            f"errors: teacher {wrong_t.sum()}, student {wrong_s.sum()}, shared "
            f"{(wrong_t & wrong_s).sum()}; {len(only)} examples are errors of one model only",
            only,
        )
    if metric == "label_loyalty":
        differ = np.flatnonzero(pred_t != pred_s)
        differ = differ[np.argsort(-jsd[differ], kind="stable")]
        return f"{len(differ)} of {c.n} examples get different labels", differ
    if metric == "probability_loyalty":
        order = np.argsort(-jsd, kind="stable")
        return "the examples whose distributions differ most (largest JSD)", order
    if metric == "kl_divergence":
        order = np.argsort(-kl_per_example(o.teacher, o.student), kind="stable")
        return "the examples with the largest KL(teacher || student)", order
    if metric == "worst_class_drop":
        table = c.per_class()
        drops = [
            (t - s_, c)
            for c, (t, s_) in enumerate(zip(table["teacher"], table["student"], strict=True))
            if t is not None and s_ is not None
        ]
        worst = max(drops, key=lambda d: (d[0], -d[1]))[1]  # ties: the first class
        lost = np.flatnonzero((o.labels == worst) & ~wrong_t & wrong_s)
        return (
            f"on class {table['labels'][worst]} ({table['support'][worst]} examples) the "
            f"teacher is right on {table['teacher'][worst]:.4f} and the student on "
            f"{table['student'][worst]:.4f}; the student gets {len(lost)} of them wrong "
            "that the teacher gets right",
            lost,
        )
    if metric in ("teacher_ece", "student_ece", "ece_increase"):
        model = "teacher" if metric == "teacher_ece" else "student"
        probs = o.teacher if model == "teacher" else o.student
        wrong = wrong_t if model == "teacher" else wrong_s
        confident = np.flatnonzero(wrong)
        confident = confident[np.argsort(-probs[confident].max(axis=1), kind="stable")]
        b = int(np.abs(slices.calibration_gaps(probs, o.labels)).argmax())
        inside = slices.confidence_bins(probs) == b
        return (
            f"ECE: teacher {c.teacher_ece():.4f}, student {c.student_ece():.4f}; the "
            f"{model}'s largest gap is in the confidence bin ({b / slices.ECE_BINS:.3f}, "
            f"{(b + 1) / slices.ECE_BINS:.3f}]: {int(inside.sum())} examples, accuracy "
            f"{float(np.mean(~wrong[inside])):.4f} at mean confidence "
            f"{float(probs[inside].max(axis=1).mean()):.4f}; the {model}'s most confident "
            "errors",
            confident,
        )
    if metric in ("accuracy_drop", "mcnemar_p_value", *NEGATIVE_FLIPS):
        lost = np.flatnonzero(~wrong_t & wrong_s)
        gained = int((wrong_t & ~wrong_s).sum())
        return (
            f"the student gets {len(lost)} examples wrong that the teacher gets right "
            f"(and {gained} right that the teacher gets wrong)",
            lost,
        )
    changed = np.flatnonzero(wrong_t != wrong_s)
    return f"{len(changed)} of {c.n} examples flip between right and wrong", changed


#: Metrics a failure of which the negative flips explain (right for the teacher, wrong now).
NEGATIVE_FLIPS = (
    "negative_flip_rate",
    "backward_trust_compatibility",
    "backward_error_compatibility",
)


def short(text: Text, width: int) -> str:
    """``text`` (a pair's texts joined by `` [SEP] ``) cut to ``width`` characters with an
    ellipsis."""
    line = show(text)
    return line if len(line) <= width else line[: width - 3] + "..."
