"""A check: one assertion's metric, bound, value and verdict, as the reports show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The file name the generated ``assert_*`` helpers run under (a warning raised through them
#: skips their frames to point at the user's test).
GENERATED = "<pytest_compressguard generated>"


def label(metric: str, param_name: str | None, param: int | str | None) -> str:
    """A metric with its parameter: ``knn_agreement (k=10)``, ``speedup at batch 32``."""
    if param_name is None or param is None:
        return metric
    if param_name == "batch":
        return f"{metric} at batch {param}"
    if param_name == "recipe":
        return f"{metric} ({param})"
    return f"{metric} (k={param})"


def param_name(data: dict[str, Any]) -> str | None:
    """The parameter a check's JSON form names (``batch``, ``k`` or ``recipe``), if any."""
    return next((p for p in ("batch", "k", "recipe") if p in data), None)


@dataclass(frozen=True)
class Check:
    """One ``assert_*`` call, passed or not, as the reports show it.

    ``param`` is the metric's ``k``, ``batch`` or ``recipe`` (named by ``param_name``);
    ``interval`` is the ``confidence`` interval that decided a confidence check.
    """

    metric: str
    op: str
    threshold: float
    value: float
    passed: bool
    test: str | None = None
    param_name: str | None = None
    param: int | str | None = None
    confidence: float | None = None
    interval: tuple[float, float] | None = None
    message: str | None = None

    @property
    def label(self) -> str:
        """The metric with its parameter: ``knn_agreement (k=10)``, ``speedup at batch 32``."""
        return label(self.metric, self.param_name, self.param)

    def to_json(self) -> dict[str, Any]:
        """The check as the JSON report writes it."""
        out: dict[str, Any] = {
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "value": self.value,
            "passed": self.passed,
            "test": self.test,
        }
        if self.param_name is not None:
            out[self.param_name] = self.param
        if self.interval is not None:
            out["confidence"] = self.confidence
            out["interval"] = list(self.interval)
        if self.message is not None:
            out["message"] = self.message
        return out

    def __getitem__(self, key: str) -> Any:
        """A field of the JSON form, as checks were read before they were typed."""
        return self.to_json()[key]

    def __contains__(self, key: str) -> bool:
        return key in self.to_json()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        """A check read back from :meth:`to_json` (an xdist worker's record)."""
        name = param_name(data)
        interval = data.get("interval")
        return cls(
            metric=data["metric"],
            op=data["op"],
            threshold=data["threshold"],
            value=data["value"],
            passed=data["passed"],
            test=data.get("test"),
            param_name=name,
            param=data[name] if name else None,
            confidence=data.get("confidence"),
            interval=(interval[0], interval[1]) if interval else None,
            message=data.get("message"),
        )


@dataclass(frozen=True)
class NotRun:
    """An ``assert_*`` call its test never reached, and why (``threshold`` is None when the
    test's source does not spell it as a number)."""

    metric: str
    op: str
    threshold: float | None
    reason: str
    test: str | None = None
    param_name: str | None = None
    param: int | str | None = None
    confidence: float | None = None

    @property
    def label(self) -> str:
        """The metric with its parameter, as :attr:`Check.label`."""
        return label(self.metric, self.param_name, self.param)

    def to_json(self) -> dict[str, Any]:
        """The assertion as the JSON report's ``not_run`` list writes it (its parameter
        under its name, as a check's)."""
        out = {f: getattr(self, f) for f in ("metric", "op", "threshold", "test", "reason")}
        if self.param_name is not None:
            out[self.param_name] = self.param
        return out | ({"confidence": self.confidence} if self.confidence is not None else {})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NotRun:
        """An assertion read back from :meth:`to_json`."""
        name = param_name(data)
        fields = {f: data.get(f) for f in ("metric", "op", "threshold", "test", "confidence")}
        return cls(**fields, reason=data["reason"], param_name=name, param=data.get(name or ""))
