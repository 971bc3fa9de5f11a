"""A check: one assertion's metric, bound, value and verdict, and how it is evaluated."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_compressguard.core.check import GENERATED, Check
from pytest_compressguard.core.errors import CompressGuardError, CompressGuardWarning
from pytest_compressguard.metrics.catalogue import DEFAULT_K, METRICS
from pytest_compressguard.metrics.verdict import holds

if TYPE_CHECKING:
    from pytest_compressguard.engine.comparison import Comparison

#: Below this many eval examples an assertion warns that the gate is noisy.
NOISY_BELOW = 300
_PACKAGE = str(Path(__file__).parent.parent)  # the whole package


def evaluate(
    c: Comparison,
    metric: str,
    threshold: float,
    param: int | str | None = None,
    confidence: float | None = None,
    *,
    test: str | None = None,
) -> Check:
    """Measure ``metric`` on the comparison and compare it with ``threshold`` (with
    ``confidence``: the interval's bound decides), the check of ``test``. Bad arguments
    raise; a metric that cannot be measured fails the test with its sentence; a failed check
    carries its message."""
    __tracebackhide__ = True
    entry = METRICS[metric]
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, (int, float))
        or not math.isfinite(threshold)
    ):
        raise TypeError(f"the threshold of {metric} must be a finite number, got {threshold!r}")
    if entry.param is not None and entry.param.name == "batch":
        if isinstance(param, bool) or not isinstance(param, int) or param < 1:
            raise ValueError(f"batch must be a positive integer, got {param!r}")
    if confidence is not None and not entry.interval:
        raise ValueError(f"confidence= is not available for {metric}: it has no interval")
    if entry.param is not None and entry.param.name == "recipe":
        if param is not None and not isinstance(param, str):
            raise TypeError(f"recipe must be a recipe's name, got {param!r}")
    elif entry.param is not None and param is None:
        param = c.ood_k  # the Deep-KNN k of the session
    if confidence is not None and (
        isinstance(confidence, bool)
        or not isinstance(confidence, (int, float))
        or not (0 < confidence < 1)
    ):
        raise ValueError(f"confidence must be a number in (0, 1), got {confidence!r}")
    bounds: tuple[float, float] | None = None
    try:
        value = float(c.value(metric, param))
        if confidence is not None:
            bounds = c.interval(metric, confidence, k=param or DEFAULT_K)
    except (CompressGuardError, ValueError) as exc:
        problem = str(exc)
    else:
        problem = None
    if problem is not None:  # failed outside the except block: no chained traceback
        pytest.fail(f"compressguard: {metric} could not be measured: {problem}", pytrace=False)
    if entry.group in ("prediction", "representation", "distribution"):
        warn_if_noisy(c)
    decisive = value if bounds is None else (bounds[0] if entry.op == ">=" else bounds[1])
    exact = c.mcnemar() if metric == "mcnemar_p_value" else None
    passed = holds(metric, entry.op, decisive, threshold, mcnemar=exact)
    message = None
    if not passed:
        from pytest_compressguard.engine.explain import failure_message

        message = failure_message(c, metric, threshold, value, param, confidence, bounds)
    return Check(
        metric=metric,
        op=entry.op,
        threshold=float(threshold),
        value=value,
        passed=bool(passed),
        test=test,
        param_name=entry.param.name if entry.param is not None else None,
        param=param if param is None or isinstance(param, str) else int(param),
        confidence=float(confidence) if bounds is not None and confidence else None,
        interval=bounds,
        message=message,
    )


def warn_if_noisy(c: Comparison) -> None:
    """Warn once per comparison when the eval data is too small to trust a gate."""
    n = c.n
    if "noisy" in c._warned or n >= NOISY_BELOW:
        return
    c._warned.add("noisy")
    shown = ""
    try:
        if c.inputs.predictions.loaded and c.bootstrap > 0:
            lo, hi = c.interval("label_loyalty")
            shown = f" (label_loyalty's 95% interval: [{lo:.3f}, {hi:.3f}])"
    except (CompressGuardError, ValueError):
        pass
    warnings.warn(
        CompressGuardWarning(
            f"compressguard: {c.student} vs {c.teacher} is evaluated on only {n} "
            f"examples; below {NOISY_BELOW} a gate is noisy{shown}: use more data or "
            "assert with confidence=0.95"
        ),
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` that points a warning raised by the caller at the first frame
    outside this package: the user's test line, whichever helper it called."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE) or frame.f_code.co_filename == GENERATED
    ):
        frame = frame.f_back
        level += 1
    return level
