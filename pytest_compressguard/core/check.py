"""A check: one assertion's metric, bound, value and verdict, as the reports show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The file name the generated ``assert_*`` helpers run under (a warning raised through them
#: skips their frames to point at the user's test).
GENERATED = "<pytest_compressguard generated>"


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
        if self.param_name == "batch":
            return f"{self.metric} at batch {self.param}"
        if self.param_name == "recipe":
            return f"{self.metric} ({self.param})"
        if self.param_name is not None:
            return f"{self.metric} (k={self.param})"
        return self.metric

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
        name = next((p for p in ("batch", "k", "recipe") if p in data), None)
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
