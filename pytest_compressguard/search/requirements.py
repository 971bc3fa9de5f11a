"""Requirements of the search: ``METRIC>=VALUE`` or ``METRIC<=VALUE``, optionally
``@CONFIDENCE`` (the bound of the metric's bootstrap interval at that level decides, as
``confidence=`` does in an assertion)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.metrics.catalogue import METRICS
from pytest_compressguard.tasks.classification import CLASSIFICATION

#: The metric groups a candidate can be measured on from its own pass over the data.
SEARCHABLE_GROUPS = ("prediction", "representation", "distribution")
_FORM = re.compile(r"^\s*([A-Za-z_]\w*)\s*(>=|<=)\s*([^@\s]+)\s*(?:@\s*(\S+))?\s*$")
EXAMPLE = "label_loyalty>=0.99@0.95"


class RequirementError(CompressGuardError):
    """A requirement string that names no requirement the search can meet."""


@dataclass(frozen=True)
class Requirement:
    """A metric, the comparison its assertion makes, the threshold and the confidence level
    (None: the point estimate decides)."""

    metric: str
    op: str
    threshold: float
    confidence: float | None = None

    def __str__(self) -> str:
        level = f"@{self.confidence:g}" if self.confidence is not None else ""
        return f"{self.metric}{self.op}{self.threshold:g}{level}"


def _number(text: str, what: str, requirement: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RequirementError(
            f"requirement {requirement!r}: the {what} {text!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise RequirementError(f"requirement {requirement!r}: the {what} must be finite")
    return value


def parse(text: str) -> Requirement:
    """A requirement from its string (``label_loyalty>=0.99@0.95``); one sentence for
    anything else."""
    found = _FORM.match(text)
    if found is None:
        raise RequirementError(
            f"requirement {text!r} is not METRIC>=VALUE or METRIC<=VALUE, optionally "
            f"@CONFIDENCE (e.g. {EXAMPLE})"
        )
    name, op, value, level = found.groups()
    metric = METRICS.get(name)
    searchable = sorted(
        m.name
        for m in METRICS.values()
        if m.group in SEARCHABLE_GROUPS
        and m.assertion is not None
        and CLASSIFICATION.name in m.tasks  # the search quantizes classifiers
    )
    if metric is None or metric.name not in searchable:
        why = "is no metric" if metric is None else "cannot be measured on a candidate's outputs"
        raise RequirementError(
            f"requirement {text!r}: {name} {why}; the search can require " + ", ".join(searchable)
        )
    if op != metric.op:
        better = "higher" if metric.higher_is_better else "lower"
        raise RequirementError(
            f"requirement {text!r}: {name} is better when {better}, so require "
            f"{name}{metric.op}{value}"
        )
    threshold = _number(value, "threshold", text)
    confidence = None
    if level is not None:
        confidence = _number(level, "confidence level", text)
        if not 0 < confidence < 1:
            raise RequirementError(
                f"requirement {text!r}: the confidence level must lie between 0 and 1 "
                f"(e.g. @0.95), not {level}"
            )
        if not metric.interval:
            raise RequirementError(
                f"requirement {text!r}: {name} has no bootstrap interval; drop @{level}"
            )
    return Requirement(name, op, threshold, confidence)
