"""The one rule that turns a measured value into a verdict, for the gate and the search."""

from __future__ import annotations

from pytest_compressguard.metrics.stats import McNemar


def holds(
    metric: str,
    op: str,
    value: float,
    threshold: float,
    *,
    band: float = 0.0,
    mcnemar: McNemar | None = None,
) -> bool:
    """Whether a bound on ``metric`` holds.

    ``value`` is the deciding number (the point value, or the interval's bound at a
    confidence level); ``op`` is ``">="`` or ``"<="``; with a ``band`` the value must clear
    ``threshold`` by that much. ``mcnemar_p_value`` is the exception: only a significant
    *loss* fails, ``p < threshold`` with ``n10 > n01`` (``mcnemar`` must be given), so a
    student significantly better than its teacher passes.
    """
    if metric == "mcnemar_p_value":
        if mcnemar is None:
            raise ValueError("mcnemar_p_value's verdict needs the McNemar test")
        return not (mcnemar.p_value < threshold and mcnemar.n10 > mcnemar.n01)
    if op == ">=":
        return value - band >= threshold
    if op == "<=":
        return value + band <= threshold
    raise ValueError(f"unknown comparison {op!r}")


def gain(op: str, base: float, value: float) -> float:
    """How far ``value`` moved from ``base`` toward passing a bound compared by ``op``."""
    return value - base if op == ">=" else base - value
